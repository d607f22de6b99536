"""Waveform figures for ``make bench`` (DESIGN 7), called by tools/bench.py.

The pulse edges come from hardware (rp2: PIO state machines, drivers/pulsepio.py; esp32: RMT),
played on the sim board by the vhw.rp2 fake one instruction per state-machine cycle. So:

``measure_cpython() -> dict`` (CPython, fakes installed by the caller or here):
  plan_build_us_cpython     µs per waveforms.plan.build into a preallocated Plan, median of a
                            mix (biphasic 100 Hz, monophasic 1 kHz, wave 7.5 Hz)
  segment_us_cpython        None: no Python code runs per segment (the hardware plays them)
  freq_error_pct_max        worst |f_measured - f| / f in %, 10 s runs on the sim board for
                            biphasic and monophasic plans at a log sweep of 0.3..1000 Hz, from
                            the recorded bridge edges (starts of the conducting phases)
  dead_time_error_us_max    worst |played - planned| phase or dead time on the pins over the
                            same runs (the control loop ticking at 200 Hz with the target's
                            I2C/ADC costs, level changes at period boundaries included)
  max_phase_stretch_ms      worst lengthening of a phase while the CPU is away (a GC pass or a
                            flash write: 5 ms without a tick, every 50 ms) on the sim board
  net_charge_pct_max_20s    worst |net| / total charge over any 20 s window, every preset run
                            whole on the sim board (a client at level 10 on 20 kOhm), from the
                            current through the load (the stage model: what a scope shows)
``measure_micropython(runner) -> dict`` (the MicroPython VM): plan_build_us_micropython;
  segment_us_micropython and alloc_bytes_per_segment_micropython None (no Python per segment;
  the player's part of a tick is checked allocation-free in host_tests/mp_tests).
Each figure is a number, or None when it could not be measured.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SWEEP_MHZ = (
    300, 333, 500, 777, 1000, 1500, 2718, 5000, 7999, 8000, 12345, 33333, 50000, 100000,
    123456, 250000, 333333, 500000, 777777, 999999, 1000000,
)  # fmt: skip
RUN_US = 10_000_000
TICK_US = 5000  # the app's control tick (200 Hz)
WINDOW_US = 20_000_000


def _setup():
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    if "machine" not in sys.modules:
        from vhw import install

        install.install()


def _sim():
    import machine

    from firmware.boards import sim as board
    from vhw import install

    vc, stage = install.make_sim_world()
    stage.set_load(True, 20000)
    return vc, stage, board.build(machine), board


# ---- CPython ----


def plan_build_us_cpython() -> float:
    from waveforms import plan as P

    pl = P.Plan()
    mix = (
        (P.BIPHASIC, 100000, 500, 400, None),
        (P.MONOPHASIC, 1000000, 300, 500, None),
        (P.WAVE, 7500, 800, 800, 2000),
    )
    per = []
    for shape, f, a, c, ph in mix:
        n = 2000
        t0 = time.perf_counter()
        for _ in range(n):
            P.build(pl, shape, f, a, c, phase_us=ph)
        per.append((time.perf_counter() - t0) * 1e6 / n)
    return round(statistics.median(per), 2)


def _edge_starts(rec, a_pin, b_pin):
    """Times (abs µs) at which a conducting phase starts (either leg goes high)."""
    return [t for t, kind, ident, v in rec if kind == "pin" and ident in (a_pin, b_pin) and v]


def _phases(rec, a_pin, b_pin):
    """[(start, end, leg)] of conducting phases from pin edges (abs µs)."""
    out = []
    hi = {}
    for t, kind, ident, v in rec:
        if kind != "pin" or ident not in (a_pin, b_pin):
            continue
        if v:
            hi[ident] = t
        elif ident in hi:
            out.append((hi.pop(ident), t, 1 if ident == a_pin else 2))
    return out


def play(shape, f_mhz, run_us=RUN_US, stall_every_us=0, stall_us=0, ramp=True):
    """One run of the player on the sim board, the loop ticking every TICK_US (optionally away
    for stall_us every stall_every_us). Returns (plan, phases, player)."""
    from drivers import clock
    from waveforms import plan as P
    from waveforms.player import Player

    vc, _stage, hw, board = _sim()
    rec = []
    hw.machine.world.listeners.append(
        lambda kind, ident, v: rec.append((vc.now_us_abs(), kind, ident, v))
    )
    pl = P.make(shape, f_mhz, 300, 500)
    p = Player.for_hw(hw)
    p.start(pl, 100 if ramp else 300)
    t0 = vc.now_us_abs()
    end = t0 + run_us
    next_stall = t0 + stall_every_us if stall_every_us else None
    lvl = 100
    while vc.now_us_abs() < end:
        now = vc.now_us_abs()
        if next_stall is not None and now >= next_stall:
            vc.advance(stall_us)  # the CPU is away: no tick, no feed
            next_stall += stall_every_us
        vc.sleep_us(min(TICK_US, max(1, end - vc.now_us_abs())))
        if ramp and lvl < 300:
            lvl += 1  # a soft start: level changes at period boundaries (holds)
            p.set_amplitude(lvl)
        p.heartbeat(clock.ticks_ms())
    p.stop()
    if p.error:
        raise RuntimeError("player error %d at %d mHz" % (p.error, f_mhz))
    return pl, _phases(rec, board.PINS["POL_A"], board.PINS["POL_B"]), p


def timing_errors(pl, phases):
    """(worst |phase - plan| us, worst |dead - plan| us inside a biphasic period)."""
    from waveforms import plan as P

    ph_err = max((abs((e - s) - pl.phase_us) for s, e, _ in phases[:-1]), default=None)
    dead_err = 0
    if pl.shape != P.MONOPHASIC:
        for (_s0, e0, l0), (s1, _e1, l1) in zip(phases, phases[1:]):
            if l1 != l0 and s1 - e0 < pl.period_us // 2:  # + then - in one period
                d = s1 - e0
                if d < pl.dead_us * 4:  # a boundary pause is not a dead time
                    dead_err = max(dead_err, abs(d - pl.dead_us))
    return ph_err, dead_err


def freq_error(pl, phases):
    """% error of the long-run frequency from the starts of the phases on one leg, across
    runs without boundary pauses (a level change holds the engine for a moment)."""
    from waveforms import plan as P

    leg = phases[0][2] if phases else 1
    starts = [s for s, _, lg in phases if lg == leg]
    if pl.shape == P.MONOPHASIC:
        starts = [s for s, _, _ in phases]
    per = [b - a for a, b in zip(starts, starts[1:]) if b - a < pl.period_us * 3 // 2]
    if len(per) < 2:
        return None
    want = 1e9 / pl.freq_mhz
    return abs(statistics.mean(per) - want) / want * 100.0


def sweep(detail=None):
    """(freq_error_pct_max, dead_time_error_us_max) over the sweep."""
    from waveforms import plan as P

    f_worst = 0.0
    t_worst = 0
    for shape in (P.BIPHASIC, P.MONOPHASIC):
        for f in SWEEP_MHZ:
            try:
                pl, phases, p = play(shape, f, ramp=False)
            except ValueError:  # a monophasic frequency that cannot balance: not playable
                continue
            err = freq_error(pl, phases)
            ph, dead = timing_errors(pl, phases)
            if detail is not None:
                detail.append((shape, f, err, len(phases), ph, dead))
            if err is not None:
                f_worst = max(f_worst, err)
            t_worst = max(t_worst, ph or 0, dead or 0)
        # with a soft start (boundary holds) at a few frequencies: still exact phases
        for f in (10000, 100000, 1000000):
            pl, phases, p = play(shape, f, run_us=3_000_000, ramp=True)
            ph, dead = timing_errors(pl, phases)
            t_worst = max(t_worst, ph or 0, dead or 0)
    return round(f_worst, 6), t_worst


def max_phase_stretch_ms() -> float:
    """The CPU away 2 ms every 50 ms (a GC pass): phases keep their width (longer: the
    hardware deadman cuts the output, 9 ms after the last tick)."""
    from waveforms import plan as P

    worst = 0
    for f in (40000, 100000):
        pl, phases, p = play(P.BIPHASIC, f, run_us=2_000_000, stall_every_us=50000, stall_us=2000)
        for s, e, _ in phases[:-1]:
            worst = max(worst, (e - s) - pl.phase_us)
    return round(worst / 1000.0, 3)


def net_charge_pct_max_20s(detail=None) -> float | None:
    """Every preset whole on the sim board; the worst 20 s window from the load current."""
    from tools.sim import api, scenario

    worst = None
    ids = api.program_ids() or []
    for pid in ids:
        scn = scenario.validate(
            {
                "duration_ms": 13 * 60 * 1000,  # the longest preset is 11 min
                "board": "sim",
                "events": [
                    {"t_ms": 0, "press": "power", "hold_ms": 1500},
                    {"t_ms": 2500, "contact": True, "impedance_ohm": 20000},
                    {"t_ms": 5000, "press": "power"},
                ],
            }
        )
        with tempfile.TemporaryDirectory() as d:
            _summ, tr = api.simulate(scn, d, program=pid, vcd=False, png=False)
        pct = window_pct(tr.t, tr.meas)
        if detail is not None:
            detail.append((pid, pct))
        if pct is not None:
            worst = pct if worst is None else max(worst, pct)
    return None if worst is None else round(worst, 3)


def window_pct(t, v):
    """Worst |net| / total charge over ~20 s windows of the load current (piecewise constant:
    v µA from t µs to the next t). Windows start and end on whole periods: phases closer than
    150 µs (a dead time or rest is at most 100 µs) belong to one run, and a run is cut into
    periods from its start (the engine always starts a run at a period start: after a start,
    a level-change pause or a resume). A window edge inside a biphasic period would count half
    a period as DC (at 0.5 Hz with a soft start that alone reads 10 %). Windows with under
    5 µA on average (pauses) are skipped."""
    ph = []  # (start, end, signed charge µA·µs)
    start = None
    sign = 0
    q = 0.0
    for i in range(len(t) - 1):
        dt = t[i + 1] - t[i]
        if v[i] != 0:
            if start is None:
                start = t[i]
                q = 0.0
                sign = 1 if v[i] > 0 else -1
            q += v[i] * dt
            if v[i + 1] == 0 or (v[i + 1] > 0) != (sign > 0):
                ph.append((start, t[i + 1], q))
                start = None
    per = []  # (start, end, net, total) of whole periods
    k = 0
    while k < len(ph):
        s0, e0, q0 = ph[k]
        if k + 1 < len(ph) and ph[k + 1][0] - e0 <= 150 and (ph[k + 1][2] > 0) != (q0 > 0):
            s1, e1, q1 = ph[k + 1]
            per.append((s0, e1, q0 + q1, abs(q0) + abs(q1)))
            k += 2
        else:
            per.append((s0, e0, q0, abs(q0)))
            k += 1
    if not per:
        return None
    worst = None
    net = 0.0
    tot = 0.0
    j = 0
    for i in range(len(per)):
        while j < len(per) and per[j][1] <= per[i][0] + WINDOW_US:
            net += per[j][2]
            tot += per[j][3]
            j += 1
        if per[j - 1][1] - per[i][0] >= WINDOW_US - 100_000 and tot >= 5 * WINDOW_US:
            r = abs(net) / tot * 100.0
            worst = r if worst is None or r > worst else worst
        net -= per[i][2]
        tot -= per[i][3]
    return worst


def measure_cpython() -> dict:
    _setup()
    out: dict = {"segment_us_cpython": None}  # no Python per segment: the hardware plays them
    for key, fn in (
        ("plan_build_us_cpython", plan_build_us_cpython),
        (("freq_error_pct_max", "dead_time_error_us_max"), sweep),
        ("max_phase_stretch_ms", max_phase_stretch_ms),
        ("net_charge_pct_max_20s", net_charge_pct_max_20s),
    ):
        try:
            v = fn()
            if isinstance(key, tuple):
                out.update(zip(key, v))
            else:
                out[key] = v
        except Exception as e:  # noqa: BLE001 - one figure failing must not lose the others
            for k in key if isinstance(key, tuple) else (key,):
                out[k] = None
                out[k + "_error"] = repr(e)
    return out


# ---- MicroPython VM ----

VM_SCRIPT = r"""
import json
import time

