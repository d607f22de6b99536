# The safety supervisor (DESIGN 4, issue 4): called once per control tick, it samples the sense
# channels, decides contact, checks the measured current against what the output stage was
# driving at that instant, latches faults, and returns the most the app may ask of the player.
# This file is the every-tick path; the rest of the class is in supbase.py, the slow checks
# in housekeep.py, the contact-probe pulse in probe.py, the clear routine in clearing.py.
# tick() allocates nothing on MicroPython: integers below 2**30, no containers, no strings
# built, interned fault-code constants only. Time comes from drivers.clock. On an RP2040 every
# attribute lookup costs ~1 us: the tick reads each attribute once into a local, thresholds are
# set when a step is configured, and work due at 10-50 Hz runs in the app's slot 4 only.
# What latches and when: faults.py.
#
# The level (DESIGN 4.4, 4.5): min(request, step cap, client ceiling), rising at <= 100 uA/s.
# In contact nothing below MIN_MEASURABLE_UA is driven (a sample of less is blind): a ramp
# starts at that floor, a request under it gives zero. At the compliance rail the level does
# not run ahead of the current that flows (at most 10 uA above it), so wetter skin brings no
# jump: the level rises from the measured current at the soft-start rate.
from micropython import const

from safety import faults
from safety import probe as _probe
from safety.housekeep import BAT_COUNT, BAT_PERIOD_MS, BUS_CHECK_MS  # noqa: F401 (exported)
from safety.probe import PROBE_DEAD_US  # noqa: F401 (exported: the probe's dead time)
from safety.supbase import OC_ABS_UA, WDT_MS, SupervisorBase  # noqa: F401 (exported)

OC_PCT = const(20)  # over-current: > commanded + 20 % + 20 uA ...
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
SLEW_NA_PER_MS = const(100)  # 100 uA/s = 100 nA/ms
FLOOR_UA = const(10)  # limits.MIN_MEASURABLE_UA (a const here: no module lookup per tick)
FLOOR_NA = const(10000)  # the same in nA
RAIL_AHEAD_NA = const(10000)  # at the rail: the level at most 10 uA above the measured current
MAX_DT_US = const(10000)  # a late tick ramps as if 10 ms passed, never more
STALE_MS = const(2500)  # playing with no informative sample for this long: ramp from zero
# A lowered step cap is enforced on the command after this: the player may play the old
# amplitude until its next segment (<= 3.4 s at 0.3 Hz).
CAP_GRACE_MS = const(4000)
CONTACT_STALE_MS = const(200)  # no sample for this long while nothing drives: contact unknown
IDLE_CHECK_MS = const(20)  # output off: the sense is read this often (must read no current)
GAP_RETRY_US = const(30)  # an undriven sample is retried once, this much later
HK_SLOTS = const(5)  # housekeeping in slot 4 of 5: the bus check, the battery
# Player.error codes (waveforms/player.py ERR_*; safety does not import it)
_PLAYER_DEADMAN = const(1)  # the loop was silent: the hardware deadman dropped OUT_EN
_PLAYER_EXCEPTION = const(2)  # the engine raised while playing: it switched off; a fault
_PLAYER_STALL = const(4)  # the pulse engine stopped advancing: it switched off; a fault
_NO_INFO = const(0)  # contact.NO_INFO (the tests check these match)
_MEASURED = const(1)  # contact.MEASURED
_SUSPECT = const(3)  # contact.SUSPECT


