# Fault codes: short strings (interned on MicroPython, so latching one allocates nothing), shown
# on the display and written to the session log. DESIGN 4.6 lists what latches; the supervisor
# (safety/supervisor.py, thresholds there) latches them so:
#
#   OVERCURRENT     measured > commanded + 20 % + 20 uA on 2 consecutive samples (1 during a
#                   contact probe), or measured > ceiling once
#   SENSE_STUCK     current ADC pegged at full scale (the stage cannot drive that much), current
#                   read with OUT_EN off (2 samples), or the ADC raw value unchanged across two
#                   level changes of >= 50 uA while in contact
#   SENSE_MISMATCH  a level is driven, the electrode voltage is below the rail, yet less than
#                   50 % of it reads, for 500 ms (at the rail it is poor contact, not a fault)
#   SHORT           load impedance < 500 Ohm on 2 consecutive samples
#   DAC             OSError from the DAC (driver flag, the stage's dac_error, a NACK on the
#                   read-back), or the electrodes at the rail with the DAC at zero (stuck)
#   BATTERY         battery under cut-off on 3 reads 100 ms apart
#   SOFTWARE        the stage commanded above the step's hard cap (engine clamp failed), a
#                   player that raised or stopped advancing, or trip(SOFTWARE) from the app
#   WATCHDOG        machine.reset_cause() == WDT_RESET at construction, and the board's marker
#                   (hw.wdt_mark) says the WDT was armed by a running device then (DESIGN 4.7)

OVERCURRENT = "OVERCURRENT"  # measured > commanded + 20 % + 20 uA twice, or > ceiling once
SENSE_MISMATCH = "SENSE_MISMATCH"  # current flows (voltage below the rail) but reads < 50 %
SHORT = "SHORT"  # load impedance < 500 Ohm
DAC = "DAC"  # DAC / I2C error from the output stage
SENSE_STUCK = "SENSE_STUCK"  # ADC does not follow the DAC, or reads current with OUT_EN off
WATCHDOG = "WATCHDOG"  # the last reset was a watchdog reset (the loop stalled)
SELFTEST = "SELFTEST"  # power-on self-test failed
BATTERY = "BATTERY"  # battery under cut-off
PROGRAM = "PROGRAM"  # program files invalid
SOFTWARE = "SOFTWARE"  # an exception in the app loop, or a command above the step cap

ALL = (
    OVERCURRENT,
    SENSE_MISMATCH,
    SHORT,
    DAC,
    SENSE_STUCK,
    WATCHDOG,
    SELFTEST,
    BATTERY,
    PROGRAM,
    SOFTWARE,
)

_TEXT = {
    OVERCURRENT: "over-current",
    SENSE_MISMATCH: "current sense disagrees with output",
    SHORT: "short circuit between probes",
    DAC: "output DAC not responding",
    SENSE_STUCK: "current sense stuck",
    WATCHDOG: "restarted by the watchdog",
    SELFTEST: "self-test failed",
    BATTERY: "battery too low",
    PROGRAM: "program files invalid",
    SOFTWARE: "software error",
}

# What each simulator fault (DESIGN 6) latches on the sim board. battery_low and loop_stall have
# their own codes; a stalled loop shows up at the next boot as a watchdog reset.
SIM_FAULT_CODES = {
    "dac_stuck_high": OVERCURRENT,
    "sense_open": SENSE_MISMATCH,
    "sense_stuck_high": SENSE_STUCK,
    "short_circuit": SHORT,
    "i2c_error": DAC,
    "battery_low": BATTERY,
    "loop_stall": WATCHDOG,
}


def watchdog_reset(machine, mark):
    """True when the last reset was the watchdog of a running device (DESIGN 4.7): WDT_RESET
    and the board's armed marker set (mark(): the board's reader, None when the board has none:
    then every WDT_RESET counts, the safe reading). Reads the marker, never clears it."""
    try:
        if machine.reset_cause() != machine.WDT_RESET:
            return False
    except AttributeError:
        return False
    return mark is None or mark()


def describe(code):
    """One line for the display or the log: the text for a known code, the code itself else."""
    if code is None:
        return ""
    return _TEXT.get(code, code)
