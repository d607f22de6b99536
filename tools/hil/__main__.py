"""make hil: the deployed tree on an emulated RP2040 running real MicroPython.

    python -m tools.hil --firmware PICO_FIRMWARE --bootrom PICO_BOOTROM [--seconds 8]
                        [--program relax --program tone ...] [--out build/hil]

Needs a MicroPython v1.28 RPI_PICO image and the RP2040 bootrom (neither is in the repo: the
README's hardware-in-the-loop section says where they come from). Copies ../shared/pico-emu
to build/pico-emu (npm ci there), adds tools/hil/pio_clock.mjs (PIO state machines timed by
the emulated clock), builds the tree `make deploy BOARD=pico` installs with
tools/hil/hil_main.py as main.py, runs a client session per program (power on, probes on skin
at 20 kOhm, level 3, start) and reports, from the pins and the load current of the modelled
output stage: phase and dead-time widths against the plan, period and frequency, net charge
(and the worst 20 s window), the control tick's duration on the chip, state changes (false
pauses). Writes build/hil/report.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMU_SRC = ROOT.parent / "shared" / "pico-emu"
START_MS = 9000  # the scripted client presses start here (script time)


def setup(emu: Path) -> None:
    if (
        not (emu / "run.mjs").exists()
        or (EMU_SRC / "run.mjs").read_bytes() != (emu / "run.mjs").read_bytes()
    ):
        if emu.exists():
            shutil.rmtree(emu)
        shutil.copytree(EMU_SRC, emu, ignore=shutil.ignore_patterns("node_modules"))
        for p in emu.rglob("*"):
            p.chmod(p.stat().st_mode | 0o200)  # shared/ is read-only
    if not (emu / "node_modules" / "rp2040js").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=emu, check=True
        )
    shutil.copy(ROOT / "tools" / "hil" / "pio_clock.mjs", emu / "pio_clock.mjs")


def first_step(program: str) -> dict:
    return json.loads((ROOT / "firmware" / "presets" / f"{program}.json").read_text())["steps"][0]


def plan_figures(step: dict) -> dict:
    import types

    sys.path.insert(0, str(ROOT))
    if "micropython" not in sys.modules:  # plan.py needs only const()
        mp = types.ModuleType("micropython")
        mp.const = lambda x: x
        sys.modules["micropython"] = mp
    from waveforms import plan as P

    pl = P.build_step(P.Plan(), step, 1000)
    return {
        "shape": step["shape"],
        "freq_hz": pl.freq_mhz / 1000,
        "phase_us": pl.phase_us,
        "dead_us": pl.dead_us if pl.n == 4 else None,
        "period_us": pl.period_us,
    }


def script(seconds: float) -> dict:
    return {
        "duration_ms": int(START_MS + seconds * 1000),
        "t0_on": "text:hil ready",
        "t0_timeout_ms": 60000,
        "stage": {"battery_mv": 3900},
        "events": [
            {"t_ms": 0, "press": "power", "hold_ms": 1500},
            # power-on reads and checks every program file (about 4 s on the chip) before the
            # menu answers: the client waits for it
            {"t_ms": 6500, "contact": True, "impedance_ohm": 20000},
            {"t_ms": 7500, "press": "plus"},
            {"t_ms": 8000, "press": "plus"},
            {"t_ms": START_MS, "press": "power"},
        ],
    }


def load_csv(path: Path) -> list[tuple[float, float]]:
    with path.open() as f:
        return [(float(r["t_us"]), float(r["load_ua"])) for r in csv.DictReader(f)]


def run_program(args, emu: Path, program: str) -> dict:
    out = Path(args.out) / program
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    py = sys.executable
    tree = out / "tree"
    subprocess.run(
        [
            py,
            str(EMU_SRC / "devtree.py"),
            str(ROOT),
            str(tree),
            "--board",
            "pico",
            "--settings",
            json.dumps({"last_program": program}),
            "--add",
            f"{ROOT / 'tools' / 'hil' / 'hil_main.py'}:main.py",
        ]
        + (
            ["--add", f"{ROOT / 'tools' / 'hil' / 'hil_prof.py'}:hilprof.py"]
            if args.profile
            else []
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # what `make deploy BOARD=pico` puts there: the tick's `# @native` functions compiled to
    # machine code for the RP2040 (devtree builds bytecode only)
    from tools import build_mpy

    native = out / "mpy-armv6m"
    _sizes, errors = build_mpy.build(ROOT, native, build_mpy.BOARD_MARCH["pico"])
    if errors:
        raise SystemExit(f"hil: mpy-cross -march=armv6m failed: {errors[0]}")
    for p in native.rglob("*.mpy"):
        dest = tree / p.relative_to(native)
        if dest.exists():
            shutil.copyfile(p, dest)
    shutil.rmtree(native)
    (out / "script.json").write_text(json.dumps(script(args.seconds), indent=1))
    cmd = [
        "node",
        "pio_clock.mjs",
        "--firmware",
        str(Path(args.firmware).resolve()),
        "--bootrom",
        str(Path(args.bootrom).resolve()),
        "--python",
        py,
        "--fs",
        str(tree.resolve()),
        "--script",
        str((out / "script.json").resolve()),
        "--stage",
        "--stage-csv",
        str((out / "load.csv").resolve()),
        "--csv",
        str((out / "gpio.csv").resolve()),
        "--summary-json",
        str((out / "summary.json").resolve()),
        "--wall-limit-s",
        str(args.wall_limit_s),
    ]
    print(f"hil: {program}: running {args.seconds} s after start on the emulated RP2040 ...")
    with (out / "console.log").open("w") as log:
        subprocess.run(cmd, cwd=emu, stdout=log, stderr=subprocess.STDOUT)
    return analyse(out, program)


def analyse(out: Path, program: str) -> dict:
    con = (out / "console.log").read_text(errors="replace")
    summary = json.loads((out / "summary.json").read_text())
    t0 = summary.get("t0_ms") or 0.0
    start_ms = t0 + START_MS
    ticks = [
        dict(zip(("n", "med", "p99", "max", "over", "period"), map(int, m)))
        for m in re.findall(
            r"hil ticks n=(\d+) med=(\d+) p99=(\d+) max=(\d+) over=(\d+) period=(\d+)", con
        )
    ]
    states = re.findall(r"\[\s*([\d.]+) ms usb\] hil state (\w+) (\S+)", con)
    running = [float(t) for t, s, _ in states if s == "running"]
    # the program waits (paused) for the probes' first contact: pauses after that are false
    pauses = [
        float(t)
        for t, s, _ in states
        if s == "paused" and len(running) > 1 and float(t) > running[1]
    ]
    prof = re.findall(r"hil prof (.*)", con)
    locked = re.search(r"hil heaplock ticks=(\d+) of (\d+)", con)
    mem = re.search(r"hil mem_alloc (\d+) mem_free (\d+)", con)
    step = first_step(program)
    plan = plan_figures(step)
    rep_json = out / "stage_report.json"
    cmd = [
        sys.executable,
        str(EMU_SRC / "stage_report.py"),
        str(out / "load.csv"),
        "--from",
        str(start_ms + 500),
        "--freq",
        str(plan["freq_hz"]),
        "--phase-us",
        str(plan["phase_us"]),
        "--json",
        str(rep_json),
    ]
    if plan["dead_us"]:
        cmd += ["--dead-us", str(plan["dead_us"])]
    txt = subprocess.run(cmd, capture_output=True, text=True).stdout
    (out / "stage_report.txt").write_text(txt)
    sr = json.loads(rep_json.read_text()) if rep_json.exists() else {}
    rows = load_csv(out / "load.csv") if (out / "load.csv").exists() else []
    from tools.bench_waveforms import window_pct

    t_from = (start_ms + 500) * 1000
    tail = [(t, ua) for t, ua in rows if t >= t_from]
    worst20 = window_pct([t for t, _ in tail], [ua for _, ua in tail]) if tail else None
    total_uc = sum(abs(ua) * (t1 - t) for (t, ua), (t1, _) in zip(tail, tail[1:])) / 1e6
    net_run = sum(ua * (t1 - t) for (t, ua), (t1, _) in zip(tail, tail[1:])) / 1e6

    # phases of the train from the load current (the 20 uA contact probes left out), and
    # the dead times inside a period; a phase cut at a stop or a pause is the last of its run
    tr = [(t, ua) for t, ua in rows if t >= (start_ms + 500) * 1000]
    phs = []
    t_on = None
    for (t, ua), (_t1, _ua1) in zip(tr, tr[1:]):
        if abs(ua) >= 25 and t_on is None:
            t_on, sgn = t, (1 if ua > 0 else -1)
        elif t_on is not None and (abs(ua) < 25 or (ua > 0) != (sgn > 0)):
            phs.append((t_on, t, sgn))
            t_on = None if abs(ua) < 25 else t
            if t_on is not None:
                sgn = 1 if ua > 0 else -1
    ph_errs = []
    dead_errs = []
    for (s0, e0, g0), (s1, _e1, g1) in zip(phs, phs[1:]):
        if s1 - e0 <= plan["period_us"]:  # the train went on: s0..e0 was a whole phase
            ph_errs.append(abs((e0 - s0) - plan["phase_us"]))
            if plan["dead_us"] and g1 != g0 and s1 - e0 <= 150:
                dead_errs.append(abs((s1 - e0) - plan["dead_us"]))

    busy = [t for t in ticks if t["n"] > 0]
    res = {
        "program": program,
        "plan": plan,
        "phases": sr.get("phases", 0),
        "pos_width_us": sr.get("pos_width_us"),
        "neg_width_us": sr.get("neg_width_us"),
        "dead_us": sr.get("dead_us"),
        "phases_checked": len(ph_errs),
        "phase_error_us_max": round(max(ph_errs), 3) if ph_errs else None,
        "dead_time_error_us_max": round(max(dead_errs), 3) if dead_errs else None,
        "freq_hz": sr.get("freq_hz"),
        "charge_pos_uc": sr.get("charge_pos_uc"),
        "charge_neg_uc": sr.get("charge_neg_uc"),
        "net_charge_pct_max_20s": None if worst20 is None else round(worst20, 3),
        "net_charge_pct_run": round(abs(net_run) / total_uc * 100, 3) if total_uc else None,
        "charge_total_uc": round(total_uc, 3),
        "tick_period_us": busy[-1]["period"] if busy else None,
        "tick_us_median": sorted(t["med"] for t in busy)[len(busy) // 2] if busy else None,
        "tick_us_p99_max": max((t["p99"] for t in busy), default=None),
        "tick_us_max": max((t["max"] for t in busy), default=None),
        "ticks_over_budget": sum(t["over"] for t in busy),
        "ticks": sum(t["n"] for t in busy),
        "false_pauses": len(pauses),
        "states": [(float(t), s, f) for t, s, f in states],
        "profile_last_s": prof[-1].split() if prof else None,
        "heap_locked_ticks": f"{locked.group(1)} of {locked.group(2)}" if locked else None,
        "mem_alloc_after_build": int(mem.group(1)) if mem else None,
        "emulated_s_per_wall_s": summary.get("emulated_s_per_wall_s"),
        "exceptions": summary.get("exceptions"),
        "chip_resets": summary.get("chip_resets"),
    }
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firmware", default=os.environ.get("PICO_FIRMWARE"))
    ap.add_argument("--bootrom", default=os.environ.get("PICO_BOOTROM"))
    ap.add_argument("--program", action="append")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--wall-limit-s", type=int, default=1500)
    ap.add_argument("--out", default=str(ROOT / "build" / "hil"))
    ap.add_argument(
        "--profile", action="store_true", help="time the app's methods on the chip (hil_prof.py)"
    )
    ap.add_argument("--analyse-only", action="store_true", help="re-read an earlier run")
    a = ap.parse_args(argv)
    programs = a.program or ["relax", "tone", "pores"]
    if not a.analyse_only and not (a.firmware and a.bootrom):
        print(
            "hil: give PICO_FIRMWARE=<MicroPython 1.28 RPI_PICO image> and "
            "PICO_BOOTROM=<RP2040 bootrom>",
            file=sys.stderr,
        )
        return 2
    if not EMU_SRC.exists():
        print(f"hil: {EMU_SRC} not found (the team's shared folder)", file=sys.stderr)
        return 2
    emu = ROOT / "build" / "pico-emu"
    results = []
    if not a.analyse_only:
        setup(emu)
    for p in programs:
        r = analyse(Path(a.out) / p, p) if a.analyse_only else run_program(a, emu, p)
        results.append(r)
        keys = (
            "phase_error_us_max",
            "dead_time_error_us_max",
            "freq_hz",
            "net_charge_pct_max_20s",
            "net_charge_pct_run",
            "tick_us_median",
            "tick_us_p99_max",
            "ticks_over_budget",
            "ticks",
            "false_pauses",
            "heap_locked_ticks",
        )
        print(f"hil: {p}: " + ", ".join(f"{k} {r[k]}" for k in keys))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(results, indent=1))
    print(f"hil: wrote {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
