# Persistent state on the board's filesystem (LittleFS): the session log. It may never crash the
# device or lose what was already written (DESIGN 4.10).
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
import json
import os

from micropython import const

from drivers import clock
from firmware import fileio as _fio
from firmware import rtc as _rtc

LOG = "log.jsonl"
LOG_OLD = "log.1.jsonl"
LOG_BAD = "log.bad"  # bad lines moved out of log.jsonl by the repair at open (kept, counted)
LOG_SEEN = "log.seen"  # digests of the problems logged (problems(): each logged once)
_LOG_CAP = const(16384)  # bytes of log.jsonl before rotation (~60 session records)
PENDING_MAX = const(8)  # records kept in RAM while the flash refuses writes
ENOSPC = const(28)
LINE_MAX = const(2048)  # bytes of a log line with its newline; a longer line is never a record
BAD_CAP = 8192  # bytes of log.bad: past it, bad lines stay in log.jsonl (skipped, counted)
SEEN_MAX = const(16)  # problems remembered
_SEEN_BYTES = const(512)  # log.seen's size limit
ERROR_MAX = const(120)  # characters of an error text in the log


class SessionLog:
    """The JSON-lines session log under root (see the header): append, error, records."""

    def __init__(self, root="/", cap=_LOG_CAP):
        self.path = _fio.join(root, LOG)
        self.old = _fio.join(root, LOG_OLD)
        self.bad = _fio.join(root, LOG_BAD)
        self.seen = _fio.join(root, LOG_SEEN)
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
                line, long = _fio.read_line(f, LINE_MAX)
                if not line:
                    break
                r = None if long else _fio.parse_object(line)
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
        if not _fio.exists(self.path, os) and _fio.exists(self.tmp, os):
            # a power cut between removing log.jsonl and renaming the repaired copy over it
            # (a port without an atomic replace): the copy is the log
            try:
                os.rename(self.tmp, self.path)
            except OSError as e:
                self.last_error = "log: repaired copy not restored (errno %s)" % _fio.errno_of(e)
        self.quarantined = _fio.count_lines(self.bad, LINE_MAX)
        self._scan(self.old, False)
        need = self._scan(self.path, True)
        if need:
            if _fio.size(self.bad, os) + need > BAD_CAP:
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
                        line, long = _fio.read_line(src, LINE_MAX)
                        if not line:
                            break
                        if not long and _fio.parse_object(line) is not None:
                            dst.write(line if line.endswith(b"\n") else line + b"\n")
                        elif line.strip():
                            bad.write(line if line.endswith(b"\n") else line + b"\n")
                            moved += 1
                    bad.flush()
                finally:
                    bad.close()
                dst.flush()
            _fio.sync(os)  # log.bad on flash before log.jsonl loses anything
            _fio.replace(self.tmp, self.path, os)
            _fio.sync(os)
        except OSError as e:
            # cannot repair now (flash full?): the bad lines stay, new lines start with a newline
            self._fragment = True
            self.last_error = "log: bad lines not moved to %s (errno %s)" % (
                LOG_BAD,
                _fio.errno_of(e),
            )
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
                d = _fio.digest(t[:ERROR_MAX])
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
                v = json.loads(f.read(_SEEN_BYTES + 1))
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
            _fio.replace(self.seen + ".tmp", self.seen, os)
            _fio.sync(os)
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
                n = _fio.errno_of(e)
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
        size = _fio.size(self.path, os)
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
        _fio.sync(os)
        self._fragment = False

    def _rotate(self):
        _fio.replace(self.path, self.old, os)
        self.rotations += 1

    def error(self, text):
        """An error line (software error, fault) in the log; never raises."""
        try:
            t = text if isinstance(text, str) else repr(text)
            return self.append(
                {"error": t[:ERROR_MAX], "t_ms": clock.ticks_ms(), "rtc": _rtc.rtc_seconds()}
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
                    line, long = _fio.read_line(f, LINE_MAX)
                    if not line:
                        break
                    if long or not line.endswith(b"\n"):
                        continue  # over-long, or a fragment of a failed write: never a record
                    r = _fio.parse_object(line)
                    if r is not None and (not sessions_only or "program" in r):
                        yield r
            finally:
                f.close()
        for line in list(self.pending):
            r = _fio.parse_object(line)
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
