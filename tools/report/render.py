"""The report's files: index.html (one page, readable on its own; the PNGs beside it),
report.json, steps.csv, compliance.csv, contact.csv, faults.csv and the plots."""

from __future__ import annotations

import csv
import html
import json
import os

from tools.report.assemble import _r
from tools.report.runs import SWEEP_DWELL_MS

SWEEP_DWELL_S = SWEEP_DWELL_MS / 1000

PNGS = ("closeups.png", "envelope.png", "compliance.png", "contact.png")


def e(x) -> str:
    return html.escape("" if x is None else str(x))


def num(v, fmt="%.3g", none="-") -> str:
    if v is None:
        return none
    if isinstance(v, float) and v != v:
        return none
    try:
        return fmt % v
    except TypeError:
        return str(v)


def _uc(nc):
    return None if nc is None else nc / 1000


def _z(v):
    """No '-0.00' for a value that rounds to zero."""
    return None if v is None else (0.0 if abs(v) < 0.005 else v)


def ohm(z) -> str:
    if z >= 1000:
        k = z / 1000
        return ("%g kΩ" % k) if k == int(k) else ("%.3g kΩ" % k)
    return "%d Ω" % z


# ---- files ----


def write_all(data: dict, out: str) -> None:
    for name in PNGS:
        p = os.path.join(out, name)
        if os.path.exists(p):
            os.remove(p)
    plots(data, out)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(_r(slim_json(data), 6), f, ensure_ascii=False)
        f.write("\n")
    write_steps_csv(data, os.path.join(out, "steps.csv"))
    write_simple_csv(
        data["compliance"],
        os.path.join(out, "compliance.csv"),
        ["cap", "load_ohm", "peak_ua", "peak_v", "peak_cmd_ua", "rms_ua", "stimulated", "faults"],
    )
    dwell = ((data.get("contact") or {}).get("sweep") or {}).get("dwell") or []
    write_simple_csv(
        dwell,
        os.path.join(out, "contact.csv"),
        ["t_s", "phase", "z_ohm", "contact_before", "contact", "change_ms", "z_est_ohm"],
    )
    write_simple_csv(
        data["faults"],
        os.path.join(out, "faults.csv"),
        [
            "fault",
            "codes",
            "runs",
            "detect_ms_min",
            "detect_ms_max",
            "output_off_ms_min",
            "output_off_ms_max",
            "charge_before_off_nc_max",
            "peak_after_fault_ua_max",
            "level_before_ua",
            "final_states",
        ],
    )
    write_html(data, out)


def slim_json(data: dict) -> dict:
    """report.json: the same figures as the page, each configuration's once (a program step
    names its configuration), without the plots' samples."""
    slim = dict(data)
    slim["closeups"] = [
        {k: v for k, v in c.items() if k not in ("zoom", "envelope")} for c in data["closeups"]
    ]
    figs: dict = {}
    progs = []
    for p in data["programs"]:
        steps = []
        for st in p["steps"]:
            if st["config"] not in figs:
                figs[st["config"]] = {
                    "timing": st.get("timing"),
                    "waveform": st.get("waveform"),
                    "by_cap_and_load": st["loads"],
                    "no_output": st["no_output"],
                }
            steps.append(
                {k: v for k, v in st.items() if k not in ("loads", "no_output", "timing")}
            )
        progs.append(dict(p, steps=steps))
    slim["programs"] = progs
    slim["config_figures"] = figs
    return slim


