# Current and electrode-voltage sense through two ADC channels, oversampled into buffers made
# once. Conversions are fixed-point with every product below 2**30, so a read allocates nothing.
from array import array


def scale_for(fs):
    """(mul, shift) with value = counts * mul >> shift for counts 0..65535 and fs at 65535."""
    shift = 0
    while ((fs << (shift + 1)) // 65535) < 16384 and shift < 24:
        shift += 1
    return (fs << shift) // 65535, shift


class Sense:
    def __init__(self, adc_i, adc_v, ua_fs, mv_fs, oversample=4):
        if oversample < 1 or oversample > 16:
            raise ValueError("oversample: 1..16")
        self.adc_i = adc_i
        self.adc_v = adc_v
        self.ua_fs = ua_fs
        self.mv_fs = mv_fs
        self._mi, self._si = scale_for(ua_fs)
        self._mv, self._sv = scale_for(mv_fs)
        self.n = oversample
        self._bi = array("H", [0] * oversample)
        self._bv = array("H", [0] * oversample)
        self.raw_i = 0
        self.raw_v = 0
        self.ua = 0
        self.mv = 0

    # @native  (machine code on a board: tools/build_mpy.py)
    def read(self):
        """Sample both channels; sets ua, mv, raw_i, raw_v and returns ua."""
        n = self.n
        if n == 1:
            ri = self.adc_i.read_u16()
            rv = self.adc_v.read_u16()
            self.raw_i = ri
            self.raw_v = rv
            self.ua = (ri * self._mi) >> self._si
            self.mv = (rv * self._mv) >> self._sv
            return self.ua
        bi = self._bi
        bv = self._bv
        ai = self.adc_i
        av = self.adc_v
        for k in range(n):
            bi[k] = ai.read_u16()
            bv[k] = av.read_u16()
        si = 0
        sv = 0
        for k in range(n):
            si += bi[k]
            sv += bv[k]
        self.raw_i = si // n
        self.raw_v = sv // n
        self.ua = (self.raw_i * self._mi) >> self._si
        self.mv = (self.raw_v * self._mv) >> self._sv
        return self.ua
