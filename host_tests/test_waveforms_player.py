"""The output player (waveforms/player.py) on the virtual board (sim board, virtual clock).

The fake machine.Timer fires at exact virtual instants, so the recorded pin edges must be the
plan's segment boundaries to the µs: break-before-make, DAC before bridge, the Bresenham
remainder, the monophasic flips, amplitude changes at boundaries, stop() from every state,
exceptions and the deadman leaving the output off.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import clock
from firmware.boards import sim as board
from waveforms import plan as P
from waveforms import player as PL

A = board.PINS["POL_A"]
B = board.PINS["POL_B"]
EN = board.PINS["OUT_EN"]


class Recorder:
    def __init__(self, vc, world):
        self.vc = vc
        self.events = []  # (abs µs, kind, ident, value)
        self.world = world
        world.listeners.append(self)

    def __call__(self, kind, ident, value):
        self.events.append((self.vc.now_us_abs(), kind, ident, value))

    def polarity_changes(self):
        """(t, pol) each time the bridge state changes: 1 POS (A high), 2 NEG, 0 OPEN."""
        a = b = 0
        out = []
        for t, kind, ident, v in self.events:
            if kind != "pin" or ident not in (A, B):
                continue
            if ident == A:
                a = v
            else:
                b = v
            assert not (a and b), "both legs high at %d" % t
            pol = 1 if a else (2 if b else 0)
            if out and out[-1][0] == t:
                out[-1] = (t, pol)  # several pin writes at one instant
                if len(out) > 1 and out[-2][1] == pol:
                    out.pop()
            elif not out or out[-1][1] != pol:
                out.append((t, pol))
        return out

    def detach(self):
        self.world.listeners.remove(self)


def expected_changes(pl, t0, until):
    """(t, pol) of the plan's timeline from t0 up to `until`, collapsed to changes."""
    out = [(t0, 0)]
    t = t0
    acc = 0
    sign = 1
    alt_left = pl.alt_periods
    k = 0
    while t < until:
        if k > 0 and pl.alt_periods:
            alt_left -= 1
            if alt_left <= 0:
                alt_left = pl.alt_periods
                sign = -sign
        for i in range(pl.n):
            d = pl.dur[i]
            if i == pl.n - 1:
                acc += pl.period_rem
                if acc >= pl.freq_mhz:
                    acc -= pl.freq_mhz
                    d += 1
            pol = pl.pol[i]
            if pol != P.OPEN and sign < 0:
                pol = P.NEG if pol == P.POS else P.POS
            if pol != out[-1][1]:
                out.append((t, pol))
            t += d
        k += 1
    return out[1:]  # drop the (t0, OPEN) starting state: the recorder sees changes only


def run(vc, player, us, beat=True):
    """Advance virtual time by us, heartbeating every 2 ms like the control loop."""
    end = vc.now_us_abs() + us
    while True:
        left = end - vc.now_us_abs()
        if left <= 0:
            return
        vc.sleep_us(min(2000, left))
        if beat:
            player.heartbeat(clock.ticks_ms())


def assert_off(hw):
    w = hw.machine.world
    assert w.level(EN) == 0
    assert w.level(A) == 0 and w.level(B) == 0
    assert hw.dac.code == 0
    assert hw.stage.level_ua == 0 and not hw.stage.enabled


def play_and_compare(sim, shape, f, amp=300, run_us=None, **kw):
    vc, stage, hw = sim
    pl = P.make(shape, f, amp, 500, **kw)
    rec = Recorder(vc, hw.machine.world)
    p = PL.Player.for_hw(hw)
    t0 = vc.now_us_abs()
    p.start(pl, amp)
    if run_us is None:
        run_us = min(max(3 * pl.period_us, 20000), 2000000)
    run(vc, p, run_us)
    until = vc.now_us_abs()
    got = rec.polarity_changes()
    want = [c for c in expected_changes(pl, t0, until) if c[0] < until]
    got = [c for c in got if c[0] < until]
    assert got == want, (pl.to_tuple(), got[:8], want[:8])
    # the DAC got the level before the bridge first closed
    first_close = next(i for i, e in enumerate(rec.events) if e[1] == "pin" and e[2] in (A, B))
    dac_writes = [i for i, e in enumerate(rec.events) if e[1] == "dac" and e[3] > 0]
    if pl.amp_ua:
        assert dac_writes and dac_writes[0] < first_close
    assert p.error == PL.ERR_NONE and p.playing
    p.stop()
    assert_off(hw)
    rec.detach()
    return p, pl


