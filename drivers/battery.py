# Battery voltage through a resistor divider on an ADC pin.
from drivers.sense import scale_for


class Battery:
    def __init__(self, adc, mv_fs):
        self.adc = adc
        self._m, self._s = scale_for(mv_fs)
        self.mv = 0

    def read_mv(self):
        self.mv = (self.adc.read_u16() * self._m) >> self._s
        return self.mv
