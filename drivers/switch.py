# A digital enable line: the output switch (OUT_EN, pulled low in hardware) and the boost rail.


class Switch:
    def __init__(self, pin, active_high=True):
        self.pin = pin
        self._on = 1 if active_high else 0
        self.off()

    def on(self):
        self.pin(self._on)

    def off(self):
        self.pin(1 - self._on)

    def is_on(self):
        return self.pin() == self._on
