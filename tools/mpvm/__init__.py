"""Host-side runner for the real MicroPython VM (WebAssembly port under Node.js)."""
