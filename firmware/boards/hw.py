# What a board file builds: every driver the app, the supervisor and the player use, plus the
# board's calibration. Shared assembly lives here so each board file holds only its pins,
# its DAC choice and its constants.
from drivers import clock
from drivers.battery import Battery
from drivers.button import Button
from drivers.buzzer import Buzzer
from drivers.dac import ceiling_code
from drivers.hbridge import HBridge
from drivers.led import NeoLED, PinLED
from drivers.outstage import OutputStage
from drivers.sense import Sense
from drivers.switch import Switch


class Buttons:
    def __init__(self, power, mode, plus, minus):
        self.power = power
        self.mode = mode
        self.plus = plus
        self.minus = minus


class Hardware:
    """What a board builds (docs/ARCHITECTURE.md); assemble() fills every attribute."""

    def __init__(self, unset=None):
        # Declared here so readers (and mypy) know the attribute set; `unset` is untyped.
        self.name = self.i2c = self.dac = self.pol_pins = self.bridge = unset
        self.out_en = self.boost = self.stage = self.sense = self.battery = unset
        self.buttons = self.buzzer = self.led = self.display = self.pulse = unset
        self.probe_area_mm2 = self.make_wdt = self.machine = unset
        self.wdt_mark = unset  # f(on=None): the watchdog-armed marker (_wdt_mark), or None
        self.off_sleep = unset  # f(ms): how soft-off sleeps between polls of POWER


def dac_ceiling(board, full_scale):
    """The board's ceiling in DAC codes (the driver-level clamp)."""
    return ceiling_code(full_scale, board.UA_FS, board.CEILING_UA)


def assemble(machine, board, dac, i2c, adc_kw=None):
    """Build the drivers common to every board from board.PINS and its calibration."""
    P = board.PINS
    Pin = machine.Pin
    kw = adc_kw or {}
    hw = Hardware()
    hw.name = board.NAME
    hw.i2c = i2c
    hw.dac = dac
    pol_a = Pin(P["POL_A"], Pin.OUT, value=0)
    pol_b = Pin(P["POL_B"], Pin.OUT, value=0)
    hw.pol_pins = (pol_a, pol_b)
    hw.bridge = HBridge(pol_a, pol_b)
    out_en = Pin(P["OUT_EN"], Pin.OUT, value=0)
    hw.out_en = Switch(out_en)
    hw.boost = Switch(Pin(P["BOOST_EN"], Pin.OUT, value=0))
    hw.stage = OutputStage(dac, hw.bridge, hw.out_en, hw.boost, board.UA_FS)
    hw.stage.boost_settle_us = board.BOOST_SETTLE_MS * 1000
    hw.pulse = _pulse_engine(board, pol_a, pol_b, out_en)
    hw.stage.engine = hw.pulse
    hw.sense = Sense(
        machine.ADC(Pin(P["SENSE_I"]), **kw),
        machine.ADC(Pin(P["SENSE_V"]), **kw),
        board.SENSE_UA_FS,
        board.SENSE_MV_FS,
        oversample=board.SENSE_OVERSAMPLE,
    )
    hw.battery = Battery(machine.ADC(Pin(P["BATTERY"]), **kw), board.BAT_MV_FS)

    def button(name):
        return Button(Pin(P[name], Pin.IN, Pin.PULL_UP))

    hw.buttons = Buttons(
        button("BTN_POWER"), button("BTN_MODE"), button("BTN_PLUS"), button("BTN_MINUS")
    )
    hw.buzzer = Buzzer(machine.PWM(Pin(P["BUZZER"]), freq=2000, duty_u16=0))
    if getattr(board, "LED_KIND", "pin") == "neopixel":
        import neopixel

        hw.led = NeoLED(neopixel.NeoPixel(Pin(P["LED"], Pin.OUT), 1))
    else:
        hw.led = PinLED(Pin(P["LED"], Pin.OUT, value=0))
    hw.display = _display(i2c)
    for k in (
        "UA_FS",
        "CEILING_UA",
        "SENSE_UA_FS",
        "SENSE_MV_FS",
        "RAIL_MV",
        "BAT_MV_FS",
        "BAT_CUTOFF_MV",
        "R_SET_OHM",
        "WDT_TIMEOUT_MS",
    ):
        setattr(hw, k.lower(), getattr(board, k))
    hw.probe_area_mm2 = board.PROBE_AREA_MM2

    def make_wdt(timeout_ms=board.WDT_TIMEOUT_MS):
        return machine.WDT(timeout=timeout_ms)

    hw.make_wdt = make_wdt
    hw.wdt_mark = _wdt_mark(machine, board)
    # soft-off sleeps with the clocks down where the port keeps the console alive (rp2:
    # machine.lightsleep keeps USB while a host has it mounted), else a plain sleep
    if getattr(board, "OFF_SLEEP", "sleep") == "lightsleep":
        hw.off_sleep = machine.lightsleep
    else:
        hw.off_sleep = clock.sleep_ms
    hw.machine = machine
    return hw


# The marker's value: "armed by a running device" (below 2**30: a small int on every port).
_WDT_MAGIC = 0x1D0A57D1
_WDT_TAG = b"wdt-armed"


def _wdt_mark(machine, board):
    """The board's watchdog-armed marker (DESIGN 4.7), kept where a watchdog reboot keeps it:
    f(True) when the device leaves soft-off and arms the WDT, f(False) when it is back in
    soft-off (or the boot read it); f() reads it at boot: True when the last reset came while a
    running device had the WDT armed. rp2 and the sim board: a watchdog scratch register
    (board.WDT_SCRATCH), and on rp2 a reboot that machine.reset() forced (WATCHDOG_REASON
    FORCE, board.WDT_REASON) is not one; esp32: the RTC's user memory (kept through a WDT reset,
    board.WDT_MARK_RTC). None when the board has no such place: every WDT_RESET is then a
    watchdog fault."""
    addr = getattr(board, "WDT_SCRATCH", None)
    if addr is not None and hasattr(machine, "mem32"):
        mem = machine.mem32
        reason = getattr(board, "WDT_REASON", None)

        def mark(on=None):
            if on is None:
                if mem[addr] != _WDT_MAGIC:
                    return False
                # machine.reset() reboots through the watchdog with its FORCE bit (pico-sdk
                # watchdog_reboot): asked for, not a stall. A timeout sets TIMER instead.
                return reason is None or not mem[reason] & 2
            mem[addr] = _WDT_MAGIC if on else 0
            return on

        return mark
    if getattr(board, "WDT_MARK_RTC", False) and hasattr(machine, "RTC"):
        rtc = machine.RTC()

        def mark_rtc(on=None):
            if on is None:
                return rtc.memory() == _WDT_TAG
            rtc.memory(_WDT_TAG if on else b"")
            return on

        return mark_rtc
    return None


def _pulse_engine(board, pol_a, pol_b, out_en):
    """The hardware that makes the pulse edges: PIO state machines (rp2 and the sim board) or
    the RMT peripheral (esp32)."""
    if board.PULSE_ENGINE == "rmt":
        from drivers.pulsermt import PulseRMT

        return PulseRMT(pol_a, pol_b, out_en)
    from drivers.pulsepio import PulsePIO

    return PulsePIO(pol_a, pol_b, out_en)


def _display(i2c):
    """An SSD1306 if one answers at 0x3C and micropython-lib's ssd1306 is installed."""
    if i2c is None:
        return None
    try:
        if 0x3C not in i2c.scan():
            return None
        import ssd1306

        return ssd1306.SSD1306_I2C(128, 64, i2c)
    except (ImportError, OSError):
        return None
