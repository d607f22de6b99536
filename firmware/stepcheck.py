# The rules for one step of a facial program (DESIGN sections 3, 4 and 5): where, how long,
# which waveform and how much current. firmware/programcheck.py checks the program around the
# steps (its header has the file format and the message format).
#
# STEP  {"area": "cheek", "side": "left", "movement": "toward", "strokes": 4,
#        "stroke_s": 8, "shape": "biphasic", "freq_hz": 10, "intensity_ua": [60, 300]}
#   area          forehead brow eye_contour cheek nasolabial jawline chin neck_side, nothing
#                 else (never the front of the neck, the eyelid, the eyeball or the chest)
#   side          left | right | centre (centre only for forehead, brow, chin: a centred
#                 pair on the neck would be the front of the neck). Both probes of a pair are
#                 always on one side: nothing runs across or through the head.
#   movement      toward (tighten) | away (loosen) | hold
#   strokes       3..20: each position at least 3 strokes, rising in intensity
#   stroke_s      2..60 s per stroke (a stroke holds at least one period of freq_hz)
#   shape         biphasic | monophasic | wave
#   freq_hz       the engine's range (waveforms.plan FREQ_MIN_MHZ..FREQ_MAX_MHZ: 0.3..1000)
#   intensity_ua  [min, max] integers, limits.MIN_UA <= min < max (the app rises stroke by
#                 stroke from min toward the client's level; never above the caps)
#   probe         optional override of the program's probe
#   polarity      monophasic only, required: pos_first | neg_first (the polarity still
#                 alternates at least every alt_s seconds, DESIGN 3)
#   alt_s         monophasic only, optional: 1 s .. waveforms.plan ALT_MAX_MS (the default)
#   ramp_s, hold_s  wave only, optional: envelope rise/fall 0.5..10 s (default 2), hold at
#                 the top 0..30 s (default 1); a stroke holds at least one envelope cycle
#
# Safety facts are stated once, elsewhere, and read here at check time (a test lowers each in
# safety.limits and sees a step rejected):
#   - the caps (rules density, eye_cap): a step's max intensity <= limits.cap_ua in pro mode:
#     min(the device ceiling, the probe's current density cap (limits.density_cap_ua over a
#     board's probe_area_mm2), the eye-area cap). Home mode's cap and the client's ceiling clamp
#     again at run time. The cap is applied to the peak (r.m.s. <= peak for every shape the
#     engine plays, so it is never looser than the r.m.s. rule).
#   - the lowest intensity (rule intensity): limits.MIN_UA.
#   - the frequency range and the longest alternation interval: waveforms.plan's.
#   - eye_probe: eye areas (limits.is_eye_area) on globe or qtip only.
#   - waveform: the step's waveform at its max intensity must build in waveforms.plan.
#   - balance: a monophasic step lasts at least two of the player's alternation intervals, and
#     its strokes (each from zero with the soft start, rising stroke by stroke) keep every 20 s
#     window within 5 % net charge against that alternation (firmware/stepbalance.py). Checked
#     by programcheck after the rule total, so a hostile file costs at most 30 min of steps.
#   - gap (checked with balance): a monophasic step's silence between pulses is at most one
#     contact-probe interval (waveforms.plan.OPEN_MAX_US, 20 ms: monophasic from 25 Hz). The
#     pulse engine cannot probe in a longer gap, and a re-touch there would go unseen (DESIGN
#     4.5, issue 11 item 5).
from micropython import const

from firmware import fileio as _fio
from firmware import stepbalance as _balance
from safety import limits as _limits
from waveforms import plan as _plan

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
SIDES = ("left", "right", "centre")
MOVEMENTS = ("toward", "away", "hold")
SHAPES = ("biphasic", "monophasic", "wave")
POLARITIES = ("pos_first", "neg_first")

_STROKES_MIN = const(3)
_STROKES_MAX = const(20)
_STROKE_S_MIN = const(2)
_STROKE_S_MAX = const(60)
_RAMP_S_MIN = 0.5
_RAMP_S_MAX = const(10)
_HOLD_S_MAX = const(30)
# the engine's (waveforms.plan), stated there once
_FREQ_MIN_HZ = _plan.FREQ_MIN_MHZ / 1000  # 0.3 Hz
_FREQ_MAX_HZ = _plan.FREQ_MAX_MHZ // 1000  # 1000 Hz
_ALT_S_MAX = _plan.ALT_MAX_MS // 1000  # monophasic: alternate at least every 10 s (DESIGN 3)

STEP_KEYS = (
    "area",
    "side",
    "movement",
    "strokes",
    "stroke_s",
    "shape",
    "freq_hz",
    "intensity_ua",
)
STEP_OPTIONAL = ("probe", "polarity", "alt_s", "ramp_s", "hold_s")


