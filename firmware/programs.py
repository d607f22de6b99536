# Facial programs: JSON files, validated at load against DESIGN sections 4 and 5.
#
# Where they live
#   shipped presets  firmware/presets/*.json   (device: /data/presets, see PRESETS_DIR)
#   custom programs  <root>/programs/*.json   (device: /programs: `mpremote cp x.json :/programs/`)
# The shipped folder is NOT called firmware/programs/: on MicroPython a directory shadows a
# module of the same name (`from firmware import programs` would import the data folder as a
# namespace package, not this file). Checked on the 1.29 VM.
#
# File format (version 1; also in firmware/presets/README.md)
#   {"format": 1, "id": "lift", "name": "Lift", "purpose": "...", "probe": "disk",
#    "steps": [STEP, ...]}
#   id        = the file name without .json; 1-16 of a-z 0-9 _
#   name      1-16 characters (the OLED line); purpose: 1-120 characters
#   probe     disk | globe | qtip (the program's probe; a step may override it)
#   STEP      {"area": "cheek", "side": "left", "movement": "toward", "strokes": 4,
#              "stroke_s": 8, "shape": "biphasic", "freq_hz": 10, "intensity_ua": [60, 300]}
#     area          forehead brow eye_contour cheek nasolabial jawline chin neck_side, nothing
#                   else (never the front of the neck, the eyelid, the eyeball or the chest)
#     side          left | right | centre (centre only for forehead, brow, chin: a centred
#                   pair on the neck would be the front of the neck). Both probes of a pair are
#                   always on one side: nothing runs across or through the head.
#     movement      toward (tighten) | away (loosen) | hold
#     strokes       3..20: each position at least 3 strokes, rising in intensity
#     stroke_s      2..60 s per stroke (a stroke holds at least one period of freq_hz)
#     shape         biphasic | monophasic | wave
#     freq_hz       0.3..1000
#     intensity_ua  [min, max] integers, 10 <= min < max (the app rises stroke by stroke from
#                   min toward the client's level; never above the caps)
#     probe         optional override of the program's probe
#     polarity      monophasic only, required: pos_first | neg_first (the polarity still
#                   alternates at least every alt_s seconds, DESIGN 3)
#     alt_s         monophasic only, optional: 1..10 (default 10)
#     ramp_s, hold_s  wave only, optional: envelope rise/fall 0.5..10 s (default 2), hold at
#                   the top 0..30 s (default 1); a stroke holds at least one envelope cycle
#
# Rules (a broken rule rejects the whole file; other programs stay usable). Every message reads
#   "<file>: step <n> (<area> <side>): rule <tag>: <detail>"   or   "<file>: rule <tag>: <detail>"
# with the tags json, type, key, missing, format, id, name, purpose, probe, steps, area, side,
# movement, strokes, stroke_s, freq, period, shape, polarity, wave, intensity, rising, eye_probe,
# eye_cap, density, waveform, balance, twin, total.
#   - density, eye_cap: the caps are safety.limits' (the supervisor's, stated once there): a
#     step's max intensity must be <= limits.cap_ua("pro", area, probe): min(1000 uA ceiling,
#     2 mA/cm2 x the probe's contact area, 200 uA on an eye area). Home mode's 500 uA and the
#     client's ceiling clamp at run time. The cap is applied to the peak (r.m.s. <= peak for
#     every shape the engine plays, so it is never looser than the r.m.s. rule). Probe areas are
#     a parameter (a board's probe_area_mm2); defaults disk 100, globe 50, qtip 7 mm2 -> 1000
#     (2000 capped), 1000, 140 uA.
#   - eye: eye_contour steps on globe or qtip only, max <= 200 uA (and the probe's cap).
#   - twin: every left step has an identical right step (all fields but side) and vice versa.
#   - total: the sum of strokes x stroke_s is 60 s .. 30 min (limits.PROGRAM_MAX_MS).
#   - waveform: the step's waveform at its max intensity must build in waveforms.plan.
#   - balance: a monophasic step lasts at least two of the player's alternation intervals, and
#     its strokes (each from zero with the soft start, rising stroke by stroke) keep every 20 s
#     window within 5 % net charge against that alternation (firmware/stepbalance.py). Checked
#     after total, so a hostile file costs at most 30 min of steps to check.
#
# Hostile files: a file over MAX_BYTES is not read (rule json); a parse that runs out of memory
# or recursion (a deeply nested file: MemoryError/RuntimeError on a board, RecursionError on
# CPython) is a json error; no message quotes more than a few characters of the file; the
# Library never raises for a custom file, leaves out the files after CUSTOM_MAX, and reports.
#
# RAM: Library keeps the ids and names only; load(id) reads and validates one file.
import gc
import json
import os

