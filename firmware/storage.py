# Persistent state on the board's filesystem (LittleFS): the settings file and the session log.
# Neither may ever crash the device or lose what was already written (DESIGN 4.10).
#
# Settings: <root>/settings.json, one JSON object:
#   board            None or a board name (pico, esp32, sim): None = from sys.platform
#   mode             "home" (500 uA cap) | "pro" (1000 uA)
#   level            1..10, the client's last level
#   client_ceiling_ua  {probe: uA} per probe type (disk, globe, qtip), 1..1000, from
#                    "find my level"; a missing probe has no personal ceiling
#   last_program     None or a program id
#   probe            the probe used by "find my level": disk | globe | qtip
#   sessions         sessions run on this device (the RTC-less session counter)
#   course_sessions  10..15: sessions of the intensive phase of a course (default 12)
# A missing file gives the defaults (status "missing"); a corrupt file gives the defaults
# (status "corrupt", reported in problems); a bad value falls back to its default and is
# reported; an unknown key is dropped and reported. save() writes settings.json.tmp and renames
# it over settings.json (atomic on LittleFS): a power cut leaves the old or the new file, and
# a leftover .tmp is used when settings.json itself is gone.
#
# Session log: <root>/log.jsonl, one JSON object per line, the newest last.
#   session record  {"program": id, "t_ms": start tick, "rtc": Unix seconds or null,
#                    "on_skin_s": s, "charge_uc": {"left": uC, "right": uC, "centre": uC},
#                    "max_ua": uA, "level": 1..10, "steps": n, "faults": [codes],
#                    "completed": bool, "seq": n, "boot": n}
#   error record    {"error": text, "t_ms": tick, "rtc": ..., "boot": n}
#   seq (session number over the device's life) and boot (which power-up) are added by
#   append() when absent.
# - append: open, write the whole line, flush, close, os.sync() where it exists; the file is
#   never held open, so a power cut can only tear the line being written.
# - at open: a last line without its newline (torn by a power cut) is dropped by rewriting the
#   file without it (log.jsonl.tmp, then rename: atomic); a corrupt line in the middle is
#   skipped and counted (corrupt), never fatal; earlier records are kept.
# - rotation: before a line would push log.jsonl past cap bytes, log.jsonl is renamed to
#   log.1.jsonl (replacing the older archive) and a new log.jsonl starts. A power cut at any
#   point leaves every record in log.jsonl or log.1.jsonl; the newest records (between cap and
#   2 x cap bytes) are always kept.
# - full filesystem (OSError, ENOSPC = errno 28) or any other write error: the record stays in
#   RAM (pending, written first at the next append), the error is reported (last_error, lost when
#   more than PENDING_MAX wait), and nothing already on flash is touched. A write that failed
#   half-way may leave a fragment: the next write starts with a newline, so the fragment stays
#   a lone corrupt line and never spoils a record.
# - records() is a generator (archive first, then log.jsonl, then pending): a whole log never
#   sits in RAM at once.
import json
import os

from drivers import clock
from safety import limits as _limits

SETTINGS = "settings.json"
LOG = "log.jsonl"
LOG_OLD = "log.1.jsonl"
LOG_CAP = 16384  # bytes of log.jsonl before rotation (~60 session records)
PENDING_MAX = 8  # records kept in RAM while the flash refuses writes
ENOSPC = 28
ERROR_MAX = 120  # characters of an error text in the log
YEAR_SET = 2024  # an RTC reading before this year means it was never set

LEVELS = 10
PROBES = _limits.PROBES
MODES = ("home", "pro")
CEILING_UA = _limits.CEILING_UA


def join(root, name):
    """root/name without os.path (MicroPython has none)."""
    if not root:
        return name
    if root.endswith("/"):
        return root + name
    return root + "/" + name


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def _exists(path):
    return _size(path) >= 0


def _sync():
    s = getattr(os, "sync", None)
    if s is not None:
        try:
            s()
        except OSError:
            pass


def _replace(src, dst):
    """rename src over dst (atomic on LittleFS); ports that refuse to rename onto an existing
    file get dst removed first (a power cut in between leaves src, which the readers use)."""
    try:
        os.rename(src, dst)
    except OSError:
        if not _exists(dst) or not _exists(src):
            raise  # not the "target exists" refusal: leave both files alone
        os.remove(dst)
        os.rename(src, dst)


def _errno(e):
    a = getattr(e, "args", None)
    if a and isinstance(a[0], int):
        return a[0]
    n = getattr(e, "errno", None)
    return n if isinstance(n, int) else None


# --- time ----------------------------------------------------------------------------------

_rtc_source = None


