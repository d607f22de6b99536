# Put the fakes where the firmware looks for them, before any firmware module is imported.
import sys


def install():
    """CPython: fake machine, micropython, neopixel, rp2 (PIO), esp32 (RMT) and ssd1306 modules,
    and a device-like time module (ticks_* and sleep_ms/us from a virtual clock that wraps at
    2**30)."""
    import time

    from vhw import esp32, machine, micropython, neopixel, rp2, scratch, ssd1306

    scratch.attach(machine)  # machine.mem32: the watchdog scratch registers
    sys.modules["ssd1306"] = ssd1306  # micropython-lib's OLED driver (mip on a board)
    sys.modules["machine"] = machine
    sys.modules["micropython"] = micropython
    sys.modules["neopixel"] = neopixel
    sys.modules["rp2"] = rp2
    sys.modules["esp32"] = esp32
    _bind_time(time, machine.world.clock)
    return machine


def install_mp():
    """MicroPython VM: it has micropython and time; machine, neopixel, rp2, esp32 and ssd1306
    are missing."""
    from vhw import esp32, machine, neopixel, rp2, scratch, ssd1306

    scratch.attach(machine)  # machine.mem32: the watchdog scratch registers
    sys.modules["ssd1306"] = ssd1306  # micropython-lib's OLED driver (mip on a board)
    sys.modules["machine"] = machine
    sys.modules["neopixel"] = neopixel
    sys.modules["rp2"] = rp2
    sys.modules["esp32"] = esp32
    return machine


def _bind_time(time, vclock):
    # CPython's time module gets the device functions; the stdlib's own are left alone.
    time.ticks_ms = vclock.ticks_ms
    time.ticks_us = vclock.ticks_us
    time.ticks_add = vclock.ticks_add
    time.ticks_diff = vclock.ticks_diff
    time.sleep_ms = vclock.sleep_ms
    time.sleep_us = vclock.sleep_us


def make_sim_world(start_us=0, seed=1, reset_cause=None, cost=True):
    """A fresh virtual board: new virtual clock (routed through drivers.clock), empty pin and
    bus registry, the output-stage model, and (cost=True) the RP2040's costs for I2C and ADC
    calls on the virtual clock. Returns (vclock, stage); then
    firmware.boards.sim.build(machine) builds the drivers on it."""
    from drivers import clock
    from firmware.boards import sim as board
    from vhw import machine
    from vhw.stage import StageModel
    from vhw.vclock import VClock

    vc = VClock(start_us)
    if reset_cause is None:
        reset_cause = machine.PWRON_RESET
    machine.world.reset(vc, reset_cause)
    # the target's costs (vhw.machine.Cost): I2C transfers and ADC reads take virtual time
    machine.world.cost = machine.Cost() if cost else None
    clock.use(vc)
    if sys.implementation.name != "micropython":
        import time

        _bind_time(time, vc)
    stage = StageModel(machine, board, seed)
    return vc, stage
