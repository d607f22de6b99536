# The ESP32's built-in 8-bit DAC (GPIO25/26) through machine.DAC.
from drivers.dac import DAC


class ESP32DAC(DAC):
    resolution = 8
    full_scale = 255

    def __init__(self, dac, max_code=255):
        super().__init__(max_code)
        self.dac = dac
        self.error = False
        dac.write(0)

    def _write(self, code):
        self.dac.write(code)
