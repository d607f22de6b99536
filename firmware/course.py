# Where the client is in a course of treatments (DESIGN 5; the protocol in the domain text):
#
#   start        no session yet
#   intensive    2-3 sessions a week until `target` sessions (10..15, default 12)
#   weekly       then one a week, WEEKLY_SESSIONS sessions
#   maintenance  then one a month, for as long as the client wants the results kept
#
# A session counts toward the course when it completed, or had at least MIN_ON_SKIN_S on skin
# (a session abandoned after a minute is not a treatment). "find my level" runs never count.
# Sessions closer than a day are "too close": the protocol asks for at most one a day.
#
# Time. The device knows calendar time only when its RTC was set (`mpremote rtc --set`;
# RP2040 and ESP32 keep no time across power loss): records then carry "rtc" (Unix seconds)
# and status() gets now_s. Without it the course is followed by counting sessions only:
# the phase and the sessions done are right, but "next due", "overdue" and the spacing history
# are unknown (None), and "too soon" is only detected for sessions of the same power-up,
# from the tick counter (now_ms and boot given; ticks compare correctly up to ~6 days).
#
# When the log rotated, the sessions that left it are inferred from the oldest remaining
# record's "seq" (the device's session number): they are assumed to have counted.
#
# status() reads the records once (an iterable, e.g. SessionLog.records()), keeping a few
# numbers only: a whole log never sits in RAM.

DAY_S = 86400
MIN_ON_SKIN_S = 180
WEEKLY_SESSIONS = 4
TARGET_DEFAULT = 12
TARGET_MIN = 10
TARGET_MAX = 15
TICKS_PERIOD_MS = 1 << 30
FINDLEVEL = "findlevel"

START = "start"
INTENSIVE = "intensive"
WEEKLY = "weekly"
MAINTENANCE = "maintenance"

# (earliest next session, overdue after), seconds after the last session
_SPACING = {
    START: (0, None),
    INTENSIVE: (2 * DAY_S, 4 * DAY_S),  # 2-3 a week: every 2-3 days, fewer than 2 is late
    WEEKLY: (7 * DAY_S, 10 * DAY_S),
    MAINTENANCE: (30 * DAY_S, 45 * DAY_S),
}


def counts(rec):
    """True when a session record counts as a treatment in the course."""
    if not isinstance(rec, dict) or "program" not in rec or rec.get("program") == FINDLEVEL:
        return False
    if rec.get("completed") is True:
        return True
    s = rec.get("on_skin_s")
    return isinstance(s, int) and s >= MIN_ON_SKIN_S


def clamp_target(target):
    if not isinstance(target, int) or isinstance(target, bool):
        return TARGET_DEFAULT
    if target < TARGET_MIN:
        return TARGET_MIN
    if target > TARGET_MAX:
        return TARGET_MAX
    return target


def phase_of(n, target=TARGET_DEFAULT):
    """(phase, sessions done in this phase, sessions in this phase or None) after n sessions."""
    target = clamp_target(target)
    if n <= 0:
        return START, 0, target
    if n < target:
        return INTENSIVE, n, target
    if n < target + WEEKLY_SESSIONS:
        return WEEKLY, n - target, WEEKLY_SESSIONS
    return MAINTENANCE, n - target - WEEKLY_SESSIONS, None


def _ticks_diff(a, b):
    d = (a - b) & (TICKS_PERIOD_MS - 1)
    if d >= TICKS_PERIOD_MS >> 1:
        d -= TICKS_PERIOD_MS
    return d


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def status(records, now_s=None, now_ms=None, boot=None, target=TARGET_DEFAULT):
    """Where the client is. Returns a dict:
    phase, sessions (done, counting), target, in_phase, phase_len, last_s, next_due_s,
    due_in_s (negative = late), overdue, too_soon (the next session would be a second one
    within a day), close_pairs (past sessions closer than a day), timed (calendar time known),
    line (<= 16 characters for the OLED)."""
    target = clamp_target(target)
    n = 0
    first_seq = None
    last_s = None
    last_ms = None
    last_boot = None
    close = 0
    for r in records:
        if not isinstance(r, dict) or "program" not in r:
            continue
        if first_seq is None:
            first_seq = _int(r.get("seq"))
        if not counts(r):
            continue
        n += 1
        t = _int(r.get("rtc"))
        if t is not None and last_s is not None and 0 <= t - last_s < DAY_S:
            close += 1
        last_s = t
        last_ms = _int(r.get("t_ms"))
        last_boot = _int(r.get("boot"))
    if first_seq is not None and first_seq > 1:
        n += first_seq - 1  # sessions rotated out of the log (assumed to have counted)

    phase, in_phase, phase_len = phase_of(n, target)
    now_s = _int(now_s)
    timed = now_s is not None and last_s is not None
    next_due = None
    due_in = None
    overdue = False
    too_soon = False
    if n > 0:
        if last_s is not None:
            gap, late = _SPACING[phase]
            next_due = last_s + gap
            if now_s is not None:
                due_in = next_due - now_s
                overdue = late is not None and now_s - last_s > late
                too_soon = 0 <= now_s - last_s < DAY_S
        if not timed and boot is not None and last_boot == boot:
            now_ms = _int(now_ms)
            if now_ms is not None and last_ms is not None:
                d = _ticks_diff(now_ms, last_ms)
                too_soon = 0 <= d < DAY_S * 1000
    return {
        "phase": phase,
        "sessions": n,
        "target": target,
        "in_phase": in_phase,
        "phase_len": phase_len,
        "last_s": last_s,
        "next_due_s": next_due,
        "due_in_s": due_in,
        "overdue": overdue,
        "too_soon": too_soon,
        "close_pairs": close,
        "timed": timed,
        "line": line(phase, n, target, in_phase, phase_len, too_soon, overdue),
    }


def line(phase, n, target, in_phase, phase_len, too_soon=False, overdue=False):
    """The OLED line (<= 16 characters)."""
    if too_soon:
        return "1 a day: rest"
    if phase == START:
        return "course: start"
    if phase == INTENSIVE:
        s = "%d/%d 2-3 a wk" % (n, target)
    elif phase == WEEKLY:
        s = "weekly %d/%d" % (in_phase, phase_len)
    else:
        s = "monthly (%d)" % n
    if overdue:
        s = s.split(" ")[0] + " overdue"
    return s[:16]
