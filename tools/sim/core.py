# The simulator's core: runs the firmware's own app loop on the sim board with a scripted client
# and records the trace. It runs on CPython (in-process, tools/sim/__main__.py) and on the
# MicroPython VM (tools/sim/mp_main.py through tools/mpvm/runner.py), so it is written in the
# subset both run: no typing, dataclasses, pathlib or f-strings; plain file writes.
#
# How it hooks in (docs/ARCHITECTURE.md, "The app as the simulator and tests see it"):
# - app.run() runs unmodified; the virtual clock calls idle_hook each time the app sleeps to
#   its next tick deadline: there the due scenario events are applied and a tick row written;
#   StopSimulation from that hook ends the run.
# - every pin/PWM/DAC/I2C write reaches world.listeners; the listener only marks the trace
#   dirty and the row is written just before virtual time moves on (the clock's _step is
#   wrapped), so an edge row holds the state after all the writes of that instant.
# - a stalled loop (fault loop_stall) is the hook not returning: time runs on (timers fire,
#   the watchdog bites) until the fault clears. A watchdog or machine.reset() reboots the
#   board: a new virtual board with the same load, faults and filesystem, trace time running on.
#
# Host side of the firmware's world, never deployed; allocation does not matter here.
import json

COLUMNS = "t_us,commanded_ua,measured_ua,contact,impedance_ohm,state,program,step,fault"
US_PER_DAY = 86400 * 1000000
STALL_STEP_US = 1000
# The board's RTC at trace time 0: Monday 2026-01-05 09:00 UTC (Unix seconds), so that the
# session log and the course see calendar days passing between sessions.
RTC_START_S = 1767603600
_BUTTON_PINS = {
    "power": "BTN_POWER",
    "mode": "BTN_MODE",
    "plus": "BTN_PLUS",
    "minus": "BTN_MINUS",
}


def _join(a, b):
    if not a:
        return b
    if a.endswith("/"):
        return a + b
    return a + "/" + b


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdirs(path):
    import os

    cur = ""
    for part in path.split("/"):
        if not part:
            if not cur:
                cur = "/"
            continue
        cur = _join(cur, part) if cur else part
        if not _exists(cur):
            os.mkdir(cur)


def write_settings(root, program):
    """--program ID: {"last_program": ID} in the settings file under root (merged)."""
    path = _join(root, "settings.json")
    data = {}
    if _exists(path):
        try:
            with open(path) as f:
                data = json.loads(f.read())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
    data["last_program"] = program
    with open(path, "w") as f:
        f.write(json.dumps(data))


class TraceFile:
    """trace.csv, trace_events.jsonl (state and step changes, scenario events, cues, resets)
    and signals.csv (OUT_EN, BOOST_EN, POL_A, POL_B, DAC code edges)."""

    def __init__(self, out_dir):
        self.f = open(_join(out_dir, "trace.csv"), "w")
        self.ev = open(_join(out_dir, "trace_events.jsonl"), "w")
        self.sig = open(_join(out_dir, "signals.csv"), "w")
        self.f.write(COLUMNS + "\n")
        self.sig.write("t_us,name,value\n")
        self.buf = []
        self.sbuf = []
        self.rows = 0

    def signal(self, t_us, name, value):
        sb = self.sbuf
        sb.append("%d,%s,%d\n" % (t_us, name, value))
        if len(sb) >= 512:
            self.sig.write("".join(sb))
            self.sbuf = []

    def row(self, line):
        buf = self.buf
        buf.append(line)
        self.rows += 1
        if len(buf) >= 512:
            self.f.write("".join(buf))
            self.buf = []

    def event(self, obj):
        self.ev.write(json.dumps(obj) + "\n")

    def close(self):
        if self.buf:
            self.f.write("".join(self.buf))
            self.buf = []
        if self.sbuf:
            self.sig.write("".join(self.sbuf))
            self.sbuf = []
        self.f.close()
        self.ev.close()
        self.sig.close()


def _s(v):
    return "" if v is None else str(v)


