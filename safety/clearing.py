# Clearing a latched fault (DESIGN 4.6: "clears only by power cycle, or a long press after the
# cause is gone"). The state is `fault` throughout, so the output stays truly zero (DESIGN 4.5:
# OUT_EN low): the clear routine drives nothing, not even a contact probe. What it checks with
# OUT_EN low:
#   - the DAC answers (its driver flag, an I2C read-back) and zeroes without a bus error;
#   - the current sense reads no current and is not pegged;
#   - the battery is above cut-off.
# A cause that only a current through a load can show gone needs a power cycle (the power-on
# self-test): over-current (a source driving more than commanded, e.g. a stuck DAC: testing
# for it with OUT_EN on drives up to 1.1 mA through the client), a short between the probes,
# a sense that disagrees with the output or stayed stuck at a plausible value (with the probes
# off an open load reads like a dead sense: no proof either way), and a DAC found driving at
# code zero. SELFTEST and PROGRAM clear only by a power cycle as well.
from safety import faults

# Codes a long press can never clear: only a power cycle (and its self-test) can.
POWER_CYCLE = (
    faults.SELFTEST,
    faults.PROGRAM,
    faults.OVERCURRENT,
    faults.SHORT,
    faults.SENSE_MISMATCH,
)

OFF_TOL_UA = 10  # current that may read with OUT_EN off (offset, noise)
RAW_PEGGED = 65000  # ADC counts: the stage cannot drive a current that reads this high


def needs_power_cycle(sup):
    """True when the latched fault cannot be shown gone with the output off."""
    return sup.fault in POWER_CYCLE or sup.proof_needed


def cause_gone(sup, now_ms):
    """The checks above, OUT_EN low throughout. True when the cause is gone."""
    if needs_power_cycle(sup):
        return False
    stage = sup.stage
    sense = sup.sense
    stage.dac_error = False
    dac = sup.dac
    if sup._dac_flag:
        dac.error = False
    stage.off()  # OUT_EN low, DAC zero (a bus write), bridge open
    if stage.dac_error or (sup._dac_flag and dac.error):
        return False
    if not sup.hk.bus_ok():
        return False
    sense.read()
    if sense.raw_i >= RAW_PEGGED or sense.ua > OFF_TOL_UA:
        return False
    bat = sup.battery
    if bat is not None and sup.bat_cutoff_mv > 0 and bat.read_mv() < sup.bat_cutoff_mv:
        return False
    return True


def clear(sup, now_ms):
    """Long press. True when cleared (or nothing was latched)."""
    if not sup.latched:
        return True
    if not cause_gone(sup, now_ms):
        sup.stage.off()
        return False
    sup.latched = False
    sup.fault = None
    sup.proof_needed = False
    sup.player.error = 0  # what stopped it is the fault just cleared
    sup._reset_checks(now_ms)
    sup._allowed_na = 0
    sup.allowed_ua = 0
    sup.contact = False
    sup.det.reset()
    sup.probe_timer.reset()
    return True
