# Persistent state on the board's filesystem (LittleFS): the settings file. It may never crash
# the device or lose what was already written (DESIGN 4.10).
#
# Settings: <root>/settings.json, one JSON object:
#   board            None or a board this MCU can be (boards.usable: pico on rp2, esp32 on
#                    esp32, any on the host): None = from sys.platform
#   mode             "home" | "pro": the mode caps of safety.limits (HOME_CAP_UA, PRO_CAP_UA)
#   level            1..10, the client's last level
#   client_ceiling_ua  {probe: uA} per probe type (limits.PROBES), 1..limits.CEILING_UA, from
#                    "find my level"; a missing probe has no personal ceiling
#   last_program     None or a program id
#   probe            the probe used by "find my level": disk | globe | qtip
#   sessions         sessions run on this device (the RTC-less session counter)
#   course_sessions  10..15: sessions of the intensive phase of a course (default 12)
# A missing file gives the defaults (status "missing"); a corrupt file gives the defaults
# (status "corrupt", reported in problems); a bad value falls back to its default and is
# reported; an unknown key is dropped and reported. At most SETTINGS_MAX bytes are read (a
# bigger file is corrupt); a parse that runs out of recursion (CPython) or memory (a board) is
# corrupt, never raised; problems quote at most fileio.QUOTE_MAX characters of the file and list at
# most PROBLEMS_MAX. save() writes settings.json.tmp and renames it over settings.json (atomic
# on LittleFS): a power cut leaves the old or the new file whole, never a torn one. A whole .tmp
# is used when settings.json is gone (a cut between remove and rename, see fileio.replace) or
# corrupt; a torn .tmp (a cut during the write) is ignored.
import json
import os

from micropython import const

from firmware import boards as _boards
from firmware import fileio as _fio
from safety import limits as _limits

SETTINGS = "settings.json"
SETTINGS_MAX = const(2048)  # bytes of settings.json (a full one: ~250); a bigger one is not read
PROBLEMS_MAX = const(8)  # settings problems listed (then one line for the rest)

_LEVELS = const(10)  # the client's levels (firmware/app.py LEVELS)
MODES = ("home", "pro")


def _ok_level(v):
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= _LEVELS


def _ok_name(v):
    return v is None or (isinstance(v, str) and 0 < len(v) <= 32)


def _ok_board(v):
    # a board this MCU can be (firmware/boards: another MCU's board file would drive the
    # wrong pins); None: from sys.platform
    return v is None or (isinstance(v, str) and _boards.usable(v))


def _ok_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _ok_course(v):
    return isinstance(v, int) and not isinstance(v, bool) and 10 <= v <= 15


def _ok_ceiling_ua(v):
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= _limits.CEILING_UA


def _ok_ceilings(v):
    if not isinstance(v, dict):
        return False
    for k in v:
        if k not in _limits.PROBES or not (v[k] is None or _ok_ceiling_ua(v[k])):
            return False
    return True


_CHECKS = {
    "board": _ok_board,
    "mode": lambda v: v in MODES,
    "level": _ok_level,
    "client_ceiling_ua": _ok_ceilings,
    "last_program": _ok_name,
    "probe": lambda v: v in _limits.PROBES,
    "sessions": _ok_count,
    "course_sessions": _ok_course,
}


def defaults():
    return {
        "board": None,
        "mode": "home",
        "level": 1,
        "client_ceiling_ua": {},
        "last_program": None,
        "probe": "disk",
        "sessions": 0,
        "course_sessions": 12,
    }


class Settings:
    """get/set/save; never raises on a missing or corrupt file (status, problems, last_error)."""

    def __init__(self, root="/"):
        self.path = _fio.join(root, SETTINGS)
        self.tmp = self.path + ".tmp"
        self.data = defaults()
        self.status = "ok"
        self.problems = []
        self.last_error = None  # the last save error, None after a good save
        self.dirty = False
        self._load()

    def _problem(self, text):
        n = len(self.problems)
        if n < PROBLEMS_MAX:
            self.problems.append(text)
        elif n == PROBLEMS_MAX:
            self.problems.append("%s: more problems, not listed" % SETTINGS)

    def _load(self):
        try:
            self._load_file()
        except Exception as e:  # noqa: BLE001 - no settings file may stop the device (4.10)
            self.data = defaults()
            self.status = "corrupt"
            self._problem("%s: not read (%s), defaults used" % (SETTINGS, type(e).__name__))

    def _load_file(self):
        raw, why = _fio.read_json(self.path, SETTINGS_MAX)
        if why == "missing":
            # settings.json.tmp is whole only when a save was cut between removing the old file
            # and the rename (see _replace); a torn .tmp is a save that never happened
            raw, why = _fio.read_json(self.tmp, SETTINGS_MAX)
            if why is not None:
                self.status = "missing"
                return
        elif why is not None:
            alt, why2 = _fio.read_json(self.tmp, SETTINGS_MAX)
            if why2 is None and isinstance(alt, dict):
                raw = alt  # the complete copy of the last save
                self._problem("%s: %s, the copy in %s.tmp used" % (SETTINGS, why, SETTINGS))
                self.dirty = True
            else:
                self.status = "corrupt"
                self._problem("%s: %s, defaults used" % (SETTINGS, why))
                return
        if not isinstance(raw, dict):
            self.status = "corrupt"
            self._problem("%s: not an object, defaults used" % SETTINGS)
            return
        for k in raw:
            chk = _CHECKS.get(k)
            if chk is None:
                self._problem("%s: unknown key %s dropped" % (SETTINGS, _fio.quote(k)))
                self.dirty = True
            elif chk(raw[k]):
                self.data[k] = raw[k]
            else:
                self._problem("%s: bad %s %s, default used" % (SETTINGS, k, _fio.quote(raw[k])))
                self.dirty = True
        if self.problems:
            self.status = "repaired"

    def get(self, key):
        v = self.data.get(key)
        if isinstance(v, dict):
            return dict(v)  # callers change a copy and set() it back
        return v

    def set(self, key, value):
        chk = _CHECKS.get(key)
        if chk is None:
            raise ValueError("settings: unknown key %r" % (key,))
        if not chk(value):
            raise ValueError("settings: bad %s %r" % (key, value))
        if self.data.get(key) != value:
            self.data[key] = dict(value) if isinstance(value, dict) else value
            self.dirty = True

    def ceiling_ua(self, probe):
        """The client's personal ceiling for a probe type, or None."""
        return self.data["client_ceiling_ua"].get(probe)

    def save(self):
        """Write when changed. True on success; False (last_error set, values kept in RAM) when the
        flash refuses. Never raises."""
        if not self.dirty and self.status != "corrupt":
            return True
        try:
            with open(self.tmp, "w") as f:
                f.write(json.dumps(self.data))
                f.flush()
            _fio.replace(self.tmp, self.path, os)  # this module's os (see fileio)
            _fio.sync(os)
        except OSError as e:
            self.last_error = "%s: not saved (errno %s)" % (SETTINGS, _fio.errno_of(e))
            return False
        self.dirty = False
        self.status = "ok"
        self.last_error = None
        return True

    def bump_sessions(self):
        """One more session on this device (kept even without an RTC); saved now."""
        self.data["sessions"] = self.data["sessions"] + 1
        self.dirty = True
        return self.save()
