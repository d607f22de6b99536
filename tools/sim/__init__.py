"""The simulator: `python3 -m tools.sim` (DESIGN section 6). core.py runs on CPython and on the
MicroPython VM; the rest (scenario validation, summary, VCD/PNG writers, CLI) is host side."""
