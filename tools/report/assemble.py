"""The runs' figures put together: per program and step, per load and cap; the compliance
sweep, the contact monitor, the fault reactions; the short texts the traceability matrix
quotes; an optional hardware-in-the-loop comparison."""

from __future__ import annotations

import csv
import json

import numpy as np

from tools.report import measure as M
from tools.report import runs as R

REF_LOAD = 2000  # the reference load of the load-independent columns (21 CFR 882.5888)
REF_CAP = "pro"


def _r(v, nd=7):
    """Round floats for the JSON (significant digits), leave the rest."""
    if isinstance(v, float):
        if v != v:
            return None
        return float("%.*g" % (nd, v))
    if isinstance(v, dict):
        return {k: _r(x, nd) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_r(x, nd) for x in v]
    if isinstance(v, np.generic):
        return _r(v.item(), nd)
    return v


def _no_output_text(res: dict) -> str:
    faults = [f["code"] for f in (res.get("summary") or {}).get("faults") or []]
    txt = "no contact decision: no stimulation"
    if res.get("contact_s", 0) > 0:
        txt = "contact %.1f s, no step measured" % res["contact_s"]
    if faults:
        txt += "; fault %s" % ", ".join(faults)
    pk = res.get("peak_ua_any", 0)
    txt += "; at most %d µA (contact probe)" % pk if pk else "; nothing flowed"
    return txt


STEP_KEYS = (
    "polarity_mode",
    "lead",
    "freq_hz",
    "period_us",
    "phase_us",
    "phase_us_min",
    "phase_us_max",
    "dead_us",
    "dead_us_min",
    "dead_us_max",
    "rest_us",
    "alt_interval_s",
    "flip_gap_us_min",
    "phase_pair_diff_us_max",
    "pulses",
    "periods",
    "probe_pulses",
    "span_s",
    "window_s",
)
LOAD_KEYS = (
    "peak_ua",
    "peak_cmd_ua",
    "peak_v",
    "phase_charge_nc_max",
    "net_per_period_nc_max",
    "net_per_period_nc_mean",
    "charge_uc",
    "net_uc",
    "dc_ua",
    "rms_ua",
    "avg_ua",
    "dc_last_ua",
    "power_mw",
    "rise_ua_per_s_max",
)


def waveform_text(f: dict, shape: str | None) -> str:
    """What the trace shows, in words: polarity pattern and envelope."""
    if not f or not f.get("pulses"):
        return "-"
    if f.get("polarity_mode") == "biphasic":
        w = "biphasic square (%s first)" % f.get("lead", "+")
    else:
        alt = f.get("alt_interval_s")
        w = "monophasic square (%s first), alternating every %.3g s" % (f.get("lead"), alt or 0)
        if alt is None:
            w = "monophasic square (%s), no alternation seen" % f.get("lead")
    env = f.get("envelope") or {}
    if env.get("fall_s", 0) > 0.2 and (env.get("min_after_top_pct") or 100) < 60:
        w += "; ramped envelope (rise %.1f s, hold %.1f s, fall %.1f s)" % (
            env["rise_s"],
            env["hold_s"],
            env["fall_s"],
        )
    return w


def _step_entry(f: dict, s: dict) -> dict:
    d = {k2: f.get(k2) for k2 in LOAD_KEYS}
    d["net_pct_20s"] = (f.get("window20") or {}).get("net_pct_max")
    d["net_uc_20s"] = (f.get("window20") or {}).get("net_uc_max")
    d["dens"] = f.get("dens")
    d["envelope"] = f.get("envelope")
    d["step_s"] = f.get("span_s")
    # time on skin in the step (what the app counts) minus its duration
    d["on_skin_s"] = f.get("contact_s")
    d["overrun_s"] = (f.get("contact_s") or 0) - s["strokes_run"] * s["stroke_s"]
    return d


