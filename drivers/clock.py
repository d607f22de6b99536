# The one clock. Every module reads time through here so that tests and the simulator can
# swap in a virtual clock with use(). Call through the module (clock.ticks_us()), never
# `from drivers.clock import ticks_us`, or use() will not reach you.
import time

ticks_ms = time.ticks_ms
ticks_us = time.ticks_us
ticks_add = time.ticks_add
ticks_diff = time.ticks_diff
sleep_ms = time.sleep_ms
sleep_us = time.sleep_us


def use(source):
    """Route every clock call to `source` (an object with the six tick functions), or back to
    the device's time module with None."""
    global ticks_ms, ticks_us, ticks_add, ticks_diff, sleep_ms, sleep_us
    src = time if source is None else source
    ticks_ms = src.ticks_ms
    ticks_us = src.ticks_us
    ticks_add = src.ticks_add
    ticks_diff = src.ticks_diff
    sleep_ms = src.sleep_ms
    sleep_us = src.sleep_us
