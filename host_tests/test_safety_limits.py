# safety/limits.py and safety/faults.py: pure cap arithmetic, bad input, session limits.
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import clock
from safety import faults, limits

# The issue asks >= 500 examples per property in CI; `make soak` (profile soak) runs more.
_CI = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"
EXAMPLES = max(500, settings.default.max_examples) if _CI else settings.default.max_examples

BOARD_AREAS = {"disk": 100, "globe": 50, "qtip": 7}  # firmware/boards/sim.py


@pytest.mark.rule("4.1", "4.2")
def test_cap_table():
    assert limits.cap_ua("home", "cheek", "disk", 1000, BOARD_AREAS) == 500
    assert limits.cap_ua("pro", "cheek", "disk", 1000, BOARD_AREAS) == 1000
    assert limits.cap_ua("pro", "eye_contour", "globe", 1000, BOARD_AREAS) == 200
    assert limits.cap_ua("pro", "eye contour", "globe", 1000, BOARD_AREAS) == 200
    # 2 mA/cm2 x 7 mm2 = 140 uA
    assert limits.cap_ua("pro", "cheek", "qtip", 1000, BOARD_AREAS) == 140
    assert limits.cap_ua("pro", "cheek", "disk", 300, BOARD_AREAS) == 300
    assert limits.cap_ua("pro", "cheek", "disk", -5, BOARD_AREAS) == 0
    assert limits.density_cap_ua("globe", BOARD_AREAS) == 1000
    assert limits.density_cap_ua("qtip") == 20 * limits.PROBE_AREA_MM2["qtip"]


@pytest.mark.rule("4.2")
def test_unknown_probe_type_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"probe: unknown type 'roller' \(known: disk, globe, qtip\)"
    ):
        limits.cap_ua("home", "cheek", "roller", 500, BOARD_AREAS)
    with pytest.raises(ValueError, match="probe: unknown type"):
        limits.cap_ua("home", "cheek", None, 500)
    with pytest.raises(ValueError, match="probe: bad contact area"):
        limits.cap_ua("home", "cheek", "disk", 500, {"disk": 0})


def test_unknown_mode_and_bad_area():
    with pytest.raises(ValueError, match="mode: unknown"):
        limits.cap_ua("turbo", "cheek", "disk")
    with pytest.raises(ValueError, match="area: not a string"):
        limits.cap_ua("home", 3, "disk")
    with pytest.raises(ValueError, match="client ceiling"):
        limits.cap_ua("home", "cheek", "disk", 2.5)


@pytest.mark.rule("4.1")
def test_program_asking_5_ma_is_rejected_or_clamped():
    with pytest.raises(ValueError, match="intensity: 5000 uA above the 500 uA cap"):
        limits.check_step_ua(5000, "home", "cheek", "disk", BOARD_AREAS)
    with pytest.raises(ValueError, match="intensity: 5000 uA above the 1000 uA cap"):
        limits.check_step_ua(5000, "pro", "cheek", "disk", BOARD_AREAS)
    with pytest.raises(ValueError, match="intensity: not an integer"):
        limits.check_step_ua("5000", "pro", "cheek", "disk", BOARD_AREAS)
    assert limits.check_step_ua(400, "home", "cheek", "disk", BOARD_AREAS) == 500
    assert limits.clamp_ua(5000, 500) == 500
    assert limits.clamp_ua(-3, 500) == 0


@pytest.mark.rule("4.1", "4.2")
@pytest.mark.safety
@settings(max_examples=EXAMPLES)
@given(
    mode=st.sampled_from(["home", "pro"]),
    area=st.sampled_from(["forehead", "brow", "eye_contour", "cheek", "jawline", "neck", "eye"]),
    probe=st.sampled_from(["disk", "globe", "qtip"]),
    client=st.integers(-100, 10000),
    a_disk=st.integers(1, 2000),
    a_globe=st.integers(1, 2000),
    a_qtip=st.integers(1, 2000),
)
def test_cap_is_the_minimum_of_every_rule(mode, area, probe, client, a_disk, a_globe, a_qtip):
    areas = {"disk": a_disk, "globe": a_globe, "qtip": a_qtip}
    cap = limits.cap_ua(mode, area, probe, client, areas)
    assert 0 <= cap <= limits.CEILING_UA
    assert cap <= (500 if mode == "home" else 1000)
    if "eye" in area:
        assert cap <= 200
    assert cap <= 20 * areas[probe]  # 2 mA/cm2 r.m.s. <= peak
    assert cap <= max(client, 0)
    expect = min(
        1000,
        500 if mode == "home" else 1000,
        200 if "eye" in area else 1000,
        20 * areas[probe],
        max(client, 0),
    )
    assert cap == expect


def test_fault_codes():
    assert len(set(faults.ALL)) == len(faults.ALL)
    for code in faults.ALL:
        assert faults.describe(code)
        assert len(code) <= 16  # fits one line of the 128 px display at 8 px per character
    assert set(faults.SIM_FAULT_CODES) == {
        "dac_stuck_high",
        "sense_open",
        "sense_stuck_high",
        "short_circuit",
        "i2c_error",
        "battery_low",
        "loop_stall",
    }
    assert faults.describe(None) == ""
    assert faults.describe("X") == "X"


@pytest.mark.rule("4.9")
def test_session_limits_across_the_tick_wrap():
    wrap = 1 << 30
    start = wrap - 1000
    assert not limits.step_over(start, clock.ticks_add(start, 59999), 60000)
    assert limits.step_over(start, clock.ticks_add(start, 60000), 60000)
    # a step can never outlast the program cap
    assert limits.step_over(start, clock.ticks_add(start, limits.PROGRAM_MAX_MS), 10**8)
    assert not limits.program_over(start, clock.ticks_add(start, 30 * 60000 - 1))
    assert limits.program_over(start, clock.ticks_add(start, 30 * 60000))
    assert not limits.idle_over(start, clock.ticks_add(start, 179999))
    assert limits.idle_over(start, clock.ticks_add(start, 180000))
    assert limits.elapsed_ms(clock.ticks_add(start, 5), start) == 0  # never negative
    limits.check_program_ms(30 * 60000)
    with pytest.raises(ValueError, match="duration"):
        limits.check_program_ms(30 * 60000 + 1)
    with pytest.raises(ValueError, match="duration"):
        limits.check_program_ms(0)