def assemble(
    results: list[dict],
    progs: list[dict],
    loads: list[int],
    configs: list[dict],
    ref_load: int,
) -> dict:
    from firmware.boards import sim as board

    by_name = {r["name"]: r for r in results}
    data: dict = {
        "probe_area_mm2": dict(board.PROBE_AREA_MM2),
        "rail_v": board.RAIL_MV / 1000,
        "ceiling_ua": board.CEILING_UA,
        "loads_ohm": loads,
        "ref_load_ohm": ref_load,
        "programs": [],
        "configs": [
            {
                "id": c["id"],
                "program": c["program"],
                "step": c["step"] + 1,
                "eye": c["eye"],
                "probe": c["probe"],
                "members": ["%s step %d" % (lab, k + 1) for lab, k in c["members"]],
                "key": json.loads(c["key"]),
            }
            for c in configs
        ],
        "errors": [
            {"name": r["name"], "error": r["error"], "traceback": r.get("traceback")}
            for r in results
            if "error" in r
        ],
        "runs": [
            {
                "name": r["name"],
                "kind": r["kind"],
                "simulated_s": r.get("simulated_s"),
                "wall_s": _r(r.get("wall_s")),
                "rows": r.get("rows"),
                "error": r.get("error"),
                "device_errors": r.get("device_errors"),
                "firmware_exceptions": (r.get("summary") or {}).get("firmware_exceptions"),
            }
            for r in results
        ],
    }
    # every configuration's figures, per cap and load, from its own run
    cfig: dict[str, dict] = {}
    cnone: dict[str, dict] = {}
    closeups = []
    member_of = {}
    for c in configs:
        for lab, k in c["members"]:
            member_of[(lab, k)] = c
        cfig[c["id"]] = {}
        cnone[c["id"]] = {}
        for cap in R.CAPS:
            for z in loads:
                key = "%s/%d" % (cap, z)
                res = by_name.get("%s-%s-%d" % (c["program"], cap, z))
                if res is None or "error" in res:
                    cnone[c["id"]][key] = "run failed: %s" % (res or {}).get("error")
                    continue
                f = next((x for x in res.get("steps", []) if x["step"] == c["step"]), None)
                if f is None or not f.get("pulses"):
                    cnone[c["id"]][key] = _no_output_text(res)
                    continue
                cfig[c["id"]][key] = f
                if "closeup" in f:
                    lab, k = c["members"][0]
                    cl = dict(f["closeup"])
                    cl.update(
                        {
                            "program": lab,
                            "step": k + 1,
                            "config": c["id"],
                            "shape": json.loads(c["key"]).get("shape"),
                            "freq_hz": f.get("freq_hz"),
                            "polarity_mode": f.get("polarity_mode"),
                            "load_ohm": z,
                            "cap": cap,
                        }
                    )
                    closeups.append(cl)
    refk = "%s/%d" % (REF_CAP, ref_load)
    for pr in progs:
        label = pr["label"]
        orig = pr["original"]
        steps_out = []
        for k, sd in enumerate(orig["steps"]):
            c = member_of[(label, k)]
            s = {
                "step": k + 1,
                "area": sd.get("area"),
                "side": sd.get("side"),
                "probe": sd.get("probe", orig.get("probe")),
                "shape": sd.get("shape"),
                "config": c["id"],
                "strokes_program": sd.get("strokes"),
                "strokes_run": R.REDUCED_STROKES,
                "stroke_s": sd.get("stroke_s"),
                "freq_hz_declared": sd.get("freq_hz")
                if "freq_hz" in sd
                else (sd.get("freq_mhz") or 0) / 1000 or None,
                "loads": {},
                "no_output": dict(cnone[c["id"]]),
            }
            for key, f in cfig[c["id"]].items():
                s["loads"][key] = _step_entry(f, s)
            f = cfig[c["id"]].get(refk) or next(iter(cfig[c["id"]].values()), None)
            if f is not None:
                s["timing"] = {k2: f.get(k2) for k2 in STEP_KEYS}
                s["waveform"] = waveform_text(f, s["shape"])
            steps_out.append(s)
        data["programs"].append(
            {
                "label": label,
                "name": orig.get("name"),
                "source": pr["source"],
                "kind": pr["kind"],
                "reduced": pr["reduced"],
                "probe": orig.get("probe"),
                "installed_as": pr["run"]["id"],
                "total_s_program": R.total_ms(orig) / 1000,
                "total_s_run": R.total_ms(pr["run"]) / 1000,
                "steps": steps_out,
                "session": _session(by_name.get("%s-pro-%d" % (label, ref_load)), pr, steps_out),
            }
        )
    data["closeups"] = closeups
    data["compliance"] = _compliance(results)
    data["contact"] = _contact(results)
    data["faults"] = _faults(results)
    return data


