# The current-controlled output stage: DAC -> V-to-I -> H-bridge -> output switch (OUT_EN),
# with the boost rail. Callers speak µA; codes exist only here and in the DAC driver.
# What the stage drives now is read from the pins (OUT_EN, the legs), so it is true also while
# a hardware pulse engine owns them.
# The boost rail (20 V, BOOST_EN) is up only around output: enable() brings it up and waits its
# settle time (boost_settle_us, the board's BOOST_SETTLE_MS) before OUT_EN goes high; off()
# leaves it up (a pause, a contact probe); shutdown() takes it down (soft-off, idle, fault).
from micropython import const

from drivers import clock, hbridge

_SETTLE_STEP_US = const(500)  # the settle wait in short sleeps (a tick's waits stay < 1 ms)


class OutputStage:
    def __init__(self, dac, bridge, out_en, boost, ua_fs):
        self.dac = dac
        self.bridge = bridge
        self.out_en = out_en
        self.boost = boost
        self.ua_fs = ua_fs
        self._fs = dac.full_scale
        self.set_ua_req = 0  # the last set_ua request
        self.dac_error = False
        self.engine = None  # a pulse engine that may own OUT_EN and the legs (board sets it)
        self.boost_settle_us = 0  # the rail's settle time after BOOST_EN (the board sets it)
        self._boost_ok = False  # the rail is up and has settled
        self._boost_t0 = clock.ticks_us()
        self.off()

    # methods, not properties: a property makes every attribute store on the instance look
    # through the class first on MicroPython (3.6x slower on an RP2040)
    def driving(self):
        """POS, NEG or OPEN: what the legs drive now (read from the pins)."""
        return self.bridge.driving()

    def is_enabled(self):
        return self.out_en.is_on()

    def driven_ua(self):
        """What the stage drives now (uA): the DAC level while OUT_EN is on and a leg drives."""
        if not self.out_en.is_on() or self.bridge.driving() == hbridge.OPEN:
            return 0
        return self.dac.code * self.ua_fs // self._fs

    def dac_cua(self):
        """The level the DAC's code sets, in 10 nA units (what charge is counted with)."""
        x = self.dac.code * self.ua_fs  # <= 65535 * 1100: below 2**30
        fs = self._fs
        return (x // fs) * 100 + (x % fs) * 100 // fs

    def code_for(self, ua):
        # ua <= 1100 and full scale <= 65535: the product stays below 2**30.
        if ua <= 0:
            return 0
        return ua * self._fs // self.ua_fs

    def set_ua(self, ua):
        """Set the current; the DAC driver clamps to the ceiling in codes. Raises OSError on a
        DAC bus error (the supervisor latches DAC)."""
        self.set_ua_req = ua
        self.dac.set_code(self.code_for(ua))

    def set_polarity(self, pol):
        self.bridge.set(pol)

    def boost_on(self):
        """The compliance rail up: BOOST_EN high if it is low, then wait until it has been up
        for boost_settle_us (returns at once once settled). No allocation."""
        boost = self.boost
        if self._boost_ok and boost.is_on():
            return
        if not boost.is_on():
            boost.on()
            self._boost_t0 = clock.ticks_us()
        settle = self.boost_settle_us
        left = settle - clock.ticks_diff(clock.ticks_us(), self._boost_t0)
        while left > 0:
            clock.sleep_us(left if left < _SETTLE_STEP_US else _SETTLE_STEP_US)
            left = settle - clock.ticks_diff(clock.ticks_us(), self._boost_t0)
        self._boost_ok = True

    def enable(self):
        """OUT_EN high, the rail up (and settled) first."""
        self.boost_on()
        self.out_en.on()

    def off(self):
        """OUT_EN low first, then DAC zero, then bridge open. Never raises."""
        eng = self.engine
        if eng is not None and eng.running:
            eng.stop()  # takes OUT_EN and the legs back from the hardware, low
        self.out_en.off()
        self.set_ua_req = 0
        try:
            self.dac.zero()
        except OSError:
            self.dac_error = True
        self.bridge.open()

    def shutdown(self):
        """No output to come (soft-off, idle, fault): off, the boost rail down and the DAC in
        its low-power mode. Never raises."""
        self.off()
        self.boost.off()
        self._boost_ok = False
        try:
            self.dac.sleep()  # the DAC's low-power mode (MCP4725: power-down, 1 kOhm to ground)
        except OSError:
            self.dac_error = True
