# Pulse plans: one period of a pulse train as a small preallocated table of segments
# (level in µA, polarity, duration in µs), built once per program step, never per tick.
#
# Shapes (DESIGN 3):
#   BIPHASIC    [POS phase][OPEN dead][NEG phase][OPEN rest]   rest >= dead
#   WAVE        the same carrier; the amplitude follows an Envelope (waveforms/envelope.py)
#   MONOPHASIC  [ON phase][OPEN off]                           off >= dead
#               the player flips the polarity every `alt_periods` periods (<= 10 s).
#
# Break-before-make: every polarity change (POS->NEG inside a biphasic period, NEG->POS at the
# period wrap, the monophasic flip) passes through an OPEN segment of at least `dead_us`.
# Dead time: 25 µs by default (DEAD_US), 20..100 µs accepted. 25 µs is several times the
# turn-off time of the small-signal MOSFETs/analog switches of the reference H-bridge (< 1 µs)
# plus the settling of the V-to-I loop, yet only 2.5 % of the shortest period (1 ms).
#
# Integers only: frequency in mHz (300..1_000_000), durations in µs, levels in µA. The period
# is 10**9 // freq_mhz µs; the remainder (period_rem / freq_mhz µs per period) is carried by the
# player (one extra µs now and then), so the long-run frequency is exact.
#
# Charge: biphasic phases have the same level and the same width, so the net charge per period
# is exactly zero in integer µA·µs. Monophasic balance: see _alt_periods().
from array import array

from micropython import const

BIPHASIC = const(0)
MONOPHASIC = const(1)
WAVE = const(2)

# polarity codes in Plan.pol
OPEN = const(0)
POS = const(1)
NEG = const(2)

