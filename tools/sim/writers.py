"""trace.vcd (pyvcd) and trace.png (matplotlib, Agg) from a simulator run. Host side only.

trace.csv itself is written by the core while the firmware runs (on either runtime); these
read it back (tools/sim/summary.py) and draw or dump the same signals.
"""

from __future__ import annotations

import os

from tools.sim.summary import STATES, Trace, session_bounds, step_spans

_NONE = "-"  # VCD strings cannot be empty or hold spaces


def _vstr(v) -> str:
    if v is None or v == "":
        return _NONE
    return str(v).replace(" ", "_")


def write_vcd(tr: Trace, path: str | os.PathLike[str]) -> str:
    """The trace.csv signals plus OUT_EN, BOOST_EN, POL_A/B, the DAC code, area, side and the
    cues, as a value change dump (timescale 1 µs)."""
    from vcd import VCDWriter

    changes: list[tuple[int, int, str, object]] = []  # (t, order, var name, value)
    o = 0
    for i in range(len(tr)):
        t = tr.t[i]
        z = tr.z[i]
        step = tr.step[i]
        for name, v in (
            ("commanded_ua", tr.cmd[i]),
            ("measured_ua", tr.meas[i]),
            ("contact", tr.contact[i]),
            ("impedance_ohm", "x" if z is None else z),
            ("state", _vstr(tr.state[i])),
            ("program", _vstr(tr.program[i])),
            ("step", "x" if step is None else step),
            ("fault", _vstr(tr.fault[i])),
        ):
            changes.append((t, o, name, v))
            o += 1
    for t, name, v in tr.signals:
        changes.append((t, o, name, v))
        o += 1
    for e in tr.events:
        if e["kind"] == "state":
            changes.append((e["t_us"], o, "area", _vstr(e.get("area"))))
            changes.append((e["t_us"], o + 1, "side", _vstr(e.get("side"))))
            o += 2
        elif e["kind"] == "cue":
            changes.append((e["t_us"], o, "cue", _vstr(e["cue"])))
            o += 1
        elif e["kind"] == "scenario":
            what = e.get("press") or e.get("fault") or e.get("clear_fault")
            if "contact" in e:
                what = "contact_%s" % ("on" if e["contact"] else "off")
            elif "clear_fault" in e:
                what = "clear_" + str(what)
            elif "press" in e:
                what = "press_" + str(what)
            changes.append((e["t_us"], o, "scenario", _vstr(what)))
            o += 1
    changes.sort(key=lambda c: (c[0], c[1]))
    specs = {
        "commanded_ua": ("integer", 32),
        "measured_ua": ("integer", 32),
        "contact": ("wire", 1),
        "impedance_ohm": ("integer", 32),
        "state": ("string", None),
        "program": ("string", None),
        "step": ("integer", 32),
        "fault": ("string", None),
        "out_en": ("wire", 1),
        "boost_en": ("wire", 1),
        "pol_a": ("wire", 1),
        "pol_b": ("wire", 1),
        "dac_code": ("wire", 12),
        "area": ("string", None),
        "side": ("string", None),
        "cue": ("string", None),
        "scenario": ("string", None),
    }
    last: dict[str, object] = {}
    with (
        open(path, "w") as f,
        VCDWriter(f, timescale="1 us", date="simulated", version="tools.sim") as w,
    ):
        vars_ = {}
        for name, (typ, size) in specs.items():
            init = _NONE if typ == "string" else ("x" if typ == "integer" else 0)
            if name in ("out_en", "boost_en", "pol_a", "pol_b", "dac_code"):
                init = "x"
            kw = {"init": init}
            if size is not None:
                kw["size"] = size
            vars_[name] = w.register_var("sim", name, typ, **kw)
        for t, _, name, v in changes:
            if last.get(name) == v:
                continue
            last[name] = v
            w.change(vars_[name], t, v)
    return str(path)


