# Persistent state on the board's filesystem (LittleFS): the settings file and the session log.
# Neither may ever crash the device or lose what was already written (DESIGN 4.10).
#
# Settings: <root>/settings.json, one JSON object:
#   board            None or a board this MCU can be (boards.usable: pico on rp2, esp32 on
#                    esp32, any on the host): None = from sys.platform
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
# reported; an unknown key is dropped and reported. At most SETTINGS_MAX bytes are read (a
# bigger file is corrupt); a parse that runs out of recursion (CPython) or memory (a board) is
# corrupt, never raised; problems quote at most QUOTE_MAX characters of the file and list at
# most PROBLEMS_MAX. save() writes settings.json.tmp and renames it over settings.json (atomic
# on LittleFS): a power cut leaves the old or the new file whole, never a torn one. A whole .tmp
# is used when settings.json is gone (a cut between remove and rename, see _replace) or
# corrupt; a torn .tmp (a cut during the write) is ignored.
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
# - lines are read LINE_MAX bytes at a time: a longer line is never a record and never sits in
#   RAM whole; a line nested too deep to parse is corrupt, never fatal. append() refuses a
#   record over LINE_MAX (ValueError).
# - at open: a last line without its newline (torn by a power cut) and the corrupt lines of
#   log.jsonl are moved to the end of log.bad (cut to LINE_MAX), the good lines go to
#   log.jsonl.tmp, renamed over log.jsonl (atomic). Nothing is deleted: counted in corrupt /
#   torn, moved, and quarantined (all the lines log.bad holds). When log.bad would pass BAD_CAP
#   or the flash refuses, the bad lines stay where they are (skipped). A whole record that lost
#   only its newline gets it back. A cut before the rename may leave a line in log.bad twice.
# - problems(texts): the problems found at a start (settings, programs, board, the log's own
#   report) are logged each once, not at every start: log.seen keeps the digests of the ones
#   logged and still present.
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
import gc
import json
import os

from drivers import clock
from firmware import boards as _boards
from safety import limits as _limits

try:
    from binascii import crc32 as _crc32
except ImportError:  # pragma: no cover - a port built without it
    _crc32 = None

SETTINGS = "settings.json"
LOG = "log.jsonl"
LOG_OLD = "log.1.jsonl"
LOG_BAD = "log.bad"  # bad lines moved out of log.jsonl by the repair at open (kept, counted)
LOG_SEEN = "log.seen"  # digests of the problems logged (problems(): each logged once)
LOG_CAP = 16384  # bytes of log.jsonl before rotation (~60 session records)
PENDING_MAX = 8  # records kept in RAM while the flash refuses writes
ENOSPC = 28
LINE_MAX = 2048  # bytes of a log line with its newline; a longer line is never a record
BAD_CAP = 8192  # bytes of log.bad: past it, bad lines stay in log.jsonl (skipped, counted)
SEEN_MAX = 16  # problems remembered
SEEN_BYTES = 512  # log.seen's size limit
SETTINGS_MAX = 2048  # bytes of settings.json (a full one is ~250); a bigger file is not read
PROBLEMS_MAX = 8  # settings problems listed (then one line for the rest)
QUOTE_MAX = 24  # characters of a file's own text quoted in a problem
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


def digest(data):
    """A short fingerprint of a text or bytes (CRC-32; a 22-bit hash on a port without
    binascii.crc32): "has this changed", never a security check."""
    if isinstance(data, str):
        data = data.encode()
    if _crc32 is not None:
        return _crc32(data) & 0xFFFFFFFF
    h = len(data) & 0x3FFFFF
    for b in data:
        h = (h * 31 + b) & 0x3FFFFF
    return h


def quote(v):
    """repr of a value read from a file, cut to QUOTE_MAX characters; a list or dict is named,
    never printed (its repr recurses as deep as the file nests)."""
    if isinstance(v, str):
        if len(v) > QUOTE_MAX:
            return repr(v[:QUOTE_MAX]) + "..."
        return repr(v)
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    return "a " + type(v).__name__


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


def _read_json(path, limit):
    """(value, None), or (None, why): why is "missing" or says what is wrong. At most `limit`
    bytes are read; a parse that runs out of memory or recursion is "corrupt", never raised."""
    try:
        f = open(path, "rb")
    except OSError:
        return None, "missing"
    try:
        text = f.read(limit + 1)
    except OSError as e:
        return None, "unreadable (errno %s)" % _errno(e)
    finally:
        f.close()
    if len(text) > limit:
        return None, "corrupt (over %d bytes, not read)" % limit
    try:
        return json.loads(text), None
    except ValueError as e:
        return None, "corrupt (%s)" % (str(e)[:60],)
    except (MemoryError, RuntimeError):
        text = None
        gc.collect()
        return None, "corrupt (nested too deep to parse)"


