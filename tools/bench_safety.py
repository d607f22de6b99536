"""Safety figures for ``make bench`` and the rig the safety tests share (host side only).

``measure() -> dict`` gives ``reaction_contact_loss_ms`` and ``reaction_overcurrent_ms`` (DESIGN
section 7) measured on the sim board: the firmware's supervisor and the real waveform player on
the virtual clock, a 500 Hz control tick like the app's, the output-stage model of vhw/stage.py.

- contact loss: the probes leave the skin (``StageModel.set_load(False)``) at an instant spread
  over the tick period, while running at 300 uA, 100 Hz biphasic. Reaction = from that instant
  to the output stage being off (OUT_EN low, DAC zero): what the firmware commands drops to 0.
- over-current: ``dac_stuck_high`` at an instant spread over the tick period while running at
  300 uA into 20 kOhm (the load then takes 1000 uA, the rail's limit). Reaction = from onset to
  OUT_EN low.

Both are reported in ms (worst and mean over the trials) and in control ticks (worst).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from safety import faults  # noqa: E402 (no device imports: safe before the fakes)

TICK_MS = 5  # the app's control tick (200 Hz)


def _install():
    from vhw import install

    if "machine" not in sys.modules or not hasattr(sys.modules["machine"], "world"):
        install.install()
    return install


class Rig:
    """The sim board, the real Player and the Supervisor, with a minimal app loop: each tick
    heartbeat, supervisor tick, then (when running and in contact) the player plays at the
    allowed amplitude; paused (player stopped) otherwise. Every output change is recorded
    (``events``: t_us, driving uA, |load uA|, OUT_EN, contact, latched, allowed, player playing).
    """

    def __init__(
        self,
        start_us=0,
        reset_cause=None,
        shape=None,
        freq_mhz=100000,
        use_wdt=True,
        record=True,
    ):
        install = _install()
        import machine

        from firmware.boards import sim as board
        from safety.supervisor import Supervisor
        from waveforms import plan as _plan
        from waveforms.player import Player

        self.machine = machine
        self.vc, self.model = install.make_sim_world(start_us, reset_cause=reset_cause)
        self.hw = board.build(machine)
        self.board = board
        self.player = Player.for_hw(self.hw)
        self.sup = Supervisor(self.hw, self.player, use_wdt=use_wdt)
        self._plan = _plan
        self.shape = _plan.BIPHASIC if shape is None else shape
        self.freq_mhz = freq_mhz
        self.plan = None
        self.request = 0
        self.running = False
        self.manage_player = True  # False: the loop only heartbeats, ticks, sets the amplitude
        self.exceptions = []
        self.events = []
        self.ticks = 0
        self.allowed_log = []  # (t_us, allowed, _allowed_na) per tick
        self.on_event = None
        self._rebuild()
        if record:
            machine.world.listeners.append(self._listen)

    # -- app-like control --
    def _rebuild(self):
        cap = self.sup.cap_ua
        if cap > self.sup.client_ceiling_ua:
            cap = self.sup.client_ceiling_ua
        self.plan = self._plan.make(self.shape, self.freq_mhz, cap, cap)

    def set_step(self, mode, area, probe, client_ceiling_ua=None):
        """A new step: the player stops, the supervisor takes the step's caps (and restarts the
        ramp), the plan is rebuilt under the cap (the engine clamp)."""
        self.player.stop()
        cap = self.sup.set_step(mode, area, probe, client_ceiling_ua)
        self._rebuild()
        return cap

    def t_us(self):
        return self.vc.now_us_abs()

    def now_ms(self):
        from drivers import clock

        return clock.ticks_ms()

    def tick(self):
        sup = self.sup
        player = self.player
        now = self.now_ms()
        player.heartbeat(now)
        t_sup = self.t_us()  # the supervisor's own instant (the heartbeat may take bus time)
        allowed = sup.tick(now, self.request)
        self.ticks += 1
        self.allowed_log.append((t_sup, allowed, sup._allowed_na))
        try:
            if not self.manage_player:
                if player.playing:
                    player.set_amplitude(allowed)
            elif self.running and sup.contact and not sup.latched:
                if not player.playing:
                    sup.restart_ramp()
                    player.start(self.plan, 0)
                player.set_amplitude(allowed)
            elif player.playing:
                player.stop()
        except Exception as e:  # noqa: BLE001 - what the app's crash() does: off, then latch
            self.exceptions.append(e)
            self.hw.stage.off()
            player.stop()
            sup.trip(faults.SOFTWARE)
        return allowed

    def run_ms(self, ms):
        """ms of virtual time, a tick every TICK_MS (the ticks take virtual time themselves:
        the sim board charges the target's I2C and ADC costs)."""
        end = self.t_us() + ms * 1000
        while self.t_us() < end:
            self.tick()
            self.vc.sleep_us(TICK_MS * 1000)

    def stall_ms(self, ms):
        """Time passes with no control tick (the loop is stuck): timers still fire. In 1 ms
        steps: the virtual watchdog is checked at the end of each step of the clock."""
        for _ in range(ms):
            self.vc.advance(1000)

    # -- recording --
    def state(self):
        m = self.model
        driving = m.source_ua() if m.driving() else 0
        return (
            self.t_us(),
            driving,
            abs(m.measured_ua()),
            self.machine.world.level(self.board.PINS["OUT_EN"]),
            self.sup.contact,
            self.sup.latched,
            self.sup.allowed_ua,
            self.player.playing,
        )

    def _listen(self, kind, ident, value):
        ev = self.state()
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def out_en(self):
        return self.machine.world.level(self.board.PINS["OUT_EN"])


def _first_after(events, t0, pred):
    for ev in events:
        if ev[0] >= t0 and pred(ev):
            return ev[0]
    return None


def _trial_contact_loss(offset_us):
    rig = Rig(use_wdt=False)
    rig.model.set_load(True, 20000)
    rig.running = True
    rig.request = 300
    rig.set_step("home", "cheek", "disk", 500)
    rig.run_ms(3000)  # contact, ramp to ~290 uA
    rig.vc.advance(offset_us)
    t0 = rig.t_us()
    n0 = rig.ticks
    rig.model.set_load(False)
    for _ in range(20):
        rig.vc.advance(TICK_MS * 1000 - offset_us if rig.ticks == n0 else TICK_MS * 1000)
        rig.tick()
        if rig.out_en() == 0:
            break
    # the output is off when OUT_EN is low and the DAC is at zero
    t1 = _first_after(rig.events, t0, lambda ev: ev[3] == 0)
    return t0, t1, rig.ticks - n0


def _trial_overcurrent(offset_us):
    rig = Rig(use_wdt=False)
    rig.model.set_load(True, 20000)
    rig.running = True
    rig.request = 300
    rig.set_step("pro", "cheek", "disk", 1000)
    rig.run_ms(3000)
    rig.vc.advance(offset_us)
    t0 = rig.t_us()
    n0 = rig.ticks
    rig.model.set_fault("dac_stuck_high", True)
    rig._listen("fault", 0, 1)  # the onset itself is an output change
    for _ in range(20):
        rig.vc.advance(TICK_MS * 1000 - offset_us if rig.ticks == n0 else TICK_MS * 1000)
        rig.tick()
        if rig.sup.latched:
            break
    t1 = _first_after(rig.events, t0, lambda ev: ev[3] == 0)
    fault = rig.sup.fault
    return t0, t1, rig.ticks - n0, fault


def measure(trials=20):
    """The two reaction figures on the sim board. Keys (DESIGN 7): reaction_contact_loss_ms,
    reaction_overcurrent_ms (worst case over `trials` onsets spread over one tick period), plus
    mean and tick counts. A figure that could not be measured is None."""
    out = {}
    cl = []
    cl_ticks = 0
    oc = []
    oc_ticks = 0
    oc_faults = set()
    for k in range(trials):
        offset = (k * TICK_MS * 1000) // trials
        t0, t1, n = _trial_contact_loss(offset)
        if t1 is not None:
            cl.append((t1 - t0) / 1000.0)
            cl_ticks = max(cl_ticks, n)
        t0, t1, n, fault = _trial_overcurrent(offset)
        if t1 is not None:
            oc.append((t1 - t0) / 1000.0)
            oc_ticks = max(oc_ticks, n)
            oc_faults.add(fault)
    out["reaction_contact_loss_ms"] = round(max(cl), 3) if len(cl) == trials else None
    out["reaction_contact_loss_ms_mean"] = round(sum(cl) / len(cl), 3) if cl else None
    out["reaction_contact_loss_ticks"] = cl_ticks if cl else None
    out["reaction_overcurrent_ms"] = round(max(oc), 3) if len(oc) == trials else None
    out["reaction_overcurrent_ms_mean"] = round(sum(oc) / len(oc), 3) if oc else None
    out["reaction_overcurrent_ticks"] = oc_ticks if oc else None
    out["reaction_overcurrent_faults"] = sorted(oc_faults)
    out["reaction_tick_ms"] = TICK_MS
    out["reaction_runtime"] = "CPython %d.%d, sim board, virtual clock" % sys.version_info[:2]
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1, sort_keys=True))
