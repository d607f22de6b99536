# Power-on self-test (DESIGN 4.8). Runs before the control loop with the output off and leaves
# it off. Every current it asks for is a contact-probe-sized pulse (20 uA or less for a few
# hundred us), harmless even when the client already holds the probes on the skin. OUT_EN goes
# high with a load possibly connected only for that one probe pulse: the DAC-at-zero check runs
# only once the probe has shown no load (nothing connected, no path through a client), so a
# DAC stuck high drives a client for one probe's 200 us at most (the probe's over-current check
# finds it), never for a separate check.
#
#   run(hw, programs_ok) -> (ok, report_lines, fault_code)
#
# Checks, in order (a DAC bus error anywhere fails with DAC):
#   sense_idle   output off: current and voltage sense read ~0 and are not pegged
#   out_en_off   DAC at 20 uA and bridge closed but OUT_EN low: still no current, no voltage
#                (the output switch really opens)
#   probe        OUT_EN on, 20 uA into whatever is connected: no load -> voltage at the rail
#                (boost and voltage sense work); a load -> about 20 uA flows and reads, no short
#                (a DAC stuck high into a load: over-current, FAIL)
#   dac_zero     no load only: OUT_EN on, DAC at zero: no current, no electrode voltage (a DAC
#                stuck high shows as the rail even into no load). With a load: not checked.
#   boost_off    BOOST_EN low, then the same 20 uA with OUT_EN on: no load -> the electrode
#                voltage stays well below the rail (the boost really switches off); with a load
#                the voltage is I x Z either way: not checked. The rail stays down afterwards.
#   battery      above cut-off
#   programs     program files valid (passed in)
from micropython import const

from drivers import clock
from safety import contact as _c
from safety import faults

# the supervisor's thresholds, stated once there (its every-tick path keeps them as consts)
from safety.supervisor import OFF_TOL_UA as ZERO_TOL_UA  # noqa: E402
from safety.supervisor import RAW_PEGGED, SHORT_OHM  # noqa: E402

ZERO_TOL_MV = const(200)  # DAC at zero, OUT_EN on: the electrodes stay near 0 V (the
# supervisor's ZERO_MV, 500, is its running-time margin for the same check)
SETTLE_US = const(200)


def _line(name, ok, detail):
    return "selftest: %-10s %s  %s" % (name, "ok  " if ok else "FAIL", detail)


def _read(hw):
    clock.sleep_us(SETTLE_US)
    hw.sense.read()
    return hw.sense.ua, hw.sense.mv, hw.sense.raw_i, hw.sense.raw_v


def run(hw, programs_ok=True, verbose=False):
    """Run every check; returns (ok, report_lines, fault_code or None). The output is off
    afterwards whatever happened."""
    lines = []
    code = None
    stage = hw.stage
    try:
        code = _hardware(hw, lines)
    except OSError as e:
        lines.append(_line("dac", False, "DAC/I2C error: %r" % (e,)))
        code = faults.DAC
    finally:
        stage.shutdown()  # output off and the boost rail down
    if stage.dac_error and code is None:
        lines.append(_line("dac", False, "DAC/I2C error while switching off"))
        code = faults.DAC
    bat = getattr(hw, "battery", None)
    cutoff = getattr(hw, "bat_cutoff_mv", 0)
    if bat is not None:
        mv = bat.read_mv()
        ok = mv >= cutoff
        lines.append(_line("battery", ok, "%d mV (cut-off %d mV)" % (mv, cutoff)))
        if not ok and code is None:
            code = faults.BATTERY
    if programs_ok:
        lines.append(_line("programs", True, "valid"))
    else:
        lines.append(_line("programs", False, "program files invalid"))
        if code is None:
            code = faults.PROGRAM
    ok = code is None
    lines.append("selftest: %s" % ("PASS" if ok else "FAIL " + code))
    if verbose:
        for ln in lines:
            print(ln)
    return ok, lines, code


