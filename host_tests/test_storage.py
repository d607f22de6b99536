"""firmware/settings.py and sessionlog.py (storage.py: their one name for the app): settings
fall back to defaults and never crash; the session log keeps every acknowledged record through
torn writes, corrupt lines, rotation, a full filesystem (ENOSPC) and power cuts at any
filesystem operation."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware import rtc as RT
from firmware import sessionlog as SL
from firmware import settings as ST

ROOT = Path(__file__).resolve().parent.parent

# --- settings ---------------------------------------------------------------------------------


def test_missing_settings_give_defaults(tmp_path: Path) -> None:
    s = ST.Settings(str(tmp_path))
    assert s.status == "missing" and s.problems == []
    assert s.get("mode") == "home" and s.get("level") == 1
    assert s.get("client_ceiling_ua") == {} and s.get("last_program") is None
    assert s.get("board") is None and s.get("probe") == "disk" and s.get("sessions") == 0
    assert s.get("nonexistent") is None


@pytest.mark.rule("4.10")
@pytest.mark.parametrize("text", ['{"level": 7, "mode": ', "[1, 2]", "\x00\xff garbage", ""])
def test_corrupt_settings_give_defaults_and_are_reported(tmp_path: Path, text: str) -> None:
    (tmp_path / "settings.json").write_text(text)
    s = ST.Settings(str(tmp_path))
    assert s.status == "corrupt"
    assert s.problems and "settings.json" in s.problems[0]
    assert s.data == ST.defaults()
    assert s.save() and json.loads((tmp_path / "settings.json").read_text()) == ST.defaults()


@pytest.mark.rule("4.10")
def test_bad_values_fall_back_one_by_one(tmp_path: Path) -> None:
    bad = {
        "level": 11,
        "mode": "turbo",
        "client_ceiling_ua": {"disk": 5000},
        "last_program": "lift",
        "probe": "qtip",
        "colour": "red",
        "sessions": -1,
    }
    (tmp_path / "settings.json").write_text(json.dumps(bad))
    s = ST.Settings(str(tmp_path))
    assert s.status == "repaired"
    assert s.get("level") == 1 and s.get("mode") == "home" and s.get("sessions") == 0
    assert s.get("client_ceiling_ua") == {}
    assert s.get("last_program") == "lift" and s.get("probe") == "qtip"  # the good ones kept
    text = "\n".join(s.problems)
    for k in ("level", "mode", "client_ceiling_ua", "colour", "sessions"):
        assert k in text
    assert s.dirty


def test_set_validates_and_save_round_trips(tmp_path: Path) -> None:
    s = ST.Settings(str(tmp_path))
    s.set("level", 6)
    s.set("mode", "pro")
    s.set("client_ceiling_ua", {"disk": 240, "qtip": 90})
    s.set("last_program", "eye")
    for k, v in (("level", 0), ("level", True), ("mode", "max"), ("probe", "roller")):
        with pytest.raises(ValueError):
            s.set(k, v)
    with pytest.raises(ValueError, match="unknown key"):
        s.set("volume", 3)
    with pytest.raises(ValueError):
        s.set("client_ceiling_ua", {"disk": 2000})
    assert s.save()
    t = ST.Settings(str(tmp_path))
    assert t.status == "ok"
    assert t.get("level") == 6 and t.get("mode") == "pro" and t.get("last_program") == "eye"
    assert t.ceiling_ua("disk") == 240 and t.ceiling_ua("globe") is None
    c = t.get("client_ceiling_ua")
    c["disk"] = 1  # a copy: the settings do not change behind their back
    assert t.ceiling_ua("disk") == 240
    assert not (tmp_path / "settings.json.tmp").exists()


def test_a_client_ceiling_is_checked_against_the_ceiling_in_safety_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device ceiling is stated once (safety.limits) and read when a value is checked: a
    copy taken at import would let a client ceiling above a lowered ceiling through."""
    from safety import limits

    s = ST.Settings(str(tmp_path))
    s.set("client_ceiling_ua", {"disk": 500})
    monkeypatch.setattr(limits, "CEILING_UA", 400)
    with pytest.raises(ValueError, match="bad client_ceiling_ua"):
        s.set("client_ceiling_ua", {"disk": 450})
    (tmp_path / "settings.json").write_text(json.dumps({"client_ceiling_ua": {"disk": 450}}))
    t = ST.Settings(str(tmp_path))
    assert t.status == "repaired" and t.ceiling_ua("disk") is None


