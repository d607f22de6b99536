# The contact-probe pulse (DESIGN 4.5): while no contact is known and the app asks for output,
# the supervisor drives PROBE_UA for PROBE_SETTLE_US, reads the sense, then the same pulse with
# the other polarity (every probe balanced by itself). At most 20 uA, 2 x 200 us + 25 us every
# 20 ms: about 2 % duty. Never while a fault is latched (a fault means truly zero, OUT_EN low).
# Allocation-free: it runs inside a control tick.
from micropython import const

from safety import contact as _c

PROBE_DEAD_US = const(25)  # between the two halves of a (balanced) contact probe


def drive(sup, now_ms):
    """One contact probe on sup's stage. Returns the level driven at the read (uA). Raises
    OSError when the DAC failed (the caller latches DAC)."""
    stage = sup.stage
    clk = sup.clock
    pol = -sup._probe_pol
    sup._probe_pol = pol
    stage.set_ua(_c.PROBE_UA)
    stage.set_polarity(pol)
    stage.enable()  # waits for the boost rail first if it was down: not part of the pulse
    t0 = clk.ticks_us()
    try:
        clk.sleep_us(_c.PROBE_SETTLE_US)
        sup.sense.read()
        level = stage.driven_ua()
        # the same pulse with the other polarity: every probe is balanced by itself
        d = clk.ticks_diff(clk.ticks_us(), t0)
        stage.set_polarity(0)
        clk.sleep_us(PROBE_DEAD_US)
        stage.set_polarity(-pol)
        clk.sleep_us(d)
    finally:
        stage.off()
    sup.probe_timer.fired(now_ms)
    sup.probes += 1
    if stage.dac_error:
        raise OSError(5)
    return level
