# ruff: noqa: F821
# (rp2.asm_pio runs each program body with the PIO instructions as its globals)
"""vhw.rp2, the fake of MicroPython's rp2 module: the assembler's words against the RP2040
datasheet's encoding tables (section 3.4), the state machines instruction by instruction
(datasheet chapter 3), their timing on the virtual clock, the pin function mux, and the pulse
program the firmware plays (drivers/pulsepio.py) with its exact edge times."""

from fractions import Fraction

import machine
import pytest
import rp2

from vhw import rp2 as vrp2
from vhw.vclock import VClock

PIO = rp2.PIO
MHZ = 1_000_000


@pytest.fixture
def vc():
    machine.world.reset(VClock(0))
    yield machine.world.clock
    machine.world.reset(VClock(0))


def record(pins):
    """(µs, pin, level) for every pad change of `pins` from now on."""
    ev = []
    clk = machine.world.clock

    def on(kind, ident, v):
        if kind == "pin" and ident in pins:
            ev.append((clk.now_us_abs(), ident, v))

    machine.world.listeners.append(on)
    return ev


def words(prog):
    return list(prog[0])


# ---------------------------------------------------------------------------------------------
# Encodings, by hand from the datasheet's tables (bits 15-13 opcode, 12-8 delay/side-set):
# JMP 000 cond(7-5) addr; WAIT 001 pol(7) src(6-5) idx; IN 010 src(7-5) count(4-0, 32 = 0);
# OUT 011 dest count; PUSH 100 0 IfF Blk; PULL 100 1 IfE Blk; MOV 101 dest(7-5) op(4-3) src;
# IRQ 110 0 Clr Wait idx; SET 111 dest data.


@rp2.asm_pio()
def _one_of_each():
    set(pins, 1)  # 111 000 00001
    set(x, 31)
    set(y, 0)
    set(pindirs, 3)
    wait(1, gpio, 5)
    wait(0, pin, 2)
    wait(1, irq, 3)
    wait(1, irq, rel(2))
    in_(pins, 8)
    in_(x, 32)
    in_(null, 24)
    in_(isr, 1)
    out(pins, 1)
    out(y, 7)
    out(null, 32)
    out(pindirs, 2)
    out(pc, 5)
    out(isr, 4)
    out(exec, 16)
    push()
    push(noblock)
    push(iffull)
    push(iffull, noblock)
    pull()
    pull(noblock)
    pull(ifempty)
    pull(ifempty, noblock)
    mov(pins, invert(x))
    mov(x, reverse(y))
    mov(y, status)


@rp2.asm_pio()
def _more():
    mov(exec, x)  # 0
    mov(pc, y)
    mov(isr, osr)
    mov(osr, null)
    mov(x, pins)
    nop()  # mov(y, y)
    irq(0)
    irq(block, 1)
    irq(clear, 2)
    irq(noblock, rel(3))  # 9
    label("t")
    jmp(x_dec, "t")  # 10: jumps to itself
    jmp("t")
    jmp(not_x, "t")
    jmp(not_y, "t")
    jmp(y_dec, "t")
    jmp(x_not_y, "t")
    jmp(pin, "t")
    jmp(not_osre, "t")
    set(pins, 1)[9]
    word(0x1234)


def test_encodings_match_the_datasheet_tables():
    assert words(_one_of_each) == [
        0xE001, 0xE03F, 0xE040, 0xE083,
        0x2085, 0x2022, 0x20C3, 0x20D2,
        0x4008, 0x4020, 0x4078, 0x40C1,
        0x6001, 0x6047, 0x6060, 0x6082, 0x60A5, 0x60C4, 0x60F0,
        0x8020, 0x8000, 0x8060, 0x8040,
        0x80A0, 0x8080, 0x80E0, 0x80C0,
        0xA009, 0xA032, 0xA045,
    ]  # fmt: skip
    assert words(_more) == [
        0xA081, 0xA0A2, 0xA0C7, 0xA0E3, 0xA020, 0xA042,
        0xC000, 0xC021, 0xC042, 0xC013,
        0x004A, 0x000A, 0x002A, 0x006A, 0x008A, 0x00AA, 0x00CA, 0x00EA,
        0xE901, 0x1234,
    ]  # fmt: skip


def test_side_set_and_delay_bits():
    @rp2.asm_pio(sideset_init=PIO.OUT_LOW)
    def one_pin():  # every instruction side-sets: 1 data bit at 12, delay 11-8 (max 15)
        nop().side(1)[3]
        set(pins, 0).side(0)[15]

    assert words(one_pin) == [0xB342, 0xEF00]
    assert one_pin[4] & (1 << 30) == 0  # SIDE_EN off

    @rp2.asm_pio(sideset_init=(PIO.OUT_LOW,))
    def optional():  # some instructions without: bit 12 enables, data at 11, delay 10-8
        set(pins, 0).side(1)[1]
        nop()[7]

    assert words(optional) == [0xF900, 0xA742]
    assert optional[4] & (1 << 30)

    @rp2.asm_pio(sideset_init=(PIO.OUT_LOW, PIO.OUT_LOW), side_pindir=True)
    def two_pins():
        nop().side(2)[7]

    assert words(two_pins) == [0xB742]
    assert two_pins[4] & (1 << 29)  # SIDE_PINDIR


