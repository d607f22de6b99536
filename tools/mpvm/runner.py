"""Run a MicroPython script on the real MicroPython VM, with the device tree loaded.

Python face of ``tools/mpvm/run.mjs`` (read its header for the VM's filesystem layout)::

    from tools.mpvm import runner
    rc, out, err = runner.run_script("host_tests/mp_tests/mp_test_heap.py", mpy=True)

``mpy=True`` loads the ``.mpy`` files of ``make mpy`` (``build/mpy/``, or ``mpy_dir``) instead
of the sources.
``out_dir``: files the script writes under ``/out`` in the VM are copied there.
The VM is killed after ``timeout`` seconds (return code 124, the reason on stderr).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RUN_MJS = HERE / "run.mjs"
TIMEOUT_RC = 124


class VMUnavailable(RuntimeError):
    """Node or the pinned MicroPython package is missing (``make node``)."""


def node_path() -> str:
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise VMUnavailable("node not found on PATH (install Node.js >= 18)")
    return node


def available() -> bool:
    """True when node and tools/mpvm/node_modules are there."""
    try:
        node_path()
    except VMUnavailable:
        return False
    return (HERE / "node_modules" / "@micropython").is_dir()


def command(
    path: str | os.PathLike[str],
    *,
    mpy: bool = False,
    mpy_dir: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    timeout: float = 120,
    args: tuple[str, ...] | list[str] = (),
    libs: tuple[str, ...] | list[str] = (),
    root: str | os.PathLike[str] | None = None,
    install: bool = True,
    heap: int | None = None,
    post_mem: bool = False,
    romfs: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The node command line that runs ``path`` on the VM."""
    cmd = [node_path(), str(RUN_MJS), "--timeout", str(timeout)]
    if mpy:
        cmd.append("--mpy")
    if mpy_dir is not None:
        cmd += ["--mpy-dir", str(mpy_dir)]
    if out_dir is not None:
        cmd += ["--out", str(out_dir)]
    if root is not None:
        cmd += ["--root", str(root)]
    if heap is not None:
        cmd += ["--heap", str(heap)]
    if not install:
        cmd.append("--no-install")
    if post_mem:
        cmd.append("--post-mem")
    if romfs is not None:
        cmd += ["--romfs", str(romfs)]
    for lib in libs:
        cmd += ["--lib", str(lib)]
    cmd.append(str(path))
    cmd += [str(a) for a in args]
    return cmd


def run_script(
    path: str | os.PathLike[str], *, timeout: float = 120, **options: Any
) -> tuple[int, str, str]:
    """Run one MicroPython script on a fresh VM; return (returncode, stdout, stderr).

    options: those of command() (mpy, mpy_dir, out_dir, args, libs, root, install, heap,
    post_mem, romfs). returncode: the script's ``sys.exit`` code, 0 when it ended normally, 1
    when it raised, 124 on timeout, 2 on a usage error (e.g. ``mpy=True`` before ``make mpy``).
    """
    if not available():
        raise VMUnavailable("tools/mpvm/node_modules missing: run `make node`")
    cmd = command(path, timeout=timeout, **options)
    try:
        # node kills the VM itself at `timeout`; this is the backstop
        p = subprocess.run(
            cmd, capture_output=True, text=True, errors="replace", timeout=timeout + 15
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        msg = f"\nmpvm: timeout after {timeout} s: node killed\n"
        return TIMEOUT_RC, out or "", (err or "") + msg
    return p.returncode, p.stdout, p.stderr


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.mpvm.runner [run.mjs options] script.py``: passes through to node."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return subprocess.call([node_path(), str(RUN_MJS), *argv])
    except VMUnavailable as e:
        print(f"mpvm: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
