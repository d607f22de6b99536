# One program session: its steps, strokes, pauses, step ends and the 30 min bound. Built by the
# app when the client starts a program (imported then, not at boot) and dropped when it ends.
#
# The session is in exactly one phase (self.phase), never in a mix of flags:
#   START   the program chosen, nothing built yet: the first step is built at the next logic
#           slot (the start is spread over ticks: the settings write happens before, in idle)
#   WAIT    no contact (before the first touch, or a lifted probe): the app keeps asking, so
#           the supervisor probes; the player stays stopped until contact, then soft-starts
#   PLAY    output on skin; strokes restart the soft start; time on skin counts
#   HOLD    the step's time is up: its last period plays out at the level it has (balanced),
#           the supervisor restarts nothing; then the next step (or the end)
#   USER    paused by the client (POWER short): the player stopped within the tick (the cut
#           period is repaid after the resume); only POWER short resumes it, with a soft start
#           from zero. A pause in HOLD ends the step at once and builds the next one paused:
#           a step boundary never resumes by itself.
#   RESUME  the client resumed (cue "resume"): as WAIT until the supervisor sees contact
#           again, then PLAY without a second cue
# Whatever the phase, every logic slot checks the program's 30 min from its start (pauses,
# extensions and restarts included, DESIGN 4.9) and, while paused (WAIT or USER), the 3 min
# auto power-off counted from the pause or the last button press.
#
# The interface the app uses (firmware/findlevel.py has the same): logic(), state (running or
# paused), request (the level asked of the supervisor), hold (the player keeps its level),
# retarget(level), stop(), record(completed); and what the display and the log show: program,
# program_id, step, step_index, area, side, on_skin_ms, steps_completed.
import gc

from micropython import const

from drivers.button import SHORT
from firmware import dose as _dose
from safety import limits
from safety.contact import MIN_LEVEL_UA
from waveforms import envelope as _envelope
from waveforms import plan as _plan

RUNNING = "running"
PAUSED = "paused"

START = const(0)
WAIT = const(1)
PLAY = const(2)
HOLD = const(3)
USER = const(4)
RESUME = const(5)

# what logic() returns to the app
GO = const(0)
DONE = const(1)  # every step ran (and the balance extension, if one was needed)
CAPPED = const(2)  # the program's 30 min from its start are over
POWER_OFF = const(3)  # paused for 3 min
TO_IDLE = const(4)  # find-my-level finished

LEVELS = const(10)
# A step's last period (0.3 Hz: 3.3 s) ends well within this; a player that does not finish
# (a lost callback, a stall) is stopped, not waited on (DESIGN 4.9)
HOLD_MAX_MS = const(4000)


def target_ua(step, level, cap):
    """The client's level (1..LEVELS) mapped into the step's range, within the cap."""
    lo, hi = step["intensity_ua"]
    t = lo + (hi - lo) * (level - 1) // (LEVELS - 1)
    return t if t < cap else cap


def client_ceiling(settings, probe):
    """The client's find-my-level ceiling for the probe; never below the smallest level the
    contact check can see (safety.contact.MIN_LEVEL_UA): a 9 uA stored by an older firmware
    drives 10."""
    c = settings.get("client_ceiling_ua")
    if isinstance(c, dict):
        v = c.get(probe)
        if isinstance(v, int) and v > 0:
            return v if v > MIN_LEVEL_UA else MIN_LEVEL_UA
    return limits.CEILING_UA