def _session(res: dict | None, pr: dict, steps_out: list[dict]) -> dict:
    """The whole program run once (every step cut to 3 strokes unless --full) at the
    reference load: what only a whole session shows, and a check that its steps measure as
    their configuration runs did."""
    if res is None:
        return {"error": "not run"}
    if "error" in res:
        return {"error": res["error"]}
    summ = res.get("summary") or {}
    run_steps = pr["run"]["steps"]
    over = []
    diff = []
    for f in res.get("steps", []):
        k = f["step"]
        sd = run_steps[k]
        if f.get("contact_s") is not None:
            over.append(f["contact_s"] - sd["strokes"] * sd["stroke_s"])
        s = steps_out[k] if k < len(steps_out) else None
        ref = (s or {}).get("loads", {}).get("%s/%d" % (REF_CAP, res["load_ohm"]))
        if ref and f.get("peak_ua") is not None:
            diff.append(abs(f["peak_ua"] - ref["peak_ua"]))
    w = res.get("window20") or {}
    return {
        "load_ohm": res["load_ohm"],
        "cap": res["cap"],
        "simulated_s": res.get("simulated_s"),
        "program_completed": summ.get("program_completed"),
        "steps_completed": summ.get("steps_completed"),
        "faults": [x["code"] for x in summ.get("faults") or []],
        "total_charge_uc": summ.get("total_charge_uc"),
        "net_charge_uc": summ.get("net_charge_uc"),
        "window20": w,
        "balance_extensions": res.get("balance_extensions"),
        "overrun_s_max": max(over) if over else None,
        "peak_diff_vs_configs_ua": max(diff) if diff else None,
        "steps_measured": len(res.get("steps", [])),
        "device_charge_uc": res.get("device_charge_uc"),
    }


def _compliance(results: list[dict]) -> list[dict]:
    out = []
    for r in results:
        if "error" in r:
            continue
        faults = [x["code"] for x in (r.get("summary") or {}).get("faults") or []]
        if r["kind"] == "load_sweep":
            for p in r.get("points", []):
                out.append(dict(p, cap=r["cap"], faults=faults if not p["stimulated"] else []))
        elif r["name"].startswith("r_max-") and r["kind"] == "program":
            steps = [f for f in r.get("steps") or [] if f.get("pulses")]
            z = r["load_ohm"]
            pk = steps[0]["peak_ua"] if steps else r.get("peak_ua_any", 0)
            out.append(
                {
                    "cap": r["cap"],
                    "load_ohm": z,
                    "peak_ua": pk,
                    "peak_v": pk * z / 1e6,
                    "peak_cmd_ua": steps[0].get("peak_cmd_ua") if steps else None,
                    "rms_ua": None,
                    "contact": 1 if steps else 0,
                    "stimulated": bool(steps),
                    "faults": faults,
                }
            )
    out.sort(key=lambda d: (d["cap"], d["load_ohm"]))
    return out


def _contact(results: list[dict]) -> dict:
    out: dict = {}
    for r in results:
        if "error" in r:
            continue
        if r["kind"] == "contact_sweep":
            out["sweep"] = {
                k: r.get(k)
                for k in (
                    "break_high_ohm",
                    "make_high_ohm",
                    "break_low_ohm",
                    "make_low_ohm",
                    "break_ms",
                    "make_ms",
                    "dwell_ms",
                    "dwell",
                    "faults",
                )
            }
        elif r["kind"] == "reactions":
            lifts = r.get("lifts") or []
            pauses = r.get("pauses") or []

            def stat(xs, key):
                v = [x[key] for x in xs if x.get(key) is not None]
                if not v:
                    return None
                return {"min": min(v), "max": max(v), "mean": sum(v) / len(v), "n": len(v)}

            out["reactions"] = {
                "lifts": lifts,
                "pauses": pauses,
                "output_zero_ms": stat(lifts, "output_zero_ms"),
                "contact_lost_ms": stat(lifts, "contact_lost_ms"),
                "contact_made_ms": stat(lifts, "contact_made_ms"),
                "output_back_ms": stat(lifts, "output_back_ms"),
                "rise_ua_per_s_max": stat(lifts, "rise_ua_per_s_max"),
                "pause_output_zero_ms": stat(pauses, "output_zero_ms"),
                "pause_state_ms": stat(pauses, "paused_ms"),
            }
        elif r["kind"] == "probe":
            out.setdefault("probe", {})[str(r["load_ohm"])] = {
                "cmd": r.get("cmd"),
                "meas": r.get("meas"),
                "contact_any": r.get("contact_any"),
                "states": r.get("states"),
                "faults": r.get("faults"),
                "window_s": r.get("window_s"),
            }
    return out


