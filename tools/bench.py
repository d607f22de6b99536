"""make bench: the figures of DESIGN section 7 in one table and in build/bench.json.

build/bench.json is one flat object with exactly the DESIGN 7 keys; a figure that could not be
measured here is null, never a guess. Where the figures come from:

- tools/bench_waveforms.py (``measure_cpython()``, ``measure_micropython(runner)``): plan build,
  segment play, heap per segment, frequency error, phase stretch;
- tools/bench_safety.py (``measure()``): reaction times on the sim board;
- this file: control tick on CPython (in process) and on the MicroPython VM
  (tools/sim/mp_bench.py: tick cost, ratio to an empty loop, heap per tick, RAM after boot),
  ``.mpy`` total from build/mpy_sizes.json (``make mpy``), and the simulator's speed on the
  default scenario (simulated seconds per wall second of the simulation itself, CPython).

Machine, runtime and notes go to build/bench_meta.json and the printed table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")

# (key, goal text, check(value) -> bool or None)
KEYS = (
    ("plan_build_us_cpython", "", None),
    ("plan_build_us_micropython", "", None),
    ("segment_us_cpython", "", None),
    ("segment_us_micropython", "", None),
    ("alloc_bytes_per_segment_micropython", "0", lambda v: v == 0),
    ("freq_error_pct_max", "< 0.5", lambda v: v < 0.5),
    ("max_phase_stretch_ms", "<= 2", lambda v: v <= 2),
    ("tick_us_cpython", "", None),
    ("tick_us_micropython", "", None),
    ("tick_ratio_empty_loop_micropython", "", None),
    ("alloc_bytes_per_tick_micropython", "0", lambda v: v == 0),
    ("ram_after_boot_bytes", "< 49152", lambda v: v < 49152),
    ("mpy_total_bytes", "< 98304", lambda v: v < 98304),
    ("sim_speedup", "", None),
    ("reaction_contact_loss_ms", "<= 2 (never > 10)", lambda v: v <= 2),
    ("reaction_overcurrent_ms", "<= 5 (never > 20)", lambda v: v <= 5),
    ("tick_us_rp2040_est", "<= 1250 at 200 Hz (25 %)", lambda v: v <= 1250),
    ("dead_time_error_us_max", "<= 2", lambda v: v <= 2),
    ("net_charge_pct_max_20s", "< 5", lambda v: v < 5),
)
# DESIGN 3: one empty `for` iteration costs 3.1 us on an RP2040 at 125 MHz (MicroPython 1.28),
# x 1.25 for flash-cache misses
RP2040_EMPTY_LOOP_US = 3.1
RP2040_XIP_FACTOR = 1.25
KEY_NAMES = tuple(k for k, _, _ in KEYS)
TICKS_CPYTHON = 2000


class Bench:
    def __init__(self) -> None:
        self.values: dict[str, object] = {k: None for k in KEY_NAMES}
        self.source: dict[str, str] = {}
        self.notes: list[str] = []

    def put(self, figures: dict | None, source: str) -> None:
        """Take the DESIGN 7 keys from a helper's dict; others are ignored."""
        if not isinstance(figures, dict):
            return
        for k, v in figures.items():
            if k in self.values and v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    self.notes.append("%s: %s gave %r, not a number: ignored" % (k, source, v))
                    continue
                self.values[k] = v
                self.source[k] = source

    def note(self, text: str) -> None:
        self.notes.append(text)


def _err(e: BaseException) -> str:
    return "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e) else "")


# ---- the MicroPython VM ----


def _runner():
    from tools.mpvm import runner

    if not runner.available():
        raise RuntimeError("MicroPython VM not installed (make node)")
    return runner


def _mpy_dir() -> str | None:
    d = os.path.join(BUILD, "mpy")
    return d if os.path.isdir(d) else None


def tick_micropython(b: Bench) -> None:
    runner = _runner()
    mpy = _mpy_dir() is not None
    rc, out, err = runner.run_script(
        os.path.join(ROOT, "tools", "sim", "mp_bench.py"), mpy=mpy, timeout=300
    )
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if rc != 0 or line is None:
        last = (err or out).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError("VM bench failed (exit %d): %s" % (rc, last[0]))
    res = json.loads(line[6:])
    src = "MicroPython VM (webassembly, %s)" % ("mpy" if mpy else "py sources")
    b.put(res, src)
    if res.get("state") != "running":
        b.note(
            "MicroPython: the app was '%s', not running, after the scripted start: tick "
            "figures not measured" % res.get("state")
        )
    elif "empty_loop_us" in res:
        b.note(
            "MicroPython: empty for-range iteration %.3f us; %s of %s ticks allocated "
            "(largest %s bytes)"
            % (
                res["empty_loop_us"],
                res.get("alloc_ticks"),
                res.get("ticks"),
                res.get("alloc_max_bytes"),
            )
        )
    ram_micropython(b, runner, mpy)


