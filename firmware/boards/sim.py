# The simulated board: the reference output stage with its MCP4725 on I2C, modelled by
# vhw.stage.StageModel, and the optional SSD1306 OLED fitted (vhw.ssd1306). Pin numbers follow
# the Pico's so traces read the same.
NAME = "sim"

PINS = {
    "I2C_SDA": 4,
    "I2C_SCL": 5,
    "POL_A": 10,
    "POL_B": 11,
    "OUT_EN": 12,
    "BOOST_EN": 13,
    "BUZZER": 14,
    "LED": 25,
    "BTN_POWER": 2,
    "BTN_MODE": 3,
    "BTN_PLUS": 6,
    "BTN_MINUS": 7,
    "SENSE_I": 26,
    "SENSE_V": 27,
    "BATTERY": 28,
}
I2C_ID = 0
I2C_FREQ = 400000
MCP4725_ADDR = 0x60
DISPLAY_ADDR = 0x3C  # an SSD1306 128x64 OLED is fitted (vhw/ssd1306.py models it)
PULSE_ENGINE = "pio"  # the RP2040's PIO, played by vhw.rp2 on the virtual clock
LED_KIND = "pin"

UA_FS = 1100
R_SET_OHM = 3000
CEILING_UA = 1000
SENSE_UA_FS = 1210
SENSE_MV_FS = 22000
# As the Pico (the simulator plays the Pico's timing).
SENSE_OVERSAMPLE = 1
RAIL_MV = 20000
BOOST_SETTLE_MS = 2  # as the Pico
BAT_MV_FS = 6600
BAT_CUTOFF_MV = 3300
WDT_TIMEOUT_MS = 500
# The watchdog-armed marker in WATCHDOG_SCRATCH3, as on the Pico (vhw/scratch.py keeps it
# through a WDT_RESET of the virtual board). No REASON register: machine.reset() on the
# virtual board is a BoardReset, never a forced watchdog reboot.
WDT_SCRATCH = 0x40058018
PROBE_AREA_MM2 = {"disk": 100, "globe": 50, "qtip": 7}
OFF_SLEEP = "lightsleep"  # as the Pico (the fake advances the virtual clock)


def build(machine):
    import sys

    from drivers.mcp4725 import MCP4725
    from firmware.boards import hw as _hw

    this = sys.modules[__name__]
    Pin = machine.Pin
    i2c = machine.I2C(I2C_ID, scl=Pin(PINS["I2C_SCL"]), sda=Pin(PINS["I2C_SDA"]), freq=I2C_FREQ)
    dac = MCP4725(i2c, MCP4725_ADDR, max_code=_hw.dac_ceiling(this, 4095))
    return _hw.assemble(machine, this, dac, i2c)
