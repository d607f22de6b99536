# What the simulator, the tests and the report read of the app, kept out of its logic: the
# running session's fields as the app's (the display reads the session itself), and the
# program library, read on first use (firmware/menu.py).


def _shown(name, default, last=False):
    """A session's attribute as the app's (for the simulator and the tests; the display reads
    the session itself); with last, the session that ended last still answers."""

    def get(app):
        s = app.session
        if s is None and last:
            s = app._last
        return getattr(s, name) if s is not None else default

    return property(get)


class AppView:
    @property
    def library(self):
        return self._lib()

    @property
    def catalog(self):
        self._lib()
        return self._catalog

    @property
    def program_id(self):
        s = self.session
        return s.program_id if s is not None else self.choice

    program = _shown("program", None)
    step = _shown("step", None)
    area = _shown("area", None)
    side = _shown("side", None)
    on_skin_ms = _shown("on_skin_ms", 0)
    step_on_ms = _shown("step_on_ms", 0)
    step_index = _shown("step_index", -1, True)
    steps_completed = _shown("steps_completed", 0, True)
