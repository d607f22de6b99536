"""The runs behind the report: scenarios for the simulator (DESIGN 6), run with its own API
(tools.sim.api), each trace read back and reduced to figures (tools.report.measure) in the
worker process, so only small dicts travel back.

Every figure comes from the trace of the firmware's own control loop on the sim board; the
program files only name what was run (area, side, probe, stroke length for the r.m.s. window).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time

import numpy as np

from tools.report import measure as M

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESETS_DIR = os.path.join(ROOT, "firmware", "presets")

LOADS_OHM = (500, 2000, 10000, 20000, 100000)
CAPS = ("home", "pro")
LEVEL = 10  # the client's highest level: the most each step delivers
START_MS = 5000  # power on at 0 (long press), probes on skin at 2.5 s, POWER short at 5 s
CONTACT_MS = 2500
NO_CONTACT_RUN_MS = 12000  # a load the firmware refuses (500 Ohm): the program never starts
REDUCED_STROKES = 3  # the protocol's minimum; the last stroke still reaches the client level
# the current-vs-load sweep: one run per cap, the load raised every SWEEP_DWELL_MS in the last
# stroke of r_max (a higher load only lowers the current: no soft start needed between values)
SWEEP_LOADS = (1500, 2000, 5000, 10000, 15000, 20000, 25000, 30000, 40000, 50000, 70000)
SWEEP_LOADS += (100000, 150000, 190000, 250000)
SWEEP_DWELL_MS = 800
FAULT_AT_MS = 12000
FAULT_OFFSETS_MS = (0, 3, 7)  # three instants in the 10 ms period of the r_char train
PROBE_LOADS = (500, 500000)
SIM_FAULTS = (
    "dac_stuck_high",
    "sense_open",
    "sense_stuck_high",
    "short_circuit",
    "i2c_error",
    "battery_low",
    "loop_stall",
)  # DESIGN 6 (vhw.stage.FAULTS holds the same list; the scenario validator checks it)

# Characterisation programs (custom programs, loaded from the device's /programs folder like
# any maker's file). r_char: a steady 100 Hz biphasic train for the contact and fault runs;
# r_max: 1000 uA asked, to show the caps and the compliance limit.
CHAR_PROGRAM = {
    "format": 1,
    "id": "r_char",
    "name": "Report char",
    "purpose": "Report: a steady 100 Hz biphasic train for the contact and fault runs.",
    "probe": "disk",
    "steps": [
        {
            "area": "forehead",
            "side": "centre",
            "movement": "hold",
            "strokes": 3,
            "stroke_s": 60,
            "shape": "biphasic",
            "freq_hz": 100,
            "intensity_ua": [40, 400],
        }
    ],
}
MAX_PROGRAM = {
    "format": 1,
    "id": "r_max",
    "name": "Report max",
    "purpose": "Report: 1000 uA asked at 10 Hz, to show the caps and the compliance limit.",
    "probe": "disk",
    "steps": [
        {
            "area": "forehead",
            "side": "centre",
            "movement": "hold",
            "strokes": 3,
            "stroke_s": 30,
            "shape": "biphasic",
            "freq_hz": 10,
            "intensity_ua": [10, 1000],
        }
    ],
}


# ---- programs ----


def load_program(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def preset_paths() -> list[str]:
    names = sorted(n for n in os.listdir(PRESETS_DIR) if n.endswith(".json"))
    order = ("lift", "rejuvenate", "eye", "tone", "pores", "relax")
    names.sort(key=lambda n: (order.index(n[:-5]) if n[:-5] in order else 99, n))
    return [os.path.join(PRESETS_DIR, n) for n in names]


def total_ms(prog: dict) -> int:
    return sum(int(s["strokes"] * s["stroke_s"] * 1000) for s in prog.get("steps", []))


def rename_program(prog: dict) -> dict:
    """A copy of prog installed as a custom program r_<id> (a custom program may not reuse a
    shipped id)."""
    p = copy.deepcopy(prog)
    pid = str(prog.get("id", "prog"))
    p["id"] = ("r_" + pid)[:16]
    p["name"] = ("R " + str(prog.get("name", pid)))[:16]
    return p


def reduce_program(prog: dict) -> tuple[dict, bool]:
    """The same program with every step cut to REDUCED_STROKES strokes (same stroke length,
    waveform, intensity range, probe, area, side): the last stroke reaches the same level as
    in the full program, so each step's figures at the top are the same, in about half the
    time. Installed as r_<id>; kept whole when the cut program would be shorter than the
    validator's 60 s minimum. Returns (program, reduced?)."""
    p = rename_program(prog)
    changed = False
    for s in p.get("steps", []):
        if isinstance(s.get("strokes"), int) and s["strokes"] > REDUCED_STROKES:
            s["strokes"] = REDUCED_STROKES
            changed = True
    if total_ms(p) < 60000:
        return rename_program(prog), False
    return p, changed


