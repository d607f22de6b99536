# What the pulse engine played, counted: periods since the last boundary the engine confirmed,
# times the exact phase durations, times the level the DAC code really sets, per polarity; a
# period cut by a stop adds what its phases played. The Player (waveforms/player.py) is a Tally:
# these methods use its state (_t0, _per, _ph, _dead, _v, _mono, _alt, _in, _in_hold, _paused,
# _flip, _lvl_c, plan) and run on the tick path: integers only, every product below 2**30, no
# allocation.
from micropython import const

from drivers import clock

_SIDE_MAX_US = const(9000000)  # one _side() span: 110000 (10 nA) * 9000 ms < 2**30


def batch_for(phase_us):
    """Phases of phase_us settled in one product (>= 1)."""
    k = _SIDE_MAX_US // phase_us
    return k if k > 1 else 1


class Tally:
    """Charge per polarity. Whole phases are counted per leg (_qp, _qn) at the level and phase
    length they were played with, and turned into charge (settle()) only when the level or the
    plan changes, when a count reaches _qmax, or when a reader asks: a poll costs one count,
    not a product per period. No properties here or in the Player: on MicroPython a class with
    a property makes every attribute store on its instances look through the class first
    (measured on an RP2040: 22.5 us a store instead of 6.2)."""

    def _reset_counters(self):
        self.periods_played = 0
        self.flips = 0
        self.deadman_trips = 0
        self.segments_played = 0
        # charge per polarity, as of the last settle(): uC + nC (< 1000); kept as uC +
        # 0.01 nC (< 100000) + 0.01 pC (< 1000) so that no int grows past 2**30
        self.pos_uc = 0
        self.pos_nc = 0
        self._pos_c = 0
        self._pos_r = 0
        self.neg_uc = 0
        self.neg_nc = 0
        self._neg_c = 0
        self._neg_r = 0
        self._qp = 0  # whole phases played on the positive / negative leg, not yet settled
        self._qn = 0

    def charge_nc(self):
        """(positive, negative) delivered charge in nC (off the hot path)."""
        self.settle()
        return (self.pos_uc * 1000 + self.pos_nc, self.neg_uc * 1000 + self.neg_nc)

    # @native  (machine code on a board: tools/build_mpy.py)
    def settle(self):
        """The phases counted so far into pos_uc/pos_nc/neg_uc/neg_nc (read them after this
        call). Also called before the level or the phase length changes. No allocation."""
        ph = self._ph
        m = self._qmax
        q = self._qp
        while q > 0:
            k = q if q < m else m
            self._side(False, ph * k)
            q -= k
        self._qp = 0
        q = self._qn
        while q > 0:
            k = q if q < m else m
            self._side(True, ph * k)
            q -= k
        self._qn = 0

    # @native  (machine code on a board: tools/build_mpy.py)
    def _account(self, now, cut):
        """Count the periods completed since _t0 (and, with cut, charge the part of the current
        one played); _t0 moves to the start of the current period."""
        e = clock.ticks_diff(now, self._t0)
        if e < 0 or self._paused:
            return  # nothing plays in the pause
        per = self._per
        n = e // per
        if n > 0:
            i = self._in
            if i and i <= n and (self._flip or self._in_hold):
                # the handed-over word lands among them: what it changes happens there
                self._t0 = clock.ticks_add(self._t0, i * per)
                self._in = 0
                self._land(i)
                if self._paused:
                    return
                n -= i
                e -= i * per
            elif i:
                self._in = 0 if i <= n else i - n  # a keep-alive: nothing changes where it lands
            if n > 0:
                self._count(n)
                self._t0 = clock.ticks_add(self._t0, n * per)  # n * per <= e < 2**30
                e -= n * per
        if cut and e > 0:
            # the cut period: what its phases played before the stop
            ph = self._ph
            a = e if e < ph else ph
            self._side(self._v == 2, a)
            if not self._mono:
                b = e - ph - self._dead
                if b > ph:
                    b = ph
                if b > 0:
                    self._side(self._v == 1, b)
                if a > b:
                    self._owe = self._v  # the next start begins on the other leg: repaid

    def _land(self, k):
        # k periods, the last of which ends where the handed-over cfg takes effect
        self._count(k)
        if self._flip:
            self._flip = False
            self._v = 3 - self._v
            self._alt_left = self.plan.alt_periods
            self.flips += 1
        if self._in_hold:
            self._paused = True  # the engine waits at this boundary: _at_hold() follows

    # @native  (machine code on a board: tools/build_mpy.py)
    def _count(self, k):
        # k whole periods at one level and polarity
        self.periods_played += k
        if self._mono:
            self.segments_played += k + k
            if self._v == 2:
                self._qn += k
            else:
                self._qp += k
            if self._alt:
                self._alt_left -= k
        else:
            self.segments_played += k << 2
            self._qp += k
            self._qn += k
        if self._qp >= self._qmax or self._qn >= self._qmax:
            self.settle()

    # @native  (machine code on a board: tools/build_mpy.py)
    def _side(self, neg, d):
        # The level the DAC code really sets (10 nA units, <= 110000) times d us (<= 9e6),
        # added to one polarity's uC + 0.01 nC + 0.01 pC; every product below 2**30.
        lc = self._lvl_c
        if lc <= 0 or d <= 0:
            return
        q = lc * (d // 1000)
        r = lc * (d % 1000)
        if neg:
            r += self._neg_r
            c = self._neg_c + q + r // 1000
            self._neg_r = r % 1000
            self.neg_uc += c // 100000
            c %= 100000
            self._neg_c = c
            self.neg_nc = c // 100
        else:
            r += self._pos_r
            c = self._pos_c + q + r // 1000
            self._pos_r = r % 1000
            self.pos_uc += c // 100000
            c %= 100000
            self._pos_c = c
            self.pos_nc = c // 100
