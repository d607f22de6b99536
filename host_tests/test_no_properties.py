# On MicroPython a class with a property (or any descriptor) makes every attribute store on its
# instances look through the class hierarchy first: measured on the emulated RP2040, 22.5 us a
# store instead of 6.2. The player, the supervisor, the app and the stage store attributes every
# tick, so device code has no properties (the simulator's view of the app uses __getattr__).
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE = ("drivers", "safety", "waveforms", "firmware")


def _device_files():
    for d in DEVICE:
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.join(dirpath, f)


@pytest.mark.parametrize("path", sorted(_device_files()), ids=lambda p: os.path.relpath(p, ROOT))
def test_device_code_has_no_property(path):
    tree = ast.parse(open(path).read())
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id in ("property", "__set__", "__get__", "__setattr__"):
            found.append(n.lineno)
        if isinstance(n, ast.FunctionDef) and n.name in ("__get__", "__set__", "__setattr__"):
            found.append(n.lineno)
    assert not found, "property/descriptor in device code at lines %s" % found
