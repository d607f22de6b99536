# The supervisor's slow checks (DESIGN 4.6), run in the app's slot 4 of 5 (40 Hz at a 5 ms
# tick), never on the every-tick path: the I2C DAC read back every BUS_CHECK_MS (a NACK
# latches DAC, also while its code does not change) and the battery every BAT_PERIOD_MS
# (BATTERY after BAT_COUNT reads under cut-off). Allocation-free (a buffer made once).
from micropython import const

from safety import faults

BUS_CHECK_MS = const(20)  # an I2C DAC is read back at most this often (slot 4: every 25 ms)
BAT_PERIOD_MS = const(100)
BAT_COUNT = const(3)


class Housekeeping:
    def __init__(self, sup):
        dac = sup.dac
        # I2C DAC: read one byte back. A read never changes the output, so it cannot race the
        # player's writes for the level (soft timer callbacks run between bytecodes, never
        # inside a bus transfer; boards with hard timer IRQs use no I2C DAC).
        self._i2c = dac.i2c if hasattr(dac, "i2c") and hasattr(dac, "addr") else None
        self._addr = getattr(dac, "addr", 0)
        self._buf = bytearray(1)
        self._bus_t0 = 0
        bat = sup.battery
        self._bat = bat if bat is not None and sup.bat_cutoff_mv > 0 else None
        self._cutoff = sup.bat_cutoff_mv
        self._bat_t0 = 0
        self._bat_have = False
        self.bat_n = 0
        # nothing to do on this board: the supervisor skips the call altogether
        self.any = self._i2c is not None or self._bat is not None

    def reset(self):
        self.bat_n = 0

    def run(self, sup, now_ms):
        """Both checks when due. True when a fault latched."""
        clk = sup.clock
        i2c = self._i2c
        if i2c is not None:
            d = clk.ticks_diff(now_ms, self._bus_t0)
            # a t0 'in the future' (the initial 0 just before the tick wrap) is due as well
            if d < 0 or d >= BUS_CHECK_MS:
                self._bus_t0 = now_ms
                try:
                    i2c.readfrom_into(self._addr, self._buf)
                except OSError:
                    return sup._latch(faults.DAC, now_ms)
        bat = self._bat
        if bat is not None:
            if self._bat_have and clk.ticks_diff(now_ms, self._bat_t0) < BAT_PERIOD_MS:
                return False
            self._bat_t0 = now_ms
            self._bat_have = True
            if bat.read_mv() < self._cutoff:
                self.bat_n += 1
                if self.bat_n >= BAT_COUNT:
                    return sup._latch(faults.BATTERY, now_ms)
            else:
                self.bat_n = 0
        return False

    def bus_ok(self):
        """Clear routine (output off): the DAC answers on its bus (True without an I2C DAC)."""
        if self._i2c is None:
            return True
        try:
            self._i2c.readfrom_into(self._addr, self._buf)
        except OSError:
            return False
        return True
