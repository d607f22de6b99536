# Monophasic charge balance of a whole program step, checked at load (DESIGN 3: the net charge
# over any 20 s window stays within 5 % of the charge delivered in that window).
#
# waveforms.plan makes a train at one constant level balance (_alt_periods). A step is not one
# constant level: the app starts every stroke from zero with the soft start (100 uA/s, DESIGN
# 4.4) and the strokes rise from the step's minimum toward the client's level, while the player
# flips the polarity every plan.alt_periods periods whatever the strokes do. So
#   - a step shorter than two alternation intervals never plays its second polarity in full;
#   - strokes lasting an even number of alternation intervals put every soft start on the same
#     polarity: the ramp is the low-charge part, so that polarity is always short-changed;
#   - long alternation intervals against short rising strokes give each polarity its own,
#     different, stroke levels.
# worst_permille() plays the step's nominal level profile (no lift-off, pause or level change:
# repaying those is the player's job) against that alternation and returns the worst net charge
# of any 20 s window inside the step, and of the whole step, in 1/1000 of that window's charge:
#   - client levels CLIENT_LEVELS (10 reaches the step's max: the longest ramps and the largest
#     stroke-to-stroke steps; at low frequencies a middle level can be worse, hence 7 and 4;
#     in 2581 random steps no other level changed the verdict);
#   - start phase: the player keeps its polarity across steps and restarts, so a step may start
#     anywhere in an alternation cycle: PHASES starts spread over one alternation interval
#     (shifting by a whole interval only swaps the signs);
#   - pulses: a period of PULSED_MS or more is played pulse by pulse (each pulse at the ramp's
#     level at its start, as the player sets levels at period boundaries); shorter periods are
#     spread evenly over time (their duty cancels out of the ratio);
#   - window starts on a GRID_MS grid: each window's figure is exact for the model, a peak
#     between two starts is missed by at most about 1 % of the window's charge (checked against
#     a period-by-period simulation in host_tests/test_programs.py).
#
# Integers only (the same answer on CPython and MicroPython): time in ms, charge in 1/20 uA.ms
# (a ramp at 0.1 uA/ms from 0 to t ms holds t*t of it; a level L for d ms holds 20*L*d). Every
# window sum stays below 2**30 (20 s at 1000 uA: 20 * 1000 * 20000 = 4e8): small ints on a
# board. Cost: len(CLIENT_LEVELS) x PHASES passes over the step in GRID_MS cells, about 75 us a
# cell on an RP2040 (a 60 s step: 0.5 s; the presets: about 1.3 s at boot). programs.py checks
# after the 30 min total has passed, once per distinct step (left/right twins are one), and
# the last CACHE_MAX answers are kept.
from micropython import const

WINDOW_MS = const(20000)  # DESIGN 3
BALANCE_DIV = const(20)  # 5 %
LIMIT_PERMILLE = const(50)  # 1000 // BALANCE_DIV
GRID_MS = const(200)  # window starts
RAMP_MS_PER_UA = const(10)  # the soft start: 100 uA/s (DESIGN 4.4)
PHASES = const(8)
LEVELS = const(10)  # the client's levels 1..10
CLIENT_LEVELS = (10, 7, 4)  # the levels checked
PULSED_MS = const(50)  # periods this long (20 Hz and below) are played pulse by pulse
CACHE_MAX = const(16)
_W = const(100)  # cells per window: WINDOW_MS // GRID_MS

_cache = {}


