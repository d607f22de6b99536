"""Scenario files (DESIGN section 6): load, validate, normalise.

A scenario is `{"duration_ms": N, "board": "sim", "events": [...]}`; each event has `t_ms`
and exactly one action: `press` (with optional `hold_ms`), `contact` (with `impedance_ohm` when
true), `fault` or `clear_fault`. A course scenario instead lists `sessions`, each a scenario of
its own with a `day` (days since the course started); the device's filesystem is kept between
sessions, as on a real device.

Host side only. Every problem raises ScenarioError with one line naming the field, so that the
CLI can print it and exit 2.
"""

import json

from vhw.stage import FAULTS  # the model's own list: one source of truth

BUTTONS = ("power", "mode", "plus", "minus")
BOARDS = ("sim",)
DEFAULT_HOLD_MS = 100

# Keys that describe a scenario for people; never used by the simulator.
_NOTE_KEYS = ("name", "description", "comment", "expect")
_ACTIONS = ("press", "contact", "fault", "clear_fault")
_EVENT_KEYS = ("t_ms", "hold_ms", "impedance_ohm") + _ACTIONS + _NOTE_KEYS
_TOP_KEYS = ("duration_ms", "board", "events", "program", "sessions") + _NOTE_KEYS
_SESSION_KEYS = ("day", "duration_ms", "events", "program") + _NOTE_KEYS
MAX_DURATION_MS = 4 * 3600 * 1000  # a guard against typos (one extra zero is a week of ticks)
MAX_IMPEDANCE_OHM = 100_000_000


class ScenarioError(ValueError):
    """A scenario file the simulator cannot run; str() is one line naming the problem."""


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int_field(obj, key, where, minimum=0, maximum=None, required=True, default=None):
    if key not in obj:
        if required:
            raise ScenarioError("%s: missing '%s'" % (where, key))
        return default
    v = obj[key]
    if not _is_int(v):
        raise ScenarioError("%s: '%s' must be an integer, not %s" % (where, key, json.dumps(v)))
    if v < minimum:
        raise ScenarioError("%s: '%s' must be >= %d, not %d" % (where, key, minimum, v))
    if maximum is not None and v > maximum:
        raise ScenarioError("%s: '%s' must be <= %d, not %d" % (where, key, maximum, v))
    return v


def _check_keys(obj, allowed, where):
    for k in obj:
        if k not in allowed:
            raise ScenarioError(
                "%s: unknown key '%s' (allowed: %s)" % (where, k, ", ".join(allowed))
            )


def _event(ev, where, duration_ms):
    if not isinstance(ev, dict):
        raise ScenarioError("%s: an event must be an object, not %s" % (where, json.dumps(ev)))
    _check_keys(ev, _EVENT_KEYS, where)
    t_ms = _int_field(ev, "t_ms", where, 0, duration_ms)
    actions = [a for a in _ACTIONS if a in ev]
    if not actions:
        raise ScenarioError("%s: no action (one of: %s)" % (where, ", ".join(_ACTIONS)))
    if len(actions) > 1:
        raise ScenarioError("%s: more than one action (%s)" % (where, ", ".join(actions)))
    kind = actions[0]
    out = {"t_ms": t_ms, "kind": kind}
    if kind != "press" and "hold_ms" in ev:
        raise ScenarioError("%s: 'hold_ms' belongs to a press" % where)
    if kind != "contact" and "impedance_ohm" in ev:
        raise ScenarioError("%s: 'impedance_ohm' belongs to a contact event" % where)
    v = ev[kind]
    if kind == "press":
        if v not in BUTTONS:
            raise ScenarioError(
                "%s: unknown button %s (one of: %s)" % (where, json.dumps(v), ", ".join(BUTTONS))
            )
        out["button"] = v
        out["hold_ms"] = _int_field(
            ev, "hold_ms", where, 1, 60_000, required=False, default=DEFAULT_HOLD_MS
        )
    elif kind == "contact":
        if not isinstance(v, bool):
            raise ScenarioError(
                "%s: 'contact' must be true or false, not %s" % (where, json.dumps(v))
            )
        out["contact"] = v
        if v:
            if "impedance_ohm" not in ev:
                raise ScenarioError("%s: contact true needs 'impedance_ohm'" % where)
            z = ev["impedance_ohm"]
            if not _is_number(z) or not (0 < z <= MAX_IMPEDANCE_OHM):
                raise ScenarioError(
                    "%s: 'impedance_ohm' must be a number in (0, %d], not %s"
                    % (where, MAX_IMPEDANCE_OHM, json.dumps(z))
                )
            out["impedance_ohm"] = z
        elif "impedance_ohm" in ev:
            raise ScenarioError("%s: contact false takes no 'impedance_ohm'" % where)
    else:
        if v not in FAULTS:
            raise ScenarioError(
                "%s: unknown fault %s (one of: %s)" % (where, json.dumps(v), ", ".join(FAULTS))
            )
        out["fault"] = v
    return out


