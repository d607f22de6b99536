"""The real MicroPython VM in the test run (WebAssembly port, pinned in tools/mpvm/package.json).

- every script ``host_tests/mp_tests/mp_test_*.py`` runs on the VM twice, on the ``.py`` sources
  and on the ``.mpy`` files that mpy-cross makes (what a board gets), and must end with
  ``N passed, 0 failed``;
- every device module imports on the VM, from sources and from ``.mpy``; ``boot.py`` and
  ``main.py`` are compiled only (running them would start the app);
- the runner itself: exit status, timeout kill, /out copy-back.

The ``.mpy`` tree is built once per session into a temporary folder (not ``build/mpy``, which
``make mpy`` and other runs in the same tree may be rewriting).
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from tools import build_mpy
from tools.mpvm import runner

ROOT = Path(__file__).resolve().parent.parent
MP_TESTS = sorted((ROOT / "host_tests" / "mp_tests").glob("mp_test_*.py"))
MODES = ("py", "mpy")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed", re.M)
VM_TIMEOUT = 120

MODULES = build_mpy.device_modules(ROOT)
ENTRY = [m for m in MODULES if m.as_posix() in build_mpy.ENTRY_FILES]
IMPORTABLE = [m for m in MODULES if m not in ENTRY]


def _need_vm() -> None:
    if not runner.available():
        pytest.fail("MicroPython VM not installed: run `make node` (tools/mpvm/node_modules)")


@pytest.fixture(scope="session")
def mpy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mpy") / "mpy"
    _sizes, errors = build_mpy.build(ROOT, out)
    if errors:
        pytest.fail("mpy-cross failed:\n" + "\n".join(f"{p}: {m}" for p, m in errors))
    return out


def _run(script: Path, mode: str, mpy_dir: Path, **kw: object) -> tuple[int, str, str]:
    _need_vm()
    if mode == "mpy":
        return runner.run_script(script, mpy=True, mpy_dir=mpy_dir, timeout=VM_TIMEOUT, **kw)
    return runner.run_script(script, timeout=VM_TIMEOUT, **kw)


def _record_checks(key: str, n_pass: int, n_fail: int) -> None:
    """For the `make test` summary: MPVM_CHECKS_FILE collects the scripts' own check counts."""
    path = os.environ.get("MPVM_CHECKS_FILE")
    if not path:
        return
    p = Path(path)
    data = json.loads(p.read_text()) if p.is_file() else {}
    data[key] = [n_pass, n_fail]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=1))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("script", MP_TESTS, ids=[p.stem for p in MP_TESTS])
def test_mp_script(script: Path, mode: str, mpy_dir: Path) -> None:
    rc, out, err = _run(script, mode, mpy_dir)
    report = f"--- stdout ---\n{out}\n--- stderr ---\n{err}"
    found = SUMMARY.findall(out)
    assert found, f"{script.name} ({mode}) printed no 'N passed, N failed' line\n{report}"
    n_pass, n_fail = (int(x) for x in found[-1])
    _record_checks(f"{script.stem}[{mode}]", n_pass, n_fail)
    assert rc == 0 and n_fail == 0, f"{script.name} ({mode}): exit {rc}, {n_fail} failed\n{report}"
    assert n_pass > 0, f"{script.name} ({mode}) checked nothing\n{report}"


# ---- every device module imports on MicroPython ----

IMPORT_SCRIPT = """
import sys
import io

MODULES = {modules!r}
ENTRY = {entry!r}
for name in MODULES:
    try:
        __import__(name)
        m = sys.modules[name]
        print("IMPORT OK", name, getattr(m, "__file__", "?"))
    except BaseException as e:
        buf = io.StringIO()
        sys.print_exception(e, buf)
        print("IMPORT FAIL", name)
        for line in buf.getvalue().splitlines():
            print("  |", line)
for path in ENTRY:
    try:
        with open(path) as f:
            compile(f.read(), path, "exec")
        print("COMPILE OK", path)
    except BaseException as e:
        buf = io.StringIO()
        sys.print_exception(e, buf)
        print("COMPILE FAIL", path)
        for line in buf.getvalue().splitlines():
            print("  |", line)
print("IMPORT DONE")
"""

_import_results: dict[str, dict[str, tuple[bool, str]]] = {}


