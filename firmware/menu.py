# The idle menu and the life of a session: the program library, the program choice (MODE), the
# level (PLUS/MINUS), the starts (POWER short: the chosen program; PLUS long: find my level),
# the session's logic slot and its end (the record). Imported when the device leaves soft-off
# (or a problem at boot needs the library): soft-off needs none of it.
#
# The start is spread over ticks (issue 12 item 7): the chosen program is read and checked
# ahead, while idle (prefetch(): one program per logic slot at most, after a menu change); the
# press writes the settings (output off) and makes the session; the session builds its first
# step and starts the output at the next logic slot, a tick with no load and no write.
from micropython import const

from drivers.button import LONG, SHORT
from firmware import chores as _chores
from firmware.session import DONE, GO, POWER_OFF, TO_IDLE
from safety import limits

LEVELS = const(10)


def library(app):
    """The program library, read and checked once (at power-on, before the watchdog is armed:
    reading every file takes longer than its timeout on a board). The problems of this start
    are logged here, all at once (log.problems takes the whole set of a start)."""
    lib = app._library
    if lib is None:
        from firmware import programs as _programs

        lib = _programs.Library(
            app._dirs or _programs.default_dirs(app.root), areas=app.hw.probe_area_mm2
        )
        app._library = lib
        cat = lib.ids()
        app._catalog = cat
        if app.choice not in cat:
            app.choice = cat[0] if cat else None
        for text in lib.errors:
            app.error = text
        app.log.problems(app._found + lib.errors)
        app._found = None
    return lib


def idle(app, now, ep, em, eu, ed):
    cat = app._catalog
    if em == SHORT and cat:
        i = cat.index(app.choice) if app.choice in cat else -1
        app.choice = cat[(i + 1) % len(cat)]
        app.settings.set("last_program", app.choice)
        app.ui.cue("click")
    elif eu == SHORT or ed == SHORT:
        change_level(app, 1 if eu == SHORT else -1)
    elif eu == LONG:
        start_findlevel(app, now)
    elif ep == SHORT:
        start_program(app, now)
    elif limits.idle_over(app._last_activity, now):
        app.power_off()
    elif app._prog_id != app.choice and not app.chores.due and app.choice is not None:
        prefetch(app)


def change_level(app, d):
    lv = app.level + d
    if lv < 1 or lv > LEVELS:
        app.ui.cue("limit")
        return
    app.level = lv
    app.settings.set("level", lv)
    app.ui.cue("click")


def prefetch(app):
    """Read and check the chosen program ahead (output off)."""
    pid = app.choice
    app._prog_id = pid
    try:
        app._prog = library(app).load(pid)
    except (OSError, ValueError) as e:
        app._prog = str(e)


def _plan(app):
    if app.plan is None:
        from waveforms import plan as _p

        app.plan = _p.Plan()  # built once, reused by every session


def start_program(app, now):
    pid = app.choice
    if pid is None:
        app.ui.cue("limit")
        return
    if app._prog_id != pid:
        prefetch(app)  # not read ahead yet: now (output off, before any output)
    prog = app._prog
    if not isinstance(prog, dict):
        # a broken program file: reported and logged, the others stay usable
        app._prog_id = None
        app.error = prog
        app.chores.error(prog)
        app.ui.cue("fault")
        return
    app.settings.save()  # level and program choice: written now, before any output
    from firmware.session import Session

    _plan(app)
    s = Session(app, pid, prog, now)  # its first step: at the next logic slot
    app.begin(s)
    app.ui.cue("warn" if app.course_warn else "start")


def start_findlevel(app, now):
    from firmware.findlevel import FindLevel

    _plan(app)
    app.findlevel_result = None
    app.begin(FindLevel(app, now))


def session_logic(app, now, ep, em, eu, ed):
    """The running session's logic slot, and what the app does with its answer."""
    s = app.session
    if s.program is not None and (eu == SHORT or ed == SHORT):
        change_level(app, 1 if eu == SHORT else -1)
        s.retarget(app.level)
    r = s.logic(now, app._dt, ep, ep or em or eu or ed)
    app._request = s.request
    app._hold = s.hold
    if r == GO:
        if s.state != app.state:
            app._set_state(s.state)
    elif r == POWER_OFF:  # paused for 3 min
        app.power_off()
    elif r == TO_IDLE:  # find-my-level done
        app.findlevel_result = s.result
        app._cut()
        end_session(app, False)
        app.chores.due |= _chores.SETTINGS
        app._set_state("idle")
    else:  # DONE, or CAPPED: the 30 min (all steps ran when it cut the extension)
        completed = r == DONE or s.ext_side >= 0
        app._cut()
        end_session(app, completed)
        app.ui.cue("end" if completed else "fault")
        app._set_state("complete")


def end_session(app, completed):
    """The session's record is made now and written at a later logic slot (output off)."""
    s = app.session
    s.stop()
    app.session = None
    app._last = s
    rec = s.record(completed, app.level)
    if rec is not None:
        app.last_record = rec
        app.chores.record(rec)