from firmware import stepbalance as _balance
from firmware import storage as _storage
from safety import limits as _limits

try:
    from waveforms import plan as _plan
except ImportError:  # pragma: no cover - the waveform engine is part of every image
    _plan = None

FORMAT = 1
AREAS = (
    "forehead",
    "brow",
    "eye_contour",
    "cheek",
    "nasolabial",
    "jawline",
    "chin",
    "neck_side",
)
CENTRE_AREAS = ("forehead", "brow", "chin")
EYE_AREAS = ("eye_contour",)  # the areas limits.is_eye_area() names among AREAS
SIDES = ("left", "right", "centre")
MOVEMENTS = ("toward", "away", "hold")
SHAPES = ("biphasic", "monophasic", "wave")
PROBES = _limits.PROBES
POLARITIES = ("pos_first", "neg_first")

# The caps are the supervisor's (one source of truth in safety/limits.py).
PROBE_AREA_MM2 = _limits.PROBE_AREA_MM2
DENSITY_UA_PER_MM2 = _limits.DENSITY_UA_PER_MM2  # 2 mA/cm2 = 2000 uA / 100 mm2
CEILING_UA = _limits.CEILING_UA
EYE_CAP_UA = _limits.EYE_CAP_UA
MIN_UA = _limits.MIN_UA

STROKES_MIN = 3
STROKES_MAX = 20
STROKE_S_MIN = 2
STROKE_S_MAX = 60
FREQ_MIN_HZ = 0.3
FREQ_MAX_HZ = 1000
ALT_S_MAX = 10
RAMP_S_MIN = 0.5
RAMP_S_MAX = 10
HOLD_S_MAX = 30
TOTAL_MIN_S = 60
TOTAL_MAX_S = _limits.PROGRAM_MAX_MS // 1000  # 30 min (DESIGN 4.9)
STEPS_MAX = 64
NAME_MAX = 16
PURPOSE_MAX = 120
ID_MAX = 16
MAX_BYTES = 16384  # a program file's size limit: 64 steps of ~250 bytes
CUSTOM_MAX = 32  # custom program files read from one folder
QUOTE_MAX = _storage.QUOTE_MAX  # characters of a file's own text quoted in a message

# the shipped presets, in the order MODE cycles through them
PRESETS = ("lift", "rejuvenate", "eye", "tone", "pores", "relax")

_PROGRAM_KEYS = ("format", "id", "name", "purpose", "probe", "steps")
_STEP_KEYS = ("area", "side", "movement", "strokes", "stroke_s", "shape", "freq_hz")
_STEP_KEYS += ("intensity_ua",)
_STEP_OPTIONAL = ("probe", "polarity", "alt_s", "ramp_s", "hold_s")
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return ""
    return path[:i] if i > 0 else "/"


# Where `make deploy` puts the shipped presets on a board (both paths, .mpy and frozen): outside
# every code package. A /firmware/presets folder would make /firmware a package on the
# filesystem, which shadows a frozen `firmware` package ('' comes before '.frozen' on sys.path).
PRESETS_DIR = "/data/presets"


def _isdir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def shipped_dir():
    """Folder of the shipped presets: beside this module (firmware/presets) when it is there (a
    source tree: the host, the VM, a tree that still has them beside the code), else
    /data/presets (a board: `make deploy` puts them there; a frozen module has no folder)."""
    f = globals().get("__file__")
    if isinstance(f, str) and "/" in f and not f.startswith(".frozen"):
        d = _storage.join(_dirname(f), "presets")
        if _isdir(d):
            return d
    return PRESETS_DIR


def default_dirs(root="/"):
    """(shipped, custom): the presets folder and <root>/programs."""
    return (shipped_dir(), _storage.join(root, "programs"))


def _is_num(v):
    return (isinstance(v, int) or isinstance(v, float)) and not isinstance(v, bool)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def probe_cap_ua(probe, areas=None):
    """Current-density cap of a probe type: 2 mA/cm2 x contact area, never above 1000 uA
    (limits.density_cap_ua)."""
    return _limits.density_cap_ua(probe, areas)