def test_assembler_errors_as_the_real_one():
    def make(**kw):
        def dec(f):
            return rp2.asm_pio(**kw)(f)

        return dec

    with pytest.raises(rp2.PIOASMError, match="delay too large"):

        @make(sideset_init=PIO.OUT_LOW)
        def _a():
            nop().side(0)[16]

    with pytest.raises(rp2.PIOASMError, match="sideset too large"):

        @make(sideset_init=PIO.OUT_LOW)
        def _b():
            nop().side(2)

    with pytest.raises(rp2.PIOASMError, match="no sideset"):

        @make()
        def _c():
            nop().side(1)

    with pytest.raises(rp2.PIOASMError, match="unknown label nowhere"):

        @make()
        def _d():
            jmp("nowhere")

    with pytest.raises(rp2.PIOASMError, match="duplicate label a"):

        @make()
        def _e():
            label("a")
            nop()
            label("a")

    with pytest.raises(rp2.PIOASMError, match="invalid bit count 0"):

        @make()
        def _f():
            out(x, 0)

    with pytest.raises(rp2.PIOASMError, match="invalid bit count 33"):

        @make()
        def _g():
            in_(x, 33)


def test_program_object_shape_and_control_words():
    @rp2.asm_pio(
        out_init=(PIO.OUT_LOW, PIO.OUT_HIGH),
        set_init=PIO.OUT_HIGH,
        out_shiftdir=PIO.SHIFT_RIGHT,
        in_shiftdir=PIO.SHIFT_RIGHT,
        autopull=True,
        autopush=True,
        pull_thresh=8,
        push_thresh=12,
        fifo_join=PIO.JOIN_TX,
    )
    def p():
        nop()
        wrap_target()
        nop()
        nop()
        wrap()
        nop()

    assert len(p) == 9 and p[1:4] == [-1, -1, -1]
    assert p[4] == (1 << 7) | (2 << 12)  # WRAP_BOTTOM 1, WRAP_TOP 2
    assert p[5] == (1 << 30) | (8 << 25) | (12 << 20) | (1 << 19) | (1 << 18) | (3 << 16)
    assert p[6:] == [(2, 3), 3, None]

    @rp2.asm_pio()
    def q():
        nop()
        nop()

    assert q[4] == 1 << 12  # no wrap(): wraps after the last instruction


def test_asm_pio_encode_and_globals_restored():
    assert rp2.asm_pio_encode("set(pins, 1)", 0) == 0xE001
    assert rp2.asm_pio_encode("nop().side(1)", 2, 1) == 0xB842
    assert rp2.asm_pio_encode("out(pins, 3)[3]", 1) == 0x6303
    with pytest.raises(rp2.PIOASMError, match="exactly 1"):
        rp2.asm_pio_encode("nop()\nnop()", 0)
    with pytest.raises(TypeError):
        rp2.asm_pio_encode("jmp(0)", 0)  # jmp is None there, as in the real one
    assert "pytest" in globals() and "nop" not in globals()


# ---------------------------------------------------------------------------------------------
# Behaviour. Registers are read from vhw.rp2.core(id), the fake's view of a state machine.


def sm_with(prog, sm_id=0, freq=MHZ, **kw):
    sm = rp2.StateMachine(sm_id, prog, freq=freq, **kw)
    return sm, vrp2.core(sm_id)


def load_x(sm, value):
    sm.put(value)
    sm.exec("pull()")
    sm.exec("mov(x, osr)")


def _probe(cond):
    # cond: the condition's value (not_x 1, x_dec 2, not_y 3, y_dec 4, x_not_y 5, pin 6,
    # not_osre 7), a closure variable: the body's globals are the assembler's
    @rp2.asm_pio()
    def p():
        jmp(cond, "t")
        set(y, 1)
        label("end")
        jmp("end")
        label("t")
        set(y, 2)
        jmp("end")

    return p


@pytest.mark.parametrize(
    "cond, x, y, osr_count, taken",
    [
        (1, 0, 0, 0, True),  # not_x: X zero
        (1, 5, 0, 0, False),
        (3, 0, 0, 0, True),  # not_y
        (3, 0, 7, 0, False),
        (2, 3, 0, 0, True),  # x_dec: X non-zero before the decrement
        (2, 0, 0, 0, False),
        (4, 1, 1, 0, True),  # y_dec
        (4, 1, 0, 0, False),
        (5, 1, 2, 0, True),  # x_not_y
        (5, 4, 4, 0, False),
        (7, 0, 0, 0, True),  # not_osre: output shift count below the threshold
        (7, 0, 0, 32, False),
    ],
)
def test_jmp_conditions(vc, cond, x, y, osr_count, taken):
    sm, c = sm_with(_probe(cond))
    sm.exec("set(x, %d)" % x)
    sm.exec("set(y, %d)" % y)
    c.osc = osr_count
    sm.active(1)
    vc.advance(20)
    assert c.y == (2 if taken else 1)
    if cond == 2:
        assert c.x == (x - 1) & 0xFFFFFFFF


def test_jmp_pin(vc):
    sm, c = sm_with(_probe(6), jmp_pin=machine.Pin(7))
    machine.world.drive(7, 1)
    sm.active(1)
    vc.advance(10)
    assert c.y == 2
    sm2, c2 = sm_with(_probe(6), sm_id=1, jmp_pin=machine.Pin(8))
    sm2.active(1)
    vc.advance(10)
    assert c2.y == 1


def test_x_dec_decrements_always_and_wraps_at_zero(vc):
    @rp2.asm_pio()
    def p():
        jmp(x_dec, "a")
        label("a")
        jmp("a")

    sm, c = sm_with(p)
    sm.active(1)  # X = 0: not taken, X becomes 0xFFFFFFFF
    vc.advance(5)
    assert c.x == 0xFFFFFFFF
    sm.init(p, freq=MHZ)
    sm.exec("set(x, 3)")
    sm.active(1)
    vc.advance(5)
    assert c.x == 2


