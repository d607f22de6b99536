# Clearing a latched fault (DESIGN 4.6: "clears only by power cycle, or a long press after the
# cause is gone"). While latched the output is truly zero (DESIGN 4.5: OUT_EN low), through
# the whole clear routine too. What it checks with OUT_EN low:
#   - the DAC answers (its driver flag, an I2C read-back) and zeroes without a bus error;
#   - the current sense reads no current and is not pegged;
#   - the battery is above cut-off.
# Faults whose cause only a current could show gone:
#   - over-current (a source driving more than commanded, e.g. a stuck DAC: any pulse to test
#     it drives up to 1.1 mA through the client), a DAC found driving at code zero, a sense
#     stuck at a plausible value, SELFTEST and PROGRAM: only a power cycle (and its self-test)
#     clears them. The long press drives nothing.
#   - a short, a sense that disagreed with the output (a dead sense: with the probes off an
#     open load reads the same, so that is no proof): once the checks above pass, the fault is
#     unlatched (the device is no longer in `fault`: `clearing`) and ONE contact probe (20 uA,
#     200 us, balanced) must prove the cause gone: no over-current, no short, and for a sense
#     fault a load on the probes whose current reads as driven. Otherwise the same fault latches
#     again at once (the same code, not counted as a new trip) and clear() returns False.
from safety import contact as _c
from safety import faults
from safety import probe as _probe

# Codes a long press can never clear: only a power cycle (and its self-test) can.
POWER_CYCLE = (faults.SELFTEST, faults.PROGRAM, faults.OVERCURRENT)
# Codes a long press clears only when one contact probe (unlatched) shows the cause gone.
PROBE_PROOF = (faults.SHORT, faults.SENSE_MISMATCH)

OFF_TOL_UA = 10  # supervisor.OFF_TOL_UA (the tests check they match)
RAW_PEGGED = 65000  # supervisor.RAW_PEGGED
SHORT_OHM = 500  # supervisor.SHORT_OHM


def needs_power_cycle(sup):
    """True when the latched fault cannot be cleared by a long press."""
    return sup.fault in POWER_CYCLE or sup.proof_needed


def cause_gone(sup, now_ms):
    """The checks with OUT_EN low. True when they pass (a PROBE_PROOF code still needs its
    probe: clear())."""
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


def _probe_proves(sup, now_ms, code):
    """One contact probe with the fault unlatched. True when it shows the cause gone."""
    try:
        level = _probe.drive(sup, now_ms)
    except OSError:
        sup.stage.dac_error = True
        return False
    sense = sup.sense
    ua = sense.ua
    mv = sense.mv
    if sense.raw_i >= RAW_PEGGED or ua > level + level * 20 // 100 + 20:
        return False
    kind = _c.Contact(sup.rail_mv).classify(level, ua, mv)
    if kind == _c.SUSPECT:
        return False  # a voltage the sense cannot explain
    if kind == _c.MEASURED:
        if mv * 1000 // ua < SHORT_OHM:
            return False
        if not _c.at_rail(mv, sup.rail_mv) and ua * 2 < level:
            return False  # less than half reads
        return True
    # no load on the probes: no short, but no proof that the sense reads either
    return code != faults.SENSE_MISMATCH


def clear(sup, now_ms):
    """Long press. True when cleared (or nothing was latched)."""
    if not sup.latched:
        return True
    code = sup.fault
    if not cause_gone(sup, now_ms):
        sup.stage.off()
        return False
    t_fault = sup.fault_ms
    _unlatch(sup, now_ms)
    if code in PROBE_PROOF:
        sup.clearing = True
        try:
            ok = _probe_proves(sup, now_ms, code)
        finally:
            sup.clearing = False
            sup.stage.off()
        if not ok:
            # the same fault again: latched at once, not a new trip
            sup._latch(code, t_fault)
            sup.trips -= 1
            return False
        sup.probe_timer.reset()
    return True


def _unlatch(sup, now_ms):
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
