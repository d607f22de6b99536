# Physics of the reference output stage on the sim board, wired to the fake machine:
#   MCP4725 (I2C) -> V-to-I (UA_FS at full scale) -> H-bridge (POL_A/POL_B) -> OUT_EN -> load
# with a compliance rail (BOOST_EN), a current-sense ADC, an electrode-voltage ADC and a
# battery ADC. The load is what the scenario says (contact, impedance); faults change the model.
# Runs on CPython and on MicroPython (the simulator runs on both): integers only.
from vhw.machine import I2CDevice

FAULTS = (
    "dac_stuck_high",
    "sense_open",
    "sense_stuck_high",
    "short_circuit",
    "i2c_error",
    "battery_low",
    "loop_stall",
)

SHORT_OHM = 100
BATTERY_MV = 3900
BATTERY_LOW_MV = 3100


class MCP4725Model(I2CDevice):
    """The DAC chip: fast-write and write-DAC-register commands; holds its code on a NACK."""

    def __init__(self, bus, addr, world):
        super().__init__(bus, addr)
        self.code = 0
        self.pd = 0
        self.world = world

    def write(self, buf):
        self.writes += 1
        c = buf[0] >> 6 if len(buf) == 3 else 0
        if len(buf) >= 2 and (buf[0] & 0xC0) == 0:
            pd = (buf[0] >> 4) & 3
            self.pd = pd  # power-down mode (0: normal); a fast write sets it either way
            code = 0 if pd else ((buf[0] & 0x0F) << 8) | buf[1]
        elif len(buf) >= 3 and c in (1, 3):
            code = (buf[1] << 4) | (buf[2] >> 4)
        else:
            return
        if code != self.code:
            self.code = code
            self.world.notify("dac", 0x60, code)

    def read_into(self, buf):
        # status byte, DAC register (2), EEPROM (2); written in place: the supervisor reads
        # the chip back from its control tick, which must not allocate
        n = len(buf)
        code = self.code
        for i in range(n if n < 5 else 5):
            if i == 0:
                buf[0] = 0xC0 | (self.pd << 1)  # RDY, POR, PD1 PD0
            elif i == 1:
                buf[1] = code >> 4
            elif i == 2:
                buf[2] = (code & 0x0F) << 4
            else:
                buf[i] = 0


class StageModel:
    def __init__(self, machine, board, seed=1):
        w = machine.world
        self.world = w
        self.board = board
        P = board.PINS
        self.p_en = P["OUT_EN"]
        self.p_boost = P["BOOST_EN"]
        self.p_a = P["POL_A"]
        self.p_b = P["POL_B"]
        self.dac = MCP4725Model(board.I2C_ID, board.MCP4725_ADDR, w)
        # the optional OLED, when the board file says one is fitted (vhw/ssd1306.py)
        self.oled = None
        if getattr(board, "DISPLAY_ADDR", None) is not None:
            from vhw.ssd1306 import SSD1306Model

            self.oled = SSD1306Model(board.I2C_ID, board.DISPLAY_ADDR, w)
        self.full_scale = 4095
        self.ua_fs = board.UA_FS
        self.rail_mv = board.RAIL_MV
        self.sense_ua_fs = board.SENSE_UA_FS
        self.sense_mv_fs = board.SENSE_MV_FS
        self.bat_mv_fs = board.BAT_MV_FS
        self.contact = False
        self.impedance_ohm = 0
        self.faults = {}
        for f in FAULTS:
            self.faults[f] = False
        self.noise_counts = 2  # ± ADC counts of noise
        self._rng = seed & 0xFFFF
        w.adc[P["SENSE_I"]] = self._read_i
        w.adc[P["SENSE_V"]] = self._read_v
        w.adc[P["BATTERY"]] = self._read_bat
        w.inputs[P["BTN_POWER"]] = 1
        w.inputs[P["BTN_MODE"]] = 1
        w.inputs[P["BTN_PLUS"]] = 1
        w.inputs[P["BTN_MINUS"]] = 1

    # -- scenario controls --
    def set_load(self, contact, impedance_ohm=20000):
        self.contact = bool(contact)
        self.impedance_ohm = int(impedance_ohm) if contact else 0
        self.world.notify("load", 0, self.impedance_ohm)

    def set_fault(self, name, on=True):
        if name not in self.faults:
            raise ValueError("fault: unknown %r" % (name,))
        self.faults[name] = bool(on)
        if name == "i2c_error":
            self.dac.nack = bool(on)
        self.world.notify("fault", 0, 1 if on else 0)

    # -- physics --
    def load_ohm(self):
        """The load seen by the output now, 0 for open circuit."""
        if self.faults["short_circuit"]:
            return SHORT_OHM
        if self.contact:
            return self.impedance_ohm
        return 0

    def source_ua(self):
        """What the V-to-I converter tries to push (before compliance), by the DAC code."""
        code = self.full_scale if self.faults["dac_stuck_high"] else self.dac.code
        return code * self.ua_fs // self.full_scale

    def polarity(self):
        lv = self.world.levels
        a = lv.get(self.p_a, 0)
        b = lv.get(self.p_b, 0)
        if a and not b:
            return 1
        if b and not a:
            return -1
        return 0

    def driving(self):
        lv = self.world.levels
        return lv.get(self.p_en, 0) and lv.get(self.p_boost, 0) and self.polarity() != 0

    def measured_ua(self):
        """The true signed current through the load (what a scope on the load shows)."""
        if not self.driving():
            return 0
        z = self.load_ohm()
        if z <= 0:
            return 0
        i = self.source_ua()
        limit = self.rail_mv * 1000 // z  # compliance: V = I * Z cannot exceed the rail
        if i > limit:
            i = limit
        return i * self.polarity()

    def electrode_mv(self):
        if not self.driving():
            return 0
        z = self.load_ohm()
        if self.source_ua() == 0:
            return 0
        if z <= 0:
            return self.rail_mv  # open circuit: the source rises to the rail
        mv = abs(self.measured_ua()) * z // 1000
        return mv if mv < self.rail_mv else self.rail_mv

    def _noise(self):
        self._rng = (self._rng * 75 + 74) % 65537
        n = self.noise_counts
        return (self._rng % (2 * n + 1)) - n if n else 0

    def _read_i(self):
        if self.faults["sense_open"]:
            return 0
        if self.faults["sense_stuck_high"]:
            return 65535
        return abs(self.measured_ua()) * 65535 // self.sense_ua_fs + self._noise()

    def _read_v(self):
        # mV * 65535 would pass 2**30: scale through 32767.
        return self.electrode_mv() * 32767 // (self.sense_mv_fs // 2) + self._noise()

    def _read_bat(self):
        mv = BATTERY_LOW_MV if self.faults["battery_low"] else BATTERY_MV
        return mv * 32767 // (self.bat_mv_fs // 2)
