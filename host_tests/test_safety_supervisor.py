# The supervisor on the sim board with the real waveform player (tools/bench_safety.Rig): one
# test per simulator fault (DESIGN 6) reaching the documented safe state in the documented time,
# clearing only once the cause is gone, contact gating, probe pulses, soft start, watchdog.
import pytest

from safety import clearing, faults, limits
from safety import contact as c
from safety import supervisor as sv
from tools.bench_safety import TICK_MS, Rig
from waveforms import player as wp

TICK_US = 2000
FLOOR = limits.MIN_MEASURABLE_UA  # a ramp in contact starts here (issue 11, item 11)


def slew_ok(na0, na1, dt_us):
    """The allowed level (nA) rose by at most 100 uA/s, or stepped from zero to the floor."""
    return na1 - na0 <= dt_us * 100 // 1000 + 1 or (na0 == 0 and na1 <= FLOOR * 1000)


def running_rig(z=20000, request=300, mode="home", probe="disk", area="cheek", ms=3000, **kw):
    rig = Rig(**kw)
    rig.model.set_load(True, z)
    rig.set_step(mode, area, probe, 1000)
    rig.running = True
    rig.request = request
    rig.run_ms(ms)
    return rig


def off_at(rig, t0):
    """First instant at/after t0 with OUT_EN low (None if never)."""
    for ev in rig.events:
        if ev[0] >= t0 and ev[3] == 0:
            return ev[0]
    return 0 if rig.out_en() == 0 else None


