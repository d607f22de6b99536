# Safety holes of issue 11, one test per behaviour, on the sim board with the real player
# (tools/bench_safety.Rig): each fails on the supervisor/self-test before the fix.
#   item 6   at the compliance rail the level does not run ahead of the current that flows
#   item 7   clearing a stuck-DAC fault, and the power-on self-test, drive no client
#   item 11  in contact the ramp starts where the sense can see it (MIN_MEASURABLE_UA)
#   item 13  a dead current sense is not cleared with the probes off
#   item 16  the clear routine drives nothing while the state is `fault`
import pytest

from safety import clearing, faults, limits, selftest
from safety import contact as c
from safety import supervisor as sv
from tools.bench_safety import Rig
from vhw.stage import FAULTS  # the simulator contract's faults

FLOOR = 10  # limits.MIN_MEASURABLE_UA (checked below)
AHEAD = 10  # at the rail: the level at most this far above the current that flows


def running(z=20000, request=300, ms=3000, mode="home"):
    rig = Rig(use_wdt=False)
    rig.model.set_load(True, z)
    rig.set_step(mode, "cheek", "disk", 1000)
    rig.running = True
    rig.request = request
    rig.run_ms(ms)
    return rig


def load_current_while(rig, fn):
    """Run fn(); returns (OUT_EN-high events, largest load current) seen while it ran."""
    n0 = len(rig.events)
    fn()
    evs = rig.events[n0:]
    return [ev for ev in evs if ev[3]], max([ev[2] for ev in evs] or [0])


def latch(rig, name, ms=700):
    rig.model.set_fault(name, True)
    rig.run_ms(ms)
    assert rig.sup.latched, name
    return rig.sup.fault


# -- item 7 and 16: the clear routine drives nothing ---------------------------------------------


@pytest.mark.rule("4.5", "4.6")
def test_clearing_a_stuck_dac_fault_drives_no_current_through_the_client():
    rig = running()
    code = latch(rig, "dac_stuck_high")
    assert code == faults.OVERCURRENT
    # still stuck, probes still on the skin: a long press
    on, peak = load_current_while(rig, rig.sup.clear)
    assert on == [] and peak == 0, (on[:3], peak)
    assert rig.sup.latched and rig.out_en() == 0


@pytest.mark.rule("4.5", "4.6")
@pytest.mark.parametrize("name", [f for f in FAULTS if f != "loop_stall"])
@pytest.mark.parametrize("healed", [False, True])
def test_the_clear_routine_keeps_out_en_low_while_latched(name, healed):
    """DESIGN 4.5: in a fault zero means truly zero (OUT_EN low), also during a long press.
    The one proof probe of a short or sense fault runs unlatched (state `clearing`), at most
    a contact probe; an over-current (a stuck source) gets no pulse at all."""
    rig = running()
    code = latch(rig, name)
    if healed:
        rig.model.set_fault(name, False)
    on, peak = load_current_while(rig, rig.sup.clear)
    assert all(not ev[5] for ev in on), (name, on[:3])  # never with the fault latched
    assert max([ev[1] for ev in on] or [0]) <= c.PROBE_UA
    if code not in clearing.PROBE_PROOF:
        assert on == [] and peak == 0, (name, on[:3], peak)
    assert rig.out_en() == 0


@pytest.mark.rule("4.6")
def test_a_dead_sense_is_not_cleared_by_a_long_press_with_the_probes_off():
    rig = running()
    assert latch(rig, "sense_open") == faults.SENSE_MISMATCH
    trips = rig.sup.trips
    rig.model.set_load(False)  # the probes leave the skin: an open load reads like a dead sense
    assert not rig.sup.clear()  # still dead: no proof
    assert rig.sup.latched and rig.sup.fault == faults.SENSE_MISMATCH
    rig.model.set_fault("sense_open", False)
    assert not rig.sup.clear()  # alive now, but with the probes off nothing proves it
    assert rig.sup.latched and rig.sup.trips == trips
    rig.model.set_load(True, 20000)
    rig.model.set_fault("sense_open", True)
    assert not rig.sup.clear()  # on skin, still dead: the probe's voltage is unexplained
    rig.model.set_fault("sense_open", False)
    assert rig.sup.clear()  # on skin, the probe's current reads: proof


@pytest.mark.rule("4.8")
def test_selftest_drives_a_stuck_dac_into_the_client_for_one_probe_pulse_at_most():
    rig = Rig(use_wdt=False)
    rig.model.set_load(True, 20000)
    rig.model.set_fault("dac_stuck_high", True)
    ok, lines, code = selftest.run(rig.hw, True)
    assert not ok and code == faults.SELFTEST
    # OUT_EN high intervals while current flowed through the client
    pulses = []
    start = None
    for ev in rig.events:
        if ev[3] and start is None:
            start = ev[0]
        elif not ev[3] and start is not None:
            pulses.append((start, ev[0]))
            start = None
    assert len(pulses) == 1, pulses  # the probe: no separate DAC-at-zero pulse into a load
    a, b = pulses[0]
    assert b - a <= c.PROBE_SETTLE_US + 100
    assert any("dac_zero" in ln and "not checked" in ln for ln in lines)