@pytest.mark.rule("3.2", "3.6")
@pytest.mark.parametrize("f", [300, 1000, 7999, 8000, 33333, 100000, 999999, 1000000])
def test_biphasic_edges_match_plan(sim, f):
    play_and_compare(sim, P.BIPHASIC, f)


@pytest.mark.rule("3.2")
@pytest.mark.parametrize("f", [1000, 50000, 1000000])
def test_wave_and_narrow_phases(sim, f):
    play_and_compare(sim, P.WAVE, f, phase_us=100, dead_us=50)


@pytest.mark.rule("3.2", "3.4")
def test_monophasic_flips_match_plan(sim):
    # 100 Hz asked to alternate every 50 ms: 5 periods per polarity
    p, pl = play_and_compare(sim, P.MONOPHASIC, 100000, alt_ms=50, run_us=300000)
    assert pl.alt_periods == 5 and p.flips >= 5


def test_monophasic_slow_flip(sim):
    # 0.5 Hz: 5 periods (10 s) per polarity, run 24 s: flips at 10 s and 20 s
    p, pl = play_and_compare(sim, P.MONOPHASIC, 500, run_us=24000000)
    assert p.flips == 2


@settings(max_examples=15)
@given(
    st.sampled_from([P.BIPHASIC, P.MONOPHASIC, P.WAVE]),
    st.integers(2000, 1000000),
    st.integers(1, 1000),
    st.integers(20, 100),
)
def test_edges_match_plan_property(shape, f, amp, dead):
    import machine

    from vhw import install

    vc, _stage = install.make_sim_world()
    hw = board.build(machine)
    play_and_compare((vc, _stage, hw), shape, f, amp=amp, dead_us=dead, alt_ms=30, run_us=100000)


def test_near_tick_wrap(sim_near_wrap):
    play_and_compare(sim_near_wrap, P.BIPHASIC, 123456, run_us=200000)


