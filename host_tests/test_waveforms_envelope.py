"""The ramped "wave" envelope (waveforms/envelope.py): integer permille, bounded, continuous."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waveforms.envelope import Envelope

ms = st.integers(1, 20000)
envs = st.builds(
    Envelope,
    rise_ms=ms,
    hold_ms=st.integers(0, 20000),
    fall_ms=ms,
    rest_ms=st.integers(0, 20000),
    floor_pm=st.integers(0, 1000),
)


@given(envs, st.integers(0, 30 * 60 * 1000), st.integers(0, 1000))
def test_bounded(env, t, amp):
    pm = env.permille(t)
    assert env.floor_pm <= pm <= 1000
    assert 0 <= env.level_ua(t, amp) <= amp
    assert env.permille(t) == env.permille(t + env.cycle_ms)  # periodic


@given(envs, st.integers(0, 100000), st.integers(0, 1000))
def test_slope_never_steeper_than_reported(env, t, amp):
    # one ms apart the level moves by at most the reported slope, plus two µA of rounding (the
    # permille and the µA are both rounded down)
    d = abs(env.level_ua(t + 1, amp) - env.level_ua(t, amp))
    assert d <= env.max_slope_ua_s(amp) // 1000 + 2


def test_shape():
    env = Envelope(rise_ms=1000, hold_ms=500, fall_ms=2000, rest_ms=500, floor_pm=100)
    assert env.cycle_ms == 4000
    assert env.permille(0) == 100
    assert env.permille(500) == 550
    assert env.permille(1000) == 1000 and env.permille(1499) == 1000
    assert env.permille(2500) == 550
    assert env.permille(3500) == 100 and env.permille(3999) == 100
    assert env.level_ua(1200, 400) == 400
    assert env.max_slope_ua_s(400) == 360  # 360 µA over the 1 s rise


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(rise_ms=0), "rise_ms"),
        (dict(fall_ms=0), "fall_ms"),
        (dict(hold_ms=-1), "hold_ms"),
        (dict(rest_ms=600001), "rest_ms"),
        (dict(rise_ms=1.5), "rise_ms"),
        (dict(floor_pm=1001), "floor_pm"),
        (dict(floor_pm=-1), "floor_pm"),
        (dict(floor_pm=float("nan")), "floor_pm"),
    ],
)
def test_bad_parameters(kw, field):
    args = dict(rise_ms=1000, hold_ms=0, fall_ms=1000)
    args.update(kw)
    with pytest.raises(ValueError, match="^" + field + ": "):
        Envelope(**args)


def test_from_step():
    from waveforms.envelope import from_step

    assert from_step({"shape": "biphasic"}) is None
    env = from_step({"shape": "wave"})
    assert env.cycle_ms == 5000 and env.floor_pm == 200
    env = from_step({"shape": "wave", "envelope": {"rise_ms": 500, "fall_ms": 700}})
    assert env.rise_ms == 500 and env.fall_ms == 700
    with pytest.raises(ValueError, match="^rise_ms: "):
        from_step({"shape": "wave", "envelope": {"rise_ms": 0}})
    with pytest.raises(ValueError, match="^envelope: "):
        from_step({"shape": "wave", "envelope": [1]})
