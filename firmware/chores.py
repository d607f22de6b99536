# Slow work the app defers to logic slots without output (issue 12 item 7): a flash write takes
# tens of ms on a board, the course status reads the whole log. Nothing here runs in the tick
# that latches a fault or starts the output: the app queues the work there and runs one piece
# per logic slot in off, idle, complete and fault (step()), or all of it at power-off (flush()).
from micropython import const

from drivers import clock
from firmware import storage as _storage

RECORD = const(1)  # the session's log record
ERRORS = const(2)  # error lines
SETTINGS = const(4)  # settings.json (a find-my-level ceiling)
BUMP = const(8)  # one more session in settings.json
COURSE = const(16)  # the course status (reads the log)

# LED blinks in idle: where the client is in a course (firmware/course.py phases)
_COURSE_BLINKS = {"start": 1, "intensive": 1, "weekly": 2, "maintenance": 3}


class Chores:
    def __init__(self, app):
        self.app = app
        self.due = 0  # the bits above
        self._record = None
        self._errors = []

    def record(self, rec):
        self._record = rec
        self.due |= RECORD | BUMP | COURSE

    def error(self, text):
        self._errors.append(text)
        self.due |= ERRORS

    def step(self):
        """One piece of the work due (the lowest bit first)."""
        c = self.due
        app = self.app
        if c & RECORD:
            self.due = c & ~RECORD
            rec = self._record
            self._record = None
            try:
                app.log.append(rec)
            except Exception as e:  # noqa: BLE001 - a full or broken flash must not stop it
                app.error = "log: %s" % e
        elif c & ERRORS:
            self.due = c & ~ERRORS
            errs = self._errors
            self._errors = []
            for text in errs:
                try:
                    app.log.error(text)
                except Exception:  # noqa: BLE001
                    pass
        elif c & SETTINGS:
            self.due = c & ~SETTINGS
            app.settings.save()
        elif c & BUMP:
            self.due = c & ~BUMP
            app.settings.bump_sessions()
        elif c & COURSE:
            self.due = c & ~COURSE
            update_course(app)

    def flush(self):
        """All of it now (power-off), but the course status: the next power-on makes it."""
        self.due &= ~COURSE
        while self.due:
            self.step()


def update_course(app):
    """Where the client is in a course (firmware/course.py): the display's note, the idle
    LED's blinks, the "too soon" warning."""
    try:
        from firmware import course as _course

        st = _course.status(
            app.log.records(),
            _storage.rtc_seconds(),
            now_ms=clock.ticks_ms(),
            boot=app.log.boot,
            target=app.settings.get("course_sessions"),
        )
        app.course_note = st.get("line")
        app.course_phase = st.get("phase")
        app.course_warn = bool(st.get("too_soon"))
        app.course_blinks = _COURSE_BLINKS.get(app.course_phase, 1)
    except Exception as e:  # noqa: BLE001 - the course is advice; never block a session
        app.course_note = None
        app.course_warn = False
        app.error = "course: %s" % e