class Session:
    kind = "program"

    def __init__(self, app, program_id, program, now):
        self.app = app
        self.sup = app.supervisor
        self.player = app.player
        self.ui = app.ui
        self.program_id = program_id
        self.program = program
        self.t0 = now  # the 30 min count starts here and never restarts
        self.phase = START
        self.state = RUNNING
        self.request = 1  # asking is what makes the supervisor probe for contact from now
        self.hold = False
        self.step = None
        self.step_index = -1
        self.area = None
        self.side = None
        self.side_i = _dose.CENTRE
        self.ext_side = -1  # >= 0: the step runs again until that side is balanced
        self.dose = _dose.Dose()
        self.on_skin_ms = 0
        self.step_on_ms = 0
        self.stroke = -1
        self.steps_completed = 0
        self.faults = []
        self._phase_t0 = now  # when the pause or HOLD began (a press while paused: again)
        self._poor_cued = False
        self._pending_cue = None
        self._lo = 0
        self._target = 0
        self._stroke_ms = 1
        self._strokes = 1
        self._step_ms = 0
        self.envelope = None

    # -- steps ------------------------------------------------------------------------------
    def _begin_step(self, index, now, paused):
        prev_area, prev_side = self.area, self.side
        step = self.program["steps"][index]
        self.step_index = index
        self.step = step
        self.area = step["area"]
        self.side = step["side"]
        self.side_i = _dose.side_index(self.side)
        self._stroke_ms = int(step["stroke_s"] * 1000)
        self._strokes = step["strokes"]
        self._step_ms = self._stroke_ms * self._strokes
        self._lo = step["intensity_ua"][0]
        probe = step.get("probe", self.program["probe"])
        cap = self.sup.configure(self.area, probe, client_ceiling(self.app.settings, probe))
        self._target = target_ua(step, self.app.level, cap)
        # The plan is rebuilt only while the player is stopped; the gap between steps is also
        # where garbage is collected, so a GC pause never lands inside a phase.
        player = self.player
        player.stop()
        plan = self.app.plan
        _plan.build_step(plan, step, cap)
        self.envelope = _envelope.from_step(step)
        gc.collect()
        self.sup.no_resume = False
        self.step_on_ms = 0
        self.stroke = -1
        if prev_area is not None and (prev_area != self.area or prev_side != self.side):
            self._pending_cue = "new_area"
        else:
            self._pending_cue = None
        self.hold = False
        if paused:
            self.phase = USER
            self.request = 0
            self.state = PAUSED
            self._phase_t0 = now
        else:
            # asking from the start: the safety path (every tick, before the session logic
            # runs again) restarts a player it stopped for want of contact only while asked
            player.start(plan)
            self.phase = PLAY
            self.request = self._lo
            self.state = RUNNING

    def _step_done(self, now, paused):
        """The step's time is up (its last period played out, or cut by a pause): the next
        step, the balance extension, or the end. Returns DONE or GO."""
        if self.ext_side >= 0:
            return DONE
        steps = self.program["steps"]
        i = self.step_index + 1
        if i < len(steps):
            self._begin_step(i, now, paused)
            return GO
        low = self.dose.short_side()
        if low < 0:
            return DONE
        last = _dose.extension_step(steps, low)
        if last < 0:
            return DONE
        # The side that got less runs its last position again until the sides match; the
        # program's 30 min from its start still bound it (checked in logic()).
        self.ext_side = low
        self._begin_step(last, now, paused)  # it ends on balance (logic()), not on time
        return GO

    def retarget(self, level):
        if self.step is not None:
            self._target = target_ua(self.step, level, self.sup.cap_ua)

    def _stroke_ua(self):
        # Stroke k of n rises from the step minimum to the client's level on the last stroke.
        k = self.stroke + 1
        return self._lo + (self._target - self._lo) * k // self._strokes

    # -- the session logic, one slot in SLOTS ticks ----------------------------------------
    # @native  (machine code on a board: tools/build_mpy.py)
    def logic(self, now, dt, ep, pressed):
        """ep: the POWER event; pressed: any button event (the 3 min count restarts)."""
        if limits.program_over(self.t0, now):
            return CAPPED  # every phase: paused, waiting, holding, extending
        phase = self.phase
        if phase == START:
            self._begin_step(0, now, False)
            return GO
        sup = self.sup
        if ep == SHORT:
            if phase == USER:
                self._resume(now)
                phase = self.phase
            else:
                self.player.stop()  # within the tick (DESIGN 4.5); repaid on the other leg
                self.dose.account(self.player, self.side_i, sup.measured_ua)  # the cut period
                self.ui.cue("pause")
                if phase == HOLD:
                    # the step's time was up: it ends here, the next one waits for a resume
                    self.hold = False
                    sup.no_resume = False
                    r = self._step_done(now, True)
                    if r != GO:
                        return r
                self._pause(now, USER)
                return GO
        if phase == USER or phase == WAIT or phase == RESUME:
            if pressed:
                self._phase_t0 = now
            if limits.idle_over(self._phase_t0, now):
                return POWER_OFF
            if phase == USER:
                return GO
        request = self._stroke_ua() if self.stroke >= 0 else self._lo
        env = self.envelope
        if env is not None:
            request = env.level_ua(self.step_on_ms, request)
        self.request = request
        if sup.latched:
            return GO
        if phase == HOLD:
            self.dose.account(self.player, self.side_i, sup.measured_ua)
            if sup.contact:
                self.on_skin_ms += dt
            if limits.elapsed_ms(self._phase_t0, now) >= HOLD_MAX_MS:
                self.player.stop()  # it did not finish: stopped, the step ends
            if not self.player.playing:
                self.hold = False
                sup.no_resume = False
                return self._step_done(now, False)
            return GO
        if not sup.contact:
            if phase == PLAY:
                # before the first touch the program simply waits; a lifted probe is cued
                if self.on_skin_ms:
                    self.ui.cue("pause")
                self._pause(now, WAIT)
            self._poor_cued = False
            return GO
        if phase != PLAY:  # WAIT or RESUME: contact (again)
            if phase == WAIT and self.on_skin_ms:
                self.ui.cue("resume")
            self.phase = PLAY
            self.state = RUNNING
        if sup.poor_contact:
            if not self._poor_cued:
                self._poor_cued = True
                self.ui.cue("gel")
        else:
            self._poor_cued = False
        # treatment time counts only on skin
        self.step_on_ms += dt
        self.on_skin_ms += dt
        # the charge of this slot is counted in the buttons' slot (account(): the logic slot is
        # the heaviest of the tick; a pause and a step end account here, at once)
        stroke = self.step_on_ms // self._stroke_ms
        if stroke != self.stroke and stroke < self._strokes:
            self.stroke = stroke
            sup.restart_ramp()  # every stroke starts from zero with the soft start
            cue = self._pending_cue
            self._pending_cue = None
            self.ui.cue(cue if cue is not None else "stroke")
        if self.ext_side >= 0:
            end = self.dose.balanced(self.ext_side)
        else:
            # the step ends with the last whole period that fits its duration: finish() lets
            # that period complete (balanced) and the step never runs past its time
            end = self.step_on_ms + self.player.period_left_us() // 1000 >= self._step_ms
        if end:
            if self.ext_side < 0:
                self.steps_completed += 1
            self.phase = HOLD
            self._phase_t0 = now
            self.hold = True
            sup.no_resume = True  # a deadman or contact stop ends the step, never hangs it
            self.player.finish()
        return GO

    def _pause(self, now, phase):
        self.phase = phase
        self.state = PAUSED
        self._phase_t0 = now
        if phase == USER:
            self.request = 0

    def _resume(self, now):
        self.phase = RESUME  # running once the supervisor has contact (it probes: asked)
        self._phase_t0 = now
        self.player.start(self.app.plan)
        self.sup.restart_ramp()  # from zero (DESIGN 4.4: after every pause)
        self.ui.cue("resume")

    # @native  (machine code on a board: tools/build_mpy.py)
    def account(self):
        """The charge delivered while playing, to the step's side: the app calls it in the
        buttons' slot of every tick round (a pause and a step end account in logic())."""
        if self.phase == PLAY:
            self.dose.account(self.player, self.side_i, self.sup.measured_ua)

    # -- the end ----------------------------------------------------------------------------
    def stop(self):
        self.request = 0
        self.hold = False
        self.sup.no_resume = False

    def record(self, completed, level):
        """The session's log record."""
        from firmware import storage as _storage

        return {
            "program": self.program_id,
            "t_ms": self.t0,
            "rtc": _storage.rtc_seconds(),
            "on_skin_s": self.on_skin_ms // 1000,
            "charge_uc": self.dose.as_record(),
            "max_ua": self.dose.max_ua,
            "level": level,
            "steps": self.steps_completed,
            "faults": self.faults,
            "completed": completed,
        }