def set_rtc_source(fn):
    """Tests and the simulator: fn() -> Unix seconds or None; None restores machine.RTC."""
    global _rtc_source
    _rtc_source = fn


def epoch_seconds(year, month, day, hh=0, mm=0, ss=0):
    """Unix seconds of a UTC civil date (integer arithmetic, any port's epoch)."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    mp = month + 9 if month <= 2 else month - 3
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hh * 3600 + mm * 60 + ss


def rtc_seconds():
    """Unix seconds from the board's RTC, or None when there is no RTC or it was never set
    (RP2040 and ESP32 keep no time across power loss; `mpremote rtc --set` sets it)."""
    if _rtc_source is not None:
        return _rtc_source()
    try:
        import machine

        dt = machine.RTC().datetime()
    except Exception:  # noqa: BLE001 - no RTC on this port (or the fake machine): no time
        return None
    try:
        if dt[0] < YEAR_SET:
            return None
        return epoch_seconds(dt[0], dt[1], dt[2], dt[4], dt[5], dt[6])
    except (TypeError, IndexError):
        return None


# --- settings ------------------------------------------------------------------------------


def _ok_level(v):
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= LEVELS


def _ok_name(v):
    return v is None or (isinstance(v, str) and 0 < len(v) <= 32)


def _ok_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _ok_course(v):
    return isinstance(v, int) and not isinstance(v, bool) and 10 <= v <= 15


def _ok_ceiling_ua(v):
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= CEILING_UA


def _ok_ceilings(v):
    if not isinstance(v, dict):
        return False
    for k in v:
        if k not in PROBES or not (v[k] is None or _ok_ceiling_ua(v[k])):
            return False
    return True


_CHECKS = {
    "board": _ok_name,
    "mode": lambda v: v in MODES,
    "level": _ok_level,
    "client_ceiling_ua": _ok_ceilings,
    "last_program": _ok_name,
    "probe": lambda v: v in PROBES,
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
        self.path = join(root, SETTINGS)
        self.tmp = self.path + ".tmp"
        self.data = defaults()
        self.status = "ok"
        self.problems = []
        self.last_error = None  # the last save error, None after a good save
        self.dirty = False
        self._load()

    def _load(self):
        path = self.path
        if not _exists(path):
            if _exists(self.tmp):
                path = self.tmp  # a power cut between remove and rename (see _replace)
            else:
                self.status = "missing"
                return
        try:
            with open(path) as f:
                raw = json.loads(f.read())
        except (OSError, ValueError) as e:
            self.status = "corrupt"
            self.problems.append("%s: corrupt (%s), defaults used" % (SETTINGS, e))
            return
        if not isinstance(raw, dict):
            self.status = "corrupt"
            self.problems.append("%s: not an object, defaults used" % SETTINGS)
            return
        for k in raw:
            chk = _CHECKS.get(k)
            if chk is None:
                self.problems.append("%s: unknown key %r dropped" % (SETTINGS, k))
                self.dirty = True
            elif chk(raw[k]):
                self.data[k] = raw[k]
            else:
                self.problems.append("%s: bad %s %r, default used" % (SETTINGS, k, raw[k]))
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
            _replace(self.tmp, self.path)
            _sync()
        except OSError as e:
            self.last_error = "%s: not saved (errno %s)" % (SETTINGS, _errno(e))
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


# --- session log ---------------------------------------------------------------------------


def _parse(line):
    """One log line (bytes or str) -> dict, or None when it is not a JSON object. Invalid
    UTF-8 raises UnicodeError, a ValueError on both runtimes."""
    try:
        r = json.loads(line)
    except ValueError:
        return None
    return r if isinstance(r, dict) else None


class SessionLog:
    """The JSON-lines session log under root (see the header): append, error, records."""

    def __init__(self, root="/", cap=LOG_CAP):
        self.path = join(root, LOG)
        self.old = join(root, LOG_OLD)
        self.tmp = self.path + ".tmp"
        self.cap = cap
        self.pending = []  # lines not yet on flash, oldest first
        self.last_error = None  # text of the last write error, None after a good write
        self.lost = 0  # records dropped from RAM while the flash refused writes
        self.torn = 0  # torn last lines dropped at open
        self.corrupt = 0  # corrupt lines skipped at open
        self.count = 0  # good records on flash at open (both files)
        self.rotations = 0
        self.seq = 0  # highest session number seen
        self.boot = 0  # this power-up's number (highest seen + 1)
        self._fragment = False  # a failed write may have left a partial line
        self._open()

    # -- open: scan and repair --------------------------------------------------------------
    def _scan(self, path, repair):
        """Count good and corrupt lines; returns True when the last line is torn."""
        try:
            f = open(path, "rb")  # bytes: a text read raises on invalid UTF-8 (MicroPython)
        except OSError:
            return False
        torn = False
        boot = self.boot
        try:
            while True:
                line = f.readline()
                if not line:
                    break
                r = _parse(line)
                if repair and not line.endswith(b"\n"):
                    # the last line has no newline: a power cut during its write. A complete
                    # record just gets its newline back; a fragment is dropped.
                    torn = True
                    if r is None:
                        self.torn = 1
                        break
                if r is None:
                    if line.strip():
                        self.corrupt += 1
                    continue
                self.count += 1
                s = r.get("seq")
                if isinstance(s, int) and s > self.seq:
                    self.seq = s
                b = r.get("boot")
                if isinstance(b, int) and b > boot:
                    boot = b
        finally:
            f.close()
        self.boot = boot
        return torn

    def _open(self):
        self._scan(self.old, False)
        if self._scan(self.path, True):
            self._rewrite()
        self.boot += 1

    def _rewrite(self):
        """log.jsonl without its torn last line (and without corrupt lines): the good lines go to
        .tmp, which is renamed over log.jsonl."""
        try:
            with open(self.path, "rb") as src, open(self.tmp, "wb") as dst:
                while True:
                    line = src.readline()
                    if not line:
                        break
                    if _parse(line) is not None:
                        dst.write(line if line.endswith(b"\n") else line + b"\n")
                dst.flush()
            _replace(self.tmp, self.path)
            _sync()
        except OSError as e:
            # cannot repair now (flash full?): new lines start with a newline instead
            self._fragment = True
            self.last_error = "log: torn line not repaired (errno %s)" % _errno(e)

    # -- writing ----------------------------------------------------------------------------
    def append(self, rec):
        """Append one record. True when it (and everything pending) is on flash; False when it
        is kept in RAM (last_error says why). Raises only for a record that is not a dict."""
        if not isinstance(rec, dict):
            raise ValueError("log: a record is a dict")
        if "program" in rec and "seq" not in rec:
            self.seq += 1
            rec["seq"] = self.seq
        if "boot" not in rec:
            rec["boot"] = self.boot
        self.pending.append(json.dumps(rec) + "\n")
        while len(self.pending) > PENDING_MAX:
            self.pending.pop(0)
            self.lost += 1
        return self.flush()

    def flush(self):
        """Write what is pending, oldest first. True when nothing is left pending."""
        while self.pending:
            try:
                self._write(self.pending[0])
            except OSError as e:
                self._fragment = True
                n = _errno(e)
                why = "flash full" if n == ENOSPC else "write error"
                self.last_error = "log: %s (errno %s), %d record(s) kept in RAM" % (
                    why,
                    n,
                    len(self.pending),
                )
                return False
            self.pending.pop(0)
            self.count += 1
        self.last_error = None
        return True

    def _write(self, line):
        size = _size(self.path)
        if size > 0 and size + len(line) > self.cap:
            self._rotate()
            self._fragment = False  # the fragment went with the archive
        if self._fragment:
            line = "\n" + line
        f = open(self.path, "a")
        try:
            f.write(line)
            f.flush()
        finally:
            f.close()
        _sync()
        self._fragment = False

    def _rotate(self):
        _replace(self.path, self.old)
        self.rotations += 1

    def error(self, text):
        """An error line (software error, fault) in the log; never raises."""
        try:
            t = text if isinstance(text, str) else repr(text)
            return self.append(
                {"error": t[:ERROR_MAX], "t_ms": clock.ticks_ms(), "rtc": rtc_seconds()}
            )
        except Exception:  # noqa: BLE001 - logging an error must not raise another
            return False

    # -- reading ----------------------------------------------------------------------------
    def records(self, sessions_only=False):
        """Every good record, oldest first (archive, log, then pending in RAM): a generator."""
        for path in (self.old, self.path):
            try:
                f = open(path, "rb")
            except OSError:
                continue
            try:
                while True:
                    line = f.readline()
                    if not line:
                        break
                    if not line.endswith(b"\n"):
                        continue  # a fragment of a failed write: never a record
                    r = _parse(line)
                    if r is not None and (not sessions_only or "program" in r):
                        yield r
            finally:
                f.close()
        for line in list(self.pending):
            r = _parse(line)
            if r is not None and (not sessions_only or "program" in r):
                yield r

    def sessions(self):
        return self.records(True)

    def report(self):
        """Lines for the display / self-test report: what was repaired or is wrong."""
        out = []
        if self.torn:
            out.append("log: torn last line dropped")
        if self.corrupt:
            out.append("log: %d corrupt line(s) skipped" % self.corrupt)
        if self.last_error:
            out.append(self.last_error)
        if self.lost:
            out.append("log: %d record(s) lost (flash full)" % self.lost)
        return out
