# Find my level: the current rises slowly while the probe is on the cheek; the client presses any
# button at the first tingle and 80 % of what flowed then becomes the personal ceiling for the
# probe type (settings "client_ceiling_ua"). Imported only when the client starts it (PLUS long
# in idle). The same interface as a program session (firmware/session.py): logic(), state,
# request, hold, retarget(), stop(), record(); the app drives both alike.
#
# The floor: the contact check says nothing about a sample taken while the stage drives less
# than safety.contact.MIN_LEVEL_UA (10 uA), so a ceiling below it would leave every later
# session blind to lift-offs. A press that would store less stores nothing (cue "limit", the
# client tries again).
from micropython import const

from firmware import dose as _dose
from firmware.session import GO, PAUSED, POWER_OFF, RUNNING, TO_IDLE
from safety import limits
from safety.contact import MIN_LEVEL_UA
from waveforms import plan as _plan

RISE_UA_PER_S = const(20)  # a slow rise, well under the 100 uA/s slew cap
FREQ_MHZ = const(10000)  # 10 Hz biphasic while finding the level
PERCENT = const(80)  # of the level felt
AREA = "cheek"
SIDE = "centre"


class FindLevel:
    kind = "findlevel"
    program_id = "findlevel"  # what the display and the simulator show
    program = None
    step = None
    step_index = -1
    steps_completed = 0
    hold = False
    area = AREA
    side = SIDE

    def __init__(self, app, now):
        self.app = app
        self.sup = app.supervisor
        self.player = app.player
        self.ui = app.ui
        self.t0 = now
        probe = app.settings.get("probe") or "disk"
        self.probe = probe
        self.cap = self.sup.configure(AREA, probe, limits.CEILING_UA)
        plan = app.plan
        _plan.build(plan, _plan.BIPHASIC, FREQ_MHZ, self.cap, self.cap)
        self.player.start(plan)
        self.request = 1  # asking for output is what makes the supervisor probe for contact
        self.state = RUNNING
        self.dose = _dose.Dose()
        self.on_skin_ms = 0
        self.find_ms = 0
        self.result = None  # the ceiling stored, 0 when nothing was
        self._pause_t0 = now
        self.ui.cue("start")

    def retarget(self, level):
        pass

    def logic(self, now, dt, ep, pressed):
        if limits.program_over(self.t0, now):
            return self._end(0)
        sup = self.sup
        req = RISE_UA_PER_S * self.find_ms // 1000
        if req < 1:
            req = 1
        self.request = req if req < self.cap else self.cap
        if sup.latched:
            return GO
        if sup.contact:
            self.find_ms += dt
            self.on_skin_ms += dt
            self.dose.account(self.player, _dose.CENTRE, sup.measured_ua)
            if self.state == PAUSED:
                self.state = RUNNING
        else:
            if self.state == RUNNING and self.find_ms:
                self.ui.cue("pause")
                self.state = PAUSED
                self._pause_t0 = now
            if pressed:
                self._pause_t0 = now
            elif limits.idle_over(self._pause_t0, now):
                return POWER_OFF
        if pressed:
            felt = sup.measured_ua if sup.contact else 0
            if felt <= 0:
                felt = self.player.driven_ua()
            return self._end(felt * PERCENT // 100 if felt > 0 else 0)
        if req >= self.cap:
            return self._end(self.cap)
        return GO

    def _end(self, ceiling):
        self.request = 0  # the app cuts the output when it hears TO_IDLE
        if ceiling < MIN_LEVEL_UA:
            # nothing flowed, or less than the contact check can see: nothing stored
            self.result = 0
            self.ui.cue("limit")
            return TO_IDLE
        self.result = ceiling
        s = self.app.settings
        c = s.get("client_ceiling_ua")
        if not isinstance(c, dict):
            c = {}
        c[self.probe] = ceiling
        s.set("client_ceiling_ua", c)  # written by the app in idle, output off
        self.ui.cue("tingle")
        return TO_IDLE

    def account(self):
        """Nothing here: find-my-level accounts in its logic slot (app.tick calls this)."""

    def stop(self):
        self.request = 0

    def record(self, completed, level):
        return None  # no session record: nothing was treated
