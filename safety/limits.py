# Cap arithmetic and session limits (DESIGN 4.1, 4.2, 4.9). Pure integers; called at step start
# (cap_ua) and by the app's state machine (session helpers), never allocating in the tick.
from micropython import const

from drivers import clock

CEILING_UA = const(1000)  # absolute device ceiling, peak (DESIGN 4.1)
HOME_CAP_UA = const(500)
PRO_CAP_UA = const(1000)
EYE_CAP_UA = const(200)
# 2 mA/cm2 = 2000 uA / 100 mm2 = 20 uA per mm2. Applied to the peak: r.m.s. <= peak for every
# shape the engine plays, so a peak cap is never looser than the r.m.s. rule.
DENSITY_UA_PER_MM2 = const(20)
MIN_UA = const(10)  # DESIGN 3: amplitude range starts at 10 uA
# The smallest level whose sample says something about the load (contact, impedance): a stage
# driving less is blind (safety.contact). The supervisor never drives a level in contact
# below it (a ramp in contact starts here), and find-my-level stores nothing below it.
MIN_MEASURABLE_UA = const(10)

SLEW_UA_PER_S = const(100)  # soft start (DESIGN 4.4)

MODE_HOME = "home"
MODE_PRO = "pro"
MODES = (MODE_HOME, MODE_PRO, "professional")

PROBES = ("disk", "globe", "qtip")
# Reference probe contact areas, used when a board gives none (a board's probe_area_mm2 wins).
PROBE_AREA_MM2 = {"disk": 100, "globe": 50, "qtip": 7}  # as the board files

# Session limits (DESIGN 4.9)
PROGRAM_MAX_MS = const(1800000)  # 30 min
IDLE_OFF_MS = const(180000)  # 3 min without a button press, nothing running


def mode_cap_ua(mode):
    if mode == MODE_HOME:
        return HOME_CAP_UA
    if mode == MODE_PRO or mode == "professional":
        return PRO_CAP_UA
    raise ValueError("mode: unknown %r (home, pro)" % (mode,))


def is_eye_area(area):
    """Any area naming the eye (eye, eye_contour, 'eye contour', ...) gets the eye cap."""
    if not isinstance(area, str):
        raise ValueError("area: not a string: %r" % (area,))
    return "eye" in area.lower()


def area_cap_ua(area):
    return EYE_CAP_UA if is_eye_area(area) else CEILING_UA


def probe_area_mm2(probe, areas=None):
    """Contact area of a probe type; a clear error for a type the board does not know."""
    table = PROBE_AREA_MM2 if areas is None else areas
    if not isinstance(probe, str) or probe not in table:
        raise ValueError("probe: unknown type %r (known: %s)" % (probe, ", ".join(sorted(table))))
    mm2 = table[probe]
    if not isinstance(mm2, int) or mm2 <= 0:
        raise ValueError("probe: bad contact area %r mm2 for %s" % (mm2, probe))
    return mm2


def density_cap_ua(probe, areas=None):
    """2 mA/cm2 x the probe's contact area, in uA (never above the device ceiling)."""
    cap = DENSITY_UA_PER_MM2 * probe_area_mm2(probe, areas)
    return CEILING_UA if cap > CEILING_UA else cap


def cap_ua(mode, area, probe, client_ceiling_ua=CEILING_UA, areas=None):
    """The most a step may ever drive: min(ceiling, mode, area, probe density, client ceiling).
    Raises ValueError("field: reason") for an unknown mode or probe type."""
    cap = CEILING_UA
    c = mode_cap_ua(mode)
    if c < cap:
        cap = c
    c = area_cap_ua(area)
    if c < cap:
        cap = c
    c = density_cap_ua(probe, areas)
    if c < cap:
        cap = c
    if client_ceiling_ua is not None:
        if not isinstance(client_ceiling_ua, int):
            raise ValueError("client ceiling: not an integer uA: %r" % (client_ceiling_ua,))
        if client_ceiling_ua < cap:
            cap = client_ceiling_ua if client_ceiling_ua > 0 else 0
    return cap


def clamp_ua(ua, cap):
    """Clamp a request to 0..cap (a program asking 5 mA gets the cap, a negative one 0)."""
    if ua > cap:
        return cap
    if ua < 0:
        return 0
    return ua


def check_step_ua(ua, mode, area, probe, areas=None):
    """For program validation: raise ValueError when a step asks more than its cap allows."""
    if not isinstance(ua, int):
        raise ValueError("intensity: not an integer uA: %r" % (ua,))
    cap = cap_ua(mode, area, probe, None, areas)
    if ua > cap:
        raise ValueError(
            "intensity: %d uA above the %d uA cap for %s/%s/%s" % (ua, cap, mode, area, probe)
        )
    if ua < 0:
        raise ValueError("intensity: negative")
    return cap


# --- session limits --------------------------------------------------------------------------


def check_program_ms(total_ms):
    """For program validation: a program longer than 30 min is rejected."""
    if total_ms > PROGRAM_MAX_MS:
        raise ValueError("duration: %d ms over the 30 min program cap" % total_ms)
    if total_ms <= 0:
        raise ValueError("duration: not positive")


def elapsed_ms(start_ms, now_ms):
    """Milliseconds from start_ms to now_ms across the tick wrap (never negative)."""
    d = clock.ticks_diff(now_ms, start_ms)
    return d if d > 0 else 0


def step_over(start_ms, now_ms, duration_ms):
    """True when a step started at start_ms has run its duration (or the 30 min cap)."""
    if duration_ms > PROGRAM_MAX_MS:
        duration_ms = PROGRAM_MAX_MS
    return elapsed_ms(start_ms, now_ms) >= duration_ms


def program_over(start_ms, now_ms):
    """True when the program started at start_ms has run 30 min."""
    return elapsed_ms(start_ms, now_ms) >= PROGRAM_MAX_MS


def idle_over(last_activity_ms, now_ms):
    """True when nothing happened for 3 min: the app powers off."""
    return elapsed_ms(last_activity_ms, now_ms) >= IDLE_OFF_MS