def write_simple_csv(rows: list[dict], path: str, cols: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow(
                [
                    " ".join(map(str, r.get(c))) if isinstance(r.get(c), list) else _r(r.get(c))
                    for c in cols
                ]
            )


STEP_CSV = (
    ["program", "step", "area", "side", "probe", "shape", "strokes_run", "stroke_s", "cap"]
    + ["load_ohm", "waveform", "polarity_mode", "freq_hz", "phase_us", "dead_us", "rest_us"]
    + ["alt_interval_s", "peak_ua", "peak_cmd_ua", "peak_v", "phase_charge_nc_max"]
    + ["net_per_period_nc_max", "net_pct_20s", "net_uc_20s", "rms_ua", "avg_ua", "dc_ua"]
    + ["power_mw", "density_rms_ma_cm2", "density_peak_ma_cm2", "power_density_mw_cm2"]
    + ["density_rms_ma_cm2_disk", "density_rms_ma_cm2_globe", "density_rms_ma_cm2_qtip"]
    + ["rise_ua_per_s_max", "step_s", "on_skin_s", "overrun_s", "no_output"]
)


def write_steps_csv(data: dict, path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(STEP_CSV)
        for p in data["programs"]:
            for s in p["steps"]:
                t = s.get("timing") or {}
                keys = sorted(set(s["loads"]) | set(s["no_output"]), key=_key_order)
                for key in keys:
                    cap, z = key.split("/")
                    d = s["loads"].get(key)
                    row = {
                        "program": p["label"],
                        "step": s["step"],
                        "area": s["area"],
                        "side": s["side"],
                        "probe": s["probe"],
                        "shape": s["shape"],
                        "strokes_run": s["strokes_run"],
                        "stroke_s": s["stroke_s"],
                        "cap": cap,
                        "load_ohm": int(z),
                    }
                    if d is None:
                        row["no_output"] = s["no_output"].get(key)
                    else:
                        row.update({k: t.get(k) for k in STEP_CSV if k in t})
                        row["waveform"] = s.get("waveform")
                        row.update({k: d.get(k) for k in STEP_CSV if k in d})
                        row["phase_charge_nc_max"] = d.get("phase_charge_nc_max")
                        dens = d.get("dens") or {}
                        own = dens.get(s["probe"]) or {}
                        row["density_rms_ma_cm2"] = own.get("rms_ma_cm2")
                        row["density_peak_ma_cm2"] = own.get("peak_ma_cm2")
                        row["power_density_mw_cm2"] = own.get("power_mw_cm2")
                        for pr in ("disk", "globe", "qtip"):
                            row["density_rms_ma_cm2_" + pr] = (dens.get(pr) or {}).get(
                                "rms_ma_cm2"
                            )
                    w.writerow([_r(row.get(c), 6) for c in STEP_CSV])


def _key_order(key: str):
    cap, z = key.split("/")
    return (0 if cap == "pro" else 1, int(z))


# ---- plots ----


def plots(data: dict, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "figure.dpi": 90})
    _closeups(plt, data, out)
    _envelopes(plt, data, out)
    _compliance(plt, data, out)
    _contact(plt, data, out)


def _pick_closeups(data: dict) -> list[dict]:
    seen = set()
    out = []
    for c in data["closeups"]:
        key = (c["shape"], round(c.get("freq_hz") or 0, 3), c.get("polarity_mode"))
        if key in seen:
            continue
        seen.add(key)
        out.append(c)
    out.sort(
        key=lambda c: (
            {"biphasic": 0, "wave": 1, "monophasic": 2}.get(c["shape"], 3),
            c.get("freq_hz") or 0,
        )
    )
    return out


def _closeups(plt, data: dict, out: str) -> None:
    cs = _pick_closeups(data)
    if not cs:
        return
    n = len(cs)
    cols = 3 if n > 4 else n
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.1 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, c in zip(axes.flat, cs):
        z = c["zoom"]
        t = z["t_us"] + [z["t_end_us"]]
        span = z["t_end_us"]
        div, unit = (1e6, "s") if span >= 2e6 else (1e3, "ms")
        tt = [x / div for x in t]
        meas = z["meas"] + z["meas"][-1:]
        cmd = z["cmd"] + z["cmd"][-1:]
        ax.step(tt, meas, where="post", lw=1.1, color="C0", label="measured (load)")
        ax.step(tt, cmd, where="post", lw=0.8, ls="--", color="C3", label="commanded")
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_title(
            "%s step %d: %s %.3g Hz, %s"
            % (c["program"], c["step"], c["shape"], c.get("freq_hz") or 0, ohm(c["load_ohm"]))
        )
        ax.set_xlabel(unit)
        ax.set_ylabel("µA")
        ax.margins(x=0)
    axes.flat[0].legend(loc="upper right", fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "closeups.png"))
    plt.close(fig)


def _envelopes(plt, data: dict, out: str) -> None:
    cs = [c for c in _pick_closeups(data) if c.get("envelope")]
    if not cs:
        return
    fig, axes = plt.subplots(1, len(cs), figsize=(3.3 * len(cs), 2.1), squeeze=False)
    for ax, c in zip(axes.flat, cs):
        env = c["envelope"]
        ax.plot(env["t_s"], env["ua"], ".", ms=1.5, color="C0")
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_title("%s step %d: last stroke, each phase's peak" % (c["program"], c["step"]))
        ax.set_xlabel("s")
        ax.set_ylabel("µA")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "envelope.png"))
    plt.close(fig)


