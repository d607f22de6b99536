# Output polarity through an H-bridge: two legs, never both high (break-before-make: the leg
# that is on goes low before the other goes high).
from micropython import const

POS = const(1)
NEG = const(-1)
OPEN = const(0)


class HBridge:
    def __init__(self, pin_a, pin_b):
        self.a = pin_a
        self.b = pin_b
        pin_a(0)
        pin_b(0)

    def driving(self):
        """What the legs drive now, read from the pins (also when a PIO or RMT drives them)."""
        a = self.a()
        b = self.b()
        if a and not b:
            return POS
        if b and not a:
            return NEG
        return OPEN

    def open(self):
        self.a(0)
        self.b(0)

    def set(self, pol):
        if pol == POS:
            self.b(0)
            self.a(1)
        elif pol == NEG:
            self.a(0)
            self.b(1)
        else:
            self.a(0)
            self.b(0)
