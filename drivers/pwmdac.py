# A PWM output behind an RC filter used as a 16-bit DAC (the RP2040 has no DAC).
from drivers.dac import DAC


class PWMDAC(DAC):
    resolution = 16
    full_scale = 65535

    def __init__(self, pwm, max_code=65535):
        super().__init__(max_code)
        self.pwm = pwm
        self.error = False
        pwm.duty_u16(0)

    def _write(self, code):
        self.pwm.duty_u16(code)