def is_num(v):
    return (isinstance(v, int) or isinstance(v, float)) and not isinstance(v, bool)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def thousandths(n):
    """An integer in thousandths as a decimal text: 10000 -> '10', 2500 -> '2.5', 300 -> '0.3'
    (integers only: the same text on every runtime)."""
    if n % 1000 == 0:
        return "%d" % (n // 1000)
    frac = "%03d" % (n % 1000)
    while frac.endswith("0"):
        frac = frac[:-1]
    return "%d.%s" % (n // 1000, frac)


def _secs(ms):
    """ms as seconds for a message: 10000 -> '10 s', 2500 -> '2.5 s'."""
    return thousandths(ms) + " s"


def _cut(v):
    """A string from the file, cut for a message."""
    return v if len(v) <= _fio.QUOTE_MAX else v[: _fio.QUOTE_MAX] + "..."


class Checker:
    """Raises ValueError("<file>: [step n (area side): ]rule <tag>: <detail>"). Holds the
    scratch plan of one check (garbage once the check is done: the validator keeps nothing in
    RAM between checks)."""

    def __init__(self, fname):
        self.fname = fname
        self.where = ""
        self.plan = None

    def fail(self, rule, detail):
        raise ValueError("%s: %srule %s: %s" % (self.fname, self.where, rule, detail))

    def need(self, cond, rule, detail):
        if not cond:
            self.fail(rule, detail)


def check_keys(c, obj, required, optional):
    for k in obj:
        if k not in required and k not in optional:
            c.fail("key", "unknown key %s" % _fio.quote(k))
    for k in required:
        if k not in obj:
            c.fail("missing", "key %r missing" % (k,))


def stroke_ms(step):
    """One stroke of a step in ms."""
    return int(step["stroke_s"] * 1000 + 0.5)


def step_ms(step):
    """Duration of one step in ms (strokes x stroke_s)."""
    return step["strokes"] * stroke_ms(step)


def freq_mhz(f):
    """freq_hz (int or float) -> integer mHz, as the engine takes it."""
    return int(f * 1000 + 0.5)


def check_step(c, st, prog_probe, areas):
    c.need(isinstance(st, dict), "type", "a step must be an object")
    check_keys(c, st, STEP_KEYS, STEP_OPTIONAL)
    area = st["area"]
    side = st["side"]
    c.need(isinstance(area, str), "type", "area must be a string")
    c.need(isinstance(side, str), "type", "side must be a string")
    c.where = c.where[:-2] + " (%s %s): " % (_cut(area), _cut(side))
    c.need(
        area in AREAS,
        "area",
        "%s is not an allowed area (%s)" % (_fio.quote(area), " ".join(AREAS)),
    )
    c.need(side in SIDES, "side", "%s is not left, right or centre" % _fio.quote(side))
    if side == "centre":
        c.need(
            area in CENTRE_AREAS,
            "side",
            "%s has no centre position (centre only on %s)" % (area, ", ".join(CENTRE_AREAS)),
        )
    mv = st["movement"]
    c.need(isinstance(mv, str), "type", "movement must be a string")
    c.need(mv in MOVEMENTS, "movement", "%s is not toward, away or hold" % _fio.quote(mv))
    probe = st.get("probe", prog_probe)
    c.need(isinstance(probe, str), "type", "probe must be a string")
    c.need(probe in _limits.PROBES, "probe", "%s is not disk, globe or qtip" % _fio.quote(probe))

    n = st["strokes"]
    c.need(is_int(n), "type", "strokes must be an integer")
    c.need(
        _STROKES_MIN <= n <= _STROKES_MAX,
        "strokes",
        "%d strokes; each position needs %d..%d" % (n, _STROKES_MIN, _STROKES_MAX),
    )
    ss = st["stroke_s"]
    c.need(is_num(ss), "type", "stroke_s must be a number")
    c.need(
        _STROKE_S_MIN <= ss <= _STROKE_S_MAX,
        "stroke_s",
        "%s s outside %d..%d s" % (ss, _STROKE_S_MIN, _STROKE_S_MAX),
    )
    f = st["freq_hz"]
    c.need(is_num(f), "type", "freq_hz must be a number")
    c.need(
        _FREQ_MIN_HZ <= f <= _FREQ_MAX_HZ,
        "freq",
        "%s Hz outside %s..%s Hz"
        % (f, thousandths(_plan.FREQ_MIN_MHZ), thousandths(_plan.FREQ_MAX_MHZ)),
    )
    c.need(ss * f >= 1, "period", "a %s s stroke is shorter than one period at %s Hz" % (ss, f))

    shape = st["shape"]
    c.need(isinstance(shape, str), "type", "shape must be a string")
    c.need(shape in SHAPES, "shape", "%s is not biphasic, monophasic or wave" % _fio.quote(shape))
    if shape == "monophasic":
        pol = st.get("polarity")
        c.need(pol is not None, "polarity", "a monophasic step needs polarity")
        c.need(pol in POLARITIES, "polarity", "%s is not pos_first or neg_first" % _fio.quote(pol))
        alt = st.get("alt_s", _ALT_S_MAX)
        c.need(is_int(alt), "type", "alt_s must be an integer")
        c.need(1 <= alt <= _ALT_S_MAX, "polarity", "alt_s %s outside 1..%d s" % (alt, _ALT_S_MAX))
    else:
        for k in ("polarity", "alt_s"):
            c.need(k not in st, "polarity", "%s only for monophasic steps" % k)
    if shape == "wave":
        ramp = st.get("ramp_s", 2)
        hold = st.get("hold_s", 1)
        c.need(is_num(ramp) and is_num(hold), "type", "ramp_s and hold_s must be numbers")
        c.need(_RAMP_S_MIN <= ramp <= _RAMP_S_MAX, "wave", "ramp_s %s outside 0.5..10 s" % ramp)
        c.need(0 <= hold <= _HOLD_S_MAX, "wave", "hold_s %s outside 0..30 s" % hold)
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
        isinstance(rng, list) and len(rng) == 2 and is_int(rng[0]) and is_int(rng[1]),
        "type",
        "intensity_ua must be [min, max] integers (uA)",
    )
    lo, hi = rng
    min_ua = _limits.MIN_UA
    c.need(lo >= min_ua, "intensity", "min %d uA below %d uA" % (lo, min_ua))
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
            "max %d uA above the %d uA cap of the %s probe (%s mA/cm2, ceiling %d uA)"
            % (hi, cap, probe, thousandths(_limits.DENSITY_UA_PER_MM2 * 100), _limits.CEILING_UA),
        )
    return probe, _check_plan(c, st, shape, f, hi, cap)


