# Facial programs: a JSON file checked against every rule before it may run (DESIGN sections
# 4 and 5). The rules for one step are in firmware/stepcheck.py; this module checks the program
# around them: the keys, the id, the twins, the total time, then the monophasic balance.
#
# File format (version 1; also in firmware/presets/README.md)
#   {"format": 1, "id": "lift", "name": "Lift", "purpose": "...", "probe": "disk",
#    "steps": [STEP, ...]}               (STEP: firmware/stepcheck.py)
#   id        = the file name without .json; 1-16 of a-z 0-9 _
#   name      1-16 characters (the OLED line); purpose: 1-120 characters
#   probe     disk | globe | qtip (the program's probe; a step may override it)
#
# Rules (a broken rule rejects the whole file; other programs stay usable). Every message reads
#   "<file>: step <n> (<area> <side>): rule <tag>: <detail>"   or   "<file>: rule <tag>: <detail>"
# with the tags json, type, key, missing, format, id, name, purpose, probe, steps, area, side,
# movement, strokes, stroke_s, freq, period, shape, polarity, wave, intensity, rising, eye_probe,
# eye_cap, density, waveform, balance, twin, total.
#   - the step rules, the caps (safety.limits, read at check time) and balance: stepcheck.py.
#   - twin: every left step has an identical right step (all fields but side) and vice versa.
#   - total: the sum of strokes x stroke_s is 60 s .. limits.PROGRAM_MAX_MS (30 min, DESIGN
#     4.9).
#   - balance is checked after total, so a hostile file costs at most 30 min of steps to check.
#
# Hostile text: a text over MAX_BYTES is not parsed (rule json); a parse that runs out of memory
# or recursion (a deeply nested file: MemoryError/RuntimeError on a board, RecursionError on
# CPython) is a json error; no message quotes more than a few characters of the file.
import gc
import json

from micropython import const

from firmware import fileio as _fio
from firmware import stepcheck as _step
from safety import limits as _limits

_FORMAT = const(1)
_TOTAL_MIN_S = const(60)
_STEPS_MAX = const(64)
_NAME_MAX = const(16)
_PURPOSE_MAX = const(120)
_ID_MAX = const(16)
MAX_BYTES = const(16384)  # a program file's size limit: 64 steps of ~250 bytes

_PROGRAM_KEYS = ("format", "id", "name", "purpose", "probe", "steps")
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _signature(step, probe):
    # everything but the side; the effective probe (override or the program's)
    items = []
    for k in sorted(step):
        if k == "side" or k == "probe":
            continue
        v = step[k]
        if isinstance(v, list):
            v = tuple(v)
        items.append((k, v))
    items.append(("probe", probe))
    return tuple(items)


def validate(prog, fname="<program>", areas=None, expect_id=None, balance=True):
    """Check a parsed program against every rule; raise ValueError naming file, step and rule.
    Returns the total duration in ms. balance=False skips the (slow) rule balance: only for a
    text already validated whole (Library.load of an unchanged file)."""
    c = _step.Checker(fname)
    c.need(isinstance(prog, dict), "type", "a program must be a JSON object")
    _step.check_keys(c, prog, _PROGRAM_KEYS, ())
    c.need(
        prog["format"] == _FORMAT and _step.is_int(prog["format"]), "format", "format must be 1"
    )
    pid = prog["id"]
    c.need(isinstance(pid, str), "type", "id must be a string")
    c.need(1 <= len(pid) <= _ID_MAX, "id", "id %s must be 1..16 characters" % _fio.quote(pid))
    for ch in pid:
        c.need(ch in _ID_CHARS, "id", "id %s: only a-z, 0-9 and _" % _fio.quote(pid))
    if expect_id is not None:
        c.need(pid == expect_id, "id", "id %s does not match the file name" % _fio.quote(pid))
    name = prog["name"]
    c.need(isinstance(name, str), "type", "name must be a string")
    c.need(1 <= len(name) <= _NAME_MAX, "name", "name must be 1..16 characters")
    pur = prog["purpose"]
    c.need(isinstance(pur, str), "type", "purpose must be a string")
    c.need(1 <= len(pur) <= _PURPOSE_MAX, "purpose", "purpose must be 1..120 characters")
    probe = prog["probe"]
    c.need(isinstance(probe, str), "type", "probe must be a string")
    c.need(probe in _limits.PROBES, "probe", "%s is not disk, globe or qtip" % _fio.quote(probe))
    steps = prog["steps"]
    c.need(isinstance(steps, list), "type", "steps must be a list")
    c.need(1 <= len(steps) <= _STEPS_MAX, "steps", "a program has 1..%d steps" % _STEPS_MAX)

    sigs = {}  # signature -> [left count, right count, first step index]
    total = 0
    mono = []  # (step index, where, plan figures): balance is checked after total
    for i in range(len(steps)):
        st = steps[i]
        c.where = "step %d: " % (i + 1)
        eff, m = _step.check_step(c, st, probe, areas)
        if m is not None:
            mono.append((i, c.where, m))
        total += _step.step_ms(st)
        side = st["side"]
        if side != "centre":
            sig = _signature(st, eff)
            e = sigs.get(sig)
            if e is None:
                e = sigs[sig] = [0, 0, i]
            e[0 if side == "left" else 1] += 1
    c.where = ""
    bad = None  # the unmatched step that comes first (dict order differs between runtimes)
    for sig in sigs:
        e = sigs[sig]
        if e[0] != e[1] and (bad is None or e[2] < bad[2]):
            bad = e
    if bad is not None:
        st = steps[bad[2]]
        has, lacks = ("left", "right") if bad[0] > bad[1] else ("right", "left")
        c.where = "step %d (%s %s): " % (bad[2] + 1, st["area"], st["side"])
        c.fail(
            "twin",
            "%d left and %d right steps like this one: every %s step needs an identical "
            "%s twin" % (bad[0], bad[1], has, lacks),
        )
    max_ms = _limits.PROGRAM_MAX_MS  # DESIGN 4.9, stated once in safety.limits
    c.need(
        _TOTAL_MIN_S * 1000 <= total <= max_ms,
        "total",
        "%d s in total, outside %d..%d s (%d min)"
        % (total // 1000, _TOTAL_MIN_S, max_ms // 1000, max_ms // 60000),
    )
    if balance:
        for i, where, m in mono:
            c.where = where
            _step.check_balance(c, steps[i], m)
    c.where = ""
    return total


def _finish(prog, total):
    # derived, integer fields the app and the engine use (added after validation)
    prog["duration_ms"] = total
    for st in prog["steps"]:
        if "probe" not in st:
            st["probe"] = prog["probe"]
        st["freq_mhz"] = _step.freq_mhz(st["freq_hz"])
        st["stroke_ms"] = _step.stroke_ms(st)
    return prog


def parse(text, fname="<program>", areas=None, expect_id=None, balance=True):
    """JSON text (str or bytes) -> validated program dict (with derived duration_ms, freq_mhz,
    stroke_ms and each step's effective probe)."""
    if len(text) > MAX_BYTES:
        raise ValueError("%s: rule json: over %d bytes, not parsed" % (fname, MAX_BYTES))
    try:
        prog = json.loads(text)
    except ValueError as e:
        raise ValueError("%s: rule json: not valid JSON (%s)" % (fname, e)) from None
    except (MemoryError, RuntimeError):
        # nested too deep or too big for this board (RecursionError is a RuntimeError)
        gc.collect()
        raise ValueError("%s: rule json: nested too deep or too big to parse" % fname) from None
    return _finish(prog, validate(prog, fname, areas, expect_id, balance))
