# Defence in depth (DESIGN 4.3): the 1000 uA ceiling is enforced in three independent places.
#   1 engine:     the request is clamped to the step cap (Supervisor.tick's min, the plan's
#                 amp_ua, Player.set_amplitude's clamp to it)
#   2 DAC driver: no code above max_code (the ceiling in codes), whatever the stage asks
#   3 supervisor: the measured current against the ceiling / the command latches OVERCURRENT
# A hostile program asks 5 mA into a 5 kOhm load (the rail would allow 4 mA). Each layer is
# disabled in turn (monkeypatched) and the other two still hold the ceiling; then each layer is
# shown to hold it alone.
import pytest

from safety import faults
from tools.bench_safety import Rig

HOSTILE_UA = 5000
CEILING = 1000
SENSE_LSB_UA = 1  # the sense reads whole uA (truncated): 1001 uA reads as 1000


def _patch(obj, name, value):
    """Switch a layer off through a private name: a renamed or removed name must fail the test,
    not leave the layer on while the test believes it off."""
    if not hasattr(obj, name):
        raise AssertionError(
            "%s has no %r: the test no longer switches that layer off" % (obj, name)
        )
    setattr(obj, name, value)


def disable_engine(rig):
    sup = rig.sup
    for a in ("cap_ua", "step_cap_ua", "_cmd_cap", "_cmd_cap_next", "client_ceiling_ua"):
        _patch(sup, a, HOSTILE_UA)
    pl = rig.plan
    pl.amp_ua = HOSTILE_UA
    for i in range(pl.n):
        if pl.level[i]:
            pl.level[i] = HOSTILE_UA
    player = rig.player

    def set_amplitude(ua):  # no clamp to the plan's amplitude
        player._amp = ua

    _patch(player, "set_amplitude", set_amplitude)


def disable_dac_clamp(rig):
    _patch(rig.hw.dac, "max_code", rig.hw.dac.full_scale)  # 4095: 1100 uA


def disable_supervisor_check(rig):
    # the measured current is judged against _oc_ceil (once) and level + 20 % + _oc_abs (twice)
    _patch(rig.sup, "_oc_ceil", 10**6)
    _patch(rig.sup, "_oc_abs", 10**6)


def test_a_layer_switch_fails_when_its_name_is_gone():
    rig = Rig(use_wdt=False)
    with pytest.raises(AssertionError):
        _patch(rig.sup, "_check_current", None)


LAYERS = {
    "engine": disable_engine,
    "dac": disable_dac_clamp,
    "supervisor": disable_supervisor_check,
}


def hostile_run(disabled, ms=14000):
    rig = Rig(use_wdt=False)
    rig.set_step("pro", "cheek", "disk", 1000)
    rig.model.set_load(True, 5000)
    for name in disabled:
        LAYERS[name](rig)
    rig.running = True
    rig.request = HOSTILE_UA
    peak = [0]
    over = []

    def watch(ev):
        peak[0] = max(peak[0], ev[2])
        if ev[2] > CEILING + SENSE_LSB_UA:
            over.append(ev[0])

    rig.on_event = watch
    # the soft start takes 10 s to reach 1000 uA
    for _ in range(ms // 100):
        rig.run_ms(100)
        peak[0] = max(peak[0], abs(rig.model.measured_ua()))
    return rig, peak[0], over


@pytest.mark.rule("4.1", "4.3")
@pytest.mark.parametrize("layer", ["engine", "dac", "supervisor"])
def test_other_two_layers_hold_the_ceiling(layer):
    rig, peak, over = hostile_run([layer])
    assert peak <= CEILING, (layer, peak)
    # nothing tripped: the remaining layers clamp, the measured check has nothing to see
    assert not rig.sup.latched, rig.sup.fault
    assert peak >= 900  # and the run did reach the ceiling region (not a vacuous pass)


@pytest.mark.rule("4.3")
def test_dac_clamp_alone_holds_the_ceiling():
    rig, peak, over = hostile_run(["engine", "supervisor"])
    assert 900 <= peak <= CEILING
    assert rig.hw.dac.code <= rig.hw.dac.max_code


@pytest.mark.rule("4.3")
def test_engine_alone_holds_the_ceiling():
    rig, peak, over = hostile_run(["dac", "supervisor"])
    assert 900 <= peak <= CEILING


@pytest.mark.rule("4.3", "4.6")
def test_supervisor_alone_latches_within_one_tick_above_the_ceiling():
    rig, peak, over = hostile_run(["engine", "dac"])
    # the DAC can now reach 1100 uA: the first sample above 1000 latches OVERCURRENT
    assert rig.sup.latched and rig.sup.fault == faults.OVERCURRENT
    assert rig.out_en() == 0
    assert over, "never went above the ceiling: the test did not exercise the check"
    assert peak <= CEILING + 20  # tripped on the way up: one ramp step past the ceiling
    assert peak <= 1100  # hardware: R_set gives 1.1 x the ceiling at full scale
    # the time above the ceiling: from the first sample over it to OUT_EN low
    first = over[0]
    off = next(ev[0] for ev in rig.events if ev[0] >= first and ev[3] == 0)
    assert off - first <= 2000 + 100, off - first
