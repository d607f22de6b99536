# What the simulator, the tests and the report read of the app, kept out of its logic: the
# running session's fields as the app's (the display reads the session itself), and the
# program library, read on first use (firmware/menu.py).
#
# Through __getattr__, not properties: on MicroPython a class with a property makes every
# attribute store on its instances look through the class first (22.5 us instead of 6.2 on an
# RP2040), and the App stores attributes every tick. __getattr__ runs only for names the App
# does not have itself.

# name -> (value without a session, also answered by the session that ended last)
_SHOWN = {
    "program": (None, False),
    "step": (None, False),
    "area": (None, False),
    "side": (None, False),
    "on_skin_ms": (0, False),
    "step_on_ms": (0, False),
    "step_index": (-1, True),
    "steps_completed": (0, True),
}


class AppView:
    def __getattr__(self, name):
        if name == "library":
            return self._lib()
        if name == "catalog":
            self._lib()
            return self._catalog
        if name == "program_id":
            s = self.session
            return s.program_id if s is not None else self.choice
        shown = _SHOWN.get(name)
        if shown is None:
            raise AttributeError(name)
        s = self.session
        if s is None and shown[1]:
            s = self._last
        return getattr(s, name) if s is not None else shown[0]
