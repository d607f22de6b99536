# The current-controlled output stage: DAC -> V-to-I -> H-bridge -> output switch (OUT_EN),
# with the boost rail. Callers speak µA; codes exist only here and in the DAC driver.
from drivers import hbridge


class OutputStage:
    def __init__(self, dac, bridge, out_en, boost, ua_fs):
        self.dac = dac
        self.bridge = bridge
        self.out_en = out_en
        self.boost = boost
        self.ua_fs = ua_fs
        self._fs = dac.full_scale
        self.level_ua = 0  # what the stage is asked to drive now (0 when off or open)
        self.set_ua_req = 0  # the last set_ua request
        self.enabled = False
        self.dac_error = False
        self.off()

    @property
    def polarity(self):
        return self.bridge.polarity

    def code_for(self, ua):
        # ua <= 1100 and full scale <= 65535: the product stays below 2**30.
        if ua <= 0:
            return 0
        return ua * self._fs // self.ua_fs

    def set_ua(self, ua):
        """Set the current; the DAC driver clamps to the ceiling in codes. Raises OSError on a
        DAC bus error (the supervisor latches DAC)."""
        self.set_ua_req = ua
        code = self.dac.set_code(self.code_for(ua))
        self._update_level(code)

    def _update_level(self, code):
        if self.enabled and self.bridge.polarity != hbridge.OPEN:
            self.level_ua = code * self.ua_fs // self._fs
        else:
            self.level_ua = 0

    def set_polarity(self, pol):
        self.bridge.set(pol)
        self._update_level(self.dac.code)

    def enable(self):
        self.boost.on()
        self.out_en.on()
        self.enabled = True
        self._update_level(self.dac.code)

    def off(self):
        """OUT_EN low first, then DAC zero, then bridge open. Never raises."""
        self.out_en.off()
        self.enabled = False
        self.level_ua = 0
        self.set_ua_req = 0
        try:
            self.dac.zero()
        except OSError:
            self.dac_error = True
        self.bridge.open()

    def shutdown(self):
        """Power down: off, and the boost rail too."""
        self.off()
        self.boost.off()
