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
        nxt = clock.ticks_add(nxt, period)
        wait = clock.ticks_diff(nxt, clock.ticks_us())
        if wait > 0:
            clock.sleep_us(wait)
        else:
            nxt = clock.ticks_us()


main()