def test_bump_sessions_counts_without_rtc(tmp_path: Path) -> None:
    s = ST.Settings(str(tmp_path))
    for _ in range(3):
        assert s.bump_sessions()
    assert ST.Settings(str(tmp_path)).get("sessions") == 3


def test_settings_left_in_tmp_by_a_power_cut_are_used(tmp_path: Path) -> None:
    (tmp_path / "settings.json.tmp").write_text(json.dumps({"level": 9}))
    assert ST.Settings(str(tmp_path)).get("level") == 9


def test_settings_save_on_a_full_flash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = ST.Settings(str(tmp_path))
    s.set("level", 3)
    assert s.save()

    def full(path: str, mode: str = "r", *a: object, **k: object):  # noqa: ANN202
        if "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return open(path, mode, *a, **k)

    monkeypatch.setattr(ST, "open", full, raising=False)
    s.set("level", 8)
    assert s.save() is False
    assert "errno 28" in s.last_error
    assert s.get("level") == 8  # kept in RAM
    monkeypatch.undo()
    assert ST.Settings(str(tmp_path)).get("level") == 3  # the old file untouched
    assert s.save() and ST.Settings(str(tmp_path)).get("level") == 8


# --- session log ------------------------------------------------------------------------------


def rec(k: int, **kw: object) -> dict:
    r = {
        "program": "lift",
        "t_ms": k * 1000,
        "rtc": None,
        "on_skin_s": 480,
        "charge_uc": {"left": 100, "right": 99, "centre": 20},
        "max_ua": 300,
        "level": 5,
        "steps": 12,
        "faults": [],
        "completed": True,
        "k": k,
    }
    r.update(kw)
    return r


def ks(log: SL.SessionLog) -> list[int]:
    return [r["k"] for r in log.records() if "k" in r]


def test_append_and_read_back(tmp_path: Path) -> None:
    log = SL.SessionLog(str(tmp_path))
    assert ks(log) == [] and log.boot == 1
    for k in range(5):
        assert log.append(rec(k))
    log.error("SOFTWARE: boom")
    again = SL.SessionLog(str(tmp_path))
    assert ks(again) == [0, 1, 2, 3, 4]
    assert [r["seq"] for r in again.sessions()] == [1, 2, 3, 4, 5]
    assert again.seq == 5 and again.boot == 2 and again.count == 6
    errors = [r for r in again.records() if "error" in r]
    assert errors[0]["error"] == "SOFTWARE: boom" and errors[0]["boot"] == 1
    assert again.report() == []
    # every line is one JSON object with its newline
    lines = (tmp_path / "log.jsonl").read_text().split("\n")
    assert lines[-1] == "" and all(json.loads(x) for x in lines[:-1])


@pytest.mark.rule("4.10")
def test_torn_last_line_is_dropped_and_nothing_earlier(tmp_path: Path) -> None:
    log = SL.SessionLog(str(tmp_path))
    for k in range(3):
        log.append(rec(k))
    full = json.dumps(rec(3)) + "\n"
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write(full[:40])  # the power went during this write
    again = SL.SessionLog(str(tmp_path))
    assert again.torn == 1 and again.corrupt == 0
    assert ks(again) == [0, 1, 2]
    assert (tmp_path / "log.jsonl").read_text().endswith("}\n")  # repaired on flash
    assert again.append(rec(4))
    assert ks(SL.SessionLog(str(tmp_path))) == [0, 1, 2, 4]
    assert "torn" in again.report()[0]


def test_complete_record_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    log = SL.SessionLog(str(tmp_path))
    log.append(rec(0))
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write(json.dumps(rec(1)))
    again = SL.SessionLog(str(tmp_path))
    assert again.torn == 0 and ks(again) == [0, 1]
    again.append(rec(2))
    assert ks(SL.SessionLog(str(tmp_path))) == [0, 1, 2]


@pytest.mark.rule("4.10")
def test_corrupt_middle_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    log = SL.SessionLog(str(tmp_path))
    log.append(rec(0))
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('{"program": "li\n[1, 2]\n\n\xff\xfe\n')
    log.append(rec(1))
    again = SL.SessionLog(str(tmp_path))
    assert again.corrupt == 3  # the blank line is not counted
    assert ks(again) == [0, 1]
    assert "3 corrupt" in again.report()[0]


