# Hostile files on the real MicroPython VM (issue 11 items 14 and 15; DESIGN 4.10). The same
# files as host_tests/test_hostile_files.py, where CPython fails with RecursionError; here the
# parser nests on the heap (MemoryError when it runs out) and a text read of a huge file would
# take the whole heap. None may raise out of settings, sessionlog, programs or boards:
# - settings nested deep or over the size limit: defaults, one short problem;
# - a program file nested deep, or over 16 KB: left out with a rule json message, the presets
#   stay usable;
# - a log line nested deep or 100 KB long: skipped (read in LINE_MAX pieces), moved to log.bad,
#   the records around it kept;
# - an unknown board name: the platform's board; a problem is logged once across starts.
import os

import mptest
from mptest import check, check_eq, test

from firmware import boards, sessionlog, settings
from firmware import programs as P

TMP = "mp_test_hostile_fs"


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


def _write(path, parts):
    with open(path, "wb") as f:
        for p in parts:
            f.write(p)


def _deep(n):
    return b"[" * n + b"]" * n


def _rec(k):
    return b'{"program": "lift", "k": %d}\n' % k


@test
def settings_nested_or_huge():
    root = _fresh()
    for name, parts in (
        ("deep", [b'{"level": ', _deep(50000), b"}"]),
        ("huge", [b'{"last_program": "', b"x" * 100000, b'"}']),
    ):
        _write(root + "/settings.json", parts)
        s = settings.Settings(root)
        check_eq(name + ": corrupt", s.status, "corrupt")
        check_eq(name + ": defaults", s.data, settings.defaults())
        check(name + ": one short problem", len(s.problems) == 1 and len(s.problems[0]) < 120)
    _write(root + "/settings.json", [b'{"level": ', _deep(400), b', "mode": "pro"}'])
    s = settings.Settings(root)
    check_eq("nested value named", s.problems, ["settings.json: bad level a list, default used"])
    check_eq("the good value kept", s.get("mode"), "pro")


@test
def program_files_nested_or_huge():
    root = _fresh()
    custom = root + "/programs"
    os.mkdir(custom)
    _write(custom + "/deep.json", [_deep(6000)])
    _write(custom + "/huge.json", [b"[", b"1," * 10000, b"1]"])
    lib = P.Library((P.shipped_dir(), custom))
    check("presets usable", lib.ok and lib.ids() == list(P.PRESETS), lib.ids())
    check_eq("two errors", len(lib.errors), 2)
    check("deep: rule json or type", "deep.json: rule " in lib.errors[0], lib.errors)
    check_eq("huge refused", lib.errors[1], "huge.json: rule json: over 16384 bytes, not read")


@test
def log_lines_nested_or_huge():
    root = _fresh()
    _write(
        root + "/log.jsonl",
        [_rec(0), _deep(900), b"\n", b'{"x": "', b"y" * 100000, b'"}\n', _rec(1)],
    )
    log = sessionlog.SessionLog(root)
    check_eq("corrupt counted", log.corrupt, 2)
    check_eq("records kept", [r["k"] for r in log.records()], [0, 1])
    check_eq("moved to log.bad", (log.moved, log.quarantined), (2, 2))
    check("append", log.append({"program": "lift", "k": 2}))
    log = sessionlog.SessionLog(root)
    check_eq("clean after", (log.corrupt, log.quarantined), (0, 2))
    check_eq("all records", [r["k"] for r in log.records()], [0, 1, 2])
    # the nested line whole, the long one cut to LINE_MAX, each with its newline
    check_eq("log.bad size", os.stat(root + "/log.bad")[6], 1801 + sessionlog.LINE_MAX + 1)


@test
def problems_once_and_board_names():
    root = _fresh()
    texts = ["settings.json: corrupt", "deep.json: rule json"]
    check_eq("first start logs both", sessionlog.SessionLog(root).problems(texts), 2)
    check_eq("second start logs none", sessionlog.SessionLog(root).problems(texts), 0)
    errs = [r["error"] for r in sessionlog.SessionLog(root).records() if "error" in r]
    check_eq("each once", errs, texts)
    b = boards.load("arduino")
    check("unknown board: the platform's", b.NAME == boards.name_for_platform("webassembly"))
    check("and a problem", len(boards.problems) == 1, boards.problems)


try:
    mptest.main()
finally:
    _rmtree(TMP)