@pytest.mark.rule("3.5")
def test_long_run_frequency_is_exact(sim):
    # 0.3 Hz: 3333333 µs + 1/3 µs per period; the remainder is carried, no drift, no loss
    vc, _stage, hw = sim
    pl = P.make(P.BIPHASIC, 300, 100, 100)
    rec = Recorder(vc, hw.machine.world)
    p = PL.Player.for_hw(hw)
    t0 = vc.now_us_abs()
    p.start(pl, 100)
    run(vc, p, 31000000)
    starts = [t - t0 for t, pol in rec.polarity_changes() if pol == 1]
    assert starts == [k * 3333333 + k // 3 for k in range(len(starts))]
    assert len(starts) == 10
    assert p.max_stretch_us == 0
    p.stop()


@pytest.mark.rule("3.4")
def test_charge_counters_balance(sim):
    vc, _stage, hw = sim
    pl = P.make(P.BIPHASIC, 1000000, 700, 1000)
    p = PL.Player.for_hw(hw)
    p.start(pl, 700)
    run(vc, p, 1000000 - 1)  # 1000 whole periods, the last negative phase included
    pos, neg = p.charge_nc()
    assert pos == neg == 1000 * 700 * pl.phase_us // 1000
    p.stop()


@pytest.mark.rule("3.4")
def test_amplitude_changes_apply_at_period_start_up_and_down(sim):
    vc, stage, hw = sim
    pl = P.make(P.BIPHASIC, 10000, 800, 800)  # 100 ms period, 49975 µs phases
    p = PL.Player.for_hw(hw)
    p.start(pl, 200)
    run(vc, p, 10000)
    assert stage.source_ua() == pytest.approx(200, abs=1)
    p.set_amplitude(600)  # an increase: next period
    run(vc, p, 80000)  # t = 90 ms, still period 0 (negative phase)
    assert hw.stage.set_ua_req == 200
    run(vc, p, 12000)  # t = 102 ms: period 1 started at 100 ms
    assert hw.stage.set_ua_req == 600
    p.set_amplitude(100)  # a decrease: also at the next period, so period 1 stays balanced
    run(vc, p, 80000)  # t = 182 ms: period 1's negative phase still at 600
    assert hw.stage.set_ua_req == 600
    run(vc, p, 20000)  # t = 202 ms: period 2
    assert hw.stage.set_ua_req == 100
    pos, neg = p.charge_nc()
    assert pos == neg + 100 * pl.phase_us // 1000  # every period balanced; period 2's + half
    p.set_amplitude(5000)  # never above the plan's (capped) amplitude
    run(vc, p, 100000)
    assert hw.stage.set_ua_req == 800
    p.set_amplitude(-5)
    run(vc, p, 100000)
    assert hw.stage.level_ua == 0
    p.stop()


@pytest.mark.rule("3.4", "4.9")
def test_finish_stops_at_the_end_of_the_period(sim):
    vc, stage, hw = sim
    pl = P.make(P.BIPHASIC, 500, 300, 300)  # 0.5 Hz: 2 s periods
    p = PL.Player.for_hw(hw)
    p.start(pl, 300)
    run(vc, p, 500000)  # in the positive phase
    p.finish()
    run(vc, p, 1000000)
    assert p.playing  # the negative phase still plays
    run(vc, p, 600000)
    assert not p.playing and not hw.out_en.is_on()
    pos, neg = p.charge_nc()
    assert pos == neg > 0  # one whole, balanced period
    assert p.error == PL.ERR_NONE


def test_level_ua_zero_in_dead_time(sim):
    vc, _stage, hw = sim
    pl = P.make(P.BIPHASIC, 1000000, 400, 500, dead_us=100)  # 450 / 100 / 450 / 0? rest 0
    p = PL.Player.for_hw(hw)
    p.start(pl, 400)
    vc.sleep_us(10)
    assert p.level_ua > 0
    vc.sleep_us(pl.dur[0])  # into the dead time
    assert p.level_ua == 0
    p.stop()
    assert p.level_ua == 0


def test_stop_from_every_state(sim):
    vc, _stage, hw = sim
    p = PL.Player.for_hw(hw)
    p.stop()  # never started
    assert_off(hw)
    pl = P.make(P.BIPHASIC, 10000, 300, 500)
    for t in (0, 1, 49975, 49990, 50000, 99990, 100000, 250000):
        p.start(pl, 300)
        run(vc, p, t) if t else None
        p.stop()
        assert_off(hw)
        assert not p.playing
        n = p.segments_played
        run(vc, p, 300000)  # nothing plays afterwards
        assert_off(hw)
        assert p.segments_played == n
    p.stop()
    p.stop()  # twice: still fine
    assert_off(hw)


def test_stop_never_raises_even_when_the_dac_fails(sim):
    vc, stage, hw = sim
    p = PL.Player.for_hw(hw)
    p.start(P.make(P.BIPHASIC, 10000, 300, 500), 300)
    run(vc, p, 3000)
    stage.set_fault("i2c_error", True)
    p.stop()
    assert hw.machine.world.level(EN) == 0
    assert hw.machine.world.level(A) == 0 and hw.machine.world.level(B) == 0


@pytest.mark.rule("4.10")
def test_exception_inside_playing_leaves_output_off(sim):
    vc, stage, hw = sim
    p = PL.Player.for_hw(hw)
    p.start(P.make(P.BIPHASIC, 10000, 600, 600), 300)
    run(vc, p, 20000)
    stage.set_fault("i2c_error", True)  # the DAC stops acknowledging
    p.set_amplitude(500)  # the next period start writes the DAC: OSError inside the callback
    run(vc, p, 100000)
    assert p.error == PL.ERR_EXCEPTION and not p.playing
    w = hw.machine.world
    assert w.level(EN) == 0 and w.level(A) == 0 and w.level(B) == 0
    assert hw.stage.level_ua == 0


def test_exception_from_the_bridge(sim, monkeypatch):
    vc, _stage, hw = sim
    p = PL.Player.for_hw(hw)
    p.start(P.make(P.BIPHASIC, 10000, 600, 600), 300)
    run(vc, p, 20000)

    def boom(pol):
        raise RuntimeError("bridge")

    monkeypatch.setattr(hw.bridge, "set", boom)
    run(vc, p, 100000)
    assert p.error == PL.ERR_EXCEPTION and not p.playing
    assert hw.machine.world.level(EN) == 0 and hw.dac.code == 0


@pytest.mark.parametrize("f", [300, 10000, 1000000])
def test_deadman(sim, f):
    vc, _stage, hw = sim
    p = PL.Player.for_hw(hw)
    p.start(P.make(P.BIPHASIC, f, 300, 500), 300)
    run(vc, p, 50000)  # heartbeats: playing
    assert p.playing
    t_last = vc.now_us_abs()
    run(vc, p, 40000, beat=False)  # the loop stalls
    assert not p.playing and p.error == PL.ERR_DEADMAN and p.deadman_trips == 1
    w = hw.machine.world
    assert w.level(EN) == 0 and w.level(A) == 0 and w.level(B) == 0
    # off within 20 ms (+1 ms tick rounding) + one callback interval (2 ms)
    rec_off = t_last + 23000
    assert vc.now_us_abs() >= rec_off


def test_deadman_reaction_time(sim):
    vc, _stage, hw = sim
    rec = Recorder(vc, hw.machine.world)
    p = PL.Player.for_hw(hw)
    p.start(P.make(P.MONOPHASIC, 300, 300, 500), 300)  # a 1.67 s pulse
    p.heartbeat(clock.ticks_ms())
    t0 = vc.now_us_abs()
    run(vc, p, 100000, beat=False)
    off = [t for t, kind, ident, v in rec.events if kind == "pin" and ident == EN and v == 0]
    assert off and off[0] - t0 <= 23000


def test_start_rejects_unbuilt_plan(sim):
    _vc, _stage, hw = sim
    p = PL.Player.for_hw(hw)
    with pytest.raises(ValueError, match="^plan: "):
        p.start(P.Plan())
    with pytest.raises(ValueError, match="^kind: "):
        PL.Player(hw.stage, kind="dma", timer_factory=lambda: hw.machine.Timer(-1))


# ---- PWM strategy (rp2): configuration against the fake PWM ----


def _pwm_player(hw, phase_correct=True):
    calls = []
    p = PL.Player(
        hw.stage,
        kind="pwm",
        timer_factory=lambda: hw.machine.Timer(-1),
        pwm_factory=hw.machine.PWM,
        pol_pins=hw.pol_pins,
        pwm_phase_correct=(lambda: calls.append(1)) if phase_correct else None,
    )
    return p, calls


def test_pwm_biphasic_configuration(sim):
    vc, stage, hw = sim
    w = hw.machine.world
    p, calls = _pwm_player(hw)
    pl = P.make(P.BIPHASIC, 100000, 400, 500, phase_us=2000)  # 100 Hz, 2 ms phases
    p.start(pl, 400)
    assert p.mode == "pwm" and calls == [1]
    pa, pb = w.pwms[A], w.pwms[B]
    assert pa.freq() == pb.freq() == 200  # phase-correct halves it: 100 Hz on the legs
    duty = 2000 * 65535 // 10000
    assert pa.duty_u16() == duty and not pa._invert
    assert pb.duty_u16() == 65535 - duty and pb._invert  # same width, centred half a period on
    assert hw.stage.enabled and hw.stage.set_ua_req == 400
    run(vc, p, 50000)
    assert p.playing and p.level_ua == 400
    p.set_amplitude(100)
    assert hw.stage.set_ua_req == 100
    p.stop()
    assert_off(hw)
    assert not pa.active and not pb.active and p._pwm_a is None


def test_pwm_monophasic_flips_channels(sim):
    vc, _stage, hw = sim
    w = hw.machine.world
    p, calls = _pwm_player(hw, phase_correct=False)
    pl = P.make(P.MONOPHASIC, 50000, 300, 500, alt_ms=100)  # 50 Hz, 5 periods per polarity
    p.start(pl, 300)
    assert p.mode == "pwm"
    pa, pb = w.pwms[A], w.pwms[B]
    duty = pl.phase_us * 65535 // pl.period_us
    assert pa.freq() == 50 and pa.duty_u16() == duty and pb.duty_u16() == 0
    run(vc, p, 101000)
    assert pa.duty_u16() == 0 and pb.duty_u16() == duty and p.flips == 1
    run(vc, p, 100000)
    assert pa.duty_u16() == duty and pb.duty_u16() == 0 and p.flips == 2
    run(vc, p, 30000, beat=False)  # deadman
    assert not p.playing and p.error == PL.ERR_DEADMAN
    assert pa.duty_u16() == 0 and pb.duty_u16() == 0 and w.level(EN) == 0
    p.stop()
    assert_off(hw)


@pytest.mark.parametrize(
    "shape, f, phase_correct",
    [
        (P.BIPHASIC, 5000, True),  # 5 Hz: below the PWM's reach
        (P.BIPHASIC, 8500, True),  # 8.5 Hz: not a whole Hz
        (P.BIPHASIC, 100000, False),  # biphasic without phase-correct
    ],
)
def test_pwm_falls_back_to_timer(sim, shape, f, phase_correct):
    vc, _stage, hw = sim
    p, _calls = _pwm_player(hw, phase_correct)
    p.start(P.make(shape, f, 300, 500), 300)
    assert p.mode == "timer" and not hw.machine.world.pwms.get(A)
    run(vc, p, 10000)
    assert p.segments_played >= 1
    p.stop()
    assert_off(hw)


def test_start_with_a_failing_dac_leaves_output_off(sim):
    vc, stage, hw = sim
    p = PL.Player.for_hw(hw)
    stage.set_fault("i2c_error", True)
    with pytest.raises(OSError):
        p.start(P.make(P.BIPHASIC, 10000, 300, 500), 300)
    assert not p.playing
    w = hw.machine.world
    assert w.level(EN) == 0 and w.level(A) == 0 and w.level(B) == 0


def test_rebuilding_the_playing_plan_stops_the_output(sim):
    vc, _stage, hw = sim
    p = PL.Player.for_hw(hw)
    pl = P.make(P.BIPHASIC, 10000, 300, 500)
    p.start(pl, 300)
    run(vc, p, 10000)
    pl.ok = False  # what build() does first, as if a callback preempted it
    run(vc, p, 50000)  # 10 Hz: the next segment boundary is at 49975 µs
    assert not p.playing and p.error == PL.ERR_PLAN
    assert_off(hw)
    # the documented way: a second plan, then start()
    nxt = P.make(P.MONOPHASIC, 20000, 200, 500)
    p.start(nxt, 200)
    run(vc, p, 10000)
    assert p.playing and p.error == PL.ERR_NONE
    p.stop()


def test_set_amplitude_takes_floats_as_ints(sim):
    vc, _stage, hw = sim
    p = PL.Player.for_hw(hw)
    p.start(P.make(P.BIPHASIC, 10000, 300, 500), 0)
    p.set_amplitude(150.7)
    run(vc, p, 110000)
    assert hw.stage.set_ua_req == 150 and isinstance(hw.stage.set_ua_req, int)
    p.stop()


def test_quiet_us_counts_down_to_the_next_boundary(sim):
    vc, _stage, hw = sim
    p = PL.Player.for_hw(hw)
    assert p.quiet_us() == 0x1FFFFFFF
    pl = P.make(P.BIPHASIC, 10000, 300, 500)  # 49975 µs phases, waited in 2 ms chunks
    p.start(pl, 300)
    assert p.quiet_us() == 49975
    run(vc, p, 10000)
    assert p.quiet_us() == 39975
    run(vc, p, 39975)
    assert p.quiet_us() == 25  # the dead time
    p.stop()
    assert p.quiet_us() == 0x1FFFFFFF


def test_period_left_counts_down_to_the_period_end(sim):
    vc, stage, hw = sim
    pl = P.make(P.BIPHASIC, 500, 300, 300)  # 0.5 Hz: 2 s periods
    p = PL.Player.for_hw(hw)
    assert p.period_left_us() == 0  # stopped
    p.start(pl, 300)
    run(vc, p, 700000)
    assert p.period_left_us() == pl.period_us - 700000
    run(vc, p, 1500000)  # into the second period
    assert p.period_left_us() == 2 * pl.period_us - 2200000
    p.stop()
    assert p.period_left_us() == 0
