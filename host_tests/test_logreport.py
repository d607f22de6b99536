"""tools/logreport.py: the course report and chart from a device's session log (a file or
pulled with mpremote)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tools import logreport as LR

DAY = 86400
T0 = 1767225600  # 2026-01-01 00:00 UTC


def _rec(i: int, rtc: int | None, **kw: object) -> dict:
    r = {
        "program": "lift",
        "t_ms": 1000,
        "rtc": rtc,
        "on_skin_s": 500,
        "charge_uc": {"left": 120 + i, "right": 118 + i, "centre": 30},
        "max_ua": 310,
        "level": 5,
        "steps": 12,
        "faults": [],
        "completed": True,
        "seq": i + 1,
        "boot": i + 1,
    }
    r.update(kw)
    return r


def _write_log(d: Path, n: int = 6, rtc: bool = True) -> Path:
    lines = [json.dumps(_rec(i, T0 + i * 2 * DAY if rtc else None)) for i in range(n)]
    lines.insert(2, "#corrupt")
    lines.append(json.dumps({"error": "fault DAC", "t_ms": 5, "boot": 9}))
    archive = d / "log.1.jsonl"
    archive.write_text(lines[0] + "\n")
    log = d / "log.jsonl"
    log.write_text("\n".join(lines[1:]) + '\n{"program": "li')  # torn last line
    return log


def _settings(d: Path) -> Path:
    p = d / "settings.json"
    p.write_text(json.dumps({"mode": "home", "level": 5, "client_ceiling_ua": {"disk": 240}}))
    return p


def test_read_log_skips_what_the_device_skips(tmp_path: Path) -> None:
    log = LR.read_log(str(_write_log(tmp_path)))
    assert len(log.sessions) == 6 and len(log.errors) == 1
    assert log.corrupt == 1 and log.torn == 1
    assert [r["seq"] for r in log.sessions] == [1, 2, 3, 4, 5, 6]
    assert log.files[0].endswith("log.1.jsonl")


def test_report_and_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = _write_log(tmp_path)
    _settings(tmp_path)
    png = tmp_path / "out" / "chart.png"
    rc = LR.main([str(log), "--png", str(png), "--now", str(T0 + 11 * DAY)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "6 session(s) in the log" in out
    assert "left 735 uC, right 723 uC, centre 180 uC" in out
    assert "course: intensive, 6 session(s) counted" in out
    assert "next session due: 2026-01-13 00:00 UTC" in out
    assert "client ceiling (find my level): disk 240 uA" in out  # settings.json beside the log
    assert "skipped: 1 torn last line(s), 1 corrupt line(s)" in out
    assert "2026-01-03 00:00" in out and "fault DAC" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_rtc_counts_sessions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = _write_log(tmp_path, n=13, rtc=False)
    assert LR.main([str(log), "--no-png", "--settings", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "course: weekly, 13 session(s) counted" in out
    assert "clock was not set" in out
    assert "client ceiling" not in out  # no settings file given


def test_balance() -> None:
    assert LR.balance_pct({"charge_uc": {"left": 95, "right": 100}}) == 95.0
    assert LR.balance_pct({"charge_uc": {}}) is None


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert LR.main([str(tmp_path / "nope.jsonl"), "--no-png"]) == 2
    assert LR.main(["--no-png"]) == 2
    assert "no such log" in capsys.readouterr().err


def test_pull_from_a_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    board = tmp_path / "board"
    board.mkdir()
    _write_log(board)
    _settings(board)
    calls = []

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        assert cmd[1:5] == ["-m", "mpremote", "connect", "/dev/ttyACM0"] and cmd[5] == "cp"
        src = board / cmd[6].lstrip(":/")
        if not src.exists():
            return subprocess.CompletedProcess(cmd, 1, "", "cp: No such file")
        Path(cmd[7]).write_bytes(src.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(LR.subprocess, "run", fake_run)
    rc = LR.main(["--device", "/dev/ttyACM0", "--no-png", "--now", str(T0)])
    out = capsys.readouterr().out
    assert rc == 0 and len(calls) == 3
    assert "6 session(s) in the log" in out and "disk 240 uA" in out

    (board / "log.jsonl").unlink()
    (board / "log.1.jsonl").unlink()
    assert LR.main(["--device", "/dev/ttyACM0", "--no-png"]) == 2
    assert "no log on the device" in capsys.readouterr().err
