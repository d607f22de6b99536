# The application: the main loop's state machine. It uses the supervisor (safety/), the player
# (waveforms/) and the drivers; it does not re-implement their rules. One control tick every
# 2 ms: buttons, supervisor (contact, caps, soft start, faults, watchdog), program timing, cues.
#
#   off -(long POWER)-> selftest -> idle -(short POWER)-> running <-> paused -> complete -> idle
#   any -> fault;  long POWER anywhere: output off, log saved, off
import gc

from micropython import const

from drivers import clock
from drivers.button import LONG, SHORT
from firmware import course as _course
from firmware import programs as _programs
from firmware import storage as _storage
from firmware import ui as _ui
from safety import faults, limits
from safety import selftest as _selftest
from safety.supervisor import Supervisor
from waveforms import envelope as _envelope
from waveforms import plan as _plan
from waveforms.player import Player

# 200 Hz control tick (DESIGN 4.5 allows 200 Hz): on an RP2040 the safety path alone costs
# about 1 ms of MicroPython, so 500 Hz (500 us at 25 %) cannot fit; 5 ms at 25 % can.
TICK_US = const(5000)
SLOTS = const(5)  # slow work, one kind per tick: each runs every 5th tick (40 Hz)
_SLOT_BUTTONS = const(0)
_SLOT_LOGIC = const(1)
_SLOT_UI = const(2)
_SLOT_POLL = const(3)  # the player's accounting; slot 4: the supervisor's bus and battery checks
OFF_POLL_MS = const(50)  # soft-off: the loop sleeps this long between ticks (POWER polled)
COMPLETE_MS = const(8000)  # the "complete" screen, then idle
FIND_RISE_UA_PER_S = const(20)  # find-my-level: slow rise, well under the 100 µA/s slew cap
FIND_FREQ_MHZ = const(10000)  # 10 Hz biphasic while finding the level
LEVELS = const(10)

OFF = "off"
SELFTEST = "selftest"
IDLE = "idle"
RUNNING = "running"
PAUSED = "paused"
COMPLETE = "complete"
FAULT = "fault"

FINDLEVEL = "findlevel"  # program id shown while the find-my-level routine runs

_SIDES = ("left", "right")
_END_STEP = const(1)
_END_PROGRAM = const(2)
# LED blinks in idle: where the client is in a course (firmware/course.py phases)
_COURSE_BLINKS = {"start": 1, "intensive": 1, "weekly": 2, "maintenance": 3}


