# The control tick's hot functions are machine code on a board (`# @native` markers, turned into
# @micropython.native by tools/build_mpy.py with the board's arch) and plain bytecode everywhere
# else: the MicroPython VM in the tests has no native emitter, so the tests run the same Python.
import ast
import os

import pytest

from tools import build_mpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# what the tick runs every time, and in its logic and player-poll slots (measured on the
# emulated RP2040: the logic slot from 1.4-1.8 ms down to 1.2 ms, the others to 0.6-0.8 ms)
HOT = {
    "safety/supervisor.py": ("tick", "_check_sample"),
    "safety/contact.py": ("update",),
    "drivers/sense.py": ("read",),
    "waveforms/player.py": ("heartbeat", "_poll", "level_key", "set_amplitude"),
    "waveforms/tally.py": ("_account", "_count", "_side", "settle"),
    "firmware/app.py": ("tick", "_logic"),
    "firmware/session.py": ("logic",),
    "firmware/dose.py": ("account",),
}


def test_a_marker_becomes_the_decorator_on_the_same_line():
    src = "class A:\n    # @native  (why)\n    def f(self):\n        return 1\n"
    out = build_mpy.native_source(src)
    assert out.splitlines()[1] == "    @micropython.native"
    assert len(out.splitlines()) == len(src.splitlines())
    assert build_mpy.native_source("x = 1  # @native is only a marker on its own line\n") == (
        "x = 1  # @native is only a marker on its own line\n"
    )


@pytest.mark.parametrize("path", sorted(HOT))
def test_the_tick_hot_path_is_marked_native(path):
    lines = open(os.path.join(ROOT, path)).read().splitlines()
    marked = set()
    for n in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(n, ast.FunctionDef) and n.lineno >= 2:
            if lines[n.lineno - 2].lstrip().startswith(build_mpy.NATIVE_MARK):
                marked.add(n.name)
    assert set(HOT[path]) <= marked


@pytest.mark.parametrize("march", ["armv6m", "xtensawin"])
def test_every_device_module_compiles_with_the_boards_native_arch(tmp_path, march):
    sizes, errors = build_mpy.build(build_mpy.ROOT, tmp_path / "mpy", march)
    assert not errors
    assert sizes["total"] > 0