@pytest.mark.rule("4.10")
def test_log_repair_keeps_corrupt_lines_in_log_bad_instead_of_deleting_them(
    tmp_path: Path,
) -> None:
    """Issue 11 item 15: the repair at open (a torn last line) used to rewrite log.jsonl with
    its good lines only, deleting every corrupt line already on flash."""
    log = SL.SessionLog(str(tmp_path))
    log.append(rec(0))
    bad = ['{"program": "li', "[1, 2]", '{"program": "lift", "k": 1, "faults": [tr']
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write(bad[0] + "\n" + bad[1] + "\n")
    log.append(rec(2))
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write(bad[2])  # torn by a power cut
    again = SL.SessionLog(str(tmp_path))
    assert ks(again) == [0, 2]
    assert (again.corrupt, again.torn, again.moved, again.quarantined) == (2, 1, 3, 3)
    assert (tmp_path / "log.bad").read_text() == "\n".join(bad) + "\n"
    assert [json.loads(x)["k"] for x in (tmp_path / "log.jsonl").read_text().splitlines()] == [
        0,
        2,
    ]
    assert again.report() == [
        "log: torn last line (a power cut)",
        "log: 2 corrupt line(s) skipped",
        "log: 3 bad line(s) moved to log.bad (3 kept there)",
    ]
    # the next start finds a clean log and still counts what is kept
    third = SL.SessionLog(str(tmp_path))
    assert (third.corrupt, third.torn, third.moved, third.quarantined) == (0, 0, 0, 3)
    assert third.report() == []
    # a later repair adds to log.bad, never replaces it
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write("garbage\n")
    assert SL.SessionLog(str(tmp_path)).quarantined == 4
    assert (tmp_path / "log.bad").read_text().endswith("garbage\n")


def test_log_bad_full_leaves_bad_lines_where_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SL, "BAD_CAP", 30)
    log = SL.SessionLog(str(tmp_path))
    log.append(rec(0))
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write("x" * 40 + "\n")
    log.append(rec(1))
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('{"torn')
    before = (tmp_path / "log.jsonl").read_text()
    again = SL.SessionLog(str(tmp_path))
    assert (tmp_path / "log.jsonl").read_text() == before  # nothing deleted
    assert not (tmp_path / "log.bad").exists()
    assert "log.bad full, 2 bad line(s) left in log.jsonl" in again.last_error
    assert again.append(rec(2))  # the new line starts on a line of its own
    assert ks(SL.SessionLog(str(tmp_path))) == [0, 1, 2]


def test_repair_cut_between_remove_and_rename_keeps_the_repaired_copy(tmp_path: Path) -> None:
    log = SL.SessionLog(str(tmp_path))
    for k in range(3):
        log.append(rec(k))
    os.rename(tmp_path / "log.jsonl", tmp_path / "log.jsonl.tmp")  # a port without replace
    again = SL.SessionLog(str(tmp_path))
    assert ks(again) == [0, 1, 2] and again.count == 3
    assert again.append(rec(3)) and ks(SL.SessionLog(str(tmp_path))) == [0, 1, 2, 3]


def errors(root: Path) -> list[str]:
    return [r["error"] for r in SL.SessionLog(str(root)).records() if "error" in r]


@pytest.mark.rule("4.10")
def test_a_problem_is_logged_once_not_at_every_boot(tmp_path: Path) -> None:
    """Issue 11 item 15: the same corrupt settings / bad program lines were logged at every
    start, pushing the session history out of the rotated log."""
    probs = ["settings.json: corrupt (x), defaults used", "bad.json: rule area: 'lips'"]
    for boot in range(5):
        n = SL.SessionLog(str(tmp_path)).problems(probs)
        assert n == (2 if boot == 0 else 0)
    assert errors(tmp_path) == probs
    # one goes away: nothing logged; it comes back: logged again (a new occurrence)
    assert SL.SessionLog(str(tmp_path)).problems(probs[1:]) == 0
    assert SL.SessionLog(str(tmp_path)).problems(probs) == 1
    assert errors(tmp_path) == probs + probs[:1]
    # the same problem twice in one start is one line
    assert SL.SessionLog(str(tmp_path)).problems(["new", "new"]) == 1
    assert errors(tmp_path)[-1] == "new" and errors(tmp_path).count("new") == 1