# ---- distinct step configurations ----

# What makes a step's output: everything but where the probes go (area, side, movement) and how
# many strokes (the last stroke reaches the client's level whatever their number); the area
# only through the eye cap (any area naming "eye": 200 uA), the probe through its density cap.
_PLACE_KEYS = ("area", "side", "movement", "strokes")


def config_key(step: dict, prog_probe: str) -> str:
    d = {k: v for k, v in step.items() if k not in _PLACE_KEYS}
    d["probe"] = step.get("probe", prog_probe)
    d["eye"] = "eye" in str(step.get("area", ""))
    return json.dumps(d, sort_keys=True)


CHUNK_S = 120  # a configuration program's length (the validator wants 60 s .. 30 min)


def build_configs(progs: list[dict]) -> tuple[list[dict], list[dict]]:
    """Every distinct step configuration of the programs, each made a step of its own in a few
    custom programs (r_c1, r_c2, ...): a non-eye step placed on the forehead (centre), an eye
    step on the eye contour (left and right twins: no centre there), 3 strokes of its own
    length. Returns (configs, chunk programs); a config is {id, key, program, step (index of
    its step in that program), members: [(program label, step index)]}."""
    configs: list[dict] = []
    by_key: dict[str, dict] = {}
    for pr in progs:
        prog = pr["original"]
        for k, st in enumerate(prog.get("steps", [])):
            key = config_key(st, prog.get("probe"))
            c = by_key.get(key)
            if c is None:
                c = {"id": "C%d" % (len(configs) + 1), "key": key, "members": [], "src": st}
                c["probe"] = st.get("probe", prog.get("probe"))
                c["eye"] = "eye" in str(st.get("area", ""))
                by_key[key] = c
                configs.append(c)
            c["members"].append((pr["label"], k))
    chunks: list[dict] = []
    cur: list[dict] = []
    cur_ms = 0

    def close():
        n = len(chunks) + 1
        steps = []
        for c in cur:
            c["program"] = "r_c%d" % n
            c["step"] = len(steps)
            base = {k: v for k, v in c["src"].items() if k not in _PLACE_KEYS}
            base.update({"movement": "hold", "strokes": REDUCED_STROKES, "probe": c["probe"]})
            if c["eye"]:
                steps.append(dict(base, area="eye_contour", side="left"))
                steps.append(dict(base, area="eye_contour", side="right"))
            else:
                steps.append(dict(base, area="forehead", side="centre"))
        chunks.append(
            {
                "format": 1,
                "id": "r_c%d" % n,
                "name": "Report c%d" % n,
                "purpose": "Report: distinct step configurations of the programs, one each.",
                "probe": "disk",
                "steps": steps,
            }
        )

    for c in configs:
        ms = int(c["src"]["stroke_s"] * 1000) * REDUCED_STROKES * (2 if c["eye"] else 1)
        cur.append(c)
        cur_ms += ms
        if cur_ms >= CHUNK_S * 1000:
            close()
            cur, cur_ms = [], 0
    if cur:
        if cur_ms < 60000 and chunks:
            # too short for a program of its own: join the previous chunk
            last = chunks.pop()
            prev = [c for c in configs if c.get("program") == last["id"]]
            cur = prev + cur
        close()
    for c in configs:
        del c["src"]
    return configs, chunks


# ---- scenarios ----


