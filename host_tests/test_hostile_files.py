"""Hostile files at boot (issue 11, item 14; DESIGN 4.10): a deeply nested or huge settings
file, program file or log line, and a settings file naming an unknown board or another MCU's
board. None may stop the device: the parse is size-limited and guarded (RecursionError here,
MemoryError/RuntimeError on a board: host_tests/mp_tests/mp_test_hostile.py runs the same on
the MicroPython VM), the defaults are used, and the problem is reported in a short line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from firmware import boards
from firmware import fileio as FIO
from firmware import programcheck as PC
from firmware import programs as P
from firmware import sessionlog as SL
from firmware import settings as ST

ROOT = Path(__file__).resolve().parent.parent
PRESETS = str(ROOT / "firmware" / "presets")
DEEP = 100_000  # far past CPython's recursion limit and any board's C stack


def deep(n: int = DEEP) -> str:
    return "[" * n + "]" * n


def short(lines: list[str]) -> bool:
    return all(len(x) <= SL.ERROR_MAX for x in lines)


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.rule("4.10")
def test_deeply_nested_settings_give_defaults_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text('{"level": ' + deep() + "}")
    s = ST.Settings(str(tmp_path))
    assert s.status == "corrupt" and s.data == ST.defaults()
    assert len(s.problems) == 1 and "settings.json" in s.problems[0] and short(s.problems)
    assert s.save()  # the defaults replace it
    assert ST.Settings(str(tmp_path)).status == "ok"


@pytest.mark.rule("4.10")
def test_nested_value_within_the_size_limit_is_reported_without_printing_it(
    tmp_path: Path,
) -> None:
    # parses on every runtime (under the limit, under CPython's recursion limit), but printing
    # it would recurse as deep and make a line as long as the file
    (tmp_path / "settings.json").write_text('{"level": %s, "mode": "pro"}' % deep(400))
    s = ST.Settings(str(tmp_path))
    assert s.status == "repaired" and s.get("level") == 1 and s.get("mode") == "pro"
    assert s.problems == ["settings.json: bad level a list, default used"]


@pytest.mark.rule("4.10")
def test_huge_settings_file_is_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"last_program": "x" * 1_000_000}))
    reads: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, f) -> None:  # noqa: ANN001
            self.f = f

        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            return self.f.read(n)

        def close(self) -> None:
            self.f.close()

    monkeypatch.setattr(FIO, "open", lambda p, m="r": Spy(real_open(p, m)), raising=False)
    s = ST.Settings(str(tmp_path))
    monkeypatch.undo()
    assert s.status == "corrupt" and s.data == ST.defaults()
    assert reads and all(0 < n <= ST.SETTINGS_MAX + 1 for n in reads), reads
    assert "over %d bytes" % ST.SETTINGS_MAX in s.problems[0] and short(s.problems)


@pytest.mark.rule("4.10")
def test_settings_with_many_bad_keys_give_a_bounded_report(tmp_path: Path) -> None:
    bad: dict[str, object] = {"k%03d" % i: i for i in range(60)}
    bad["mode"] = "y" * 300
    text = json.dumps(bad)
    assert len(text) <= ST.SETTINGS_MAX
    (tmp_path / "settings.json").write_text(text)
    s = ST.Settings(str(tmp_path))
    assert s.status == "repaired"
    assert len(s.problems) == ST.PROBLEMS_MAX + 1 and "not listed" in s.problems[-1]
    assert short(s.problems)


def test_a_torn_first_save_is_no_settings_file(tmp_path: Path) -> None:
    (tmp_path / "settings.json.tmp").write_text('{"level": 4, "mo')
    s = ST.Settings(str(tmp_path))
    assert s.status == "missing" and s.problems == [] and s.data == ST.defaults()


@pytest.mark.rule("4.10")
def test_corrupt_settings_fall_back_to_the_whole_copy_of_the_last_save(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(deep())
    (tmp_path / "settings.json.tmp").write_text(json.dumps({"level": 6}))
    s = ST.Settings(str(tmp_path))
    assert s.get("level") == 6 and s.status == "repaired"
    assert "settings.json.tmp used" in s.problems[0]


# --- board --------------------------------------------------------------------------------------


@pytest.mark.rule("4.10")
def test_unknown_board_in_settings_boots_on_the_platform_board(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"board": "arduino", "level": 5}))
    s = ST.Settings(str(tmp_path))
    assert s.get("board") is None and s.get("level") == 5
    assert s.problems == ["settings.json: bad board 'arduino', default used"]
    assert boards.load(s.get("board")).NAME == "sim"
    # a caller that reads the file itself (tools/deploy.py's self-test) gets the same answer
    b = boards.load("arduino")
    assert b.NAME == "sim" and boards.problems and "'arduino' is not a board" in boards.problems[0]
    assert boards.load(None).NAME == "sim" and boards.problems == []
    for odd in (7, ["pico"], "x" * 300):
        assert boards.load(odd).NAME == "sim" and short(boards.problems)  # type: ignore[arg-type]


@pytest.mark.rule("4.10")
@pytest.mark.parametrize(
    "platform, own, other", [("rp2", "pico", "esp32"), ("esp32", "esp32", "pico")]
)
def test_another_mcus_board_name_is_ignored_with_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str, own: str, other: str
) -> None:
    monkeypatch.setattr(boards, "_platform", lambda: platform)
    for name in (other, "sim"):
        assert not boards.usable(name)
        assert boards.load(name).NAME == own
        assert boards.problems == [
            "board: %r is another MCU's board, %s used (%s)" % (name, own, platform)
        ]
        (tmp_path / "settings.json").write_text(json.dumps({"board": name}))
        s = ST.Settings(str(tmp_path))
        assert s.get("board") is None and "bad board" in s.problems[0]
        with pytest.raises(ValueError):
            s.set("board", name)
    assert boards.usable(own) and boards.load(own).NAME == own and boards.problems == []
    assert boards.load(None).NAME == own


def test_the_host_can_name_every_board() -> None:
    for name in boards.BOARDS:
        assert boards.usable(name, "linux") and boards.load(name).NAME == name
        assert boards.module(name).NAME == name
    with pytest.raises(ValueError):
        boards.module("arduino")


# --- programs -------------------------------------------------------------------------------


def library(tmp_path: Path, files: dict[str, str | bytes]) -> P.Library:
    custom = tmp_path / "programs"
    custom.mkdir(exist_ok=True)
    for name, text in files.items():
        mode = "wb" if isinstance(text, bytes) else "w"
        with open(custom / name, mode) as f:
            f.write(text)
    return P.Library((PRESETS, str(custom)))


@pytest.mark.rule("4.10")
def test_deeply_nested_program_file_is_left_out_and_the_rest_works(tmp_path: Path) -> None:
    # under the size limit (16 KB) and past CPython's recursion limit
    nest = deep(5000)
    lib = library(tmp_path, {"deep.json": nest, "deeper.json": '{"steps": ' + nest + "}"})
    assert lib.ok and lib.ids() == list(P.PRESETS)
    assert lib.errors == [
        "deep.json: rule json: nested too deep or too big to parse",
        "deeper.json: rule json: nested too deep or too big to parse",
    ]


@pytest.mark.rule("4.10")
def test_huge_program_file_is_refused_unread(tmp_path: Path) -> None:
    big = json.dumps({"format": 1, "id": "big", "name": "x" * (PC.MAX_BYTES + 10)})
    lib = library(tmp_path, {"big.json": big})
    assert lib.ok and lib.errors == ["big.json: rule json: over %d bytes, not read" % PC.MAX_BYTES]
    with pytest.raises(ValueError, match="over 16384 bytes, not parsed"):
        PC.parse(big, "big.json")


@pytest.mark.rule("4.10")
def test_program_messages_never_quote_a_whole_field(tmp_path: Path) -> None:
    prog = json.loads((ROOT / "host_tests/fixtures/programs/strokes_two.json").read_text())
    prog["id"] = "long"
    prog["steps"][0]["area"] = "a" * 5000
    prog["steps"][1]["speed"] = 1
    lib = library(
        tmp_path, {"long.json": json.dumps(prog), "keys.json": '{"%s": 1}' % ("k" * 5000)}
    )
    assert len(lib.errors) == 2 and all(len(e) < 220 for e in lib.errors), lib.errors
    assert "rule area" in lib.errors[1] and "..." in lib.errors[1]
    assert "rule key" in lib.errors[0]


def test_custom_folder_with_too_many_files_reads_the_first(tmp_path: Path) -> None:
    prog = json.loads((ROOT / "host_tests/fixtures/programs/strokes_two.json").read_text())
    for s in prog["steps"]:
        s["strokes"] = 3
    files = {}
    for i in range(P.CUSTOM_MAX + 5):
        prog["id"] = "c%02d" % i
        files["c%02d.json" % i] = json.dumps(prog)
    lib = library(tmp_path, files)
    assert len(lib.ids()) == len(P.PRESETS) + P.CUSTOM_MAX
    assert lib.errors == [
        "%s: %d program files, the first %d read"
        % (tmp_path / "programs", P.CUSTOM_MAX + 5, P.CUSTOM_MAX)
    ]


@pytest.mark.rule("4.10")
def test_a_validator_bug_leaves_the_file_out_instead_of_stopping_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*a: object, **k: object) -> int:
        raise TypeError("bug")

    monkeypatch.setattr(PC, "validate", broken)
    lib = library(tmp_path, {})
    assert not lib.ok and lib.ids() == []
    assert lib.errors[0] == "lift.json: rule json: not checked (TypeError)"


# --- session log ------------------------------------------------------------------------------


def rec(k: int) -> str:
    return json.dumps({"program": "lift", "k": k, "seq": k + 1, "boot": 1}) + "\n"


@pytest.mark.rule("4.10")
def test_deeply_nested_and_huge_log_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    huge = b'{"program": "' + b"x" * 200_000 + b'"}\n'
    with open(tmp_path / "log.jsonl", "wb") as f:
        f.write(rec(0).encode() + deep().encode() + b"\n" + huge + rec(1).encode())
    log = SL.SessionLog(str(tmp_path))
    assert log.corrupt == 2 and log.count == 2
    assert [r["k"] for r in log.records()] == [0, 1]
    assert log.append({"program": "lift", "k": 2})
    again = SL.SessionLog(str(tmp_path))
    assert [r["k"] for r in again.records()] == [0, 1, 2]
    # both kept in log.bad (cut to LINE_MAX: a line that long was never a record)
    bad = (tmp_path / "log.bad").read_bytes().split(b"\n")
    assert len(bad) == 3 and bad[2] == b"" and again.quarantined == 2
    assert all(len(x) == SL.LINE_MAX for x in bad[:2])


def test_huge_line_is_never_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "log.jsonl", "wb") as f:
        f.write(rec(0).encode() + b"[" * 300_000 + b"\n" + rec(1).encode())
    asked: list[int] = []
    real = FIO.read_line

    class Spy:
        def __init__(self, f) -> None:  # noqa: ANN001
            self.f = f

        def readline(self, n: int = -1) -> bytes:
            asked.append(n)
            return self.f.readline(n)

    monkeypatch.setattr(FIO, "read_line", lambda f, n: real(Spy(f), n))
    log = SL.SessionLog(str(tmp_path))
    assert [r["k"] for r in log.records()] == [0, 1]
    assert asked and all(0 < n <= SL.LINE_MAX + 1 for n in asked)


def test_an_over_long_record_is_refused(tmp_path: Path) -> None:
    log = SL.SessionLog(str(tmp_path))
    with pytest.raises(ValueError, match="at most 2048 bytes"):
        log.append({"program": "lift", "faults": ["X" * SL.LINE_MAX]})
    assert log.pending == [] and not (tmp_path / "log.jsonl").exists()


@pytest.mark.rule("4.10")
def test_problems_file_that_is_hostile_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "log.seen").write_text(deep())
    log = SL.SessionLog(str(tmp_path))
    assert log.problems(["settings.json: corrupt"]) == 1
    assert SL.SessionLog(str(tmp_path)).problems(["settings.json: corrupt"]) == 0


# --- the whole app ----------------------------------------------------------------------------


@pytest.mark.rule("4.10")
def test_app_boots_with_every_hostile_file_at_once(tmp_path: Path) -> None:
    import machine

    from firmware import app as appmod
    from firmware.boards import sim as board
    from vhw.install import make_sim_world

    make_sim_world()
    hw = board.build(machine)
    root = tmp_path
    (root / "settings.json").write_text('{"board": "esp32", "level": ' + deep() + "}")
    with open(root / "log.jsonl", "wb") as f:
        f.write(rec(0).encode() + deep().encode() + b"\n" + b"x" * 100_000)
    custom = root / "programs"
    custom.mkdir()
    (custom / "deep.json").write_text(deep())
    app = appmod.App(hw, str(root), (PRESETS, str(custom)))
    assert app.library.ids() == list(P.PRESETS)
    assert app.settings.data == ST.defaults()
    assert app.error  # shown
    logged = [r["error"] for r in app.log.records() if "error" in r]
    assert any("settings.json" in e for e in logged) and any("deep.json" in e for e in logged)
    assert [r["k"] for r in app.log.records() if "k" in r] == [0]  # nothing lost
    assert os.path.exists(root / "log.bad")
