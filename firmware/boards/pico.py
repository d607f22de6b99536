# Raspberry Pi Pico (RP2040) wired to the reference output stage. The only place with Pico pin
# numbers; the README wiring table is checked against PINS.
NAME = "pico"

PINS = {
    "I2C_SDA": 4,  # MCP4725 DAC, optional SSD1306
    "I2C_SCL": 5,
    "DAC_PWM": 16,  # alternative DAC: PWM + RC filter (DAC_KIND = "pwm")
    "POL_A": 10,  # H-bridge leg A: PWM slice 5 channel A
    "POL_B": 11,  # H-bridge leg B: PWM slice 5 channel B (complementary player)
    "OUT_EN": 12,  # output switch, pulled low in hardware
    "BOOST_EN": 13,  # 20 V compliance rail
    "BUZZER": 14,
    "LED": 25,  # on-board LED
    "BTN_POWER": 2,
    "BTN_MODE": 3,
    "BTN_PLUS": 6,
    "BTN_MINUS": 7,
    "SENSE_I": 26,  # ADC0: current-sense amplifier
    "SENSE_V": 27,  # ADC1: electrode voltage divider
    "BATTERY": 28,  # ADC2: battery divider
}
I2C_ID = 0
I2C_FREQ = 400000
DAC_KIND = "mcp4725"  # or "pwm"
MCP4725_ADDR = 0x60
# Pulse edges: PIO0 state machine 0 (POL_A/POL_B, consecutive pins), PIO1 state machine 4
# (the OUT_EN deadman): the pulse program fills most of one PIO block (30 of 32 words).
PULSE_ENGINE = "pio"
LED_KIND = "pin"

# Calibration (see the README's output-stage section)
UA_FS = 1100  # µA at DAC full scale: R_set = 3.3 V / 1.1 mA
R_SET_OHM = 3000
CEILING_UA = 1000
SENSE_UA_FS = 1210  # µA at ADC full scale (shunt + amplifier)
SENSE_MV_FS = 22000  # mV at ADC full scale (electrode divider)
# One conversion per channel per tick: the RP2040's ADC is quiet enough, and a 4x read
# cost 198 us of a 500 us tick budget (the supervisor's checks need 2 samples anyway).
SENSE_OVERSAMPLE = 1
RAIL_MV = 20000
# The boost converter reaches the rail this long after BOOST_EN (soft start into a few uF of
# output capacitance, no load while OUT_EN is low): OUT_EN waits for it. Measure it on your
# board (BOOST_EN to the rail at 90 % on a scope) and set it here. BOOST_EN is low whenever no
# output is to come (soft-off, idle, fault).
BOOST_SETTLE_MS = 2
BAT_MV_FS = 6600  # 1:2 divider, 3.3 V reference
BAT_CUTOFF_MV = 3300
WDT_TIMEOUT_MS = 500
# The watchdog-armed marker (DESIGN 4.7, firmware/boards/hw.py _wdt_mark): WATCHDOG_SCRATCH3.
# The watchdog block is at 0x40058000: CTRL 0x00, LOAD 0x04, REASON 0x08 (bit 0 TIMER, bit 1
# FORCE), SCRATCH0..7 0x0c..0x28. SCRATCH0/1 are the bootrom's (reset_usb_boot, i.e.
# machine.bootloader()), SCRATCH4..7 pico-sdk's (watchdog_reboot / watchdog_enable magic);
# MicroPython 1.28/1.29 uses none of SCRATCH2/3. Kept through a watchdog reboot, 0 at power-on.
WDT_SCRATCH = 0x40058018
WDT_REASON = 0x40058008
WDT_CTRL = 0x40058000  # bit 30 ENABLE: tools/deploy.py asks whether the WDT is armed
PROBE_AREA_MM2 = {"disk": 100, "globe": 50, "qtip": 7}
# Soft-off sleeps in machine.lightsleep() between polls of POWER (50 ms): clk_sys from the
# 12 MHz crystal, PLLs and ROSC off; USB stays up while a host has the device mounted.
OFF_SLEEP = "lightsleep"


def build(machine):
    import sys

    from firmware.boards import hw as _hw

    this = sys.modules[__name__]
    Pin = machine.Pin
    i2c = machine.I2C(I2C_ID, scl=Pin(PINS["I2C_SCL"]), sda=Pin(PINS["I2C_SDA"]), freq=I2C_FREQ)
    return _hw.assemble(machine, this, _dac(machine, this, i2c), i2c)


def _dac(machine, this, i2c):
    from firmware.boards import hw as _hw

    if DAC_KIND == "pwm":
        from drivers.pwmdac import PWMDAC

        pwm = machine.PWM(machine.Pin(PINS["DAC_PWM"]), freq=100000, duty_u16=0)
        return PWMDAC(pwm, max_code=_hw.dac_ceiling(this, 65535))
    from drivers.mcp4725 import MCP4725

    return MCP4725(i2c, MCP4725_ADDR, max_code=_hw.dac_ceiling(this, 4095))
