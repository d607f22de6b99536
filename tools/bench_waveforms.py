"""Waveform figures for ``make bench`` (DESIGN 7), called by tools/bench.py.

``measure_cpython() -> dict`` (CPython, fakes installed by the caller or here):
  plan_build_us_cpython     µs per waveforms.plan.build into a preallocated Plan, median of a
                            mix (biphasic 100 Hz, monophasic 1 kHz with its alternation search,
                            wave 7.5 Hz with a phase width)
  segment_us_cpython        µs per played segment: the timer callback of the player driving the
                            sim board's output stage (fake I2C MCP4725 + pins + stage model)
  freq_error_pct_max        worst |f_measured - f| / f in %, 10 s runs on the sim board (virtual
                            clock, fake machine.Timer) for biphasic and monophasic plans at a
                            log sweep of 0.3..1000 Hz incl. fractional frequencies; f_measured
                            from the recorded bridge edges (starts of the conducting phases)
``measure_micropython(runner) -> dict`` (the MicroPython VM, webassembly port, via
tools.mpvm.runner, device sources loaded):
  plan_build_us_micropython, segment_us_micropython (callback cost minus the driving loop's)
  alloc_bytes_per_segment_micropython   gc.mem_alloc() delta per segment, GC disabled
  max_phase_stretch_ms      the player on the VM's real clock with the timer emulated by a
                            polling loop (a soft timer, as on rp2): every ~20 ms a gc.collect()
                            over a ~190 KB heap with live app-like objects, every ~50 ms a
                            session-log line appended to a file; the worst lateness of a segment
                            edge (= how much a phase got longer). On a hard-IRQ timer (ESP32) or
                            the PWM strategy (rp2 >= 8 Hz) GC cannot delay an edge at all.
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


def segment_us_cpython() -> float:
    from drivers import clock
    from vhw.rig import Rig
    from waveforms import plan as P

    rig = Rig()
    vc, tim, p = rig.clock, rig.tim, rig.player
    p.start(P.make(P.BIPHASIC, 1000000, 500, 500), 500)
    n = 20000

    def loop(fire):
        t0 = time.perf_counter()
        for _ in range(n):
            vc._step(tim.period)
            p.heartbeat(clock.ticks_ms())
            if fire:
                tim.callback(tim)
        return time.perf_counter() - t0

    base = min(loop(False) for _ in range(2))
    full = min(loop(True) for _ in range(2))
    p.stop()
    return round(max(full - base, 0.0) * 1e6 / n, 2)


def _edge_starts(rec, a_pin, b_pin):
    """Times (abs µs) at which a conducting phase starts (either leg goes high)."""
    return [t for t, kind, ident, v in rec if kind == "pin" and ident in (a_pin, b_pin) and v]


def freq_error(shape, f_mhz, run_us=RUN_US):
    """(% error, periods seen) of one 10 s run on the sim board."""
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
    p.start(pl, 300)
    end = vc.now_us_abs() + run_us
    while vc.now_us_abs() < end:
        vc.sleep_us(min(2000, end - vc.now_us_abs()))
        p.heartbeat(clock.ticks_ms())
    p.stop()
    if p.error:
        raise RuntimeError("player error %d at %d mHz" % (p.error, f_mhz))
    starts = _edge_starts(rec, board.PINS["POL_A"], board.PINS["POL_B"])
    # biphasic: two conducting phases per period, take the positive ones (every other)
    step = 2 if shape != P.MONOPHASIC else 1
    starts = starts[::step]
    if len(starts) < 2:
        return None, len(starts)
    periods = len(starts) - 1
    measured_us = (starts[-1] - starts[0]) / periods
    want_us = 1e9 / f_mhz
    return abs(want_us - measured_us) / want_us * 100.0, periods


def freq_error_pct_max(detail=None) -> float | None:
    from waveforms import plan as P

    worst = 0.0
    for shape in (P.BIPHASIC, P.MONOPHASIC):
        for f in SWEEP_MHZ:
            try:
                err, n = freq_error(shape, f)
            except ValueError:  # a monophasic frequency that cannot balance: not playable
                continue
            if detail is not None:
                detail.append((shape, f, err, n))
            if err is None:
                return None
            worst = max(worst, err)
    return round(worst, 6)


def measure_cpython() -> dict:
    _setup()
    out: dict = {}
    for key, fn in (
        ("plan_build_us_cpython", plan_build_us_cpython),
        ("segment_us_cpython", segment_us_cpython),
        ("freq_error_pct_max", freq_error_pct_max),
    ):
        try:
            out[key] = fn()
        except Exception as e:  # noqa: BLE001 - one figure failing must not lose the others
            out[key] = None
            out[key + "_error"] = repr(e)
    return out


# ---- MicroPython VM ----

VM_SCRIPT = r"""
import gc
import json
import time

import micropython

from drivers import clock
from waveforms import plan as P
from waveforms.player import Player

