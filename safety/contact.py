# Contact detection (DESIGN 4.5): the load impedance V/I decides whether a probe pair is on skin.
# Window 1 kOhm..200 kOhm with hysteresis: contact is made only after the impedance has stayed
# inside the narrower make window (1.2 k..180 k) for MAKE_MS, and is broken at once by one sample
# outside the break window (1 k..200 k) or by an open load (electrode voltage at the compliance
# rail with no current). Integers only; update() allocates nothing.
from micropython import const

from drivers import clock
from safety.limits import MIN_MEASURABLE_UA

Z_BREAK_MIN = const(1000)
Z_BREAK_MAX = const(200000)
Z_MAKE_MIN = const(1200)
Z_MAKE_MAX = const(180000)
MAKE_MS = const(60)  # stability time before contact is declared

MIN_LEVEL_UA = MIN_MEASURABLE_UA  # a sample taken while the stage drives less says nothing
MIN_UA = const(3)  # below this the current is not measurable
MIN_MV = const(50)  # below this (no current either) there is no evidence of a load
RAIL_PCT = const(95)  # electrode voltage >= 95 % of the rail: compliance limit

# Contact-probe pulses while no contact (DESIGN 4.5): <= 20 uA, <= 2 ms, <= 5 % duty.
PROBE_UA = const(20)
PROBE_SETTLE_US = const(200)  # pulse width: settle, then one sense read (~1 % duty)
PROBE_PERIOD_MS = const(20)

# Sample kinds, returned by classify()
NO_INFO = const(0)  # the stage was not driving: nothing learned
MEASURED = const(1)  # impedance from V/I
OPEN = const(2)  # open load: at the rail (or no voltage) with no current
SUSPECT = const(3)  # voltage below the rail, a level driven, but no current reads


def at_rail(mv, rail_mv):
    return mv * 100 >= rail_mv * RAIL_PCT


def impedance_ohm(ua, mv):
    """V/I in Ohm, or -1 when the current is too small to tell. mv * 1000 < 2**30."""
    if ua < MIN_UA:
        return -1
    return mv * 1000 // ua


class Contact:
    def __init__(self, rail_mv):
        self.rail_mv = rail_mv
        self._rail_x = rail_mv * RAIL_PCT  # at the rail: mv * 100 >= this (once, not per tick)
        self.reset()

    def reset(self):
        self.contact = False
        self.impedance_ohm = None  # last V/I estimate, None when there is none
        self.at_rail = False
        self.kind = NO_INFO
        self._making = False
        self._make_t0 = 0

    def classify(self, level_ua, ua, mv):
        if level_ua < MIN_LEVEL_UA:
            return NO_INFO
        if ua >= MIN_UA:
            return MEASURED
        if mv < MIN_MV or mv * 100 >= self._rail_x:
            return OPEN
        return SUSPECT

    # @native  (machine code on a board: tools/build_mpy.py)
    def update(self, now_ms, level_ua, ua, mv):
        """One sense sample taken while the stage drove level_ua. Returns the contact decision.
        Every tick while playing: classify() and at_rail() are inlined (no method hops)."""
        if level_ua < MIN_LEVEL_UA:
            self.kind = NO_INFO
            self.at_rail = False
            return self.contact
        rail = mv * 100 >= self._rail_x
        self.at_rail = rail
        if ua < MIN_UA:
            if mv < MIN_MV or rail:
                self.kind = OPEN
                self.impedance_ohm = None
                self.contact = False
                self._making = False
                return False
            # A voltage the current sense cannot explain: no impedance, so no evidence of
            # skin (DESIGN 4.5): contact is off (the output stops, the probes go on) while the
            # supervisor times it out as a sense mismatch (500 ms). A dead sense may hide any
            # current (a stuck DAC into a low load): nothing keeps driving on such a sample.
            self.kind = SUSPECT
            self.impedance_ohm = None
            self.contact = False
            self._making = False
            return False
        self.kind = MEASURED
        z = mv * 1000 // ua
        self.impedance_ohm = z
        if self.contact:
            if z < Z_BREAK_MIN or z > Z_BREAK_MAX:
                self.contact = False
                self._making = False
                return False
            return True
        if Z_MAKE_MIN <= z <= Z_MAKE_MAX:
            if not self._making:
                self._making = True
                self._make_t0 = now_ms
            elif clock.ticks_diff(now_ms, self._make_t0) >= MAKE_MS:
                self.contact = True
                self._making = False
                return True
        else:
            self._making = False
        return False


class ProbeTimer:
    """When the next contact-probe pulse is due: one every PROBE_PERIOD_MS while not in contact.
    The pulse itself (PROBE_UA for PROBE_SETTLE_US, then a read) is driven by the supervisor."""

    def __init__(self):
        self._last = 0
        self._any = False

    def reset(self):
        self._any = False

    def due(self, now_ms):
        if not self._any:
            return True
        return clock.ticks_diff(now_ms, self._last) >= PROBE_PERIOD_MS

    def fired(self, now_ms):
        self._last = now_ms
        self._any = True