def _hardware(hw, lines):
    """The output-stage checks. Returns a fault code or None; raises OSError on a bus error."""
    stage = hw.stage
    rail = hw.rail_mv
    code = None
    stage.off()
    if stage.dac_error:
        raise OSError(5)

    ua, mv, ri, rv = _read(hw)
    ok = ri < RAW_PEGGED and rv < RAW_PEGGED and ua <= ZERO_TOL_UA and mv <= ZERO_TOL_MV
    lines.append(_line("sense_idle", ok, "%d uA, %d mV (raw %d, %d)" % (ua, mv, ri, rv)))
    if not ok:
        code = faults.SENSE_STUCK

    # OUT_EN stays low; DAC and bridge set as if driving
    stage.set_ua(_c.PROBE_UA)
    stage.set_polarity(1)
    ua, mv, ri, rv = _read(hw)
    stage.off()
    ok = ua <= ZERO_TOL_UA and mv <= ZERO_TOL_MV and not hw.out_en.is_on()
    lines.append(_line("out_en_off", ok, "%d uA, %d mV with OUT_EN low" % (ua, mv)))
    if not ok and code is None:
        code = faults.SELFTEST

    # a contact-probe pulse into whatever is connected
    stage.set_ua(_c.PROBE_UA)
    stage.set_polarity(-1)
    stage.enable()
    try:
        ua, mv, ri, rv = _read(hw)
        level = stage.driven_ua()
    finally:
        stage.off()
    short = False
    if ri >= RAW_PEGGED or ua > level + level // 5 + 20:
        ok = False
        why = "%d uA for %d uA asked" % (ua, level)
    elif ua < _c.MIN_UA:
        ok = _c.at_rail(mv, rail)
        why = "no load: %d mV (rail %d mV)" % (mv, rail)
    else:
        z = mv * 1000 // ua
        short = z < SHORT_OHM
        ok = not short and (ua * 2 >= level or _c.at_rail(mv, rail))
        why = "load %d Ohm: %d uA, %d mV" % (z, ua, mv)
    lines.append(_line("probe", ok, why))
    if not ok and code is None:
        code = faults.SHORT if short else faults.SELFTEST

    # OUT_EN on, DAC at zero: only with nothing connected (the probe saw no load), so a DAC
    # stuck high drives no client here
    no_load = ok and ua < _c.MIN_UA
    if no_load:
        stage.set_polarity(1)
        stage.enable()
        try:
            ua0, mv0, ri, rv = _read(hw)
        finally:
            stage.off()
        ok0 = ua0 <= ZERO_TOL_UA and mv0 <= ZERO_TOL_MV
        lines.append(_line("dac_zero", ok0, "%d uA, %d mV at DAC zero" % (ua0, mv0)))
        if not ok0 and code is None:
            code = faults.SELFTEST
    else:
        why = "a load is connected" if ok else "the probe failed"
        lines.append(_line("dac_zero", True, "not checked: " + why))

    # the boost rail off: the same probe current must no longer reach the rail
    probe_ok = ok
    stage.shutdown()
    if probe_ok and ua < _c.MIN_UA:
        stage.set_ua(_c.PROBE_UA)
        stage.set_polarity(-1)
        hw.out_en.on()  # OUT_EN alone: enable() would bring the rail up again
        try:
            ua, mv, ri, rv = _read(hw)
        finally:
            stage.off()
        ok = not hw.boost.is_on() and mv * 2 < rail
        lines.append(_line("boost_off", ok, "%d mV with BOOST_EN low (rail %d mV)" % (mv, rail)))
        if not ok and code is None:
            code = faults.SELFTEST
    else:
        why = "a load is connected" if probe_ok else "the probe failed"
        lines.append(_line("boost_off", True, "not checked: " + why))
    return code


def report(result):
    """Print a run() result the way `make selftest` shows it; returns the exit status."""
    ok, lines, code = result
    for ln in lines:
        print(ln)
    return 0 if ok else 1
