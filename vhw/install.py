# Put the fakes where the firmware looks for them, before any firmware module is imported.
import sys


def install():
    """CPython: fake machine, micropython and neopixel modules, and a device-like time module
    (ticks_* and sleep_ms/us from a virtual clock that wraps at 2**30)."""
    import time

    from vhw import machine, micropython, neopixel

    sys.modules["machine"] = machine
    sys.modules["micropython"] = micropython
    sys.modules["neopixel"] = neopixel
    _bind_time(time, machine.world.clock)
    return machine


def install_mp():
    """MicroPython VM: it has micropython and time; only machine and neopixel are missing."""
    from vhw import machine, neopixel

    sys.modules["machine"] = machine
    sys.modules["neopixel"] = neopixel
    return machine


def _bind_time(time, vclock):
    # CPython's time module gets the device functions; the stdlib's own are left alone.
    time.ticks_ms = vclock.ticks_ms
    time.ticks_us = vclock.ticks_us
    time.ticks_add = vclock.ticks_add
    time.ticks_diff = vclock.ticks_diff
    time.sleep_ms = vclock.sleep_ms
    time.sleep_us = vclock.sleep_us


def make_sim_world(start_us=0, seed=1, reset_cause=None):
    """A fresh virtual board: new virtual clock (routed through drivers.clock), empty pin and
    bus registry, the output-stage model. Returns (vclock, stage); then
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
    clock.use(vc)
    if sys.implementation.name != "micropython":
        import time

        _bind_time(time, vc)
    stage = StageModel(machine, board, seed)
    return vc, stage
