# ruff: noqa: F821
# (rp2.asm_pio runs each program body with the PIO instructions as its globals)
#
# vhw.rp2 and vhw.esp32 (the PIO and RMT fakes) on the real MicroPython VM: the assembler
# (f.__globals__ swapped as the port's own rp2.py does), the pulse program's exact edge times,
# an RMT loop, and the CPU-side calls a heap-locked control tick makes while the VClock holds
# the devices (put, tx_fifo, rx_fifo, get: nothing allocated).
import sys
from array import array

import mptest
from mptest import alloc_bytes, check, check_eq, no_alloc, test

try:
    import machine
except ImportError:
    import vhw.machine as machine

    sys.modules["machine"] = machine

from vhw import esp32, rp2
from vhw.vclock import VClock

sys.modules["rp2"] = rp2  # the firmware's driver imports it by that name
from drivers.pulsepio import _pulse as pulse  # noqa: E402 (the firmware's own program)

# the words, checked by hand against the datasheet's encodings: pull 0x80A0, mov(isr, osr)
# 0xA0C7, jmp("period") 0x000A, push 0x8020, mov(pins, invert(x)) 0xA009, pull(noblock)
# 0x8080, jmp(not_x, "hold") 0x0025 (condition 001, address 5)
PULSE_WORDS = [
    0x80A0, 0xA0C7, 0x80A0, 0xA027, 0x000A, 0x8020, 0x80A0, 0xA0C7, 0x80A0, 0xA027,
    0xA001, 0xA046, 0x008C, 0xA003, 0xA0E1, 0x6062, 0x6047, 0x0077, 0x0092, 0xA009,
    0xA046, 0x0095, 0xA003, 0x6056, 0x0098, 0x8080, 0xA027, 0x0025,
]  # fmt: skip


def fresh():
    machine.world.reset(VClock(0))
    return machine.world.clock


def recorder(pins):
    ev = []
    clk = machine.world.clock

    def on(kind, ident, v):
        if kind == "pin" and ident in pins:
            ev.append((clk.now_us_abs(), ident, v))

    machine.world.listeners.append(on)
    return ev


def cfg(pins, d, r):
    return pins | d << 2 | r << 9  # the zero word is HOLD


@test
def assembler_words():
    check_eq("pulse program words", list(pulse[0]), PULSE_WORDS)
    check_eq("program object", (len(pulse), pulse[5]), (9, 1 << 19))
    check_eq("asm_pio_encode", rp2.asm_pio_encode("set(pins, 1)", 0), 0xE001)
    check("globals restored", "mptest" in globals() and "nop" not in globals())


@test
def pulse_edges_100_hz():
    clk = fresh()
    ev = recorder((10, 11))
    sm = rp2.StateMachine(0, pulse, freq=1000000, out_base=machine.Pin(10))
    sm.put(4975 - 3)
    sm.put(cfg(1, 25 - 6, 25 - 6))
    sm.active(1)
    clk.advance(200006)
    times = [t for t, _, _ in ev[2:]]
    check_eq("first edges", ev[2:6], [(6, 10, 1), (4981, 10, 0), (5006, 11, 1), (9981, 11, 0)])
    gaps = [times[i + 1] - times[i] for i in range(len(times) - 1)]
    check_eq("every gap", gaps, [4975, 25] * 40)  # 6 .. 200006
    c = rp2.core(0)
    check("a few steps per period", c.steps <= 20 * 25 + 10, "%d steps" % c.steps)


@test
def pulse_hold_and_resume():
    clk = fresh()
    ev = recorder((10, 11))
    sm = rp2.StateMachine(0, pulse, freq=1000000, out_base=machine.Pin(10))
    sm.put(47)
    sm.put(cfg(1, 4, 4))
    sm.put(0)  # HOLD at the end of the first period
    sm.active(1)
    clk.advance(1000)
    check_eq("P' reported", (sm.rx_fifo(), sm.get()), (1, 47))
    check_eq("legs low", (machine.Pin(10).value(), machine.Pin(11).value()), (0, 0))
    t = clk.now_us_abs()
    sm.put(27)
    sm.put(cfg(2, 4, 4))
    clk.advance(100)
    after = [e for e in ev if e[0] > t][:2]
    check_eq("resumes on leg B", after, [(t + 5, 11, 1), (t + 35, 11, 0)])


@test
def cpu_side_allocates_nothing_under_hold():
    clk = fresh()
    sm = rp2.StateMachine(0, pulse, freq=1000000, out_base=machine.Pin(10))
    sm.put(97)
    sm.put(cfg(1, 19, 19))
    sm.put(0)  # HOLD
    sm.active(1)
    clk.advance(1000)
    word = array("I", [cfg(2, 19, 19)])
    calls = (
        ("put(int)", lambda: sm.put(97)),
        ("put(array)", lambda: sm.put(word)),
        ("tx_fifo", sm.tx_fifo),
        ("rx_fifo", sm.rx_fifo),
        ("get", sm.get),
    )
    clk.hold_devices = True
    try:
        for name, fn in calls:
            ok = no_alloc(fn)
            detail = None if ok else "%d bytes per call" % alloc_bytes(fn, 1)
            check(name + " allocates nothing", ok, detail)
    finally:
        clk.hold_devices = False
    clk.advance(2000)
    check_eq("played on after the hold", rp2.core(0).stalled, False)


@test
def rmt_loop_times():
    clk = fresh()
    ev = recorder((5,))
    r = esp32.RMT(pin=machine.Pin(5), clock_div=80)
    r.loop(True)
    r.write_pulses((100, 150, 50, 700), 1)
    clk.advance(10000)
    times = [t for t, _, _ in ev[1:]]
    check_eq("first iteration", times[:5], [1, 101, 251, 301, 1001])
    check_eq("40 changes", len(times), 40)
    r.loop(False)
    check("stopped", not r.active() and machine.Pin(5).value() == 0)


mptest.main()
