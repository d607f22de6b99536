"""``make typecheck``: mypy over the device code against each port's MicroPython stubs.

Each port's stub package is pip-installed into its own folder (they collide: both ship
``machine.pyi``)::

    build/stubs/rp2    micropython-rp2-rpi-pico-stubs==1.29.0.post1
    build/stubs/esp32  micropython-esp32-stubs==1.29.0.post1

and used as mypy's typeshed (``--custom-typeshed-dir``: the stubs carry MicroPython's own
``builtins``, ``time``, ``array``...) and search path. Checked per port: every driver, the
board plumbing (``firmware/boards/__init__.py``, ``hw.py``) and that port's board file
(``pico.py`` for rp2, ``esp32.py`` for esp32).

Board code takes the ``machine`` module as a parameter (``build(machine)``, so the sim board and
the tests can pass the fake); an untyped parameter would hide every ``machine`` call from mypy.
So the check runs on a shadow copy (``build/typecheck/<port>/``) in which each function
parameter named ``machine`` is renamed and a module-level ``import machine`` is appended at the
end of the file: the calls are then checked against the port's real ``machine`` stub. Line
numbers and paths in the report are those of the repository files.

    python -m tools.typecheck [--port rp2|esp32]... [--no-install | --install-only]
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUILD = ROOT / "build"
DEVICE_DIRS = ("drivers", "firmware", "safety", "waveforms")
HOST_ONLY = {"firmware/manifest.py"}

STUBS = {
    "rp2": "micropython-rp2-rpi-pico-stubs==1.29.0.post1",
    "esp32": "micropython-esp32-stubs==1.29.0.post1",
}
BOARD_FILE = {"rp2": "firmware/boards/pico.py", "esp32": "firmware/boards/esp32.py"}
SHARED = ("firmware/boards/__init__.py", "firmware/boards/hw.py")
SHIM = "\nimport machine  # typecheck shim (tools/typecheck/run.py)\n"


def stubs_dir(port: str) -> Path:
    return BUILD / "stubs" / port


def install_stubs(port: str) -> None:
    """pip-install the port's stubs into build/stubs/<port> unless the pinned set is there."""
    target = stubs_dir(port)
    stamp = target / ".installed"
    if stamp.is_file() and stamp.read_text().strip() == STUBS[port]:
        return
    if target.exists():
        shutil.rmtree(target)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    cmd += ["--no-compile", "--target", str(target), STUBS[port]]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"typecheck: pip could not install {STUBS[port]} into {target}")
    stamp.write_text(STUBS[port] + "\n")


# drivers written for one port's own peripherals (rp2.StateMachine, esp32.RMT): checked
# against that port's stubs only
PORT_ONLY = {"drivers/pulsepio.py": "rp2", "drivers/pulsermt.py": "esp32"}


def checked_files(port: str) -> list[str]:
    files = []
    for d in ("drivers", "waveforms"):
        files += sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / d).glob("*.py"))
    files = [f for f in files if PORT_ONLY.get(f, port) == port]
    files += [f for f in SHARED if (ROOT / f).is_file()]
    if (ROOT / BOARD_FILE[port]).is_file():
        files.append(BOARD_FILE[port])
    return files


def shim_source(src: str) -> str:
    """Rename every function parameter called `machine`; bind the real module at the end.

    Lines keep their numbers (the import goes after the last line).
    """
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return src  # mypy reports it
    hits: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            for arg in a.posonlyargs + a.args + a.kwonlyargs:
                if arg.arg == "machine":
                    hits.append((arg.lineno, arg.col_offset))
    if not hits:
        return src
    lines = src.splitlines(keepends=True)
    for lineno, col in sorted(hits, reverse=True):
        line = lines[lineno - 1]
        # col_offset is in UTF-8 bytes
        b = line.encode()
        if b[col : col + 7] == b"machine":
            lines[lineno - 1] = (b[:col] + b"_machine_param" + b[col + 7 :]).decode()
    return "".join(lines).rstrip("\n") + "\n" + SHIM


def make_shadow(port: str) -> Path:
    shadow = BUILD / "typecheck" / port
    if shadow.exists():
        shutil.rmtree(shadow)
    for d in DEVICE_DIRS:
        for p in sorted((ROOT / d).rglob("*.py")) if (ROOT / d).is_dir() else []:
            rel = p.relative_to(ROOT)
            if rel.as_posix() in HOST_ONLY or "__pycache__" in rel.parts:
                continue
            dest = shadow / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(shim_source(p.read_text()))
    return shadow


def stub_modules(port: str) -> list[str]:
    """Top-level modules and packages of the stub folder (their own errors are ignored)."""
    names = set()
    for p in stubs_dir(port).iterdir():
        if p.name.endswith(".dist-info") or p.name in ("stdlib", "stubs") or p.name[0] == ".":
            continue
        if p.suffix == ".pyi":
            names.add(p.stem)
        elif p.is_dir() and p.name.isidentifier():
            names.add(p.name)
    return sorted(names)


def write_config(port: str, shadow: Path) -> Path:
    cfg = (HERE / "mypy.ini").read_text()
    mods = stub_modules(port)
    cfg += "\n# generated: the stubs' own errors\n[mypy-" + ",".join(
        m for n in mods for m in (n, n + ".*")
    )
    cfg += "]\nignore_errors = True\n"
    path = shadow / "mypy.ini"
    path.write_text(cfg)
    return path


def check_port(port: str) -> tuple[bool, str]:
    stubs = stubs_dir(port).resolve()
    shadow = make_shadow(port)
    cfg = write_config(port, shadow)
    files = checked_files(port)
    env = dict(os.environ, MYPYPATH=str(stubs))
    cmd = [
        sys.executable, "-m", "mypy",
        "--config-file", str(cfg),
        "--custom-typeshed-dir", str(stubs),
        "--cache-dir", str(BUILD / "typecheck" / f".mypy_cache_{port}"),
        *files,
    ]  # fmt: skip
    p = subprocess.run(cmd, cwd=shadow, env=env, capture_output=True, text=True)
    out = (p.stdout + p.stderr).strip()
    return p.returncode == 0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tools.typecheck",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--port", action="append", choices=sorted(STUBS))
    ap.add_argument("--no-install", action="store_true", help="do not pip-install missing stubs")
    ap.add_argument("--install-only", action="store_true", help="install the stubs, check nothing")
    a = ap.parse_args(argv)
    ports = a.port or sorted(STUBS, reverse=True)  # rp2 first
    if a.install_only:
        for port in ports:
            install_stubs(port)
        return 0
    ok_all = True
    for port in ports:
        if not a.no_install:
            install_stubs(port)
        elif not (stubs_dir(port) / ".installed").is_file():
            print(f"typecheck: {stubs_dir(port)} missing (run without --no-install)")
            return 2
        ok, out = check_port(port)
        ok_all &= ok
        files = checked_files(port)
        print(f"typecheck {port} ({STUBS[port]}): {'ok' if ok else 'FAILED'}, {len(files)} files")
        if out and not ok:
            print("\n".join("  " + line for line in out.splitlines()))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