def _ok_level(v):
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= LEVELS


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
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= CEILING_UA


def _ok_ceilings(v):
    if not isinstance(v, dict):
        return False
    for k in v:
        if k not in PROBES or not (v[k] is None or _ok_ceiling_ua(v[k])):
            return False
    return True


_CHECKS = {
    "board": _ok_board,
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
        raw, why = _read_json(self.path, SETTINGS_MAX)
        if why == "missing":
            # settings.json.tmp is whole only when a save was cut between removing the old file
            # and the rename (see _replace); a torn .tmp is a save that never happened
            raw, why = _read_json(self.tmp, SETTINGS_MAX)
            if why is not None:
                self.status = "missing"
                return
        elif why is not None:
            alt, why2 = _read_json(self.tmp, SETTINGS_MAX)
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
                self._problem("%s: unknown key %s dropped" % (SETTINGS, quote(k)))
                self.dirty = True
            elif chk(raw[k]):
                self.data[k] = raw[k]
            else:
                self._problem("%s: bad %s %s, default used" % (SETTINGS, k, quote(raw[k])))
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
    UTF-8 raises UnicodeError, a ValueError on both runtimes; a line nested too deep runs out
    of recursion (CPython) or memory (a board)."""
    try:
        r = json.loads(line)
    except ValueError:
        return None
    except (MemoryError, RuntimeError):
        gc.collect()
        return None
    return r if isinstance(r, dict) else None


def _line(f):
    """(line, long): the next line of a log file opened "rb", with its newline when it has one;
    (b"", False) at the end. A line over LINE_MAX bytes is read through in LINE_MAX pieces
    (never whole into RAM) and comes back cut to LINE_MAX with long=True: never a record."""
    line = f.readline(LINE_MAX + 1)
    if len(line) <= LINE_MAX:
        return line, False
    head = line[:LINE_MAX]
    while line and not line.endswith(b"\n"):
        line = f.readline(LINE_MAX)
    return head, True


def _count_lines(path):
    """Lines in a file (read in pieces), 0 when it is missing."""
    n = 0
    try:
        f = open(path, "rb")
    except OSError:
        return 0
    try:
        while True:
            line = f.readline(LINE_MAX)
            if not line:
                break
            if line.endswith(b"\n"):
                n += 1
    finally:
        f.close()
    return n


class SessionLog:
    """The JSON-lines session log under root (see the header): append, error, records."""

    def __init__(self, root="/", cap=LOG_CAP):
        self.path = join(root, LOG)
        self.old = join(root, LOG_OLD)
        self.bad = join(root, LOG_BAD)
        self.seen = join(root, LOG_SEEN)
        self.tmp = self.path + ".tmp"
        self.cap = cap
        self.pending = []  # lines not yet on flash, oldest first
        self.last_error = None  # text of the last write error, None after a good write
        self.lost = 0  # records dropped from RAM while the flash refused writes
        self.torn = 0  # torn last lines dropped at open
        self.corrupt = 0  # corrupt lines found at open (both files; log.jsonl's then moved)
        self.moved = 0  # bad lines moved from log.jsonl to log.bad at this open
        self.quarantined = 0  # lines kept in log.bad (moved now or at an earlier open)
        self.count = 0  # good records on flash at open (both files)
        self.rotations = 0
        self.seq = 0  # highest session number seen
        self.boot = 0  # this power-up's number (highest seen + 1)
        self._fragment = False  # a failed write may have left a partial line
        try:
            self._open()
        except Exception as e:  # noqa: BLE001 - a log that cannot be read never stops the device
            self._fragment = True
            self.last_error = "log: not read at start (%s)" % type(e).__name__
            self.boot += 1

    # -- open: scan and repair --------------------------------------------------------------
    def _scan(self, path, repair):
        """Count good and corrupt lines. With repair (log.jsonl): returns the bytes that moving
        its bad lines to log.bad needs (0: nothing to repair)."""
        try:
            f = open(path, "rb")  # bytes: a text read raises on invalid UTF-8 (MicroPython)
        except OSError:
            return 0
        need = 0
        boot = self.boot
        try:
            while True:
                line, long = _line(f)
                if not line:
                    break
                r = None if long else _parse(line)
                if r is None:
                    if repair and not long and not line.endswith(b"\n"):
                        self.torn = 1  # the last line, cut by a power cut
                    elif line.strip():
                        self.corrupt += 1
                    else:
                        continue  # a blank line (a failed write's newline): no record
                    if repair:
                        need += len(line) + 1
                    continue
                if repair and not line.endswith(b"\n"):
                    need += 1  # a whole record that lost only its newline: gets it back
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
        return need

    def _open(self):
        if not _exists(self.path) and _exists(self.tmp):
            # a power cut between removing log.jsonl and renaming the repaired copy over it
            # (a port without an atomic replace): the copy is the log
            try:
                os.rename(self.tmp, self.path)
            except OSError as e:
                self.last_error = "log: repaired copy not restored (errno %s)" % _errno(e)
        self.quarantined = _count_lines(self.bad)
        self._scan(self.old, False)
        need = self._scan(self.path, True)
        if need:
            if _size(self.bad) + need > BAD_CAP:
                # no room to keep them: they stay where they are, skipped (never deleted)
                self._fragment = True
                self.last_error = "log: %s full, %d bad line(s) left in %s" % (
                    LOG_BAD,
                    self.corrupt + self.torn,
                    LOG,
                )
            else:
                self._repair()
        self.boot += 1

    def _repair(self):
        """Move log.jsonl's bad lines (corrupt, over LINE_MAX: cut to LINE_MAX, a torn last
        line) to the end of log.bad, and its good lines to .tmp, renamed over log.jsonl. A power
        cut before the rename leaves log.jsonl whole: the next open moves the same lines again
        (a line may then be in log.bad twice; none is ever lost)."""
        moved = 0
        try:
            with open(self.path, "rb") as src, open(self.tmp, "wb") as dst:
                bad = open(self.bad, "ab")
                try:
                    while True:
                        line, long = _line(src)
                        if not line:
                            break
                        if not long and _parse(line) is not None:
                            dst.write(line if line.endswith(b"\n") else line + b"\n")
                        elif line.strip():
                            bad.write(line if line.endswith(b"\n") else line + b"\n")
                            moved += 1
                    bad.flush()
                finally:
                    bad.close()
                dst.flush()
            _sync()  # log.bad on flash before log.jsonl loses anything
            _replace(self.tmp, self.path)
            _sync()
        except OSError as e:
            # cannot repair now (flash full?): the bad lines stay, new lines start with a newline
            self._fragment = True
            self.last_error = "log: bad lines not moved to %s (errno %s)" % (LOG_BAD, _errno(e))
            return
        self.moved = moved
        self.quarantined += moved

    # -- problems: each logged once ---------------------------------------------------------
    def problems(self, texts):
        """Log each problem of this start (a corrupt settings file, a broken program file, a
        repaired log ...) as an error record, unless the same problem was logged at an earlier
        start and has been there at every start since: an error line per boot would push the
        session history out of the rotated log. Their digests are kept in log.seen (the
        current set only: a problem that goes away and comes back is logged again). Returns
        how many were logged now; never raises."""
        try:
            seen = self._seen()
            now = []
            n = 0
            for t in texts:
                if len(now) >= SEEN_MAX:
                    break
                t = t if isinstance(t, str) else repr(t)
                d = digest(t[:ERROR_MAX])
                if d in now:
                    continue
                if d in seen:
                    now.append(d)
                elif self.error(t):  # on flash: remembered; kept in RAM: tried again next time
                    now.append(d)
                    n += 1
            if now != seen:
                self._save_seen(now)
            return n
        except Exception:  # noqa: BLE001 - reporting a problem must not make another
            return 0

    def _seen(self):
        try:
            with open(self.seen, "rb") as f:
                v = json.loads(f.read(SEEN_BYTES + 1))
        except Exception:  # noqa: BLE001 - missing, corrupt, too big or too deep: none seen
            return []
        if not isinstance(v, list):
            return []
        out = []
        for d in v:
            if isinstance(d, int) and not isinstance(d, bool):
                out.append(d)
        return out

    def _save_seen(self, digests):
        try:
            with open(self.seen + ".tmp", "w") as f:
                f.write(json.dumps(digests))
                f.flush()
            _replace(self.seen + ".tmp", self.seen)
            _sync()
        except OSError:
            pass  # not remembered: the problems are logged again at the next start

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
        line = json.dumps(rec) + "\n"
        if len(line) > LINE_MAX:
            raise ValueError("log: a record is at most %d bytes" % LINE_MAX)
        self.pending.append(line)
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
                    line, long = _line(f)
                    if not line:
                        break
                    if long or not line.endswith(b"\n"):
                        continue  # over-long, or a fragment of a failed write: never a record
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
            out.append("log: torn last line (a power cut)")
        if self.corrupt:
            out.append("log: %d corrupt line(s) skipped" % self.corrupt)
        if self.moved:
            out.append(
                "log: %d bad line(s) moved to %s (%d kept there)"
                % (self.moved, LOG_BAD, self.quarantined)
            )
        if self.last_error:
            out.append(self.last_error)
        if self.lost:
            out.append("log: %d record(s) lost (flash full)" % self.lost)
        return out
