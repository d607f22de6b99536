# The supervisor's state, step set-up and fault latch (DESIGN 4): everything of
# safety.supervisor.Supervisor that is not the every-tick path (which is in supervisor.py).
# Nothing here runs per tick except _hold_safe() while a fault is latched.
from micropython import const

from drivers import clock
from safety import contact as _c
from safety import faults, limits
from safety.housekeep import Housekeeping

OC_ABS_UA = const(20)  # over-current: > commanded + 20 % + 20 uA (supervisor.py)
WDT_MS = const(500)


class SupervisorBase:
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
        # layer 3 of the ceiling (DESIGN 4.3): what the measured current is judged against
        self._oc_ceil = self.ceiling_ua
        self._oc_abs = OC_ABS_UA
        self.rail_mv = hw.rail_mv
        self._zero_rail = hw.rail_mv * _c.RAIL_PCT  # DAC zero at the rail: mv * 100 >= this
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
        self.proof_needed = False  # the cause can be shown gone only by a power cycle
        self.clearing = False  # kept for readers: the clear routine drives nothing
        self.trips = 0  # counts every latch, so the app sees a new fault even with the same code
        self.fault_ms = 0
        self.contact = False
        self.impedance_ohm = None
        self.poor_contact = False
        self._rail_ua = 0  # the current measured at the rail (poor contact)
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
        self._dac_flag = hasattr(self.dac, "error")
        self.hk = Housekeeping(self)
        self._hk_any = self.hk.any
        self._hk_n = 0
        self._idle_t0 = 0
        self._reset_checks(0)
        self._allowed_na = 0
        self._last_us = self.clock.ticks_us()
        self._slew_rem = 0  # nA x 1000 not yet added to the ramp
        m = getattr(hw, "machine", None)
        if m is not None:
            # A watchdog reset is a fault only when the WDT was armed by a running device: on
            # rp2 machine.reset() (mpremote, make deploy) also reboots through the watchdog.
            # Without a marker on the board every WDT_RESET counts (the old, safe reading).
            mark = self._mark
            if faults.watchdog_reset(m, mark):
                self.boot_fault = faults.WATCHDOG
                self._latch(faults.WATCHDOG, 0)
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

    def trip(self, code, now_ms=None):
        """Latch a fault from outside (app exception handler, self-test, program loader)."""
        if now_ms is None:
            now_ms = self.clock.ticks_ms()
        if code == faults.SOFTWARE and (
            self.stage.dac_error or (self._dac_flag and self.dac.error)
        ):
            code = faults.DAC  # the exception came from the DAC's bus: say so
        self._latch(code, now_ms)

    def clear(self, now_ms=None):
        """Long press: safety.clearing.clear (OUT_EN low while latched; over-current and a
        stuck source only by a power cycle; a short or sense fault only with one probe's
        proof, unlatched). Returns True when cleared. The module is imported here, on the
        first long press, not at boot (RAM)."""
        from safety import clearing

        if now_ms is None:
            now_ms = self.clock.ticks_ms()
        return clearing.clear(self, now_ms)

    def cause_gone(self, now_ms=None):
        """The clear routine's checks with the output off, without unlatching."""
        from safety import clearing

        if now_ms is None:
            now_ms = self.clock.ticks_ms()
        return clearing.cause_gone(self, now_ms)

    def _latch(self, code, now_ms, proof=False):
        # Output off first: OUT_EN low, DAC zero, bridge open; then stop the player (its edge
        # would otherwise drive the stage again); then off once more in case an edge ran between.
        # proof: the cause can be shown gone only with a current through a load (a power cycle)
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
            self.proof_needed = proof
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
        if stage.is_enabled() or stage.out_en.is_on():
            stage.off()
        return not stage.out_en.is_on()

    def _reset_checks(self, now_ms):
        self._oc_n = 0
        self._off_n = 0
        self._zero_n = 0
        self._short_n = 0
        self.hk.reset()
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
