# waveforms/ on the real MicroPython VM:
# - parity: every case of host_tests/data/plan_parity.json (built on CPython) builds the same
#   plan here, and the plan properties hold (levels <= cap, durations sum to the period,
#   biphasic net charge 0, dead time at every polarity change, 20 s window balance for
#   monophasic plans with short alternation cycles). The table comes in with
#   `--lib host_tests/data/plan_parity.json` (host_tests/test_waveforms_parity.py); without it
#   the parity test is a visible SKIP.
# - heap_lock: the player's timer callback plays thousands of segments (biphasic, monophasic
#   flips, long chunked segments, amplitude cuts, a deadman trip) with the heap locked.
import json
import sys

import micropython
import mptest
from mptest import alloc_bytes, check, check_eq, no_alloc, skip, test

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
    try:
        from vhw.rig import NEAR_WRAP_US, Rig
    except ImportError as e:
        skip("player_heap_lock", "waveforms.player: %s" % e)
        return
    rig = Rig(NEAR_WRAP_US)  # the ticks wrap during the run
    p = rig.player
    st = rig.stage
    dev = rig.dac
    clk = rig.clock
    tim = rig.tim
    state = [0]  # segments to play, set before each locked run

    def play():
        # the interrupt's view: jump to the deadline, heartbeat like the loop, fire
        rig.fire(state[0])

    bi = P.make(P.BIPHASIC, 1000000, 800, 900)
    mono = P.make(P.MONOPHASIC, 50000, 500, 500, alt_ms=100)
    slow = P.make(P.BIPHASIC, 300, 400, 500)  # 1.67 s phases: 2 ms chunks
    for pl, n, name in (
        (bi, 4000, "biphasic 1 kHz"),
        (mono, 2000, "monophasic 50 Hz, flips"),
        (slow, 3000, "biphasic 0.3 Hz, chunked"),
    ):
        p.start(pl, pl.amp_ua)
        state[0] = 20
        play()  # warm up outside the lock
        before = p.segments_played
        writes = dev.writes
        state[0] = n
        check(name + ": %d callbacks without allocating" % n, no_alloc(play))
        check(name + ": playing, no error", p.playing and p.error == 0, str(p.error))
        check(name + ": segments advanced", p.segments_played > before)
        if pl is bi:
            check_eq("DAC written once per level change only", dev.writes - writes, 0)
        if pl is mono:
            check("monophasic flips happened", p.flips >= 4, str(p.flips))
        p.stop()
    # amplitude changes and a cut, from the loop and in the callback, under the lock
    p.start(bi, 100)
    state[0] = 8

    def ramp():
        a = 100
        while a < 800:
            p.set_amplitude(a)
            p.quiet_us()  # the loop asks each tick before a gc.collect()
            play()
            a += 50
        p.set_amplitude(10)
        play()

    check("set_amplitude, quiet_us + callbacks without allocating", no_alloc(ramp))
    check_eq("the cut reached the DAC", st.set_ua_req, 10)
    # deadman trip inside the callback: the output goes off without allocating
    p.start(bi, 800)
    state[0] = 10
    play()

    def stall():
        clk.advance(25000)  # the loop is stuck: no heartbeat
        tim.callback(tim)

    check("deadman trip without allocating", no_alloc(stall))
    check("deadman: output off", not p.playing and not st.enabled and st.level_ua == 0)
    check_eq("deadman: DAC zero", st.dac.code, 0)
    p.stop()

    # bytes per segment with the GC off (the figure of DESIGN 7)
    p.start(bi, 800)
    state[0] = 1
    b = alloc_bytes(play, 2000)
    check_eq("alloc bytes per segment", b, 0)
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