def _compress(tr: Trace):
    """For runs of several sessions days apart: a map from trace time to plot seconds that
    removes the gaps between sessions, and the session starts in plot seconds."""
    bounds = session_bounds(tr)
    offs = []
    acc = 0
    for s, e in bounds:
        offs.append((s, e, acc - s))
        acc += e - s

    def f(t: int) -> float:
        for _s, e, off in offs:
            if t <= e:
                return (t + off) / 1e6
        return (t + offs[-1][2]) / 1e6 if offs else t / 1e6

    starts = [(s + off) / 1e6 for s, _, off in offs]
    return f, starts


def write_png(tr: Trace, summary: dict, path: str | os.PathLike[str], title: str = "") -> str:
    """Current (commanded and measured, with the program's areas marked), a close-up of the
    pulses, contact with the impedance estimate, and the state, over simulated time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tmap, starts = _compress(tr)
    n = len(tr)
    x = np.array([tmap(t) for t in tr.t]) if n else np.zeros(0)
    cmd = np.array(tr.cmd, dtype=float)
    meas = np.array(tr.meas, dtype=float)
    fig, axes = plt.subplots(
        4, 1, figsize=(12, 9), gridspec_kw={"height_ratios": [3, 2, 1.3, 1.3]}, dpi=100
    )
    ax_i, ax_zoom, ax_c, ax_s = axes
    fig.suptitle(title or "simulated session", fontsize=12)

    def envelope(ax, xs, ys, color, label, fill=True):
        """Min/max per pixel column for long runs (a 10 min program has ~10^6 edges)."""
        if len(xs) > 6000:
            bins = np.linspace(xs[0], xs[-1], 2001)
            idx = np.clip(np.searchsorted(bins, xs, side="right") - 1, 0, 1999)
            lo = np.full(2000, np.nan)
            hi = np.full(2000, np.nan)
            np.fmin.at(lo, idx, ys)
            np.fmax.at(hi, idx, ys)
            mid = (bins[:-1] + bins[1:]) / 2
            # widen to 9 columns: slow pulse trains read as their level, not as a comb (the
            # close-up below shows the pulses themselves)
            win = np.lib.stride_tricks.sliding_window_view
            pad_lo = np.pad(lo, 4, constant_values=np.nan)
            pad_hi = np.pad(hi, 4, constant_values=np.nan)
            with np.errstate(all="ignore"):
                lo = np.where(np.isnan(lo), np.nan, np.nanmin(win(pad_lo, 9), axis=1))
                hi = np.where(np.isnan(hi), np.nan, np.nanmax(win(pad_hi, 9), axis=1))
            ok = ~np.isnan(lo)
            if fill:
                ax.fill_between(
                    mid[ok],
                    lo[ok],
                    hi[ok],
                    step="mid",
                    color=color,
                    alpha=0.55,
                    linewidth=0,
                    label=label,
                )
            else:
                ax.step(mid[ok], hi[ok], where="mid", color=color, linewidth=0.7, label=label)
                ax.step(mid[ok], lo[ok], where="mid", color=color, linewidth=0.7)
        else:
            ax.step(xs, ys, where="post", color=color, linewidth=0.8, label=label)

    # areas of the program
    spans = step_spans(tr)
    palette = ("#e8f0fe", "#fef3e0")
    for k, s in enumerate(spans):
        a, b = tmap(s["start_us"]), tmap(s["end_us"])
        ax_i.axvspan(a, b, color=palette[k % 2], zorder=0)
        width = b - a
        xr = (x[-1] - x[0]) if n > 1 else 1
        if width > xr * 0.04:
            ax_i.text(
                (a + b) / 2,
                0.98,
                "%s\n%s" % (s["area"], s["side"]),
                ha="center",
                va="top",
                fontsize=7,
                transform=ax_i.get_xaxis_transform(),
                color="#444",
            )
    if n:
        envelope(ax_i, x, meas, "#1f77b4", "measured (load)")
        envelope(ax_i, x, cmd, "#ff7f0e", "commanded (envelope)", fill=False)
    ax_i.set_ylabel("current (µA)")
    ax_i.legend(loc="lower right", fontsize=7)
    lim = max(50, summary.get("max_abs_measured_ua", 0), summary.get("max_abs_commanded_ua", 0))
    ax_i.set_ylim(-lim * 1.25, lim * 1.25)
    ceiling = summary.get("ceiling_ua")
    if ceiling and ceiling <= lim * 1.25:
        for y in (ceiling, -ceiling):
            ax_i.axhline(y, color="red", linewidth=0.6, linestyle="--")
        ax_i.text(
            0.005,
            ceiling,
            "ceiling",
            color="red",
            fontsize=7,
            va="bottom",
            transform=ax_i.get_yaxis_transform(),
            clip_on=True,
        )

    # close-up: 1.5 s of pulses where the output first runs on skin
    on = np.nonzero((np.abs(meas) > 0) & (np.array(tr.contact) > 0))[0] if n else []
    if len(on):
        # a little into the first treatment, where the level has risen
        t0 = x[on[min(len(on) - 1, len(on) // 20)]]
        sel = (x >= t0) & (x <= t0 + 1.5)
        ax_zoom.step(
            x[sel],
            meas[sel],
            where="post",
            color="#1f77b4",
            linewidth=1.6,
            label="measured (load)",
        )
        ax_zoom.step(
            x[sel],
            cmd[sel],
            where="post",
            color="#ff7f0e",
            linewidth=0.9,
            linestyle="--",
            label="commanded",
        )
        ax_zoom.set_xlim(t0, t0 + 1.5)
        ax_zoom.legend(loc="lower right", fontsize=7)
        ax_zoom.set_title("close-up: %.1f s to %.1f s" % (t0, t0 + 1.5), fontsize=8)
    else:
        ax_zoom.text(
            0.5,
            0.5,
            "no current flowed on skin",
            ha="center",
            va="center",
            transform=ax_zoom.transAxes,
        )
    ax_zoom.set_ylabel("µA")

    # contact and impedance
    if n:
        ax_c.fill_between(
            x, 0, tr.contact, step="post", color="#2ca02c", alpha=0.4, label="contact (firmware)"
        )
        zs = np.array([np.nan if v is None else v / 1000 for v in tr.z])
        az = ax_c.twinx()
        az.step(x, zs, where="post", color="#555", linewidth=0.7)
        az.set_ylabel("kΩ (estimate)", fontsize=8)
        finite = zs[np.isfinite(zs)]
        if len(finite):
            az.set_ylim(0, max(1.0, float(np.percentile(finite, 99)) * 1.2))
    ax_c.set_ylim(-0.05, 1.1)
    ax_c.set_yticks([0, 1])
    ax_c.set_ylabel("contact")

    # state
    sidx = [STATES.index(s) if s in STATES else -1 for s in tr.state]
    if n:
        ax_s.step(x, sidx, where="post", color="#9467bd", linewidth=1.0)
    ax_s.set_yticks(range(len(STATES)))
    ax_s.set_yticklabels(STATES, fontsize=7)
    ax_s.set_ylim(-0.5, len(STATES) - 0.5)
    ax_s.set_xlabel("simulated time (s)" + (", sessions joined" if len(starts) > 1 else ""))

    for ax in (ax_i, ax_c, ax_s):
        if n:
            ax.set_xlim(x[0], x[-1])
        for f in summary.get("faults", []):
            ax.axvline(tmap(f["t_us"]), color="red", linewidth=1.0)
        if len(starts) > 1:
            for s in starts:
                ax.axvline(s, color="black", linewidth=0.5, linestyle=":")
    for f in summary.get("faults", []):
        ax_s.text(
            tmap(f["t_us"]), len(STATES) - 0.6, " " + f["code"], color="red", fontsize=7, va="top"
        )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