def _start_events(load_ohm: int) -> list[dict]:
    return [
        {"t_ms": 0, "press": "power", "hold_ms": 1500},
        {"t_ms": CONTACT_MS, "contact": True, "impedance_ohm": load_ohm},
        {"t_ms": START_MS, "press": "power"},
    ]


def program_job(prog: dict, load_ohm: int, cap: str, label: str, closeups=False) -> dict:
    """Run `prog` (a custom program under the device's /programs) at load and cap, level 10."""
    if load_ohm < 1000:
        dur = NO_CONTACT_RUN_MS
    else:
        # time counts on skin only; the margin covers the step changes and the last period
        dur = START_MS + total_ms(prog) * 21 // 20 + 8000
    return {
        "kind": "program",
        "name": "%s-%s-%d" % (label, cap, load_ohm),
        "label": label,
        "program": prog,
        "load_ohm": load_ohm,
        "cap": cap,
        "closeups": closeups,
        "scenario": {"duration_ms": dur, "events": _start_events(load_ohm)},
        "cost": dur * (3 if load_ohm >= 1000 else 1),
    }


def compliance_job(cap: str) -> dict:
    """r_max at 1500 Ohm until its last stroke has reached the top (the soft start takes 10 s
    to 1000 uA), then the load raised step by step through SWEEP_LOADS."""
    st = MAX_PROGRAM["steps"][0]
    top = START_MS + (st["strokes"] - 1) * st["stroke_s"] * 1000 + 12000
    ev = _start_events(SWEEP_LOADS[0])
    sched = []
    t = top
    for z in SWEEP_LOADS:
        sched.append((t, z))
        ev.append({"t_ms": t, "contact": True, "impedance_ohm": z})
        t += SWEEP_DWELL_MS
    return {
        "kind": "load_sweep",
        "name": "r_max-sweep-%s" % cap,
        "program": MAX_PROGRAM,
        "load_ohm": SWEEP_LOADS[0],
        "cap": cap,
        "schedule": sched,
        "scenario": {"duration_ms": t, "events": ev},
        "cost": t * 3,
    }


def contact_sweep_job() -> dict:
    """Load stepped through the contact window's edges, each value held 250 ms: up through
    the upper edge, back down, then down through the lower edge and back up."""
    ev = _start_events(20000)
    sched: list[tuple[int, int, str]] = []
    t = 9000
    dwell = 250
    phases = (
        ("up_high", range(170000, 215001, 1000)),
        ("down_high", range(215000, 164999, -1000)),
        ("settle", (20000, 20000, 20000, 20000)),
        ("down_low", range(1300, 899, -10)),
        ("up_low", range(900, 1401, 10)),
    )
    for name, zs in phases:
        for z in zs:
            sched.append((t, z, name))
            t += dwell
    for tm, z, _ in sched:
        ev.append({"t_ms": tm, "contact": True, "impedance_ohm": z})
    return {
        "kind": "contact_sweep",
        "name": "contact-sweep",
        "program": CHAR_PROGRAM,
        "load_ohm": 20000,
        "cap": "pro",
        "schedule": sched,
        "scenario": {"duration_ms": t + 500, "events": ev},
        "cost": t,
    }


def reactions_job() -> dict:
    """Probes lifted and put back, and the client pausing, at instants spread over a period
    and a tick (offsets of 0.37 s), at 20 kOhm."""
    ev = _start_events(20000)
    lifts = []
    pauses = []
    t = 10000
    for k in range(10):
        tl = t + k * 37  # ms: a different phase of the 10 ms period and the 2 ms tick each time
        lifts.append((tl, tl + 1000))
        ev.append({"t_ms": tl, "contact": False})
        ev.append({"t_ms": tl + 1000, "contact": True, "impedance_ohm": 20000})
        t += 4000  # 3 s back on skin: the soft start measured over 2 s
    for k in range(4):
        tp = t + k * 23
        pauses.append((tp, tp + 2000))
        ev.append({"t_ms": tp, "press": "power", "hold_ms": 100})
        ev.append({"t_ms": tp + 2000, "press": "power", "hold_ms": 100})
        t += 5000
    return {
        "kind": "reactions",
        "name": "reactions",
        "program": CHAR_PROGRAM,
        "load_ohm": 20000,
        "cap": "pro",
        "lifts": lifts,
        "pauses": pauses,
        "scenario": {"duration_ms": t + 1000, "events": ev},
        "cost": t,
    }


