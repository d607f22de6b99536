"""Plan parity between CPython and the MicroPython VM.

``host_tests/data/plan_parity.json`` is a fixed table of parameter sets and the plans CPython
builds for them (or the field a ValueError names). ``host_tests/mp_tests/mp_test_waveforms.py``
rebuilds every case on the VM, checks the properties there and compares with the table; it also
plays thousands of segments under ``micropython.heap_lock()``.

Regenerate the table after a deliberate change of the builder:

    .venv/bin/python -m host_tests.test_waveforms_parity --write
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "host_tests" / "data" / "plan_parity.json"
MP_SCRIPT = ROOT / "host_tests" / "mp_tests" / "mp_test_waveforms.py"
SUMMARY = "passed, 0 failed"


def cases() -> list[list]:
    """[shape, freq_mhz, amp_ua, cap_ua, phase_us or None, dead_us, alt_ms]: edges + a seeded
    sample of the whole space (valid and invalid)."""
    fixed = [
        [0, 300, 0, 0, None, 25, 10000],
        [0, 1000000, 1000, 1000, None, 20, 10000],
        [0, 1000000, 1000, 1000, 475, 25, 10000],
        [0, 1000000, 1000, 1000, 476, 25, 10000],  # phase too long
        [2, 12345, 600, 500, 100, 50, 10000],
        [1, 300, 200, 500, None, 25, 10000],
        [1, 450, 200, 500, None, 25, 10000],  # infeasible balance
        [1, 500, 200, 500, None, 25, 10000],
        [1, 1000000, 1000, 200, None, 25, 7000],
        [1, 999999, 50, 60, 10, 100, 1],
        [0, 299, 10, 10, None, 25, 10000],  # frequency out of range
        [0, 1000, -1, 10, None, 25, 10000],  # negative amplitude
        [0, 1000, 1001, 1000, None, 25, 10000],
        [0, 1000, 10, 10, 0, 25, 10000],  # zero duration
        [0, 1000, 10, 10, None, 19, 10000],
        [3, 1000, 10, 10, None, 25, 10000],
    ]
    rnd = random.Random(20261124)
    sample = []
    for _ in range(100):
        shape = rnd.choice([0, 1, 2])
        f = rnd.choice([rnd.randint(300, 1000000), rnd.randint(300, 20000)])
        period = 10**9 // f
        dead = rnd.randint(20, 100)
        phase = rnd.choice([None, rnd.randint(1, max(1, period // 2))])
        sample.append(
            [
                shape,
                f,
                rnd.randint(0, 1000),
                rnd.randint(0, 1000),
                phase,
                dead,
                rnd.choice([10000, rnd.randint(1, 10000)]),
            ]
        )
    return fixed + sample


def expected(case: list) -> dict:
    from waveforms import plan as P

    shape, f, amp, cap, phase, dead, alt = case
    try:
        pl = P.make(shape, f, amp, cap, phase_us=phase, dead_us=dead, alt_ms=alt)
    except ValueError as e:
        return {"args": case, "error": str(e).split(":")[0]}
    return {"args": case, "plan": json.loads(json.dumps(pl.to_tuple()))}


def table() -> dict:
    return {
        "about": "waveforms.plan.build on CPython; regenerate: python -m "
        "host_tests.test_waveforms_parity --write",
        "fields": "shape freq_mhz period_us period_rem amp_ua requested_ua cap_ua clamped "
        "phase_us dead_us alt_periods segs[(level, pol, dur)]",
        "cases": [expected(c) for c in cases()],
    }


def test_table_is_current():
    """The stored table is what CPython builds today (regenerate it on purpose, never by
    accident)."""
    stored = json.loads(DATA.read_text())
    assert stored["cases"] == table()["cases"]
    kinds = [("error" in c) for c in stored["cases"]]
    assert 10 < sum(not k for k in kinds) and sum(kinds) >= 8  # both sorts are covered


@pytest.mark.rule("3.5")
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["py", "mpy"])
def test_vm_parity_and_heap_lock(mode, tmp_path_factory):
    """The MicroPython VM builds identical plans and plays segments without allocating."""
    from tools import build_mpy
    from tools.mpvm import runner

    if not runner.available():
        pytest.fail("MicroPython VM not installed: run `make node`")
    kw: dict = {"libs": [str(DATA)], "timeout": 120}
    if mode == "mpy":
        out = tmp_path_factory.mktemp("mpy_wf") / "mpy"
        _sizes, errors = build_mpy.build(ROOT, out)
        assert not errors, errors
        kw.update(mpy=True, mpy_dir=out)
    rc, out_s, err = runner.run_script(MP_SCRIPT, **kw)
    report = f"--- stdout ---\n{out_s}\n--- stderr ---\n{err}"
    assert rc == 0 and SUMMARY in out_s, report
    assert "SKIP" not in out_s, report  # with the table given, nothing may be skipped
    assert "PASS parity: %d cases identical" % len(cases()) in out_s, report


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    from vhw import install

    install.install()
    if "--write" in sys.argv:
        DATA.parent.mkdir(parents=True, exist_ok=True)
        DATA.write_text(json.dumps(table(), indent=None, separators=(",", ":")) + "\n")
        print("wrote", DATA)
    else:
        print(json.dumps(table())[:400])
