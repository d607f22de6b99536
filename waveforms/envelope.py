# The ramped "wave" envelope (DESIGN 3): the amplitude rises from a floor to the full level,
# holds, falls back and rests, over seconds, and repeats. Integer permille of the step's level.
#
# The control loop asks `env.level_ua(elapsed_ms, amp_ua)` each tick and hands the result to
# the supervisor, which applies soft start and the caps, then to Player.set_amplitude(). The
# player changes the level only at segment boundaries. Nothing here allocates once built
# (elapsed_ms must stay below 2**30: a step lasts minutes, not 12 days).
from micropython import const

PERMILLE = const(1000)
_MAX_MS = const(600000)  # one part of the envelope lasts at most 10 min


def _ms(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(name + ": not an integer")
    if v < lo or v > _MAX_MS:
        raise ValueError(name + ": outside %d..%d ms" % (lo, _MAX_MS))
    return v


class Envelope:
    """rise_ms (>= 1) from floor to 1000 permille, hold_ms at 1000, fall_ms (>= 1) back to the
    floor, rest_ms at the floor; floor_pm in 0..1000 permille."""

    def __init__(self, rise_ms, hold_ms, fall_ms, rest_ms=0, floor_pm=0):
        self.rise_ms = _ms("rise_ms", rise_ms, 1)
        self.hold_ms = _ms("hold_ms", hold_ms, 0)
        self.fall_ms = _ms("fall_ms", fall_ms, 1)
        self.rest_ms = _ms("rest_ms", rest_ms, 0)
        if isinstance(floor_pm, bool) or not isinstance(floor_pm, int):
            raise ValueError("floor_pm: not an integer")
        if floor_pm < 0 or floor_pm > PERMILLE:
            raise ValueError("floor_pm: outside 0..1000")
        self.floor_pm = floor_pm
        self._t1 = self.rise_ms
        self._t2 = self._t1 + self.hold_ms
        self._t3 = self._t2 + self.fall_ms
        self.cycle_ms = self._t3 + self.rest_ms

    def permille(self, elapsed_ms):
        """Envelope value at elapsed_ms (>= 0) since the step started, 0..1000."""
        t = elapsed_ms % self.cycle_ms
        lo = self.floor_pm
        span = PERMILLE - lo  # <= 1000; span * t < 1000 * 600000 < 2**30
        if t < self._t1:
            return lo + span * t // self._t1
        if t < self._t2:
            return PERMILLE
        if t < self._t3:
            return PERMILLE - span * (t - self._t2) // self.fall_ms
        return lo

    def level_ua(self, elapsed_ms, amp_ua):
        """amp_ua scaled by the envelope (amp_ua <= 1000 keeps the product below 2**30)."""
        return amp_ua * self.permille(elapsed_ms) // PERMILLE

    def max_slope_ua_s(self, amp_ua):
        """Steepest change in µA/s at amp_ua (rise or fall), rounded up; off the hot path."""
        span = amp_ua * (PERMILLE - self.floor_pm) // PERMILLE
        d = self.rise_ms if self.rise_ms < self.fall_ms else self.fall_ms
        return (span * 1000 + d - 1) // d


def from_step(step):
    """The Envelope of a program step; None for shapes other than "wave". A program file gives
    "ramp_s" (rise and fall, seconds) and "hold_s" (firmware/programs.py); an "envelope" object
    {"rise_ms", "hold_ms", "fall_ms", "rest_ms", "floor_pm"} sets every part (defaults: 2000,
    1000, 2000, 0, 200). Raises ValueError("field: reason")."""
    if step.get("shape") != "wave":
        return None
    e = step.get("envelope") or {}
    if not isinstance(e, dict):
        raise ValueError("envelope: an object expected")
    rise = e.get("rise_ms", 2000)
    hold = e.get("hold_ms", 1000)
    if "ramp_s" in step:
        rise = _s_to_ms("ramp_s", step["ramp_s"])
    if "hold_s" in step:
        hold = _s_to_ms("hold_s", step["hold_s"])
    return Envelope(
        rise,
        hold,
        e.get("fall_ms", rise),
        e.get("rest_ms", 0),
        e.get("floor_pm", 200),
    )


def _s_to_ms(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        raise ValueError(name + ": not a number")
    return int(v * 1000 + 0.5)