def probe_job(load_ohm: int) -> dict:
    """A program started with the probes on a load outside the contact window: the firmware
    only probes for contact (DESIGN 4.5)."""
    return {
        "kind": "probe",
        "name": "probe-%d" % load_ohm,
        "program": CHAR_PROGRAM,
        "load_ohm": load_ohm,
        "cap": "pro",
        "scenario": {"duration_ms": 10000, "events": _start_events(load_ohm)},
        "window_ms": (START_MS + 500, 10000),
        "cost": 10000,
    }


def fault_job(fault: str, offset_ms: int) -> dict:
    """r_char running at 20 kOhm (at its first stroke's level), then a simulator fault at
    FAULT_AT_MS + offset_ms (different instants of the pulse period)."""
    tf = FAULT_AT_MS + offset_ms
    ev = _start_events(20000) + [{"t_ms": tf, "fault": fault}]
    return {
        "kind": "fault",
        "name": "fault-%s-%d" % (fault, offset_ms),
        "program": CHAR_PROGRAM,
        "load_ohm": 20000,
        "cap": "pro",
        "fault": fault,
        "fault_at_us": tf * 1000,
        "scenario": {"duration_ms": tf + 2500, "events": ev},
        "cost": tf + 2500,
    }


# ---- running one job (in a worker process) ----


def _write_device_fs(fs: str, prog: dict | None, cap: str) -> None:
    os.makedirs(fs, exist_ok=True)
    with open(os.path.join(fs, "settings.json"), "w") as f:
        json.dump({"mode": cap, "level": LEVEL}, f)
    if prog is not None:
        d = os.path.join(fs, "programs")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, prog["id"] + ".json"), "w") as f:
            json.dump(prog, f)


def _device_log(fs: str) -> tuple[list[str], float | None]:
    """The device's session log: its error lines, and the charge its session records say the
    firmware delivered (its own counters, whole µC per side), None without a record."""
    errors = []
    charge = None
    p = os.path.join(fs, "log.jsonl")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(r, dict):
                    continue
                if "error" in r:
                    errors.append(str(r["error"]))
                elif isinstance(r.get("charge_uc"), dict):
                    charge = (charge or 0) + sum(
                        v for v in r["charge_uc"].values() if isinstance(v, (int, float))
                    )
    return errors, charge


class Rows:
    """The trace as numpy arrays (DESIGN 6 columns)."""

    def __init__(self, tr):
        self.t = np.asarray(tr.t, dtype=np.int64)
        self.cmd = np.asarray(tr.cmd, dtype=np.int64)
        self.meas = np.asarray(tr.meas, dtype=np.int64)
        self.contact = np.asarray(tr.contact, dtype=np.int8)
        self.z = np.asarray([-1 if z is None else z for z in tr.z], dtype=np.int64)
        self.state = np.asarray(tr.state)
        self.program = np.asarray(tr.program)
        self.step = np.asarray([-1 if s is None else s for s in tr.step], dtype=np.int64)
        self.fault = np.asarray(tr.fault)
        self.end = int(self.t[-1]) if len(self.t) else 0

    def at(self, t_us: int) -> int:
        """Index of the row holding at t_us."""
        return max(0, int(np.searchsorted(self.t, t_us, side="right")) - 1)