import machine
from drivers.hbridge import HBridge
from drivers.mcp4725 import MCP4725
from drivers.outstage import OutputStage
from drivers.switch import Switch

res = {}
_MASK = (1 << 30) - 1
_HALF = 1 << 29


def wrap_add(t, d):
    x = t - _MASK + d - 1
    if x >= 0:
        return x
    return t + d


class Clk:
    def __init__(self):
        self.us = 0
        self.ms = 0
        self.sub = 0
    def ticks_us(self):
        return self.us
    def ticks_ms(self):
        return self.ms
    def ticks_add(self, t, d):
        return (t + d) & _MASK
    def ticks_diff(self, a, b):
        d = a - b
        if d >= _HALF:
            return d - _MASK - 1
        if d < -_HALF:
            return d + _MASK + 1
        return d
    def sleep_ms(self, n):
        pass
    def sleep_us(self, n):
        pass
    def advance(self, d):
        self.us = wrap_add(self.us, d)
        s = self.sub + d
        self.ms = wrap_add(self.ms, s // 1000)
        self.sub = s % 1000


class Tim:
    ONE_SHOT = 0
    PERIODIC = 1
    def __init__(self):
        self.period = 0
        self.callback = None
        self.armed = False
        self.due = 0
    def init(self, mode=0, period=0, tick_hz=1000, callback=None, hard=False):
        self.period = period
        self.callback = callback
        self.due = clock.ticks_add(clock.ticks_us(), period)
        self.armed = True
    def deinit(self):
        self.armed = False


Pin = machine.Pin
i2c = machine.I2C(0)
dev = machine.I2CDevice(0, 0x60)
dac = MCP4725(i2c, 0x60, max_code=3722)
bridge = HBridge(Pin(10, Pin.OUT, value=0), Pin(11, Pin.OUT, value=0))
st = OutputStage(dac, bridge, Switch(Pin(12, Pin.OUT, value=0)),
                 Switch(Pin(13, Pin.OUT, value=0)), 1100)

# plan build
pl = P.Plan()
mix = ((P.BIPHASIC, 100000, 500, 400, None), (P.MONOPHASIC, 1000000, 300, 500, None),
       (P.WAVE, 7500, 800, 800, 2000))
per = []
for shape, f, a, c, ph in mix:
    n = 1000
    best = None
    for _ in range(3):
        t0 = time.ticks_ms()
        for _ in range(n):
            P.build(pl, shape, f, a, c, phase_us=ph)
        v = time.ticks_diff(time.ticks_ms(), t0) * 1000 / n
        best = v if best is None or v < best else best
    per.append(best)
per.sort()
res["plan_build_us_micropython"] = per[1]

# segment cost on a virtual clock (callback called the way the timer would)
clk = Clk()
clock.use(clk)
tim = Tim()
p = Player(st, timer_factory=lambda: tim)
bi = P.make(P.BIPHASIC, 1000000, 500, 500)
p.start(bi, 500)
N = 5000
state = [0]

def loop_fire():
    i = 0
    n = state[0]
    while i < n:
        clk.advance(tim.period)
        p.heartbeat(clk.ms)
        tim.callback(tim)
        i += 1

def loop_base():
    i = 0
    n = state[0]
    while i < n:
        clk.advance(tim.period)
        p.heartbeat(clk.ms)
        i += 1

state[0] = N
best_f = best_b = None
for _ in range(3):
    t0 = time.ticks_us(); loop_fire(); tf = time.ticks_diff(time.ticks_us(), t0)
    t0 = time.ticks_us(); loop_base(); tb = time.ticks_diff(time.ticks_us(), t0)
    best_f = tf if best_f is None or tf < best_f else best_f
    best_b = tb if best_b is None or tb < best_b else best_b
res["segment_us_micropython"] = (best_f - best_b) / N
res["segment_loop_us_micropython"] = best_f / N

# heap bytes per segment, GC off
state[0] = 2000
gc.collect()
gc.disable()
before = gc.mem_alloc()
loop_fire()
used = gc.mem_alloc() - before
gc.enable()
res["alloc_bytes_per_segment_micropython"] = (used + 1999) // 2000
ok = False
micropython.heap_lock()
try:
    loop_fire()
    ok = True
except MemoryError:
    pass
finally:
    micropython.heap_unlock()
res["heap_lock_ok"] = ok
p.stop()

# phase stretch. The VM's clocks tick in whole ms (ticks_us steps by 1000), so:
# 1. the blocking operations a soft-timer edge can wait behind are timed as averages over
#    many repeats: gc.collect() over an app-like live heap (~60 KB) and one session-log line
#    appended to a file (open, write, close); a phase is lengthened by at most the longest of
#    them plus one segment's own cost;
# 2. the player also runs on the real clock with the timer emulated by polling its deadline
#    and both operations injected (gc every 20 ms, a log line every 50 ms): the worst edge
#    lateness observed, at 1 ms resolution, is reported beside it.
clock.use(None)
live = [{"k%d" % i: [i] * 8, "s": "x" * 40} for i in range(300)]
garbage = [None]

def make_garbage():
    garbage[0] = [bytearray(64) for _ in range(50)]

def log_line(now_ms):
    with open("/out/session.jsonl", "a") as f:
        f.write(json.dumps({"t": now_ms, "prog": "lift", "q_nc": p.charge_nc()}) + "\n")

def avg_us(fn, n):
    t0 = time.ticks_ms()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_ms(), t0) * 1000 / n