def test_a_problem_kept_in_ram_is_tried_again_at_the_next_boot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = SL.SessionLog(str(tmp_path))
    monkeypatch.setattr(SL, "open", FullOpen(0), raising=False)
    assert log.problems(["settings.json: corrupt"]) == 0  # not on flash: not remembered
    monkeypatch.undo()
    assert SL.SessionLog(str(tmp_path)).problems(["settings.json: corrupt"]) == 1
    assert errors(tmp_path) == ["settings.json: corrupt"]


def test_problems_never_raise(tmp_path: Path) -> None:
    log = SL.SessionLog(str(tmp_path))
    assert log.problems([None, 5, "x" * 1000]) == 3  # type: ignore[list-item]
    assert all(len(e) <= SL.ERROR_MAX for e in errors(tmp_path))
    assert log.problems(["p%d" % i for i in range(40)]) == SL.SEEN_MAX


def test_rotation_keeps_the_newest_records(tmp_path: Path) -> None:
    line = len(json.dumps(rec(10, seq=10, boot=1))) + 1
    cap = line * 4 + 10
    log = SL.SessionLog(str(tmp_path), cap=cap)
    for k in range(10, 40):
        assert log.append(rec(k))
        assert (tmp_path / "log.jsonl").stat().st_size <= cap
    assert log.rotations >= 6
    got = ks(SL.SessionLog(str(tmp_path), cap=cap))
    assert got == list(range(40 - len(got), 40))
    assert len(got) >= 4
    assert sorted(os.listdir(tmp_path)) == ["log.1.jsonl", "log.jsonl"]
    # the session numbers keep counting through rotation
    assert [r["seq"] for r in SL.SessionLog(str(tmp_path)).sessions()][-1] == 30


class NoReplaceOS:
    """A port whose rename refuses an existing target (some FAT drivers)."""

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(os, name)

    @staticmethod
    def rename(a: str, b: str) -> None:
        if os.path.exists(b):
            raise OSError(errno.EEXIST, "exists")
        os.rename(a, b)


def test_rotation_on_a_port_without_atomic_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SL, "os", NoReplaceOS())
    monkeypatch.setattr(ST, "os", NoReplaceOS())
    log = SL.SessionLog(str(tmp_path), cap=700)
    for k in range(12):
        assert log.append(rec(k))
    got = ks(SL.SessionLog(str(tmp_path)))
    assert got == list(range(12 - len(got), 12)) and len(got) >= 2
    s = ST.Settings(str(tmp_path))
    s.set("level", 2)
    assert s.save()
    s.set("level", 3)
    assert s.save() and ST.Settings(str(tmp_path)).get("level") == 3


class FullOpen:
    """the session log's open(): appends fail with ENOSPC after writing `partial` characters."""

    def __init__(self, partial: int = 10) -> None:
        self.full = True
        self.partial = partial

    def __call__(self, path, mode="r", *a, **k):  # noqa: ANN001, ANN204
        f = open(path, mode, *a, **k)
        if self.full and ("a" in mode or "w" in mode):
            return _Full(f, self.partial)
        return f


class _Full:
    def __init__(self, f, partial: int) -> None:  # noqa: ANN001
        self.f = f
        self.partial = partial

    def write(self, s: str) -> int:
        self.f.write(s[: self.partial])
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        self.f.flush()

    def close(self) -> None:
        self.f.close()

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *a: object) -> None:
        self.f.close()