def _faults(results: list[dict]) -> list[dict]:
    by: dict[str, list] = {}
    for r in results:
        if r["kind"] == "fault":
            by.setdefault(r["fault"], []).append(r)
    out = []
    for name, rs in by.items():
        ok = [r for r in rs if "error" not in r]

        def mx(key, rs=ok):
            v = [r[key] for r in rs if r.get(key) is not None]
            return max(v) if v else None

        def mn(key, rs=ok):
            v = [r[key] for r in rs if r.get(key) is not None]
            return min(v) if v else None

        out.append(
            {
                "fault": name,
                "codes": sorted({r.get("code") or "-" for r in ok}),
                "runs": len(rs),
                "detect_ms_min": mn("detect_ms"),
                "detect_ms_max": mx("detect_ms"),
                "output_off_ms_min": mn("output_off_ms"),
                "output_off_ms_max": mx("output_off_ms"),
                "charge_before_off_nc_max": mx("charge_before_off_nc"),
                "peak_after_fault_ua_max": mx("peak_after_fault_ua"),
                "level_before_ua": mx("level_before_ua"),
                "final_states": sorted({r.get("final_state") or "-" for r in ok}),
                "errors": [r["error"] for r in rs if "error" in r],
            }
        )
    order = {f: i for i, f in enumerate(R.SIM_FAULTS)}
    out.sort(key=lambda d: order.get(d["fault"], 0))
    return out


# ---- the short texts the traceability matrix quotes ----


def _steps(data: dict):
    for p in data["programs"]:
        for s in p["steps"]:
            for key, d in s["loads"].items():
                yield p, s, key, d


