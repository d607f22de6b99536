"""make bench (tools/bench.py): build/bench.json is one flat object with exactly the DESIGN 7
keys, unmeasured figures are null, helper figures are merged, never guessed."""

from __future__ import annotations

import json
import sys
import types

import pytest

from tools import bench

DESIGN_7 = [
    "plan_build_us_cpython",
    "plan_build_us_micropython",
    "segment_us_cpython",
    "segment_us_micropython",
    "alloc_bytes_per_segment_micropython",
    "freq_error_pct_max",
    "max_phase_stretch_ms",
    "tick_us_cpython",
    "tick_us_micropython",
    "tick_ratio_empty_loop_micropython",
    "alloc_bytes_per_tick_micropython",
    "ram_after_boot_bytes",
    "mpy_total_bytes",
    "sim_speedup",
    "reaction_contact_loss_ms",
    "reaction_overcurrent_ms",
    "tick_us_rp2040_est",
    "dead_time_error_us_max",
    "net_charge_pct_max_20s",
]


def test_keys_are_design_7():
    assert list(bench.KEY_NAMES) == DESIGN_7


def test_put_takes_only_known_numeric_keys():
    b = bench.Bench()
    b.put({"segment_us_cpython": 3.5, "other": 1, "freq_error_pct_max": "low"}, "x")
    b.put(None, "y")
    assert b.values["segment_us_cpython"] == 3.5
    assert b.values["freq_error_pct_max"] is None
    assert "other" not in b.values
    assert any("freq_error_pct_max" in n for n in b.notes)


def test_mpy_total_from_sizes_file(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "BUILD", str(tmp_path))
    b = bench.Bench()
    bench.mpy_total(b)
    assert b.values["mpy_total_bytes"] is None and b.notes  # no `make mpy` yet: null
    (tmp_path / "mpy_sizes.json").write_text(json.dumps({"a": 10, "b.c": 20, "total": 30}))
    bench.mpy_total(b)
    assert b.values["mpy_total_bytes"] == 30


def test_bench_json_exact_keys_nulls_and_helpers(tmp_path, monkeypatch, capsys):
    """A run without the VM and the sim: the CPython tick is measured, the helpers' figures
    are merged, everything else is null."""
    wf = types.ModuleType("tools.bench_waveforms")
    wf.measure_cpython = lambda: {"plan_build_us_cpython": 12.5, "freq_error_pct_max": 0.1}
    wf.measure_micropython = lambda runner: pytest.fail("no VM in this run")
    sf = types.ModuleType("tools.bench_safety")

    def boom():
        raise RuntimeError("rig broke")

    sf.measure = boom
    monkeypatch.setitem(sys.modules, "tools.bench_waveforms", wf)
    monkeypatch.setitem(sys.modules, "tools.bench_safety", sf)
    monkeypatch.setattr(bench, "BUILD", str(tmp_path))
    out = tmp_path / "bench.json"
    assert bench.main(["--no-vm", "--no-sim", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert list(data) == DESIGN_7
    assert data["plan_build_us_cpython"] == 12.5
    assert data["freq_error_pct_max"] == 0.1
    assert isinstance(data["tick_us_cpython"], (int, float)) and data["tick_us_cpython"] > 0
    for k in DESIGN_7:
        if k not in ("plan_build_us_cpython", "freq_error_pct_max", "tick_us_cpython"):
            assert data[k] is None, k
    printed = capsys.readouterr().out
    assert "tick_us_cpython" in printed and "rig broke" in printed
    meta = json.loads((tmp_path / "bench_meta.json").read_text())
    assert "machine" in meta and meta["source"]["tick_us_cpython"].startswith("CPython")


def test_net_charge_window_counts_whole_periods():
    """The net-charge figure's windows: a ramping 0.5 Hz biphasic train is exactly balanced
    (window edges on whole periods), an unalternated monophasic train is 100 % net, and one
    that alternates every 5 s is within a few %."""
    from tools.bench_waveforms import window_pct

    t, v = [], []
    now = 0
    for k in range(30):  # 60 s of 0.5 Hz biphasic, the level ramping
        lvl = 10 + 10 * k
        for sign in (1, -1):
            t += [now, now + 999_975]
            v += [sign * lvl, 0]
            now += 1_000_000
    t.append(now)
    v.append(0)
    assert window_pct(t, v) == 0.0
    t, v = [], []
    for k in range(6000):  # 60 s of 100 Hz monophasic, one polarity
        t += [k * 10_000, k * 10_000 + 5_000]
        v += [100, 0]
    assert abs(window_pct(t + [60_000_000], v + [0]) - 100.0) < 1e-9
    v = [
        (100 if (k // 500) % 2 == 0 else -100) if x else 0
        for k, x in enumerate(v[::2])
        for x in (1, 0)
    ]
    assert window_pct(t + [60_000_000], v + [0]) < 5.0
