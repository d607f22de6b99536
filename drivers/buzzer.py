# A piezo buzzer on a PWM pin. Patterns play from the loop without blocking: play() starts a
# pattern (a tuple of (freq_hz, on_ms, off_ms) made once by the caller), update() advances it.
from drivers import clock

_DUTY = 32768


class Buzzer:
    def __init__(self, pwm):
        self.pwm = pwm
        self._pat = None
        self._i = 0
        self._on = False
        self._until = 0
        pwm.duty_u16(0)

    def play(self, pattern):
        self._pat = pattern
        self._i = 0
        self._start(clock.ticks_ms())

    def _start(self, now):
        pat = self._pat
        if pat is None or self._i >= len(pat):
            self.stop()
            return
        f, on_ms, _ = pat[self._i]
        if f > 0:
            self.pwm.freq(f)
            self.pwm.duty_u16(_DUTY)
        self._on = True
        self._until = clock.ticks_add(now, on_ms)

    def update(self, now_ms):
        pat = self._pat
        if pat is None or clock.ticks_diff(now_ms, self._until) < 0:
            return
        if self._on:
            self.pwm.duty_u16(0)
            self._on = False
            self._until = clock.ticks_add(now_ms, pat[self._i][2])
        else:
            self._i += 1
            self._start(now_ms)

    def busy(self):
        return self._pat is not None

    def stop(self):
        self.pwm.duty_u16(0)
        self._pat = None
        self._on = False