FREQ_MIN_MHZ = const(300)  # 0.3 Hz
FREQ_MAX_MHZ = const(1000000)  # 1000 Hz
AMP_MAX_UA = const(1000)  # the device ceiling (DESIGN 4.1)
DEAD_US = const(25)
DEAD_MIN_US = const(20)
DEAD_MAX_US = const(100)
ALT_MAX_MS = const(10000)  # monophasic: alternate at least every 10 s (DESIGN 3)
# The longest OPEN segment a program may play: one contact-probe interval (DESIGN 4.5; the
# engine cannot probe inside it). A monophasic period of half pulse, half gap keeps the gap
# within it from MONO_MIN_HZ (the program validator refuses slower monophasic steps).
OPEN_MAX_US = const(20000)
MONO_MIN_HZ = const(500000 // OPEN_MAX_US)  # half a period of pulse, half of gap: 25 Hz
WINDOW_US = const(20000000)  # the 20 s charge-balance window (DESIGN 3)
BALANCE_DIV = const(20)  # 5 % = 1/20
MAX_SEG = const(4)

_US_PER_S_MHZ = const(1000000000)  # µs per period * mHz


class Plan:
    """One period of segments in preallocated arrays; fill it with build()."""

    def __init__(self):
        self.level = array("i", [0] * MAX_SEG)  # µA, >= 0 (0 in OPEN segments)
        self.pol = bytearray(MAX_SEG)  # OPEN / POS / NEG
        self.dur = array("i", [0] * MAX_SEG)  # µs, > 0
        self.n = 0
        self.shape = BIPHASIC
        self.freq_mhz = 0
        self.period_us = 0
        self.period_rem = 0  # (10**9 % freq_mhz): extra µs per period, in 1/freq_mhz units
        self.amp_ua = 0  # level of the pulses after the cap
        self.requested_ua = 0
        self.cap_ua = 0
        self.clamped = False  # True when amp_ua < requested_ua because of cap_ua
        self.phase_us = 0
        self.dead_us = 0
        self.alt_periods = 0  # MONOPHASIC: periods per polarity; 0 otherwise
        self.ok = False  # True once build() succeeded

    # -- charge (off the playing path: results may exceed 2**30 and be big ints) --
    def charge_seg(self, i):
        """Signed charge of segment i in µA·µs (= pC): + for POS, - for NEG, 0 for OPEN."""
        q = self.level[i] * self.dur[i]
        p = self.pol[i]
        if p == POS:
            return q
        if p == NEG:
            return -q
        return 0

    def charge_period(self):
        """Net charge of one period in µA·µs (biphasic: exactly 0; monophasic: one pulse,
        the sign being that of the current half of the alternation cycle)."""
        q = 0
        for i in range(self.n):
            q += self.charge_seg(i)
        return q

    def charge_abs_period(self):
        """Charge delivered in one period regardless of sign, µA·µs."""
        q = 0
        for i in range(self.n):
            if self.pol[i] != OPEN:
                q += self.level[i] * self.dur[i]
        return q

    def to_tuple(self):
        """Everything that defines the plan, for parity tables and tests (not device-hot)."""
        segs = tuple((self.level[i], self.pol[i], self.dur[i]) for i in range(self.n))
        return (
            self.shape,
            self.freq_mhz,
            self.period_us,
            self.period_rem,
            self.amp_ua,
            self.requested_ua,
            self.cap_ua,
            1 if self.clamped else 0,
            self.phase_us,
            self.dead_us,
            self.alt_periods,
            segs,
        )


def _num(name, v):
    """An int from an int or an integral float; ValueError naming the field otherwise."""
    if isinstance(v, bool):
        raise ValueError(name + ": not a number")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if v != v:
            raise ValueError(name + ": NaN")
        if v in (float("inf"), float("-inf")):
            raise ValueError(name + ": infinite")
        return int(v)
    raise ValueError(name + ": not a number")


def _alt_periods(p, a, alt_us):
    """Periods per polarity for a monophasic train of period p µs and pulse width a µs.

    The largest N <= alt_us // p (at least 1) such that any 20 s window holds a net charge of at
    most 5 % of its total charge. With M = W // p whole periods in the window W = M*p + rho:
      - if 2N divides M, the M periods are whole alternation cycles (net 0) and the rest rho
        adds at most min(rho, a) of on-time: need 20*min(rho, a) <= M*a;
      - if 2N divides M+1, the window is whole cycles minus p - rho: need 20*min(p-rho, a) <= M*a.
    The window holds at least M*a of on-time either way. Returns 0 when no N works: below about
    1 Hz with an odd number of pulses per 20 s, no polarity pattern of whole pulses can balance.
    """
    m = WINDOW_US // p
    rho = WINDOW_US - m * p
    n = alt_us // p
    if n < 1:
        n = 1
    tot = m * a
    e0 = BALANCE_DIV * (rho if rho < a else a)
    r1 = p - rho
    e1 = BALANCE_DIV * (r1 if r1 < a else a)
    ok0 = e0 <= tot
    ok1 = e1 <= tot
    while n >= 1:
        cyc = 2 * n
        if ok0 and m % cyc == 0:
            return n
        if ok1 and (m + 1) % cyc == 0:
            return n
        n -= 1
    return 0


def build(
    plan,
    shape,
    freq_mhz,
    amp_ua,
    cap_ua,
    phase_us=None,
    dead_us=DEAD_US,
    alt_ms=ALT_MAX_MS,
):
    """Fill `plan` with one period of `shape` at freq_mhz (mHz), amp_ua (µA) clamped to cap_ua.

    phase_us: width of each phase (biphasic/wave) or of the pulse (monophasic); None: the widest
    (biphasic: (period - 2*dead) // 2, monophasic: period // 2). alt_ms: monophasic alternation
    interval asked for (1..10000 ms); the plan may alternate more often (see _alt_periods).
    Raises ValueError("field: reason"); the only silent change is the cap, reported by
    plan.clamped. Returns plan.
    """
    plan.ok = False
    if shape != BIPHASIC and shape != MONOPHASIC and shape != WAVE:
        raise ValueError("shape: unknown")
    f = _num("freq_mhz", freq_mhz)
    if f < FREQ_MIN_MHZ or f > FREQ_MAX_MHZ:
        raise ValueError("freq_mhz: outside 300..1000000 (0.3-1000 Hz)")
    req = _num("amp_ua", amp_ua)
    if req < 0:
        raise ValueError("amp_ua: negative")
    if req > AMP_MAX_UA:
        raise ValueError("amp_ua: above the 1000 uA ceiling")
    cap = _num("cap_ua", cap_ua)
    if cap < 0 or cap > AMP_MAX_UA:
        raise ValueError("cap_ua: outside 0..1000")
    dead = _num("dead_us", dead_us)
    if dead < DEAD_MIN_US or dead > DEAD_MAX_US:
        raise ValueError("dead_us: outside 20..100")
    period = _US_PER_S_MHZ // f
    rem = _US_PER_S_MHZ - period * f
    amp = req if req <= cap else cap

    if shape == MONOPHASIC:
        if phase_us is None:
            ph = period // 2
        else:
            ph = _num("phase_us", phase_us)
        if ph <= 0:
            raise ValueError("phase_us: zero or negative duration")
        off = period - ph
        if off < dead:
            raise ValueError("phase_us: too long, the gap must be >= dead_us")
        alt = _num("alt_ms", alt_ms)
        if alt < 1 or alt > ALT_MAX_MS:
            raise ValueError("alt_ms: outside 1..10000")
        nalt = _alt_periods(period, ph, alt * 1000)
        if nalt == 0:
            raise ValueError("freq_mhz: monophasic charge cannot balance within 5 % per 20 s")
        plan.level[0] = amp
        plan.pol[0] = POS
        plan.dur[0] = ph
        plan.level[1] = 0
        plan.pol[1] = OPEN
        plan.dur[1] = off
        plan.n = 2
        plan.alt_periods = nalt
    else:
        if phase_us is None:
            ph = (period - 2 * dead) // 2
        else:
            ph = _num("phase_us", phase_us)
        if ph <= 0:
            raise ValueError("phase_us: zero or negative duration")
        rest = period - 2 * ph - dead
        if rest < dead:
            raise ValueError("phase_us: too long, 2*phase + 2*dead_us must fit the period")
        plan.level[0] = amp
        plan.pol[0] = POS
        plan.dur[0] = ph
        plan.level[1] = 0
        plan.pol[1] = OPEN
        plan.dur[1] = dead
        plan.level[2] = amp
        plan.pol[2] = NEG
        plan.dur[2] = ph
        plan.level[3] = 0
        plan.pol[3] = OPEN
        plan.dur[3] = rest
        plan.n = 4
        plan.alt_periods = 0
    for i in range(plan.n, MAX_SEG):
        plan.level[i] = 0
        plan.pol[i] = OPEN
        plan.dur[i] = 0
    plan.shape = shape
    plan.freq_mhz = f
    plan.period_us = period
    plan.period_rem = rem
    plan.amp_ua = amp
    plan.requested_ua = req
    plan.cap_ua = cap
    plan.clamped = req > cap
    plan.phase_us = ph
    plan.dead_us = dead
    plan.ok = True
    return plan


def make(shape, freq_mhz, amp_ua, cap_ua, **kw):
    """A new Plan, built (convenience off the device's hot path)."""
    return build(Plan(), shape, freq_mhz, amp_ua, cap_ua, **kw)


SHAPE_NAMES = {"biphasic": BIPHASIC, "monophasic": MONOPHASIC, "wave": WAVE}


def _step_get(step, key, default=None):
    v = step.get(key, default)
    return default if v is None else v


def build_step(plan, step, cap_ua):
    """Fill `plan` from a program step (a dict from the program JSON), clamped to cap_ua.

    Keys: "shape" ("biphasic" | "monophasic" | "wave"), the frequency as "freq_mhz" (int) or
    "freq_hz" (number, 0.3..1000), optional "phase_us", "dead_us", "alt_ms" (or "alt_s"), and
    "intensity_ua": [lo, hi]: the plan's level is hi (the most the step may reach; the app and the
    supervisor ramp below it with Player.set_amplitude). A "wave" step's envelope is read by
    waveforms.envelope.from_step(). Raises ValueError("field: reason"). Returns plan.
    """
    name = step.get("shape")
    if name not in SHAPE_NAMES:
        plan.ok = False
        raise ValueError("shape: one of biphasic, monophasic, wave")
    if "freq_mhz" in step:
        f = step["freq_mhz"]
    elif "freq_hz" in step:
        v = step["freq_hz"]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            plan.ok = False
            raise ValueError("freq_hz: not a number")
        if v != v:
            plan.ok = False
            raise ValueError("freq_hz: NaN")
        if v < 0.3 or v > 1000:
            plan.ok = False
            raise ValueError("freq_hz: outside 0.3..1000")
        f = int(v * 1000 + 0.5)
    else:
        plan.ok = False
        raise ValueError("freq_hz: missing")
    rng = step.get("intensity_ua")
    if not isinstance(rng, (list, tuple)) or len(rng) != 2:
        plan.ok = False
        raise ValueError("intensity_ua: [lo, hi] expected")
    if "alt_ms" in step:
        alt = step["alt_ms"]
    elif "alt_s" in step:
        v = step["alt_s"]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            plan.ok = False
            raise ValueError("alt_s: not a number")
        alt = _num("alt_s", v * 1000)
    else:
        alt = ALT_MAX_MS
    pol = step.get("polarity", "pos_first")
    if pol != "pos_first" and pol != "neg_first":
        plan.ok = False
        raise ValueError("polarity: pos_first or neg_first")
    build(
        plan,
        SHAPE_NAMES[name],
        f,
        rng[1],
        cap_ua,
        phase_us=_step_get(step, "phase_us"),
        dead_us=_step_get(step, "dead_us", DEAD_US),
        alt_ms=alt,
    )
    if pol == "neg_first":
        # The same plan mirrored: every POS segment becomes NEG and back (charge unchanged).
        for i in range(plan.n):
            if plan.pol[i] == POS:
                plan.pol[i] = NEG
            elif plan.pol[i] == NEG:
                plan.pol[i] = POS
    return plan