def _check_plan(c, st, shape, f, hi, cap):
    """The engine must accept the step's waveform (e.g. monophasic balance at that frequency).
    Returns a monophasic step's (period_us, phase_us, alt_periods): the player flips the
    polarity every alt_periods periods; None for the other shapes."""
    p = c.plan
    if p is None:
        p = c.plan = _plan.Plan()
    code = _plan.MONOPHASIC if shape == "monophasic" else _plan.BIPHASIC
    kw = {}
    if shape == "monophasic":
        kw["alt_ms"] = st.get("alt_s", _ALT_S_MAX) * 1000
    try:
        _plan.build(p, code, freq_mhz(f), hi, cap, **kw)
    except ValueError as e:
        c.fail("waveform", str(e))
    if code != _plan.MONOPHASIC:
        return None
    return (p.period_us, p.phase_us, p.alt_periods)


def check_balance(c, st, mono):
    """A monophasic step must be able to balance (the header's rule balance). mono: the plan's
    (period_us, phase_us, alt_periods)."""
    stroke = stroke_ms(st)
    n = st["strokes"]
    step = stroke * n
    alt_ms = _balance.alt_ms(mono[0], mono[2])
    c.need(
        step >= 2 * alt_ms,
        "balance",
        "a %s monophasic step is shorter than two %s alternation intervals: one polarity "
        "would carry most of its charge" % (_secs(step), _secs(alt_ms)),
    )
    # DESIGN 4.5: contact is watched in a silence longer than one contact-probe interval.
    # The pulse engine cannot probe inside its OPEN segment, so a step whose pulses leave the
    # output silent for longer (monophasic below 25 Hz) is refused: a lift and re-touch in the
    # gap would go unseen and the next pulse land at full level (issue 11 item 5).
    gap = mono[0] - mono[1]
    c.need(
        gap <= _plan.OPEN_MAX_US,
        "gap",
        "monophasic at %s Hz leaves the output silent %d ms between pulses: contact cannot be "
        "watched in gaps over %d ms (monophasic from %d Hz)"
        % (
            _fio.quote(st["freq_hz"]),
            gap // 1000,
            _plan.OPEN_MAX_US // 1000,
            _plan.MONO_MIN_HZ,
        ),
    )
    lo, hi = st["intensity_ua"]
    w = _balance.worst_permille(stroke, n, lo, hi, mono[0], mono[1], mono[2])
    if w <= _balance.LIMIT_PERMILLE:
        return
    head = "net charge %d.%d %% of a %s window's charge (limit %d %%)" % (
        w // 10,
        w % 10,
        _secs(_balance.WINDOW_MS),
        _balance.LIMIT_PERMILLE // 10,
    )
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