@pytest.mark.rule("4.10")
@pytest.mark.parametrize("partial", [0, 1, 25])
def test_full_filesystem_keeps_the_record_in_ram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partial: int
) -> None:
    log = SL.SessionLog(str(tmp_path))
    for k in range(3):
        log.append(rec(k))
    before = (tmp_path / "log.jsonl").read_text()
    fake = FullOpen(partial)
    monkeypatch.setattr(SL, "open", fake, raising=False)
    assert log.append(rec(3)) is False
    assert (
        "flash full (errno 28)" in log.last_error and "1 record(s) kept in RAM" in log.last_error
    )
    assert ks(log) == [0, 1, 2, 3]  # readable from RAM
    assert log.error("fault DAC") is False  # never raises
    assert (tmp_path / "log.jsonl").read_text().startswith(before)  # nothing earlier touched
    fake.full = False
    assert log.append(rec(4))
    assert log.pending == [] and log.last_error is None
    monkeypatch.undo()
    again = SL.SessionLog(str(tmp_path))
    assert ks(again) == [0, 1, 2, 3, 4]
    # each failed attempt (the append, then the error line's retry) may leave a fragment: each
    # on its own line, skipped and counted ("{"; then "\n" + 24 characters)
    assert again.corrupt == {0: 0, 1: 1, 25: 2}[partial]


def test_ram_queue_is_bounded_and_losses_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = SL.SessionLog(str(tmp_path))
    log.append(rec(0))
    monkeypatch.setattr(SL, "open", FullOpen(0), raising=False)
    for k in range(1, 13):
        assert log.append(rec(k)) is False
    assert len(log.pending) == SL.PENDING_MAX and log.lost == 12 - SL.PENDING_MAX
    assert any("lost" in x for x in log.report())
    monkeypatch.undo()
    assert log.flush()
    assert ks(SL.SessionLog(str(tmp_path))) == [0] + list(range(13 - SL.PENDING_MAX, 13))