class App:
    def __init__(self, hw, root="/", programs_dirs=None):
        self.hw = hw
        self.root = root
        self._slot = SLOTS - 1  # the first tick reads the buttons, the next runs the logic
        self._ev = bytearray(4)  # button events (power, mode, plus, minus) between slots
        self._request = 0
        self.settings = _storage.Settings(root)
        self.log = _storage.SessionLog(root)
        self.library = _programs.Library(
            programs_dirs or _programs.default_dirs(root), areas=hw.probe_area_mm2
        )
        self.catalog = self.library.ids()
        self.player = Player.for_hw(hw)
        # The WDT is armed when the device leaves soft-off (DESIGN 4.7), not at the first tick:
        # a host tool (mpremote) can talk to a device that is off.
        self.supervisor = Supervisor(hw, self.player, arm_wdt=False)
        self.supervisor.set_mode(self.settings.get("mode"))
        self.ui = _ui.UI(hw)
        self.ui.app = self  # the OLED's rows come from the app's state (firmware/ui.py)
        self.plan = _plan.Plan()
        self.state = OFF
        self.ui.show_state(OFF)  # soft-off from the start: LED off, display dark
        self.level = self._valid_level(self.settings.get("level"))
        pid = self.settings.get("last_program")
        if pid not in self.catalog:
            pid = self.catalog[0] if self.catalog else None
        self.program_id = pid
        self.program = None
        self.step = None
        self.step_index = -1
        self.side = None
        self.area = None
        self.fault = None
        self.error = None  # text of the last software error (shown, logged)
        self.course_note = None
        self.findlevel_result = None
        self.envelope = None
        self._reset_session()
        self._last_activity = clock.ticks_ms()
        self._state_t0 = self._last_activity
        self._poor_cued = False
        self._find_ms = 0
        self._find_cap = 0
        self._course_warn = False
        self._course_blinks = 1
        self.course_phase = None
        self._user_pause = False
        self._pending_cue = None
        self._last_tick = self._last_activity
        self._dt = 0
        self.selftest_report = None
        self.last_record = None
        # A corrupt settings file, a broken custom program, an ignored board name or a repaired
        # log is reported, not fatal; each problem is logged once, not at every boot (an error
        # line per boot would push the session history out of the rotated log).
        from firmware import boards as _boards

        found = self.settings.problems + self.library.errors + _boards.problems + self.log.report()
        for text in found:
            self.error = text
        self.log.problems(found)
        # A watchdog reset means the loop stalled last time: come up showing that fault.
        if self.supervisor.boot_fault is not None:
            self._enter_fault(self.supervisor.boot_fault)

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _valid_level(v):
        if isinstance(v, int) and 1 <= v <= LEVELS:
            return v
        return 1

    def _reset_session(self):
        self.on_skin_ms = 0  # program time on skin (treatment time)
        self.step_on_ms = 0
        self.stroke = -1
        self.steps_completed = 0
        self.charge_nc = [0, 0, 0]  # left, right, centre: whole nC
        self.charge_uc = [0, 0, 0]
        self.max_ua = 0
        self.session_faults = []
        self._session_t0 = clock.ticks_ms()
        self._extending = False
        self._ext_side = -1
        self._ending = 0  # _END_STEP / _END_PROGRAM while the last period plays out
        self._p_uc = 0
        self._p_nc = 0

    def _set_state(self, state):
        if state != self.state:
            self.state = state
            self._state_t0 = clock.ticks_ms()
            if state == IDLE:
                self._last_activity = self._state_t0  # 3 min idle counts from here
            if state != RUNNING and state != PAUSED:
                # No output to come in this state (off, self-test start, idle, complete, fault):
                # the stage off and the 20 V rail down; enable() brings the rail up again, with
                # its settle time, when output is about to start. Nothing is asked of the
                # supervisor any more (no contact probes until a session asks again).
                self._request = 0
                self.hw.stage.shutdown()
            self.ui.show_state(state)

    # -- the loop -------------------------------------------------------------------------
    def run(self):
        """Forever: one tick, then sleep to the next 2 ms deadline."""
        nxt = clock.ticks_us()
        while True:
            try:
                self.tick()
            except Exception as e:  # noqa: BLE001 - anything: output off first, then report
                self.crash(e)
            if self.state == OFF and self._off_sleep():
                nxt = clock.ticks_us()  # soft-off: slept OFF_POLL_MS instead of a tick period
                continue
            nxt = clock.ticks_add(nxt, TICK_US)
            wait = clock.ticks_diff(nxt, clock.ticks_us())
            if wait > 0:
                clock.sleep_us(wait)
            else:
                nxt = clock.ticks_us()  # overran: do not try to catch up with a burst

    def crash(self, exc):
        """An exception escaped the tick: output off first, then show and log it."""
        try:
            self.hw.stage.off()
            self.player.stop()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.error = "%s: %s" % (type(exc).__name__, exc)
            self.supervisor.trip(faults.SOFTWARE)
            self._enter_fault(faults.SOFTWARE)
            self.log.error(self.error)
        except Exception:  # noqa: BLE001
            self.state = FAULT

    def tick(self):
        now = clock.ticks_ms()
        sup = self.supervisor
        # The safety path, every tick: sample, judge, cut the output on contact loss or a
        # fault, and the level the player may use. What the app asks for (_request) comes from
        # the session logic below, which (with the buttons) runs in one slot of SLOTS ticks, and
        # the display/LED/buzzer in another (_after): no tick carries it all (DESIGN 3: a tick
        # uses at most 25 % of its period on an RP2040).
        slot = self._slot + 1
        if slot >= SLOTS:
            slot = 0
        self._slot = slot
        allowed = sup.tick(now, self._request, slot)
        if self._ending == 0:
            self.player.set_amplitude(allowed)
        if slot == _SLOT_BUTTONS:
            b = self.hw.buttons
            ev = self._ev
            # events are kept until the session logic's slot takes them
            e = b.power.poll(now)
            if e:
                ev[0] = e
            e = b.mode.poll(now)
            if e:
                ev[1] = e
            e = b.plus.poll(now)
            if e:
                ev[2] = e
            e = b.minus.poll(now)
            if e:
                ev[3] = e
        elif slot == _SLOT_LOGIC:
            self._logic(now)
        st = self.state
        if sup.latched and st != FAULT and st != OFF:
            self._request = 0
            self._enter_fault(sup.fault)
        self._after(now)

    def _logic(self, now):
        # Time on skin counts in real elapsed ms (a late tick still counts what passed).
        dt = clock.ticks_diff(now, self._last_tick)
        self._last_tick = now
        self._dt = dt if 0 < dt < 100 else 0
        ev = self._ev
        ep = ev[0]
        em = ev[1]
        eu = ev[2]
        ed = ev[3]
        ev[0] = ev[1] = ev[2] = ev[3] = 0
        if ep or em or eu or ed:
            self._last_activity = now
        state = self.state
        self._request = 0  # _running() and _findlevel() say what they want

        if ep == LONG and state != OFF:
            if state == FAULT:
                self._try_clear(now)
            else:
                self.power_off()
            return

        if state == OFF:
            if ep == LONG:
                self._power_on()
        elif state == SELFTEST:
            self._run_selftest()
        elif state == IDLE:
            self._idle(now, ep, em, eu, ed)
        elif state == RUNNING or state == PAUSED:
            if self.program_id == FINDLEVEL and self.program is None:
                self._findlevel(now, ep or em or eu or ed)
            else:
                self._running(now, ep, eu, ed)
        elif state == COMPLETE:
            if ep or em or eu or ed or (clock.ticks_diff(now, self._state_t0) >= COMPLETE_MS):
                self._set_state(IDLE)
        elif state == FAULT:
            if limits.idle_over(self._last_activity, now):
                self.power_off()  # the latch stays: it shows again at the next power-on

    def _after(self, now):
        self.player.heartbeat(now, self._slot == _SLOT_POLL)
        if self._slot == _SLOT_UI:
            self.ui.update(now, clock)

    # -- power ----------------------------------------------------------------------------
    def power_on(self):
        """Leave soft-off as a long POWER press does (firmware/softoff.py timed it); nothing in
        a fault (a watchdog fault at boot stays shown)."""
        if self.state == OFF:
            self._power_on()

    def _power_on(self):
        self.supervisor.watchdog(True)  # a running device from here: a stall is a fault
        self.ui.cue("power_on")
        self._set_state(SELFTEST)

    def _run_selftest(self):
        ok, report, code = _selftest.run(self.hw, self.library.ok)
        self.selftest_report = report
        if not ok:
            self.supervisor.trip(code or faults.SELFTEST)
            self._enter_fault(code or faults.SELFTEST)
            return
        self._last_activity = clock.ticks_ms()
        self._update_course()
        self._set_state(IDLE)
        self.ui.show_course(self._course_blinks, self._course_warn, self._last_activity)

    def _off_sleep(self):
        """Soft-off between two ticks: once the power-off cue has played and POWER is not held,
        the board sleeps OFF_POLL_MS (hw.off_sleep: machine.lightsleep on rp2, clocks down and
        USB kept while a host has it mounted) instead of a tick period; the output stage and
        the boost rail are off (_set_state), the buzzer silent, the display dark. A press wakes
        the loop to the full tick rate at the next poll, so the long press is timed as always.
        Returns True when it slept."""
        hw = self.hw
        power = hw.buttons.power
        if hw.buzzer.busy() or power.pressed or power.pin() == 0:
            return False
        hw.off_sleep(OFF_POLL_MS)
        return True

    def power_off(self):
        """Long POWER: output off, session saved, off."""
        self.hw.stage.off()
        self.player.stop()
        if self.program is not None:
            self._end_session(False)
        self._leave_findlevel()
        self.settings.save()
        self.ui.cue("power_off")
        self._set_state(OFF)
        # soft-off: a reset from now on is not a watchdog fault (the WDT cannot be stopped on
        # rp2: it stays fed while the loop runs)
        self.supervisor.watchdog(False)

    # -- idle -----------------------------------------------------------------------------
    def _idle(self, now, ep, em, eu, ed):
        if em == SHORT and self.catalog:
            i = self.catalog.index(self.program_id) if self.program_id in self.catalog else -1
            self.program_id = self.catalog[(i + 1) % len(self.catalog)]
            self.settings.set("last_program", self.program_id)
            self.ui.cue("click")
        elif eu == SHORT or ed == SHORT:
            self._change_level(1 if eu == SHORT else -1)
        elif eu == LONG:
            self._start_findlevel(now)
        elif ep == SHORT:
            self._start_program(now)
        elif limits.idle_over(self._last_activity, now):
            self.power_off()

    def _change_level(self, d):
        lv = self.level + d
        if lv < 1 or lv > LEVELS:
            self.ui.cue("limit")
            return
        self.level = lv
        self.settings.set("level", lv)
        self.ui.cue("click")

    # -- programs -------------------------------------------------------------------------
    def _start_program(self, now):
        if self.program_id is None:
            self.ui.cue("limit")
            return
        try:
            prog = self.library.load(self.program_id)
        except (OSError, ValueError) as e:
            # A broken program file: reported and logged, the others stay usable.
            self.error = str(e)
            self.log.error(self.error)
            self.ui.cue("fault")
            return
        self.program = prog
        self.settings.save()  # level and program choice: written now, before any output
        self._reset_session()
        self.step_index = -1
        if self._course_warn:
            self.ui.cue("warn")
        else:
            self.ui.cue("start")
        self._next_step(now)

    def _next_step(self, now):
        steps = self.program["steps"]
        self.step_index += 1
        if self.step_index >= len(steps):
            if self._balance_extension(now):
                return
            self._finish(now, True)
            return
        self._begin_step(steps[self.step_index], now)

    def _begin_step(self, step, now):
        prev_area, prev_side = self.area, self.side
        self.step = step
        self.area = step["area"]
        self.side = step["side"]
        self._side_i = 0 if self.side == "left" else (1 if self.side == "right" else 2)
        self._stroke_ms = int(step["stroke_s"] * 1000)
        self._strokes = step["strokes"]
        self._step_ms = self._stroke_ms * self._strokes
        lo, hi = step["intensity_ua"]
        self._lo = lo
        # The client's level maps into the step's range; the strokes rise toward it.
        self._target = lo + (hi - lo) * (self.level - 1) // (LEVELS - 1)
        probe = step.get("probe", self.program["probe"])
        cap = self.supervisor.configure(self.area, probe, self._client_ceiling(probe))
        if self._target > cap:
            self._target = cap
        # The plan is rebuilt only while the player is stopped; the gap between steps is also
        # where garbage is collected, so a GC pause never lands inside a phase.
        self.player.stop()
        _plan.build_step(self.plan, step, cap)
        self.envelope = _envelope.from_step(step)
        gc.collect()
        self.player.start(self.plan)
        # asking from the start: the safety path (every tick, before the session logic runs
        # again) restarts a player it stopped for want of contact only while the app asks
        self._request = step["intensity_ua"][0]
        self.supervisor.no_resume = False
        self.step_on_ms = 0
        self.stroke = -1
        if prev_area is not None and (prev_area != self.area or prev_side != self.side):
            self._pending_cue = "new_area"
        else:
            self._pending_cue = None
        self._set_state(RUNNING)

    def _client_ceiling(self, probe):
        c = self.settings.get("client_ceiling_ua")
        if isinstance(c, dict):
            v = c.get(probe)
            if isinstance(v, int) and v > 0:
                return v
        return limits.CEILING_UA

    def _stroke_ua(self):
        # Stroke k of n rises from the step minimum to the client's level on the last stroke.
        k = self.stroke + 1
        return self._lo + (self._target - self._lo) * k // self._strokes

    def _running(self, now, ep, eu, ed):
        sup = self.supervisor
        if eu == SHORT or ed == SHORT:
            self._change_level(1 if eu == SHORT else -1)
            self._retarget()
        paused_by_user = self.state == PAUSED and self._user_pause
        if ep == SHORT:
            if self.state == RUNNING:
                self._user_pause = True
                # stops now (DESIGN 4.5: within a tick); the cut period's surplus is repaid
                # when the output resumes (the player starts on the other leg)
                self.player.stop()
                self.ui.cue("pause")
                self._set_state(PAUSED)
                paused_by_user = True
            elif paused_by_user:
                self._user_pause = False
                paused_by_user = False
                self.player.start(self.plan)
                sup.restart_ramp()
                self.ui.cue("resume")
        if paused_by_user:
            request = 0
        else:
            request = self._stroke_ua() if self.stroke >= 0 else self._lo
            env = self.envelope
            if env is not None:
                request = env.level_ua(self.step_on_ms, request)
        # The step's last period plays out at the level it has; the supervisor restarts
        # nothing meanwhile (a deadman or contact stop ends the step instead of hanging it),
        # and still probes for contact while the app asks.
        sup.no_resume = self._ending != 0
        self._request = request  # the safety path asks the supervisor with it, every tick
        if sup.latched:
            return
        if self._ending:
            # The step's time is up: its last period plays out (balanced), then move on.
            self._account()
            if sup.contact:
                self.on_skin_ms += self._dt
            if not self.player.playing:
                done = self._ending == _END_PROGRAM
                self._ending = 0
                if done:
                    self._finish(now, True)
                else:
                    self._next_step(now)
            return
        contact = sup.contact
        if paused_by_user:
            return
        if not contact:
            if self.state == RUNNING:
                # Before the first touch the program simply waits; a lifted probe is cued.
                if self.on_skin_ms:
                    self.ui.cue("pause")
                self._set_state(PAUSED)
            self._poor_cued = False
            return
        if self.state == PAUSED:
            if self.on_skin_ms:
                self.ui.cue("resume")
            self._set_state(RUNNING)
        if sup.poor_contact:
            if not self._poor_cued:
                self._poor_cued = True
                self.ui.cue("gel")
        else:
            self._poor_cued = False
        # Treatment time counts only on skin.
        dt = self._dt
        self.step_on_ms += dt
        self.on_skin_ms += dt
        self._account()
        stroke = self.step_on_ms // self._stroke_ms
        if stroke != self.stroke and stroke < self._strokes:
            self.stroke = stroke
            sup.restart_ramp()  # every stroke starts from zero with the soft start
            cue = self._pending_cue
            self._pending_cue = None
            self.ui.cue(cue if cue is not None else "stroke")
        if self._extending:
            if self._balanced():
                self._ending = _END_PROGRAM
                self.player.finish()
            return
        # The step ends with the last whole period that fits its duration: finish() lets that
        # period complete (balanced) and the step never runs past its time (DESIGN 4.9).
        if self.step_on_ms + self.player.period_left_us() // 1000 >= self._step_ms:
            self.steps_completed += 1
            self._ending = _END_STEP
            self.player.finish()
        elif limits.program_over(self._session_t0, now):
            self._finish(now, False)

    def _retarget(self):
        if self.step is not None:
            lo, hi = self.step["intensity_ua"]
            t = lo + (hi - lo) * (self.level - 1) // (LEVELS - 1)
            cap = self.supervisor.cap_ua
            self._target = t if t < cap else cap

    def _account(self):
        """Charge delivered since the last tick, from the player's own per-segment counters
        (a sense sample at 500 Hz would alias with the pulse train), added to the step's side."""
        p = self.player
        p.settle()
        uc = p.pos_uc + p.neg_uc
        nc = p.pos_nc + p.neg_nc
        if uc < self._p_uc or (uc == self._p_uc and nc < self._p_nc):
            d = uc * 1000 + nc  # the player restarted: its counters began again from zero
        else:
            d = (uc - self._p_uc) * 1000 + (nc - self._p_nc)
        self._p_uc = uc
        self._p_nc = nc
        q = self.supervisor.measured_ua
        if q > self.max_ua:
            self.max_ua = q
        i = self._side_i
        n = self.charge_nc[i] + d
        if n >= 1000:
            self.charge_uc[i] += n // 1000
            n %= 1000
        self.charge_nc[i] = n

    # -- dose balance ---------------------------------------------------------------------
    def _balanced(self):
        # Compared in µC: µC x 100 stays far below 2**30 for any session.
        lo = self.charge_uc[self._ext_side]
        hi = self.charge_uc[1 - self._ext_side]
        return lo * 100 >= hi * 95 or hi == 0

    def _balance_extension(self, now):
        """If one side got less than 95 % of the other, run that side's last position again
        until they match within 5 %. Returns True when an extension started."""
        if self._extending:
            return False
        left, right = self.charge_uc[0], self.charge_uc[1]
        if left == 0 and right == 0:
            return False
        low = 0 if left < right else 1
        lo, hi = (left, right) if low == 0 else (right, left)
        if lo * 100 >= hi * 95:
            return False
        steps = self.program["steps"]
        last = -1
        for i in range(len(steps)):
            if steps[i]["side"] == _SIDES[low]:
                last = i
        if last < 0:
            return False
        self._extending = True
        self._ext_side = low
        self.step_index = last
        self._begin_step(steps[last], now)
        self._step_ms = limits.PROGRAM_MAX_MS  # ends on balance (or the 30 min cap)
        return True

    def _finish(self, now, completed):
        self.hw.stage.off()
        self.player.stop()
        self._end_session(completed)
        self.ui.cue("end" if completed else "fault")
        self.program = None
        self.step = None
        self.area = None
        self.side = None
        self._set_state(COMPLETE)

    def _end_session(self, completed):
        rec = {
            "program": self.program_id,
            "t_ms": self._session_t0,
            "rtc": _storage.rtc_seconds(),
            "on_skin_s": self.on_skin_ms // 1000,
            "charge_uc": {
                "left": self.charge_uc[0],
                "right": self.charge_uc[1],
                "centre": self.charge_uc[2],
            },
            "max_ua": self.max_ua,
            "level": self.level,
            "steps": self.steps_completed,
            "faults": self.session_faults,
            "completed": completed,
        }
        self.last_record = rec
        try:
            self.log.append(rec)
        except Exception as e:  # noqa: BLE001 - a full or broken flash must not stop the device
            self.error = "log: %s" % e
        self.settings.bump_sessions()
        self._update_course()

    def _update_course(self):
        try:
            st = _course.status(
                self.log.records(),
                _storage.rtc_seconds(),
                now_ms=clock.ticks_ms(),
                boot=self.log.boot,
                target=self.settings.get("course_sessions"),
            )
            self.course_note = st.get("line")
            self.course_phase = st.get("phase")
            self._course_warn = bool(st.get("too_soon"))
            self._course_blinks = _COURSE_BLINKS.get(self.course_phase, 1)
        except Exception as e:  # noqa: BLE001 - the course is advice; never block a session
            self.course_note = None
            self._course_warn = False
            self.error = "course: %s" % e

    # -- faults ---------------------------------------------------------------------------
    def _enter_fault(self, code):
        self.hw.stage.off()
        self.player.stop()
        self._leave_findlevel()
        self.fault = code
        if self.program is not None:
            self.session_faults.append(code)
            self._end_session(False)
            self.program = None
            self.step = None
        else:
            try:
                self.log.error("fault %s" % code)
            except Exception:  # noqa: BLE001
                pass
        self.ui.cue("fault")
        self._set_state(FAULT)

    def _try_clear(self, now):
        """Long POWER in fault: clears once the cause is gone; otherwise the device powers
        down with the fault still latched (a power cycle that cannot hide the fault)."""
        if self.supervisor.clear(now):
            self.supervisor.watchdog(True)  # on, out of a boot-time fault too
            self.fault = None
            self.ui.cue("click")
            self._set_state(IDLE)
        else:
            self.power_off()

    # -- find my level ----------------------------------------------------------------------
    def _start_findlevel(self, now):
        probe = self.settings.get("probe") or "disk"
        cap = self.supervisor.configure("cheek", probe, limits.CEILING_UA)
        self._find_probe = probe
        self._find_cap = cap
        _plan.build(self.plan, _plan.BIPHASIC, FIND_FREQ_MHZ, cap, cap)
        self.player.start(self.plan)
        self._request = 1
        self.program_id_saved = self.program_id
        self.program_id = FINDLEVEL
        self.area = "cheek"
        self.side = "centre"
        self._side_i = 2
        self._reset_session()
        self._find_ms = 0
        self.findlevel_result = None
        self.ui.cue("start")
        self._set_state(RUNNING)

    def _findlevel(self, now, pressed):
        sup = self.supervisor
        # Current rises slowly with time on skin; the client presses at the first tingle.
        req = FIND_RISE_UA_PER_S * self._find_ms // 1000
        if req < 1:
            req = 1  # asking for output is what makes the supervisor probe for contact
        self._request = req if req < self._find_cap else self._find_cap
        if sup.latched:
            return
        if sup.contact:
            self._find_ms += self._dt
            self.on_skin_ms += self._dt
            self._account()
            if self.state == PAUSED:
                self._set_state(RUNNING)
        elif self.state == RUNNING and self._find_ms:
            self.ui.cue("pause")
            self._set_state(PAUSED)
        if pressed:
            felt = sup.measured_ua if sup.contact else 0
            if felt <= 0:
                felt = self.player.driven_ua()
            self._end_findlevel(felt * 80 // 100 if felt > 0 else 0, True)
        elif req >= self._find_cap:
            self._end_findlevel(self._find_cap, False)

    def _end_findlevel(self, ceiling, pressed):
        self.hw.stage.off()
        self.player.stop()
        self.findlevel_result = ceiling
        if ceiling > 0:
            c = self.settings.get("client_ceiling_ua")
            if not isinstance(c, dict):
                c = {}
            c[self._find_probe] = ceiling
            self.settings.set("client_ceiling_ua", c)
            self.settings.save()
            self.ui.cue("tingle")
        else:
            # Pressed before any current flowed: nothing learned, nothing stored.
            self.ui.cue("limit")
        self._leave_findlevel()
        self._set_state(IDLE)

    def _leave_findlevel(self):
        if self.program_id == FINDLEVEL:
            self.program_id = self.program_id_saved
            self.area = None
            self.side = None


def main():
    """Device entry point (main.py): build the board, run the app; if anything escapes the
    app's own handling, the output goes off and the loop restarts."""
    import machine

    from firmware import boards

    micropython_setup()
    settings = _storage.Settings("/")
    board = boards.load(settings.get("board"))
    hw = board.build(machine)
    app = App(hw, "/")
    while True:
        try:
            app.run()
        except Exception as e:  # noqa: BLE001
            app.crash(e)


def micropython_setup():
    import micropython

    micropython.alloc_emergency_exception_buf(100)
