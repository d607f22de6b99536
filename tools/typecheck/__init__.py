"""`make typecheck`: mypy over the device code against each MicroPython port's stubs."""
