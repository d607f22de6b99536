# A client's whole session on the MicroPython VM (issue 5): power on, choose the program, raise
# the level, start, glide, lift a probe mid-step, re-contact, finish. The firmware's own App on
# the sim board; checks the cues in order, the pause/resume, the app tick allocating nothing
# while running, and the session's log record. host_tests/test_app.py runs the same on CPython.
import json
import os

import machine
import mptest
from mptest import check, check_eq, test

from vhw import install

ROOT = "/session_fs"
STEP = {
    "area": "cheek",
    "movement": "toward",
    "strokes": 5,
    "stroke_s": 4,
    "shape": "biphasic",
    "freq_hz": 10,
    "intensity_ua": [50, 300],
}
QUICK = {
    "format": 1,
    "id": "quick",
    "name": "Quick",
    "purpose": "a one-minute test program",
    "probe": "disk",
    "steps": [],
}


def _allocating_ticks(app, vc, n):
    """How many of n ticks allocated (mptest.no_alloc: heap locked, the fakes held)."""
    tick = app.tick  # bound once: the call under the lock allocates nothing itself
    allocs = 0
    for _ in range(n):
        if not mptest.no_alloc(tick):
            allocs += 1
        vc.advance(2000)
    return allocs


def _mkdir(p):
    try:
        os.mkdir(p)
    except OSError:
        pass


def _setup():
    _mkdir(ROOT)
    _mkdir(ROOT + "/programs")
    for side in ("left", "right"):
        s = dict(STEP)
        s["side"] = side
        QUICK["steps"].append(s)
    s = dict(STEP)
    s["area"] = "forehead"
    s["side"] = "centre"
    s["movement"] = "hold"
    QUICK["steps"].append(s)
    with open(ROOT + "/programs/quick.json", "w") as f:
        f.write(json.dumps(QUICK))
    with open(ROOT + "/settings.json", "w") as f:
        f.write(json.dumps({"last_program": "tone", "level": 3}))


@test
def whole_session():
    _setup()
    vc, stage = install.make_sim_world()
    from firmware import programs
    from firmware.app import App
    from firmware.boards import sim as board

    hw = board.build(machine)
    app = App(hw, ROOT, (programs.shipped_dir(), ROOT + "/programs"))
    cues = []
    app.ui.listener = cues.append
    P = board.PINS
    w = machine.world

    def run(ms):
        for _ in range(ms // 2):
            app.tick()
            vc.advance(2000)

    def press(name, hold=100):
        w.press(P[name], True)
        run(hold)
        w.press(P[name], False)
        run(100)

    press("BTN_POWER", 1200)
    check_eq("idle after power on", app.state, "idle")
    while app.program_id != "quick":
        press("BTN_MODE")
    for _ in range(7):
        press("BTN_PLUS")
    check_eq("level raised to 10", app.level, 10)
    stage.set_load(True, 20000)
    press("BTN_POWER")
    run(200)  # the contact probes find the skin (60 ms), the session logic runs at 100 Hz
    check_eq("running", app.state, "running")
    run(5800)
    # steady running on skin: one tick allocates nothing
    check_eq("running ticks that allocated", _allocating_ticks(app, vc, 200), 0)
    # paused by the client (the session's USER phase: the 3 min and 30 min checks run): no
    # allocation either
    press("BTN_POWER")
    check_eq("paused by the client", app.state, "paused")
    check_eq("paused ticks that allocated", _allocating_ticks(app, vc, 100), 0)
    press("BTN_POWER")
    run(200)
    check_eq("resumed", app.state, "running")
    stage.set_load(False)
    run(2)  # one tick: the output is zero (the safety path runs every tick) ...
    check("output zero within one tick", stage.measured_ua() == 0 and hw.stage.driven_ua() == 0)
    run(10)  # ... and the session logic (100 Hz) shows the pause
    check_eq("paused on lift-off", app.state, "paused")
    check("output zero when lifted", stage.measured_ua() == 0 and hw.stage.driven_ua() == 0)
    run(1000)
    stage.set_load(True, 25000)
    for _ in range(40000):
        if app.state == "complete":
            break
        app.tick()
        vc.advance(2000)
    check_eq("complete", app.state, "complete")
    check("output off at the end", not hw.out_en.is_on())
    order = [c for c in cues if c in ("start", "stroke", "new_area", "end")]
    want = ["start"] + ["stroke"] * 5 + ["new_area"] + ["stroke"] * 4
    want += ["new_area"] + ["stroke"] * 4
    # if the lift cost the left side more than 5 % (its soft-start ramps), the left position
    # runs again (a double beep) until the sides match; then the long beep
    ext = want + ["new_area", "end"]
    want += ["end"]
    check("cues in order", order == want or order == ext, order)
    check_eq("two pause cues", cues.count("pause"), 2)
    check_eq("two resume cues", cues.count("resume"), 2)
    run(100)  # the record is written at a later logic slot, with the output off
    recs = [r for r in app.log.records(sessions_only=True)]
    check_eq("one session record", len(recs), 1)
    r = recs[-1]
    check_eq("record program", r["program"], "quick")
    check("record completed", r["completed"] is True)
    check("treatment time excludes the lift", 60 <= r["on_skin_s"] <= 75, r["on_skin_s"])
    ch = r["charge_uc"]
    check("charge on every side", ch["left"] > 0 and ch["right"] > 0 and ch["centre"] > 0, ch)
    check("sides balanced within 5 %", ch["left"] * 100 >= ch["right"] * 95, ch)
    check("max level within the home cap", 0 < r["max_ua"] <= 500, r["max_ua"])


mptest.main()