def _vm_mem(runner, what: str, **kw) -> int:
    rc, out, err = runner.run_script(
        os.path.join(ROOT, "tools", "sim", "mp_ram.py"),
        timeout=120,
        args=(what,),
        post_mem=True,
        **kw,
    )
    line = next((x for x in out.splitlines() if x.startswith("MPVM_MEM_ALLOC ")), None)
    if rc != 0 or line is None:
        last = (err or out).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError("VM RAM figure failed (exit %d): %s" % (rc, last[0]))
    return int(line.split()[1])


def _romfs_image() -> str | None:
    """build/mpy packed as a ROMFS image (mpremote romfs build), or None without build/mpy."""
    src = _mpy_dir()
    if src is None:
        return None
    img = os.path.join(BUILD, "app.romfs")
    subprocess.run(
        [sys.executable, "-m", "mpremote", "romfs", "--no-mpy", "-o", img, "build", src],
        check=True,
        capture_output=True,
    )
    return img


def ram_micropython(b: Bench, runner, mpy: bool) -> None:
    """ram_after_boot_bytes: what the firmware keeps allocated in soft-off after boot (main.py's
    path, firmware/softoff.py) with the .mpy files loaded into RAM as `make deploy` copies them,
    minus the virtual board itself (the fakes stand in for the ROM-resident machine module).
    The same with the bytecode in place in a ROMFS image (frozen, or a board's ROMFS partition)
    and with the App built are noted. On this VM a collect inside one runPython call frees
    nothing, so tools/sim/mp_ram.py keeps its objects and the runner collects in a later call
    (--post-mem)."""
    img = _romfs_image()
    if img is None:
        b.note("ram_after_boot_bytes: no build/mpy (run `make mpy`): not measured")
        return
    rom_base = _vm_mem(runner, "base", romfs=img)
    rom_boot = _vm_mem(runner, "boot", romfs=img)
    rom_app = _vm_mem(runner, "app", romfs=img)
    fs_base = _vm_mem(runner, "base", mpy=True)
    fs_boot = _vm_mem(runner, "boot", mpy=True)
    fs_app = _vm_mem(runner, "app", mpy=True)
    b.put(
        {"ram_after_boot_bytes": fs_boot - fs_base},
        "MicroPython VM (webassembly, .mpy files as make deploy copies them)",
    )
    b.note(
        "ram_after_boot_bytes: gc.mem_alloc() in soft-off after boot (main.py: "
        "firmware/softoff.py, the board built, nothing of the app imported until a long POWER "
        "press), minus the virtual board alone (vhw fakes, clock, stage model, %d bytes): %d "
        "with the .mpy files in RAM (make deploy), %d with the bytecode in a ROMFS image. With "
        "the App built (what a powered-on device holds): %d with .mpy files, %d from ROMFS."
        % (fs_base, fs_boot - fs_base, rom_boot - rom_base, fs_app - fs_base, rom_app - rom_base)
    )


# ---- CPython ----


def _drive_to_running():
    """A sim board with the app running on skin: the same client as on the VM."""
    from vhw import install

    install.install()
    from tools.sim.mp_bench import drive_to_running

    return drive_to_running(tempfile.mkdtemp(prefix="bench-fs-"))


def tick_cpython(b: Bench) -> None:
    app, vc = _drive_to_running()
    if app.state != "running":
        b.note("CPython: the app was '%s', not running, after the scripted start" % app.state)
        return
    total = 0
    pc = time.perf_counter_ns
    for _ in range(TICKS_CPYTHON):
        t0 = pc()
        app.tick()
        total += pc() - t0
        vc.sleep_us(2000)
    b.put({"tick_us_cpython": round(total / TICKS_CPYTHON / 1000, 2)}, _cpython_name())


def tick_opcount(b: Bench) -> None:
    """A note: the worst slot of the control tick in bytecodes executed in
    device code on the sim board (tools/tickcost.py), x the us per bytecode measured on the
    emulated RP2040 for the build a board gets; the board without its optional OLED (the
    figure with it is noted)."""
    from tools import tickcost

    bare = tickcost.measure(800, "relax", display=False)
    oled = tickcost.measure(800, "relax", display=True)
    b.note(
        "RP2040 tick by bytecode count (tools/tickcost.py, %.2f us a bytecode, native build): "
        "worst slot %d bytecodes, ~%d us of the 1250 us budget (slots: %s); with the OLED "
        "fitted the UI slot that composes a row reaches %d bytecodes, ~%d us"
        % (
            bare["us_per_op"],
            bare["max_ops"],
            bare["tick_us_rp2040_opcount_est"],
            ", ".join("%s %d" % (k, v["max"]) for k, v in sorted(bare["slots"].items())),
            oled["max_ops"],
            oled["tick_us_rp2040_opcount_est"],
        )
    )


