"""python -m tools.report: the output characteristics table and the traceability matrix.

    python -m tools.report [--out build/report] [--program FILE ...] [--only ID,...]
                           [--loads 500,2000,...] [--full] [--jobs N] [--hil-csv FILE]
                           [--bench build/bench.json] [--copy-to docs/report]

Runs every preset (firmware/presets/*.json) and every --program file on the sim board with the
simulator's own API (tools/sim/api.py), into 500 Ohm, 2, 10, 20 and 100 kOhm at the home and
the professional cap, plus characterisation runs (contact window sweep, lift/re-touch and
pause reactions, contact probes, every simulator fault, current vs load at 1000 uA asked);
every figure comes from the trace. Writes into --out: index.html (readable on its own, PNGs
beside it), report.json, steps.csv, compliance.csv, contact.csv, faults.csv, traceability.csv.
Exit 0 when the report was written (whatever it shows), 1 when a run failed, 2 on a bad
command line.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from tools.report import runs as R

ROOT = R.ROOT
DEFAULT_OUT = os.path.join("build", "report")
DEFAULT_BENCH = os.path.join("build", "bench.json")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.report", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (default build/report)")
    p.add_argument(
        "--program", action="append", default=[], metavar="FILE", help="also run this program"
    )
    p.add_argument("--only", help="presets to run, comma-separated (default: all)")
    p.add_argument("--no-presets", action="store_true", help="only the --program files")
    p.add_argument(
        "--loads",
        default=",".join(str(z) for z in R.LOADS_OHM),
        help="loads in Ohm, comma-separated (default 500,2000,10000,20000,100000)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="run every program whole (default: every step cut to 3 strokes, same level)",
    )
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes")
    p.add_argument("--no-characterisation", action="store_true", help="programs only")
    p.add_argument("--no-tests", action="store_true", help="skip the test collection")
    p.add_argument("--bench", default=DEFAULT_BENCH, help="make bench figures (if present)")
    p.add_argument("--hil-csv", help="a `make hil` stage CSV (t_us,load_ua,electrode_mv,...)")
    p.add_argument("--hil-load", type=int, default=None, help="the HIL run's load, Ohm")
    p.add_argument("--hil-from-ms", type=float, default=None)
    p.add_argument("--hil-to-ms", type=float, default=None)
    p.add_argument("--copy-to", help="also copy the page and its files here (docs/report)")
    p.add_argument("--keep-runs", action="store_true", help="keep every run's trace")
    p.add_argument("--note", help="a note shown at the top of the page")
    p.add_argument(
        "--results",
        metavar="FILE",
        help="the runs' figures: read from FILE when it exists (render again without "
        "running), else written there after the runs",
    )
    p.add_argument(
        "--source-label",
        help="what the page names as its source (default: the git commit of this tree)",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        a.loads = [int(x) for x in a.loads.split(",") if x.strip()]
    except ValueError:
        p.error("--loads: integers in Ohm, comma-separated")
    if not a.loads or any(z <= 0 for z in a.loads):
        p.error("--loads: positive integers")
    if a.jobs < 1:
        p.error("--jobs must be >= 1")
    return a


# ---- what to run ----


def programs_to_run(a: argparse.Namespace) -> list[dict]:
    """[{label, source, original, run (the program file installed on the device), reduced}]"""
    out = []
    paths = []
    if not a.no_presets:
        only = set(x.strip() for x in a.only.split(",")) if a.only else None
        for p in R.preset_paths():
            pid = os.path.basename(p)[:-5]
            if only is None or pid in only:
                paths.append((p, "preset"))
        if only and not paths:
            raise SystemExit("python -m tools.report: --only: no such preset")
    for p in a.program:
        paths.append((p, "file"))
    for p, kind in paths:
        prog = R.load_program(p)
        if a.full:
            run, reduced = R.rename_program(prog), False
        else:
            run, reduced = R.reduce_program(prog)
        out.append(
            {
                "label": str(prog.get("id")),
                "source": os.path.relpath(p, ROOT) if kind == "preset" else p,
                "kind": kind,
                "original": prog,
                "run": run,
                "reduced": reduced,
            }
        )
    return out


def ref_load(loads: list[int]) -> int:
    from tools.report.assemble import REF_LOAD

    on = [z for z in loads if z >= 1000]
    if REF_LOAD in loads:
        return REF_LOAD
    return min(on) if on else min(loads)


def build_jobs(a: argparse.Namespace, progs: list[dict]) -> tuple[list[dict], list[dict]]:
    """(jobs, configs): every distinct step configuration at every load and cap; every
    program once, whole, at the reference load and the professional cap; the
    characterisation runs."""
    configs, chunks = R.build_configs(progs)
    ref = ref_load(a.loads)
    jobs = []
    for ch in chunks:
        for cap in R.CAPS:
            for z in a.loads:
                closeups = cap == "pro" and z == ref
                jobs.append(R.program_job(ch, z, cap, ch["id"], closeups=closeups))
    for pr in progs:
        jobs.append(R.program_job(pr["run"], ref, "pro", pr["label"]))
    if not a.no_characterisation:
        for cap in R.CAPS:
            jobs.append(R.compliance_job(cap))
            jobs.append(R.program_job(R.MAX_PROGRAM, 500, cap, "r_max"))
        jobs.append(R.contact_sweep_job())
        jobs.append(R.reactions_job())
        for z in R.PROBE_LOADS:
            jobs.append(R.probe_job(z))
        for f in R.SIM_FAULTS:
            for off in R.FAULT_OFFSETS_MS:
                jobs.append(R.fault_job(f, off))
    return jobs, configs


def run_all(jobs: list[dict], n: int, work: str, quiet: bool) -> list[dict]:
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i]["cost"])
    results: list[dict | None] = [None] * len(jobs)
    t0 = time.perf_counter()
    done = 0
    if n <= 1:
        for i in order:
            results[i] = R.worker((jobs[i], work))
            done += 1
            _progress(done, len(jobs), t0, results[i], quiet)
    else:
        with cf.ProcessPoolExecutor(max_workers=n) as ex:
            futs = {ex.submit(R.worker, (jobs[i], work)): i for i in order}
            for fut in cf.as_completed(futs):
                i = futs[fut]
                results[i] = fut.result()
                done += 1
                _progress(done, len(jobs), t0, results[i], quiet)
    return [r for r in results if r is not None]


def _progress(done: int, total: int, t0: float, r: dict, quiet: bool) -> None:
    if quiet:
        return
    msg = "error: " + r["error"] if "error" in r else "%.0f s simulated" % r["simulated_s"]
    print(
        "[%3d/%d %5.0f s] %-28s %s" % (done, total, time.perf_counter() - t0, r["name"], msg),
        file=sys.stderr,
        flush=True,
    )


# ---- machine and source description ----


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def provenance() -> dict:
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "firmware", "safety", "waveforms", "drivers")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "commit": head,
        "firmware_modified": bool(dirty),
        "python": platform.python_version(),
        "machine": "%s, %d cores" % (cpu, os.cpu_count() or 1),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def load_bench(path: str) -> dict | None:
    p = path if os.path.isabs(path) else os.path.join(ROOT, path)
    if not os.path.exists(p):
        return None
    try:
        with open(p) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_NOT_SHOWN = ("--results", "--copy-to", "--note", "--source-label", "--out")


def _shown_args(argv: list[str] | None) -> list[str]:
    """The command line as the page shows it: without the options that choose where files go
    or what the page says about itself (nothing that changes a figure)."""
    out = []
    skip = False
    for x in list(sys.argv[1:] if argv is None else argv):
        if skip:
            skip = False
            continue
        if x.split("=", 1)[0] in _NOT_SHOWN:
            skip = "=" not in x
            continue
        out.append(x)
    return out


def main(argv: list[str] | None = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    from tools.report import assemble, render, traceability

    t0 = time.perf_counter()
    progs = programs_to_run(a)
    jobs, configs = build_jobs(a, progs)
    out = a.out
    os.makedirs(out, exist_ok=True)
    work = os.path.join(out, "runs")
    if not a.quiet:
        print("report: %d runs on %d processes" % (len(jobs), a.jobs), file=sys.stderr)
    for j in jobs:
        j["keep"] = a.keep_runs
    n_jobs = a.jobs
    if a.results and os.path.exists(a.results):
        with open(a.results) as f:
            saved = json.load(f)
        results = saved["results"]
        wall_runs = saved["wall_s_runs"]
        n_jobs = saved["jobs"]
    else:
        results = run_all(jobs, a.jobs, work, a.quiet)
        wall_runs = time.perf_counter() - t0
        if a.results:
            with open(a.results, "w") as f:
                saved = {"results": results, "wall_s_runs": wall_runs, "jobs": a.jobs}
                json.dump(saved, f, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    if not a.keep_runs:
        shutil.rmtree(work, ignore_errors=True)
    data = assemble.assemble(results, progs, a.loads, configs, ref_load(a.loads))
    data["hil"] = assemble.hil(a, data) if a.hil_csv else None
    by_rule: dict = {}
    trace_error = None
    if not a.no_tests:
        try:
            by_rule = traceability.collect(ROOT)
        except Exception as e:  # noqa: BLE001 - the page says so
            trace_error = str(e)
    bench = load_bench(a.bench)
    figs = assemble.figures(data)
    data["figures"] = figs
    data["traceability"] = traceability.matrix(by_rule, bench, figs)
    data["traceability_error"] = trace_error
    data["bench_used"] = bool(bench)
    data["meta"] = provenance()
    data["meta"]["note"] = a.note
    if a.source_label:
        data["meta"]["commit"] = a.source_label
        data["meta"]["firmware_modified"] = False
    data["meta"].update(
        {
            "runs": len(results),
            "simulated_s": round(sum(r.get("simulated_s", 0) for r in results), 1),
            "wall_s_runs": round(wall_runs, 1),
            "jobs": n_jobs,
            "full": a.full,
            "level": R.LEVEL,
            "loads_ohm": a.loads,
            "command": " ".join(["python -m tools.report"] + _shown_args(argv)),
        }
    )
    data["meta"]["wall_s"] = round(time.perf_counter() - t0, 1)
    render.write_all(data, out)
    traceability.write_csv(data["traceability"], os.path.join(out, "traceability.csv"))
    data["meta"]["wall_s"] = round(time.perf_counter() - t0, 1)
    render.write_html(data, out)  # again, with the final wall time
    if a.copy_to:
        os.makedirs(a.copy_to, exist_ok=True)
        for name in os.listdir(out):
            src = os.path.join(out, name)
            if os.path.isfile(src):
                shutil.copy2(src, os.path.join(a.copy_to, name))
    errors = [r for r in results if "error" in r]
    tc = data["figures"].get("trace_check", "")
    if tc.startswith(("TRACE", "NO OUTPUT")):
        print("report: WARNING: " + tc, file=sys.stderr)
    if not a.quiet:
        print(
            "report: %s/index.html (%d runs, %.0f s simulated, %.0f s wall)%s"
            % (
                out,
                len(results),
                data["meta"]["simulated_s"],
                data["meta"]["wall_s"],
                "; %d runs FAILED" % len(errors) if errors else "",
            ),
            file=sys.stderr,
        )
        for r in errors:
            print("  %s: %s" % (r["name"], r["error"]), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
