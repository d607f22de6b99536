# A push button, polled from the loop and debounced (no interrupts: contact bounce would fire
# them in bursts). Active low with a pull-up: pin() == 0 is pressed.
from micropython import const

from drivers import clock

NONE = const(0)
SHORT = const(1)
LONG = const(2)


class Button:
    debounce_ms = 30
    long_press_ms = 1000

    def __init__(self, pin):
        self.pin = pin
        self._raw = 1
        self._since = clock.ticks_ms()  # when _raw last changed
        self.pressed = False  # debounced state
        self._down_at = 0
        self._long_sent = False

    def poll(self, now_ms):
        """Call every loop; returns NONE, SHORT (on release) or LONG (once, while held)."""
        raw = self.pin()
        if raw != self._raw:
            self._raw = raw
            self._since = now_ms
            return NONE
        if clock.ticks_diff(now_ms, self._since) < self.debounce_ms:
            return NONE
        down = raw == 0
        if down and not self.pressed:
            self.pressed = True
            self._down_at = now_ms
            self._long_sent = False
            return NONE
        if down:
            if not self._long_sent and (
                clock.ticks_diff(now_ms, self._down_at) >= self.long_press_ms
            ):
                self._long_sent = True
                return LONG
            return NONE
        if self.pressed:
            self.pressed = False
            if not self._long_sent:
                return SHORT
        return NONE

    def held_ms(self, now_ms):
        return clock.ticks_diff(now_ms, self._down_at) if self.pressed else 0
