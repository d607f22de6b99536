# main.py for `make hil`: the app built as firmware.app.main() builds it, run by the same loop
# as App.run(), with every tick timed on the chip's own clock. Prints the memory after the app
# is built, each state change, and once a second the tick figures:
#   hil ticks n=<ticks> med=<us> p99=<us> max=<us> over=<ticks over 25 % of the period>
import gc
from array import array

import machine

from drivers import clock
from firmware import app as _app
from firmware import boards
from firmware import settings as _storage

_N = 500


_LOCKED = 400  # ticks (2 s) run with the heap locked


def heap_locked_ticks(a, period):
    """The running app's ticks with micropython.heap_lock(): on the chip, with the native build,
    the tick allocates nothing. Returns how many ran before a MemoryError (all: _LOCKED)."""
    import micropython

    # no gc.collect() first: on the chip it takes longer than the player's 9 ms deadman, and
    # the restart that follows (which allocates, as a plan start may) would be what is measured
    n = 0
    nxt = clock.ticks_us()
    micropython.heap_lock()
    try:
        while n < _LOCKED:
            a.tick()
            n += 1
            nxt = clock.ticks_add(nxt, period)
            w = clock.ticks_diff(nxt, clock.ticks_us())
            if w > 0:
                clock.sleep_us(w)
    except MemoryError as e:
        err = e
    else:
        err = None
    finally:
        micropython.heap_unlock()
    if err is not None:
        import sys

        print("hil heaplock MemoryError in slot %d (state %s):" % (a._slot, a.state))
        sys.print_exception(err)
    return n


def main():
    _app.micropython_setup()
    settings = _storage.Settings("/")
    hw = boards.load(settings.get("board")).build(machine)
    a = _app.App(hw, "/")
    try:
        import hilprof  # `make hil HIL_ARGS=--profile` adds it

        hilprof.install(a)
    except ImportError:
        hilprof = None
    gc.collect()
    print("hil mem_alloc", gc.mem_alloc(), "mem_free", gc.mem_free())
    period = _app.TICK_US
    budget = period // 4
    durs = array("i", [0] * _N)
    slot_sum = array("i", [0] * 8)  # per slot of the app (its _slot after the tick)
    slot_max = array("i", [0] * 8)
    slot_n = array("i", [0] * 8)
    i = 0
    n = 0
    over = 0
    mx = 0
    state = None
    t_rep = clock.ticks_ms()
    locked = -1  # ticks run under heap_lock once the program plays (-1: not yet)
    run_t = clock.ticks_ms()
    print("hil ready")
    nxt = clock.ticks_us()
    while True:
        t0 = clock.ticks_us()
        try:
            a.tick()
        except Exception as e:  # noqa: BLE001
            a.crash(e)
        d = clock.ticks_diff(clock.ticks_us(), t0)
        durs[i] = d
        i = (i + 1) % _N
        sl = a._slot & 7
        slot_sum[sl] += d
        slot_n[sl] += 1
        if d > slot_max[sl]:
            slot_max[sl] = d
        n += 1
        if d > budget:
            over += 1
        if d > mx:
            mx = d
        if a.state != state:
            state = a.state
            if state == "running":
                run_t = clock.ticks_ms()
            sup = a.supervisor
            print("hil state", state, a.fault)
            print(
                "hil sup contact=%s kind=%d z=%s ua=%d mv=%d allowed=%d lvl=%d err=%d"
                % (
                    sup.contact,
                    sup.det.kind,
                    sup.impedance_ohm,
                    sup.sense.ua,
                    sup.sense.mv,
                    sup.allowed_ua,
                    a.player.driven_ua(),
                    a.player.error,
                )
            )
        now = clock.ticks_ms()
        if clock.ticks_diff(now, t_rep) >= 1000:
            t_rep = now
            k = n if n < _N else _N
            s = sorted(durs[j] for j in range(k))
            print(
                "hil ticks n=%d med=%d p99=%d max=%d over=%d period=%d"
                % (n, s[k // 2], s[k * 99 // 100], mx, over, period)
            )
            print(
                "hil slots "
                + " ".join(
                    "%d:%d/%d" % (j, slot_sum[j] // slot_n[j], slot_max[j])
                    for j in range(8)
                    if slot_n[j]
                )
            )
            if hilprof is not None:
                hilprof.report()
            for j in range(8):
                slot_sum[j] = 0
                slot_max[j] = 0
                slot_n[j] = 0
            n = 0
            over = 0
            mx = 0
            i = 0
        if state == "running" and locked < 0 and clock.ticks_diff(clock.ticks_ms(), run_t) > 3000:
            locked = heap_locked_ticks(a, period)
            print("hil heaplock ticks=%d of %d" % (locked, _LOCKED))
        nxt = clock.ticks_add(nxt, period)
        wait = clock.ticks_diff(nxt, clock.ticks_us())
        if wait > 0:
            clock.sleep_us(wait)
        else:
            nxt = clock.ticks_us()


main()
