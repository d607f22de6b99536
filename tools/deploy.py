"""Put the firmware on a board with mpremote: ``make deploy``, ``make repl``, ``make selftest``.

    python -m tools.deploy deploy --board pico|esp32 [--port PORT] [--no-build] [--frozen]
    python -m tools.deploy repl [--port PORT]
    python -m tools.deploy selftest [--port PORT] [--board NAME]
    python -m tools.deploy ports

``deploy``: builds ``build/mpy-BOARD`` (``tools/build_mpy.py``, with the board's native-code arch)
and stages what the board gets in ``build/device`` (``stage()``): the compiled code packages
``drivers/ firmware/ safety/ waveforms/`` (``.mpy`` only), ``boot.py`` and ``main.py`` as source (a
board runs those two only as source) and the shipped presets in ``data/presets/`` (outside every
code package). On the board it removes the old code packages (data such as the settings and the
session log live at the top level and stay), copies the staged tree, sets ``"board"`` in
``settings.json`` (other settings are kept), runs ``mip install`` for every dependency in
``package.json`` (mpremote fetches them on the host, so a board without network works), then resets
the board so that boot.py and main.py run (``--reset hard``, the default: a soft reset from
mpremote's raw REPL does not run main.py; ``--reset soft`` or ``none`` if wanted).

``deploy --frozen``: for a firmware image built with ``firmware/manifest.py`` (the code and the
SSD1306 driver frozen in flash): no code and no mip packages on the filesystem, only the entry
files, ``data/presets/`` and the settings; any code package folder left on the filesystem is
removed (it would shadow the frozen one: '' comes before '.frozen' on sys.path).

PORT: a serial device (``/dev/ttyACM0``, ``COM3``), an mpremote shortcut (``a0``, ``u0``) or
``auto`` (default: the first USB serial port). Without a board there, one line says which port
was tried and how to list ports, and the exit status is 2.

The watchdog: the firmware arms it only when the device leaves soft-off, so a device that is off
since its last reset answers mpremote normally. After a session (the WDT cannot be stopped on
the RP2040) mpremote's Ctrl-C stops the loop that feeds it and the board resets half a second
later; the probe sees an armed WDT, waits for that reset and for the board to come back, then
goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIRS = ("drivers", "firmware", "safety", "waveforms")
ENTRY_FILES = ("boot.py", "main.py")
# data on the board, outside every code package (firmware/programs.py PRESETS_DIR)
PRESETS_SRC = Path("firmware") / "presets"
PRESETS_DEVICE = "data/presets"
STAGE_DIR = ROOT / "build" / "device"
BOOT_WAIT = 20  # s: a board that reset (its watchdog) is back on USB within this
BOARDS = ("pico", "esp32")
PLATFORM_BOARD = {"rp2": "pico", "esp32": "esp32"}
SETTINGS = "settings.json"
NO_DEVICE_RC = 2
PROBE_TIMEOUT = 20
LIST_HINT = "list ports with `make ports` (mpremote connect list)"

# Device-side snippets (run with `mpremote exec`); plain MicroPython.
# Connecting interrupts the running app (KeyboardInterrupt); whatever it left on the output
# pins, re-running boot.py drives OUT_EN and the H-bridge low before anything else happens.
PROBE_SNIPPET = """
import sys
try:
    exec(open('boot.py').read(), {})
except Exception as e:
    print('boot.py:', repr(e))
print('PLATFORM', sys.platform)
try:
    import machine
    from firmware import boards
    _c = getattr(boards.load(), 'WDT_CTRL', None)
    print('WDT', (machine.mem32[_c] >> 30) & 1 if _c else 0)
except Exception as e:
    print('WDT 0', repr(e))
