"""The build, deploy and check tooling: make mpy, deploy without a board, the freeze manifest,
package.json, the typecheck shim, the Makefile's targets, the hypothesis profiles."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import build_mpy, deploy
from tools.typecheck import run as typecheck

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIRS = ("drivers", "firmware", "safety", "waveforms")


# ---- make mpy ----


def test_device_modules_cover_the_tree() -> None:
    mods = {m.as_posix() for m in build_mpy.device_modules(ROOT)}
    assert {"boot.py", "main.py"} <= mods
    assert "firmware/manifest.py" not in mods
    for d in DEVICE_DIRS:
        for p in (ROOT / d).rglob("*.py"):
            rel = p.relative_to(ROOT).as_posix()
            if rel != "firmware/manifest.py" and "__pycache__" not in rel:
                assert rel in mods


def test_build_mpy_compiles_everything(tmp_path: Path) -> None:
    out = tmp_path / "mpy"
    sizes, errors = build_mpy.build(ROOT, out)
    assert errors == []
    mods = build_mpy.device_modules(ROOT)
    assert len(sizes) == len(mods) + 1
    assert sizes["total"] == sum(v for k, v in sizes.items() if k != "total")
    for rel in mods:
        mpy = out / rel.with_suffix(".mpy")
        data = mpy.read_bytes()
        assert data[:2] == b"M\x06", f"{mpy}: not an mpy v6 file"
        assert sizes[build_mpy.module_name(rel)] == len(data)
    for rel in build_mpy.data_files(ROOT):
        assert (out / rel).read_bytes() == (ROOT / rel).read_bytes()


def test_build_mpy_fails_on_a_compile_error(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "drivers").mkdir(parents=True)
    (root / "drivers" / "good.py").write_text("X = 1\n")
    (root / "drivers" / "bad.py").write_text("def f(:\n    pass\n")
    sizes, errors = build_mpy.build(root, root / "build" / "mpy")
    assert [p for p, _ in errors] == ["drivers/bad.py"]
    assert "SyntaxError" in errors[0][1]
    assert "drivers.good" in sizes


def test_make_mpy_cli_writes_sizes(tmp_path: Path) -> None:
    out = tmp_path / "b" / "mpy"
    p = subprocess.run(
        [sys.executable, "-m", "tools.build_mpy", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    sizes = json.loads((tmp_path / "b" / "mpy_sizes.json").read_text())
    assert re.search(rf"^total\s+{sizes['total']}\b", p.stdout, re.M)


# ---- deploy / repl / selftest without a board ----


@pytest.mark.parametrize(
    "args",
    [
        ["deploy", "--board", "pico", "--port", "/dev/ttyNO_SUCH_PORT"],
        ["deploy", "--board", "esp32", "--port", "/dev/ttyNO_SUCH_PORT"],
        ["repl", "--port", "/dev/ttyNO_SUCH_PORT"],
        ["selftest", "--port", "/dev/ttyNO_SUCH_PORT"],
    ],
    ids=lambda a: a[0] + ("-" + a[2] if a[0] == "deploy" else ""),
)
def test_no_device_is_one_clear_line(args: list[str]) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "tools.deploy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == deploy.NO_DEVICE_RC
    assert "Traceback" not in p.stderr + p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "/dev/ttyNO_SUCH_PORT" in lines[0]
    assert "make ports" in lines[0] and "mpremote connect list" in lines[0]


def test_make_deploy_without_board_exits_2() -> None:
    p = subprocess.run(
        ["make", "--no-print-directory", "-s", "deploy", "BOARD=pico", "PORT=/dev/ttyNOPE"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 0
    assert "no device at /dev/ttyNOPE" in p.stderr
    assert "Traceback" not in p.stderr


# ---- package.json and the freeze manifest ----


def test_package_json_is_mip_format() -> None:
    data = json.loads((ROOT / "package.json").read_text())
    assert isinstance(data["version"], str)
    assert all(isinstance(d, list) and 1 <= len(d) <= 2 for d in data["deps"])
    assert ["ssd1306", "latest"] in data["deps"]
    assert deploy.deps() == ["ssd1306"]


def test_manifest_freezes_the_device_packages() -> None:
    calls: list[tuple[str, tuple, dict]] = []

    def rec(name):
        return lambda *a, **kw: calls.append((name, a, kw))

    g = {n: rec(n) for n in ("include", "require", "package", "module", "metadata")}
    cwd = os.getcwd()
    os.chdir(ROOT / "firmware")  # makemanifest.py runs a manifest from its own folder
    try:
        exec((ROOT / "firmware" / "manifest.py").read_text(), g)
    finally:
        os.chdir(cwd)
    # the port's manifest: RPI_PICO and ESP32_GENERIC have no $(BOARD_DIR)/manifest.py
    assert calls[0] == ("include", ("$(PORT_DIR)/boards/manifest.py",), {})
    required = {c[1][0] for c in calls if c[0] == "require"}
    deps = {d[0] for d in json.loads((ROOT / "package.json").read_text())["deps"]}
    assert required == deps
    frozen = set()
    for name, a, kw in calls:
        if name == "package":
            assert kw["base_path"] == ".." and kw["opt"] == 3
            frozen |= {f"{a[0]}/{f}" for f in kw["files"]}
    expected = {
        m.as_posix()
        for m in build_mpy.device_modules(ROOT)
        if m.as_posix() not in build_mpy.ENTRY_FILES
    }
    assert frozen == expected


# ---- typecheck ----


def test_typecheck_shim_keeps_line_numbers() -> None:
    src = "X = 1\n\n\ndef build(machine, n=2):\n    return machine.Pin(n)\n"
    out = typecheck.shim_source(src)
    a, b = src.splitlines(), out.splitlines()
    assert b[3] == "def build(_machine_param, n=2):"
    assert a[4] == b[4] and a[:3] == b[:3]
    assert b[-1].startswith("import machine")
    assert typecheck.shim_source("import time\n") == "import time\n"


@pytest.mark.skipif(
    not (typecheck.stubs_dir("rp2") / ".installed").is_file(),
    reason="rp2 stubs not installed yet (make typecheck installs them)",
)
def test_typecheck_catches_machine_misuse(tmp_path: Path) -> None:
    # the RP2040 has no DAC: a board file that uses machine.DAC must fail against rp2 stubs
    src = "def build(machine):\n    return machine.DAC(machine.Pin(25))\n"
    (tmp_path / "board.py").write_text(typecheck.shim_source(src))
    (tmp_path / "mypy.ini").write_text((ROOT / "tools" / "typecheck" / "mypy.ini").read_text())
    stubs = typecheck.stubs_dir("rp2").resolve()
    p = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--config-file", "mypy.ini",
            "--custom-typeshed-dir", str(stubs), "--no-incremental", "board.py",
        ],
        cwd=tmp_path,
        env=dict(os.environ, MYPYPATH=str(stubs)),
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert 'board.py:2: error: Module has no attribute "DAC"' in p.stdout


# ---- Makefile and CI ----

TARGETS = (
    "venv node test mpy typecheck lint fmt sim bench soak deploy repl selftest logreport clean"
).split()


def test_makefile_has_the_targets() -> None:
    text = (ROOT / "Makefile").read_text()
    defined = set(re.findall(r"^([a-z][a-z0-9_-]*):", text, re.M))
    assert set(TARGETS) <= defined
    # the targets a newcomer types set up the venv and node_modules themselves
    for t in ("test", "sim", "pytest", "soak"):
        deps = re.search(rf"^{t}:(.*)$", text, re.M)
        assert deps and "venv" in deps.group(1) and "node" in deps.group(1), t


def test_ci_script_runs_make_test() -> None:
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    text = ci.read_text()
    assert "set -euo pipefail" in text and "make test" in text


def test_hypothesis_profiles() -> None:
    from hypothesis import settings

    from host_tests import hypothesis_profiles  # noqa: F401

    assert settings.get_profile("ci").max_examples == 200
    assert settings.get_profile("soak").max_examples == 5000
    assert settings.get_profile("ci").deadline is None