def _q(v):
    """A value from the file for a message (storage.quote: cut, containers named)."""
    return _storage.quote(v)


def _cut(v):
    """A string from the file, cut for a message."""
    return v if len(v) <= QUOTE_MAX else v[:QUOTE_MAX] + "..."


class _Checker:
    """Raises ValueError("<file>: [step n (area side): ]rule <tag>: <detail>")."""

    def __init__(self, fname):
        self.fname = fname
        self.where = ""

    def fail(self, rule, detail):
        raise ValueError("%s: %srule %s: %s" % (self.fname, self.where, rule, detail))

    def need(self, cond, rule, detail):
        if not cond:
            self.fail(rule, detail)


def step_ms(step):
    """Duration of one step in ms (strokes x stroke_s)."""
    return step["strokes"] * int(step["stroke_s"] * 1000 + 0.5)


def total_ms(prog):
    t = 0
    for s in prog["steps"]:
        t += step_ms(s)
    return t


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


def _check_keys(c, obj, required, optional):
    for k in obj:
        if k not in required and k not in optional:
            c.fail("key", "unknown key %s" % _q(k))
    for k in required:
        if k not in obj:
            c.fail("missing", "key %r missing" % (k,))


def _check_step(c, st, prog_probe, areas):
    c.need(isinstance(st, dict), "type", "a step must be an object")
    _check_keys(c, st, _STEP_KEYS, _STEP_OPTIONAL)
    area = st["area"]
    side = st["side"]
    c.need(isinstance(area, str), "type", "area must be a string")
    c.need(isinstance(side, str), "type", "side must be a string")
    c.where = c.where[:-2] + " (%s %s): " % (_cut(area), _cut(side))
    c.need(area in AREAS, "area", "%s is not an allowed area (%s)" % (_q(area), " ".join(AREAS)))
    c.need(side in SIDES, "side", "%s is not left, right or centre" % _q(side))
    if side == "centre":
        c.need(
            area in CENTRE_AREAS,
            "side",
            "%s has no centre position (centre only on %s)" % (area, ", ".join(CENTRE_AREAS)),
        )
    mv = st["movement"]
    c.need(isinstance(mv, str), "type", "movement must be a string")
    c.need(mv in MOVEMENTS, "movement", "%s is not toward, away or hold" % _q(mv))
    probe = st.get("probe", prog_probe)
    c.need(isinstance(probe, str), "type", "probe must be a string")
    c.need(probe in PROBES, "probe", "%s is not disk, globe or qtip" % _q(probe))

    n = st["strokes"]
    c.need(_is_int(n), "type", "strokes must be an integer")
    c.need(
        STROKES_MIN <= n <= STROKES_MAX,
        "strokes",
        "%d strokes; each position needs %d..%d" % (n, STROKES_MIN, STROKES_MAX),
    )
    ss = st["stroke_s"]
    c.need(_is_num(ss), "type", "stroke_s must be a number")
    c.need(
        STROKE_S_MIN <= ss <= STROKE_S_MAX,
        "stroke_s",
        "%s s outside %d..%d s" % (ss, STROKE_S_MIN, STROKE_S_MAX),
    )
    f = st["freq_hz"]
    c.need(_is_num(f), "type", "freq_hz must be a number")
    c.need(FREQ_MIN_HZ <= f <= FREQ_MAX_HZ, "freq", "%s Hz outside 0.3..1000 Hz" % (f,))
    c.need(ss * f >= 1, "period", "a %s s stroke is shorter than one period at %s Hz" % (ss, f))

    shape = st["shape"]
    c.need(isinstance(shape, str), "type", "shape must be a string")
    c.need(shape in SHAPES, "shape", "%s is not biphasic, monophasic or wave" % _q(shape))
    if shape == "monophasic":
        pol = st.get("polarity")
        c.need(pol is not None, "polarity", "a monophasic step needs polarity")
        c.need(pol in POLARITIES, "polarity", "%s is not pos_first or neg_first" % _q(pol))
        alt = st.get("alt_s", ALT_S_MAX)
        c.need(_is_int(alt), "type", "alt_s must be an integer")
        c.need(1 <= alt <= ALT_S_MAX, "polarity", "alt_s %s outside 1..10 s" % (alt,))
    else:
        for k in ("polarity", "alt_s"):
            c.need(k not in st, "polarity", "%s only for monophasic steps" % k)
    if shape == "wave":
        ramp = st.get("ramp_s", 2)
        hold = st.get("hold_s", 1)
        c.need(_is_num(ramp) and _is_num(hold), "type", "ramp_s and hold_s must be numbers")
        c.need(RAMP_S_MIN <= ramp <= RAMP_S_MAX, "wave", "ramp_s %s outside 0.5..10 s" % ramp)
        c.need(0 <= hold <= HOLD_S_MAX, "wave", "hold_s %s outside 0..30 s" % hold)
        c.need(
            2 * ramp + hold <= ss,
            "wave",
            "a %s s stroke is shorter than one envelope (2 x %s + %s s)" % (ss, ramp, hold),
        )
    else:
        for k in ("ramp_s", "hold_s"):
            c.need(k not in st, "wave", "%s only for wave steps" % k)

    rng = st["intensity_ua"]
    c.need(
        isinstance(rng, list) and len(rng) == 2 and _is_int(rng[0]) and _is_int(rng[1]),
        "type",
        "intensity_ua must be [min, max] integers (uA)",
    )
    lo, hi = rng
    c.need(lo >= MIN_UA, "intensity", "min %d uA below %d uA" % (lo, MIN_UA))
    c.need(
        lo < hi,
        "rising",
        "intensity min %d must be below max %d: the strokes rise in intensity" % (lo, hi),
    )
    eye = _limits.is_eye_area(area)
    if eye:
        c.need(
            probe == "globe" or probe == "qtip",
            "eye_probe",
            "eye steps use a globe or qtip probe, not %s" % probe,
        )
    # The caps are the supervisor's: limits.cap_ua in pro mode (the most any mode allows; home
    # mode and the client's ceiling clamp again at run time).
    try:
        cap = _limits.cap_ua(_limits.MODE_PRO, area, probe, None, areas)
    except ValueError as e:
        c.fail("probe", str(e))
    if hi > cap:
        area_cap = _limits.area_cap_ua(area)
        if eye and hi > area_cap:
            c.fail("eye_cap", "max %d uA above the %d uA eye cap" % (hi, area_cap))
        c.fail(
            "density",
            "max %d uA above the %d uA cap of the %s probe (2 mA/cm2, ceiling %d uA)"
            % (hi, cap, probe, _limits.CEILING_UA),
        )
    mono = None
    if _plan is not None:
        mono = _check_plan(c, st, shape, f, hi, cap)
    return probe, mono