class Session:
    """One power-up-to-end run of the app with one scenario session's events."""

    def __init__(self, session, trace, root, t0_us=0, status=None, status_every=25):
        self.session = session
        self.trace = trace
        self.root = root
        self.t0 = t0_us  # trace time of this session's virtual t = 0
        self.status = status  # host callback f(sim) every status_every ticks, or None
        self.status_every = status_every
        self.end_us = session["duration_ms"] * 1000
        acts = []
        for ev in session["events"]:
            t = ev["t_ms"] * 1000
            acts.append((t, len(acts), ev))
            if ev["kind"] == "press":
                acts.append(
                    (
                        t + ev["hold_ms"] * 1000,
                        len(acts),
                        {"kind": "release", "button": ev["button"]},
                    )
                )
        acts.sort(key=lambda a: (a[0], a[1]))
        self.acts = acts
        self.ai = 0
        self.held = {}  # button -> True while the scenario holds it
        self.load = (False, 0)
        self.faults = {}  # fault name -> True while on
        self.app = None
        self.hw = None
        self.clock = None
        self.stage = None
        self.dirty = False
        self.last = None  # the last row's (commanded, measured, state, fault, contact)
        self.last_meta = None
        self.ticks = 0
        self.resets = 0
        self.cues = {}
        self.fault_events = []
        self.offset = 0  # virtual µs before the current board's clock started (after resets)
        self.stopped = False
        self.steps_completed = 0
        self.program_completed = False
        self.course_at_start = None  # the course line shown when the first program started
        self.errors = []  # (t_us, text) of exceptions that escaped the firmware

    # -- time --
    def now(self):
        """µs since the session started (virtual)."""
        return self.offset + self.clock.now_us_abs()

    # -- building and rebuilding the board --
    def boot(self, reset_cause=None):
        import machine

        from firmware.boards import sim as board
        from vhw import install

        clock, stage = install.make_sim_world(reset_cause=reset_cause)
        self.clock = clock
        self.stage = stage
        self.board = board
        # physics that outlives a reset: the load, the hardware faults, the held buttons
        stage.set_load(self.load[0], self.load[1] or 20000)
        for name in self.faults:
            if self.faults[name]:
                stage.set_fault(name, True)
        w = machine.world
        for b in self.held:
            if self.held[b]:
                w.press(board.PINS[_BUTTON_PINS[b]], True)
        P = board.PINS
        self.sig_pins = {
            P["OUT_EN"]: "out_en",
            P["BOOST_EN"]: "boost_en",
            P["POL_A"]: "pol_a",
            P["POL_B"]: "pol_b",
        }
        for pid in self.sig_pins:
            self.trace.signal(self.t0 + self.now(), self.sig_pins[pid], w.level(pid))
        self.trace.signal(self.t0 + self.now(), "dac_code", 0)
        w.listeners.append(self._on_write)
        try:
            from firmware import rtc as storage

            storage.set_rtc_source(self._rtc)
        except (ImportError, AttributeError):
            pass
        clock._step = self._make_step(clock._step)
        clock.idle_hook = self._hook
        self.hw = board.build(machine)
        from firmware.app import App

        self.app = None
        self.app = App(self.hw, root=self.root)
        ui = getattr(self.app, "ui", None)
        if ui is not None and hasattr(ui, "listener"):
            ui.listener = self._on_cue
        self.last_meta = None
        self._meta()
        return self.app

    def _make_step(self, orig):
        def step(d):
            if self.dirty and d > 0:
                self.dirty = False
                self.row(False)
            orig(d)

        return step

    def run(self):
        """Run to duration_ms; returns the session's result dict (host-side counts)."""
        import machine

        from vhw.vclock import StopSimulation, WatchdogReset

        self.trace.event(
            {
                "t_us": self.t0,
                "kind": "session_start",
                "duration_ms": self.session["duration_ms"],
                "day": self.session.get("day", 0),
            }
        )
        cause = None
        while True:
            try:
                app = self.boot(cause)
                app.run()
                # run() returned: the app ended its loop (not expected on the device)
                self.trace.event({"t_us": self.t0 + self.now(), "kind": "app_returned"})
                cause = machine.HARD_RESET
            except StopSimulation:
                break
            except WatchdogReset:
                cause = machine.WDT_RESET
                self.trace.event(
                    {"t_us": self.t0 + self.now(), "kind": "reset", "cause": "watchdog"}
                )
            except machine.BoardReset:
                cause = machine.HARD_RESET
                self.trace.event(
                    {"t_us": self.t0 + self.now(), "kind": "reset", "cause": "machine.reset"}
                )
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                # The firmware raised out of App() or out of its own loop: a bug the app's
                # `except Exception` did not contain. The session stops here; the error is
                # in the trace events, the result and the summary.
                err = "%s: %s" % (type(e).__name__, e)
                self.errors.append((self.t0 + self.now(), err))
                self.trace.event({"t_us": self.t0 + self.now(), "kind": "exception", "error": err})
                break
            self.resets += 1
            self.offset += self.clock.now_us_abs()
            self._detach()
            if self.offset >= self.end_us:
                break
        self._detach()
        app = self.app
        if app is not None and app.state in ("running", "paused"):
            n = getattr(app, "steps_completed", 0)  # a program cut short by the scenario's end
            if isinstance(n, int):
                self.steps_completed += n
        self.trace.event(
            {
                "t_us": self.t0 + self.now(),
                "kind": "session_end",
                "state": self.app.state if self.app is not None else None,
            }
        )
        return {
            "ticks": self.ticks,
            "resets": self.resets,
            "cues": self.cues,
            "final_state": self.app.state if self.app is not None else None,
            "steps_completed": self.steps_completed,
            "program_completed": self.program_completed,
            "ceiling_ua": getattr(self.hw, "ceiling_ua", None),
            "duration_us": self.now(),
            "firmware_exceptions": [{"t_us": t, "error": x} for t, x in self.errors],
            "course_note_at_start": self.course_at_start,
            "course_note": getattr(self.app, "course_note", None),
            "out_en_final": machine.world.level(self.board.PINS["OUT_EN"]),
            "dac_code_final": self.stage.dac.code,
        }

    def _rtc(self):
        return RTC_START_S + (self.t0 + self.now()) // 1000000

    def _detach(self):
        import machine

        try:
            from firmware import rtc as storage

            storage.set_rtc_source(None)
        except (ImportError, AttributeError):
            pass

        w = machine.world
        if self._on_write in w.listeners:
            w.listeners.remove(self._on_write)
        if self.clock is not None:
            self.clock.idle_hook = None

    # -- what the firmware decides and what flows --
    def _commanded(self):
        st = self.hw.stage
        return st.driven_ua() * st.driving()

    def row(self, tick):
        app = self.app
        if app is None or self.now() > self.end_us:
            return  # (the last tick, with the target's costs, may end past the duration)
        cmd = self._commanded()
        meas = self.stage.measured_ua()
        sup = app.supervisor
        contact = 1 if (sup is not None and sup.contact) else 0
        state = app.state
        fault = app.fault
        key = (cmd, meas, state, fault, contact)
        if not tick and key == self.last:
            return
        self.last = key
        z = sup.impedance_ohm if sup is not None else None
        pid = app.program_id
        step = app.step_index
        self.trace.row(
            "%d,%d,%d,%d,%s,%s,%s,%s,%s\n"
            % (
                self.t0 + self.now(),
                cmd,
                meas,
                contact,
                "" if z is None else str(int(z)),
                state,
                _s(pid),
                _s(step),
                _s(fault),
            )
        )

    def _on_write(self, kind, ident, value):
        self.dirty = True
        name = None
        if kind == "pin":
            name = self.sig_pins.get(ident)
        elif kind == "dac":
            name = "dac_code"
        if name is not None:
            self.trace.signal(self.t0 + self.now(), name, value)

    def _on_cue(self, name):
        self.cues[name] = self.cues.get(name, 0) + 1
        self.trace.event({"t_us": self.t0 + self.now(), "kind": "cue", "cue": name})

    def _meta(self):
        app = self.app
        state = app.state
        step = app.step_index
        pid = app.program_id
        fault = app.fault
        meta = (state, pid, step, fault, getattr(app, "level", None))
        last = self.last_meta
        if meta == last:
            return
        self.last_meta = meta
        area = getattr(app, "area", None)
        side = getattr(app, "side", None)
        ev = {
            "t_us": self.t0 + self.now(),
            "kind": "state",
            "state": state,
            "program": pid,
            "step": step,
            "area": area,
            "side": side,
            "fault": fault,
            "level": getattr(app, "level", None),
            "course": getattr(app, "course_note", None),
        }
        self.trace.event(ev)
        if state == "running" and self.course_at_start is None:
            self.course_at_start = getattr(app, "course_note", None) or ""
        if fault is not None and (last is None or fault != last[3]):
            self.fault_events.append((fault, self.t0 + self.now()))
        if last is not None:
            was_on = last[0] in ("running", "paused")
            if was_on and state not in ("running", "paused"):
                # a program run ended (complete, fault, off): the app's own count holds
                n = getattr(app, "steps_completed", 0)
                if isinstance(n, int):
                    self.steps_completed += n
                if state == "complete":
                    rec = getattr(app, "last_record", None)
                    if not isinstance(rec, dict) or rec.get("completed", True):
                        self.program_completed = True

    # -- the scenario --
    def _apply(self, ev):
        import machine

        kind = ev["kind"]
        w = machine.world
        if kind == "press" or kind == "release":
            down = kind == "press"
            self.held[ev["button"]] = down
            w.press(self.board.PINS[_BUTTON_PINS[ev["button"]]], down)
        elif kind == "contact":
            z = ev.get("impedance_ohm", 0) if ev["contact"] else 0
            self.load = (ev["contact"], z)
            self.stage.set_load(ev["contact"], z or 20000)
        elif kind == "fault":
            self.faults[ev["fault"]] = True
            self.stage.set_fault(ev["fault"], True)
        elif kind == "clear_fault":
            self.faults[ev["fault"]] = False
            self.stage.set_fault(ev["fault"], False)
        if kind != "release":
            rec = {"t_us": self.t0 + self.now(), "kind": "scenario", "event": kind}
            for k in ev:
                if k != "kind":
                    rec[k] = ev[k]
            self.trace.event(rec)

    def _due(self):
        now = self.now()
        acts = self.acts
        n = len(acts)
        while self.ai < n and acts[self.ai][0] <= now:
            ev = acts[self.ai][2]
            self.ai += 1
            self._apply(ev)

    def _hook(self):
        """Called by the virtual clock each time the app sleeps to its next tick."""
        from vhw.vclock import StopSimulation

        self.ticks += 1
        self.dirty = False
        self.row(True)
        self._meta()
        self._due()
        if self.status is not None and self.ticks % self.status_every == 0:
            self.status(self)
        if self.now() >= self.end_us:
            self.stopped = True
            raise StopSimulation()
        if self.faults.get("loop_stall"):
            self._stall()

    def _stall(self):
        """The loop hangs: virtual time runs on without the app (timers still fire, the
        watchdog expires) until the fault clears or the session ends."""
        from vhw.vclock import StopSimulation

        clock = self.clock
        self.trace.event({"t_us": self.t0 + self.now(), "kind": "stall"})
        while self.faults.get("loop_stall"):
            clock.advance(STALL_STEP_US)  # may raise WatchdogReset
            if self.dirty:
                self.dirty = False
                self.row(False)
            self._due()
            if self.now() >= self.end_us:
                self.stopped = True
                raise StopSimulation()


def run(scenario, out_dir, root, program=None, status=None, status_every=25):
    """Run every session of a normalised scenario (tools/sim/scenario.py), writing trace.csv
    and trace_events.jsonl into out_dir; the device filesystem lives under root and is kept
    between sessions. Returns a list of per-session result dicts."""
    _mkdirs(out_dir)
    _mkdirs(root)
    trace = TraceFile(out_dir)
    results = []
    try:
        for sess in scenario["sessions"]:
            prog = program or sess.get("program")
            if prog:
                write_settings(root, prog)
            t0 = sess.get("day", 0) * US_PER_DAY
            s = Session(sess, trace, root, t0, status, status_every)
            s.day = sess.get("day", 0)
            res = s.run()
            res["day"] = s.day
            res["t0_us"] = t0
            res["faults"] = [{"code": c, "t_us": t} for c, t in s.fault_events]
            results.append(res)
    finally:
        trace.close()
    with open(_join(out_dir, "sim_result.json"), "w") as f:
        f.write(json.dumps({"sessions": results, "rows": trace.rows}))
    return results
