# The application: the main loop, power and faults; the supervisor (safety/), the player
# (waveforms/) and the drivers keep their own rules. One control tick every 5 ms: the safety
# path every tick, and one kind of slow work per tick in turn (buttons, logic, UI, player
# accounting, supervisor housekeeping).
#   off -(long POWER)-> selftest -> idle -(short POWER)-> running <-> paused -> complete -> idle
#   any -> fault;  long POWER anywhere: output off, log saved, off
# The other parts (docs/ARCHITECTURE.md): menu.py (idle menu, starts and ends, imported when the
# device leaves soft-off), session.py / findlevel.py (a running session, one interface), dose.py,
# chores.py (slow work deferred to slots without output), ui.py, appview.py. _cut() is the app
# side's one way to stop the output.
from micropython import const

from drivers import clock
from drivers.button import LONG
from firmware import storage as _storage
from firmware import ui as _ui
from firmware.appview import AppView
from safety import faults, limits
from safety.supervisor import Supervisor
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
LEVELS = const(10)

OFF = "off"
SELFTEST = "selftest"
IDLE = "idle"
RUNNING = "running"
PAUSED = "paused"
COMPLETE = "complete"
FAULT = "fault"

FINDLEVEL = "findlevel"  # program id shown while the find-my-level routine runs


