# The safety supervisor (DESIGN 4, issue 4): called once per control tick, it samples the sense
# channels, decides contact, checks the measured current against what the output stage was
# driving at that instant, latches faults, and returns the most the app may ask of the player.
#
# tick() allocates nothing on MicroPython: integers below 2**30, no containers, no strings
# built, interned fault-code constants only. Time comes from drivers.clock.
#
# What latches (faults.py) and when (thresholds from DESIGN 4.6):
#   OVERCURRENT     measured > commanded + 20 % + 20 uA on 2 consecutive samples (1 during a
#                   contact probe), or measured > ceiling once
#   SENSE_STUCK     current ADC pegged at full scale (the stage cannot drive that much), current
#                   read with OUT_EN off (2 samples), or the ADC raw value unchanged across two
#                   level changes of >= 50 uA while in contact
#   SENSE_MISMATCH  a level is driven, the electrode voltage is below the rail, yet less than
#                   50 % of it reads, for 500 ms (at the rail it is poor contact, not a fault)
#   SHORT           load impedance < 500 Ohm on 2 consecutive samples
#   DAC             OSError from the DAC (driver flag, the stage's dac_error, or raised here)
#   BATTERY         battery under cut-off on 3 reads 100 ms apart
#   SOFTWARE        the stage commanded above the step's hard cap (engine clamp failed), or
#                   trip(SOFTWARE) from the app's exception handler
#   WATCHDOG        machine.reset_cause() == WDT_RESET at construction, and the board's marker
#                   (hw.wdt_mark) says the WDT was armed by a running device then (DESIGN 4.7)
from micropython import const

from drivers import clock
from safety import contact as _c
from safety import faults, limits

OC_PCT = const(20)  # over-current: > commanded + 20 % + 20 uA ...
OC_ABS_UA = const(20)
OC_COUNT = const(2)  # ... on 2 consecutive samples
MISMATCH_MS = const(500)
SHORT_OHM = const(500)
SHORT_COUNT = const(2)
OFF_TOL_UA = const(10)  # current that may read with OUT_EN off (offset, noise)
ZERO_MV = const(500)  # electrode voltage that may read with the DAC at zero and OUT_EN on
OFF_COUNT = const(2)
RAW_PEGGED = const(65000)  # ADC counts: the stage cannot drive a current that reads this high
STUCK_DELTA_UA = const(50)
STUCK_COUNT = const(2)
BAT_PERIOD_MS = const(100)
BAT_COUNT = const(3)
SLEW_NA_PER_MS = const(100)  # 100 uA/s = 100 nA/ms
MAX_DT_US = const(10000)  # a late tick ramps as if 10 ms passed, never more
STALE_MS = const(2500)  # playing with no informative sample for this long: ramp from zero
# A lowered step cap is enforced on the command after this: the player may play the old
# amplitude until its next segment (<= 3.4 s at 0.3 Hz).
CAP_GRACE_MS = const(4000)
WDT_MS = const(500)
CONTACT_STALE_MS = const(200)  # no sample for this long while nothing drives: contact unknown
BUS_CHECK_MS = const(20)  # an I2C DAC is read back at most this often (slot 4: every 25 ms)
IDLE_CHECK_MS = const(20)  # output off: the sense is read this often (must read no current)
PROBE_DEAD_US = const(25)  # between the two halves of a (balanced) contact probe
GAP_RETRY_US = const(30)  # an undriven sample is retried once, this much later
HK_SLOTS = const(5)  # housekeeping in slot 4 of 5: the bus check, the battery
# Player.error codes (waveforms/player.py ERR_*; safety does not import it)
_PLAYER_DEADMAN = const(1)  # the loop was silent: the hardware deadman dropped OUT_EN
_PLAYER_EXCEPTION = const(2)  # the engine raised while playing: it switched off; a fault
_PLAYER_STALL = const(4)  # the pulse engine stopped advancing: it switched off; a fault


def _recent(clk, now_ms, t0_ms, period_ms):
    """t0 lies within the last period_ms (a t0 'in the future', e.g. the initial 0 just before
    the tick wrap, is not recent: the periodic check is due)."""
    d = clk.ticks_diff(now_ms, t0_ms)
    return 0 <= d < period_ms