from waveforms import plan as P

pl = P.Plan()
mix = (
    (P.BIPHASIC, 100000, 500, 400, None),
    (P.MONOPHASIC, 1000000, 300, 500, None),
    (P.WAVE, 7500, 800, 800, 2000),
)
per = []
for shape, f, a, c, ph in mix:
    n = 300
    t0 = time.ticks_ms()
    for _ in range(n):
        P.build(pl, shape, f, a, c, phase_us=ph)
    per.append(time.ticks_diff(time.ticks_ms(), t0) * 1000 / n)
per.sort()
print("BENCH " + json.dumps({"plan_build_us_micropython": per[1]}))
"""
VM_HEAP = None


def measure_micropython(runner) -> dict:
    """Figures from the MicroPython VM; `runner` is tools.mpvm.runner."""
    out: dict = {
        "plan_build_us_micropython": None,
        "segment_us_micropython": None,  # no Python per segment
        "alloc_bytes_per_segment_micropython": None,  # idem (the tick's part: mp_tests)
    }
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "bench_waveforms_vm.py")
        with open(script, "w") as f:
            f.write(VM_SCRIPT)
        rc, so, se = runner.run_script(script, timeout=300, out_dir=d)
    line = next((x for x in so.splitlines() if x.startswith("BENCH ")), None)
    if rc != 0 or line is None:
        raise RuntimeError("VM bench failed (exit %d): %s" % (rc, (se or so).strip()[-400:]))
    res = json.loads(line[6:])
    v = res.get("plan_build_us_micropython")
    if isinstance(v, (int, float)):
        out["plan_build_us_micropython"] = round(float(v), 2)
    return out


def main() -> int:
    _setup()
    detail: list = []
    f_err, t_err = sweep(detail)
    for shape, f, err, n, ph, dead in detail:
        print(
            "shape %d  %9.3f Hz  phases %5d  freq error %s %%  phase err %s us  dead err %s us"
            % (shape, f / 1000, n, err, ph, dead)
        )
    print("freq_error_pct_max", f_err, "dead_time_error_us_max", t_err)
    print("max_phase_stretch_ms", max_phase_stretch_ms())
    nd: list = []
    print("net_charge_pct_max_20s", net_charge_pct_max_20s(nd), nd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
