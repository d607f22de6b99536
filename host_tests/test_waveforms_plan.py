"""Pulse plans (waveforms/plan.py): properties over the whole parameter space (DESIGN 3 and 4.1).

- every level is within 0..cap handed in (and the 1000 µA ceiling); the clamp is reported;
- biphasic (and wave) plans: net charge per period == 0 exactly (integer µA·µs);
- monophasic plans: over every 20 s window the net charge is within 5 % of the total, checked
  exactly on the plan's timeline by an independent sliding-window reference (all window starts
  where the ratio can peak), and the polarity alternates at least every 10 s;
- segment durations sum to period_us, within 1 µs of 1/f;
- every polarity change (inside the period, at the wrap, at the monophasic flip) passes through
  an OPEN segment of at least dead_us;
- bad parameters raise ValueError("field: ...").
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from waveforms import plan as P

pytestmark = pytest.mark.safety

W = P.WINDOW_US

shapes = st.sampled_from([P.BIPHASIC, P.MONOPHASIC, P.WAVE])
freqs = st.one_of(
    st.integers(P.FREQ_MIN_MHZ, P.FREQ_MAX_MHZ),
    st.sampled_from([300, 301, 999, 1000, 7999, 8000, 100000, 999999, 1000000]),
)
amps = st.integers(0, 1000)
deads = st.integers(P.DEAD_MIN_US, P.DEAD_MAX_US)


def _build(shape, f, amp, cap, phase=None, dead=P.DEAD_US, alt=P.ALT_MAX_MS):
    try:
        return P.make(shape, f, amp, cap, phase_us=phase, dead_us=dead, alt_ms=alt)
    except ValueError as e:
        # only the combinations that cannot exist may fail, and they say which field
        msg = str(e)
        assert msg.startswith(("phase_us:", "freq_mhz: monophasic")), msg
        if msg.startswith("freq_mhz"):
            assert shape == P.MONOPHASIC and f < 1000  # always feasible from 1 Hz up
        return None


def check_dead_times(pl):
    """Cyclic walk: between two conducting segments of different polarity there is an OPEN
    segment >= dead_us; for monophasic plans the flip happens at the period wrap, so the
    period must end with such a gap and start with the pulse."""
    segs = [(pl.pol[i], pl.dur[i]) for i in range(pl.n)]
    if pl.shape == P.MONOPHASIC:
        assert segs[-1][0] == P.OPEN and segs[-1][1] >= pl.dead_us
    twice = segs + segs
    last = None  # polarity of the last conducting segment
    gap = 0
    for pol, dur in twice:
        if pol == P.OPEN:
            gap += dur
            continue
        if last is not None and pol != last:
            assert gap >= pl.dead_us, (segs, gap)
        if last is not None and pl.shape == P.MONOPHASIC:
            assert gap >= pl.dead_us  # the flip may come at any wrap
        last = pol
        gap = 0


def check_common(pl, amp, cap):
    assert pl.ok
    for i in range(pl.n):
        assert 0 <= pl.level[i] <= cap
        assert pl.level[i] <= 1000
        assert pl.dur[i] > 0
        if pl.pol[i] == P.OPEN:
            assert pl.level[i] == 0
    assert pl.amp_ua == min(amp, cap)
    assert pl.clamped == (amp > cap)
    assert sum(pl.dur[i] for i in range(pl.n)) == pl.period_us
    # the period is 1/f within 1 µs (truncated; the remainder is carried by the player)
    assert pl.period_us * pl.freq_mhz <= 10**9 < (pl.period_us + 1) * pl.freq_mhz
    assert pl.period_rem == 10**9 - pl.period_us * pl.freq_mhz
    check_dead_times(pl)


def window_imbalance(pl):
    """Worst |net| / total over all 20 s windows of a monophasic plan's steady state, as a
    (net, total) pair, exactly (integers, on-time units: the level is constant)."""
    p, a, n = pl.period_us, pl.phase_us, pl.alt_periods
    cyc = 2 * n * p

    def qt(t):  # cumulative on-time
        k, ph = np.divmod(t, p)
        return k * a + np.minimum(ph, a)

    def qn(t):  # cumulative signed on-time (+ for the first n periods of each cycle)
        t = np.mod(t, cyc)
        k, ph = np.divmod(t, p)
        on = np.minimum(ph, a)
        return np.where(k < n, k * a + on, n * a - (k - n) * a - on)

    k = np.arange(2 * n, dtype=np.int64)
    bounds = np.concatenate([k * p, k * p + a])
    starts = np.unique(np.mod(np.concatenate([bounds, bounds - W]), cyc))
    net = np.abs(qn(starts + W) - qn(starts))
    tot = qt(starts + W) - qt(starts)
    # the ratio net/tot is monotonic between breakpoints: its maximum is at one of them
    j = int(np.argmax(net * 10**6 // np.maximum(tot, 1)))
    return int(net[j]), int(tot[j])


@pytest.mark.rule("3.1", "3.4")
@given(shapes, freqs, amps, amps, deads)
@example(P.BIPHASIC, 1000000, 1000, 1000, 20)
@example(P.BIPHASIC, 300, 0, 0, 100)
@example(P.MONOPHASIC, 300, 1000, 200, 25)
def test_default_plans(shape, f, amp, cap, dead):
    pl = _build(shape, f, amp, cap, dead=dead)
    if pl is None:
        return
    check_common(pl, amp, cap)
    if shape != P.MONOPHASIC:
        assert pl.charge_period() == 0
        assert pl.n == 4 and pl.dur[0] == pl.dur[2] and pl.level[0] == pl.level[2]


@pytest.mark.rule("3.4")
@given(st.sampled_from([P.BIPHASIC, P.WAVE]), freqs, amps, amps, deads, st.data())
def test_biphasic_any_phase_balances(shape, f, amp, cap, dead, data):
    period = 10**9 // f
    phase = data.draw(st.integers(1, max(1, (period - 2 * dead) // 2 + 3)))
    pl = _build(shape, f, amp, cap, phase=phase, dead=dead)
    if pl is None:
        assert 2 * phase + 2 * dead > period
        return
    check_common(pl, amp, cap)
    assert pl.charge_period() == 0
    assert pl.charge_seg(0) == -pl.charge_seg(2) == pl.amp_ua * phase
    assert pl.charge_abs_period() == 2 * pl.amp_ua * phase


@pytest.mark.rule("3.4")
@given(freqs, amps, amps, deads, st.integers(1, P.ALT_MAX_MS), st.data())
@example(1000000, 500, 500, 25, 10000, None)  # N = 10000: the largest table the check walks
@example(300, 500, 500, 25, 10000, None)
def test_monophasic_window_balance(f, amp, cap, dead, alt, data):
    period = 10**9 // f
    if data is None:
        phase = None
    else:
        phase = data.draw(st.one_of(st.none(), st.integers(1, period - dead + 2)))
    pl = _build(P.MONOPHASIC, f, amp, cap, phase=phase, dead=dead, alt=alt)
    if pl is None:
        return
    check_common(pl, amp, cap)
    assert pl.alt_periods >= 1
    # alternates at least every 10 s, and no later than asked (unless one period is longer)
    assert pl.alt_periods * pl.period_us <= max(alt * 1000, pl.period_us) <= 10**7
    net, tot = window_imbalance(pl)
    assert tot > 0
    assert 20 * net <= tot, (net, tot, pl.to_tuple())


@given(st.integers(1000, P.FREQ_MAX_MHZ), deads, st.integers(1, P.ALT_MAX_MS))
def test_monophasic_always_feasible_from_1hz(f, dead, alt):
    pl = P.make(P.MONOPHASIC, f, 100, 100, dead_us=dead, alt_ms=alt)
    assert pl.alt_periods >= 1


def test_monophasic_low_frequency_infeasible_is_explicit():
    # 0.45 Hz: 9 pulses per 20 s; an odd count of whole pulses can never balance within 5 %
    with pytest.raises(ValueError, match="^freq_mhz:"):
        P.make(P.MONOPHASIC, 450, 100, 100)
    # 0.3 Hz and 0.5 Hz: 6 and 10 pulses per 20 s: fine
    assert P.make(P.MONOPHASIC, 300, 100, 100).alt_periods == 3
    assert P.make(P.MONOPHASIC, 500, 100, 100).alt_periods == 5
    assert P.make(P.MONOPHASIC, 1000000, 100, 100).alt_periods == 10000


@pytest.mark.rule("3.2")
@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(freq_mhz=299), "freq_mhz"),
        (dict(freq_mhz=1000001), "freq_mhz"),
        (dict(freq_mhz=0), "freq_mhz"),
        (dict(freq_mhz=float("nan")), "freq_mhz"),
        (dict(freq_mhz=float("inf")), "freq_mhz"),
        (dict(freq_mhz="1000"), "freq_mhz"),
        (dict(amp_ua=-1), "amp_ua"),
        (dict(amp_ua=1001), "amp_ua"),
        (dict(amp_ua=float("nan")), "amp_ua"),
        (dict(amp_ua=None), "amp_ua"),
        (dict(amp_ua=True), "amp_ua"),
        (dict(cap_ua=-1), "cap_ua"),
        (dict(cap_ua=1001), "cap_ua"),
        (dict(cap_ua=float("nan")), "cap_ua"),
        (dict(phase_us=0), "phase_us"),
        (dict(phase_us=-5), "phase_us"),
        (dict(phase_us=float("nan")), "phase_us"),
        (dict(phase_us=476, freq_mhz=1000000), "phase_us"),
        (dict(dead_us=19), "dead_us"),
        (dict(dead_us=101), "dead_us"),
        (dict(shape=7), "shape"),
        (dict(shape=P.MONOPHASIC, alt_ms=0), "alt_ms"),
        (dict(shape=P.MONOPHASIC, alt_ms=10001), "alt_ms"),
        (dict(shape=P.MONOPHASIC, phase_us=999976, freq_mhz=1000), "phase_us"),
    ],
)
def test_bad_parameters_raise_naming_the_field(kw, field):
    args = dict(shape=P.BIPHASIC, freq_mhz=10000, amp_ua=100, cap_ua=500)
    args.update(kw)
    pl = P.Plan()
    with pytest.raises(ValueError, match="^" + field + ": "):
        P.build(
            pl,
            args.pop("shape"),
            args.pop("freq_mhz"),
            args.pop("amp_ua"),
            args.pop("cap_ua"),
            **args,
        )
    assert not pl.ok


def test_edges_of_the_phase_range():
    pl = P.make(P.BIPHASIC, 1000000, 100, 100, phase_us=475)  # 475+25+475+25 = 1000
    assert list(pl.dur) == [475, 25, 475, 25]
    mono = P.make(P.MONOPHASIC, 1000000, 100, 100, phase_us=975)
    assert list(mono.dur)[:2] == [975, 25]


def test_integral_floats_are_accepted_and_clamp_is_reported():
    pl = P.make(P.BIPHASIC, 1000.0, 600.0, 500)
    assert pl.freq_mhz == 1000 and pl.amp_ua == 500 and pl.requested_ua == 600 and pl.clamped
    assert not P.make(P.BIPHASIC, 1000, 500, 500).clamped


def test_rebuild_reuses_the_table():
    pl = P.Plan()
    level, pol, dur = pl.level, pl.pol, pl.dur
    P.build(pl, P.BIPHASIC, 1000000, 100, 100)
    P.build(pl, P.MONOPHASIC, 300, 50, 100)
    assert pl.level is level and pl.pol is pol and pl.dur is dur
    assert pl.n == 2 and pl.dur[2] == 0 and pl.dur[3] == 0
    with pytest.raises(ValueError):
        P.build(pl, P.BIPHASIC, 1, 100, 100)
    assert not pl.ok


@pytest.mark.rule("3.5")
def test_frequency_error_of_the_table_is_below_1us_per_period():
    for f in (300, 333, 777, 1000, 7000, 12345, 999999, 1000000):
        pl = P.make(P.BIPHASIC, f, 100, 100)
        assert abs(pl.period_us - 1e9 / f) < 1.0
        assert math.isclose(pl.period_us + pl.period_rem / f, 1e9 / f, rel_tol=1e-12)


def test_window_reference_catches_a_bad_alternation():
    # the reference must see the imbalance of alternation intervals that do not divide 20 s
    pl = P.make(P.MONOPHASIC, 1000000, 100, 100)  # 1000 Hz, 10 s per polarity: balanced
    assert window_imbalance(pl)[0] == 0
    pl.alt_periods = 7000  # 7 s per polarity: a 20 s window holds 13 s of one, 7 s of the other
    net, tot = window_imbalance(pl)
    assert 20 * net > tot and abs(net / tot - 0.3) < 0.01
    pl = P.make(P.MONOPHASIC, 500, 100, 100)  # 0.5 Hz, 5 periods per polarity
    pl.period_us = 2222222  # pretend 0.45 Hz: 9 pulses per 20 s
    pl.dur[0], pl.dur[1] = 1111111, 1111111
    pl.phase_us = 1111111
    for n in (1, 2, 3, 4):
        pl.alt_periods = n
        net, tot = window_imbalance(pl)
        assert 20 * net > tot


@pytest.mark.rule("3.3")
def test_build_step_from_program_json():
    pl = P.Plan()
    step = {"shape": "biphasic", "freq_hz": 0.5, "intensity_ua": [50, 300]}
    P.build_step(pl, step, 200)
    assert pl.freq_mhz == 500 and pl.amp_ua == 200 and pl.clamped and pl.requested_ua == 300
    P.build_step(
        pl,
        {
            "shape": "monophasic",
            "freq_mhz": 100000,
            "intensity_ua": [10, 100],
            "alt_s": 2,
            "phase_us": 1000,
        },
        500,
    )
    assert pl.shape == P.MONOPHASIC and pl.alt_periods == 200 and pl.phase_us == 1000
    P.build_step(pl, {"shape": "wave", "freq_hz": 8, "intensity_ua": [10, 100]}, 500)
    assert pl.shape == P.WAVE and pl.freq_mhz == 8000
    for bad, field in [
        ({"shape": "square", "freq_hz": 1, "intensity_ua": [1, 2]}, "shape"),
        ({"shape": "wave", "intensity_ua": [1, 2]}, "freq_hz"),
        ({"shape": "wave", "freq_hz": float("nan"), "intensity_ua": [1, 2]}, "freq_hz"),
        ({"shape": "wave", "freq_hz": 1500, "intensity_ua": [1, 2]}, "freq_hz"),
        ({"shape": "wave", "freq_hz": "1", "intensity_ua": [1, 2]}, "freq_hz"),
        ({"shape": "wave", "freq_hz": 1, "intensity_ua": 5}, "intensity_ua"),
        ({"shape": "wave", "freq_hz": 1, "intensity_ua": [1, 2000]}, "amp_ua"),
        ({"shape": "wave", "freq_hz": 1, "intensity_ua": [1, 2], "phase_us": 0}, "phase_us"),
    ]:
        with pytest.raises(ValueError, match="^" + field + ": "):
            P.build_step(pl, bad, 500)
        assert not pl.ok


def test_neg_first_mirrors_the_plan():
    from waveforms import plan as _p

    step = {"shape": "biphasic", "freq_hz": 10, "intensity_ua": [50, 300]}
    a = _p.build_step(_p.Plan(), step, 300)
    b = _p.build_step(_p.Plan(), dict(step, polarity="neg_first"), 300)
    swap = {_p.POS: _p.NEG, _p.NEG: _p.POS, _p.OPEN: _p.OPEN}
    assert [swap[a.pol[i]] for i in range(a.n)] == [b.pol[i] for i in range(b.n)]
    assert list(a.level) == list(b.level) and list(a.dur) == list(b.dur)
    assert b.charge_period() == 0
    import pytest

    with pytest.raises(ValueError, match="polarity"):
        _p.build_step(_p.Plan(), dict(step, polarity="sideways"), 300)
