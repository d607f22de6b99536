"""`make report` (tools/report): its figures checked against independent arithmetic, on
synthetic traces and on a small run of the firmware on the sim board (one program, two loads,
both caps: a few seconds)."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from tools.report import measure as M

DAC_FS = 4095  # MCP4725 on the sim board
UA_FS = 1100  # µA at DAC full scale (R_set: 1.1 x the ceiling)
RAIL_MV = 20000
DEAD_US = 25  # waveforms/plan.py default

STEP = {
    "area": "forehead",
    "side": "centre",
    "movement": "hold",
    "strokes": 3,
    "stroke_s": 20,
    "shape": "biphasic",
    "freq_hz": 10,
    "intensity_ua": [10, 300],
}
PROGRAM = {
    "format": 1,
    "id": "known",
    "name": "Known",
    "purpose": "A known step for the report test.",
    "probe": "disk",
    "steps": [STEP],
}


def played_ua(ua: int) -> int:
    """The current the stage plays for a request: the DAC code is floored, so is the current."""
    code = ua * DAC_FS // UA_FS
    return code * UA_FS // DAC_FS


# ---- the measuring code on traces whose figures are known ----


def square_trace(amp, phase, dead, period, n, t0=0):
    """Rows of a biphasic square train: +amp for phase, 0 for dead, -amp for phase, 0 rest."""
    t, v = [], []
    for k in range(n):
        b = t0 + k * period
        t += [b, b + phase, b + phase + dead, b + 2 * phase + dead]
        v += [amp, 0, -amp, 0]
    return np.array(t), np.array(v), t0 + n * period


def test_biphasic_train_figures():
    t, v, end = square_trace(250, 4000, 25, 10000, 50)
    f = M.step_figures(t, v, v, 0, end, 2000, None)
    assert f["pulses"] == 100 and f["polarity_mode"] == "biphasic"
    assert f["freq_hz"] == pytest.approx(100.0)
    assert f["phase_us"] == 4000 and f["dead_us"] == 25 and f["rest_us"] == 10000 - 8025
    assert f["phase_charge_nc_max"] == pytest.approx(250 * 4000 / 1000)
    assert f["net_per_period_nc_max"] == 0
    assert f["peak_ua"] == 250 and f["peak_v"] == pytest.approx(0.5)
    # r.m.s. of a square train: amp x sqrt(duty)
    assert f["rms_ua"] == pytest.approx(250 * (8000 / 10000) ** 0.5)
    assert f["avg_ua"] == pytest.approx(250 * 0.8)
    d = M.densities(f["rms_ua"], f["peak_ua"], f["power_mw"], 50)
    assert d["rms_ma_cm2"] == pytest.approx(f["rms_ua"] / 1000 / 0.5)


def test_window_balance_of_an_unbalanced_alternation():
    # 10 s at +100 uA then 10 s at -50 uA, repeated: a window of whole halves holds
    # (1000 - 500) uC net of 1500 uC: 33 %
    t = np.array([0, 10_000_000, 20_000_000, 30_000_000])
    v = np.array([100, -50, 100, -50])
    w = M.windows(t, v, 40_000_000, 0, 40_000_000)
    assert w["net_pct_max"] == pytest.approx(100 * 500 / 1500)
    assert w["net_uc_max"] == pytest.approx(500)


def test_probe_pulses_are_not_phases():
    t, v, end = square_trace(200, 4000, 25, 10000, 5, t0=100_000)
    t = np.concatenate(([0, 200, 20_000, 20_200], t))
    v = np.concatenate(([19, 0, -19, 0], v))
    p, probes = M.split_probes(M.pulses(t, v, end))
    assert len(probes["start"]) == 2 and len(p["start"]) == 10


def test_a_hardware_capture_cut_anywhere_measures_the_same(tmp_path):
    # a `make hil` stage CSV (t_us, load_ua, electrode_mv, ...) whose window opens inside a
    # negative phase: the train is still paired into balanced periods
    from types import SimpleNamespace

    from tools.report import assemble

    t, v, end = square_trace(300, 49975, 25, 100000, 30)
    path = tmp_path / "load.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_us", "load_ua", "electrode_mv", "dac_code"])
        for a, b in zip(t, v):
            w.writerow([a, b, abs(b) * 20, 0])
    a = SimpleNamespace(hil_csv=str(path), hil_from_ms=70.0, hil_to_ms=2950.0, hil_load=20000)
    h = assemble.hil(a, {"programs": [], "ref_load_ohm": 2000})
    f = h["figures"]
    assert f["freq_hz"] == pytest.approx(10.0)
    assert f["phase_us"] == 49975 and f["dead_us"] == 25
    assert f["net_per_period_nc_max"] == 0
    assert f["peak_ua"] == 300 and f["peak_v_sense"] == pytest.approx(6.0)


# ---- a small run of the firmware ----


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from tools.report.__main__ import main

    d = tmp_path_factory.mktemp("report")
    prog = d / "known.json"
    prog.write_text(json.dumps(PROGRAM))
    out = d / "out"
    rc = main(
        [
            "--no-presets",
            "--program",
            str(prog),
            "--loads",
            "2000,100000",
            "--no-characterisation",
            "--no-tests",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert rc == 0
    with open(out / "report.json") as f:
        data = json.load(f)
    with open(out / "steps.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return out, data, rows


def _row(rows, cap, load):
    (r,) = [r for r in rows if r["cap"] == cap and int(r["load_ohm"]) == load]
    return r


def test_the_page_and_its_files(report):
    out, data, rows = report
    for name in ("index.html", "report.json", "steps.csv", "traceability.csv"):
        assert os.path.getsize(out / name) > 0, name
    html = (out / "index.html").read_text()
    assert "Known" in html and "closeups.png" in html
    assert os.path.exists(out / "closeups.png")
    assert len(rows) == 4  # one step, two loads, two caps
    assert data["errors"] == []
    # the whole-program run: the firmware's own charge count agrees with the trace
    assert data["figures"]["trace_check"].startswith("the charge the firmware counted matches")


def test_phase_charge_is_amplitude_times_phase_duration_into_2k(report):
    _out, _data, rows = report
    r = _row(rows, "pro", 2000)
    amp = played_ua(STEP["intensity_ua"][1])  # level 10: the top of the range
    period = 1_000_000 // STEP["freq_hz"]
    phase = (period - 2 * DEAD_US) // 2  # the widest phase the plan allows
    assert int(r["peak_ua"]) == amp
    assert float(r["freq_hz"]) == pytest.approx(STEP["freq_hz"], rel=1e-6)
    assert float(r["phase_us"]) == phase and float(r["dead_us"]) == DEAD_US
    assert float(r["phase_charge_nc_max"]) == pytest.approx(amp * phase / 1000, rel=1e-3)
    assert float(r["peak_v"]) == pytest.approx(amp * 2000 / 1e6, rel=1e-3)


def test_peak_voltage_into_100k_is_held_by_the_rail(report):
    _out, _data, rows = report
    for cap in ("pro", "home"):
        r = _row(rows, cap, 100000)
        limit = RAIL_MV * 1000 // 100000  # 200 uA: 20 V across 100 kOhm
        assert int(r["peak_ua"]) == pytest.approx(limit, abs=1)
        assert float(r["peak_v"]) <= RAIL_MV / 1000
        assert float(r["peak_v"]) == pytest.approx(20.0, abs=0.1)


def test_biphasic_net_charge_per_period_is_zero(report):
    _out, data, rows = report
    for r in rows:
        assert abs(float(r["net_per_period_nc_max"])) < 0.01
        assert abs(float(r["dc_ua"])) < 0.1
    s = data["programs"][0]["session"]
    assert s["program_completed"] and abs(s["net_charge_uc"]) < 0.01
    assert s["peak_diff_vs_configs_ua"] == 0


def test_rms_and_density_from_the_last_stroke(report):
    _out, _data, rows = report
    r = _row(rows, "pro", 2000)
    amp = played_ua(300)
    # the last stroke: 3 s of soft start (100 uA/s) then the top; both phases fill 99.95 %
    # of each period: r.m.s. between the ramp-weighted bound and the peak
    duty = 2 * ((100_000 - 50) // 2) / 100_000
    top_s = STEP["stroke_s"] - amp / 100
    lo = amp * (duty * top_s / STEP["stroke_s"]) ** 0.5
    assert lo <= float(r["rms_ua"]) <= amp
    assert float(r["density_rms_ma_cm2"]) == pytest.approx(float(r["rms_ua"]) / 1000, rel=1e-3)
    assert float(r["rise_ua_per_s_max"]) <= 101  # soft start 100 uA/s (+ 1 uA quantisation)
