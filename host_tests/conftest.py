# Fakes first: machine, micropython, neopixel and the device-like time functions are installed
# before any firmware module is imported (pytest imports conftest before the test modules).
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from vhw import install as _install  # noqa: E402

_install.install()

import pytest  # noqa: E402

try:
    from host_tests import hypothesis_profiles  # noqa: E402,F401
except ImportError:  # the profiles module lands with the tooling
    pass


@pytest.fixture
def sim():
    """A fresh virtual board: (vclock, stage model, hw built by the sim board file)."""
    import machine

    from firmware.boards import sim as board

    vc, stage = _install.make_sim_world()
    hw = board.build(machine)
    return vc, stage, hw


@pytest.fixture
def sim_near_wrap():
    """The same, with the tick counters 50 ms before they wrap at 2**30."""
    import machine

    from firmware.boards import sim as board

    vc, stage = _install.make_sim_world(start_us=(1 << 30) * 1000 - 50000)
    hw = board.build(machine)
    return vc, stage, hw
