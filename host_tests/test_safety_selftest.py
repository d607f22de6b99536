# Power-on self-test (safety/selftest.py) on the sim board: passes on a healthy board with or
# without the probes on skin, fails with the right code for every simulator fault it can see,
# drives nothing bigger than a contact probe, and always leaves the output off.
import pytest

from safety import faults, selftest
from tools.bench_safety import Rig


def board(load=None, fault=None):
    rig = Rig(use_wdt=False)
    if load:
        rig.model.set_load(True, load)
    if fault:
        rig.model.set_fault(fault, True)
    return rig


@pytest.mark.rule("4.8")
@pytest.mark.parametrize("load", [None, 20000, 1500, 190000])
def test_healthy_board_passes(load, capsys):
    rig = board(load)
    ok, lines, code = selftest.run(rig.hw, True, verbose=True)
    assert ok and code is None
    assert lines[-1] == "selftest: PASS"
    out = capsys.readouterr().out
    for name in ("sense_idle", "out_en_off", "dac_zero", "probe", "battery", "programs"):
        assert "selftest: %-10s ok" % name in out
    assert rig.out_en() == 0 and rig.hw.stage.driven_ua() == 0
    # nothing larger than a contact probe ever flowed or was commanded with OUT_EN on
    assert max([ev[1] for ev in rig.events if ev[3]] or [0]) <= 20
    assert max([ev[2] for ev in rig.events] or [0]) <= 20


@pytest.mark.rule("4.8")
@pytest.mark.parametrize(
    "fault,load,code",
    [
        ("dac_stuck_high", None, faults.SELFTEST),
        ("dac_stuck_high", 20000, faults.SELFTEST),
        ("sense_open", 20000, faults.SELFTEST),
        ("sense_stuck_high", None, faults.SENSE_STUCK),
        ("short_circuit", None, faults.SHORT),
        ("i2c_error", None, faults.DAC),
        ("battery_low", None, faults.BATTERY),
    ],
)
def test_each_fault_fails_with_its_code(fault, load, code):
    rig = board(load, fault)
    ok, lines, got = selftest.run(rig.hw, True)
    assert not ok
    assert got == code, lines
    assert lines[-1] == "selftest: FAIL " + code
    assert any("FAIL" in ln for ln in lines[:-1])
    assert rig.out_en() == 0


def test_sense_open_without_load_is_not_visible():
    # Documented limit: an open current sense reads the same as no load (no current flows).
    ok, lines, code = selftest.run(board(None, "sense_open").hw, True)
    assert ok


@pytest.mark.rule("4.8")
def test_invalid_programs_fail_with_program_code():
    ok, lines, code = selftest.run(board().hw, False)
    assert not ok and code == faults.PROGRAM
    assert "selftest: programs   FAIL" in "\n".join(lines)


@pytest.mark.rule("4.8")
def test_output_switch_that_does_not_open_fails():
    rig = board(20000)
    # OUT_EN stuck on: the switch driver's off() does nothing
    rig.hw.out_en.off = lambda: None
    rig.hw.out_en.on()
    ok, lines, code = selftest.run(rig.hw, True)
    assert not ok and code == faults.SELFTEST
    assert any(ln.startswith("selftest: out_en_off FAIL") for ln in lines)


def test_report_exit_status(capsys):
    assert selftest.report(selftest.run(board().hw, True)) == 0
    assert selftest.report(selftest.run(board(None, "battery_low").hw, True)) == 1
    assert "selftest: FAIL BATTERY" in capsys.readouterr().out


@pytest.mark.rule("4.6", "4.8")
def test_failed_selftest_latches_in_the_supervisor():
    rig = board(None, "i2c_error")
    ok, lines, code = selftest.run(rig.hw, True)
    rig.sup.trip(code)
    assert rig.sup.latched and rig.sup.fault == faults.DAC
    rig.model.set_fault("i2c_error", False)
    assert rig.sup.clear()
    rig.sup.trip(faults.SELFTEST)
    assert not rig.sup.clear()  # a failed self-test clears only by a power cycle