def run_job(job: dict, work: str) -> dict:
    """Run one job's scenario on the sim board and reduce its trace to figures."""
    from tools.sim import api
    from tools.sim import summary as _summary

    out = os.path.join(work, job["name"])
    api.clean(out)
    fs = os.path.join(out, api.DEVICE_FS)
    prog = job.get("program")
    _write_device_fs(fs, prog, job.get("cap", "pro"))
    scn = api.validate(job["scenario"], where=job["name"])
    t0 = time.perf_counter()
    api.run_cpython(scn, out, prog["id"] if prog else None)
    wall = time.perf_counter() - t0
    tr = _summary.read(out)
    summ = _summary.compute(tr, wall_s=wall)
    rows = Rows(tr)
    res = {
        "name": job["name"],
        "kind": job["kind"],
        "wall_s": wall,
        "simulated_s": summ["simulated_s"],
        "rows": len(rows.t),
        "summary": {
            k: summ.get(k)
            for k in (
                "max_abs_measured_ua",
                "max_abs_commanded_ua",
                "net_charge_uc",
                "total_charge_uc",
                "faults",
                "steps_completed",
                "program_completed",
                "ceiling_ua",
                "max_abs_measured_no_contact_ua",
                "max_abs_measured_in_fault_ua",
                "firmware_exceptions",
                "final_state",
            )
        },
    }
    res["device_errors"], res["device_charge_uc"] = _device_log(fs)
    for k in ("label", "load_ohm", "cap", "fault"):
        if k in job:
            res[k] = job[k]
    fn = _ANALYSE[job["kind"]]
    res.update(fn(job, rows))
    if not job.get("keep"):
        shutil.rmtree(out, ignore_errors=True)
    return res


def _active(rows: Rows, pid: str) -> np.ndarray:
    return (rows.program == pid) & ((rows.state == "running") | (rows.state == "paused"))


def step_spans(rows: Rows, pid: str) -> list[tuple[int, int, int]]:
    """(step index, first row, row after the last) of each run of one step, in order."""
    act = _active(rows, pid)
    idx = np.flatnonzero(act)
    if len(idx) == 0:
        return []
    spans = []
    st = rows.step
    i0 = idx[0]
    prev = idx[0]
    for i in idx[1:]:
        if i != prev + 1 or st[i] != st[prev]:
            spans.append((int(st[i0]), int(i0), int(prev) + 1))
            i0 = i
        prev = i
    spans.append((int(st[i0]), int(i0), int(prev) + 1))
    # a step paused and resumed stays one span: merge neighbours of the same step
    merged: list[tuple[int, int, int]] = []
    for s in spans:
        if merged and merged[-1][0] == s[0] and s[1] == merged[-1][2]:
            merged[-1] = (s[0], merged[-1][1], s[2])
        else:
            merged.append(s)
    return merged


def _t(rows: Rows, i: int) -> int:
    return int(rows.t[i]) if i < len(rows.t) else rows.end


def _closeup(rows: Rows, t0: int, t1: int) -> dict:
    i0 = rows.at(t0)
    i1 = int(np.searchsorted(rows.t, t1, side="right"))
    t = rows.t[i0:i1]
    return {
        "t_us": [int(x - t0) for x in np.maximum(t, t0)],
        "cmd": [int(x) for x in rows.cmd[i0:i1]],
        "meas": [int(x) for x in rows.meas[i0:i1]],
        "t_end_us": int(t1 - t0),
    }


def analyse_program(job: dict, rows: Rows) -> dict:
    from firmware.boards import sim as board

    prog = job["program"]
    pid = prog["id"]
    load = job["load_ohm"]
    steps_def = prog["steps"]
    spans = step_spans(rows, pid)
    seen = set()
    shown = set()
    steps = []
    extensions = 0
    for k, i0, i1 in spans:
        if k < 0 or k >= len(steps_def):
            continue
        if k in seen:
            extensions += 1
            continue
        seen.add(k)
        sd = steps_def[k]
        ta, tb = _t(rows, i0), _t(rows, i1)
        f = M.step_figures(
            rows.t[i0:i1],
            rows.meas[i0:i1],
            rows.cmd[i0:i1],
            ta,
            tb,
            load,
            int(sd["stroke_s"] * 1_000_000),
        )
        dt = M.durations(rows.t[i0:i1], tb)
        f["contact_s"] = float((dt * (rows.contact[i0:i1] > 0)).sum() / 1e6)
        probe = sd.get("probe", prog.get("probe"))
        f["dens"] = {
            p: M.densities(f["rms_ua"], f["peak_ua"], f["power_mw"], a)
            for p, a in board.PROBE_AREA_MM2.items()
        }
        f.update(
            {
                "step": k,
                "area": sd.get("area"),
                "side": sd.get("side"),
                "probe": probe,
                "shape": sd.get("shape"),
                "t0_s": ta / 1e6,
            }
        )
        if job.get("closeups") and f.get("period_us"):
            key = (sd.get("shape"), sd.get("freq_hz"), sd.get("polarity"))
            if key not in shown:
                shown.add(key)
                f["closeup"] = _step_closeup(rows, i0, i1, f, sd)
        steps.append(f)
    act = _active(rows, pid)
    idx = np.flatnonzero(act)
    run: dict = {"steps": steps, "balance_extensions": extensions}
    if len(idx):
        ta, tb = _t(rows, idx[0]), _t(rows, idx[-1] + 1)
        run["active_s"] = (tb - ta) / 1e6
        run["window20"] = M.windows(rows.t, rows.meas, rows.end, ta, tb)
    # no step ran (a load outside the contact window): what flowed is the contact probe
    p = M.pulses(rows.t, rows.meas, rows.end)
    run["peak_ua_any"] = int(p["peak"].max()) if len(p["peak"]) else 0
    run["contact_s"] = float((M.durations(rows.t, rows.end) * (rows.contact > 0)).sum() / 1e6)
    return run


