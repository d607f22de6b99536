# Facial programs on the filesystem: the Library of the shipped presets and the custom programs,
# each file read and checked (firmware/programcheck.py) at start; a program runs from a fresh read.
#
# Where they live
#   shipped presets  firmware/presets/*.json   (device: /data/presets, see PRESETS_DIR)
#   custom programs  <root>/programs/*.json   (device: /programs: `mpremote cp x.json :/programs/`)
# The shipped folder is NOT called firmware/programs/: on MicroPython a directory shadows a
# module of the same name (`from firmware import programs` would import the data folder as a
# namespace package, not this file). Checked on the 1.29 VM.
#
# Hostile files: a file over programcheck.MAX_BYTES is not read (rule json); the Library never
# raises for a custom file, leaves out the files after CUSTOM_MAX, and reports.
#
# RAM: Library keeps the ids and names only; load(id) reads and validates one file.
import os

from micropython import const

from firmware import fileio as _fio
from firmware import programcheck as _check

CUSTOM_MAX = const(32)  # custom program files read from one folder

# the shipped presets, in the order MODE cycles through them
PRESETS = ("lift", "rejuvenate", "eye", "tone", "pores", "relax")


def _dirname(path):
    i = path.rfind("/")
    if i < 0:
        return ""
    return path[:i] if i > 0 else "/"


# Where `make deploy` puts the shipped presets on a board (both paths, .mpy and frozen): outside
# every code package. A /firmware/presets folder would make /firmware a package on the
# filesystem, which shadows a frozen `firmware` package ('' comes before '.frozen' on sys.path).
PRESETS_DIR = "/data/presets"


def _isdir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def shipped_dir():
    """Folder of the shipped presets: beside this module (firmware/presets) when it is there (a
    source tree: the host, the VM, a tree that still has them beside the code), else
    /data/presets (a board: `make deploy` puts them there; a frozen module has no folder)."""
    f = globals().get("__file__")
    if isinstance(f, str) and "/" in f and not f.startswith(".frozen"):
        d = _fio.join(_dirname(f), "presets")
        if _isdir(d):
            return d
    return PRESETS_DIR


def default_dirs(root="/"):
    """(shipped, custom): the presets folder and <root>/programs."""
    return (shipped_dir(), _fio.join(root, "programs"))


def _read(path):
    """(file name, bytes) of a program file; a file over programcheck.MAX_BYTES is refused
    unread."""
    fname = path[path.rfind("/") + 1 :]
    with open(path, "rb") as f:  # bytes: invalid UTF-8 is a "json" error, not a crash
        text = f.read(_check.MAX_BYTES + 1)
    if len(text) > _check.MAX_BYTES:
        raise ValueError("%s: rule json: over %d bytes, not read" % (fname, _check.MAX_BYTES))
    return fname, text


def _parse_file(fname, text, areas, balance=True):
    return _check.parse(
        text, fname, areas, fname[:-5] if fname.endswith(".json") else None, balance
    )


def load_file(path, areas=None):
    """Read, parse and validate one program file (the id must match the file name). A file
    over programcheck.MAX_BYTES is refused unread (rule json)."""
    fname, text = _read(path)
    return _parse_file(fname, text, areas)


def _json_names(d):
    try:
        names = os.listdir(d)
    except OSError:
        return []
    out = []
    for n in names:
        if n.endswith(".json") and not n.startswith("."):
            out.append(n)
    out.sort()
    return out


def _why(fn, e):
    """A Library error line for a file that failed with e."""
    if isinstance(e, ValueError):
        return str(e)
    if isinstance(e, OSError):
        return "%s: unreadable (%s)" % (fn, e)
    # a validator bug or an exhausted board: the file is left out, the device keeps going
    return "%s: rule json: not checked (%s)" % (fn, type(e).__name__)


class Library:
    """All program files of the given folders, validated once at start; keeps ids and names.

    dirs: (shipped, custom, ...); the first folder holds the shipped presets. ok is True when
    every shipped file is valid and at least one program is usable (the self-test's "program
    files valid"); a broken custom file is reported in errors and left out, nothing else.
    A custom program cannot take the id of an earlier one (rejected, reported).
    """

    def __init__(self, dirs=None, areas=None):
        if dirs is None:
            dirs = default_dirs("/")
        self.dirs = tuple(dirs)
        self.areas = areas
        self._ids = []
        self._names = {}
        self._paths = {}
        self.durations = {}
        self._sums = {}  # pid -> fileio.digest of the text validated whole at start
        self.errors = []
        shipped_ok = True
        for n, d in enumerate(self.dirs):
            names = _json_names(d)
            if n == 0:
                names = _preset_order(names)
            elif len(names) > CUSTOM_MAX:
                self.errors.append(
                    "%s: %d program files, the first %d read" % (d, len(names), CUSTOM_MAX)
                )
                names = names[:CUSTOM_MAX]
            for fn in names:
                path = _fio.join(d, fn)
                try:
                    fname, text = _read(path)
                    prog = _parse_file(fname, text, areas)
                except Exception as e:  # noqa: BLE001 - no file may stop the device (4.10)
                    self.errors.append(_why(fn, e))
                    if n == 0:
                        shipped_ok = False
                    continue
                pid = prog["id"]
                if pid in self._paths:
                    self.errors.append(
                        "%s: rule id: %s already defined by a shipped or earlier "
                        "program" % (fn, _fio.quote(pid))
                    )
                    continue
                self._ids.append(pid)
                self._names[pid] = prog["name"]
                self._paths[pid] = path
                self.durations[pid] = prog["duration_ms"]
                self._sums[pid] = _fio.digest(text)
                prog = text = None
        self.ok = shipped_ok and len(self._ids) > 0

    def ids(self):
        return list(self._ids)

    def name(self, pid):
        return self._names.get(pid, pid)

    def path(self, pid):
        return self._paths.get(pid)

    def load(self, pid):
        """The validated program dict, read again and checked again, so a file changed since
        start is caught; the slow rule balance only when the text differs from the one checked
        at start (the run starts within the watchdog's time). Raises ValueError for an unknown
        id or a broken file, OSError when unreadable."""
        p = self._paths.get(pid)
        if p is None:
            raise ValueError("%s: rule id: no such program" % (pid,))
        fname, text = _read(p)
        same = _fio.digest(text) == self._sums.get(pid)
        return _parse_file(fname, text, self.areas, not same)


def _preset_order(names):
    out = []
    for pid in PRESETS:
        fn = pid + ".json"
        if fn in names:
            out.append(fn)
    for fn in names:
        if fn not in out:
            out.append(fn)
    return out