class App(AppView):
    def __init__(self, hw, root="/", programs_dirs=None):
        self.hw = hw
        self.root = root
        self._slot = SLOTS - 1  # the first tick reads the buttons, the next runs the logic
        self._ev = bytearray(4)  # button events (power, mode, plus, minus) between slots
        self._request = 0  # what the session asks of the supervisor
        self._hold = False  # the session's step end: the player keeps its level
        self.settings = _storage.Settings(root)
        self.log = _storage.SessionLog(root)
        self._dirs = programs_dirs
        self._library = None  # the program files, read and checked when first needed (_lib)
        self._catalog = []
        self.player = Player.for_hw(hw)
        # The WDT is armed when the device leaves soft-off (DESIGN 4.7), not at the first tick:
        # a host tool (mpremote) can talk to a device that is off.
        self.supervisor = Supervisor(hw, self.player, arm_wdt=False)
        self.supervisor.set_mode(self.settings.get("mode"))
        self.ui = _ui.UI(hw)
        self.ui.app = self  # the OLED's rows come from the app's state (firmware/ui.py)
        self.plan = None  # the pulse plan, built at the first start and reused
        self.state = OFF
        hw.stage.shutdown()  # soft-off from the start: output, rail off, the DAC asleep
        self.ui.show_state(OFF)  # LED off, display dark
        lv = self.settings.get("level")
        self.level = lv if isinstance(lv, int) and 1 <= lv <= LEVELS else 1
        self.choice = self.settings.get("last_program")  # the program the menu shows
        self.session = None  # the running session or find-my-level, else None
        self._last = None  # the session that ended last (what the simulator still reads)
        self.fault = None
        self.error = None  # text of the last software error (shown, logged)
        self.chores = None  # firmware/chores.py: slow work for logic slots without output
        self.menu = None  # firmware/menu.py once the device left soft-off
        self.last_record = None
        self.course_note = None
        self.course_phase = None
        self.course_warn = False
        self.course_blinks = 1
        self.findlevel_result = None
        self.selftest_report = None
        self._last_activity = clock.ticks_ms()
        self._state_t0 = self._last_activity
        self._last_tick = self._last_activity
        self._dt = 0
        # Problems (settings, board name, a repaired log, program files) are shown, and logged
        # once per problem, all of a start at once (log.problems), when the programs are read:
        # at power-on (soft-off does not even import programs.py), or now if any was found.
        from firmware import boards as _boards

        found = self.settings.problems + _boards.problems + self.log.report()
        for text in found:
            self.error = text
        self._found = found
        if found:
            self._lib()
        self._prog_id = None  # the program read and checked ahead, while idle (menu.py)
        self._prog = None  # its dict, or the error text
        # A watchdog reset means the loop stalled last time: come up showing that fault.
        if self.supervisor.boot_fault is not None:
            self._enter_fault(self.supervisor.boot_fault)

    def _menu(self):
        m = self.menu
        if m is None:
            from firmware import menu as m

            self.menu = m
        return m

    def _lib(self):
        self._work()
        return self._menu().library(self)

    def _work(self):
        """The deferred-work queue, made when the device leaves soft-off or a fault needs it."""
        c = self.chores
        if c is None:
            from firmware.chores import Chores

            c = Chores(self)
            self.chores = c
        return c

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
                self._hold = False
                self.hw.stage.shutdown()
            self.ui.show_state(state)

    def _cut(self):
        """The app's one way to stop the output (a fault, the end, power off, a crash)."""
        self._request = 0
        self._hold = False
        self.hw.stage.off()
        self.player.stop()

    # -- the loop -------------------------------------------------------------------------
    def run(self):
        """Forever: one tick, then sleep to the next tick's deadline."""
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
            self._cut()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.error = "%s: %s" % (type(exc).__name__, exc)
            self.supervisor.trip(faults.SOFTWARE)
            self._enter_fault(faults.SOFTWARE)
            self.log.error(self.error)
        except Exception:  # noqa: BLE001
            self.state = FAULT

    # @native  (machine code on a board: tools/build_mpy.py)
    def tick(self):
        now = clock.ticks_ms()
        sup = self.supervisor
        # The safety path, every tick: sample, judge, cut the output on contact loss or a
        # fault, and the level the player may use. What the app asks for (_request) comes from
        # the session logic, which (with the buttons) runs in one slot of SLOTS ticks, and the
        # display/LED/buzzer in another: no tick carries it all (DESIGN 3: a tick uses at most
        # 25 % of its period on an RP2040).
        slot = self._slot + 1
        if slot >= SLOTS:
            slot = 0
        self._slot = slot
        allowed = sup.tick(now, self._request, slot)
        if not self._hold:
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
            s = self.session
            if s is not None:
                s.account()  # the session's charge (kept out of the heavier logic slot)
        elif slot == _SLOT_LOGIC:
            self._logic(now)
        if sup.latched:
            st = self.state
            if st != FAULT and st != OFF:
                self._enter_fault(sup.fault)  # the supervisor's verdict, applied here only
        self.player.heartbeat(now, slot == _SLOT_POLL)
        if slot == _SLOT_UI:
            self.ui.update(now, clock)

    # @native  (machine code on a board: tools/build_mpy.py)
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
        if ep == LONG and state != OFF:
            if state == FAULT:
                self._try_clear(now)
            else:
                self.power_off()
            return
        if state == RUNNING or state == PAUSED:
            self.menu.session_logic(self, now, ep, em, eu, ed)
            return
        if state == OFF:
            if ep == LONG:
                self._power_on()
        elif state == SELFTEST:
            self._run_selftest()
        elif state == IDLE:
            self.menu.idle(self, now, ep, em, eu, ed)
        elif state == COMPLETE:
            if ep or em or eu or ed or (clock.ticks_diff(now, self._state_t0) >= COMPLETE_MS):
                self._set_state(IDLE)
        elif state == FAULT:
            if limits.idle_over(self._last_activity, now):
                self.power_off()  # the latch stays: it shows again at the next power-on
        c = self.chores
        if c is not None and c.due:
            c.step()  # no output in these states: one piece of slow work per slot

    # -- sessions (firmware/menu.py starts and ends them) -------------------------------------
    def begin(self, s):
        """A session (menu.py made it) takes over: the supervisor is asked from now on."""
        self.session = s
        self._request = s.request
        self._set_state(RUNNING)

    def _end_session(self, completed):
        if self.session is not None:
            self.menu.end_session(self, completed)

    # -- power ----------------------------------------------------------------------------
    def power_on(self):
        """Leave soft-off as a long POWER press does (firmware/softoff.py timed it); nothing in
        a fault (a watchdog fault at boot stays shown)."""
        if self.state == OFF:
            self._power_on()

    def _power_on(self):
        self._lib()  # the menu and the programs: read before the watchdog is armed
        self.supervisor.watchdog(True)  # a running device from here: a stall is a fault
        self.ui.cue("power_on")
        self._set_state(SELFTEST)

    def _run_selftest(self):
        from safety import selftest as _selftest

        ok, report, code = _selftest.run(self.hw, self._lib().ok)
        self.selftest_report = report
        if not ok:
            self.supervisor.trip(code or faults.SELFTEST)
            self._enter_fault(code or faults.SELFTEST)
            return
        self._last_activity = clock.ticks_ms()
        from firmware.chores import update_course

        update_course(self)
        self._set_state(IDLE)
        self.ui.show_course(self.course_blinks, self.course_warn, self._last_activity)

    def _off_sleep(self):
        """Soft-off: once the power-off cue has played and POWER is not held, sleep OFF_POLL_MS
        (hw.off_sleep: lightsleep on rp2) instead of a tick; stage and boost rail off, buzzer
        silent, display dark. A press brings the full tick rate back at the next poll."""
        hw = self.hw
        power = hw.buttons.power
        if hw.buzzer.busy() or power.pressed or power.pin() == 0:
            return False
        hw.off_sleep(OFF_POLL_MS)
        return True

    def power_off(self):
        """Long POWER (or 3 min idle or paused): output off, session saved, off."""
        self._cut()
        self._end_session(False)
        if self.chores is not None:
            self.chores.flush()
        self.settings.save()
        self.ui.cue("power_off")
        self._set_state(OFF)
        # soft-off: a reset from now on is not a watchdog fault (the WDT cannot be stopped on
        # rp2: it stays fed while the loop runs)
        self.supervisor.watchdog(False)

    # -- faults ---------------------------------------------------------------------------
    def _enter_fault(self, code):
        """Output off now; the session record or the fault line is written at a later logic
        slot (the fault state has no output), not in this tick."""
        self._cut()
        self.fault = code
        s = self.session
        if s is not None and s.program is not None:
            s.faults.append(code)
            self._end_session(False)
        else:
            self._end_session(False)
            self._work().error("fault %s" % code)
        self.ui.cue("fault")
        self._set_state(FAULT)

    def _try_clear(self, now):
        """Long POWER in fault: clears once the cause is gone; otherwise the device powers
        down with the fault still latched (a power cycle that cannot hide the fault)."""
        if self.supervisor.clear(now):
            self._lib()
            self.supervisor.watchdog(True)  # on, out of a boot-time fault too
            self.fault = None
            self.ui.cue("click")
            self._set_state(IDLE)
        else:
            self.power_off()


def micropython_setup():
    import micropython

    micropython.alloc_emergency_exception_buf(100)
