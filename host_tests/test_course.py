"""firmware/course.py: intensive (2-3 a week until 10-15 sessions), weekly, then monthly
maintenance; next due; sessions too close together; RTC-less counting."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware import course as C
from firmware import sessionlog as S

DAY = 86400
T0 = 1767225600  # 2026-01-01 00:00 UTC


def sess(rtc: int | None = None, completed: bool = True, **kw: object) -> dict:
    r = {"program": "lift", "t_ms": 0, "rtc": rtc, "on_skin_s": 480, "completed": completed}
    r.update(kw)
    return r


def course_of(days: list[float], **kw: object) -> list[dict]:
    return [sess(T0 + int(d * DAY), **kw) for d in days]


def test_no_session_yet() -> None:
    s = C.status([], now_s=T0)
    assert s["phase"] == "start" and s["sessions"] == 0
    assert not s["too_soon"] and not s["overdue"] and s["next_due_s"] is None
    assert s["line"] == "course: start"


@pytest.mark.parametrize(
    ("n", "phase", "in_phase", "length"),
    [
        (0, "start", 0, 12),
        (1, "intensive", 1, 12),
        (11, "intensive", 11, 12),
        (12, "weekly", 0, 4),
        (15, "weekly", 3, 4),
        (16, "maintenance", 0, None),
        (40, "maintenance", 24, None),
    ],
)
def test_phases(n: int, phase: str, in_phase: int, length: int | None) -> None:
    assert C.phase_of(n) == (phase, in_phase, length)


def test_course_length_is_10_to_15() -> None:
    assert C.phase_of(10, 10)[0] == "weekly"
    assert C.phase_of(14, 15)[0] == "intensive"
    assert C.phase_of(10, 3) == C.phase_of(10, 10)  # clamped to 10..15
    assert C.phase_of(15, 99) == C.phase_of(15, 15)
    assert C.clamp_target(True) == 12


def test_intensive_phase_next_due_and_overdue() -> None:
    recs = course_of([0, 2, 4, 7, 9])  # 2-3 a week
    s = C.status(recs, now_s=T0 + 10 * DAY)
    assert s["phase"] == "intensive" and s["sessions"] == 5 and s["timed"]
    assert s["next_due_s"] == T0 + 11 * DAY and s["due_in_s"] == DAY
    assert not s["overdue"] and not s["too_soon"] and s["close_pairs"] == 0
    assert s["line"] == "5/12 2-3 a wk"
    late = C.status(recs, now_s=T0 + 14 * DAY)
    assert late["overdue"] and late["due_in_s"] < 0 and late["line"] == "5/12 overdue"


def test_weekly_then_monthly_spacing() -> None:
    days = [i * 2.5 for i in range(12)] + [30 + 7 * i for i in range(4)]
    s = C.status(course_of(days[:13]), now_s=T0 + int(days[12] * DAY) + DAY)
    assert s["phase"] == "weekly" and s["next_due_s"] == T0 + int(days[12] * DAY) + 7 * DAY
    m = C.status(course_of(days), now_s=T0 + int(days[-1] * DAY) + 3 * DAY)
    assert m["phase"] == "maintenance" and m["sessions"] == 16
    assert m["next_due_s"] == T0 + int(days[-1] * DAY) + 30 * DAY
    assert m["line"] == "monthly (16)"
    assert C.status(course_of(days), now_s=T0 + int(days[-1] * DAY) + 50 * DAY)["overdue"]


def test_too_close_sessions_warn() -> None:
    recs = course_of([0, 2, 2.3, 5])  # two on day 2
    s = C.status(recs, now_s=T0 + 5 * DAY + 3600)
    assert s["close_pairs"] == 1
    assert s["too_soon"] and s["line"] == "1 a day: rest"
    assert not C.status(recs, now_s=T0 + 6 * DAY + 60)["too_soon"]


def test_only_treatments_count() -> None:
    recs = [
        sess(T0, completed=True),
        sess(T0 + DAY * 2, completed=False, on_skin_s=60),  # abandoned after a minute
        sess(T0 + DAY * 3, completed=False, on_skin_s=200),  # most of one: counts
        sess(T0 + DAY * 4, program="findlevel"),
        {"error": "fault DAC", "t_ms": 5},
    ]
    s = C.status(recs, now_s=T0 + DAY * 5)
    assert s["sessions"] == 2 and s["last_s"] == T0 + DAY * 3


def test_without_rtc_sessions_are_counted() -> None:
    recs = [sess(None, t_ms=1000 * i, boot=i) for i in range(1, 13)]
    s = C.status(recs)
    assert s["phase"] == "weekly" and s["sessions"] == 12
    assert not s["timed"] and s["next_due_s"] is None and s["due_in_s"] is None
    assert not s["too_soon"] and not s["overdue"]


def test_without_rtc_same_power_up_uses_ticks() -> None:
    recs = [sess(None, t_ms=1_000, boot=3)]
    assert C.status(recs, now_ms=3_600_000, boot=3)["too_soon"]
    assert not C.status(recs, now_ms=3_600_000, boot=4)["too_soon"]  # another power-up
    assert not C.status(recs, now_ms=1_000 + DAY * 1000 + 1, boot=3)["too_soon"]
    wrapped = [sess(None, t_ms=(1 << 30) - 1000, boot=3)]  # ticks wrap at 2**30
    assert C.status(wrapped, now_ms=5000, boot=3)["too_soon"]


def test_rotated_sessions_are_inferred_from_seq() -> None:
    recs = [sess(T0 + i * DAY * 7, seq=20 + i) for i in range(3)]
    s = C.status(recs, now_s=T0 + 30 * DAY)
    assert s["sessions"] == 22 and s["phase"] == "maintenance"


def test_reads_the_log_once_from_a_generator(tmp_path: Path) -> None:
    log = S.SessionLog(str(tmp_path))
    for d in (0, 2, 4):
        log.append(sess(T0 + d * DAY))
    log.error("fault X")
    s = C.status(log.records(), now_s=T0 + 4 * DAY + 100)
    assert s["sessions"] == 3 and s["too_soon"]


@given(
    st.lists(st.integers(0, 40 * DAY), max_size=25),
    st.integers(0, 60 * DAY),
    st.integers(10, 15),
)
def test_status_is_consistent(offsets: list[int], now: int, target: int) -> None:
    offsets = sorted(offsets)
    recs = [sess(T0 + o) for o in offsets]
    s = C.status(iter(recs), now_s=T0 + now, target=target)
    assert s["sessions"] == len(offsets)
    assert s["phase"] == C.phase_of(len(offsets), target)[0]
    assert 0 < len(s["line"]) <= 16
    close = sum(1 for a, b in zip(offsets, offsets[1:]) if b - a < DAY)
    assert s["close_pairs"] == close
    if offsets:
        gap = now - offsets[-1]
        assert s["too_soon"] == (0 <= gap < DAY)
        assert s["next_due_s"] is not None and s["next_due_s"] >= T0 + offsets[-1]
