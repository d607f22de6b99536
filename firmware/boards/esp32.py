# ESP32-WROOM-32 DevKitC wired to the reference output stage, using the built-in 8-bit DAC on
# GPIO25. The only place with ESP32 pin numbers. Sense inputs are on ADC1 (ADC2 is unusable
# while Wi-Fi runs); strapping pins (0, 2, 5, 12, 15) are avoided.
NAME = "esp32"

PINS = {
    "I2C_SDA": 21,  # optional SSD1306 (and an MCP4725 if DAC_KIND = "mcp4725")
    "I2C_SCL": 22,
    "DAC": 25,  # built-in DAC channel 1
    "POL_A": 16,
    "POL_B": 17,
    "OUT_EN": 18,
    "BOOST_EN": 19,
    "BUZZER": 23,
    "LED": 33,  # one WS2812
    "BTN_POWER": 4,
    "BTN_MODE": 13,
    "BTN_PLUS": 14,
    "BTN_MINUS": 27,
    "SENSE_I": 36,  # ADC1_CH0 (VP)
    "SENSE_V": 39,  # ADC1_CH3 (VN)
    "BATTERY": 34,  # ADC1_CH6
}
I2C_ID = 0
I2C_FREQ = 400000
DAC_KIND = "builtin"  # or "mcp4725"
MCP4725_ADDR = 0x60
# Pulse edges: RMT channels 0 (POL_A) and 1 (POL_B); hardware timer 0 is the OUT_EN deadman.
PULSE_ENGINE = "rmt"
LED_KIND = "neopixel"

UA_FS = 1100
R_SET_OHM = 3000
CEILING_UA = 1000
SENSE_UA_FS = 1210
SENSE_MV_FS = 22000
# The ESP32's ADC is noisy: four conversions per channel, averaged.
SENSE_OVERSAMPLE = 4
RAIL_MV = 20000
# The boost converter reaches the rail this long after BOOST_EN (soft start into a few uF of
# output capacitance, no load while OUT_EN is low): OUT_EN waits for it. Measure it on your
# board (BOOST_EN to the rail at 90 % on a scope) and set it here. BOOST_EN is low whenever no
# output is to come (soft-off, idle, fault).
BOOST_SETTLE_MS = 2
BAT_MV_FS = 6600
BAT_CUTOFF_MV = 3300
WDT_TIMEOUT_MS = 500
# The watchdog-armed marker (DESIGN 4.7) in the RTC's user memory (machine.RTC().memory(),
# RTC_NOINIT: kept through a watchdog reset). machine.reset() is a HARD_RESET on the ESP32.
WDT_MARK_RTC = True
PROBE_AREA_MM2 = {"disk": 100, "globe": 50, "qtip": 7}
# Soft-off polls POWER every 50 ms with a plain sleep: light sleep would drop characters on the
# UART console (mpremote's Ctrl-C) while asleep.
OFF_SLEEP = "sleep"


def build(machine):
    import sys

    from firmware.boards import hw as _hw

    this = sys.modules[__name__]
    Pin = machine.Pin
    i2c = machine.I2C(I2C_ID, scl=Pin(PINS["I2C_SCL"]), sda=Pin(PINS["I2C_SDA"]), freq=I2C_FREQ)
    dac = _dac(machine, this, i2c)
    # 11 dB attenuation: the ADC reads the whole 0-3.3 V range.
    return _hw.assemble(machine, this, dac, i2c, {"atten": machine.ADC.ATTN_11DB})


def _dac(machine, this, i2c):
    from firmware.boards import hw as _hw

    if DAC_KIND == "mcp4725":
        from drivers.mcp4725 import MCP4725

        return MCP4725(i2c, MCP4725_ADDR, max_code=_hw.dac_ceiling(this, 4095))
    from drivers.esp32dac import ESP32DAC

    return ESP32DAC(machine.DAC(machine.Pin(PINS["DAC"])), max_code=_hw.dac_ceiling(this, 255))
