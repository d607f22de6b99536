# Deterministic boundary tests of the supervisor's thresholds (issue 11, "tests that let bugs
# through"): a fake stage and sense whose reading the test sets to the microamp, so a single-
# line mutation of a threshold (over-current 20 % -> 200 %, short 500 -> 150 Ohm) fails here
# every time, not in a flaky property.
import pytest

from safety import contact as c
from safety import faults, limits
from safety import supervisor as sv

Z_SKIN = 20000


class Pin:
    def __init__(self):
        self.v = 0

    def on(self):
        self.v = 1

    def off(self):
        self.v = 0

    def is_on(self):
        return self.v == 1


class Dac:
    def __init__(self):
        self.code = 0


class Stage:
    """Speaks uA; driven_ua() is what it drives (OUT_EN on and a leg chosen)."""

    def __init__(self):
        self.dac = Dac()
        self.out_en = Pin()
        self.dac_error = False
        self.pol = 0
        self._ua = 0

    def is_enabled(self):
        return self.out_en.is_on()

    def driving(self):
        return self.pol

    def driven_ua(self):
        return self._ua if self.out_en.is_on() and self.pol != 0 else 0

    def set_ua(self, ua):
        self._ua = ua

    def set_polarity(self, pol):
        self.pol = pol

    def enable(self):
        self.out_en.on()

    def off(self):
        self.out_en.off()
        self._ua = 0
        self.pol = 0


class Sense:
    """Reads what flows into a load of z Ohm, or exactly `ua` when the test sets it."""

    def __init__(self, stage):
        self.stage = stage
        self.z = Z_SKIN
        self.force_ua = None
        self.ua = self.mv = self.raw_i = self.raw_v = 0

    def read(self):
        lvl = self.stage.driven_ua()
        ua = lvl if self.force_ua is None or lvl == 0 else self.force_ua
        self.ua = ua
        self.mv = ua * self.z // 1000
        self.raw_i = ua * 50  # not pegged, moves with the current
        return ua


class Clock:
    def __init__(self):
        self.us = 0

    def ticks_us(self):
        return self.us

    def ticks_ms(self):
        return self.us // 1000

    def ticks_diff(self, a, b):
        return a - b

    def sleep_us(self, d):
        self.us += d


class Player:
    playing = False
    error = 0
    plan = None

    def stop(self):
        pass


class Hw:
    def __init__(self):
        self.stage = Stage()
        self.sense = Sense(self.stage)
        self.rail_mv = 20000


def in_contact(z=Z_SKIN):
    """A supervisor in contact (found by its own probes), the stage then driving 300 uA."""
    hw = Hw()
    hw.sense.z = z
    clk = Clock()
    sup = sv.Supervisor(hw, Player(), clk=clk, use_wdt=False)
    sup.set_step("pro", "cheek", "disk", 1000)
    for _ in range(40):
        clk.us += 5000
        sup.tick(clk.ticks_ms(), 300)
    assert sup.contact and not sup.latched
    return sup, hw, clk


def drive(sup, hw, clk, level, ua, ticks):
    st = hw.stage
    st.set_ua(level)
    st.set_polarity(1)
    st.enable()
    hw.sense.force_ua = ua
    for _ in range(ticks):
        clk.us += 5000
        sup.tick(clk.ticks_ms(), level)
        if sup.latched:
            break


def oc_limit(level):
    """DESIGN 4.6: over-current above commanded + 20 % + 20 uA."""
    return level + level * 20 // 100 + 20


@pytest.mark.rule("4.6")
@pytest.mark.parametrize("level", [100, 300, 500])
def test_over_current_margin_boundary_is_20_percent_plus_20_ua(level):
    sup, hw, clk = in_contact()
    drive(sup, hw, clk, level, oc_limit(level), ticks=10)  # at the limit: never a fault
    assert not sup.latched, sup.fault
    drive(sup, hw, clk, level, oc_limit(level) + 1, ticks=1)  # just above, once: not yet
    assert not sup.latched
    drive(sup, hw, clk, level, oc_limit(level) + 1, ticks=1)  # twice in a row: latched
    assert sup.latched and sup.fault == faults.OVERCURRENT
    assert hw.stage.out_en.v == 0


