"""Deterministic boundary tests for rules a single-line mutation of the code used to get past
the whole suite (issue 11, "Tests that let bugs through"):

- every board x every DAC kind: the driver's clamp is exactly the board's ceiling code (the
  pico's PWM DAC allowed full scale and nothing noticed);
- a power cut at any point of a settings save leaves the old or the new file whole (a save in
  place, without the temp file and rename, went unnoticed);
- the 30 min program limit at 30 min - 1 ms and 30 min from the start, across the tick wrap
  (the limit removed went unnoticed); the validator's 30 min total at its boundary.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import machine
import pytest

from drivers import clock
from drivers.dac import ceiling_code
from firmware import boards
from firmware import programcheck as P
from firmware import settings as S
from safety import limits

ROOT = Path(__file__).resolve().parent.parent

# --- every board x every DAC kind -------------------------------------------------------------

FULL_SCALE = {"mcp4725": 4095, "pwm": 65535, "builtin": 255}
DRIVER = {"mcp4725": "MCP4725", "pwm": "PWMDAC", "builtin": "ESP32DAC"}
CASES = [(b, k) for b in boards.BOARDS for k in boards.DAC_KINDS[b]]


def test_every_dac_kind_of_every_board_is_listed() -> None:
    """A kind a board file can build but DAC_KINDS does not list would escape the test below."""
    assert sorted(boards.DAC_KINDS) == sorted(boards.BOARDS)
    for name in boards.BOARDS:
        src = (ROOT / "firmware" / "boards" / f"{name}.py").read_text()
        found = set(re.findall(r'DAC_KIND\s*==?\s*"(\w+)"', src))
        default = getattr(boards.module(name), "DAC_KIND", boards.DAC_KINDS[name][0])
        assert default == boards.DAC_KINDS[name][0], name
        assert found <= set(boards.DAC_KINDS[name]), (name, found)


@pytest.mark.rule("4.1", "4.3")
@pytest.mark.parametrize("name, kind", CASES, ids=["%s-%s" % c for c in CASES])
def test_dac_clamp_is_the_boards_ceiling_code(
    name: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = boards.module(name)
    if len(boards.DAC_KINDS[name]) > 1:
        monkeypatch.setattr(board, "DAC_KIND", kind)
    machine.world.reset()
    from vhw.stage import MCP4725Model

    chip = MCP4725Model(board.I2C_ID, board.MCP4725_ADDR, machine.world)
    hw = board.build(machine)
    dac = hw.stage.dac
    fs = FULL_SCALE[kind]
    assert type(dac).__name__ == DRIVER[kind] and dac.full_scale == fs
    code = ceiling_code(fs, board.UA_FS, board.CEILING_UA)
    assert dac.max_code == code
    # the highest code whose current stays within the ceiling: one more would exceed it
    assert code * board.UA_FS // fs <= board.CEILING_UA == limits.CEILING_UA
    assert (code + 1) * board.UA_FS > board.CEILING_UA * fs
    pins = board.PINS

    def on_the_wire() -> int:  # what the DAC hardware was given
        if kind == "mcp4725":
            return chip.code
        if kind == "pwm":
            return machine.world.pwms[pins["DAC_PWM"]].duty_u16()
        return machine.world.dacs[pins["DAC"]].value

    for ask in (code, code + 1, fs, 10**6):
        assert dac.set_code(ask) == code and dac.code == code and on_the_wire() == code
    assert dac.set_code(-5) == 0 and on_the_wire() == 0


# --- a power cut during a settings save -----------------------------------------------------


class PowerCut(BaseException):
    """Not an Exception: storage never catches it, like a real power loss."""


class CutFS:
    """The os and open storage sees: the n-th filesystem mutation (a write, rename or remove)
    is cut. A cut write leaves the first cut_at characters; a cut rename/remove does not
    happen. no_replace: a port whose rename refuses an existing target."""

    def __init__(self, n: int, cut_at: int, no_replace: bool) -> None:
        self.left = n
        self.cut_at = cut_at
        self.no_replace = no_replace
        self.ops: list[str] = []

    def _tick(self, what: str) -> bool:
        self.ops.append(what)
        self.left -= 1
        return self.left == 0

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(os, name)

    def rename(self, a: str, b: str) -> None:
        if self.no_replace and os.path.exists(b):
            raise OSError(errno.EEXIST, "exists")
        if self._tick("rename"):
            raise PowerCut()
        os.rename(a, b)

    def remove(self, p: str) -> None:
        if self._tick("remove"):
            raise PowerCut()
        os.remove(p)

    def open(self, path, mode="r", *a, **k):  # noqa: ANN001, ANN201
        f = open(path, mode, *a, **k)
        return _CutFile(f, self) if ("w" in mode or "a" in mode) else f


class _CutFile:
    def __init__(self, f, fs: CutFS) -> None:  # noqa: ANN001
        self.f = f
        self.fs = fs

    def write(self, s: str) -> int:
        if self.fs._tick("write"):
            self.f.write(s[: min(self.fs.cut_at, len(s) - 1)])
            self.f.close()
            raise PowerCut()
        return self.f.write(s)

    def flush(self) -> None:
        self.f.flush()

    def close(self) -> None:
        self.f.close()

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *a: object) -> None:
        self.f.close()


OLD = {"level": 3, "mode": "home", "probe": "globe"}
NEW = {"level": 8, "mode": "pro", "probe": "qtip"}


def _save_with(root: str, fs: CutFS, monkeypatch: pytest.MonkeyPatch) -> bool:
    s = S.Settings(root)
    for k, v in NEW.items():
        s.set(k, v)
    monkeypatch.setattr(S, "os", fs)
    monkeypatch.setattr(S, "open", fs.open, raising=False)  # storage's open: the builtin
    try:
        s.save()
        return True
    except PowerCut:
        return False
    finally:
        monkeypatch.undo()


def _values(root: str) -> dict:
    s = S.Settings(root)
    assert s.status in ("ok", "missing"), (s.status, s.problems)
    assert s.problems == []
    return {k: s.get(k) for k in OLD}


@pytest.mark.rule("4.10")
@pytest.mark.parametrize("no_replace", [False, True], ids=["atomic-rename", "no-replace"])
@pytest.mark.parametrize("cut_at", [0, 1, 20, 10**6])
def test_power_cut_at_any_point_of_a_settings_save_leaves_old_or_new_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_replace: bool, cut_at: int
) -> None:
    # how many mutations an uncut save makes (and that the fake reaches storage at all)
    probe = tmp_path / "probe"
    probe.mkdir()
    first = S.Settings(str(probe))
    for k, v in OLD.items():
        first.set(k, v)
    assert first.save()
    full = CutFS(10**9, cut_at, no_replace)
    assert _save_with(str(probe), full, monkeypatch)
    assert "write" in full.ops and "rename" in full.ops, full.ops
    assert _values(str(probe)) == NEW
    outcomes = set()
    for n in range(1, len(full.ops) + 2):
        root = tmp_path / f"cut{n}"
        root.mkdir()
        s = S.Settings(str(root))
        for k, v in OLD.items():
            s.set(k, v)
        assert s.save()
        done = _save_with(str(root), CutFS(n, cut_at, no_replace), monkeypatch)
        got = _values(str(root))
        assert got in (OLD, NEW), (n, full.ops, got, sorted(os.listdir(root)))
        if done:
            assert got == NEW
        outcomes.add("new" if got == NEW else "old")
        # and the next save works from whatever the cut left
        s = S.Settings(str(root))
        s.set("level", 5)
        assert s.save() and S.Settings(str(root)).get("level") == 5
    assert outcomes == {"old", "new"}


# --- the 30 min program limit -----------------------------------------------------------------

WRAP = 1 << 30  # ticks_ms period on MicroPython (and on the virtual clock)
MAX = limits.PROGRAM_MAX_MS
STARTS = [0, 12345, WRAP - 1, WRAP - 1000, WRAP - MAX, WRAP - MAX + 1, WRAP - MAX // 2]


@pytest.mark.rule("4.9")
@pytest.mark.parametrize("start", STARTS)
def test_program_over_at_30_min_from_its_start_across_the_tick_wrap(start: int) -> None:
    assert MAX == 30 * 60 * 1000
    at = clock.ticks_add
    assert not limits.program_over(start, start)
    assert not limits.program_over(start, at(start, MAX - 1))
    assert limits.program_over(start, at(start, MAX))
    assert limits.program_over(start, at(start, MAX + 1))
    # a step never outlasts it, whatever its own duration
    assert not limits.step_over(start, at(start, MAX - 1), 10**8)
    assert limits.step_over(start, at(start, MAX), 10**8)
    # a clock read before the start (a stale tick) is not "over"
    assert not limits.program_over(start, at(start, -5))


@pytest.mark.rule("4.9")
def test_validator_total_is_30_min_at_most() -> None:
    base = json.loads((ROOT / "host_tests/fixtures/programs/strokes_two.json").read_text())
    base["id"] = "t"
    for s in base["steps"]:
        s.update(strokes=14, stroke_s=60)  # 2 x 840 s
    centre = dict(base["steps"][0], area="forehead", side="centre", strokes=3, stroke_s=40)
    base["steps"].append(centre)  # + 120 s = 1800 s
    assert P.validate(base, "t.json") == MAX
    centre["stroke_s"] = 40.001  # + 3 ms
    with pytest.raises(ValueError, match="rule total: 1800 s in total, outside 60..1800 s"):
        P.validate(base, "t.json")