_PLAN = [None]


def _check_plan(c, st, shape, f, hi, cap):
    """The engine must accept the step's waveform (e.g. monophasic balance at that frequency).
    Returns a monophasic step's (period_us, phase_us, alt_periods): the player flips the
    polarity every alt_periods periods; None for the other shapes."""
    p = _PLAN[0]
    if p is None:
        p = _PLAN[0] = _plan.Plan()
    code = _plan.MONOPHASIC if shape == "monophasic" else _plan.BIPHASIC
    kw = {}
    if shape == "monophasic":
        kw["alt_ms"] = st.get("alt_s", ALT_S_MAX) * 1000
    try:
        _plan.build(p, code, freq_mhz(f), hi, cap, **kw)
    except ValueError as e:
        c.fail("waveform", str(e))
    if code != _plan.MONOPHASIC:
        return None
    return (p.period_us, p.phase_us, p.alt_periods)


def _secs(ms):
    """ms as seconds for a message: 10000 -> '10 s', 2500 -> '2.5 s' (integers only: the same
    text on every runtime)."""
    if ms % 1000 == 0:
        return "%d s" % (ms // 1000)
    frac = "%03d" % (ms % 1000)
    while frac.endswith("0"):
        frac = frac[:-1]
    return "%d.%s s" % (ms // 1000, frac)


def _check_balance(c, st, mono):
    """A monophasic step must be able to balance (the header's rule balance). mono: the plan's
    (period_us, phase_us, alt_periods)."""
    stroke = int(st["stroke_s"] * 1000 + 0.5)
    n = st["strokes"]
    step = stroke * n
    alt_ms = _balance.alt_ms(mono[0], mono[2])
    c.need(
        step >= 2 * alt_ms,
        "balance",
        "a %s monophasic step is shorter than two %s alternation intervals: one polarity "
        "would carry most of its charge" % (_secs(step), _secs(alt_ms)),
    )
    lo, hi = st["intensity_ua"]
    w = _balance.worst_permille(stroke, n, lo, hi, mono[0], mono[1], mono[2])
    if w <= _balance.LIMIT_PERMILLE:
        return
    head = "net charge %d.%d %% of a 20 s window's charge (limit 5 %%)" % (w // 10, w % 10)
    if stroke % (2 * alt_ms) == 0:
        c.fail(
            "balance",
            "%s: strokes of %s are %d alternation intervals of %s, so every soft start falls "
            "on the same polarity (make a stroke an odd number of intervals)"
            % (head, _secs(stroke), stroke // alt_ms, _secs(alt_ms)),
        )
    c.fail(
        "balance",
        "%s: the soft start of each stroke and the rising stroke levels do not even out "
        "against the %s alternation (a shorter alt_s, or strokes lasting an odd number of "
        "alternation intervals, balance)" % (head, _secs(alt_ms)),
    )


def freq_mhz(f):
    """freq_hz (int or float) -> integer mHz, as the engine takes it."""
    return int(f * 1000 + 0.5)


def validate(prog, fname="<program>", areas=None, expect_id=None, balance=True):
    """Check a parsed program against every rule; raise ValueError naming file, step and rule.
    Returns the total duration in ms. balance=False skips the (slow) rule balance: only for a
    text already validated whole (Library.load of an unchanged file)."""
    c = _Checker(fname)
    c.need(isinstance(prog, dict), "type", "a program must be a JSON object")
    _check_keys(c, prog, _PROGRAM_KEYS, ())
    c.need(prog["format"] == FORMAT and _is_int(prog["format"]), "format", "format must be 1")
    pid = prog["id"]
    c.need(isinstance(pid, str), "type", "id must be a string")
    c.need(1 <= len(pid) <= ID_MAX, "id", "id %s must be 1..16 characters" % _q(pid))
    for ch in pid:
        c.need(ch in _ID_CHARS, "id", "id %s: only a-z, 0-9 and _" % _q(pid))
    if expect_id is not None:
        c.need(pid == expect_id, "id", "id %s does not match the file name" % _q(pid))
    name = prog["name"]
    c.need(isinstance(name, str), "type", "name must be a string")
    c.need(1 <= len(name) <= NAME_MAX, "name", "name must be 1..16 characters")
    pur = prog["purpose"]
    c.need(isinstance(pur, str), "type", "purpose must be a string")
    c.need(1 <= len(pur) <= PURPOSE_MAX, "purpose", "purpose must be 1..120 characters")
    probe = prog["probe"]
    c.need(isinstance(probe, str), "type", "probe must be a string")
    c.need(probe in PROBES, "probe", "%s is not disk, globe or qtip" % _q(probe))
    steps = prog["steps"]
    c.need(isinstance(steps, list), "type", "steps must be a list")
    c.need(1 <= len(steps) <= STEPS_MAX, "steps", "a program has 1..%d steps" % STEPS_MAX)

    sigs = {}  # signature -> [left count, right count, first step index]
    total = 0
    mono = []  # (step index, where, plan figures): balance is checked after total
    for i in range(len(steps)):
        st = steps[i]
        c.where = "step %d: " % (i + 1)
        eff, m = _check_step(c, st, probe, areas)
        if m is not None:
            mono.append((i, c.where, m))
        total += step_ms(st)
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
    c.need(
        TOTAL_MIN_S * 1000 <= total <= TOTAL_MAX_S * 1000,
        "total",
        "%d s in total, outside %d..%d s (30 min)" % (total // 1000, TOTAL_MIN_S, TOTAL_MAX_S),
    )
    if balance:
        for i, where, m in mono:
            c.where = where
            _check_balance(c, steps[i], m)
    c.where = ""
    return total


def _finish(prog, total):
    # derived, integer fields the app and the engine use (added after validation)
    prog["duration_ms"] = total
    for st in prog["steps"]:
        if "probe" not in st:
            st["probe"] = prog["probe"]
        st["freq_mhz"] = freq_mhz(st["freq_hz"])
        st["stroke_ms"] = int(st["stroke_s"] * 1000 + 0.5)
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


def _read(path):
    """(file name, bytes) of a program file; a file over MAX_BYTES is refused unread."""
    fname = path[path.rfind("/") + 1 :]
    with open(path, "rb") as f:  # bytes: invalid UTF-8 is a "json" error, not a crash
        text = f.read(MAX_BYTES + 1)
    if len(text) > MAX_BYTES:
        raise ValueError("%s: rule json: over %d bytes, not read" % (fname, MAX_BYTES))
    return fname, text


def _parse_file(fname, text, areas, balance=True):
    return parse(text, fname, areas, fname[:-5] if fname.endswith(".json") else None, balance)


def load_file(path, areas=None):
    """Read, parse and validate one program file (the id must match the file name). A file
    over MAX_BYTES is refused unread (rule json)."""
    fname, text = _read(path)
    return _parse_file(fname, text, areas)


def _json_names(d):
    try:
        names = os.listdir(d)
    except OSError:
        return []
    out = []
    for n in names:
        if n.endswith(".json") and not n.startswith("."):
            out.append(n)
    out.sort()
    return out


def _why(fn, e):
    """A Library error line for a file that failed with e."""
    if isinstance(e, ValueError):
        return str(e)
    if isinstance(e, OSError):
        return "%s: unreadable (%s)" % (fn, e)
    # a validator bug or an exhausted board: the file is left out, the device keeps going
    return "%s: rule json: not checked (%s)" % (fn, type(e).__name__)


class Library:
    """All program files of the given folders, validated once at start; keeps ids and names.

    dirs: (shipped, custom, ...); the first folder holds the shipped presets. ok is True when
    every shipped file is valid and at least one program is usable (the self-test's "program
    files valid"); a broken custom file is reported in errors and left out, nothing else.
    A custom program cannot take the id of an earlier one (rejected, reported).
    """

    def __init__(self, dirs=None, areas=None):
        if dirs is None:
            dirs = default_dirs("/")
        self.dirs = tuple(dirs)
        self.areas = areas
        self._ids = []
        self._names = {}
        self._paths = {}
        self.durations = {}
        self._sums = {}  # pid -> storage.digest of the text validated whole at start
        self.errors = []
        shipped_ok = True
        for n, d in enumerate(self.dirs):
            names = _json_names(d)
            if n == 0:
                names = _preset_order(names)
            elif len(names) > CUSTOM_MAX:
                self.errors.append(
                    "%s: %d program files, the first %d read" % (d, len(names), CUSTOM_MAX)
                )
                names = names[:CUSTOM_MAX]
            for fn in names:
                path = _storage.join(d, fn)
                try:
                    fname, text = _read(path)
                    prog = _parse_file(fname, text, areas)
                except Exception as e:  # noqa: BLE001 - no file may stop the device (4.10)
                    self.errors.append(_why(fn, e))
                    if n == 0:
                        shipped_ok = False
                    continue
                pid = prog["id"]
                if pid in self._paths:
                    self.errors.append(
                        "%s: rule id: %s already defined by a shipped or earlier "
                        "program" % (fn, _q(pid))
                    )
                    continue
                self._ids.append(pid)
                self._names[pid] = prog["name"]
                self._paths[pid] = path
                self.durations[pid] = prog["duration_ms"]
                self._sums[pid] = _storage.digest(text)
                prog = text = None
        self.ok = shipped_ok and len(self._ids) > 0

    def ids(self):
        return list(self._ids)

    def name(self, pid):
        return self._names.get(pid, pid)

    def path(self, pid):
        return self._paths.get(pid)

    def load(self, pid):
        """The validated program dict, read again and checked again, so a file changed since
        start is caught; the slow rule balance only when the text differs from the one checked
        at start (the run starts within the watchdog's time). Raises ValueError for an unknown
        id or a broken file, OSError when unreadable."""
        p = self._paths.get(pid)
        if p is None:
            raise ValueError("%s: rule id: no such program" % (pid,))
        fname, text = _read(p)
        same = _storage.digest(text) == self._sums.get(pid)
        return _parse_file(fname, text, self.areas, not same)


def _preset_order(names):
    out = []
    for pid in PRESETS:
        fn = pid + ".json"
        if fn in names:
            out.append(fn)
    for fn in names:
        if fn not in out:
            out.append(fn)
    return out


def load_all(dirs=None, areas=None):
    """Validate every program (tools/deploy.py's self-test). Returns the Library; raises
    ValueError listing the problems when a shipped preset is broken or nothing is usable."""
    lib = Library(dirs, areas)
    if not lib.ok:
        raise ValueError("programs invalid: " + "; ".join(lib.errors or ["no program found"]))
    return lib
