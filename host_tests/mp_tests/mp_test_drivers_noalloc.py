# Every driver call on the control-tick path allocates nothing on MicroPython (heap_lock), on
# the sim board built by firmware/boards/sim.py over the fake machine and the output-stage model.
import machine
import mptest
from mptest import alloc_bytes, check, no_alloc, test

from vhw import install


@test
def sim_board_driver_hot_paths():
    vc, stage = install.make_sim_world()
    from drivers import clock, hbridge
    from firmware.boards import sim as board

    hw = board.build(machine)
    stage.set_load(True, 20000)
    dac = hw.dac
    bridge = hw.bridge
    st = hw.stage
    btn = hw.buttons.power
    # every callable is made here, before the heap is locked
    cases = (
        ("dac.set_code", lambda: dac.set_code(1000)),
        ("dac.set_code above max_code", lambda: dac.set_code(1 << 20)),
        ("dac.zero", dac.zero),
        ("bridge.set(POS)", lambda: bridge.set(hbridge.POS)),
        ("bridge.set(NEG)", lambda: bridge.set(hbridge.NEG)),
        ("bridge.open", bridge.open),
        ("out_en.on", hw.out_en.on),
        ("out_en.off", hw.out_en.off),
        ("stage.set_ua", lambda: st.set_ua(500)),
        ("stage.set_polarity", lambda: st.set_polarity(hbridge.POS)),
        ("stage.enable", st.enable),
        ("stage.off", st.off),
        ("sense.read", hw.sense.read),
        ("button.poll", lambda: btn.poll(clock.ticks_ms())),
        ("clock.ticks_us", clock.ticks_us),
        ("clock.ticks_diff", lambda: clock.ticks_diff(5, 3)),
    )
    for name, fn in cases:
        fn()  # warm-up outside the lock
        ok = no_alloc(fn)
        detail = None if ok else "%d bytes per call" % alloc_bytes(fn, 20)
        check(name + " allocates nothing", ok, detail)
    st.off()
    check("stage off at the end", not st.is_enabled())


mptest.main()
