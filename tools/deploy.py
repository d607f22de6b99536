"""Put the firmware on a board with mpremote: ``make deploy``, ``make repl``, ``make selftest``.

    python -m tools.deploy deploy --board pico|esp32 [--port PORT] [--no-build]
    python -m tools.deploy repl [--port PORT]
    python -m tools.deploy selftest [--port PORT] [--board NAME]
    python -m tools.deploy ports

``deploy``: builds ``build/mpy`` (``tools/build_mpy.py``), removes the old code files (``.py``
and ``.mpy`` only: data such as the session log stays) from the board's ``drivers/ firmware/
safety/ waveforms/``, copies the compiled tree, ``boot.py`` and ``main.py`` (a board runs those
two only as source), sets ``"board"`` in the board's ``settings.json`` (other settings are
kept), runs ``mip install`` for every dependency in ``package.json`` (mpremote fetches them on
the host, so a board without network works), then resets the board so that boot.py and
main.py run (``--reset hard``, the default: a soft reset from mpremote's raw REPL does not run
main.py; ``--reset soft`` or ``none`` if wanted).

PORT: a serial device (``/dev/ttyACM0``, ``COM3``), an mpremote shortcut (``a0``, ``u0``) or
``auto`` (default: the first USB serial port). Without a board there, one line says which port
was tried and how to list ports, and the exit status is 2.
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
        try:
            os.rmdir(p)
        except OSError:
            pass
    elif p.endswith('.py') or p.endswith('.mpy'):
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

SELFTEST_SNIPPET = """
import json, machine
from firmware import boards
name = None
try:
    with open(%(path)r) as f:
        name = json.load(f).get('board')
except (OSError, ValueError, AttributeError):
    pass
if %(board)r:
    name = %(board)r
board = boards.load(name)
hw = board.build(machine)
hw.stage.off()
programs_ok = False
try:
    from firmware import programs
    loader = getattr(programs, 'load_all', None) or getattr(programs, 'load')
    loader()
    programs_ok = True
except Exception as e:
    print('programs:', repr(e))
from safety import selftest
ok, lines, code = selftest.run(hw, programs_ok)
hw.stage.off()
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


def probe(port: str) -> str:
    """sys.platform of the board at port; NoDevice if nothing answers."""
    cmd = mpremote_cmd(port, "exec", PROBE_SNIPPET)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NoDevice(
            f"no MicroPython board answered at {port} within {PROBE_TIMEOUT} s"
        ) from None
    for line in p.stdout.splitlines():
        if line.startswith("PLATFORM "):
            return line.split(None, 1)[1].strip()
    reason = (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or ["no answer"])[-1]
    raise NoDevice(f"no MicroPython board at {port} ({reason.removeprefix('mpremote: ')})")


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


def run(cmd: list[str]) -> int:
    print("+", " ".join(cmd[2:]), flush=True)
    return subprocess.call(cmd)


def deploy(port: str, board: str, build: bool, reset: str = "hard") -> int:
    platform = probe(port)
    expected = PLATFORM_BOARD.get(platform)
    if expected and expected != board:
        print(
            f"deploy: warning: the board at {port} runs {platform} (board {expected}), "
            f"deploying BOARD={board} as asked"
        )
    mpy = ROOT / "build" / "mpy"
    if build:
        from tools import build_mpy

        sizes, errors = build_mpy.build(ROOT, mpy)
        if errors:
            for path, msg in errors:
                print(f"mpy-cross: {path}: {msg}", file=sys.stderr)
            return 1
        (ROOT / "build" / "mpy_sizes.json").write_text(json.dumps(sizes, indent=1) + "\n")
        print(f"mpy: {len(sizes) - 1} modules, {sizes['total']} bytes")
    elif not mpy.is_dir():
        print("deploy: build/mpy missing: run `make mpy`", file=sys.stderr)
        return 1
    args = ["exec", CLEAN_SNIPPET % (DEVICE_DIRS,)]
    dirs = [str(mpy / d) for d in DEVICE_DIRS if (mpy / d).is_dir()]
    args += ["+", "fs", "cp", "-r", *dirs, ":"]
    args += ["+", "fs", "cp", *[str(ROOT / f) for f in ENTRY_FILES if (ROOT / f).is_file()], ":"]
    args += ["+", "exec", SETTINGS_SNIPPET % {"path": SETTINGS, "board": board}]
    rc = run(mpremote_cmd(port, *args))
    if rc:
        return rc
    for spec in deps():
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
    d.add_argument("--no-build", action="store_true", help="use build/mpy as it is")
    d.add_argument("--reset", choices=("hard", "soft", "none"), default="hard")
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
            return deploy(port, a.board, not a.no_build, a.reset)
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