@pytest.mark.rule("4.6")
def test_over_current_needs_two_consecutive_samples():
    sup, hw, clk = in_contact()
    for _ in range(5):  # above, then back at the level: the count starts again
        drive(sup, hw, clk, 300, oc_limit(300) + 1, ticks=1)
        drive(sup, hw, clk, 300, 300, ticks=1)
    assert not sup.latched


@pytest.mark.rule("4.6")
def test_above_the_ceiling_once_latches():
    sup, hw, clk = in_contact()
    drive(sup, hw, clk, 900, limits.CEILING_UA, ticks=5)  # at the ceiling: within 900's margin
    assert not sup.latched
    drive(sup, hw, clk, 900, limits.CEILING_UA + 1, ticks=1)
    assert sup.latched and sup.fault == faults.OVERCURRENT


def _mv_for(z, ua):
    """An electrode voltage for which the supervisor computes exactly z Ohm at ua."""
    for mv in range(z * ua // 1000 - 2, z * ua // 1000 + 3):
        if mv * 1000 // ua == z:
            return mv
    raise AssertionError("no mv gives %d Ohm at %d uA" % (z, ua))


@pytest.mark.rule("4.6")
@pytest.mark.parametrize("z,latches", [(499, True), (500, False), (501, False)])
def test_short_circuit_below_500_ohm_latches_501_does_not(z, latches):
    sup, hw, clk = in_contact()
    level = 1000  # 1 mV resolves 1 Ohm here
    mv = _mv_for(z, level)
    sense = hw.sense
    st = hw.stage
    st.set_ua(level)
    st.set_polarity(1)
    st.enable()

    def read():
        # exactly z at the 1000 uA level; a contact probe (20 uA) after the contact broke reads
        # the same load with 50 Ohm resolution (499 -> 450, 501 -> 500)
        lvl = st.driven_ua()
        sense.ua = lvl
        sense.mv = mv if lvl == level else z * lvl // 1000
        sense.raw_i = lvl * 50 + (clk.us // 5000) % 2  # a live ADC
        return lvl

    sense.read = read
    clk.us += 5000
    sup.tick(clk.ticks_ms(), level)
    assert sup.impedance_ohm == z  # the first sample judged the load exactly
    for _ in range(6):
        clk.us += 5000
        sup.tick(clk.ticks_ms(), level)
    if latches:
        assert sup.latched and sup.fault == faults.SHORT
    else:
        assert sup.fault != faults.SHORT


def test_the_floor_is_stated_once():
    assert limits.MIN_MEASURABLE_UA == c.MIN_LEVEL_UA == sv.FLOOR_UA == sv.FLOOR_NA // 1000
    assert (sv._NO_INFO, sv._MEASURED, sv._SUSPECT) == (c.NO_INFO, c.MEASURED, c.SUSPECT)


def test_the_selftest_judges_with_the_supervisors_thresholds_stated_once():
    # issue 11: the self-test had its own copies of the short and pegged-ADC thresholds
    import ast
    import os

    from safety import selftest as st
    from safety import supervisor as sv

    src = open(os.path.join(os.path.dirname(sv.__file__), "selftest.py")).read()
    assigned = {
        t.id
        for n in ast.walk(ast.parse(src))
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    assert not {"SHORT_OHM", "RAW_PEGGED", "ZERO_TOL_UA"} & assigned
    assert (st.SHORT_OHM, st.RAW_PEGGED, st.ZERO_TOL_UA) == (
        sv.SHORT_OHM,
        sv.RAW_PEGGED,
        sv.OFF_TOL_UA,
    )