@pytest.mark.rule("4.10")
def test_unreadable_log_never_crashes(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_bytes(b"\x00\x01\x02\xff" * 100)
    log = SL.SessionLog(str(tmp_path))
    assert ks(log) == []
    assert log.append(rec(1))
    assert ks(SL.SessionLog(str(tmp_path))) == [1]


def test_record_must_be_a_dict(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SL.SessionLog(str(tmp_path)).append(["x"])  # type: ignore[arg-type]


# --- power cut anywhere (hypothesis) ----------------------------------------------------------


class PowerCut(BaseException):
    """Not an Exception: the log's handlers never catch it, like a real power loss."""


class CutFS:
    """Counts filesystem mutations (each write, rename, remove); the n-th one is cut: a write
    leaves a prefix of its data (cut_at characters), a rename/remove does not happen."""

    def __init__(self, n: int, cut_at: int) -> None:
        self.left = n
        self.cut_at = cut_at

    def tick(self) -> bool:
        self.left -= 1
        return self.left == 0

    # the os face
    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(os, name)

    def rename(self, a: str, b: str) -> None:
        if self.tick():
            raise PowerCut()
        os.rename(a, b)

    def remove(self, p: str) -> None:
        if self.tick():
            raise PowerCut()
        os.remove(p)

    # the open face
    def open(self, path, mode="r", *a, **k):  # noqa: ANN001, ANN201
        f = open(path, mode, *a, **k)
        return _CutFile(f, self) if ("a" in mode or "w" in mode) else f


class _CutFile:
    def __init__(self, f, fs: CutFS) -> None:  # noqa: ANN001
        self.f = f
        self.fs = fs

    def write(self, s: str) -> int:
        if self.fs.tick():
            self.f.write(s[: min(self.fs.cut_at, len(s) - 1)])
            self.f.close()
            raise PowerCut()
        return self.f.write(s)

    def flush(self) -> None:
        self.f.flush()

    def close(self) -> None:
        self.f.close()

    def readline(self) -> str:
        return self.f.readline()

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *a: object) -> None:
        self.f.close()


@pytest.mark.rule("4.10")
@given(
    n_before=st.integers(0, 25),
    cut=st.integers(1, 40),
    cut_at=st.integers(0, 400),
    torn_first=st.booleans(),
)
def test_power_cut_at_any_operation_loses_no_acknowledged_record(
    tmp_path_factory: pytest.TempPathFactory,
    n_before: int,
    cut: int,
    cut_at: int,
    torn_first: bool,
) -> None:
    d = tmp_path_factory.mktemp("cut")
    root = str(d)
    line = len(json.dumps(rec(100, seq=100, boot=10))) + 1
    cap = line * 3 + 5
    keep = cap // line  # the newest records a rotation guarantees
    acked: list[int] = []
    log = SL.SessionLog(root, cap=cap)
    for k in range(n_before):
        assert log.append(rec(k))
        acked.append(k)
    if torn_first:  # a torn line from an earlier cut: the repair itself may be cut too
        with open(d / "log.jsonl", "a") as f:
            f.write('{"program": "x", "k": 99')
    fs = CutFS(cut, cut_at)
    SL.os, SL.open = fs, fs.open  # type: ignore[attr-defined]
    inflight = None
    try:
        log = SL.SessionLog(root, cap=cap)
        for k in range(n_before, n_before + 20):
            inflight = k
            assert log.append(rec(k))
            acked.append(k)
            inflight = None
    except PowerCut:
        pass
    finally:
        SL.os = os
        del SL.open
    got = ks(SL.SessionLog(root, cap=cap))
    assert got == sorted(got) and len(set(got)) == len(got)
    if got:
        assert got == list(range(got[0], got[-1] + 1)), got  # contiguous: no hole
        assert got[-1] in (acked[-1] if acked else None, inflight)
    assert set(acked[-keep:]) <= set(got), (acked, got)
    # and the log is healthy: it takes new records
    log = SL.SessionLog(root, cap=cap)
    assert log.append(rec(1000))
    assert ks(log)[-1] == 1000


@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_full_flash_pattern_keeps_order(flash_ok: list[bool]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        log = SL.SessionLog(root)
        fake = FullOpen(7)
        SL.open = fake  # type: ignore[attr-defined]
        try:
            for k, ok in enumerate(flash_ok):
                fake.full = not ok
                log.append(rec(k))
                # pending never exceeds the bound; what is kept is the newest
                assert len(log.pending) <= SL.PENDING_MAX
        finally:
            del SL.open
        expect = [k for k in range(len(flash_ok))]
        lost = log.lost
        got = ks(log)
        assert got == sorted(got)
        assert len(got) == len(expect) - lost
        log.flush()
        assert ks(SL.SessionLog(root)) == got


# --- what each part imports (RAM: issue 12) -----------------------------------------------------

_NEVER = {
    # the file helpers: nothing of the app
    "firmware.fileio": ("firmware.", "safety.", "waveforms."),
    # reading a file never loads the program validator, and the two files not each other
    "firmware.settings": (
        "firmware.sessionlog",
        "firmware.program",
        "firmware.step",
        "waveforms.",
    ),
    "firmware.sessionlog": (
        "firmware.settings",
        "firmware.boards",
        "firmware.program",
        "firmware.step",
    ),
    # the validator needs neither the settings, the log nor the boards
    "firmware.programcheck": ("firmware.settings", "firmware.sessionlog", "firmware.boards"),
}


@pytest.mark.parametrize("module", sorted(_NEVER))
def test_each_part_imports_only_what_it_needs(module: str) -> None:
    """Every module imported stays in RAM for good on a board: a module that only reads a file
    does not bring the validator (or the other file's code), and the validator does not bring
    the settings and the log."""
    code = (
        "import importlib, sys; import host_tests.conftest; importlib.import_module(%r); "
        "print(' '.join(sorted(sys.modules)))" % module
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert module in out
    assert [m for m in out if m != module and m.startswith(_NEVER[module])] == []


# --- time -------------------------------------------------------------------------------------


def test_epoch_seconds() -> None:
    import calendar

    for y, m, d, hh, mm, ss in (
        (1970, 1, 1, 0, 0, 0),
        (2000, 2, 29, 12, 1, 2),
        (2026, 11, 24, 7, 48, 0),
    ):
        assert RT.epoch_seconds(y, m, d, hh, mm, ss) == calendar.timegm((y, m, d, hh, mm, ss))


def test_rtc_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import machine

    class RTC:
        value = (2026, 11, 24, 1, 7, 48, 0, 0)

        def datetime(self):  # noqa: ANN201
            return self.value

    monkeypatch.setattr(machine, "RTC", RTC, raising=False)
    assert RT.rtc_seconds() == RT.epoch_seconds(2026, 11, 24, 7, 48, 0)
    RTC.value = (2021, 1, 1, 4, 0, 0, 0, 0)  # an RP2040 that was never set
    assert RT.rtc_seconds() is None
    RT.set_rtc_source(lambda: 12345)
    try:
        assert RT.rtc_seconds() == 12345
    finally:
        RT.set_rtc_source(None)
    monkeypatch.delattr(machine, "RTC")
    assert RT.rtc_seconds() is None