def inject(rig, name, within_ms, max_ms=2000):
    """Set a model fault mid-tick and run until the supervisor latches (or max_ms)."""
    rig.vc.advance(700)  # between two ticks
    t0 = rig.t_us()
    rig.model.set_fault(name, True)
    rig.vc.advance(TICK_US - 700)
    for _ in range(max_ms // 2):
        rig.tick()
        if rig.sup.latched:
            break
        rig.vc.sleep_us(TICK_US)
    assert rig.sup.latched, name
    t_off = off_at(rig, t0)
    assert t_off is not None
    assert rig.out_en() == 0
    assert not rig.player.playing
    assert rig.hw.stage.driven_ua() == 0
    assert rig.model.measured_ua() == 0
    assert (t_off - t0) / 1000.0 <= within_ms, (name, (t_off - t0) / 1000.0)
    return t0, t_off


def settle(rig, ms=200):
    rig.run_ms(ms)
    assert rig.sup.latched
    assert rig.out_en() == 0


@pytest.mark.rule("4.4")
def test_running_reaches_the_request_with_soft_start():
    rig = running_rig(ms=4000)
    assert rig.sup.contact
    assert not rig.sup.latched
    # 100 uA/s from zero: ~390 ms of probing/contact make, then the ramp
    assert 250 <= rig.sup.allowed_ua <= 300
    assert 240 <= rig.sup.measured_ua <= 300
    assert 19000 <= rig.sup.impedance_ohm <= 21000
    # the upward slew never exceeded 100 uA/s (allowed, in nA, per tick)
    prev = None
    for t, _a, na in rig.allowed_log:
        if prev is not None:
            assert slew_ok(prev[1], na, t - prev[0])
        prev = (t, na)


@pytest.mark.rule("4.6")
def test_dac_stuck_high_overcurrent_within_5_ms():
    rig = running_rig()
    inject(rig, "dac_stuck_high", within_ms=5)
    assert rig.sup.fault == faults.OVERCURRENT == faults.SIM_FAULT_CODES["dac_stuck_high"]
    settle(rig)


@pytest.mark.rule("4.6")
def test_dac_stuck_high_at_low_impedance_trips_on_the_ceiling_once():
    rig = running_rig(z=5000)
    inject(rig, "dac_stuck_high", within_ms=2.5)  # 1100 uA > 1000: the first sample trips
    assert rig.sup.fault == faults.OVERCURRENT


@pytest.mark.rule("4.5", "4.6")
def test_sense_open_output_off_at_once_and_mismatch_latched_after_500_ms():
    rig = running_rig()
    rig.vc.advance(700)
    t0 = rig.t_us()
    rig.model.set_fault("sense_open", True)
    rig.vc.advance(TICK_US - 700)
    rig.tick()
    # no current reads, the voltage says a load: no impedance, no contact, output off now
    assert rig.out_en() == 0 and not rig.sup.contact and not rig.sup.latched
    rig.vc.sleep_us(TICK_US)
    t_latch = None
    for _ in range(400):
        rig.tick()
        if rig.sup.latched:
            t_latch = rig.t_us()
            break
        rig.vc.sleep_us(TICK_US)
    # the probes keep finding the unexplained voltage: 500 ms of it latches (at the next probe)
    assert t_latch is not None
    assert 498 <= (t_latch - t0) / 1000.0 <= 500 + 20 + 5
    assert rig.sup.fault == faults.SENSE_MISMATCH == faults.SIM_FAULT_CODES["sense_open"]


@pytest.mark.rule("4.6")
def test_sense_stuck_high_within_one_tick():
    rig = running_rig()
    inject(rig, "sense_stuck_high", within_ms=2.5)
    assert rig.sup.fault == faults.SENSE_STUCK == faults.SIM_FAULT_CODES["sense_stuck_high"]


@pytest.mark.rule("4.6")
def test_short_circuit_within_three_ticks():
    rig = running_rig()
    inject(rig, "short_circuit", within_ms=6.5)
    assert rig.sup.fault == faults.SHORT == faults.SIM_FAULT_CODES["short_circuit"]


@pytest.mark.rule("4.6")
def test_i2c_error_within_the_bus_check_period():
    rig = running_rig()
    inject(rig, "i2c_error", within_ms=sv.BUS_CHECK_MS + 2.5)
    assert rig.sup.fault == faults.DAC == faults.SIM_FAULT_CODES["i2c_error"]
    assert rig.out_en() == 0  # OUT_EN is a GPIO: off even with the DAC unreachable


@pytest.mark.rule("4.6")
def test_battery_low_within_400_ms():
    rig = running_rig()
    inject(rig, "battery_low", within_ms=sv.BAT_PERIOD_MS * (sv.BAT_COUNT + 1) + 2)
    assert rig.sup.fault == faults.BATTERY == faults.SIM_FAULT_CODES["battery_low"]


@pytest.mark.rule("4.6", "4.7")
def test_loop_stall_output_off_by_the_player_then_watchdog_reset_reported():
    from vhw.vclock import WatchdogReset

    rig = running_rig()
    assert rig.sup.wdt is not None and rig.sup.wdt.timeout == rig.hw.wdt_timeout_ms
    rig.model.set_fault("loop_stall", True)
    t0 = rig.t_us()
    with pytest.raises(WatchdogReset):
        rig.stall_ms(2000)  # the loop is stuck: no tick, no feed
    t_reset = rig.t_us()
    t_off = off_at(rig, t0)
    # the hardware deadman: OUT_EN off within 10 ms of the stall (DESIGN 4.5)
    assert t_off is not None and (t_off - t0) / 1000.0 <= 10
    # the watchdog times out 500 ms after the last feed (a tick, <= 5 ms before the stall)
    assert 500 - TICK_MS - 1 <= (t_reset - t0) / 1000.0 <= 503
    # the next boot: machine.reset_cause() says WDT_RESET
    import machine

    rig2 = Rig(reset_cause=machine.WDT_RESET)
    assert rig2.sup.latched
    assert rig2.sup.fault == faults.WATCHDOG == faults.SIM_FAULT_CODES["loop_stall"]
    assert rig2.sup.boot_fault == faults.WATCHDOG
    rig2.model.set_load(True, 20000)
    rig2.running = True
    rig2.request = 300
    rig2.run_ms(500)
    assert rig2.out_en() == 0 and rig2.sup.latched
    assert rig2.sup.clear()  # the cause (a stalled loop) is in the past
    rig2.run_ms(1000)
    assert rig2.sup.contact and rig2.player.playing


@pytest.mark.rule("4.6")
@pytest.mark.parametrize(
    "name", ["sense_stuck_high", "i2c_error", "battery_low", "short_circuit", "sense_open"]
)
def test_clear_only_once_the_cause_is_gone(name):
    rig = running_rig()
    inject(rig, name, within_ms=600)
    code = rig.sup.fault
    trips = rig.sup.trips
    # long press while the cause is still there: refused, still latched, output still off
    assert not rig.sup.clear()
    assert rig.sup.latched and rig.sup.fault == code
    settle(rig)
    assert not rig.sup.clear()
    assert rig.out_en() == 0
    # cause gone: cleared; the output comes back only through contact detection + soft start
    rig.model.set_fault(name, False)
    assert rig.sup.clear()
    assert not rig.sup.latched and rig.sup.fault is None and not rig.sup.contact
    assert rig.sup.trips == trips
    rig.run_ms(200)
    assert rig.sup.contact and not rig.sup.latched
    assert rig.sup.allowed_ua <= FLOOR + 15


@pytest.mark.rule("4.6")
@pytest.mark.parametrize("name", ["dac_stuck_high"])
def test_faults_only_a_current_could_show_gone_clear_only_by_power_cycle(name):
    """Over-current (a stuck source): any pulse to look for it drives up to 1.1 mA through the
    client, so a long press never clears it (the output stays truly off)."""
    rig = running_rig()
    inject(rig, name, within_ms=600)
    code = rig.sup.fault
    assert code in clearing.POWER_CYCLE
    rig.model.set_fault(name, False)
    assert not rig.sup.clear()
    assert rig.sup.latched and rig.sup.fault == code and rig.out_en() == 0


@pytest.mark.rule("4.6")
def test_selftest_and_program_faults_clear_only_by_power_cycle():
    for code in (faults.SELFTEST, faults.PROGRAM):
        rig = Rig()
        rig.sup.trip(code)
        assert not rig.sup.clear()
        assert rig.sup.latched and rig.sup.fault == code


@pytest.mark.rule("4.6")
def test_first_fault_code_is_kept():
    rig = running_rig()
    rig.sup.trip(faults.SOFTWARE)
    rig.sup.trip(faults.SHORT)
    assert rig.sup.fault == faults.SOFTWARE and rig.sup.trips == 1


@pytest.mark.rule("4.6")
def test_latched_tick_forces_the_output_off_again():
    rig = running_rig()
    rig.sup.trip(faults.SOFTWARE)
    rig.hw.stage.set_polarity(1)
    rig.hw.stage.set_ua(500)
    rig.hw.stage.enable()  # a bug elsewhere turns it on again
    assert rig.out_en() == 1
    assert rig.sup.tick(rig.now_ms(), 500) == 0
    assert rig.out_en() == 0


@pytest.mark.rule("4.4", "4.5")
def test_contact_loss_zero_within_one_tick_and_resume_with_soft_start():
    rig = running_rig()
    assert rig.sup.allowed_ua > 200
    rig.vc.advance(500)
    t0 = rig.t_us()
    rig.model.set_load(False)
    rig.vc.advance(TICK_US - 500)
    rig.tick()
    assert not rig.sup.contact
    assert rig.out_en() == 0 and not rig.player.playing
    assert (off_at(rig, t0) - t0) <= TICK_US
    rig.vc.sleep_us(TICK_US)
    rig.run_ms(300)
    assert rig.sup.probes > 0
    rig.model.set_load(True, 20000)
    rig.run_ms(100)
    assert rig.sup.contact
    assert rig.sup.allowed_ua <= FLOOR + 5  # re-contact: from the floor at <= 100 uA/s
    rig.run_ms(1000)
    assert 90 + FLOOR <= rig.sup.allowed_ua <= 105 + FLOOR


def test_supervisor_restarts_the_plan_it_paused():
    # The app keeps asking (request > 0) and does not restart the player itself.
    rig = running_rig()
    rig.manage_player = False  # the rig's app part no longer (re)starts or stops the player
    rig.model.set_load(False)
    rig.run_ms(20)
    assert not rig.player.playing
    rig.model.set_load(True, 20000)
    rig.run_ms(200)
    assert rig.player.playing and rig.sup.contact
    rig.run_ms(500)
    amp = rig.sup.allowed_ua
    assert amp == rig.player._amp and 40 + FLOOR <= amp <= 65 + FLOOR
    # request 0 (user pause): no restart on the app's behalf
    rig.model.set_load(False)
    rig.run_ms(10)
    rig.request = 0
    rig.run_ms(10)
    rig.model.set_load(True, 20000)
    rig.run_ms(300)
    assert not rig.player.playing


@pytest.mark.rule("4.5")
def test_probe_pulses_small_short_and_rare():
    rig = Rig()
    rig.request = 300  # the app asks for output: probes look for contact
    rig.running = True
    rig.run_ms(1000)
    assert not rig.sup.contact
    on = None
    pulses = []
    peak = 0
    for ev in rig.events:
        t, drive, en = ev[0], ev[1], ev[3]
        if en and on is None:
            on = t
        if en:
            peak = max(peak, drive)
        if not en and on is not None:
            pulses.append((on, t))
            on = None
    assert len(pulses) >= 40
    assert peak <= c.PROBE_UA
    widths = [b - a for a, b in pulses]
    assert max(widths) <= 2000
    period = (pulses[-1][0] - pulses[0][0]) / (len(pulses) - 1)
    duty = sum(widths) / (pulses[-1][1] - pulses[0][0])
    assert duty <= 0.05, duty
    assert period >= c.PROBE_PERIOD_MS * 1000 * 0.99
    # polarity alternates: no net charge from the probes
    assert rig.sup.probes == len(pulses)


@pytest.mark.rule("4.5")
def test_no_probes_when_the_app_asks_for_nothing():
    rig = Rig()
    rig.model.set_load(True, 20000)
    rig.run_ms(500)
    assert rig.sup.probes == 0
    assert rig.events == [] or all(ev[3] == 0 for ev in rig.events)
    assert not rig.sup.contact


@pytest.mark.rule("4.5")
def test_contact_goes_unknown_when_nothing_measures():
    rig = running_rig()
    rig.running = False
    rig.request = 0
    rig.player.stop()
    rig.run_ms(sv.CONTACT_STALE_MS + 10)
    assert not rig.sup.contact and rig.sup.impedance_ohm is None


@pytest.mark.rule("4.6")
def test_poor_contact_is_a_cue_not_a_fault():
    rig = running_rig(z=150000, request=500, ms=8000)  # 500 uA x 150 k needs 75 V
    assert rig.sup.contact and rig.sup.poor_contact
    assert not rig.sup.latched
    assert rig.sup.measured_ua <= 20000 * 1000 // 150000 + 1


@pytest.mark.rule("4.1")
def test_request_of_5_ma_is_clamped_to_the_cap():
    rig = running_rig(request=5000, mode="pro", ms=12000)
    assert rig.sup.allowed_ua == 1000 or rig.sup.allowed_ua <= 1000
    assert max(ev[1] for ev in rig.events) <= 1000
    assert not rig.sup.latched
    rig = running_rig(request=5000, mode="home", ms=7000)
    assert rig.sup.allowed_ua == 500
    rig = running_rig(request=5000, mode="pro", area="eye_contour", probe="globe", ms=3000)
    assert rig.sup.allowed_ua == 200
    assert max(ev[1] for ev in rig.events) <= 200


@pytest.mark.rule("4.2")
def test_unknown_probe_type_raises_and_keeps_the_old_caps():
    rig = Rig()
    rig.sup.set_step("home", "cheek", "disk", 400)
    with pytest.raises(ValueError, match="probe: unknown type 'roller'"):
        rig.sup.configure("cheek", "roller", 1000)
    assert rig.sup.cap_ua == 400
    assert rig.sup.set_mode("turbo") == "home"  # a corrupt setting: the lower cap
    assert rig.sup.set_mode(None) == "home"
    assert rig.sup.set_mode("pro") == "pro"
    assert rig.sup.configure("cheek", "disk", 800) == 800
    assert rig.sup.configure("cheek", "qtip", 1000) == 140  # 2 mA/cm2 x 7 mm2


@pytest.mark.rule("4.3")
def test_engine_commanding_above_the_step_cap_latches():
    rig = running_rig(request=200, mode="pro", ms=3000)
    rig.sup.set_step("pro", "eye", "globe", 1000)  # cap 200, the old plan still plays
    rig.player.plan.amp_ua = 1000  # an engine bug: the plan's clamp is gone ...
    rig.manage_player = False
    rig.sup.cap_ua = 1000  # ... and the supervisor's own clamp on the request too
    rig.request = 600
    rig.run_ms(sv.CAP_GRACE_MS + 100)
    assert rig.sup.latched and rig.sup.fault == faults.SOFTWARE


@pytest.mark.rule("4.7")
def test_wdt_fed_only_by_passing_ticks():
    rig = running_rig()
    wdt = rig.sup.wdt
    n = wdt.feeds
    t = rig.ticks
    rig.run_ms(100)
    assert rig.ticks - t >= 100 // TICK_MS - 2 and wdt.feeds == n + (rig.ticks - t)  # 1 per tick

    def boom():
        raise RuntimeError("sense broke")

    rig.hw.sense.read = boom
    fed = wdt.feeds
    with pytest.raises(RuntimeError):
        rig.sup.tick(rig.now_ms(), 300)
    assert wdt.feeds == fed  # a tick that did not pass fed nothing


def test_tick_wrap():
    start = ((1 << 30) - 1500) * 1000  # the ms ticks wrap 1.5 s in
    rig = running_rig(ms=4000, start_us=start)
    assert rig.sup.contact and not rig.sup.latched
    assert 250 <= rig.sup.allowed_ua <= 300


@pytest.mark.rule("4.7")
def test_watchdog_boot_fault_only_for_wdt_reset():
    import machine

    for cause in (machine.PWRON_RESET, machine.HARD_RESET, machine.SOFT_RESET):
        assert not Rig(reset_cause=cause).sup.latched


@pytest.mark.rule("4.6")
def test_sense_stuck_at_a_plausible_value_latches():
    # A current ADC frozen at a mid value that over-current and mismatch both accept for a
    # while: the raw value does not follow two level changes of >= 50 uA.
    rig = running_rig(request=400, mode="pro", ms=2500)  # ~ 200 uA and rising
    import machine

    sense = rig.hw.sense
    frozen_i = sense.raw_i
    machine.world.adc[rig.board.PINS["SENSE_I"]] = frozen_i  # no noise either: truly frozen
    for _ in range(40):
        rig.run_ms(100)
        if rig.sup.latched:
            break
    assert rig.sup.latched
    assert rig.sup.fault == faults.SENSE_STUCK, rig.sup.fault
    assert rig.out_en() == 0


def test_periodic_checks_run_from_the_first_tick_near_the_wrap():
    # Counters start at 0; just before the ms tick wrap, "now - 0" is negative: still due.
    rig = running_rig(ms=400, start_us=((1 << 30) - 300) * 1000)
    rig.model.set_fault("i2c_error", True)
    rig.run_ms(sv.BUS_CHECK_MS + 4)
    assert rig.sup.latched and rig.sup.fault == faults.DAC


@pytest.mark.rule("4.6", "4.10")
def test_app_exception_from_the_dac_bus_is_reported_as_dac():
    rig = running_rig()
    rig.model.set_fault("i2c_error", True)
    with pytest.raises(OSError):
        rig.hw.stage.set_ua(100)  # the app's own call hits the dead bus
    rig.sup.trip(faults.SOFTWARE)  # what the app's exception handler does
    assert rig.sup.fault == faults.DAC
    assert rig.out_en() == 0


@pytest.mark.rule("4.6")
def test_sense_stuck_high_found_while_idle():
    rig = Rig()
    rig.run_ms(100)
    assert not rig.sup.latched
    rig.model.set_fault("sense_stuck_high", True)
    rig.run_ms(2 * sv.IDLE_CHECK_MS + 4)
    assert rig.sup.latched and rig.sup.fault == faults.SENSE_STUCK
    assert rig.sup.probes == 0 and rig.out_en() == 0


@pytest.mark.rule("4.6")
def test_current_with_out_en_low_is_a_sense_fault():
    import machine

    rig = Rig()
    rig.run_ms(100)
    # the current ADC reads ~100 uA with the output off (offset drift, a broken amplifier)
    machine.world.adc[rig.board.PINS["SENSE_I"]] = 100 * 65535 // rig.board.SENSE_UA_FS
    rig.run_ms(3 * sv.IDLE_CHECK_MS + 4)
    assert rig.sup.latched and rig.sup.fault == faults.SENSE_STUCK


def test_player_error_codes_match():
    from waveforms import player as wp

    assert sv._PLAYER_DEADMAN == wp.ERR_DEADMAN
    assert sv._PLAYER_EXCEPTION == wp.ERR_EXCEPTION
    assert sv._PLAYER_STALL == wp.ERR_STALL


@pytest.mark.rule("4.4")
def test_late_loop_deadman_then_resume_with_soft_start():
    rig = running_rig()
    rig.manage_player = False  # only the supervisor restarts
    before = rig.sup.allowed_ua
    assert before > 200
    rig.stall_ms(40)  # a 40 ms hiccup: the hardware deadman turns the output off by itself
    assert rig.out_en() == 0
    rig.player.heartbeat(rig.now_ms())  # the loop is back: the player sees the deadman's work
    assert not rig.player.playing and rig.player.error == wp.ERR_DEADMAN
    rig.run_ms(10)
    assert rig.player.playing and rig.sup.deadman_restarts == 1
    assert rig.sup.allowed_ua <= FLOOR  # from zero (the floor) again
    assert not rig.sup.latched


@pytest.mark.rule("4.10")
def test_exception_in_the_player_latches():
    rig = running_rig()

    def broken():
        raise RuntimeError("engine")

    rig.player.engine.feed = broken  # the engine raises while playing
    rig.run_ms(30)
    assert rig.sup.latched and rig.sup.fault == faults.SOFTWARE
    assert rig.out_en() == 0


@pytest.mark.rule("4.9")
def test_a_pulse_engine_that_stops_advancing_latches():
    """DESIGN 4.9: a player that stops advancing is stopped, not waited on. The state machine
    is halted behind the player's back (its legs stay as they were): the words the player
    hands over are no longer taken, and within a period and a margin the output is off."""
    import rp2

    rig = running_rig()
    rp2.StateMachine(0).active(0)
    rig.run_ms(200)
    assert rig.sup.latched and rig.sup.fault == faults.SOFTWARE
    assert rig.out_en() == 0 and rig.player.error == wp.ERR_STALL


@pytest.mark.rule("4.6")
def test_a_stuck_dac_without_a_load_latches_and_cannot_be_cleared():
    # No load: a DAC stuck high drives no current, so no over-current shows. The electrodes sit
    # at the rail with the DAC at zero: that latches DAC, and clear() refuses while it lasts.
    rig = running_rig()
    rig.model.set_load(False)
    rig.run_ms(400)
    assert not rig.sup.contact and not rig.sup.latched
    rig.model.set_fault("dac_stuck_high", True)
    rig.run_ms(200)  # the app still asks: the supervisor restarts nothing without contact
    rig.player.start(rig.player.plan, 0)  # a step start plays level 0 into the open load
    rig.run_ms(10)
    assert rig.sup.latched and rig.sup.fault == faults.DAC
    assert rig.out_en() == 0
    assert not rig.sup.clear()  # still stuck, still no load
    rig.model.set_fault("dac_stuck_high", False)
    assert not rig.sup.clear()  # only a power cycle (and its self-test) can show it gone
    assert rig.sup.proof_needed