def test_pull_noblock_on_empty_fifo_copies_x(vc):
    @rp2.asm_pio()
    def p():
        nop()

    sm, c = sm_with(p)
    sm.exec("set(x, 21)")
    c.osr = 0xDEAD
    sm.exec("pull(noblock)")
    assert (c.osr, c.osc) == (21, 0)
    sm.put(0x12345678)
    sm.exec("pull(noblock)")
    assert c.osr == 0x12345678 and sm.tx_fifo() == 0


def test_blocking_pull_stalls_until_put(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def p():
        pull()
        mov(x, osr)
        set(pins, 1)
        label("end")
        jmp("end")

    ev = record({9})
    sm, c = sm_with(p, set_base=machine.Pin(9))
    sm.active(1)  # at µs 0: first cycle at µs 1
    vc.advance(100)
    assert c.stalled and not c.armed and c.pc == c.offset
    steps = c.steps
    vc.advance(1000)
    assert c.steps == steps  # a stalled SM costs nothing
    sm.put(42)  # at µs 1100: the pull completes in the next µs
    vc.advance(50)
    assert c.x == 42
    assert ev == [(0, 9, 0), (1103, 9, 1)]  # pull 1101, mov 1102, set 1103


def test_push_to_full_rx_blocks_and_get_wakes_it(vc):
    @rp2.asm_pio()
    def p():
        wrap_target()
        in_(x, 4)
        push()
        set(x, 2)
        wrap()

    sm, c = sm_with(p)
    sm.exec("set(x, 1)")
    sm.active(1)
    vc.advance(100)
    assert sm.rx_fifo() == 4 and c.stalled
    assert sm.get() == 1  # the first IN: X = 1
    vc.advance(3)
    assert sm.rx_fifo() == 4
    assert [sm.get() for _ in range(4)] == [2, 2, 2, 2]


def test_push_noblock_on_full_rx_drops_and_clears_isr(vc):
    @rp2.asm_pio()
    def p():
        set(x, 9)
        wrap_target()
        in_(x, 4)
        push(noblock)
        wrap()

    sm, c = sm_with(p)
    sm.active(1)
    vc.advance(100)  # ~50 pushes, 46 dropped
    assert not c.stalled and sm.rx_fifo() == 4
    assert [sm.get() for _ in range(4)] == [9, 9, 9, 9]
    vc.advance(2)
    # ISR was cleared by each dropped push: the next word is 9 again, not 0x999...
    assert sm.get() == 9


def test_push_iffull_and_autopush(vc):
    @rp2.asm_pio(push_thresh=8)
    def p():
        set(x, 9)
        wrap_target()
        in_(x, 4)
        push(iffull, noblock)
        wrap()

    sm, c = sm_with(p)
    sm.active(1)
    vc.advance(9)  # 4 INs: 2 pushes
    assert [sm.get(), sm.get()] == [0x99, 0x99]

    @rp2.asm_pio(autopush=True, push_thresh=12, in_shiftdir=PIO.SHIFT_RIGHT)
    def q():
        set(x, 5)
        wrap_target()
        in_(x, 4)
        wrap()

    sm, c = sm_with(q, sm_id=1)
    sm.active(1)
    vc.advance(4)  # 3 INs: the third pushes (shift right: data enters at the top)
    assert sm.rx_fifo() == 1 and sm.get() == 0x55500000 and (c.isr, c.isc) == (0, 0)


def test_autopull_at_the_threshold(vc):
    @rp2.asm_pio(out_init=PIO.OUT_LOW, out_shiftdir=PIO.SHIFT_RIGHT, autopull=True, pull_thresh=4)
    def p():
        out(pins, 1)

    ev = record({3})
    sm, c = sm_with(p, out_base=machine.Pin(3))
    sm.put(0b1011)
    sm.put(0b0100)
    sm.active(1)  # first cycle µs 1: the OSR is empty, it refills and the OUT waits a cycle
    vc.advance(20)
    # bits 1,1,0,1 then 0,0,1,0; the second word is refilled on the 4th OUT's cycle
    assert ev == [(0, 3, 0), (2, 3, 1), (4, 3, 0), (5, 3, 1), (6, 3, 0), (8, 3, 1), (9, 3, 0)]
    assert c.stalled and c.osc == 4  # empty OSR, empty FIFO: the OUT stalls


def test_out_shift_directions(vc):
    @rp2.asm_pio()
    def p():
        nop()

    for shiftdir, x, osr, osc in (
        (PIO.SHIFT_RIGHT, 0x78, 0x00123456, 8),
        (PIO.SHIFT_LEFT, 0x12, 0x34567800, 8),
    ):
        sm, c = sm_with(p, out_shiftdir=shiftdir)
        sm.put(0x12345678)
        sm.exec("pull()")
        sm.exec("out(x, 8)")
        assert (c.x, c.osr, c.osc) == (x, osr, osc)
        sm.exec("out(y, 32)")
        assert (c.osr, c.osc) == (0, 32)


def test_in_shift_directions_and_sources(vc):
    @rp2.asm_pio()
    def p():
        nop()

    sm, c = sm_with(p, in_shiftdir=PIO.SHIFT_LEFT)
    sm.exec("set(x, 5)")
    sm.exec("in_(x, 3)")
    sm.exec("in_(null, 4)")
    assert (c.isr, c.isc) == (5 << 4, 7)
    sm, c = sm_with(p, sm_id=1, in_shiftdir=PIO.SHIFT_RIGHT)
    sm.exec("set(y, 3)")
    sm.exec("in_(y, 2)")
    assert (c.isr, c.isc) == (3 << 30, 2)
    machine.world.drive(4, 1)
    machine.world.drive(6, 1)
    sm, c = sm_with(p, sm_id=2, in_base=machine.Pin(4))
    sm.exec("in_(pins, 3)")
    assert c.isr == 0b101


def test_mov_invert_and_reverse(vc):
    @rp2.asm_pio()
    def p():
        nop()

    sm, c = sm_with(p)
    sm.exec("mov(x, invert(null))")
    assert c.x == 0xFFFFFFFF
    sm.exec("set(y, 1)")
    sm.exec("mov(x, reverse(y))")
    assert c.x == 0x80000000
    sm.exec("set(y, 6)")
    sm.exec("mov(osr, invert(y))")
    assert (c.osr, c.osc) == (0xFFFFFFF9, 0)
    sm.exec("mov(isr, reverse(osr))")
    assert (c.isr, c.isc) == (0x9FFFFFFF, 0)


def test_pins_written_only_in_their_group(vc):
    @rp2.asm_pio(out_init=(PIO.OUT_LOW, PIO.OUT_LOW), set_init=PIO.OUT_HIGH)
    def p():
        nop()

    w = machine.world
    machine.Pin(12, machine.Pin.OUT, value=1)  # the CPU's pin next to the out group
    machine.Pin(21, machine.Pin.OUT, value=0)  # and next to the set group
    sm, c = sm_with(p, out_base=machine.Pin(10), set_base=machine.Pin(20))
    assert [w.level(i) for i in (10, 11, 12, 20, 21)] == [0, 0, 1, 1, 0]
    sm.exec("mov(pins, invert(null))")  # 32 ones: only the 2 out pins
    assert [w.level(i) for i in (10, 11, 12, 20, 21)] == [1, 1, 1, 1, 0]
    sm.exec("set(pins, 30)")  # 0b11110: only the 1 set pin, bit 0
    assert [w.level(i) for i in (10, 11, 12, 20, 21)] == [1, 1, 1, 0, 0]
    sm.exec("mov(pins, null)")
    sm.exec("set(x, 2)")
    sm.exec("out(pins, 2)")  # OSR empty (0): out pins get 0
    sm.put(0b110)
    sm.exec("pull()")
    sm.exec("out(pins, 3)")  # 3 bits, 2 pins; shift left by default: bits 31..29 = 0
    assert [w.level(i) for i in (10, 11, 12)] == [0, 0, 1]
    sm.exec("mov(pins, x)")
    assert [w.level(i) for i in (10, 11, 12)] == [0, 1, 1]
    sm.exec("set(pindirs, 0)")  # set pin 20 becomes an input: not driven any more
    assert 20 not in w.levels and machine.Pin(20).value() == 0
    machine.world.drive(20, 1)
    assert machine.Pin(20).value() == 1


def test_delays_and_wrap_toggle_every_10_us(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def blink():
        wrap_target()
        set(pins, 1)[9]
        set(pins, 0)[9]
        wrap()

    vc.advance(37)
    ev = record({15})
    sm, c = sm_with(blink, set_base=machine.Pin(15))
    sm.active(1)  # at µs 37: the first instruction in µs 38
    vc.advance(100000)
    times = [t for t, _, _ in ev[1:]]
    assert times[0] == 38
    assert all(b - a == 10 for a, b in zip(times, times[1:]))
    assert len(times) == 10000
    assert [v for _, _, v in ev[1:5]] == [1, 0, 1, 0]


def test_delay_starts_when_a_stalled_instruction_completes(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def p():
        pull()[9]
        set(pins, 1)
        label("end")
        jmp("end")

    ev = record({15})
    sm, c = sm_with(p, set_base=machine.Pin(15))
    sm.active(1)
    vc.advance(500)
    sm.put(1)  # µs 500: the pull completes at 501, its 9 delay cycles follow
    vc.advance(50)
    assert ev[1:] == [(511, 15, 1)]


def test_wrap_inside_the_program(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def p():
        set(pins, 1)  # once
        wrap_target()
        set(pins, 0)[1]
        set(pins, 1)
        wrap()
        set(y, 31)  # never reached

    ev = record({15})
    sm, c = sm_with(p, set_base=machine.Pin(15))
    sm.active(1)
    vc.advance(12)
    times = [t for t, _, _ in ev[1:]]
    assert times == [1, 2, 4, 5, 7, 8, 10, 11] and ev[-1][2] == 0 and c.y == 0


def test_side_set_applies_even_while_stalled(vc):
    @rp2.asm_pio(sideset_init=PIO.OUT_LOW, set_init=PIO.OUT_LOW)
    def p():
        wrap_target()
        pull().side(1)
        set(pins, 1).side(0)[2]
        set(pins, 0)
        wrap()

    ev = record({21, 22})
    sm, c = sm_with(p, sideset_base=machine.Pin(22), set_base=machine.Pin(21))
    sm.active(1)
    vc.advance(100)
    assert ev[2:] == [(1, 22, 1)] and c.stalled  # side-set at the first attempt
    sm.put(0)
    vc.advance(10)
    # pull at 101, set + side 0 at 102 (3 cycles), set 0 at 105, pull (side 1) at 106: stalls
    assert ev[3:] == [(102, 22, 0), (102, 21, 1), (105, 21, 0), (106, 22, 1)]

    @rp2.asm_pio(sideset_init=PIO.OUT_HIGH, side_pindir=True)
    def q():
        nop().side(0)
        label("end")
        jmp("end")

    sm, c = sm_with(q, sm_id=1, sideset_base=machine.Pin(23))
    assert machine.world.level(23) == 1
    sm.active(1)
    vc.advance(5)
    assert 23 not in machine.world.levels  # side-set on the direction: an input now


def test_out_exec_mov_exec_and_jumps_through_pc(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW, out_shiftdir=PIO.SHIFT_RIGHT)
    def p():
        pull()  # 1
        out(exec, 16)[5]  # 2: its own delay is ignored; the executee runs at 3
        set(y, 2)  # 7, after the executee's 3 delay cycles
        mov(exec, x)  # 8: X holds an instruction, run at 9
        label("end")
        jmp("end")

    ev = record({15})
    sm, c = sm_with(p, set_base=machine.Pin(15))
    load_x(sm, rp2.asm_pio_encode("set(y, 5)", 0))
    sm.put(rp2.asm_pio_encode("set(pins, 1)[3]", 0))
    sm.active(1)
    vc.advance(30)
    assert ev[1:] == [(3, 15, 1)] and c.y == 5
    sm.active(0)
    sm.exec("set(x, 7)")
    sm.exec("mov(pc, x)")
    assert c.pc == 7
    sm.put(0b11010)
    sm.exec("pull()")
    sm.exec("out(pc, 5)")
    assert c.pc == 26
    sm.exec(0x0003)  # an encoded instruction: jmp 3
    assert c.pc == 3


def test_program_memory_placement_and_reload(vc):
    @rp2.asm_pio()
    def a():
        nop()
        nop()
        nop()

    @rp2.asm_pio()
    def b():
        label("l")
        jmp("l")

    sm0 = rp2.StateMachine(0, a)
    sm1 = rp2.StateMachine(1, b)
    assert a[1:4] == [29, -1, -1] and b[1] == 28  # the SDK places from the top down
    assert vrp2.core(1).pio.mem[28] == 0x001C  # jmp relocated by its offset
    rp2.StateMachine(4, a)
    assert a[1:4] == [29, 29, -1]
    rp2.StateMachine(2, a)
    assert a[1] == 29  # already in PIO 0: not loaded twice
    pio = rp2.PIO(1)
    pio.remove_program()
    assert a[2] == -1
    with pytest.raises(OSError):
        for _ in range(11):
            pio.add_program(a)  # 33 words do not fit
    machine.world.reset(VClock(0))  # a new board: empty PIO memory, loaded again
    rp2.StateMachine(0, b)
    assert b[1] == 31 and vrp2.core(0).pio.mem[31] == 0x001F
    assert sm0 == rp2.StateMachine(0) and sm0 != sm1 and repr(sm1) == "StateMachine(1)"
    with pytest.raises(ValueError, match="invalid PIO"):
        rp2.PIO(2)
    with pytest.raises(ValueError, match="invalid StateMachine"):
        rp2.StateMachine(8)
    with pytest.raises(ValueError, match="invalid StateMachine"):
        rp2.PIO(0).state_machine(4)


def test_status_source_default_is_zero(vc):
    @rp2.asm_pio()
    def p():
        nop()

    sm, c = sm_with(p)
    sm.exec("mov(x, invert(null))")
    sm.exec("mov(x, status)")  # STATUS_SEL TX level < STATUS_N (0): never, all zeroes
    assert c.x == 0


def test_fractional_clock_lands_each_edge_on_its_microsecond(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def blink():
        wrap_target()
        set(pins, 1)
        set(pins, 0)
        wrap()

    ev = record({15})
    sm, c = sm_with(blink, freq=3000, set_base=machine.Pin(15))
    assert (c.div_int, c.div_frac) == (41666, 170)  # 125 MHz * 256 // 3000 = 10666666
    sm.active(1)
    vc.advance(2_000_000)
    period = Fraction(41666 * 256 + 170, 256 * 125)  # µs per SM cycle
    want = [int(1 + n * period) for n in range(6010) if int(1 + n * period) <= 2_000_000]
    assert [t for t, _, _ in ev[1:]] == want
    assert c.ep < 1000  # the epoch is rebased: the numbers stay small


def test_clock_divider_as_the_port_computes_it(vc):
    @rp2.asm_pio()
    def p():
        nop()

    for freq, di, df in ((MHZ, 125, 0), (-1, 1, 0), (125_000_000, 1, 0), (2000, 62500, 0)):
        sm, c = sm_with(p, freq=freq)
        assert (c.div_int, c.div_frac) == (di, df)
    with pytest.raises(ValueError, match="freq out of range"):
        sm_with(p, freq=1000)  # divider above 65536
    with pytest.raises(ValueError, match="freq out of range"):
        sm_with(p, freq=200_000_000)


def test_long_phase_costs_a_few_steps(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def phase():
        pull()
        mov(y, osr)
        set(pins, 1)
        label("l")
        jmp(y_dec, "l")
        set(pins, 0)
        label("end")
        jmp("end")

    ev = record({16})
    sm, c = sm_with(phase, set_base=machine.Pin(16))
    sm.put(1_500_000 - 2)  # Y + 1 loop cycles, + set: 1.5 s high
    sm.active(1)
    vc.advance(2_000_000)
    assert ev[1:] == [(3, 16, 1), (1_500_003, 16, 0)]  # pull 1, mov 2, set 3
    assert c.steps <= 8 and c.fires <= 4 and c.parked


def test_cpu_catches_up_exactly_inside_a_loop(vc):
    @rp2.asm_pio()
    def count():
        label("l")
        jmp(x_dec, "l")[1]  # 2 µs per iteration
        label("end")
        jmp("end")

    sm, c = sm_with(count)
    load_x(sm, 1000)
    sm.active(1)  # first iteration at µs 1
    vc.advance(101)  # iterations at 1, 3, ..., 101: 51 done
    sm.exec("mov(y, x)")  # exact state now: ran ahead to the loop's end, rolled back
    vc.advance(5)
    assert c.y == 1000 - 51
    vc.advance(10000)
    assert c.x == 0xFFFFFFFF


def test_exec_on_an_active_sm_runs_in_the_next_microsecond(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def idle():
        label("l")
        jmp("l")

    ev = record({17})
    sm, c = sm_with(idle, set_base=machine.Pin(17))
    sm.active(1)
    vc.advance(500)
    sm.exec("set(pins, 1)")
    vc.advance(10)
    assert ev[1:] == [(501, 17, 1)]
    assert c.parked and c.pc == c.offset


def test_restart_and_active_off_keep_registers(vc):
    @rp2.asm_pio()
    def p():
        set(x, 7)
        in_(x, 3)
        label("l")
        jmp("l")

    sm, c = sm_with(p)
    sm.active(1)
    vc.advance(10)
    assert (c.x, c.isr, c.isc) == (7, 7, 3)
    sm.active(0)
    assert not sm.active()
    sm.restart()  # ISR and the counters cleared, X kept, back to the program start
    assert (c.x, c.isr, c.isc, c.osc, c.pc) == (7, 0, 0, 32, c.offset)


def test_wait_gpio_resumes_in_the_next_microsecond(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def p():
        wait(1, gpio, 5)
        set(pins, 1)
        wait(0, pin, 1)  # in_base + 1 = pin 6
        set(pins, 0)
        label("l")
        jmp("l")

    ev = record({18})
    sm, c = sm_with(p, set_base=machine.Pin(18), in_base=machine.Pin(5))
    machine.world.drive(6, 1)
    sm.active(1)
    vc.advance(200)
    machine.world.drive(5, 1)  # at µs 200
    vc.advance(100)
    machine.world.drive(6, 0)  # at µs 300
    vc.advance(10)
    assert ev[1:] == [(202, 18, 1), (302, 18, 0)]


def test_irq_between_state_machines_and_to_the_cpu(vc):
    @rp2.asm_pio()
    def setter():
        set(x, 10)
        label("l")
        jmp(x_dec, "l")
        irq(block, rel(0))  # flag 0 + SM index; waits until it is cleared
        set(y, 1)
        label("end")
        jmp("end")

    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def waiter():
        wait(1, irq, 5)  # cleared by the wait
        set(pins, 1)
        label("end")
        jmp("end")

    ev = record({19})
    sa, ca = sm_with(setter, sm_id=1)
    sb, cb_ = sm_with(waiter, sm_id=2, set_base=machine.Pin(19))
    sb.active(1)
    sa.active(1)
    vc.advance(100)
    # setter: set x at 1, loop 2..12, irq at 13: flag 0 + SM index 1 (rel); it waits
    assert ca.stalled and ca.pio.flags == 1 << 1 and ev == [(0, 19, 0)]
    sa.exec("irq(clear, 1)")
    vc.advance(10)
    assert ca.y == 1

    @rp2.asm_pio()
    def kick():
        set(x, 3)
        label("l")
        jmp(x_dec, "l")
        irq(5)
        label("end")
        jmp("end")

    sk, ck = sm_with(kick, sm_id=3)
    sk.active(1)  # at µs 110: set 111, loop 112..115, irq 5 at 116
    vc.advance(100)
    # the waiter's wait completes in its next cycle (117, clearing the flag), set at 118
    assert ev[1:] == [(118, 19, 1)] and ck.pio.flags == 0

    got = []
    sm0 = rp2.StateMachine(0)
    sm0.irq(lambda s: got.append((s, vc.now_us_abs())))

    @rp2.asm_pio()
    def tell():
        irq(block, 0)  # the CPU's handler acknowledges the flag: no wait
        set(y, 3)
        label("end")
        jmp("end")

    sm0.init(tell, freq=MHZ)
    sm0.active(1)
    vc.advance(10)
    assert got == [(sm0, 211)] and vrp2.core(0).y == 3
    assert sm0.irq().flags() == 1


def test_pio_irq_handler_sees_the_flags(vc):
    got = []
    pio = rp2.PIO(1)
    pio.irq(lambda p: got.append(p.irq().flags()), trigger=PIO.IRQ_SM2)

    @rp2.asm_pio()
    def p():
        irq(2)
        irq(3)
        label("end")
        jmp("end")

    sm = pio.state_machine(1, p, freq=MHZ)
    sm.active(1)
    vc.advance(5)
    assert got == [0x400]  # flag 3 is not enabled: it stays set
    assert vrp2.core(5).pio.flags == 1 << 3


def test_put_buffers_and_get_into_buffers(vc):
    from array import array

    @rp2.asm_pio(fifo_join=PIO.JOIN_TX)
    def p():
        nop()

    sm, c = sm_with(p)
    sm.put(array("I", [1, 2, 0xFFFFFFFF]))
    sm.put(bytearray(b"\x05\x06"))
    sm.put(array("H", [7]), 4)
    sm.put(-1)
    assert sm.tx_fifo() == 7 and list(c.tx[:7]) == [1, 2, 0xFFFFFFFF, 5, 6, 0x70, 0xFFFFFFFF]
    with pytest.raises(ValueError, match="unsupported buffer type"):
        sm.put(array("i", [1]))
    with pytest.raises(TypeError):
        sm.put([1, 2])

    @rp2.asm_pio()
    def echo():
        wrap_target()
        pull()
        mov(isr, osr)
        push()
        wrap()

    sm, c = sm_with(echo, sm_id=1)
    sm.active(1)
    for v in (0x1234, 0xFFFFFF80, 3):
        sm.put(v)
    buf = array("h", [0, 0])
    assert list(sm.get(buf)) == [0x1234, -128]
    assert sm.get(None, 1) == 1
    assert sm.get(bytearray(0)) == bytearray(0)


def test_fifo_join_depths(vc):
    @rp2.asm_pio(fifo_join=PIO.JOIN_TX)
    def tx8():
        nop()

    sm, c = sm_with(tx8)
    for i in range(8):
        sm.put(i)
    assert sm.tx_fifo() == 8

    @rp2.asm_pio(fifo_join=PIO.JOIN_RX)
    def rx8():
        set(x, 1)
        wrap_target()
        in_(x, 1)
        push()
        wrap()

    sm, c = sm_with(rx8, sm_id=1)
    sm.active(1)
    vc.advance(50)
    assert sm.rx_fifo() == 8 and c.stalled
    with pytest.raises(RuntimeError, match="would block forever"):
        sm.put(1)  # no TX FIFO when joined to RX: a board would hang here


def test_get_from_an_empty_fifo_waits_in_virtual_time(vc):
    @rp2.asm_pio()
    def slow():
        set(y, 31)
        label("l")
        jmp(y_dec, "l")[31]  # 32 x 32 µs
        in_(y, 32)
        push()
        label("end")
        jmp("end")

    sm, c = sm_with(slow)
    sm.active(1)
    assert sm.get() == 0xFFFFFFFF
    assert vc.now_us_abs() == 1 + 1 + 32 * 32 + 1 and sm.rx_fifo() == 0


# ---------------------------------------------------------------------------------------------
# The pin function mux.


def test_pio_owns_its_pins_until_the_cpu_takes_them_back(vc):
    @rp2.asm_pio(out_init=(PIO.OUT_HIGH, PIO.OUT_LOW))
    def p():
        nop()

    pa = machine.Pin(10, machine.Pin.OUT, value=0)
    pb = machine.Pin(11, machine.Pin.OUT, value=1)
    ev = record({10, 11})
    sm, c = sm_with(p, out_base=pa)  # init levels: 10 high, 11 low
    assert (pa.value(), pb.value()) == (1, 0)
    pa.value(0)  # the CPU's writes do not reach a pad PIO owns ...
    pb.on()
    assert (pa.value(), pb.value()) == (1, 0)
    sm.exec("mov(pins, null)")
    assert (pa.value(), pb.value()) == (0, 0)
    pb.init(machine.Pin.OUT)  # ... the pin back to the CPU: its last write (1) applies
    assert pb.value() == 1
    sm.exec("mov(pins, invert(null))")  # PIO's write no longer reaches pin 11
    assert (pa.value(), pb.value()) == (1, 1)
    machine.Pin(10, machine.Pin.OUT, value=0)
    assert pa.value() == 0
    assert ev == [(0, 10, 1), (0, 11, 0), (0, 10, 0), (0, 11, 1), (0, 10, 1), (0, 10, 0)]
    machine.Pin(10)  # no mode: the function stays
    assert 10 not in machine.world.funcs


# ---------------------------------------------------------------------------------------------
# hold_devices: nothing runs while the heap-locked tick holds them; they catch up after.


def test_hold_devices_then_catch_up_in_order(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def blink():
        wrap_target()
        set(pins, 1)[4]
        set(pins, 0)[4]
        wrap()

    ev = record({15})
    sm, c = sm_with(blink, set_base=machine.Pin(15))
    sm.active(1)
    vc.advance(100)
    n = len(ev)
    vc.hold_devices = True
    vc.advance(100)
    assert len(ev) == n and sm.tx_fifo() == 0
    vc.hold_devices = False
    vc.advance(0)  # the edges of 100..200 happen now, in order
    late = ev[n:]
    assert [v for _, _, v in late] == [1, 0] * 10 and all(t == 200 for t, _, _ in late)
    vc.advance(100)
    assert [t for t, _, _ in ev[n + 20 :]] == list(range(201, 300, 5))


def test_put_during_hold_wakes_a_stalled_sm_at_the_put_instant(vc):
    @rp2.asm_pio(set_init=PIO.OUT_LOW)
    def p():
        pull()
        set(pins, 1)[31]
        nop()[31]
        set(pins, 0)
        label("end")
        jmp("end")

    ev = record({15})
    sm, c = sm_with(p, set_base=machine.Pin(15))
    sm.active(1)
    vc.advance(100)
    vc.hold_devices = True
    vc.advance(20)
    sm.put(5)  # µs 120: nothing runs, nothing allocated
    assert sm.tx_fifo() == 1
    vc.advance(30)
    vc.hold_devices = False
    vc.advance(100)
    # pull at 121, set 1 at 122 (played late, at 150), nop at 154, set 0 at 186: on time
    assert ev[1:] == [(150, 15, 1), (186, 15, 0)] and c.osr == 5


# ---------------------------------------------------------------------------------------------
# The pulse program of drivers/pulsepio.py: exact phase, dead, rest times at 1 MHz.


def cfg(pins, d, r):
    """A configuration word of the firmware's pulse program (drivers/pulsepio.py): v | D' << 2
    | R' << 9; the zero word is HOLD."""
    return pins | d << 2 | r << 9


def segments(ev, a=10, b=11):
    """[(start µs, duration µs, legs)] from the recorded pin changes (legs: 1 A, 2 B, 0)."""
    lv = {a: 0, b: 0}
    out = []
    for t, pin, v in ev:
        lv[pin] = v
        legs = lv[a] | lv[b] << 1
        if out and out[-1][0] == t:
            out[-1] = (t, legs)
        elif not out or out[-1][1] != legs:
            out.append((t, legs))
    return [(t, out[i + 1][0] - t, legs) for i, (t, legs) in enumerate(out[:-1])]


def play(words_, run_us, sm_id=0):
    from drivers.pulsepio import _pulse  # the program the firmware plays, not a copy

    ev = record({10, 11})
    sm = rp2.StateMachine(sm_id, _pulse, freq=MHZ, out_base=machine.Pin(10))
    for w in words_:
        sm.put(w)
    sm.active(1)
    machine.world.clock.advance(run_us)
    return sm, ev


def test_pulse_program_times_biphasic_100_hz(vc):
    P, D, R = 4975, 25, 25  # P + D + P + R = 10 ms
    sm, ev = play([P - 3, cfg(1, D - 6, R - 6)], 1_000_000 + 6)
    seg = segments(ev)
    assert seg[0][:2] == (0, 6)  # start-up: two pulls, two movs, the jmp past the hold block
    body = seg[1:]
    assert body[:4] == [(6, P, 1), (6 + P, D, 0), (6 + P + D, P, 2), (6 + 2 * P + D, R, 0)]
    assert all(d == want for (_, d, _), want in zip(body, [P, D, P, R] * 100))
    assert len(body) == 400
    c = vrp2.core(0)
    # the report's figure: one second of 100 Hz biphasic pulses
    assert c.steps <= 100 * 25 + 10 and c.fires <= 100 * 5 + 5


def test_pulse_program_times_follow_the_formulas(vc):
    # phase P'+3, dead D'+6, phase P'+3, rest R'+6; monophasic off R'+10
    sm, ev = play([17, cfg(2, 1, 0)], 200)
    assert segments(ev)[1:5] == [(6, 20, 2), (26, 7, 0), (33, 20, 1), (53, 6, 0)]
    sm.active(0)
    sm, ev = play([100, cfg(1, 0, 50)], 1000, sm_id=1)
    assert [s[1:] for s in segments(ev)[1:5]] == [(103, 1), (60, 0), (103, 1), (60, 0)]


def test_pulse_program_repeats_then_switches_at_the_period_boundary(vc):
    sm, ev = play([94, cfg(1, 19, 19)], 1006)  # 97 + 25 + 97 + 25 = 244 µs periods from 6
    # empty TX FIFO: pull(noblock) takes X again, the same period repeats
    assert [s[1:] for s in segments(ev)[1:17]] == [(97, 1), (25, 0), (97, 2), (25, 0)] * 4
    # µs 1006 is inside the period 982..1226: put a monophasic config (leg B, off 110 µs)
    sm.put(cfg(2, 0, 100))
    machine.world.clock.advance(700)
    assert [s for s in segments(ev) if s[0] >= 982] == [
        (982, 97, 1), (1079, 25, 0), (1104, 97, 2), (1201, 25, 0),  # finishes as it was
        (1226, 97, 2), (1323, 110, 0), (1433, 97, 2), (1530, 110, 0),  # then the new one
    ]  # fmt: skip
    assert sm.tx_fifo() == 0


def test_pulse_program_new_config_exactly_at_the_boundary(vc):
    sm, ev = play([47, cfg(1, 4, 4)], 60)  # 50 + 10 + 50 + 10 = 120 µs periods from µs 6
    sm.put(cfg(2, 4, 4))  # µs 60: inside the first period
    machine.world.clock.advance(300)
    seg = segments(ev)[1:]
    assert seg[:8] == [
        (6, 50, 1), (56, 10, 0), (66, 50, 2), (116, 10, 0),  # the period it was playing
        (126, 50, 2), (176, 10, 0), (186, 50, 1), (236, 10, 0),  # the new one, from 126
    ]  # fmt: skip


def test_pulse_program_hold_word(vc):
    sm, ev = play([47, cfg(1, 4, 4), 0], 1000)  # a period, then HOLD (the zero word)
    seg = segments(ev)
    # one period, then at its end: P' pushed to RX, both legs low, waiting for two words
    assert [s[1:] for s in seg[1:4]] == [(50, 1), (10, 0), (50, 2)]
    assert seg[-1][2] == 2 and sm.rx_fifo() == 1 and sm.get() == 47
    assert machine.world.level(10) == 0 and machine.world.level(11) == 0
    c = vrp2.core(0)
    assert c.stalled
    t = machine.world.clock.now_us_abs()
    sm.put(27)
    sm.put(cfg(2, 4, 4))
    machine.world.clock.advance(200)
    seg = segments(ev)
    resume = [s for s in seg if s[0] > t]
    # pull at t+1, mov at t+2, pull t+3, mov t+4, then (the wrap) phase 1, leg B, from t+5
    assert resume[0][0] == t + 5 and resume[0][1:] == (30, 2)
    assert resume[1][1:] == (10, 0) and resume[2][1:] == (30, 1)


def test_pulse_program_hold_during_heap_locked_tick(vc):
    # the control tick puts a config while hold_devices is set: the SM sees it at the
    # instant it was put, as if it had run all along
    ref_sm, ref = play([47, cfg(1, 4, 4)], 60)
    ref_sm.put(cfg(2, 4, 4))
    machine.world.clock.advance(300)
    want = segments(ref)
    ref_sm.active(0)
    machine.world.reset(VClock(0))
    clk = machine.world.clock
    sm, ev = play([47, cfg(1, 4, 4)], 50)
    clk.hold_devices = True
    clk.advance(10)
    sm.put(cfg(2, 4, 4))  # µs 60, SM held since 50
    clk.advance(100)
    clk.hold_devices = False
    clk.advance(200)
    got = segments(ev)
    # the edges of 50..160 were played late (at 160); from there on the two runs agree:
    # the boundary at 126 used the new config in both
    assert [s for s in got if s[0] > 160] == [s for s in want if s[0] > 160]
    assert (126, 50, 2) in want and [s for s in want if s[0] > 160][0] == (176, 10, 0)
