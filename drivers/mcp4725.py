# MCP4725 12-bit I2C DAC, written with the 2-byte fast-write command from a buffer made once.
from micropython import const

from drivers.dac import DAC

_FAST_WRITE = const(0x00)  # C2 C1 = 00, PD1 PD0 = 00 (normal mode)
_POWER_DOWN_1K = const(0x10)  # PD1 PD0 = 01: output pulled to ground through 1 kOhm


class MCP4725(DAC):
    resolution = 12
    full_scale = 4095

    def __init__(self, i2c, addr=0x60, max_code=4095):
        super().__init__(max_code)
        self.i2c = i2c
        self.addr = addr
        self.error = False
        self._buf = bytearray(2)

    def _write(self, code):
        buf = self._buf
        buf[0] = _FAST_WRITE | ((code >> 8) & 0x0F)
        buf[1] = code & 0xFF
        try:
            self.i2c.writeto(self.addr, buf)
        except OSError:
            # Surfaced as a driver fault: the supervisor latches DAC on it.
            self.error = True
            raise
        self.error = False

    def sleep(self):
        """Power-down mode: the output pulled to ground through 1 kOhm and the chip drawing
        about 0.06 uA instead of 0.2-0.4 mA (datasheet); a fast write (set_code) wakes it."""
        buf = self._buf
        buf[0] = _POWER_DOWN_1K
        buf[1] = 0
        try:
            self.i2c.writeto(self.addr, buf)
        except OSError:
            self.error = True
            raise
        self.code = 0