def _program(obj, where):
    p = obj.get("program")
    if p is None:
        return None
    if not isinstance(p, str) or not p or len(p) > 32:
        raise ScenarioError("%s: 'program' must be a program id string" % where)
    return p


def _session(obj, where, top_board, check=True):
    if not isinstance(obj, dict):
        raise ScenarioError("%s: must be an object" % where)
    if check:
        _check_keys(obj, _SESSION_KEYS, where)
    duration = _int_field(obj, "duration_ms", where, 1, MAX_DURATION_MS)
    events = obj.get("events")
    if not isinstance(events, list):
        raise ScenarioError("%s: 'events' must be a list" % where)
    evs = [_event(e, "%s.events[%d]" % (where, i), duration) for i, e in enumerate(events)]
    # Stable: events at the same instant keep the order they were written in.
    evs.sort(key=lambda e: e["t_ms"])
    return {
        "duration_ms": duration,
        "board": top_board,
        "events": evs,
        "program": _program(obj, where),
    }


def validate(data, where="scenario"):
    """Return the normalised scenario for parsed JSON `data`, or raise ScenarioError.

    Normalised: `{"board", "program", "sessions": [{"day", "duration_ms", "events",
    "program"}]}`; a plain scenario is a course of one session on day 0. Events are sorted by
    time and carry `kind` plus its fields (`button`/`hold_ms`, `contact`/`impedance_ohm`,
    `fault`).
    """
    if not isinstance(data, dict):
        raise ScenarioError("%s: the file must hold a JSON object" % where)
    _check_keys(data, _TOP_KEYS, where)
    board = data.get("board", "sim")
    if board not in BOARDS:
        raise ScenarioError(
            "%s: board %s is not simulated (one of: %s)"
            % (where, json.dumps(board), ", ".join(BOARDS))
        )
    program = _program(data, where)
    if "sessions" in data:
        for k in ("duration_ms", "events"):
            if k in data:
                raise ScenarioError("%s: '%s' goes inside each session of a course" % (where, k))
        sessions = data["sessions"]
        if not isinstance(sessions, list) or not sessions:
            raise ScenarioError("%s: 'sessions' must be a non-empty list" % where)
        out = []
        last_day = -1
        for i, s in enumerate(sessions):
            w = "%s.sessions[%d]" % (where, i)
            sess = _session(s, w, board)
            day = _int_field(s, "day", w, 0, 3660)
            if day < last_day:
                raise ScenarioError("%s: 'day' %d is before the previous session's" % (w, day))
            last_day = day
            sess["day"] = day
            if sess["program"] is None:
                sess["program"] = program
            out.append(sess)
        return {"board": board, "program": program, "sessions": out}
    sess = _session(data, where, board, check=False)
    sess["day"] = 0
    return {"board": board, "program": program, "sessions": [sess]}


def load(path):
    """Read and validate a scenario file; ScenarioError (one line) on any problem."""
    where = "scenario %s" % path
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ScenarioError("%s: cannot read: %s" % (where, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise ScenarioError("%s: not UTF-8 text" % where) from None
    try:
        data = json.loads(text)
    except ValueError as e:
        msg = getattr(e, "msg", str(e))
        line = getattr(e, "lineno", None)
        col = getattr(e, "colno", None)
        pos = " at line %s column %s" % (line, col) if line else ""
        raise ScenarioError("%s: not valid JSON%s: %s" % (where, pos, msg)) from None
    return validate(data, where)