def figures(data: dict) -> dict:
    f: dict[str, str] = {}
    rows = list(_steps(data))
    comp = data.get("compliance") or []
    if rows or comp:
        for cap in ("pro", "home"):
            pk = [d["peak_ua"] for _p, _s, k, d in rows if k.startswith(cap + "/")]
            pm = [c["peak_ua"] for c in comp if c["cap"] == cap]
            if pk or pm:
                f["peak_ua_" + cap] = "%s cap: max %s µA measured%s%s" % (
                    cap,
                    max(pk + pm),
                    " (1000 µA asked: %d µA)" % max(pm) if pm else "",
                    "; presets %d µA" % max(pk) if pk else "",
                )
        eye = [d["peak_ua"] for _p, s, _k, d in rows if "eye" in (s["area"] or "")]
        if eye:
            f["peak_ua_eye"] = "eye-area steps: max %d µA" % max(eye)
        lo = [d["peak_ua"] for _p, _s, _k, d in rows]
        if lo:
            f["peak_ua_range"] = "step peaks %d..%d µA at level 10" % (min(lo), max(lo))
    dens = []
    for p, s, _k, d in rows:
        dd = (d.get("dens") or {}).get(s["probe"])
        if dd:
            dens.append((dd["rms_ma_cm2"], dd["peak_ma_cm2"], p["label"], s["step"], s["probe"]))
    if dens:
        m = max(dens)
        f["density_rms_ma_cm2_max"] = "max %.2f mA/cm² r.m.s. (%s step %d, %s); peak %.2f" % (
            m[0],
            m[2],
            m[3],
            m[4],
            max(x[1] for x in dens),
        )
    rise = [d.get("rise_ua_per_s_max") or 0 for _p, _s, _k, d in rows]
    rc = (data.get("contact") or {}).get("reactions") or {}
    rr = (rc.get("rise_ua_per_s_max") or {}).get("max")
    if rise or rr:
        f["rise_ua_per_s_max"] = "steepest rise %.0f µA/s over 2 s (all steps, loads)%s" % (
            max(rise or [0]),
            "; after re-contact %.0f µA/s" % rr if rr else "",
        )
    if rc.get("output_zero_ms"):
        f["contact_loss_ms_max"] = (
            "contact lost -> output at most the probe in %.1f..%.1f ms (%d lifts)"
            % (
                rc["output_zero_ms"]["min"],
                rc["output_zero_ms"]["max"],
                rc["output_zero_ms"]["n"],
            )
        )
    sw = (data.get("contact") or {}).get("sweep") or {}
    if sw.get("break_high_ohm"):
        f["contact_window"] = "made at %s..%s Ohm, broken at %s / %s Ohm" % (
            sw.get("make_low_ohm"),
            sw.get("make_high_ohm"),
            sw.get("break_low_ohm"),
            sw.get("break_high_ohm"),
        )
    pr = ((data.get("contact") or {}).get("probe") or {}).get("500000") or {}
    m = pr.get("meas") or {}
    if m.get("pulses"):
        f["probe"] = "probe %d µA, %d µs, every %.0f ms (%.2f %% duty)" % (
            m["peak_ua"],
            m["width_us_max"],
            m["period_ms_median"] or 0,
            m["duty_pct"],
        )
    fl = data.get("faults") or []
    if fl:
        parts = [
            "%s %s %.1f ms" % (x["fault"], "/".join(x["codes"]), x["detect_ms_max"])
            for x in fl
            if x["detect_ms_max"] is not None
        ]
        if parts:
            f["fault_detect_ms_max"] = "latched within: " + ", ".join(parts)
        for x in fl:
            if x["fault"] == "dac_stuck_high" and x["detect_ms_max"] is not None:
                f["overcurrent_detect_ms"] = (
                    "DAC stuck high -> %s in <= %.1f ms, output zero in <= %.1f ms"
                    % ("/".join(x["codes"]), x["detect_ms_max"], x["output_off_ms_max"])
                )
            if x["fault"] == "loop_stall" and x["output_off_ms_max"] is not None:
                f["loop_stall"] = (
                    "loop stalled: output zero in <= %.1f ms; %s latched after %s ms"
                    % (
                        x["output_off_ms_max"],
                        "/".join(x["codes"]),
                        x["detect_ms_max"],
                    )
                )
    over = [
        p["session"]["overrun_s_max"]
        for p in data["programs"]
        if p["session"].get("overrun_s_max") is not None
    ]
    if over:
        f["step_overrun_s_max"] = (
            "longest time on skin in a step minus its duration: %+.3f s (%s)"
            % (
                max(over),
                "never past" if max(over) <= 0.004 else "PAST its duration",
            )
        )
    freqs = []
    errs = []
    pairs = []
    deads = []
    shapes = set()
    biph = []
    mono = []
    for p in data["programs"]:
        for s in p["steps"]:
            t = s.get("timing") or {}
            if t.get("freq_hz"):
                freqs.append(t["freq_hz"])
            if s.get("waveform"):
                w = s["waveform"]
                shapes.add(w.split(" (")[0] + ("; ramped" if "ramped" in w else ""))
            if t.get("phase_pair_diff_us_max") is not None:
                pairs.append(t["phase_pair_diff_us_max"])
            if t.get("dead_us_min") is not None and t.get("polarity_mode") == "biphasic":
                deads += [t["dead_us_min"], t["dead_us_max"]]
            for _k, d in s["loads"].items():
                if t.get("polarity_mode") == "biphasic":
                    biph.append(abs(d.get("net_per_period_nc_max") or 0))
                elif d.get("net_pct_20s") is not None:
                    mono.append(d["net_pct_20s"])
    for p in data["programs"]:
        for s in p["steps"]:
            t = s.get("timing") or {}
            decl = s.get("freq_hz_declared")
            if decl and t.get("freq_hz"):
                errs.append(abs(t["freq_hz"] - decl) / decl * 100)
    checks = []
    for p in data["programs"]:
        ss = p["session"]
        dc, tc = ss.get("device_charge_uc"), ss.get("total_charge_uc")
        if dc is not None and tc is not None:
            checks.append((abs(dc - tc) <= max(2.0, 0.05 * max(dc, tc)), p["label"], dc, tc))
    silent = [
        p["label"]
        for p in data["programs"]
        if p["session"].get("program_completed") and (p["session"].get("total_charge_uc") or 0) < 1
    ]
    if silent:
        f["trace_check"] = (
            "NO OUTPUT: %s ran to completion on the sim board and less than 1 µC flowed"
            % ", ".join(silent)
        )
    elif checks:
        bad = [c for c in checks if not c[0]]
        if bad:
            f["trace_check"] = "TRACE DOES NOT MATCH THE FIRMWARE: %s" % ", ".join(
                "%s: firmware counted %.0f µC, the trace shows %.1f µC" % c[1:] for c in bad
            )
        else:
            f["trace_check"] = (
                "the charge the firmware counted matches the trace in all %d whole-program runs"
                % len(checks)
            )
    win = [
        (p["session"]["window20"]["net_pct_max"], p["label"])
        for p in data["programs"]
        if (p["session"].get("window20") or {}).get("net_pct_max") is not None
    ]
    if win:
        m = max(win)
        f["session_net_pct_20s_max"] = "whole sessions: worst 20 s window %.1f %% (%s)" % m
    if freqs:
        f["freq_range_hz"] = "measured %.3g..%.4g Hz" % (min(freqs), max(freqs))
    if shapes:
        f["shapes_seen"] = "seen: " + ", ".join(sorted(shapes))
    n_steps = sum(1 for p in data["programs"] for s in p["steps"] if s["loads"])
    if n_steps:
        f["steps_measured"] = "%d steps of %d programs measured" % (n_steps, len(data["programs"]))
    if biph:
        f["net_per_period_nc_max_biphasic"] = "biphasic: max |net| per period %.3f nC" % max(biph)
    if mono:
        f["net_pct_20s_max_monophasic"] = (
            "monophasic: worst 20 s window %.1f %% of its charge" % max(mono)
        )
    if errs:
        f["freq_error_pct_max"] = "max frequency error %.4f %% (vs each step's frequency)" % max(
            errs
        )
    if pairs:
        f["phase_pair_diff_us_max"] = "+/- phase widths differ by <= %d µs" % max(pairs)
    if deads:
        f["dead_us_range"] = "dead time %d..%d µs" % (min(deads), max(deads))
    return f