class Supervisor(SupervisorBase):
    """The every-tick path; state, step set-up, latch, clear and watchdog: supbase.py."""

    def restart_ramp(self):
        """Soft start from zero (the app calls it at each step and stroke start)."""
        self._allowed_na = 0
        self.allowed_ua = 0

    # --- the control tick ---------------------------------------------------------------------

    # @native  (machine code on a board: tools/build_mpy.py)
    def tick(self, now_ms, request_ua, slot=-1):
        """One control tick. Returns the amplitude (uA) the player may use now: 0 without
        contact or with a latched fault.

        Samples the sense while the stage drives; while it does not and the app asks for output
        (request_ua > 0), drives a contact probe every PROBE_PERIOD_MS. Contact lost: player
        stopped, output off in this tick; the plan is restarted (soft start) when contact is
        back and the app still asks."""
        # The ramp runs on the us clock: ms ticks would let one tick count 3 ms for 2.2 ms.
        clk = self.clock
        now_us = clk.ticks_us()
        dt = clk.ticks_diff(now_us, self._last_us)
        self._last_us = now_us
        if dt > MAX_DT_US:
            dt = MAX_DT_US
        elif dt < 0:
            dt = 0
        if self.latched:
            if self._hold_safe():
                self._feed()
            return 0
        stage = self.stage
        if stage.dac_error or (self._dac_flag and self.dac.error):
            self._latch(faults.DAC, now_ms)
            return 0
        # Housekeeping (bus read-back, battery) in the app's slot 4 of 5 (0-3: buttons, session
        # logic, UI, the player's poll): no tick carries two slow jobs. Without a slot (-1:
        # tests, tools) the supervisor keeps its own count.
        if slot < 0:
            slot = self._hk_n + 1
            if slot >= HK_SLOTS:
                slot = 0
            self._hk_n = slot
        if slot == 4 and self._hk_any and self.hk.run(self, now_ms):
            return 0
        player = self.player
        playing = player.playing
        if not playing:
            perr = player.error
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
        sense = self.sense
        probing = False
        level = -1  # no sample this tick
        torn = False
        driven = False
        if playing:
            # The level on the pins when the sample was taken: read before and after the
            # conversions; a pulse edge in between (the hardware plays on while Python reads)
            # makes the sample unusable, not a sign of lost contact.
            k0 = player.level_key()
            if k0 == 0:
                # a dead time or rest (<= 100 us in a biphasic period): sample just after it,
                # so that a tick rate in step with the pulses does not keep missing the phases
                clk.sleep_us(GAP_RETRY_US)
                k0 = player.level_key()
            sense.read()
            k1 = player.level_key()
            if k0 != k1:
                torn = True
            else:
                # a sample in a dead time or rest (legs low) shows no drive: nothing may flow,
                # and it neither counts towards nor resets the over-current check
                level = k1 >> 2
                driven = k1 != 0
        elif stage.is_enabled():
            k0 = stage.driven_ua()
            sense.read()
            k1 = stage.driven_ua()
            if k0 != k1:
                torn = True
            else:
                level = k1
                driven = True
        elif request_ua > 0:
            if self.probe_timer.due(now_ms):
                try:
                    level = _probe.drive(self, now_ms)
                except OSError:
                    self._latch(faults.DAC, now_ms)
                    return 0
                probing = True
                driven = True
        elif self.contact and clk.ticks_diff(now_ms, self._info_ms) >= CONTACT_STALE_MS:
            # Nothing drives and nothing probes: the contact decision is no longer known.
            self.det.reset()
            self.contact = False
            self.impedance_ohm = None
        if torn:
            pass  # the last good sample stands
        elif level >= 0:
            self.measured_ua = sense.ua
            if self._check_sample(now_ms, level, driven, probing):
                return 0
        else:
            self.measured_ua = 0  # nothing drives: nothing flows
            d = clk.ticks_diff(now_ms, self._idle_t0)
            if d < 0 or d >= IDLE_CHECK_MS:
                # Output off: the sense must read no current (a pegged ADC or a current with
                # OUT_EN low is SENSE_STUCK)
                self._idle_t0 = now_ms
                sense.read()
                if self._check_sample(now_ms, 0, False, False):
                    return 0
        if request_ua <= 0:
            self._resume_plan = None  # the app no longer asks: do not restart on its behalf
        if not self.contact:
            self.poor_contact = False
            if playing or stage.is_enabled():
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
        if target < FLOOR_UA:
            target = 0  # a level the sense cannot see is never driven in contact
        na = self._allowed_na
        if slot == 4 and playing and na > 0 and clk.ticks_diff(now_ms, self._info_ms) >= STALE_MS:
            # Nothing measured for a long time while playing: contact may have been lost and
            # re-made unseen. Ramp from zero again. (A 2.5 s limit: looked at in slot 4 only.)
            na = 0
            self._info_ms = now_ms
        q = dt * SLEW_NA_PER_MS + self._slew_rem  # <= 10000 * 100 + 999
        na += q // 1000
        self._slew_rem = q % 1000
        if na < FLOOR_NA:
            na = FLOOR_NA  # contact is confirmed: the ramp starts where the sense can see it
        if self.poor_contact:
            # at the rail: the level stays within RAIL_AHEAD_UA of the current that flows, so
            # wetter skin lets at most that much more flow at once, then the ramp goes on
            q = self._rail_ua * 1000 + RAIL_AHEAD_NA
            if na > q:
                na = q
        q = target * 1000
        if na > q:
            na = q
        self._allowed_na = na
        allowed = na // 1000
        self.allowed_ua = allowed
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
            allowed = 0
        wdt = self.wdt
        if wdt is not None:
            wdt.feed()  # the checks passed (the common case: no method hop)
        else:
            self._feed()
        return allowed

    # @native  (machine code on a board: tools/build_mpy.py)
    def _check_sample(self, now_ms, level, driven, probing):
        """All checks on one sense sample. Returns True when a fault latched."""
        sense = self.sense
        ua = sense.ua
        raw = sense.raw_i
        if raw >= RAW_PEGGED:
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
        # Layer 3 of the ceiling (DESIGN 4.3): the measured current against the ceiling and
        # against what the stage drove at the sample instant.
        if ua > self._oc_ceil:
            return self._latch(faults.OVERCURRENT, now_ms)
        if ua > level + level * OC_PCT // 100 + self._oc_abs:
            self._oc_n += 1
            if probing or self._oc_n >= OC_COUNT:
                return self._latch(faults.OVERCURRENT, now_ms)
        else:
            self._oc_n = 0
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
        contact = det.update(now_ms, level, ua, mv)
        kind = det.kind
        self.contact = contact
        self.impedance_ohm = det.impedance_ohm
        if kind == _NO_INFO:
            # A closed bridge with the DAC at zero must leave the electrodes near 0 V: at the
            # rail, the source drives without a command (a DAC stuck high, no load to show it
            # as over-current).
            if level == 0 and mv > ZERO_MV:
                stage = self.stage
                if stage.is_enabled() and stage.driving() != 0:
                    self._zero_n += 1
                    # at the rail at once (no healthy stage gets there at zero), else twice
                    if self._zero_n >= OC_COUNT or mv * 100 >= self._zero_rail:
                        return self._latch(faults.DAC, now_ms, True)
                    return False
            self._zero_n = 0
            return False
        self._zero_n = 0
        self._info_ms = now_ms
        rail = det.at_rail
        if kind == _MEASURED:
            if det.impedance_ohm < SHORT_OHM:
                self._short_n += 1
                if self._short_n >= SHORT_COUNT:
                    return self._latch(faults.SHORT, now_ms)
            else:
                self._short_n = 0
            mismatch = not rail and ua * 2 < level
        else:
            mismatch = kind == _SUSPECT
        # sense mismatch: below the rail, yet less than half the level reads
        if mismatch and (was or contact or probing):
            if not self._mm_active:
                self._mm_active = True
                self._mm_t0 = now_ms
            elif self.clock.ticks_diff(now_ms, self._mm_t0) >= MISMATCH_MS:
                return self._latch(faults.SENSE_MISMATCH, now_ms)
        else:
            self._mm_active = False
        if contact and rail:
            self.poor_contact = True
            self._rail_ua = ua
            self._stuck_have = False
            return False
        self.poor_contact = False
        # stuck sense: the ADC raw value has not moved while the level moved by >= 50 uA (from
        # a reference sample, so a slow ramp counts too), in contact, below the rail
        if not contact or probing:
            self._stuck_have = False
        elif not self._stuck_have:
            self._stuck_have = True
            self._stuck_level = level
            self._stuck_raw = raw
        else:
            d = level - self._stuck_level
            if d >= STUCK_DELTA_UA or d <= -STUCK_DELTA_UA:
                if raw == self._stuck_raw:
                    self._stuck_n += 1
                    if self._stuck_n >= STUCK_COUNT:
                        return self._latch(faults.SENSE_STUCK, now_ms, True)
                else:
                    self._stuck_n = 0
                self._stuck_level = level
                self._stuck_raw = raw
        return False

    def _feed(self):
        wdt = self.wdt
        if wdt is None:
            if not self._use_wdt or not self._arm_first:
                return  # not armed: the device is in soft-off (watchdog(True) arms it)
            # Made at the first passing tick (once), so boot and self-test never race it.
            self.watchdog(True)
            return
        wdt.feed()