def gc_once():
    make_garbage()
    gc.collect()

def worst_batch_us(fn, batches, n):
    # the slowest of several batch averages: as close to a worst case as a 1 ms clock allows
    worst = 0
    for _ in range(batches):
        v = avg_us(fn, n)
        if v > worst:
            worst = v
    return worst

res["gc_collect_us"] = worst_batch_us(gc_once, 10, 50)
res["log_write_us"] = worst_batch_us(lambda: log_line(1), 10, 50)

def max_ms(fn, n):
    worst = 0
    for _ in range(n):
        t0 = time.ticks_ms()
        fn()
        d = time.ticks_diff(time.ticks_ms(), t0)
        if d > worst:
            worst = d
    return worst

res["gc_collect_max_ms"] = max_ms(gc_once, 200)
res["log_write_max_ms"] = max_ms(lambda: log_line(2), 200)
gc.collect()
res["gc_heap_bytes"] = gc.mem_alloc()

def stretch_run(ms, gc_every_ms, log_every_ms, f_mhz):
    p.start(P.make(P.BIPHASIC, f_mhz, 500, 500), 500)
    t_end = time.ticks_add(time.ticks_ms(), ms)
    next_gc = time.ticks_add(time.ticks_ms(), gc_every_ms)
    next_log = time.ticks_add(time.ticks_ms(), log_every_ms)
    gcs = logs = 0
    while time.ticks_diff(t_end, time.ticks_ms()) > 0:
        now_ms = time.ticks_ms()
        p.heartbeat(now_ms)
        if tim.armed and time.ticks_diff(time.ticks_us(), p._due) >= 0:
            tim.armed = False
            tim.callback(tim)
        if gc_every_ms and time.ticks_diff(now_ms, next_gc) >= 0:
            next_gc = time.ticks_add(next_gc, gc_every_ms)
            gc_once()
            gcs += 1
        if log_every_ms and time.ticks_diff(now_ms, next_log) >= 0:
            next_log = time.ticks_add(next_log, log_every_ms)
            log_line(now_ms)
            logs += 1
    p.stop()
    return [p.max_stretch_us, p.segments_played, gcs, logs, p.error]

res["stretch_runs"] = [
    stretch_run(2000, 0, 0, 1000000),
    stretch_run(2000, 20, 50, 1000000),
    stretch_run(2000, 20, 50, 10000),
]
res["stretch_observed_ms_1ms_resolution"] = max(r[0] for r in res["stretch_runs"]) / 1000
worst_op = res["gc_collect_us"]
if res["log_write_us"] > worst_op:
    worst_op = res["log_write_us"]
res["max_phase_stretch_ms"] = (worst_op + res["segment_us_micropython"]) / 1000
res["mem_free"] = gc.mem_free()
res["mem_alloc"] = gc.mem_alloc()
print("BENCH " + json.dumps(res))
"""

VM_HEAP = 1048576


def measure_micropython(runner) -> dict:
    """Figures from the MicroPython VM; `runner` is tools.mpvm.runner."""
    out: dict = {
        "plan_build_us_micropython": None,
        "segment_us_micropython": None,
        "alloc_bytes_per_segment_micropython": None,
        "max_phase_stretch_ms": None,
    }
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "bench_waveforms_vm.py")
        with open(script, "w") as f:
            f.write(VM_SCRIPT)
        rc, so, se = runner.run_script(script, timeout=300, heap=VM_HEAP, out_dir=d)
    line = next((x for x in so.splitlines() if x.startswith("BENCH ")), None)
    if rc != 0 or line is None:
        raise RuntimeError("VM bench failed (exit %d): %s" % (rc, (se or so).strip()[-400:]))
    res = json.loads(line[6:])
    for k in list(out):
        v = res.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = round(v, 3) if isinstance(v, float) else v
    if not res.get("heap_lock_ok"):
        out["alloc_bytes_per_segment_micropython"] = max(
            1, out["alloc_bytes_per_segment_micropython"] or 0
        )
    out["detail_micropython"] = res
    return out


def main() -> int:
    _setup()
    res = measure_cpython()
    detail: list = []
    res["freq_error_pct_max"] = freq_error_pct_max(detail)
    for shape, f, err, n in detail:
        print("shape %d  %9.3f Hz  periods %5d  error %.6f %%" % (shape, f / 1000, n, err))
    if "--no-vm" not in sys.argv:
        from tools.mpvm import runner

        res.update(measure_micropython(runner))
    print(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