def _compliance(plt, data: dict, out: str) -> None:
    comp = data.get("compliance") or []
    if not comp:
        return
    rail = data["rail_v"]
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    zs = sorted({c["load_ohm"] for c in comp})
    import numpy as np

    zz = np.logspace(np.log10(min(zs)), np.log10(max(zs)), 200)
    ax.plot(
        zz / 1000,
        np.minimum(rail / zz * 1e6, 1100),
        "k:",
        lw=1,
        label="%g V rail / Z (the stage: at most 1100 µA)" % rail,
    )
    for cap, col in (("pro", "C0"), ("home", "C1")):
        pts = [c for c in comp if c["cap"] == cap]
        if not pts:
            continue
        on = [c for c in pts if c["stimulated"]]
        ax.plot(
            [c["load_ohm"] / 1000 for c in on],
            [c["peak_ua"] for c in on],
            "o-",
            color=col,
            ms=4,
            label="1000 µA asked, %s cap" % cap,
        )
        for c in pts:
            if not c["stimulated"]:
                ax.plot([c["load_ohm"] / 1000], [c["peak_ua"]], "x", color=col, ms=5)
                ax.annotate(
                    "no contact" + (" (%s)" % ",".join(c["faults"]) if c["faults"] else ""),
                    (c["load_ohm"] / 1000, c["peak_ua"]),
                    textcoords="offset points",
                    xytext=(4, 6 if cap == "pro" else -10),
                    fontsize=6,
                    color=col,
                )
    pres = {}
    for p in data["programs"]:
        for s in p["steps"]:
            for key, d in s["loads"].items():
                cap, z = key.split("/")
                if cap == "pro":
                    pres[int(z)] = max(pres.get(int(z), 0), d["peak_ua"])
    if pres:
        ks = sorted(pres)
        ax.plot(
            [k / 1000 for k in ks],
            [pres[k] for k in ks],
            "s",
            color="C2",
            ms=4,
            label="presets (max step peak)",
        )
    ax.axhline(data["ceiling_ua"], color="C3", lw=0.8, ls="--")
    ax.text(zs[0] / 1000, data["ceiling_ua"] + 15, "ceiling 1000 µA", color="C3", fontsize=6)
    ax.axhline(500, color="C1", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("load impedance (kΩ)")
    ax.set_ylabel("peak current (µA)")
    ax.set_ylim(0, 1150)
    ax.set_title("Peak output current vs load: measured on the sim board")
    ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "compliance.png"))
    plt.close(fig)


def _contact(plt, data: dict, out: str) -> None:
    sw = (data.get("contact") or {}).get("sweep") or {}
    dwell = sw.get("dwell") or []
    if not dwell:
        return
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.2))
    for ax, phases, div, unit in (
        (axes[0], ("down_low", "up_low"), 1, "Ω"),
        (axes[1], ("up_high", "down_high"), 1000, "kΩ"),
    ):
        for ph, col, off in zip(phases, ("C3", "C0"), (0.03, -0.03)):
            pts = [d for d in dwell if d["phase"] == ph]
            ax.plot(
                [d["z_ohm"] / div for d in pts],
                [d["contact"] + off for d in pts],
                ".-",
                ms=3,
                lw=0.8,
                color=col,
                label=ph.replace("_", " "),
            )
        ax.set_yticks([0, 1])
        ax.set_yticklabels(["no contact", "contact"])
        ax.set_xlabel("load (%s)" % unit)
        ax.legend(fontsize=6)
    axes[0].set_title("lower edge")
    axes[1].set_title("upper edge")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "contact.png"))
    plt.close(fig)


