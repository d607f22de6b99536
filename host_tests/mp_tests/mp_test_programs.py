# firmware/programs.py (with programcheck, stepcheck), settings.py, sessionlog.py and course.py on
# the real MicroPython VM:
# - the six presets load and validate, with the same steps and durations as on CPython
#   (PRESET lines, compared by host_tests/test_programs.py);
# - every failing fixture of host_tests/fixtures/programs fails with the same message (MSG
#   lines); the fixtures come in with `--lib host_tests/fixtures/programs`, without it that part
#   is a visible SKIP;
# - the session log survives a torn last line, a corrupt middle line (moved to log.bad, kept and
#   counted), rotation and a full filesystem (ENOSPC) without losing an earlier record; a corrupt
#   settings file gives the defaults; the course status reads the log.
import os
import re

import mptest
from mptest import check, check_eq, skip, test

from firmware import course, sessionlog, settings
from firmware import programs as P

_RULE = re.compile(r"rule (\w+):")
TMP = "mp_test_programs_fs"


def _rule(msg):
    m = _RULE.search(msg)
    return m.group(1) if m else None


def _rmtree(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + "/" + n
        if os.stat(p)[0] & 0x4000:
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(d)


def _fresh():
    _rmtree(TMP)
    os.mkdir(TMP)
    return TMP


def _fixtures_dir():
    for d in ("/extra/programs", "host_tests/fixtures/programs"):
        try:
            os.listdir(d)
            return d
        except OSError:
            pass
    return None


@test
def presets_load_and_validate():
    shipped = P.shipped_dir()
    check("shipped dir is firmware/presets", shipped.endswith("firmware/presets"), shipped)
    lib = P.Library((shipped, TMP + "/none"))
    check_eq("no errors", lib.errors, [])
    check("ok", lib.ok)
    check_eq("ids in order", lib.ids(), list(P.PRESETS))
    for pid in lib.ids():
        prog = lib.load(pid)
        d = prog["duration_ms"]
        check("%s 5-15 min" % pid, 300000 <= d <= 900000, d)
        print("PRESET %s %d %d" % (pid, len(prog["steps"]), d))


@test
def fixtures_fail_with_the_same_messages():
    d = _fixtures_dir()
    if d is None:
        skip("fixtures", "run with --lib host_tests/fixtures/programs")
        return
    names = [n for n in os.listdir(d) if n.endswith(".json")]
    names.sort()
    check("fixtures found", len(names) > 20, len(names))
    for n in names:
        try:
            P.load_file(d + "/" + n)
            check(n + " rejected", False)
            print("MSG %s accepted" % n)
        except ValueError as e:
            msg = str(e)
            check(n + " names file and rule", msg.startswith(n + ": ") and _rule(msg) is not None)
            print("MSG %s %s" % (n, msg if _rule(msg) != "json" else "rule json"))


def _rec(i):
    return {
        "program": "lift",
        "t_ms": i * 1000,
        "rtc": None,
        "on_skin_s": 500,
        "charge_uc": {"left": 100 + i, "right": 100 + i, "centre": 10},
        "max_ua": 300,
        "level": 5,
        "steps": 12,
        "faults": [],
        "completed": True,
        "k": i,
    }


def _ks(log):
    return [r["k"] for r in log.records() if "k" in r]


@test
def log_torn_line_dropped():
    root = _fresh()
    log = sessionlog.SessionLog(root)
    for i in range(3):
        check("append %d" % i, log.append(_rec(i)))
    with open(root + "/log.jsonl", "a") as f:
        f.write('{"program": "lift", "t_ms": 9')  # a power cut mid-line
    log = sessionlog.SessionLog(root)
    check_eq("torn dropped", log.torn, 1)
    check_eq("earlier records kept", _ks(log), [0, 1, 2])
    check("append after repair", log.append(_rec(3)))
    check_eq("then one more", _ks(sessionlog.SessionLog(root)), [0, 1, 2, 3])
    check_eq("seq continues", [r["seq"] for r in log.sessions()], [1, 2, 3, 4])


@test
def log_corrupt_middle_line_skipped():
    root = _fresh()
    log = sessionlog.SessionLog(root)
    log.append(_rec(0))
    with open(root + "/log.jsonl", "a") as f:
        f.write("#garbage{\n")
    log = sessionlog.SessionLog(root)
    check_eq("corrupt counted", log.corrupt, 1)
    check_eq("moved to log.bad", log.moved, 1)
    log.append(_rec(1))
    log = sessionlog.SessionLog(root)
    check_eq("kept in log.bad, counted", (log.corrupt, log.quarantined), (0, 1))
    with open(root + "/log.bad") as f:
        check_eq("the line itself", f.read(), "#garbage{\n")
    check_eq("records around it kept", _ks(log), [0, 1])


@test
def log_rotation_keeps_the_newest():
    root = _fresh()
    log = sessionlog.SessionLog(root, cap=1200)
    for i in range(20):
        log.append(_rec(i))
    ks = _ks(sessionlog.SessionLog(root, cap=1200))
    check("rotated", log.rotations >= 2, log.rotations)
    check_eq("the newest kept, in order", ks, list(range(20 - len(ks), 20)))
    check("at least a file's worth", len(ks) >= 1200 // 300, ks)


class _FullFS:
    """open() for the session log that refuses appends with ENOSPC after writing a fragment."""

    def __init__(self):
        self.full = True

    def __call__(self, path, mode="r"):
        f = open(path, mode)
        if self.full and "a" in mode:
            return _Full(f)
        return f


class _Full:
    def __init__(self, f):
        self.f = f

    def write(self, s):
        self.f.write(s[:7])
        raise OSError(sessionlog.ENOSPC)

    def flush(self):
        pass

    def close(self):
        self.f.close()


@test
def log_full_filesystem_keeps_everything():
    root = _fresh()
    log = sessionlog.SessionLog(root)
    log.append(_rec(0))
    fake = _FullFS()
    sessionlog.open = fake
    try:
        ok = log.append(_rec(1))
        check("append refused", not ok)
        check("reported", log.last_error is not None and "full" in log.last_error, log.last_error)
        check_eq("kept in RAM, readable", _ks(log), [0, 1])
        fake.full = False
        check("written when space is back", log.append(_rec(2)))
    finally:
        del sessionlog.open
    log = sessionlog.SessionLog(root)
    check_eq("all on flash", _ks(log), [0, 1, 2])
    check_eq("the fragment is one corrupt line", log.corrupt, 1)


@test
def settings_corrupt_gives_defaults():
    root = _fresh()
    with open(root + "/settings.json", "w") as f:
        f.write('{"level": 7, "mode": ')
    s = settings.Settings(root)
    check_eq("status", s.status, "corrupt")
    check_eq("default level", s.get("level"), 1)
    s.set("level", 4)
    check("saved", s.save())
    check_eq("read back", settings.Settings(root).get("level"), 4)


@test
def course_from_the_log():
    root = _fresh()
    log = sessionlog.SessionLog(root)
    day = 86400
    t0 = 1767225600  # 2026-01-01
    for i in range(11):
        r = _rec(i)
        r["rtc"] = t0 + i * 2 * day
        log.append(r)
    st = course.status(log.records(), t0 + 21 * day)
    check_eq("intensive", st["phase"], "intensive")
    check_eq("sessions", st["sessions"], 11)
    check("too soon next day", course.status(log.records(), t0 + 20 * day + 3600)["too_soon"])
    check("line fits the OLED", len(st["line"]) <= 16, st["line"])
    _rmtree(TMP)


mptest.main()
