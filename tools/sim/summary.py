"""Read a simulator run back (trace.csv, trace_events.jsonl, signals.csv, sim_result.json) and
compute summary.json (DESIGN section 6). Host side only."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field

from tools.sim.core import COLUMNS

SIDES = ("left", "right", "centre")
STATES = ("off", "selftest", "idle", "running", "paused", "complete", "fault")


@dataclass
class Trace:
    t: list[int] = field(default_factory=list)
    cmd: list[int] = field(default_factory=list)
    meas: list[int] = field(default_factory=list)
    contact: list[int] = field(default_factory=list)
    z: list[int | None] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    program: list[str] = field(default_factory=list)
    step: list[int | None] = field(default_factory=list)
    fault: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    signals: list[tuple[int, str, int]] = field(default_factory=list)
    result: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t)


def read(out_dir: str | os.PathLike[str]) -> Trace:
    """Load the files the core wrote into out_dir."""
    tr = Trace()
    path = os.path.join(out_dir, "trace.csv")
    with open(path, newline="") as f:
        rd = csv.reader(f)
        header = next(rd)
        if ",".join(header) != COLUMNS:
            raise ValueError("%s: unexpected columns %s" % (path, header))
        for r in rd:
            tr.t.append(int(r[0]))
            tr.cmd.append(int(r[1]))
            tr.meas.append(int(r[2]))
            tr.contact.append(int(r[3]))
            tr.z.append(int(r[4]) if r[4] else None)
            tr.state.append(r[5])
            tr.program.append(r[6])
            tr.step.append(int(r[7]) if r[7] else None)
            tr.fault.append(r[8])
    ev = os.path.join(out_dir, "trace_events.jsonl")
    if os.path.exists(ev):
        with open(ev) as f:
            tr.events = [json.loads(line) for line in f if line.strip()]
    sig = os.path.join(out_dir, "signals.csv")
    if os.path.exists(sig):
        with open(sig, newline="") as f:
            rd = csv.reader(f)
            next(rd, None)
            tr.signals = [(int(a), b, int(c)) for a, b, c in rd]
    res = os.path.join(out_dir, "sim_result.json")
    if os.path.exists(res):
        with open(res) as f:
            tr.result = json.load(f)
    return tr


def session_bounds(tr: Trace) -> list[tuple[int, int]]:
    """(start, end) trace times of each session, from the events; one span if none."""
    spans = []
    start = None
    for e in tr.events:
        if e["kind"] == "session_start":
            start = e["t_us"]
        elif e["kind"] == "session_end" and start is not None:
            spans.append((start, e["t_us"]))
            start = None
    if not spans and tr.t:
        spans.append((tr.t[0], tr.t[-1]))
    return spans


def durations(tr: Trace) -> list[int]:
    """How long each row's values hold: to the next row, never past its session's end."""
    ends = [e for _, e in session_bounds(tr)]
    out = []
    j = 0
    n = len(tr.t)
    for i in range(n):
        t = tr.t[i]
        while j < len(ends) - 1 and t >= ends[j]:
            j += 1
        end = ends[j] if ends else t
        nxt = tr.t[i + 1] if i + 1 < n else end
        if nxt > end:
            nxt = end
        out.append(max(0, nxt - t))
    return out


def step_spans(tr: Trace) -> list[dict]:
    """Program areas over time: [{start_us, end_us, program, step, area, side}] from the state
    events (running or paused with an area), merged while the step stays the same."""
    spans: list[dict] = []
    cur = None
    bounds = session_bounds(tr)
    for e in tr.events:
        if e["kind"] == "session_end":
            if cur is not None:
                cur["end_us"] = e["t_us"]
                spans.append(cur)
                cur = None
            continue
        if e["kind"] != "state":
            continue
        active = e["state"] in ("running", "paused") and e.get("area")
        key = (e.get("program"), e.get("step"), e.get("area"), e.get("side")) if active else None
        if cur is not None and (key is None or key != cur["key"]):
            cur["end_us"] = e["t_us"]
            spans.append(cur)
            cur = None
        if key is not None and cur is None:
            cur = {
                "key": key,
                "start_us": e["t_us"],
                "program": key[0],
                "step": key[1],
                "area": key[2],
                "side": key[3],
            }
    if cur is not None:
        cur["end_us"] = bounds[-1][1] if bounds else cur["start_us"]
        spans.append(cur)
    for s in spans:
        del s["key"]
    return spans


def side_at(spans: list[dict]):
    """A function t -> side (or None) for times in increasing order."""
    idx = [0]

    def f(t: int):
        i = idx[0]
        while i < len(spans) and spans[i]["end_us"] <= t:
            i += 1
        idx[0] = i
        if i < len(spans) and spans[i]["start_us"] <= t:
            return spans[i]["side"]
        return None

    return f


def compute(tr: Trace, runtime: str = "cpython", wall_s: float | None = None) -> dict:
    """summary.json: the DESIGN 6 fields first, then extras."""
    n = len(tr)
    dts = durations(tr)
    spans = step_spans(tr)
    side_of = side_at(spans)
    net_puc = 0  # µA·µs = pC
    abs_puc = 0
    by_side_abs = {s: 0 for s in SIDES}
    by_side_net = {s: 0 for s in SIDES}
    outside = 0
    state_us = {s: 0 for s in STATES}
    contact_us = 0
    max_meas = 0
    max_meas_t = None
    max_cmd = 0
    nocontact_max = 0
    fault_out_max = 0
    faults = []
    last_fault = ""
    for i in range(n):
        dt = dts[i]
        m = tr.meas[i]
        am = abs(m)
        q = m * dt
        net_puc += q
        abs_puc += am * dt
        side = side_of(tr.t[i])
        if side in by_side_abs:
            by_side_abs[side] += am * dt
            by_side_net[side] += q
        else:
            outside += am * dt
        st = tr.state[i]
        if st in state_us:
            state_us[st] += dt
        if tr.contact[i]:
            contact_us += dt
        elif st != "fault" and am > nocontact_max:
            nocontact_max = am
        if st == "fault" and am > fault_out_max:
            fault_out_max = am
        if am > max_meas:
            max_meas = am
            max_meas_t = tr.t[i]
        c = abs(tr.cmd[i])
        if c > max_cmd:
            max_cmd = c
        f = tr.fault[i]
        if f and f != last_fault:
            faults.append({"code": f, "t_us": tr.t[i]})
        last_fault = f
    sessions = tr.result.get("sessions", [])
    ceiling = next((s.get("ceiling_ua") for s in sessions if s.get("ceiling_ua")), None)
    bounds = session_bounds(tr)
    sim_us = sum(e - s for s, e in bounds)
    cues: dict[str, int] = {}
    for s in sessions:
        for k, v in (s.get("cues") or {}).items():
            cues[k] = cues.get(k, 0) + v
    summary = {
        "max_abs_measured_ua": max_meas,
        "max_abs_commanded_ua": max_cmd,
        "net_charge_uc": round(net_puc / 1e6, 3),
        "charge_uc_by_side": {s: round(by_side_abs[s] / 1e6, 3) for s in SIDES},
        "faults": faults,
        "steps_completed": sum(int(s.get("steps_completed") or 0) for s in sessions),
        "program_completed": any(s.get("program_completed") for s in sessions),
        "ceiling_ua": ceiling,
        # extras
        "ceiling_exceeded": ceiling is not None and max_meas > ceiling,
        "max_abs_measured_t_us": max_meas_t,
        "total_charge_uc": round(abs_puc / 1e6, 3),
        "net_charge_uc_by_side": {s: round(by_side_net[s] / 1e6, 3) for s in SIDES},
        "charge_uc_outside_steps": round(outside / 1e6, 3),
        "max_abs_measured_no_contact_ua": nocontact_max,
        "max_abs_measured_in_fault_ua": fault_out_max,
        "final_state": tr.state[-1] if n else None,
        "final_fault": (tr.fault[-1] or None) if n else None,
        "time_in_state_s": {k: round(v / 1e6, 3) for k, v in state_us.items() if v},
        "contact_s": round(contact_us / 1e6, 3),
        "areas": [
            {
                "program": s["program"],
                "step": s["step"],
                "area": s["area"],
                "side": s["side"],
                "start_s": round(s["start_us"] / 1e6, 3),
                "end_s": round(s["end_us"] / 1e6, 3),
            }
            for s in spans
        ],
        "cues": cues,
        "resets": sum(int(s.get("resets") or 0) for s in sessions),
        "firmware_exceptions": [x for s in sessions for x in (s.get("firmware_exceptions") or [])],
        "sessions": [
            {
                k: s.get(k)
                for k in (
                    "day",
                    "final_state",
                    "steps_completed",
                    "program_completed",
                    "resets",
                    "out_en_final",
                    "course_note_at_start",
                    "course_note",
                )
            }
            for s in sessions
        ],
        "simulated_s": round(sim_us / 1e6, 3),
        "rows": n,
        "runtime": runtime,
    }
    if wall_s is not None and wall_s > 0:
        summary["wall_s"] = round(wall_s, 3)
        summary["sim_speedup"] = round(sim_us / 1e6 / wall_s, 1)
    return summary


def write(summary: dict, out_dir: str | os.PathLike[str]) -> str:
    path = os.path.join(out_dir, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    return path


def text(summary: dict) -> str:
    """A few lines for the terminal."""
    f = summary["faults"]
    faults = ", ".join("%s at %.3f s" % (x["code"], x["t_us"] / 1e6) for x in f) or "none"
    side = summary["charge_uc_by_side"]
    lines = [
        "simulated %.1f s on %s in %s s (x%s)"
        % (
            summary["simulated_s"],
            summary["runtime"],
            summary.get("wall_s", "?"),
            summary.get("sim_speedup", "?"),
        ),
        "final state %s, program completed: %s, steps completed: %d"
        % (
            summary["final_state"],
            "yes" if summary["program_completed"] else "no",
            summary["steps_completed"],
        ),
        "peak current: measured %d uA, commanded %d uA (ceiling %s uA)"
        % (summary["max_abs_measured_ua"], summary["max_abs_commanded_ua"], summary["ceiling_ua"]),
        "charge: net %.3f uC, left %.1f uC, right %.1f uC, centre %.1f uC"
        % (summary["net_charge_uc"], side["left"], side["right"], side["centre"]),
        "faults: %s" % faults,
    ]
    for x in summary.get("firmware_exceptions") or []:
        lines.append("FIRMWARE EXCEPTION at %.3f s: %s" % (x["t_us"] / 1e6, x["error"]))
    return "\n".join(lines)