def stroke_levels(lo, top, strokes):
    """The app's stroke levels toward the client's target `top`: stroke k of n plays
    lo + (top - lo) * (k + 1) // n (the last stroke at top)."""
    out = []
    for k in range(strokes):
        out.append(lo + (top - lo) * (k + 1) // strokes)
    return out


def _cell(t, t1, stroke_ms, levels, alt, phase_ms, acc):
    """Charge of [t, t1) into acc[0] (signed) and acc[1] (total), in 1/20 uA.ms: the pulses
    spread evenly over time (a period well below a grid cell)."""
    net = 0
    tot = 0
    while t < t1:
        k = t // stroke_ms
        s0 = k * stroke_ms
        lvl = levels[k]
        ramp_end = s0 + lvl * RAMP_MS_PER_UA
        h = (t + phase_ms) // alt
        e = (h + 1) * alt - phase_ms  # the next flip
        se = s0 + stroke_ms
        if se < e:
            e = se
        if t < ramp_end < e:
            e = ramp_end
        if t1 < e:
            e = t1
        if t < ramp_end:
            a = t - s0
            b = e - s0
            q = b * b - a * a
        else:
            q = BALANCE_DIV * lvl * (e - t)
        tot += q
        if h & 1:
            net -= q
        else:
            net += q
        t = e
    acc[0] = net
    acc[1] = tot


def _cell_pulses(t, t1, stroke_ms, levels, per_us, pulse_ms, alt_n, phase_n, acc):
    """The same, pulse by pulse (a period of PULSED_MS or more): pulse i starts at i x period,
    lasts pulse_ms, at the level of its start (the player changes the level at a period
    boundary), with the polarity of alternation interval (i + phase_n) // alt_n."""
    net = 0
    tot = 0
    i = t * 1000 // per_us  # the pulse of the period holding t
    while True:
        p0 = i * per_us // 1000
        if p0 >= t1:
            break
        p1 = p0 + pulse_ms
        a = p0 if p0 > t else t
        b = p1 if p1 < t1 else t1
        if b > a:
            k = p0 // stroke_ms
            lx = p0 - k * stroke_ms  # ramp level, 0.1 uA
            top = levels[k] * RAMP_MS_PER_UA
            if lx > top:
                lx = top
            q = 2 * lx * (b - a)  # 20 x (lx / 10) uA x (b - a) ms
            tot += q
            if ((i + phase_n) // alt_n) & 1:
                net -= q
            else:
                net += q
        i += 1
    acc[0] = net
    acc[1] = tot


def _permille(n, t):
    """1000 * |n| // t without products past 2**30 (|n| <= t)."""
    if n < 0:
        n = -n
    while t >= 1000000:
        n //= 2
        t //= 2
    return 1000 * n // t if t > 0 else 0


def _worst(stroke_ms, levels, shape, phase):
    """Worst permille over the windows (and the whole step) for one start phase. shape:
    (alt_ms,) for the even spread, (per_us, pulse_ms, alt_n) pulse by pulse."""
    dur = stroke_ms * len(levels)
    acc = [0, 0]
    ring_n = [0] * _W
    ring_t = [0] * _W
    n_w = 0  # the window's running sums
    t_w = 0
    full_n = 0
    full_t = 0
    worst = 0
    i = 0
    t = 0
    pulsed = len(shape) == 3
    while t < dur:
        e = t + GRID_MS
        if e > dur:
            e = dur
        if pulsed:
            _cell_pulses(t, e, stroke_ms, levels, shape[0], shape[1], shape[2], phase, acc)
        else:
            _cell(t, e, stroke_ms, levels, shape[0], phase, acc)
        j = i % _W
        n_w += acc[0] - ring_n[j]
        t_w += acc[1] - ring_t[j]
        ring_n[j] = acc[0]
        ring_t[j] = acc[1]
        full_n += acc[0]
        full_t += acc[1]
        i += 1
        t = e
        if i >= _W:
            p = _permille(n_w, t_w)
            if p > worst:
                worst = p
    # the whole step (a step shorter than a window has only this one); it may exceed 2**30 on
    # a long step: a big int on a board, once per step
    p = _permille(full_n, full_t)
    return p if p > worst else worst


def alt_ms(per_us, alt_periods):
    """The alternation interval in ms: alt_periods periods of per_us."""
    return (alt_periods * per_us + 500) // 1000


def target_ua(lo, hi, level):
    """The client's level (1..10) mapped into a step's range, as the app does."""
    return lo + (hi - lo) * (level - 1) // (LEVELS - 1)


def worst_permille(stroke_ms, strokes, lo, hi, per_us, pulse_us, alt_periods):
    """The worst net charge of a window (see the header), in 1/1000 of its charge, for a step of
    `strokes` strokes of stroke_ms ms rising from lo toward hi uA, played as pulses of pulse_us
    every per_us whose polarity flips every alt_periods periods (a monophasic plan's period_us,
    phase_us and alt_periods)."""
    if stroke_ms <= 0 or strokes <= 0 or per_us <= 0 or pulse_us <= 0 or alt_periods <= 0:
        raise ValueError("balance: durations and counts must be positive")
    key = (stroke_ms, strokes, lo, hi, per_us, pulse_us, alt_periods)
    w = _cache.get(key)
    if w is not None:
        return w
    pulsed = per_us >= PULSED_MS * 1000
    a = alt_ms(per_us, alt_periods)
    w = 0
    for lv in CLIENT_LEVELS:
        levels = stroke_levels(lo, target_ua(lo, hi, lv), strokes)
        for i in range(PHASES):
            if pulsed:
                shape = (per_us, (pulse_us + 500) // 1000, alt_periods)
                phase = alt_periods * i // PHASES
            else:
                shape = (a,)
                phase = a * i // PHASES
            p = _worst(stroke_ms, levels, shape, phase)
            if p > w:
                w = p
    if len(_cache) >= CACHE_MAX:
        _cache.clear()
    _cache[key] = w
    return w
