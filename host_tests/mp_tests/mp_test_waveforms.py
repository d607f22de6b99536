# waveforms/ on the real MicroPython VM:
# - parity: every case of host_tests/data/plan_parity.json (built on CPython) builds the same
#   plan here, and the plan properties hold (levels <= cap, durations sum to the period,
#   biphasic net charge 0, dead time at every polarity change, 20 s window balance for
#   monophasic plans with short alternation cycles). The table comes in with
#   `--lib host_tests/data/plan_parity.json` (host_tests/test_waveforms_parity.py); without it
#   the parity test is a visible SKIP.
# - heap_lock: the player's part of thousands of control ticks (biphasic, monophasic flips, a
#   ramp through boundary holds, the hardware deadman) with the heap locked; the PIO fake
#   plays between the ticks.
import gc
import json
import sys

import micropython
import mptest
from mptest import check, check_eq, no_alloc, skip, test

try:
    import machine
except ImportError:
    import vhw.machine as machine

    sys.modules["machine"] = machine

from drivers import clock
from waveforms import plan as P


def _load_table():
    for path in ("/extra/plan_parity.json", "host_tests/data/plan_parity.json"):
        try:
            with open(path) as f:
                return json.load(f)
        except OSError:
            pass
    return None


def _as_lists(x):
    if isinstance(x, tuple) or isinstance(x, list):
        return [_as_lists(v) for v in x]
    return x


def _dead_times_ok(pl):
    segs = [(pl.pol[i], pl.dur[i]) for i in range(pl.n)]
    if pl.shape == P.MONOPHASIC and (segs[-1][0] != P.OPEN or segs[-1][1] < pl.dead_us):
        return False
    last = None
    gap = 0
    for pol, dur in segs + segs:
        if pol == P.OPEN:
            gap += dur
            continue
        if last is not None and (pol != last or pl.shape == P.MONOPHASIC) and gap < pl.dead_us:
            return False
        last = pol
        gap = 0
    return True