class Supervisor:
    def __init__(self, hw, player, clk=None, use_wdt=True, wdt_ms=None, arm_wdt=True):
        self.hw = hw
        self.stage = hw.stage
        self.sense = hw.sense
        self.battery = getattr(hw, "battery", None)
        self.dac = hw.stage.dac
        self.player = player
        self.clock = clk if clk is not None else clock
        ceiling = getattr(hw, "ceiling_ua", limits.CEILING_UA)
        self.ceiling_ua = ceiling if ceiling < limits.CEILING_UA else limits.CEILING_UA
        self.rail_mv = hw.rail_mv
        self.bat_cutoff_mv = getattr(hw, "bat_cutoff_mv", 0)
        self.probe_areas = getattr(hw, "probe_area_mm2", None)
        self._use_wdt = use_wdt and hasattr(hw, "make_wdt")
        self._wdt_ms = wdt_ms if wdt_ms is not None else getattr(hw, "wdt_timeout_ms", WDT_MS)
        self.wdt = None
        # arm_wdt: the WDT is made at the first passing tick (a supervisor on its own guards a
        # running output). The app passes False and calls watchdog(True) when the device leaves
        # soft-off (DESIGN 4.7), so a host tool can talk to a device that is off.
        self._arm_first = arm_wdt
        self._mark = getattr(hw, "wdt_mark", None)  # f(on=None): the board's armed marker
        self.det = _c.Contact(self.rail_mv)
        self.probe_timer = _c.ProbeTimer()
        self.fault = None
        self.latched = False
        self.clearing = False
        self.trips = 0  # counts every latch, so the app sees a new fault even with the same code
        self.fault_ms = 0
        self.contact = False
        self.impedance_ohm = None
        self.poor_contact = False
        self.allowed_ua = 0
        self.measured_ua = 0  # last sensed current magnitude (uA)
        self.probes = 0  # contact-probe pulses driven
        self.deadman_restarts = 0  # plans restarted after the player's deadman stopped them
        self.boot_fault = None  # WATCHDOG when the last reset was the watchdog's
        self.mode = limits.MODE_HOME
        # Until configure()/set_step() say otherwise: the home cap, no area or probe known.
        self.step_cap_ua = limits.mode_cap_ua(limits.MODE_HOME)  # ceiling/mode/area/probe
        self.client_ceiling_ua = self.ceiling_ua
        self.cap_ua = self.step_cap_ua  # step cap and client ceiling: what tick() clamps to
        self._cmd_cap = self.step_cap_ua  # what the commanded check enforces now
        self._cmd_cap_next = self.step_cap_ua
        self._resume_plan = None  # the plan stopped on contact loss, restarted on re-contact
        # The app's step is ending (its last period plays out): whatever stops the player now
        # ends the step; nothing restarts it (a restarted player would never finish).
        self.no_resume = False
        self._cap_grace = False
        self._cap_grace_t0 = 0
        self._cap_grace_started = False
        self._probe_pol = 1
        # I2C DAC: read one byte back every BUS_CHECK_MS. A read never changes the output, so it
        # cannot race the player's writes for the level (soft timer callbacks run between
        # bytecodes, never inside a bus transfer; boards with hard timer IRQs use no I2C DAC).
        dac = self.dac
        self._bus_check = hasattr(dac, "i2c") and hasattr(dac, "addr")
        self._dac_flag = hasattr(dac, "error")
        self._bus_buf = bytearray(1)
        self._bus_t0 = 0
        self._hk = 0
        self._idle_t0 = 0
        self._reset_checks(0)
        self._allowed_na = 0
        self._last_us = 0
        self._have_last = False
        self._slew_rem = 0  # nA x 1000 not yet added to the ramp
        self._bat_t0 = 0
        self._bat_have = False
        m = getattr(hw, "machine", None)
        if m is not None:
            # A watchdog reset is a fault only when the WDT was armed by a running device: on
            # rp2 machine.reset() (mpremote, make deploy) also reboots through the watchdog.
            # Without a marker on the board every WDT_RESET counts (the old, safe reading).
            mark = self._mark
            try:
                if m.reset_cause() == m.WDT_RESET and (mark is None or mark()):
                    self.boot_fault = faults.WATCHDOG
                    self._latch(faults.WATCHDOG, 0)
            except AttributeError:
                pass
            if mark is not None:
                mark(False)  # read: the next reset is judged by what happens from now on

    # --- configuration (step start, not in the tick) ------------------------------------------

    def set_mode(self, mode):
        """home (500 uA) or pro/professional (1000 uA). Anything else (a missing or corrupt
        setting) is home: the lower cap. Returns the mode in force. Takes effect at the next
        configure()."""
        if mode != limits.MODE_PRO and mode != "professional":
            mode = limits.MODE_HOME
        self.mode = mode
        return mode

    def configure(self, area, probe, client_ceiling_ua=None):
        """At every step start, in the mode set by set_mode(). See set_step()."""
        return self.set_step(self.mode, area, probe, client_ceiling_ua)

    def set_step(self, mode, area, probe, client_ceiling_ua=None):
        """At every step start: the step's hard cap (ceiling, mode, area, probe density) and the
        client's ceiling. Raises ValueError("probe: unknown type ...") for a probe the board
        does not know, ValueError("mode: ...") for an unknown mode. Restarts the soft-start
        ramp. Returns cap_ua: the step cap with the client ceiling (what the engine's plan
        should be built under)."""
        cap = limits.cap_ua(mode, area, probe, None, self.probe_areas)
        if cap > self.ceiling_ua:
            cap = self.ceiling_ua
        old = self._cmd_cap
        self.mode = mode
        self.step_cap_ua = cap
        if cap >= old:
            self._cmd_cap = cap
            self._cap_grace = False
        else:
            # The player may still play the old step's amplitude until its next segment.
            self._cmd_cap_next = cap
            self._cap_grace = True
            self._cap_grace_started = False
        if client_ceiling_ua is not None:
            self.set_client_ceiling(client_ceiling_ua)
        else:
            self._update_cap()
        self._resume_plan = None
        self.restart_ramp()
        return self.cap_ua

    def set_client_ceiling(self, ua):
        """The client's own ceiling (find-my-level): lowers take effect at the next tick."""
        if not isinstance(ua, int):
            raise ValueError("client ceiling: not an integer uA")
        self.client_ceiling_ua = ua if ua > 0 else 0
        self._update_cap()

    def _update_cap(self):
        c = self.client_ceiling_ua
        self.cap_ua = c if c < self.step_cap_ua else self.step_cap_ua

    def restart_ramp(self):
        """Soft start from zero (the app calls it at each step and stroke start)."""
        self._allowed_na = 0
        self.allowed_ua = 0

    # --- the control tick ---------------------------------------------------------------------

    def tick(self, now_ms, request_ua, slot=-1):
        """One control tick. Returns the amplitude (uA) the player may use now: 0 without
        contact or with a latched fault.

        Samples the sense while the output stage drives (the player's waveform); while it does
        not and the app asks for output (request_ua > 0), drives a contact-probe pulse every
        PROBE_PERIOD_MS instead. Contact lost: the player is stopped and the output switched off
        in this tick; the plan it was playing is restarted (from zero, soft start) when contact
        is back and the app still asks for output."""
        # The ramp runs on the us clock: ms ticks would let one tick count 3 ms for 2.2 ms.
        now_us = self.clock.ticks_us()
        dt = 0
        if self._have_last:
            dt = self.clock.ticks_diff(now_us, self._last_us)
            if dt > MAX_DT_US:
                dt = MAX_DT_US
            elif dt < 0:
                dt = 0
        self._last_us = now_us
        self._have_last = True
        if self.latched:
            if self._hold_safe():
                self._feed()
            return 0
        stage = self.stage
        if stage.dac_error or (self._dac_flag and self.dac.error):
            self._latch(faults.DAC, now_ms)
            return 0
        # Housekeeping (bus read-back, battery) in the app's slot 4 of 5 (the app's buttons,
        # session logic, UI and the player's poll take 0-3): each check runs every 20 ms /
        # 100 ms anyway, and no tick carries two slow jobs. Without a slot (-1: tests, tools)
        # the supervisor keeps its own count.
        if slot < 0:
            slot = self._hk + 1
            if slot >= HK_SLOTS:
                slot = 0
            self._hk = slot
        if (
            slot == 4
            and self._bus_check
            and not _recent(self.clock, now_ms, self._bus_t0, BUS_CHECK_MS)
        ):
            # An I2C DAC that stopped answering is found even while its code does not change.
            self._bus_t0 = now_ms
            try:
                self.dac.i2c.readfrom_into(self.dac.addr, self._bus_buf)
            except OSError:
                self._latch(faults.DAC, now_ms)
                return 0
        if slot == 4 and self.battery is not None and self.bat_cutoff_mv > 0:
            if self._check_battery(now_ms):
                return 0
        player = self.player
        playing = player.playing
        if not playing:
            perr = getattr(player, "error", 0)
            if perr == _PLAYER_EXCEPTION or perr == _PLAYER_STALL:
                self.trip(faults.SOFTWARE, now_ms)
                return 0
            if (
                perr == _PLAYER_DEADMAN
                and request_ua > 0
                and self._resume_plan is None
                and not self.no_resume
            ):
                # the loop was late and the player stopped itself: resume with a soft start
                self._resume_plan = player.plan
                self.deadman_restarts += 1
        probing = False
        level = -1  # no sample this tick
        torn = False
        driven = False
        if playing or stage.enabled:
            # The level on the pins when the sample was taken: read before and after the
            # conversions; a pulse edge in between (the hardware plays on while Python reads)
            # makes the sample unusable, not a sign of lost contact.
            if playing:
                k0 = player.level_key()
                if k0 == 0:
                    # a dead time or rest (<= 100 us in a biphasic period): sample just after
                    # it, so that a tick rate in step with the pulses does not keep missing
                    # the phases
                    self.clock.sleep_us(GAP_RETRY_US)
                    k0 = player.level_key()
                self.sense.read()
                k1 = player.level_key()
                level = k1 >> 2
                # a sample in a dead time or rest (legs low) shows no drive: nothing may flow,
                # and it neither counts towards nor resets the over-current check
                driven = k1 != 0
            else:
                k0 = stage.level_ua
                self.sense.read()
                k1 = stage.level_ua
                level = k1
                driven = stage.enabled
            if k0 != k1:
                level = -1
                torn = True
        elif request_ua > 0:
            if self.probe_timer.due(now_ms):
                try:
                    level = self._probe(now_ms)
                except OSError:
                    self._latch(faults.DAC, now_ms)
                    return 0
                probing = True
                driven = True
        elif self.contact and self.clock.ticks_diff(now_ms, self._info_ms) >= CONTACT_STALE_MS:
            # Nothing drives and nothing probes: the contact decision is no longer known.
            self.det.reset()
            self.contact = False
            self.impedance_ohm = None
        if (
            level < 0
            and not torn
            and not _recent(self.clock, now_ms, self._idle_t0, IDLE_CHECK_MS)
        ):
            # Output off: the sense must read no current (a pegged ADC or a current with
            # OUT_EN low is SENSE_STUCK)
            self._idle_t0 = now_ms
            self.sense.read()
            if self._check_sample(now_ms, 0, False, False):
                return 0
        if torn:
            pass  # the last good sample stands
        elif level < 0:
            self.measured_ua = 0  # nothing drives: nothing flows
        else:
            self.measured_ua = self.sense.ua
            if self._check_sample(now_ms, level, driven, probing):
                return 0
        if request_ua <= 0:
            self._resume_plan = None  # the app no longer asks: do not restart on its behalf
        if not self.contact:
            self.poor_contact = False
            if playing or stage.enabled:
                if playing and request_ua > 0 and not self.no_resume:
                    self._resume_plan = player.plan
                player.stop()
                stage.off()
            self._allowed_na = 0
            self.allowed_ua = 0
            self._feed()
            return 0
        # allowed = min(request, step cap, client ceiling), then the soft-start slew
        target = request_ua
        if target > self.cap_ua:
            target = self.cap_ua
        if target < 0:
            target = 0
        na = self._allowed_na
        if playing and na > 0 and self.clock.ticks_diff(now_ms, self._info_ms) >= STALE_MS:
            # Nothing measured for a long time while playing: contact may have been lost and
            # re-made unseen. Ramp from zero again.
            na = 0
            self._info_ms = now_ms
        q = dt * SLEW_NA_PER_MS + self._slew_rem  # <= 10000 * 100 + 999
        na += q // 1000
        self._slew_rem = q % 1000
        tna = target * 1000
        if na > tna:
            na = tna
        self._allowed_na = na
        self.allowed_ua = na // 1000
        if not playing and self._resume_plan is not None:
            # contact is back: play again from zero (soft start)
            plan = self._resume_plan
            self._resume_plan = None
            self._allowed_na = 0
            self.allowed_ua = 0
            try:
                player.start(plan, 0)
            except (ValueError, OSError):
                self._latch(faults.DAC if stage.dac_error else faults.SOFTWARE, now_ms)
                return 0
        self._feed()
        return self.allowed_ua

    def _probe(self, now_ms):
        """One contact probe: PROBE_UA for PROBE_SETTLE_US and a sense read, then the same with
        the other polarity (no net charge per probe). Returns the level driven at the read."""
        stage = self.stage
        clk = self.clock
        pol = -self._probe_pol
        self._probe_pol = pol
        stage.set_ua(_c.PROBE_UA)
        stage.set_polarity(pol)
        stage.enable()  # waits for the boost rail first if it was down: not part of the pulse
        t0 = clk.ticks_us()
        try:
            clk.sleep_us(_c.PROBE_SETTLE_US)
            self.sense.read()
            level = stage.level_ua
            # the same pulse with the other polarity: every probe is balanced by itself
            d = clk.ticks_diff(clk.ticks_us(), t0)
            stage.set_polarity(0)
            clk.sleep_us(PROBE_DEAD_US)
            stage.set_polarity(-pol)
            clk.sleep_us(d)
        finally:
            stage.off()
        self.probe_timer.fired(now_ms)
        self.probes += 1
        if stage.dac_error:
            raise OSError(5)
        return level

    def _check_sample(self, now_ms, level, driven, probing):
        """All checks on one sense sample. Returns True when a fault latched."""
        sense = self.sense
        ua = sense.ua
        if sense.raw_i >= RAW_PEGGED:
            return self._latch(faults.SENSE_STUCK, now_ms)
        if not driven:
            if ua > OFF_TOL_UA:
                self._off_n += 1
                if self._off_n >= OFF_COUNT:
                    return self._latch(faults.SENSE_STUCK, now_ms)
            else:
                self._off_n = 0
            self._stuck_have = False
            return False
        self._off_n = 0
        if self._check_current(now_ms, level, ua, probing):
            return True
        if not probing:
            if self._cap_grace:
                if not self._cap_grace_started:
                    self._cap_grace_started = True
                    self._cap_grace_t0 = now_ms
                elif self.clock.ticks_diff(now_ms, self._cap_grace_t0) >= CAP_GRACE_MS:
                    self._cmd_cap = self._cmd_cap_next
                    self._cap_grace = False
            if level > self._cmd_cap:
                return self._latch(faults.SOFTWARE, now_ms)
        det = self.det
        mv = sense.mv
        was = det.contact
        det.update(now_ms, level, ua, mv)
        kind = det.kind
        self.contact = det.contact
        self.impedance_ohm = det.impedance_ohm
        if kind == _c.NO_INFO:
            # A closed bridge with the DAC at zero must leave the electrodes near 0 V: at the
            # rail, the source drives without a command (a DAC stuck high, no load to show it
            # as over-current).
            stage = self.stage
            if level == 0 and stage.enabled and stage.polarity != 0 and mv > ZERO_MV:
                self._zero_n += 1
                # at the rail at once (no healthy stage gets there at zero), else twice
                if self._zero_n >= OC_COUNT or _c.at_rail(mv, self.rail_mv):
                    return self._latch(faults.DAC, now_ms)
            else:
                self._zero_n = 0
            return False
        self._zero_n = 0
        self._info_ms = now_ms
        if kind == _c.MEASURED:
            z = det.impedance_ohm
            if z < SHORT_OHM:
                self._short_n += 1
                if self._short_n >= SHORT_COUNT:
                    return self._latch(faults.SHORT, now_ms)
            else:
                self._short_n = 0
        # sense mismatch: below the rail, yet less than half the level reads
        if (was or det.contact or probing) and (
            kind == _c.SUSPECT or (kind == _c.MEASURED and not det.at_rail and ua * 2 < level)
        ):
            if not self._mm_active:
                self._mm_active = True
                self._mm_t0 = now_ms
            elif self.clock.ticks_diff(now_ms, self._mm_t0) >= MISMATCH_MS:
                return self._latch(faults.SENSE_MISMATCH, now_ms)
        else:
            self._mm_active = False
        self.poor_contact = det.contact and det.at_rail
        # stuck sense: the ADC raw value has not moved while the level moved by >= 50 uA (from
        # a reference sample, so a slow ramp counts too), in contact, below the rail
        raw = sense.raw_i
        if det.contact and not det.at_rail and not probing:
            if not self._stuck_have:
                self._stuck_have = True
                self._stuck_level = level
                self._stuck_raw = raw
            else:
                d = level - self._stuck_level
                if d < 0:
                    d = -d
                if d >= STUCK_DELTA_UA:
                    if raw == self._stuck_raw:
                        self._stuck_n += 1
                        if self._stuck_n >= STUCK_COUNT:
                            return self._latch(faults.SENSE_STUCK, now_ms)
                    else:
                        self._stuck_n = 0
                    self._stuck_level = level
                    self._stuck_raw = raw
        else:
            self._stuck_have = False
        return False

    def _check_current(self, now_ms, level, ua, probing):
        """Layer 3 of the ceiling (DESIGN 4.3): the measured current against the ceiling and
        against what the stage drove at the sample instant. True when a fault latched."""
        if ua > self.ceiling_ua:
            return self._latch(faults.OVERCURRENT, now_ms)
        if ua > level + level * OC_PCT // 100 + OC_ABS_UA:
            self._oc_n += 1
            if probing or self._oc_n >= OC_COUNT:
                return self._latch(faults.OVERCURRENT, now_ms)
        else:
            self._oc_n = 0
        return False

    def _check_battery(self, now_ms):
        if self._bat_have and self.clock.ticks_diff(now_ms, self._bat_t0) < BAT_PERIOD_MS:
            return False
        self._bat_t0 = now_ms
        self._bat_have = True
        if self.battery.read_mv() < self.bat_cutoff_mv:
            self._bat_n += 1
            if self._bat_n >= BAT_COUNT:
                return self._latch(faults.BATTERY, now_ms)
        else:
            self._bat_n = 0
        return False

    # --- faults -------------------------------------------------------------------------------

    def trip(self, code, now_ms=None):
        """Latch a fault from outside (app exception handler, self-test, program loader)."""
        if now_ms is None:
            now_ms = self.clock.ticks_ms()
        if code == faults.SOFTWARE and (
            self.stage.dac_error or (self._dac_flag and self.dac.error)
        ):
            code = faults.DAC  # the exception came from the DAC's bus: say so
        self._latch(code, now_ms)

    def _latch(self, code, now_ms):
        # Output off first: OUT_EN low, DAC zero, bridge open; then stop the player (its edge
        # would otherwise drive the stage again); then off once more in case an edge ran between.
        stage = self.stage
        stage.off()
        try:
            self.player.stop()
        except Exception:  # noqa: BLE001 - the output is already off; nothing may stop the latch
            pass
        stage.off()
        if not self.latched:
            self.fault = code
            self.fault_ms = now_ms
            self.latched = True
            self.trips += 1
        self._allowed_na = 0
        self.allowed_ua = 0
        self.measured_ua = 0
        self._resume_plan = None
        self.contact = False
        self.poor_contact = False
        self.det.reset()
        self.impedance_ohm = None
        return True

    def _hold_safe(self):
        """While latched: the output stays truly off. True when verified off."""
        stage = self.stage
        if self.player.playing:
            try:
                self.player.stop()
            except Exception:  # noqa: BLE001
                pass
        if stage.enabled or stage.out_en.is_on():
            stage.off()
        return not stage.out_en.is_on()

    def clear(self, now_ms=None):
        """Long press: unlatch only when the cause is gone. Checks, with the output off: the DAC
        answers, the current sense reads no current and is not pegged, the battery is above
        cut-off; then one contact-probe pulse (20 uA) must show no over-current, no short and a
        sense that explains the voltage. SELFTEST and PROGRAM clear only by a power cycle.
        Returns True when cleared."""
        if not self.latched:
            return True
        if now_ms is None:
            now_ms = self.clock.ticks_ms()
        code = self.fault
        if code == faults.SELFTEST or code == faults.PROGRAM:
            return False
        self.clearing = True  # the one probe pulse below is the only output while latched
        try:
            gone = self.cause_gone(now_ms)
        finally:
            self.clearing = False
        if not gone:
            return False
        self.latched = False
        self.fault = None
        self.player.error = 0  # what stopped it is the fault just cleared
        self._reset_checks(now_ms)
        self._allowed_na = 0
        self.allowed_ua = 0
        self.contact = False
        self.det.reset()
        self.probe_timer.reset()
        return True

    def cause_gone(self, now_ms):
        stage = self.stage
        sense = self.sense
        stage.dac_error = False
        if self._dac_flag:
            self.dac.error = False
        stage.off()
        if stage.dac_error:
            return False
        sense.read()
        if sense.raw_i >= RAW_PEGGED or sense.ua > OFF_TOL_UA:
            return False
        if self.battery is not None and self.bat_cutoff_mv > 0:
            if self.battery.read_mv() < self.bat_cutoff_mv:
                return False
        # OUT_EN on with the DAC at zero: nothing may flow and the electrodes stay near 0 V.
        # A DAC stuck high with no load connected shows here as the rail (the probe alone
        # cannot see it: without a load any source sits at the rail).
        stage.set_polarity(1)
        try:
            stage.enable()
            self.clock.sleep_us(_c.PROBE_SETTLE_US)
            sense.read()
        finally:
            stage.off()
        if sense.ua > OFF_TOL_UA or sense.mv > ZERO_MV:
            return False
        try:
            level = self._probe(now_ms)
        except OSError:
            stage.dac_error = True
            return False
        ua = sense.ua
        if sense.raw_i >= RAW_PEGGED or ua > level + level * OC_PCT // 100 + OC_ABS_UA:
            return False
        det = _c.Contact(self.rail_mv)
        kind = det.classify(level, ua, sense.mv)
        if kind == _c.SUSPECT:
            return False
        if kind == _c.MEASURED:
            if sense.mv * 1000 // ua < SHORT_OHM:
                return False
            if not _c.at_rail(sense.mv, self.rail_mv) and ua * 2 < level:
                return False
        return True

    def _reset_checks(self, now_ms):
        self._oc_n = 0
        self._off_n = 0
        self._zero_n = 0
        self._short_n = 0
        self._bat_n = 0
        self._mm_active = False
        self._mm_t0 = 0
        self._stuck_have = False
        self._stuck_level = 0
        self._stuck_raw = 0
        self._stuck_n = 0
        self._info_ms = now_ms

    # --- watchdog -----------------------------------------------------------------------------

    def watchdog(self, on):
        """The device leaves soft-off (True): arm the WDT (it cannot be stopped again on rp2)
        and set the board's marker, so that a reset from now on is a watchdog fault. Back in
        soft-off (False): clear the marker; the WDT, once armed, stays fed by the ticks, and a
        reset from now on (a host tool's Ctrl-C or machine.reset()) is not a fault. Not in a
        tick's hot path (a WDT is made, the marker written)."""
        if on and self._use_wdt and self.wdt is None:
            self.wdt = self.hw.make_wdt(self._wdt_ms)
        mark = self._mark
        if mark is not None:
            mark(bool(on) and self._use_wdt)
        if self.wdt is not None:
            self.wdt.feed()

    def _feed(self):
        wdt = self.wdt
        if wdt is None:
            if not self._use_wdt or not self._arm_first:
                return  # not armed: the device is in soft-off (watchdog(True) arms it)
            # Made at the first passing tick (once), so boot and self-test never race it.
            self.watchdog(True)
            return
        wdt.feed()
