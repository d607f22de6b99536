"""The simulator as a library (host side): what the CLI, the bench and the tests call.

from tools.sim import api
summary, trace = api.simulate(api.load("tools/sim/scenarios/default.json"), "out/x")
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

from tools.sim import scenario as _scenario
from tools.sim import summary as _summary
from tools.sim import writers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "scenarios")
# What a run writes into its folder; removed first so that a stale file never passes for new.
OUTPUTS = (
    "trace.csv",
    "trace.vcd",
    "trace.png",
    "summary.json",
    "trace_events.jsonl",
    "signals.csv",
    "sim_result.json",
)
DEVICE_FS = "device_fs"  # the device's filesystem (settings.json, log.jsonl) inside the folder

load = _scenario.load
validate = _scenario.validate
ScenarioError = _scenario.ScenarioError


def scenario_path(name: str) -> str:
    return os.path.join(SCENARIOS, name + ".json")


def program_ids() -> list[str] | None:
    """The shipped program ids (firmware/presets/*.json), None when there are none."""
    d = os.path.join(ROOT, "firmware", "presets")
    if not os.path.isdir(d):
        return None
    ids = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".json"))
    return ids or None


def clean(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    for name in OUTPUTS:
        p = os.path.join(out, name)
        if os.path.exists(p):
            os.remove(p)
    fs = os.path.join(out, DEVICE_FS)
    if os.path.isdir(fs):
        shutil.rmtree(fs)


def run_cpython(
    scn: dict, out: str, program: str | None = None, status=None, status_every: int = 250
) -> float:
    """Run the core in this process; returns the wall seconds of the simulation itself."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from vhw import install

    install.install()
    from tools.sim import core

    t0 = time.perf_counter()
    core.run(
        scn,
        out,
        os.path.join(out, DEVICE_FS),
        program=program,
        status=status,
        status_every=status_every,
    )
    return time.perf_counter() - t0


def run_micropython(
    scn: dict, out: str, program: str | None = None, mpy: bool = False, timeout: float = 1800
) -> float:
    """Run the core on the MicroPython VM; the trace comes back through the VM's /out."""
    from tools.mpvm import runner

    with tempfile.TemporaryDirectory(prefix="sim-mp-") as tmp:
        spath = os.path.join(tmp, "scenario.json")
        with open(spath, "w") as f:
            json.dump(scn, f)
        t0 = time.perf_counter()
        rc, stdout, stderr = runner.run_script(
            os.path.join(HERE, "mp_main.py"),
            mpy=mpy,
            out_dir=out,
            timeout=timeout,
            libs=[spath],
            args=(program or "",),
        )
        wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError("MicroPython VM run failed (exit %d):\n%s%s" % (rc, stdout, stderr))
    return wall


def simulate(
    scn: dict,
    out: str,
    program: str | None = None,
    runtime: str = "cpython",
    vcd: bool = True,
    png: bool = True,
    title: str = "",
    status=None,
    status_every: int = 250,
    mpy: bool = False,
    timeout: float = 1800,
):
    """Run a normalised scenario and write every output; returns (summary, trace)."""
    program = program or scn.get("program")
    clean(out)
    if runtime == "micropython":
        wall = run_micropython(scn, out, program, mpy=mpy, timeout=timeout)
    else:
        wall = run_cpython(scn, out, program, status=status, status_every=status_every)
    tr = _summary.read(out)
    summ = _summary.compute(tr, runtime=runtime, wall_s=wall)
    _summary.write(summ, out)
    if vcd:
        writers.write_vcd(tr, os.path.join(out, "trace.vcd"))
    if png:
        writers.write_png(tr, summ, os.path.join(out, "trace.png"), title=title)
    return summ, tr
