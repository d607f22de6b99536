"""Figures from a trace (DESIGN 6: one row per control tick and per output edge; each row's
values hold until the next row). Pure functions over numpy arrays: no simulator import, so a
hardware CSV (t_us, load_ua) goes through the same code.

Units: time µs, current µA, charge pC (= µA·µs) inside, nC or µC in the results.
"""

from __future__ import annotations

import numpy as np

WINDOW_US = 20_000_000  # the 20 s charge-balance window (DESIGN 3)
WINDOW_STEP_US = 10_000  # window starts every 10 ms


def durations(t: np.ndarray, t_end: int) -> np.ndarray:
    """How long each row's value holds: to the next row, the last one to t_end."""
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64)
    nxt = np.append(t[1:], max(int(t_end), int(t[-1])))
    return np.maximum(nxt - t, 0)


def pulses(t: np.ndarray, v: np.ndarray, t_end: int) -> dict:
    """Runs of constant non-zero sign in v (a phase, a monophasic pulse, a probe pulse):
    arrays start, end (µs), sign (+1/-1), peak (max |v|, µA), q (signed charge, pC),
    i2 (∫v² dt, µA²·µs)."""
    t = np.asarray(t, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    n = len(t)
    empty = {k: np.zeros(0, dtype=np.int64) for k in ("start", "end", "sign", "peak", "q", "i2")}
    if n == 0:
        return empty
    dt = durations(t, t_end)
    s = np.sign(v)
    change = np.flatnonzero(np.diff(s) != 0) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    keep = s[starts] != 0
    if not keep.any():
        return empty
    q = np.add.reduceat(v * dt, starts)
    i2 = np.add.reduceat(v * v * dt, starts)
    peak = np.maximum.reduceat(np.abs(v), starts)
    t_ext = np.append(t, max(int(t_end), int(t[-1])))
    out = {
        "start": t[starts][keep],
        "end": t_ext[ends][keep],
        "sign": s[starts][keep],
        "peak": peak[keep],
        "q": q[keep],
        "i2": i2[keep],
    }
    nz = out["end"] > out["start"]
    return {k: a[nz] for k, a in out.items()}


def trim(p: dict, v) -> dict:
    """Without the pulses a window cut: the first when the window opens inside it, the last
    when it closes inside it."""
    n = len(p["start"])
    if n == 0 or len(v) == 0:
        return p
    a = 1 if v[0] != 0 else 0
    b = n - 1 if v[-1] != 0 else n
    if a == 0 and b == n:
        return p
    return {k: x[a:b] for k, x in p.items()}


def _median(a) -> float | None:
    return float(np.median(a)) if len(a) else None


def _steady_mean(d: np.ndarray, tol: float = 0.01) -> float | None:
    """Mean of the differences within tol of their median (drops gaps where pulses were
    skipped, e.g. the zero-amplitude periods at the start of a soft start)."""
    if len(d) == 0:
        return None
    m = np.median(d)
    k = d[np.abs(d - m) <= tol * m]
    return float(k.mean()) if len(k) else float(m)


def train(p: dict) -> dict:
    """Timing, polarity pattern and charge per period of a pulse train (from pulses())."""
    n = len(p["start"])
    res: dict = {"pulses": int(n)}
    if n == 0:
        return res
    start, end, sign, q, peak = p["start"], p["end"], p["sign"], p["q"], p["peak"]
    width = end - start
    res["phase_us"] = _median(width)
    res["phase_us_min"] = int(width.min())
    res["phase_us_max"] = int(width.max())
    lead = int(sign[0])
    res["lead"] = "+" if lead > 0 else "-"
    if n >= 2:
        alt = float(np.mean(sign[1:] != sign[:-1]))
    else:
        alt = 0.0
    res["alternation"] = alt
    biphasic = n >= 2 and alt > 0.9
    res["polarity_mode"] = "biphasic" if biphasic else "monophasic"
    gaps = start[1:] - end[:-1]
    if biphasic:
        lead_idx = np.flatnonzero(sign == lead)
        per = np.diff(start[lead_idx])
        res["period_us"] = _steady_mean(per)
        # the gap inside a period (lead -> opposite) is the dead time; the other is the rest
        inner = (sign[:-1] == lead) & (sign[1:] == -lead)
        outer = (sign[:-1] == -lead) & (sign[1:] == lead)
        res["dead_us"] = _median(gaps[inner])
        res["dead_us_min"] = int(gaps[inner].min()) if inner.any() else None
        res["dead_us_max"] = int(gaps[inner].max()) if inner.any() else None
        res["rest_us"] = _median(gaps[outer])
        # net charge of each whole period: a lead phase and the opposite phase that follows it
        i = np.flatnonzero(inner)
        net = q[i] + q[i + 1]
        res["net_per_period_nc_max"] = float(np.abs(net).max() / 1000) if len(net) else None
        res["net_per_period_nc_mean"] = float(net.mean() / 1000) if len(net) else None
        res["periods"] = int(len(net))
        eq = np.abs(width[i] - width[i + 1])
        res["phase_pair_diff_us_max"] = int(eq.max()) if len(eq) else None
        res["alt_interval_s"] = None
    else:
        per = np.diff(start)
        res["period_us"] = _steady_mean(per)
        same = sign[1:] == sign[:-1]
        res["dead_us"] = _median(gaps[same]) if same.any() else _median(gaps)
        res["dead_us_min"] = int(gaps.min()) if len(gaps) else None
        res["dead_us_max"] = int(gaps.max()) if len(gaps) else None
        res["rest_us"] = None
        res["net_per_period_nc_max"] = float(np.abs(q).max() / 1000)
        res["net_per_period_nc_mean"] = float(q.mean() / 1000)
        res["periods"] = int(n)
        res["phase_pair_diff_us_max"] = None
        flips = np.flatnonzero(sign[1:] != sign[:-1]) + 1
        if len(flips) >= 2:
            res["alt_interval_s"] = float(np.median(np.diff(start[flips])) / 1e6)
        else:
            res["alt_interval_s"] = None
        res["flip_gap_us_min"] = int(gaps[~same].min()) if (~same).any() else None
    pu = res.get("period_us")
    res["freq_hz"] = 1e6 / pu if pu else None
    res["peak_ua"] = int(peak.max())
    res["phase_charge_nc_max"] = float(np.abs(q).max() / 1000)
    res["charge_pos_uc"] = float(q[q > 0].sum() / 1e6)
    res["charge_neg_uc"] = float(-q[q < 0].sum() / 1e6)
    res["rise_ua_per_s_max"] = rise_rate(p)
    return res


def rise_rate(p: dict, span_us: int = 2_000_000) -> float | None:
    """Steepest rise of the pulse amplitude (µA/s) between a pulse and the first pulse of the
    same polarity at least span_us later (the level changes at period starts, and the DAC and
    the sense quantise it: a rate between neighbours at 100 Hz would be quantisation noise)."""
    best = None
    for sgn in (1, -1):
        idx = np.flatnonzero(p["sign"] == sgn)
        if len(idx) < 2:
            continue
        a = p["peak"][idx].astype(np.float64)
        ts = p["start"][idx]
        j = np.searchsorted(ts, ts + span_us)
        ok = j < len(ts)
        if not ok.any():
            continue
        i = np.flatnonzero(ok)
        jj = j[ok]
        r = (a[jj] - a[i]) / (ts[jj] - ts[i]) * 1e6
        m = float(r.max())
        if m > 0 and (best is None or m > best):
            best = m
    return best


PROBE_MAX_UA = 20  # DESIGN 4.5: a contact probe is at most 20 µA ...
PROBE_MAX_US = 2000  # ... for at most 2 ms


def split_probes(p: dict) -> tuple[dict, dict]:
    """(stimulation pulses, contact-probe pulses): a probe is at most 20 µA and 2 ms and
    shorter than the train's own phases."""
    if len(p["start"]) == 0:
        return p, p
    w = p["end"] - p["start"]
    small = (p["peak"] <= PROBE_MAX_UA) & (w <= PROBE_MAX_US)
    big = ~small
    if big.any():
        typical = np.median(w[big])
        small &= w < 0.9 * typical
    else:
        small = small.copy()
    return {k: a[~small] for k, a in p.items()}, {k: a[small] for k, a in p.items()}


def envelope(p: dict, t0: int, t1: int) -> dict:
    """The amplitude envelope of the pulses starting in [t0, t1): time to reach 95 % of the
    top, time held there, time from leaving it to the last pulse, and the lowest amplitude
    after the top as a fraction of it (a ramped 'wave' envelope falls; a plain train holds)."""
    m = (p["start"] >= t0) & (p["start"] < t1)
    st = p["start"][m]
    pk = p["peak"][m]
    if len(st) < 3:
        return {}
    top = pk.max()
    hi = np.flatnonzero(pk >= 0.95 * top)
    first, last = hi[0], hi[-1]
    after = pk[last:]
    return {
        "rise_s": float((st[first] - st[0]) / 1e6),
        "hold_s": float((st[last] - st[first]) / 1e6),
        "fall_s": float((st[-1] - st[last]) / 1e6),
        "min_after_top_pct": float(after.min() * 100.0 / top) if top else None,
    }


def integrals(t: np.ndarray, v: np.ndarray, t_end: int, t0: int, t1: int) -> dict:
    """∫v, ∫|v|, ∫v² over [t0, t1) of a row trace (rows hold their value until the next)."""
    t = np.asarray(t, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if len(t) == 0 or t1 <= t0:
        return {"T_us": 0, "q": 0, "qa": 0, "i2": 0}
    nxt = np.append(t[1:], max(int(t_end), int(t[-1])))
    a = np.clip(t, t0, t1)
    b = np.clip(nxt, t0, t1)
    dt = np.maximum(b - a, 0)
    vf = v.astype(np.float64)
    return {
        "T_us": int(t1 - t0),
        "q": float((vf * dt).sum()),
        "qa": float((np.abs(vf) * dt).sum()),
        "i2": float((vf * vf * dt).sum()),
    }


def windows(t: np.ndarray, v: np.ndarray, t_end: int, t0: int, t1: int) -> dict | None:
    """Every 20 s window starting in [t0, t1 - 20 s], every 10 ms: the largest |net charge| and
    the largest |net| / total charge of a window (DESIGN 3: within 5 %). None when [t0, t1)
    is shorter than a window."""
    if t1 - t0 < WINDOW_US or len(t) == 0:
        return None
    t = np.asarray(t, dtype=np.int64)
    v = np.asarray(v, dtype=np.float64)
    dt = durations(t, t_end).astype(np.float64)
    edges = np.append(t, max(int(t_end), int(t[-1]))).astype(np.float64)
    cn = np.concatenate(([0.0], np.cumsum(v * dt)))
    ca = np.concatenate(([0.0], np.cumsum(np.abs(v) * dt)))
    starts = np.arange(t0, t1 - WINDOW_US + 1, WINDOW_STEP_US, dtype=np.float64)
    net = np.interp(starts + WINDOW_US, edges, cn) - np.interp(starts, edges, cn)
    tot = np.interp(starts + WINDOW_US, edges, ca) - np.interp(starts, edges, ca)
    ok = tot > 0
    if not ok.any():
        return {"windows": int(len(starts)), "net_uc_max": 0.0, "net_pct_max": None}
    ratio = np.zeros_like(tot)
    ratio[ok] = np.abs(net[ok]) / tot[ok]
    k = int(np.argmax(ratio))
    return {
        "windows": int(len(starts)),
        "net_uc_max": float(np.abs(net).max() / 1e6),
        "net_pct_max": float(ratio[k] * 100),
        "worst_start_s": float((starts[k] - t0) / 1e6),
        "worst_total_uc": float(tot[k] / 1e6),
    }


def step_figures(
    t: np.ndarray,
    meas: np.ndarray,
    cmd: np.ndarray,
    t0: int,
    t1: int,
    load_ohm: float,
    last_stroke_us: int | None = None,
    window: bool = False,
) -> dict:
    """Every figure of one program step (rows in [t0, t1)) into a known load. A step's first
    phase opens its periods; for an arbitrary window (window=True, e.g. a hardware capture)
    a biphasic train is paired the way that balances best (where its periods start is not
    known: the gaps inside and between periods may be equal)."""
    p = pulses(t, meas, t1)
    if window:
        p = trim(p, meas)
    p, probes = split_probes(p)
    res = train(p)
    if window and res.get("polarity_mode") == "biphasic" and len(p["start"]) > 2:
        alt = train({k: x[1:] for k, x in p.items()})
        if (alt.get("net_per_period_nc_max") or 0) < (res.get("net_per_period_nc_max") or 0):
            res = alt
    res["probe_pulses"] = int(len(probes["start"]))
    res["span_s"] = (t1 - t0) / 1e6
    res["peak_cmd_ua"] = int(np.abs(cmd).max()) if len(cmd) else 0
    pk = res.get("peak_ua", 0)
    res["peak_ua"] = pk
    res["peak_v"] = pk * load_ohm / 1e6
    whole = integrals(t, meas, t1, t0, t1)
    res["charge_uc"] = whole["qa"] / 1e6
    res["net_uc"] = whole["q"] / 1e6
    res["dc_ua"] = whole["q"] / whole["T_us"] if whole["T_us"] else 0.0
    ls = last_stroke_us if last_stroke_us and last_stroke_us < t1 - t0 else t1 - t0
    w0 = t1 - ls
    last = integrals(t, meas, t1, w0, t1)
    T = last["T_us"] or 1
    res["window_s"] = T / 1e6
    res["rms_ua"] = (last["i2"] / T) ** 0.5
    res["avg_ua"] = last["qa"] / T
    res["dc_last_ua"] = last["q"] / T
    res["power_mw"] = last["i2"] / T * load_ohm * 1e-9  # µA² Ω = pW
    res["envelope"] = envelope(p, w0, t1)
    res["window20"] = windows(t, meas, t1, t0, t1)
    return res


def densities(rms_ua: float, peak_ua: float, power_mw: float, area_mm2: float) -> dict:
    """Current density (mA/cm², r.m.s. and peak) and power density (mW/cm²) over a probe's
    contact area: 1 mA/cm² = 10 µA/mm²."""
    cm2 = area_mm2 / 100.0
    return {
        "area_mm2": area_mm2,
        "rms_ma_cm2": rms_ua / 1000.0 / cm2,
        "peak_ma_cm2": peak_ua / 1000.0 / cm2,
        "power_mw_cm2": power_mw / cm2,
    }