# ---- the page ----

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;
max-width:1400px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1.05em;margin-top:1.5em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 5px;vertical-align:top}
th{background:#f3f3f3;text-align:left}
td.n{text-align:right;white-space:nowrap}
.note{color:#555;font-size:12px}.bad{color:#b00;font-weight:bold}.ok{color:#070}
code{font-size:11px}img{max-width:100%}
"""


def _p_head(p: dict) -> str:
    mm, ss = divmod(int(p["total_s_program"]), 60)
    return "<h3>%s: %s <span class=note>(%s, probe %s, %d steps, %d min %02d s)</span></h3>" % (
        e(p["label"]),
        e(p["name"]),
        e(p["source"]),
        e(p["probe"]),
        len(p["steps"]),
        mm,
        ss,
    )


def _session_text(p: dict) -> str:
    s = p.get("session") or {}
    if s.get("error"):
        return "Whole-program run: %s." % e(s["error"])
    rm, rs = divmod(int(p["total_s_run"]), 60)
    w = s.get("window20") or {}
    parts = [
        "Whole program run once at %s, professional cap (%s, %d min %02d s): %s, %s steps"
        % (
            ohm(s["load_ohm"]),
            "every step cut to 3 strokes" if p["reduced"] else "as written",
            rm,
            rs,
            "completed" if s.get("program_completed") else "NOT completed",
            s.get("steps_completed"),
        ),
        "charge %s µC through the load (the firmware's own count: %s µC), net %s µC"
        % (
            num(s.get("total_charge_uc"), "%.1f"),
            num(s.get("device_charge_uc"), "%.0f"),
            num(s.get("net_charge_uc"), "%.3f"),
        ),
        "worst 20 s window %s %% of its charge" % num(w.get("net_pct_max"), "%.1f"),
        "longest time on skin in a step minus its duration %s s"
        % num(s.get("overrun_s_max"), "%+.3f"),
        "its step peaks differ from the configuration runs' by at most %s µA"
        % num(s.get("peak_diff_vs_configs_ua"), "%d"),
    ]
    dc, tc = s.get("device_charge_uc"), s.get("total_charge_uc")
    if dc is not None and tc is not None and abs(dc - tc) > max(2.0, 0.05 * max(dc, tc)):
        parts.append(
            "<span class=bad>the trace does not show the charge the firmware counted: the "
            "figures of this page cannot be trusted for this run</span>"
        )
    if s.get("faults"):
        parts.append("faults " + ", ".join(s["faults"]))
    if s.get("balance_extensions"):
        parts.append("%d balance extension(s)" % s["balance_extensions"])
    return "; ".join(parts) + "."


def program_table(data: dict, p: dict) -> str:
    loads = data["loads_ohm"]
    ref = data["ref_load_ohm"]
    refk = "pro/%d" % ref
    hdr = (
        "<tr><th>#</th><th>area, side</th><th>probe</th><th>run as</th>"
        "<th>waveform (from the trace)</th>"
        "<th>f (Hz)</th><th>phase (µs)</th><th>dead / rest (µs)</th>"
        + "".join("<th>%s<br>peak µA / V</th>" % ohm(z) for z in loads)
        + "<th>charge per phase (µC)</th><th>net per period (µC)</th>"
        "<th>net per 20 s (% of its charge)</th><th>r.m.s. / avg / DC (µA)</th>"
        "<th>density r.m.s. / peak (mA/cm²)</th><th>power density (mW/cm²), max over loads</th>"
        "</tr>"
    )
    rows = []
    notes = {}
    for s in p["steps"]:
        t = s.get("timing") or {}
        cells = [
            "<td class=n>%d</td>" % s["step"],
            "<td>%s %s</td>" % (e(s["area"]), e(s["side"])),
            "<td>%s</td>" % e(s["probe"]),
            "<td>%s</td>" % e(s["config"]),
            "<td>%s</td>" % e(s.get("waveform") or "-"),
            "<td class=n>%s</td>" % num(t.get("freq_hz"), "%.4g"),
            "<td class=n>%s</td>" % num(t.get("phase_us"), "%.0f"),
            "<td class=n>%s / %s</td>"
            % (num(t.get("dead_us"), "%.0f"), num(t.get("rest_us"), "%.0f")),
        ]
        for z in loads:
            d = s["loads"].get("pro/%d" % z)
            h = s["loads"].get("home/%d" % z)
            if d is None:
                txt = s["no_output"].get("pro/%d" % z) or "-"
                mark = notes.setdefault(txt, len(notes) + 1)
                cells.append("<td class=n>none<sup>%d</sup></td>" % mark)
                continue
            c = "%d / %.2f" % (d["peak_ua"], d["peak_v"])
            if h is not None and abs(h["peak_ua"] - d["peak_ua"]) > 1:
                c += "<br><span class=note>home %d / %.2f</span>" % (h["peak_ua"], h["peak_v"])
            elif h is None:
                c += "<br><span class=note>home: none</span>"
            cells.append("<td class=n>%s</td>" % c)
        d = s["loads"].get(refk) or {}
        dens = (d.get("dens") or {}).get(s["probe"]) or {}
        pd = [
            ((x.get("dens") or {}).get(s["probe"]) or {}).get("power_mw_cm2")
            for k, x in s["loads"].items()
            if k.startswith("pro/")
        ]
        pd_k = [k for k, x in s["loads"].items() if k.startswith("pro/")]
        pmax = None
        if pd and any(v is not None for v in pd):
            i = max(range(len(pd)), key=lambda j: pd[j] or 0)
            pmax = "%.3g @ %s" % (pd[i], ohm(int(pd_k[i].split("/")[1])))
        w20 = d.get("net_pct_20s")
        mono = t.get("polarity_mode") == "monophasic"
        w20s = num(w20, "%.1f")
        if w20 is not None and mono and w20 >= 5:
            w20s = "<span class=bad>%s</span>" % w20s
        cells += [
            "<td class=n>%s</td>" % num(_uc(d.get("phase_charge_nc_max")), "%.3g"),
            "<td class=n>%s%s</td>"
            % (num(_uc(d.get("net_per_period_nc_max")), "%.3g"), " (one pulse)" if mono else ""),
            "<td class=n>%s</td>" % w20s,
            "<td class=n>%s / %s / %s</td>"
            % (
                num(d.get("rms_ua"), "%.0f"),
                num(d.get("avg_ua"), "%.0f"),
                num(_z(d.get("dc_ua")), "%.2f"),
            ),
            "<td class=n>%s / %s</td>"
            % (num(dens.get("rms_ma_cm2"), "%.2f"), num(dens.get("peak_ma_cm2"), "%.2f")),
            "<td class=n>%s</td>" % (pmax or "-"),
        ]
        rows.append("<tr>%s</tr>" % "".join(cells))
    foot = "".join("<br><sup>%d</sup> %s" % (n, e(txt)) for txt, n in notes.items())
    return (
        _p_head(p)
        + "<table>%s%s</table>" % (hdr, "".join(rows))
        + "<div class=note>Peak µA / V at the professional cap (home cap shown when it "
        "differs); the other columns at %s, professional cap, over the step's last stroke "
        "(r.m.s., average, power) or the whole step (charge per phase, net per period and per "
        "20 s, DC).%s<br>%s</div>" % (ohm(ref), foot, _session_text(p))
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join("<th>%s</th>" % x for x in head)
    b = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % c for c in r) for r in rows)
    return "<table><tr>%s</tr>%s</table>" % (h, b)


def compliance_section(data: dict) -> str:
    comp = data.get("compliance") or []
    if not comp:
        return ""
    rail = data["rail_v"]
    zs = sorted({c["load_ohm"] for c in comp})
    by = {(c["cap"], c["load_ohm"]): c for c in comp}
    rows = []
    for z in zs:
        r = [ohm(z), "%.0f" % min(rail / z * 1e6, 1100)]
        for cap in ("pro", "home"):
            c = by.get((cap, z))
            if c is None:
                r.append("-")
            elif not c["stimulated"]:
                r.append(
                    "no stimulation%s; probe %d µA"
                    % (" (fault %s)" % ", ".join(c["faults"]) if c["faults"] else "", c["peak_ua"])
                )
            else:
                r.append("%d µA / %.2f V" % (c["peak_ua"], c["peak_v"]))
        rows.append(r)
    return (
        "<h2 id=compliance>Output current and voltage vs load impedance</h2>"
        "<p>A 10 Hz biphasic program asking 1000 µA (<code>r_max</code>, disk probe, level 10) "
        "at each cap: once its last stroke has reached the top, the load is raised every %.1f s "
        "through the values below (a higher load only lowers the current), the peak taken over "
        "the last 0.5 s of each; 500 Ω in a run of its own. Above %.0f kΩ at 1000 µA (%.0f kΩ "
        "at 500 µA) the %g V compliance rail limits the current (I = V<sub>rail</sub>/Z) and "
        "the electrode voltage sits at the rail; outside the contact window the firmware does "
        "not stimulate at all. The presets' step peaks per load are in the tables above "
        "(square markers).</p><img src=compliance.png alt='current vs load'>"
        % (SWEEP_DWELL_S, rail, rail * 2, rail)
        + _table(
            ["load", "stage limit: min(1100 µA, 20 V / Z)", "professional cap", "home cap"], rows
        )
    )


def closeup_section(data: dict) -> str:
    out = ["<h2 id=waveforms>Waveforms: a close-up of each</h2>"]
    out.append(
        "<p>Measured load current (solid) and the firmware's command (dashed) over two periods "
        "at the top of a step, %s, professional cap, one panel per distinct waveform.</p>"
        % ohm(data["ref_load_ohm"])
    )
    out.append("<img src=closeups.png alt='period close-ups'>")
    if any(c.get("envelope") for c in data["closeups"]):
        out.append(
            "<p>Ramped ('wave') steps: the peak of every phase over the last stroke (the "
            "envelope, with the soft start at its beginning).</p><img src=envelope.png "
            "alt='envelopes'>"
        )
    return "".join(out)


def contact_section(data: dict) -> str:
    c = data.get("contact") or {}
    sw = c.get("sweep") or {}
    rc = c.get("reactions") or {}
    pr = c.get("probe") or {}
    if not (sw or rc or pr):
        return ""

    def st(x, fmt="%.1f"):
        if not x:
            return "-"
        return (fmt + "..." + fmt + " (mean " + fmt + ", n=%d)") % (
            x["min"],
            x["max"],
            x["mean"],
            x["n"],
        )

    rows = []
    if sw:
        step_lo, step_hi = 10, 1000
        rows += [
            [
                "contact made (load stepped toward the window, %d ms per value)" % sw["dwell_ms"],
                "at %s Ω (from below, %d Ω steps) and at %s kΩ (from above, %d kΩ steps)"
                % (
                    sw.get("make_low_ohm"),
                    step_lo,
                    num((sw.get("make_high_ohm") or 0) / 1000, "%.0f"),
                    step_hi // 1000,
                ),
            ],
            [
                "contact broken (load stepped out of the window)",
                "at %s Ω (down) and at %s kΩ (up)"
                % (sw.get("break_low_ohm"), num((sw.get("break_high_ohm") or 0) / 1000, "%.0f")),
            ],
            [
                "hysteresis",
                "%s Ω at the lower edge, %s kΩ at the upper edge"
                % (
                    (sw.get("make_low_ohm") or 0) - (sw.get("break_low_ohm") or 0),
                    num(
                        ((sw.get("break_high_ohm") or 0) - (sw.get("make_high_ohm") or 0)) / 1000,
                        "%.0f",
                    ),
                ),
            ],
            [
                "decision after the load change: break / make",
                "%s ms / %s ms"
                % (
                    ", ".join(num(x, "%.1f") for x in sw.get("break_ms") or []),
                    ", ".join(num(x, "%.1f") for x in sw.get("make_ms") or []),
                ),
            ],
        ]
    if rc:
        rows += [
            [
                "probes lifted -> output at most the contact probe",
                st(rc.get("output_zero_ms")) + " ms",
            ],
            ["probes lifted -> contact decision off", st(rc.get("contact_lost_ms")) + " ms"],
            ["probes back on skin -> contact decision on", st(rc.get("contact_made_ms")) + " ms"],
            [
                "probes back -> first output above the probe (soft start)",
                st(rc.get("output_back_ms")) + " ms",
            ],
            [
                "steepest rise after re-contact (over 2 s)",
                st(rc.get("rise_ua_per_s_max"), "%.0f") + " µA/s",
            ],
            [
                "POWER short (pause) -> output zero, from the button's release",
                st(rc.get("pause_output_zero_ms"))
                + " ms (state 'paused' after "
                + st(rc.get("pause_state_ms"))
                + " ms)",
            ],
        ]
    for z, d in sorted(pr.items(), key=lambda kv: int(kv[0])):
        m = d.get("meas") or {}
        cm = d.get("cmd") or {}
        if cm.get("pulses"):
            rows.append(
                [
                    "contact probe, program started on %s (outside the window)" % ohm(int(z)),
                    "%d µA commanded, %s µA through the load; %d µs wide, every %s ms: %.2f %% "
                    "duty; net %s nC over %.1f s%s"
                    % (
                        cm["peak_ua"],
                        m.get("peak_ua", 0),
                        cm["width_us_max"],
                        num(cm.get("period_ms_median"), "%.1f"),
                        cm["duty_pct"],
                        num(cm.get("net_nc"), "%.3g"),
                        d.get("window_s") or 0,
                        "; fault " + ", ".join(d["faults"]) if d.get("faults") else "",
                    ),
                ]
            )
        else:
            rows.append(
                [
                    "contact probe, program started on %s" % ohm(int(z)),
                    "no probe pulses%s"
                    % ("; fault " + ", ".join(d["faults"]) if d.get("faults") else ""),
                ]
            )
    return (
        "<h2 id=contact>Contact monitor</h2><p>The firmware's contact decision (the trace's "
        "<code>contact</code> column) while the load is stepped through the edges of the "
        "window, probes lifted and replaced at 10 instants spread over the pulse period and "
        "the tick, the client pausing 4 times; <code>r_char</code> (100 Hz biphasic, "
        "20 kΩ).</p>"
        + _table(["figure", "measured"], rows)
        + "<img src=contact.png alt='contact sweep'>"
    )


def faults_section(data: dict) -> str:
    fl = data.get("faults") or []
    if not fl:
        return ""
    rows = []
    for f in fl:
        rows.append(
            [
                "<code>%s</code>" % e(f["fault"]),
                e(", ".join(f["codes"])),
                "%s..%s" % (num(f["detect_ms_min"], "%.1f"), num(f["detect_ms_max"], "%.1f")),
                "%s..%s"
                % (num(f["output_off_ms_min"], "%.1f"), num(f["output_off_ms_max"], "%.1f")),
                num(_uc(f["charge_before_off_nc_max"]), "%.3g"),
                "%s (before: %s)" % (f["peak_after_fault_ua_max"], f["level_before_ua"]),
                e(", ".join(f["final_states"])),
            ]
        )
    return (
        "<h2 id=faults>Fault reactions</h2><p>Each simulator fault injected while "
        "<code>r_char</code> runs at 20 kΩ (first stroke), at 3 instants of the 10 ms period "
        "(+0, +3, +7 ms). Detection: the first trace row showing the latched fault code. Output "
        "off: from then on no current flows through the load. Charge: delivered from the onset "
        "to that instant.</p>"
        + _table(
            [
                "fault",
                "code latched",
                "detected after (ms)",
                "output off after (ms)",
                "charge before off, max (µC)",
                "peak after onset (µA)",
                "final state",
            ],
            rows,
        )
    )


def trace_section(data: dict) -> str:
    rows = []
    for r in data["traceability"]:
        tests = "<br>".join("<code>%s</code>" % e(t) for t in r["tests"])
        if not r["tests"]:
            tests = "<span class=bad>no test</span>" if r["rule"].startswith("4.") else "no test"
        rows.append(
            [
                "<b>%s</b>" % e(r["rule"]),
                e(r["title"]),
                "<br>".join("<code>%s</code>" % e(c) for c in r["code"]),
                tests,
                "%s%s"
                % (
                    e(r["measured"]),
                    " <span class=note>(%s)</span>" % e(r["source"]) if r["source"] else "",
                ),
            ]
        )
    err = ""
    if data.get("traceability_error"):
        err = "<p class=bad>Test collection failed: %s</p>" % e(data["traceability_error"][:2000])
    return (
        "<h2 id=traceability>Traceability: rule -> code -> tests -> measured</h2>"
        "<p>Every numbered rule of DESIGN section 4, and the figures of section 3 (its bullets "
        "numbered 3.1-3.7 in order). Tests are those marked <code>@pytest.mark.rule(...)</code> "
        "(collected, not run here: <code>make test</code> runs them). Measured: from "
        "<code>build/bench.json</code> (<code>make bench</code>) when it has the figure, else "
        "from this report. Also in <a href=traceability.csv>traceability.csv</a>.</p>"
        + err
        + _table(["rule", "what", "enforced by", "tests", "latest measured"], rows)
    )


def runs_section(data: dict) -> str:
    m = data["meta"]
    kinds: dict[str, list] = {}
    for r in data["runs"]:
        k = r["name"].split("-")[0] if r["kind"] == "program" else r["kind"]
        kinds.setdefault(k, []).append(r)
    rows = []
    for k, rs in kinds.items():
        rows.append(
            [
                e(k),
                "%d" % len(rs),
                "%.0f" % sum(r.get("simulated_s") or 0 for r in rs),
                "%.1f" % sum(r.get("wall_s") or 0 for r in rs),
                e(
                    "; ".join(sorted({x for r in rs for x in (r.get("device_errors") or [])}))[
                        :300
                    ]
                ),
            ]
        )
    errs = "".join(
        "<p class=bad>Run %s failed: %s</p>" % (e(x["name"]), e(x["error"]))
        for x in data["errors"]
    )
    fw = [
        "%s: %s" % (r["name"], x["error"])
        for r in data["runs"]
        for x in (r.get("firmware_exceptions") or [])
    ]
    if fw:
        errs += "<p class=bad>Exceptions out of the firmware: %s</p>" % e("; ".join(fw[:10]))
    return (
        "<h2 id=runs>What was run</h2>"
        "<p>%d runs of the firmware's own control loop (<code>firmware.app.App.run</code>, "
        "unmodified) on the <code>sim</code> board through the simulator's API "
        "(<code>tools.sim.api</code>), each a scripted client: long POWER, probes on the load "
        'at 2.5 s, short POWER at 5 s; settings <code>{"mode": home|pro, "level": %d}</code>; '
        "%.0f s simulated in %.0f s on %d processes (%s, Python %s). Command: "
        "<code>%s</code>.</p>"
        "<p><b>Per-step figures</b>: a step's output depends on its waveform fields, intensity "
        "range, stroke length and probe, on the eye cap (an area naming 'eye') and on the cap "
        "and level; not on where the probes go (area, side, movement) or on how many strokes "
        "it has (the strokes rise to the client's level on the last one). Each distinct "
        "configuration (C1, C2, ...) was therefore run once per load and cap as a step of its "
        "own, on the forehead (eye steps on the eye contour, left and right), with 3 strokes of "
        "its own length, in custom programs <code>r_c1</code>, <code>r_c2</code>, ... installed "
        "in the device's <code>/programs</code>; every program step shows the figures of its "
        "configuration. <b>Whole programs</b>: each was also run once at %s, professional cap "
        "(%s), for the session figures under its table and as a check that its steps measure "
        "as their configurations do.</p>"
        % (
            m["runs"],
            m["level"],
            m["simulated_s"],
            m["wall_s_runs"],
            m["jobs"],
            e(m["machine"]),
            e(m["python"]),
            e(m["command"]),
            ohm(data["ref_load_ohm"]),
            "as written" if m["full"] else "every step cut to 3 strokes",
        )
        + errs
        + _table(["runs", "count", "simulated (s)", "wall (s)", "device log errors"], rows)
        + _table(
            ["configuration", "run as", "steps"],
            [
                [
                    e(c["id"]),
                    "%s step %d (%s)"
                    % (e(c["program"]), c["step"], "eye contour" if c["eye"] else "forehead"),
                    e(", ".join(c["members"])),
                ]
                for c in data.get("configs", [])
            ],
        )
    )


def hil_section(data: dict) -> str:
    h = data.get("hil")
    if not h:
        return ""
    if h.get("error"):
        return "<h2 id=hil>Hardware-in-the-loop</h2><p class=bad>%s: %s</p>" % (
            e(h["file"]),
            e(h["error"]),
        )
    f = h["figures"]
    sim = h.get("sim") or {}
    st = sim.get("timing") or {}
    sl = sim.get("at_load") or {}
    keys = [
        ("frequency (Hz)", f.get("freq_hz"), st.get("freq_hz")),
        ("phase (µs)", f.get("phase_us"), st.get("phase_us")),
        ("dead time (µs)", f.get("dead_us"), st.get("dead_us")),
        ("rest (µs)", f.get("rest_us"), st.get("rest_us")),
        (
            "+/- phase difference max (µs)",
            f.get("phase_pair_diff_us_max"),
            st.get("phase_pair_diff_us_max"),
        ),
        ("peak current (µA)", f.get("peak_ua"), sl.get("peak_ua")),
        ("peak electrode voltage (V, sensed)", f.get("peak_v_sense"), sl.get("peak_v")),
        ("charge per phase max (nC)", f.get("phase_charge_nc_max"), sl.get("phase_charge_nc_max")),
        (
            "net per period max (nC)",
            f.get("net_per_period_nc_max"),
            sl.get("net_per_period_nc_max"),
        ),
    ]
    rows = [[e(k), num(a, "%.5g"), num(b, "%.5g")] for k, a, b in keys]
    return (
        "<h2 id=hil>Hardware-in-the-loop comparison</h2><p>%s, %.0f..%.0f ms, against the sim "
        "step with the nearest frequency (%s). Timing and balance compare directly; currents "
        "and charges only when the capture ran at the same level and load (the tables above "
        "are at level 10; <code>make hil</code>'s client sets level 3).</p>"
        % (
            e(h["file"]),
            h["window_ms"][0],
            h["window_ms"][1],
            e("%s step %s at %s" % (sim.get("program"), sim.get("step"), sim.get("load")))
            if sim
            else "none within 1 %",
        )
        + _table(["figure", "HIL", "sim"], rows)
    )


def glance_section(data: dict) -> str:
    f = data["figures"]
    order = [
        ("peak_ua_pro", "Maximum output current"),
        ("peak_ua_home", ""),
        ("peak_ua_eye", ""),
        ("density_rms_ma_cm2_max", "Current density"),
        ("net_per_period_nc_max_biphasic", "Net charge"),
        ("net_pct_20s_max_monophasic", ""),
        ("session_net_pct_20s_max", ""),
        ("freq_range_hz", "Frequencies"),
        ("freq_error_pct_max", ""),
        ("rise_ua_per_s_max", "Soft start"),
        ("contact_window", "Contact window"),
        ("contact_loss_ms_max", "Contact loss"),
        ("probe", "Contact probe"),
        ("fault_detect_ms_max", "Faults"),
        ("step_overrun_s_max", "Step durations"),
    ]
    order.insert(0, ("trace_check", "Trace check"))
    rows = [[e(t), e(f[k])] for k, t in order if f.get(k)]
    if f.get("trace_check", "").startswith(("TRACE", "NO OUTPUT")):
        rows[0][1] = "<span class=bad>%s</span>" % rows[0][1]
    return "<h2 id=glance>At a glance</h2>" + _table(["", "measured"], rows)


def write_html(data: dict, out: str) -> None:
    m = data["meta"]
    prog_html = "".join(program_table(data, p) for p in data["programs"])
    defs = (
        "<p class=note>Definitions. <b>Peak</b>: the largest |current| through the load in the "
        "step; <b>V</b>: peak current x load (the electrode voltage; at most the %g V rail). "
        "<b>Phase</b>: a run of current of one polarity (median width); <b>dead</b>: the gap "
        "inside a biphasic period (+ to -), <b>rest</b>: the gap to the next period (monophasic: "
        "the off time). <b>Charge per phase</b>: the largest ∫|I|dt of a phase. <b>Net per "
        "period</b>: ∫I dt over each whole period, largest magnitude (a monophasic period is "
        "one pulse: it balances over the alternation). <b>Net per 20 s</b>: |∫I dt| / ∫|I| dt "
        "over every 20 s window starting every 10 ms inside the step (DESIGN 3: within 5 %% for "
        "monophasic steps; for biphasic steps it also counts the half phases a window cuts "
        "while the level changes). <b>r.m.s., average |I|, power</b> (I²R): over the step's "
        "last stroke. <b>DC</b>: the mean signed current over the step. <b>Density</b>: over the "
        "step's probe contact area (board file: %s mm²). Current density limit: 2 mA/cm² "
        "r.m.s. (IEC 60601-2-10). Contact probe pulses (≤ 20 µA, ≤ 2 ms) are not counted as "
        "phases.</p>"
        % (
            data["rail_v"],
            ", ".join("%s %s" % (k, v) for k, v in data["probe_area_mm2"].items()),
        )
    )
    nav = " · ".join(
        '<a href="#%s">%s</a>' % (a, t)
        for a, t in (
            ("glance", "at a glance"),
            ("programs", "programs"),
            ("compliance", "current vs load"),
            ("waveforms", "waveforms"),
            ("contact", "contact monitor"),
            ("faults", "faults"),
            ("traceability", "traceability"),
            ("runs", "what was run"),
        )
    )
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Output characteristics and traceability</title><style>%s</style></head><body>"
        "<h1>Microcurrent device: output characteristics and traceability</h1>"
        "<p>Generated by <code>make report</code> (<code>python -m tools.report</code>) on %s "
        "from commit <code>%s</code>%s. Every figure below was measured on the trace of the "
        "firmware running on the simulated board (<code>sim</code>: the reference output "
        "stage, %g V compliance rail, R<sub>set</sub> giving 1100 µA at DAC full scale, a "
        "resistive load), at the client's highest level (10). Nothing is copied from the "
        "program files but each step's name (area, side, probe, declared shape). Files: "
        "<a href=report.json>report.json</a>, <a href=steps.csv>steps.csv</a>, "
        "<a href=compliance.csv>compliance.csv</a>, <a href=contact.csv>contact.csv</a>, "
        "<a href=faults.csv>faults.csv</a>, <a href=traceability.csv>traceability.csv</a>."
        "</p><p>%s</p>"
        % (
            CSS,
            e(m["date"]),
            e(m["commit"]),
            " <span class=bad>(device code modified since)</span>"
            if m.get("firmware_modified")
            else "",
            data["rail_v"],
            nav,
        )
        + ("<p class=bad>%s</p>" % e(m["note"]) if m.get("note") else "")
        + glance_section(data)
        + "<h2 id=programs>Programs, step by step</h2>"
        + defs
        + prog_html
        + compliance_section(data)
        + closeup_section(data)
        + contact_section(data)
        + faults_section(data)
        + hil_section(data)
        + trace_section(data)
        + runs_section(data)
        + "</body></html>\n"
    )
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as f:
        f.write(page)