def _import_run(mode: str, mpy_dir: Path, tmp_dir: Path) -> dict[str, tuple[bool, str]]:
    if mode in _import_results:
        return _import_results[mode]
    names = [build_mpy.module_name(m) for m in IMPORTABLE]
    # in .mpy mode boot.py/main.py were already compiled by mpy-cross (the mpy_dir fixture)
    entry = [m.as_posix() for m in ENTRY] if mode == "py" else []
    script = tmp_dir / f"import_all_{mode}.py"
    script.write_text(IMPORT_SCRIPT.format(modules=names, entry=entry))
    rc, out, err = _run(script, mode, mpy_dir)
    results: dict[str, tuple[bool, str]] = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"^(IMPORT|COMPILE) (OK|FAIL) (\S+)(?: (\S+))?", line)
        if m:
            current = m.group(3)
            results[current] = (m.group(2) == "OK", m.group(4) or "")
        elif line.startswith("  |") and current is not None:
            ok, detail = results[current]
            results[current] = (ok, detail + "\n" + line[3:])
    if "IMPORT DONE" not in out:
        results["<run>"] = (False, f"exit {rc}\n{out}\n{err}")
    _import_results[mode] = results
    return results


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("module", MODULES, ids=[m.as_posix() for m in MODULES])
def test_device_module_imports(
    module: Path, mode: str, mpy_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    results = _import_run(mode, mpy_dir, tmp_path_factory.mktemp("imp"))
    assert "<run>" not in results, results.get("<run>")
    if module in ENTRY:
        if mode == "mpy":
            assert (mpy_dir / module.with_suffix(".mpy")).is_file()
            return
        key = module.as_posix()
    else:
        key = build_mpy.module_name(module)
    assert key in results, f"{key}: no result from the VM"
    ok, detail = results[key]
    assert ok, f"{key} does not import on MicroPython ({mode}):{detail}"
    if mode == "mpy" and module not in ENTRY:
        assert detail.endswith(".mpy"), f"{key} was loaded from {detail}, not from .mpy"


# ---- the runner itself ----


def _script(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "script.py"
    p.write_text(textwrap.dedent(body))
    return p


def test_runner_exit_code(tmp_path: Path) -> None:
    _need_vm()
    rc, out, _ = runner.run_script(_script(tmp_path, "import sys\nprint('hi')\nsys.exit(3)\n"))
    assert (rc, out) == (3, "hi\n")


def test_runner_exception_is_failure(tmp_path: Path) -> None:
    _need_vm()
    rc, _, err = runner.run_script(_script(tmp_path, "raise ValueError('boom')\n"))
    assert rc == 1
    assert "ValueError: boom" in err


def test_runner_kills_on_timeout(tmp_path: Path) -> None:
    _need_vm()
    rc, _, err = runner.run_script(_script(tmp_path, "while True:\n    pass\n"), timeout=1)
    assert rc == runner.TIMEOUT_RC
    assert "timeout" in err


def test_runner_escaped_memoryerror_does_not_hang(tmp_path: Path) -> None:
    _need_vm()
    body = "import micropython\nmicropython.heap_lock()\nx = [1, 2]\n"
    rc, _, err = runner.run_script(_script(tmp_path, body), timeout=10)
    assert rc != 0
    assert "MemoryError" in err or "timeout" in err


def test_runner_copies_out_dir(tmp_path: Path) -> None:
    _need_vm()
    body = """
    import os, sys
    os.mkdir('/out/sub')
    with open('/out/sub/t.csv', 'w') as f:
        f.write('a,b\\n' + ','.join(sys.argv[1:]) + '\\n')
    """
    out_dir = tmp_path / "out"
    rc, _, err = runner.run_script(_script(tmp_path, body), out_dir=out_dir, args=("1", "2"))
    assert rc == 0, err
    assert (out_dir / "sub" / "t.csv").read_text() == "a,b\n1,2\n"


def test_runner_is_micropython_with_device_tree(tmp_path: Path) -> None:
    _need_vm()
    body = """
    import sys, os
    print(sys.implementation.name, sys.platform, os.getcwd())
    print(sorted(os.listdir('/app')))
    """
    rc, out, err = runner.run_script(_script(tmp_path, body))
    assert rc == 0, err
    first, listing = out.splitlines()[:2]
    assert first == "micropython webassembly /app"
    for d in ("drivers", "vhw"):
        assert repr(d) in listing


def test_app_boots_from_a_romfs_image(tmp_path: Path, mpy_dir: Path) -> None:
    # The firmware run in place from a ROMFS image, as frozen or on a board's ROMFS partition.
    import subprocess
    import sys

    _need_vm()
    img = tmp_path / "app.romfs"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mpremote",
            "romfs",
            "--no-mpy",
            "-o",
            str(img),
            "build",
            str(mpy_dir),
        ],
        check=True,
        capture_output=True,
    )
    script = ROOT / "tools" / "sim" / "mp_ram.py"
    rc, out, err = runner.run_script(script, romfs=img, post_mem=True, args=("app",))
    assert rc == 0, err
    assert "MPVM_MEM_ALLOC" in out