"""

CLEAN_SNIPPET = """
import os
def _rm(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for n in os.listdir(p):
            _rm(p + '/' + n)
        os.rmdir(p)
    else:
        os.remove(p)
for _d in %r:
    _rm(_d)
"""

SETTINGS_SNIPPET = """
import json
try:
    with open(%(path)r) as f:
        s = json.load(f)
    if not isinstance(s, dict):
        s = {}
except (OSError, ValueError):
    s = {}
s['board'] = %(board)r
with open(%(path)r, 'w') as f:
    json.dump(s, f)
print('settings:', s)
"""

# The power-on self-test as the device runs it (safety/selftest.py), with the board and the
# settings the app would use (firmware.storage.Settings) and the programs it would load; the
# output stage off before and after. Nothing arms the watchdog here.
SELFTEST_SNIPPET = """
import machine
from firmware import boards, programs
from firmware.settings import Settings
from safety import selftest
settings = Settings('/')
for p in settings.problems:
    print('settings:', p)
board = boards.load(%(board)r or settings.get('board'))
for p in boards.problems:
    print(p)
hw = board.build(machine)
hw.stage.shutdown()
lib = programs.Library(programs.default_dirs('/'), areas=hw.probe_area_mm2)
for e in lib.errors:
    print('programs:', e)
print('selftest: board %%s, %%d programs' %% (board.NAME, len(lib.ids())))
ok, lines, code = selftest.run(hw, lib.ok)
hw.stage.shutdown()
for line in lines:
    print(line)
print('SELFTEST', 'PASS' if ok else 'FAIL', code or '')
"""


class NoDevice(Exception):
    pass


def mpremote_cmd(port: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "mpremote", "connect", port, *args]


def usb_ports() -> list[str]:
    try:
        from serial.tools import list_ports
    except ImportError:  # pyserial comes with mpremote; be clear if it is missing
        return []
    return [p.device for p in sorted(list_ports.comports()) if p.vid is not None]


def resolve_port(port: str | None) -> str:
    if port in (None, "", "auto"):
        ports = usb_ports()
        if not ports:
            raise NoDevice("no USB serial port found (tried auto-detect)")
        return ports[0]
    if (port.startswith("/") or port.startswith(".")) and not os.path.exists(port):
        raise NoDevice(f"no device at {port} (no such port)")
    return port


def probe_info(port: str) -> tuple[str, bool]:
    """(sys.platform, WDT armed) of the board at port; NoDevice if nothing answers."""
    cmd = mpremote_cmd(port, "exec", PROBE_SNIPPET)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NoDevice(
            f"no MicroPython board answered at {port} within {PROBE_TIMEOUT} s"
        ) from None
    platform = None
    armed = False
    for line in p.stdout.splitlines():
        if line.startswith("PLATFORM "):
            platform = line.split(None, 1)[1].strip()
        elif line.startswith("WDT "):
            armed = line.split()[1] == "1"
    if platform is not None:
        return platform, armed
    reason = (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or ["no answer"])[-1]
    raise NoDevice(f"no MicroPython board at {port} ({reason.removeprefix('mpremote: ')})")


def probe(port: str, wait: float = BOOT_WAIT) -> str:
    """sys.platform of the board at port, once it is safe to talk to: a board whose watchdog a
    session armed resets half a second after mpremote stopped its loop; wait for that reset
    and for the board to answer again (it comes back in soft-off, the WDT not armed)."""
    import time

    platform, armed = probe_info(port)
    if not armed:
        return platform
    print(
        "the board's watchdog is armed (a session ran since its last reset): it resets now; "
        "waiting for it to come back",
        flush=True,
    )
    deadline = time.monotonic() + wait
    time.sleep(2)
    while True:
        try:
            platform, armed = probe_info(port)
            if not armed:
                return platform
        except NoDevice:
            pass
        if time.monotonic() > deadline:
            raise NoDevice(f"the board at {port} did not come back within {wait:.0f} s")
        time.sleep(1)


def deps() -> list[str]:
    """mip package specs from package.json (["name", "version"] pairs; "latest" = no pin)."""
    path = ROOT / "package.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    specs = []
    for entry in data.get("deps", []):
        name, version = entry[0], entry[1] if len(entry) > 1 else "latest"
        specs.append(name if version in ("latest", "") else f"{name}@{version}")
    return specs


def shown(args: list[str]) -> str:
    """The mpremote command line as printed: a device-side snippet as its first line, paths
    relative to the repository."""
    out = []
    for a in args:
        if "\n" in a:
            first = next((ln for ln in a.splitlines() if ln.strip()), "")
            a = repr(first.strip() + " ...")
        elif a.startswith(str(ROOT) + os.sep):
            a = a[len(str(ROOT)) + 1 :]
        out.append(a)
    return " ".join(out)


def run(cmd: list[str]) -> int:
    print("+", shown(cmd[2:]), flush=True)
    return subprocess.call(cmd)


def stage(mpy: Path | None, out: Path = STAGE_DIR, root: Path = ROOT) -> Path:
    """The tree the board gets, in out: with mpy (build/mpy), the compiled code packages (.mpy
    only, no data beside the code); always boot.py, main.py and data/presets/*.json. mpy=None:
    the frozen layout (the code is in the firmware image). Returns out."""
    import shutil

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if mpy is not None:
        for d in DEVICE_DIRS:
            for f in sorted((mpy / d).rglob("*.mpy")):
                dest = out / f.relative_to(mpy)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dest)
    for f in ENTRY_FILES:
        if (root / f).is_file():
            shutil.copyfile(root / f, out / f)
    presets = out / PRESETS_DEVICE
    presets.mkdir(parents=True)
    for f in sorted((root / PRESETS_SRC).glob("*.json")):
        shutil.copyfile(f, presets / f.name)
    return out


def deploy(port: str, board: str, build: bool, reset: str = "hard", frozen: bool = False) -> int:
    platform = probe(port)
    expected = PLATFORM_BOARD.get(platform)
    if expected and expected != board:
        print(
            f"deploy: warning: the board at {port} runs {platform} (board {expected}), "
            f"deploying BOARD={board} as asked"
        )
    # the board's own build (its native-code arch), apart from build/mpy (bytecode: the VM tests)
    mpy = ROOT / "build" / ("mpy-" + board)
    if frozen:
        mpy_src = None
    elif build:
        from tools import build_mpy

        # the board's native-code arch: the tick's `# @native` functions as machine code
        sizes, errors = build_mpy.build(ROOT, mpy, build_mpy.BOARD_MARCH.get(board))
        if errors:
            for path, msg in errors:
                print(f"mpy-cross: {path}: {msg}", file=sys.stderr)
            return 1
        print(f"mpy: {len(sizes) - 1} modules, {sizes['total']} bytes")
        mpy_src = mpy
    elif not mpy.is_dir():
        print(f"deploy: {mpy} missing: deploy without --no-build first", file=sys.stderr)
        return 1
    else:
        mpy_src = mpy
    tree = stage(mpy_src)
    # the old code packages go (a frozen image: all of them, they would shadow it), and the
    # presets of an older layout (/firmware/presets) with them
    args = ["exec", CLEAN_SNIPPET % (DEVICE_DIRS + (PRESETS_DEVICE,),)]
    top = sorted(p for p in tree.iterdir() if p.is_dir())
    args += ["+", "fs", "cp", "-r", *[str(p) for p in top], ":"]
    args += ["+", "fs", "cp", *[str(tree / f) for f in ENTRY_FILES if (tree / f).is_file()], ":"]
    args += ["+", "exec", SETTINGS_SNIPPET % {"path": SETTINGS, "board": board}]
    rc = run(mpremote_cmd(port, *args))
    if rc:
        return rc
    for spec in [] if frozen else deps():
        rc = run(mpremote_cmd(port, "mip", "install", spec))
        if rc:
            print(
                f"deploy: mip install {spec} failed (network?); the app runs without it",
                file=sys.stderr,
            )
    if reset == "none":
        return 0
    return run(mpremote_cmd(port, "reset" if reset == "hard" else "soft-reset"))


def selftest(port: str, board: str | None) -> int:
    probe(port)
    snippet = SELFTEST_SNIPPET % {"path": SETTINGS, "board": board or ""}
    p = subprocess.run(mpremote_cmd(port, "exec", snippet), capture_output=True, text=True)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    if p.returncode:
        return p.returncode
    return 0 if "SELFTEST PASS" in p.stdout else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tools.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deploy", help="copy the firmware to the board")
    d.add_argument("--board", choices=BOARDS, required=True)
    d.add_argument("--port", default="auto")
    d.add_argument("--no-build", action="store_true", help="use build/mpy-BOARD as it is")
    d.add_argument("--reset", choices=("hard", "soft", "none"), default="hard")
    d.add_argument(
        "--frozen",
        action="store_true",
        help="the image has the code frozen (firmware/manifest.py): copy only boot.py, "
        "main.py, the presets and the settings",
    )
    r = sub.add_parser("repl", help="open the board's REPL")
    r.add_argument("--port", default="auto")
    s = sub.add_parser("selftest", help="run the power-on self-test on the board")
    s.add_argument("--port", default="auto")
    s.add_argument("--board", choices=BOARDS, help="default: settings.json, then sys.platform")
    sub.add_parser("ports", help="list serial ports")
    a = ap.parse_args(argv)
    if a.cmd == "ports":
        return subprocess.call([sys.executable, "-m", "mpremote", "connect", "list"])
    try:
        port = resolve_port(a.port)
        if a.cmd == "deploy":
            return deploy(port, a.board, not a.no_build, a.reset, a.frozen)
        if a.cmd == "selftest":
            return selftest(port, a.board)
        probe(port)
        return subprocess.call(mpremote_cmd(port, "repl"))
    except NoDevice as e:
        print(f"{a.cmd}: {e}; {LIST_HINT}", file=sys.stderr)
        return NO_DEVICE_RC
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
