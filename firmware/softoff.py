# The device's entry (main.py): soft-off without the app in RAM. A device just reset needs
# nothing but its POWER button: the board's drivers are built (output off, the boost rail down,
# the DAC asleep) and this loop polls POWER, sleeping between polls; only a long press imports
# and builds the App (firmware/app.py and with it the session, safety and waveform layers), which
# then runs for good (its own soft-off from then on). With the .mpy files copied to the board,
# their bytecode lives in RAM: what soft-off does not import, it does not hold (DESIGN 7,
# issue 12: RAM after boot). A watchdog fault waiting at boot builds the app at once, so that it
# comes up showing the fault.
from micropython import const

from drivers import clock
from drivers.button import LONG

_POLL_MS = const(50)  # POWER up: the board sleeps this long between polls (app.OFF_POLL_MS)
_HELD_MS = const(5)  # POWER down: polled at the tick rate until long or released


def watchdog_fault_pending(hw):
    """True when the last reset was the watchdog of a running device (the App comes up in the
    WATCHDOG fault): the supervisor's reading (safety.faults.watchdog_reset), without clearing
    the board's marker."""
    from safety.faults import watchdog_reset

    return watchdog_reset(hw.machine, hw.wdt_mark)


def quiet(hw):
    """Nothing on: output off, the rail down, the DAC asleep, LED off, display dark."""
    hw.stage.shutdown()
    hw.led.set(0, 0, 0)
    d = hw.display
    if d is not None:
        try:
            d.poweroff()
        except (AttributeError, OSError):
            pass


def wait_power(hw):
    """Soft-off until a long POWER press: between polls the board sleeps (hw.off_sleep,
    lightsleep on rp2) while POWER is up; while it is held it is polled every few ms, so the
    long press is timed as the app times it (drivers.button). The same Button object goes on to
    the app, so releasing the press that woke the device is no short press."""
    power = hw.buttons.power
    while True:
        if power.poll(clock.ticks_ms()) == LONG:
            return
        if power.pressed or power.pin() == 0:
            clock.sleep_ms(_HELD_MS)
        else:
            hw.off_sleep(_POLL_MS)


def run(root="/"):
    """Build the board, wait in soft-off for a long POWER press, then build and run the App."""
    import machine
    import micropython

    from firmware import boards
    from firmware.settings import Settings

    micropython.alloc_emergency_exception_buf(100)
    board = boards.load(Settings(root).get("board"))
    hw = board.build(machine)
    quiet(hw)
    if not watchdog_fault_pending(hw):
        wait_power(hw)
    from firmware.app import App

    app = App(hw, root)
    app.power_on()
    while True:
        try:
            app.run()
        except Exception as e:  # noqa: BLE001 - anything: output off first, then report
            app.crash(e)