def _step_closeup(rows: Rows, i0: int, i1: int, f: dict, sd: dict) -> dict:
    """Two periods at the step's top level, and for a ramped envelope the last stroke's
    pulse amplitudes."""
    t_end = _t(rows, i1)
    p, _ = M.split_probes(M.pulses(rows.t[i0:i1], rows.meas[i0:i1], t_end))
    per = f["period_us"]
    top = p["peak"].max()
    lead = 1 if f.get("lead") == "+" else -1
    at_top = p["peak"] == top
    cand = np.flatnonzero(at_top & (p["sign"] == lead))
    # a lead phase followed by three more phases at the top: two whole periods to show
    whole = [j for j in cand if j + 3 < len(at_top) and at_top[j : j + 4].all()]
    if whole:
        cand = np.asarray(whole)
    k = int(cand[len(cand) // 2]) if len(cand) else 0
    a = int(p["start"][k] - 0.15 * per)
    b = int(p["start"][k] + 2.15 * per)
    if f.get("polarity_mode") == "monophasic":
        # show the polarity flip: the last pulses of one polarity and the first of the next
        flips = np.flatnonzero(p["sign"][1:] != p["sign"][:-1]) + 1
        good = [j for j in flips if p["peak"][j] == top and p["peak"][j - 1] == top]
        if good:
            j = good[0]
            a = int(p["start"][j] - 2.3 * per)
            b = int(p["start"][j] + 2.3 * per)
    out = {"zoom": _closeup(rows, a, b), "t0_s": a / 1e6}
    if sd.get("shape") == "wave":
        w0 = t_end - int(sd["stroke_s"] * 1e6)
        m = p["start"] >= w0
        st = p["start"][m]
        pk = p["peak"][m] * p["sign"][m]
        step = max(1, len(st) // 800)
        out["envelope"] = {
            "t_s": [float((x - w0) / 1e6) for x in st[::step]],
            "ua": [int(x) for x in pk[::step]],
        }
    return out


def analyse_contact_sweep(job: dict, rows: Rows) -> dict:
    sched = job["schedule"]
    dwell = []
    for n, (tm, z, phase) in enumerate(sched):
        a = tm * 1000
        b = sched[n + 1][0] * 1000 if n + 1 < len(sched) else rows.end
        i_a = rows.at(a)
        before = int(rows.contact[max(0, i_a - 1)]) if i_a else 0
        i_b = rows.at(b - 1)
        after = int(rows.contact[i_b])
        seg = slice(i_a, i_b + 1)
        zz = rows.z[seg]
        zz = zz[zz >= 0]
        change_ms = None
        if after != before:
            c = rows.contact[seg]
            j = np.flatnonzero(c == after)
            if len(j):
                change_ms = (int(rows.t[i_a + j[0]]) - a) / 1000
        dwell.append(
            {
                "t_s": tm / 1000,
                "z_ohm": z,
                "phase": phase,
                "contact_before": before,
                "contact": after,
                "change_ms": change_ms,
                "z_est_ohm": int(np.median(zz)) if len(zz) else None,
            }
        )

    def first(phase, want):
        for d in dwell:
            if d["phase"] == phase and d["contact"] == want:
                return d
        return None

    res = {"dwell": dwell, "dwell_ms": 250}
    b_hi = first("up_high", 0)
    m_hi = first("down_high", 1)
    b_lo = first("down_low", 0)
    m_lo = first("up_low", 1)
    res["break_high_ohm"] = b_hi["z_ohm"] if b_hi else None
    res["make_high_ohm"] = m_hi["z_ohm"] if m_hi else None
    res["break_low_ohm"] = b_lo["z_ohm"] if b_lo else None
    res["make_low_ohm"] = m_lo["z_ohm"] if m_lo else None
    res["break_ms"] = [d["change_ms"] for d in (b_hi, b_lo) if d and d["change_ms"] is not None]
    res["make_ms"] = [d["change_ms"] for d in (m_hi, m_lo) if d and d["change_ms"] is not None]
    res["faults"] = sorted({f for f in rows.fault if f})
    return res


def analyse_reactions(job: dict, rows: Rows) -> dict:
    probe = M.PROBE_MAX_UA
    out_l = []
    for tl, tt in job["lifts"]:
        a, b = tl * 1000, tt * 1000
        i_a, i_b = rows.at(a), rows.at(b)
        seg = slice(i_a, i_b)
        cmd = np.abs(rows.cmd[seg])
        big = np.flatnonzero(cmd > probe)
        if len(big):
            j = i_a + big[-1]
            zero_ms = (_t(rows, j + 1) - a) / 1000
        else:
            zero_ms = 0.0
        c = np.flatnonzero(rows.contact[seg] == 0)
        lost_ms = (int(rows.t[i_a + c[0]]) - a) / 1000 if len(c) else None
        # back on skin: contact decision, then the first output above a probe
        i_c = rows.at(b + 2_900_000)
        seg2 = slice(i_b, i_c)
        c2 = np.flatnonzero(rows.contact[seg2] == 1)
        made_ms = (int(rows.t[i_b + c2[0]]) - b) / 1000 if len(c2) else None
        o2 = np.flatnonzero(np.abs(rows.meas[seg2]) > probe)
        out_ms = (int(rows.t[i_b + o2[0]]) - b) / 1000 if len(o2) else None
        p = M.pulses(rows.t[seg2], rows.meas[seg2], _t(rows, i_c))
        p, _ = M.split_probes(p)
        out_l.append(
            {
                "lift_s": tl / 1000,
                "output_zero_ms": zero_ms,
                "contact_lost_ms": lost_ms,
                "contact_made_ms": made_ms,
                "output_back_ms": out_ms,
                "first_pulse_ua": int(p["peak"][0]) if len(p["peak"]) else None,
                "rise_ua_per_s_max": M.rise_rate(p),
            }
        )
    out_p = []
    for tp, tr_ in job["pauses"]:
        rel = tp * 1000 + 100_000  # SHORT fires on release (hold 100 ms)
        i_a, i_b = rows.at(rel), rows.at(tr_ * 1000)
        seg = slice(i_a, i_b)
        big = np.flatnonzero(np.abs(rows.meas[seg]) > probe)
        zero_ms = (_t(rows, i_a + big[-1] + 1) - rel) / 1000 if len(big) else 0.0
        st = rows.state[seg]
        ps = np.flatnonzero(st == "paused")
        out_p.append(
            {
                "release_s": rel / 1e6,
                "output_zero_ms": zero_ms,
                "paused_ms": (int(rows.t[i_a + ps[0]]) - rel) / 1000 if len(ps) else None,
                "during_pause_max_ua": int(np.abs(rows.meas[i_a + ps[0] : i_b]).max())
                if len(ps)
                else None,
            }
        )
    return {"lifts": out_l, "pauses": out_p}


def analyse_probe(job: dict, rows: Rows) -> dict:
    a, b = (x * 1000 for x in job["window_ms"])
    i_a, i_b = rows.at(a), rows.at(b)
    seg = slice(i_a, i_b)
    res: dict = {"window_s": (b - a) / 1e6}
    for name, v in (("cmd", rows.cmd[seg]), ("meas", rows.meas[seg])):
        p = M.pulses(rows.t[seg], v, b)
        n = len(p["start"])
        if n == 0:
            res[name] = {"pulses": 0}
            continue
        w = p["end"] - p["start"]
        on = int(np.minimum(p["end"], b).sum() - np.maximum(p["start"], a).sum())
        res[name] = {
            "pulses": n,
            "peak_ua": int(p["peak"].max()),
            "width_us_max": int(w.max()),
            "width_us_median": float(np.median(w)),
            "period_ms_median": float(np.median(np.diff(p["start"])) / 1000) if n > 1 else None,
            "duty_pct": on * 100.0 / (b - a),
            "net_nc": float(p["q"].sum() / 1000),
        }
    res["contact_any"] = int(rows.contact[seg].max()) if i_b > i_a else 0
    res["states"] = sorted(set(rows.state[seg]))
    res["faults"] = sorted({f for f in rows.fault if f})
    return res


def analyse_fault(job: dict, rows: Rows) -> dict:
    tf = job["fault_at_us"]
    i_f = rows.at(tf)
    seg = slice(i_f, len(rows.t))
    fl = rows.fault[seg]
    j = np.flatnonzero(fl != "")
    res: dict = {"level_before_ua": int(np.abs(rows.meas[max(0, i_f - 2000) : i_f]).max())}
    if len(j):
        res["code"] = str(fl[j[0]])
        res["detect_ms"] = (int(rows.t[i_f + j[0]]) - tf) / 1000
    else:
        res["code"] = None
        res["detect_ms"] = None
    m = np.abs(rows.meas[seg])
    nz = np.flatnonzero(m > 0)
    if len(nz):
        last = i_f + nz[-1]
        off = _t(rows, last + 1)
    else:
        off = tf
    res["output_off_ms"] = (off - tf) / 1000
    ig = M.integrals(rows.t, rows.meas, rows.end, tf, off)
    res["charge_before_off_nc"] = ig["qa"] / 1000
    res["peak_after_fault_ua"] = int(m.max()) if len(m) else 0
    st = rows.state[seg]
    res["final_state"] = str(rows.state[-1]) if len(rows.state) else None
    res["states"] = sorted(set(st))
    # OUT_EN is not in the trace; the output being off is the measured current staying zero
    return res


def analyse_load_sweep(job: dict, rows: Rows) -> dict:
    sched = job["schedule"]
    pts = []
    for n, (tm, z) in enumerate(sched):
        a = tm * 1000
        b = sched[n + 1][0] * 1000 if n + 1 < len(sched) else rows.end
        w0 = max(a, b - 500_000)  # the last 500 ms of the dwell: settled
        i0, i1 = rows.at(w0), rows.at(b - 1) + 1
        m = np.abs(rows.meas[i0:i1])
        c = np.abs(rows.cmd[i0:i1])
        ig = M.integrals(rows.t, rows.meas, rows.end, w0, b)
        pk = int(m.max()) if len(m) else 0
        pts.append(
            {
                "load_ohm": z,
                "peak_ua": pk,
                "peak_v": pk * z / 1e6,
                "peak_cmd_ua": int(c.max()) if len(c) else 0,
                "rms_ua": (ig["i2"] / ig["T_us"]) ** 0.5 if ig["T_us"] else 0.0,
                "contact": int(rows.contact[i1 - 1]) if i1 > i0 else 0,
                "stimulated": pk > M.PROBE_MAX_UA,
            }
        )
    return {"points": pts, "faults": sorted({f for f in rows.fault if f})}


_ANALYSE = {
    "load_sweep": analyse_load_sweep,
    "program": analyse_program,
    "contact_sweep": analyse_contact_sweep,
    "reactions": analyse_reactions,
    "probe": analyse_probe,
    "fault": analyse_fault,
}


def worker(args: tuple[dict, str]) -> dict:
    job, work = args
    try:
        return run_job(job, work)
    except Exception as e:  # noqa: BLE001 - one failed run is reported, the rest go on
        import traceback

        return {
            "name": job["name"],
            "kind": job["kind"],
            "error": "%s: %s" % (type(e).__name__, e),
            "traceback": traceback.format_exc(),
            **{k: job[k] for k in ("label", "load_ohm", "cap", "fault") if k in job},
        }
