"""The simulator on both runtimes: the same short scenario on CPython (in process) and on the
real MicroPython VM (tools/mpvm) gives the same trace, tick for tick: the same states and the
same commanded currents at the same instants (DESIGN 6, issue 6)."""

from __future__ import annotations

import pytest

from tools.mpvm import runner
from tools.sim import api, scenario

# Power on, probes on skin, start lift, a probe lift-off and re-contact, a PLUS: every state
# of a session but the fault, kept short (the VM is several times slower than CPython).
SCENARIO = {
    "duration_ms": 9000,
    "board": "sim",
    "program": "lift",
    "events": [
        {"t_ms": 0, "press": "power", "hold_ms": 1200},
        {"t_ms": 1800, "contact": True, "impedance_ohm": 20000},
        {"t_ms": 2600, "press": "power"},
        {"t_ms": 5000, "contact": False},
        {"t_ms": 5600, "contact": True, "impedance_ohm": 30000},
        {"t_ms": 6500, "press": "plus"},
    ],
}


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    if not runner.available():
        pytest.fail("MicroPython VM not installed: run `make node` (tools/mpvm/node_modules)")
    scn = scenario.validate(SCENARIO)
    base = tmp_path_factory.mktemp("simrt")
    _, cp = api.simulate(scn, str(base / "cpython"), vcd=False, png=False)
    _, mp = api.simulate(
        scn, str(base / "micropython"), runtime="micropython", vcd=False, png=False, timeout=240
    )
    return cp, mp


def test_micropython_trace_matches_cpython_tick_for_tick(traces):
    cp, mp = traces
    assert len(cp) > 9000 // 5
    assert {"idle", "running", "paused"} <= set(cp.state)
    a = list(zip(cp.t, cp.state, cp.cmd))
    b = list(zip(mp.t, mp.state, mp.cmd))
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, "first difference at row %d: cpython %s, micropython %s" % (i, x, y)
    assert len(a) == len(b)


def test_micropython_trace_same_physics_and_decisions(traces):
    cp, mp = traces
    assert cp.meas == mp.meas
    assert cp.contact == mp.contact
    assert cp.z == mp.z
    assert cp.fault == mp.fault and cp.step == mp.step
