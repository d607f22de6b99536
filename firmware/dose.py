# Dose accounting of one session and the balance extension's rule. The charge each side got is
# counted from the player's own per-segment counters (a sense sample every few ms would alias
# with the pulse train), in whole uC plus a nC remainder: integers only, allocation-free.
#
# The balance extension (DESIGN 5): when the program's steps are done and one side got less
# than 95 % of the other, that side's last position runs again until they match within 5 %.
# It never runs past the program's 30 min from its start (firmware/session.py checks the bound
# at every logic slot, whatever the step or phase). Not firmware/stepbalance.py: that module is
# the program validator's monophasic net-charge check (DESIGN 3), imported by programs.py.
from micropython import const

LEFT = const(0)
RIGHT = const(1)
CENTRE = const(2)
SIDES = ("left", "right")


def side_index(side):
    return LEFT if side == "left" else (RIGHT if side == "right" else CENTRE)


class Dose:
    def __init__(self):
        self.nc = [0, 0, 0]  # left, right, centre: nC below one uC
        self.uc = [0, 0, 0]  # whole uC
        self.max_ua = 0
        self._p_uc = 0
        self._p_nc = 0

    # @native  (machine code on a board: tools/build_mpy.py)
    def account(self, player, side_i, measured_ua):
        """Charge delivered since the last call, added to side side_i."""
        p = player
        p.settle()  # the phases counted so far into its charge figures
        uc = p.pos_uc + p.neg_uc
        nc = p.pos_nc + p.neg_nc
        if uc < self._p_uc or (uc == self._p_uc and nc < self._p_nc):
            d = uc * 1000 + nc  # the player restarted: its counters began again from zero
        else:
            d = (uc - self._p_uc) * 1000 + (nc - self._p_nc)
        self._p_uc = uc
        self._p_nc = nc
        if measured_ua > self.max_ua:
            self.max_ua = measured_ua
        n = self.nc[side_i] + d
        if n >= 1000:
            self.uc[side_i] += n // 1000
            n %= 1000
        self.nc[side_i] = n

    def balanced(self, low):
        """True when side `low` has at least 95 % of the other (compared in uC: uC x 100 stays
        far below 2**30 for any session)."""
        lo = self.uc[low]
        hi = self.uc[1 - low]
        return lo * 100 >= hi * 95 or hi == 0

    def short_side(self):
        """The side (LEFT/RIGHT) that got less than 95 % of the other, or -1."""
        left = self.uc[LEFT]
        right = self.uc[RIGHT]
        if left == 0 and right == 0:
            return -1
        low = LEFT if left < right else RIGHT
        if self.balanced(low):
            return -1
        return low

    def as_record(self):
        return {"left": self.uc[LEFT], "right": self.uc[RIGHT], "centre": self.uc[CENTRE]}


def extension_step(steps, low):
    """Index of the last step on side `low` (the position run again), or -1."""
    name = SIDES[low]
    last = -1
    for i in range(len(steps)):
        if steps[i]["side"] == name:
            last = i
    return last
