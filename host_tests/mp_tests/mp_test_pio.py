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

PIO = rp2.PIO


@rp2.asm_pio(out_init=(PIO.OUT_LOW, PIO.OUT_LOW), out_shiftdir=PIO.SHIFT_RIGHT)
def pulse():
    pull()
    mov(isr, osr)
    pull()
    mov(x, osr)
    label("period")
    mov(pins, x)
    mov(y, isr)
    label("p1")
    jmp(y_dec, "p1")
    mov(pins, null)
    mov(osr, x)
    out(null, 2)
    out(y, 7)
    jmp(not_y, "rest")
    label("d")
    jmp(y_dec, "d")
    mov(pins, invert(x))
    mov(y, isr)
    label("p2")
    jmp(y_dec, "p2")
    mov(pins, null)
    label("rest")
    out(y, 22)
    label("r")
    jmp(y_dec, "r")
    pull(noblock)
    mov(x, osr)
    out(null, 31)
    out(y, 1)
    jmp(not_y, "period")
    push()
    pull()
    mov(isr, osr)
    pull()
    mov(x, osr)
    jmp("period")


# the words (hand-checked against the datasheet in host_tests/test_vhw_pio.py)
PULSE_WORDS = [
    0x80A0, 0xA0C7, 0x80A0, 0xA027, 0xA001, 0xA046, 0x0086, 0xA003, 0xA0E1, 0x6062,
    0x6047, 0x0071, 0x008C, 0xA009, 0xA046, 0x008F, 0xA003, 0x6056, 0x0092, 0x8080,
    0xA027, 0x607F, 0x6041, 0x0064, 0x8020, 0x80A0, 0xA0C7, 0x80A0, 0xA027, 0x0004,
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


def cfg(pins, d, r, hold=False):
    w = pins | d << 2 | r << 9
    if hold:
        w |= 1 << 31
    return w


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
    sm.put(cfg(1, 25 - 6, 25 - 8))
    sm.active(1)
    clk.advance(200005)
    times = [t for t, _, _ in ev[2:]]
    check_eq("first edges", ev[2:6], [(5, 10, 1), (4980, 10, 0), (5005, 11, 1), (9980, 11, 0)])
    gaps = [times[i + 1] - times[i] for i in range(len(times) - 1)]
    check_eq("every gap", gaps, [4975, 25] * 40)  # 5 .. 200005
    c = rp2.core(0)
    check("a few steps per period", c.steps <= 20 * 25 + 10, "%d steps" % c.steps)


@test
def pulse_hold_and_resume():
    clk = fresh()
    ev = recorder((10, 11))
    sm = rp2.StateMachine(0, pulse, freq=1000000, out_base=machine.Pin(10))
    sm.put(47)
    sm.put(cfg(1, 4, 2, hold=True))  # a big int on MicroPython: fine outside hold_devices
    sm.active(1)
    clk.advance(1000)
    check_eq("P' reported", (sm.rx_fifo(), sm.get()), (1, 47))
    check_eq("legs low", (machine.Pin(10).value(), machine.Pin(11).value()), (0, 0))
    t = clk.now_us_abs()
    sm.put(27)
    sm.put(cfg(2, 4, 2))
    clk.advance(100)
    after = [e for e in ev if e[0] > t][:2]
    check_eq("resumes on leg B", after, [(t + 6, 11, 1), (t + 36, 11, 0)])


@test
def cpu_side_allocates_nothing_under_hold():
    clk = fresh()
    sm = rp2.StateMachine(0, pulse, freq=1000000, out_base=machine.Pin(10))
    sm.put(97)
    sm.put(cfg(1, 19, 17, hold=True))
    sm.active(1)
    clk.advance(1000)
    word = array("I", [cfg(2, 19, 17)])
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
