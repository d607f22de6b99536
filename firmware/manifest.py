# Freeze the application into a custom MicroPython firmware image (bytecode in flash: no .mpy
# files on the filesystem, less RAM at import). Build from a micropython checkout of the
# release the board runs (1.28/1.29), e.g.
#
#   make -C ports/rp2 BOARD=RPI_PICO submodules        # once: pico-sdk, micropython-lib ...
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/repo/firmware/manifest.py
#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/repo/firmware/manifest.py
#
# then flash the image and put only the entry files and the data on the filesystem:
# `python -m tools.deploy deploy --frozen --board pico` (README, "Deploying to a board").
#
# Layered like micropython's own board manifests: the port's manifest first, then our
# dependencies, then our packages. This file is executed by micropython's tools/makemanifest.py
# (with this folder as the working directory), never imported on a board: `make mpy`, the VM
# tests and `make deploy` leave it out.
import os

# Everything the port freezes by default (asyncio, neopixel, rp2/esp32 helpers ...). The port's
# boards/manifest.py, not $(BOARD_DIR)/manifest.py: most boards (RPI_PICO, ESP32_GENERIC) have
# none of their own, and a FROZEN_MANIFEST replaces the board's default manifest.
include("$(PORT_DIR)/boards/manifest.py")

metadata(description="Microcurrent facial device firmware", version="0.1.0")

# package.json's mip dependencies, from micropython-lib: the SSD1306 OLED driver.
require("ssd1306")


def _py_files(pkg):
    """Every .py of a package, relative to it, except this manifest (host-only)."""
    root = os.path.join("..", pkg)
    found = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(dirpath, n), root).replace(os.sep, "/")
            if n.endswith(".py") and (pkg, rel) != ("firmware", "manifest.py"):
                found.append(rel)
    return sorted(found)


# Our code as bytecode at opt level 3: asserts stripped and no line numbers in tracebacks (the
# safety code raises explicitly, never relies on assert; `make mpy` uses -O2 and keeps the
# line numbers for tracebacks from the .mpy files that `make deploy` copies). Bytecode only:
# the `# @native` markers stay comments here. Frozen native code (the markers made decorators,
# the port's mpy-cross at -march=armv6m) crashed the emulated RP2040 on MicroPython 1.28 (an
# unaligned 32-bit read from flash inside it), so a frozen image runs the tick as bytecode:
# 0.85-1.9 ms a slot on the emulated chip, over the 1.25 ms budget; `make deploy`'s native
# .mpy files keep it within.
for _pkg in ("drivers", "firmware", "safety", "waveforms"):
    package(_pkg, files=_py_files(_pkg), base_path="..", opt=3)

# boot.py and main.py are NOT frozen: MicroPython runs them only from the filesystem, and the
# filesystem copies stay editable on a board (boot.py drives OUT_EN low first at every reset).
# firmware/presets/*.json are data, not modules: the deploy puts them in /data/presets. Nothing
# on the filesystem may be named like a frozen package: sys.path is ['', '.frozen', '/lib'], so
# a /firmware folder (even one holding only presets) shadows the frozen `firmware` package and
# boot.py fails with "ImportError: no module named 'firmware.boards'". `tools.deploy deploy
# --frozen` removes drivers/ firmware/ safety/ waveforms/ from the filesystem and copies
# boot.py, main.py, /data/presets and the settings: with the frozen image, a complete device.