# ---- a `make hil` stage CSV ----


def hil(a, data: dict) -> dict:
    """Figures of a hardware-in-the-loop stage CSV (t_us, load_ua, electrode_mv, ...), computed
    with the same code as the sim's, beside the sim step with the nearest frequency."""
    t, ua, mv = [], [], []
    with open(a.hil_csv, newline="") as f:
        for row in csv.DictReader(f):
            try:
                t.append(int(float(row["t_us"])))
                ua.append(int(round(float(row["load_ua"]))))
                mv.append(float(row.get("electrode_mv") or 0))
            except (KeyError, ValueError):
                continue
    if not t:
        return {"file": a.hil_csv, "error": "no rows with t_us and load_ua"}
    ta = np.asarray(t, dtype=np.int64)
    va = np.asarray(ua, dtype=np.int64)
    t0 = int(a.hil_from_ms * 1000) if a.hil_from_ms is not None else int(ta[0])
    t1 = int(a.hil_to_ms * 1000) if a.hil_to_ms is not None else int(ta[-1])
    m = (ta >= t0) & (ta < t1)
    load = a.hil_load or 0
    fig = M.step_figures(ta[m], va[m], va[m], t0, t1, load or 1, None, window=True)
    fig["peak_v_sense"] = float(max(mv[i] for i in np.flatnonzero(m)) / 1000) if m.any() else None
    best = None
    if fig.get("freq_hz"):
        for p in data["programs"]:
            for s in p["steps"]:
                tf = (s.get("timing") or {}).get("freq_hz")
                if not tf:
                    continue
                d = abs(tf - fig["freq_hz"]) / tf
                if best is None or d < best[0]:
                    best = (d, p, s)
    cmp = None
    if best is not None and best[0] < 0.01:
        _d, p, s = best
        key = "pro/%d" % (load if "pro/%d" % load in s["loads"] else data["ref_load_ohm"])
        cmp = {
            "program": p["label"],
            "step": s["step"],
            "load": key,
            "timing": s.get("timing"),
            "at_load": s["loads"].get(key),
        }
    return {
        "file": a.hil_csv,
        "window_ms": [t0 / 1000, t1 / 1000],
        "figures": _r(fig),
        "sim": _r(cmp),
    }