@pytest.mark.rule("4.8")
def test_selftest_still_finds_a_stuck_dac_with_nothing_connected():
    rig = Rig(use_wdt=False)
    rig.model.set_fault("dac_stuck_high", True)
    ok, lines, code = selftest.run(rig.hw, True)
    assert not ok and code == faults.SELFTEST
    assert any("dac_zero" in ln and "FAIL" in ln for ln in lines)


# -- item 11: nothing blind in contact -----------------------------------------------------------


@pytest.mark.rule("4.4", "4.5")
def test_a_ramp_in_contact_starts_at_the_measurable_floor():
    rig = running(ms=3000)
    rig.model.set_load(False)
    rig.run_ms(100)
    rig.model.set_load(True, 20000)
    blind = 0
    seen = False
    for _ in range(200):  # until the plan plays again and 200 ms after
        rig.tick()
        rig.vc.sleep_us(5000)
        sup = rig.sup
        if sup.contact and rig.player.playing:
            seen = True
            if 0 < sup.allowed_ua < FLOOR:
                blind += 1
    assert seen
    assert blind == 0  # never a level the sense cannot see
    # and the rise from the floor keeps the soft start
    assert rig.sup.allowed_ua <= FLOOR + 100 + 5


@pytest.mark.rule("4.5")
def test_contact_is_judged_from_the_first_ticks_of_a_soft_start():
    """Lift-off right after a stroke start is seen at once (old: ~100 ms blind below 10 uA)."""
    rig = running(ms=3000)
    rig.sup.restart_ramp()  # a stroke starts from zero
    rig.run_ms(30)
    assert rig.sup.contact
    rig.model.set_load(False)
    rig.run_ms(10)
    assert not rig.sup.contact and rig.out_en() == 0 and not rig.player.playing


@pytest.mark.rule("4.4")
def test_a_request_below_the_floor_drives_nothing():
    rig = running(request=FLOOR - 1)
    assert rig.sup.contact is False or rig.sup.allowed_ua == 0
    assert max([ev[1] for ev in rig.events if ev[3] and ev[4]] or [0]) == 0


def test_min_measurable_is_exported_for_find_my_level():
    assert limits.MIN_MEASURABLE_UA == c.MIN_LEVEL_UA == FLOOR


# -- item 6: the soft-start bound on the current that flows ---------------------------------------


@pytest.mark.rule("4.4")
def test_wetter_skin_at_the_rail_brings_no_jump():
    # 150 kOhm: the 20 V rail lets ~133 uA flow; the client asks 400 uA
    rig = running(z=150000, request=400, ms=6000, mode="home")
    sup = rig.sup
    assert sup.contact and sup.poor_contact
    flowing = sup.measured_ua
    assert 120 <= flowing <= 140
    assert sup.allowed_ua <= flowing + AHEAD + 2  # the command stays with the current
    rig.model.set_load(True, 40000)  # wetter skin: the same level fits below the rail now
    peak = 0
    for _ in range(60):  # 300 ms
        rig.tick()
        rig.vc.sleep_us(5000)
        peak = max(peak, abs(rig.model.measured_ua()))
    # at most the ramp's 100 uA/s on top of what flowed (plus a period's lag and noise)
    assert peak <= flowing + AHEAD + 30 + 5, (flowing, peak)
    assert sv.RAIL_AHEAD_NA == AHEAD * 1000


# -- the double fault of test_safety_props -------------------------------------------------------


@pytest.mark.rule("4.6")
@pytest.mark.parametrize("z", [100, 600, 5000])
def test_a_dead_sense_cannot_hide_a_stuck_dac_for_more_than_one_tick(z):
    """A dead current sense and a DAC stuck high into a low load: the sense reads nothing, the
    electrode voltage says a load. No impedance is known, so the output stops in that tick
    (DESIGN 4.5); the probes then find the same unexplained voltage and SENSE_MISMATCH latches
    after 500 ms. Before: contact was held for those 500 ms with up to 1.1 mA flowing."""
    rig = running(z=20000)
    over = []

    def watch(ev):
        if ev[2] > rig.sup.cap_ua and ev[3]:
            over.append(ev[0])

    rig.on_event = watch
    rig.model.set_fault("sense_open", True)
    rig.model.set_fault("dac_stuck_high", True)
    rig.model.set_load(True, z)
    t0 = rig.t_us()
    rig.run_ms(700)
    assert rig.sup.latched and rig.sup.fault == faults.SENSE_MISMATCH
    # above the cap only inside the tick it began in, and inside the probes (<= 2 x 200 us)
    first = [t for t in over if t - t0 <= 7000]
    later = [t for t in over if t - t0 > 7000]
    assert all(t - t0 <= 7000 for t in first)
    assert not rig.out_en()
    for t in later:  # each a contact probe: OUT_EN low again within 0.5 ms
        off = next(ev[0] for ev in rig.events if ev[0] >= t and not ev[3])
        assert off - t <= 500


def test_clearing_thresholds_are_the_supervisors():
    assert clearing.OFF_TOL_UA == sv.OFF_TOL_UA
    assert clearing.RAW_PEGGED == sv.RAW_PEGGED
    assert clearing.SHORT_OHM == sv.SHORT_OHM
