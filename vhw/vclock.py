# A device-like virtual clock: ticks wrap at 2**30 like a 32-bit MicroPython port, sleeping
# advances virtual time and fires due machine.Timer callbacks (and the devices: PIO state
# machines, RMT channels) at their exact instants.
# Time is kept only as wrapped tick counters (plus a host-side seconds count for traces), so
# nothing here grows into a heap-allocated big int on MicroPython.

_MASK = (1 << 30) - 1  # ticks run 0..2**30-1 and wrap
_HALF = 1 << 29
HOOK_MIN_US = 1000


class StopSimulation(BaseException):
    """Raised from an idle hook to end a simulated run; not an Exception, so the app's
    `except Exception` never swallows it."""


class WatchdogReset(BaseException):
    """The virtual watchdog expired: the board resets."""


def ticks_add(t, d):
    # Wrap-safe without ever forming a value >= 2**30 (a heap object on 32-bit MicroPython).
    y = (t - _MASK) + d  # t + d - MASK
    if y > 0:
        return y - 1  # t + d wrapped past 2**30
    r = y + _MASK  # t + d
    if r < 0:
        r = (r + _MASK) + 1
    return r


def ticks_diff(a, b):
    d = a - b
    if d >= _HALF:
        return (d - _MASK) - 1
    if d < -_HALF:
        return (d + _MASK) + 1
    return d


class VClock:
    def __init__(self, start_us=0):
        # Start close to the wrap by default in tests that ask for it (start_us).
        self._us = start_us & _MASK
        self._ms = (start_us // 1000) & _MASK
        self._sub = start_us % 1000  # µs not yet counted in _ms
        self._secs = 0  # host-side absolute time for traces: whole seconds ...
        self._secs_us = 0  # ... plus µs into the current second
        self.timers = []  # objects with .armed, .due_us (ticks), .fire(): machine.Timer
        # Hardware that runs by itself (vhw.rp2 state machines, vhw.esp32 RMT channels): the
        # same protocol; at the same µs they fire before the timers. While hold_devices is
        # True, advance() leaves them alone; they catch up, in order, at the first advance()
        # after it is cleared (tests that heap_lock a control tick set it: the fakes allocate).
        self.devices = []
        self.hold_devices = False
        self.idle_hook = None
        self.watchdogs = []  # objects with .check(now_ms) that may raise WatchdogReset
        self.in_hook = False

    # -- the six functions of the device's time module --
    def ticks_us(self):
        return self._us

    def ticks_ms(self):
        return self._ms

    def ticks_add(self, t, d):
        return ticks_add(t, d)

    def ticks_diff(self, a, b):
        return ticks_diff(a, b)

    def sleep_ms(self, n):
        self.sleep_us(n * 1000)

    def sleep_us(self, n):
        # The hook marks the app's sleep between control ticks (about 2 ms); the short settle
        # waits inside a tick (a probe pulse, a DAC settling) do not call it.
        hook = self.idle_hook
        if hook is not None and n >= HOOK_MIN_US and not self.in_hook:
            self.in_hook = True
            try:
                hook()
            finally:
                self.in_hook = False
        self.advance(n)

    # -- virtual time --
    def now_us_abs(self):
        """Absolute virtual µs since start (host side: may be a big int on MicroPython)."""
        return self._secs * 1000000 + self._secs_us

    def _step(self, d):
        if d <= 0:
            return
        self._us = ticks_add(self._us, d)
        sub = self._sub + d
        if sub >= 1000:
            self._ms = ticks_add(self._ms, sub // 1000)
            sub %= 1000
        self._sub = sub
        s = self._secs_us + d
        if s >= 1000000:
            self._secs += s // 1000000
            s %= 1000000
        self._secs_us = s
        for w in self.watchdogs:
            w.check(self._ms)

    def advance(self, n):
        """Move time forward n µs, firing every timer that falls due on the way, in order."""
        remaining = n
        while True:
            nxt = None
            best = remaining
            for t in self.timers:
                if not t.armed:
                    continue
                dt = ticks_diff(t.due_us, self._us)
                if dt < 0:
                    dt = 0
                if dt <= best:
                    best = dt
                    nxt = t
            if not self.hold_devices:
                for t in self.devices:
                    if not t.armed:
                        continue
                    dt = ticks_diff(t.due_us, self._us)
                    if dt < 0:
                        dt = 0
                    if dt <= best:  # a device wins a tie with a timer
                        best = dt
                        nxt = t
            # A watchdog expires at its own instant, not at the end of a long sleep.
            for w in self.watchdogs:
                dms = ticks_diff(ticks_add(w.last, w.timeout + 1), self._ms)
                if dms <= 0:
                    w.check(self._ms)  # due now: raises WatchdogReset
                    continue
                if dms < 1000000:  # keeps dms * 1000 a small int
                    dw = dms * 1000 - self._sub
                    if dw < best:
                        best = dw
                        nxt = None
            self._step(best)
            remaining -= best
            if nxt is not None:
                nxt.fire()
            elif remaining <= 0:
                return