def sim_speed(b: Bench) -> None:
    """`make sim` on the default scenario: simulated seconds per wall second of the simulation
    (the firmware running on the virtual board and trace.csv written); the end-to-end figure
    with the VCD and PNG writers goes into the notes."""
    from tools.sim import api

    scn = api.load(api.scenario_path("default"))
    out = os.path.join(BUILD, "bench_sim")
    t0 = time.perf_counter()
    summ, _ = api.simulate(scn, out)
    total = time.perf_counter() - t0
    sim_s = summ["simulated_s"]
    wall = summ["wall_s"]
    b.put({"sim_speedup": round(sim_s / wall, 1)}, _cpython_name())
    b.note(
        "sim_speedup: default scenario, %.0f simulated s in %.1f wall s; with the summary, VCD "
        "and PNG writers %.1f s (x%.0f end to end)" % (sim_s, wall, total, sim_s / total)
    )


def mpy_total(b: Bench) -> None:
    path = os.path.join(BUILD, "mpy_sizes.json")
    if not os.path.exists(path):
        b.note("mpy_total_bytes: build/mpy_sizes.json missing (run `make mpy`)")
        return
    with open(path) as f:
        sizes = json.load(f)
    total = sizes.get("total")
    if total is None:
        total = sum(v for v in sizes.values() if isinstance(v, int))
    b.put({"mpy_total_bytes": total}, "mpy-cross (build/mpy_sizes.json)")


# ---- helpers from the other parts ----


def helper(b: Bench, module: str, calls: list[tuple[str, tuple, str]]) -> None:
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        b.note("%s: not available (%s)" % (module, _err(e)))
        return
    for fn, args, src in calls:
        f = getattr(mod, fn, None)
        if f is None:
            b.note("%s.%s: missing" % (module, fn))
            continue
        try:
            resolved = tuple(a() if callable(a) else a for a in args)
            b.put(f(*resolved), src)
        except Exception as e:  # noqa: BLE001 - one failing helper must not lose the rest
            b.note("%s.%s failed: %s" % (module, fn, _err(e)))
            if os.environ.get("BENCH_DEBUG"):
                traceback.print_exc()


# ---- report ----


def _cpython_name() -> str:
    return "CPython %s" % platform.python_version()


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    node = None
    try:
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "node": node,
        "micropython_vm": "@micropython/micropython-webassembly-pyscript (tools/mpvm)",
    }


def _fmt(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return "%.3g" % v if abs(v) < 1000 else "%.0f" % v
    return str(v)


def table(b: Bench, info: dict) -> str:
    lines = ["machine: %s, %s cores, %s" % (info["cpu"], info["cores"], info["os"])]
    lines.append("%-36s %12s  %-18s %-6s %s" % ("figure", "value", "goal", "", "measured on"))
    lines.append("-" * 100)
    for k, goal, check in KEYS:
        v = b.values[k]
        verdict = ""
        if v is not None and check is not None:
            verdict = "ok" if check(v) else "MISSED"
        lines.append(
            "%-36s %12s  %-18s %-6s %s" % (k, _fmt(v), goal, verdict, b.source.get(k, ""))
        )
    for n in b.notes:
        lines.append("note: " + n)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(BUILD, "bench.json"))
    p.add_argument("--no-vm", action="store_true", help="skip the MicroPython VM figures")
    p.add_argument("--no-sim", action="store_true", help="skip sim_speedup (the longest part)")
    a = p.parse_args(argv)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from vhw import install

    install.install()
    b = Bench()
    steps = [
        ("tick_cpython", tick_cpython),
        ("tick_opcount", tick_opcount),
        ("mpy_total", mpy_total),
    ]
    if not a.no_vm:
        steps.append(("tick_micropython", tick_micropython))
    if not a.no_sim:
        steps.append(("sim_speed", sim_speed))
    for name, fn in steps:
        try:
            fn(b)
        except Exception as e:  # noqa: BLE001
            b.note("%s failed: %s" % (name, _err(e)))
            if os.environ.get("BENCH_DEBUG"):
                traceback.print_exc()
    wf_calls = [("measure_cpython", (), _cpython_name())]
    if not a.no_vm:
        wf_calls.append(("measure_micropython", (_runner,), "MicroPython VM (webassembly)"))
    helper(b, "tools.bench_waveforms", wf_calls)
    helper(b, "tools.bench_safety", [("measure", (), "%s, sim board" % _cpython_name())])
    r = b.values.get("tick_ratio_empty_loop_micropython")
    if isinstance(r, (int, float)):
        b.put(
            {"tick_us_rp2040_est": round(r * RP2040_EMPTY_LOOP_US * RP2040_XIP_FACTOR, 1)},
            "tick_ratio_empty_loop_micropython x 3.1 us x 1.25 (DESIGN 3)",
        )
    info = machine_info()
    print(table(b, info))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({k: b.values[k] for k in KEY_NAMES}, f, indent=2)
        f.write("\n")
    meta = os.path.join(os.path.dirname(os.path.abspath(a.out)), "bench_meta.json")
    with open(meta, "w") as f:
        json.dump(
            {
                "machine": info,
                "source": b.source,
                "notes": b.notes,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            f,
            indent=2,
        )
        f.write("\n")
    print("wrote %s" % os.path.relpath(a.out, ROOT) if a.out.startswith(ROOT) else a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