def _window_ok(pl):
    # exact sliding 20 s window over one alternation cycle (the breakpoints are enough: the
    # ratio net/total is monotonic between them); only for short cycles, it is O(periods)
    p = pl.period_us
    a = pl.phase_us
    n = pl.alt_periods
    cyc = 2 * n * p
    w = P.WINDOW_US

    def qt(t):
        return (t // p) * a + min(t % p, a)

    def qn(t):
        t %= cyc
        k = t // p
        on = min(t % p, a)
        if k < n:
            return k * a + on
        return n * a - (k - n) * a - on

    for k in range(2 * n):
        for b in (k * p, k * p + a):
            for s in (b, (b - w) % cyc):
                net = abs(qn(s + w) - qn(s))
                tot = qt(s + w) - qt(s)
                if 20 * net > tot:
                    return False
    return True


@test
def parity():
    tab = _load_table()
    if tab is None:
        skip("parity", "plan_parity.json not given (run with --lib host_tests/data/...)")
        return
    same = 0
    props = 0
    windows = 0
    bad = []
    pl = P.Plan()
    for case in tab["cases"]:
        shape, f, amp, cap, phase, dead, alt = case["args"]
        try:
            P.build(pl, shape, f, amp, cap, phase_us=phase, dead_us=dead, alt_ms=alt)
        except ValueError as e:
            field = str(e).split(":")[0]
            if case.get("error") == field:
                same += 1
            else:
                bad.append((case["args"], "raised " + str(e)))
            continue
        got = _as_lists(pl.to_tuple())
        if "plan" in case and got == case["plan"]:
            same += 1
        else:
            bad.append((case["args"], got))
            continue
        ok = pl.amp_ua <= cap and pl.amp_ua <= 1000
        for i in range(pl.n):
            ok = ok and 0 <= pl.level[i] <= cap and pl.dur[i] > 0
        ok = ok and sum(pl.dur[i] for i in range(pl.n)) == pl.period_us
        ok = ok and pl.period_us * f <= 1000000000 < (pl.period_us + 1) * f
        ok = ok and _dead_times_ok(pl)
        if shape != P.MONOPHASIC:
            ok = ok and pl.charge_period() == 0
        elif pl.alt_periods <= 200:
            ok = ok and _window_ok(pl)
            windows += 1
        if ok:
            props += 1
        else:
            bad.append((case["args"], "property"))
    n = len(tab["cases"])
    check("parity: %d cases identical" % n, same == n and not bad, repr(bad[:3]))
    n_plans = sum(1 for c in tab["cases"] if "plan" in c)
    check_eq("properties hold for every built plan", props, n_plans)
    check("monophasic window balance checked on the VM", windows >= 3, str(windows))


@test
def player_heap_lock():
    import machine as m

    from firmware.boards import sim as board
    from vhw import install
    from waveforms.player import Player

    near_wrap = ((1 << 30) - 5) * 1000  # both tick counters a few ms before they wrap
    vc, model = install.make_sim_world(near_wrap)
    hw = board.build(m)
    model.set_load(True, 20000)
    p = Player.for_hw(hw)
    st = hw.stage
    amp = [0]

    def one():
        # the player's part of a control tick: heartbeat (deadman feed, accounting, holds,
        # flips, progress) and the level from the supervisor
        p.heartbeat(clock.ticks_ms())
        p.set_amplitude(amp[0])

    def ticks(n, step=0):
        ok = True
        for _ in range(n):
            vc.advance(2000)  # the hardware plays between ticks, outside the lock
            amp[0] += step
            ok = no_alloc(one) and ok
        return ok

    bi = P.make(P.BIPHASIC, 1000000, 800, 900)
    mono = P.make(P.MONOPHASIC, 50000, 500, 500, alt_ms=100)
    slow = P.make(P.BIPHASIC, 2000, 400, 500)
    for pl, n, name in (
        (bi, 500, "biphasic 1 kHz"),
        (mono, 1000, "monophasic 50 Hz, flips"),
        (slow, 500, "biphasic 2 Hz"),
    ):
        amp[0] = pl.amp_ua
        p.start(pl, pl.amp_ua)
        ticks(5)
        before = p.periods_played
        check(name + ": %d ticks without allocating" % n, ticks(n))
        check(name + ": playing, no error", p.playing and p.error == 0, str(p.error))
        check(name + ": periods advanced", p.periods_played > before)
        if pl is mono:
            check("monophasic flips happened", p.flips >= 4, str(p.flips))
        p.stop()
    # a ramp: level changes at period boundaries (holds) under the lock
    amp[0] = 0
    p.start(bi, 0)
    check("a ramp (boundary holds) without allocating", ticks(400, 2))
    check("holds happened", p.holds >= 5, str(p.holds))
    check("the level reached the DAC", st.set_ua_req > 100, str(st.set_ua_req))
    # the deadman: the loop stalls, the hardware drops OUT_EN; the player sees it
    vc.advance(30000)
    check("deadman seen without allocating", no_alloc(one))
    check("deadman: output off", not p.playing and not st.is_enabled() and st.driven_ua() == 0)
    check_eq("deadman: DAC zero", st.dac.code, 0)
    p.stop()
    # bytes per tick with the GC off (the player's share of alloc_bytes_per_tick)
    amp[0] = 800
    p.start(bi, 800)
    ticks(5)

    gc.collect()
    gc.disable()
    used = 0
    try:
        for _ in range(500):
            vc.advance(2000)  # the fake plays outside the measured part
            vc.hold_devices = True  # (a FIFO look from the player would run the fake)
            b = gc.mem_alloc()
            one()
            used += gc.mem_alloc() - b
            vc.hold_devices = False
    finally:
        gc.enable()
    check_eq("alloc bytes in 500 ticks (player)", used, 0)
    p.stop()
    clock.use(None)


@test
def plan_build_is_cheap_enough():
    # not a timing test: only that building reuses the table (no new arrays per build)
    pl = P.Plan()
    lv = pl.level
    P.build(pl, P.BIPHASIC, 1000, 100, 100)
    P.build(pl, P.MONOPHASIC, 1000000, 100, 100)
    check("table reused", pl.level is lv and pl.n == 2)
    try:
        P.build(pl, P.BIPHASIC, float("nan"), 100, 100)
        check("NaN raises", False)
    except ValueError as e:
        check("NaN raises naming the field", str(e).startswith("freq_mhz:"), str(e))
    check("micropython present", hasattr(micropython, "heap_lock"))


mptest.main()
