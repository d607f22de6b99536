"""vhw.esp32.RMT, the fake of MicroPython 1.28's esp32.RMT: its arguments and errors as the
port's, and the pulses on the pin at exact times (channel ticks of 80 MHz / divider) on the
virtual clock, once, in loop mode, and handing over from one loop to the next."""

import esp32
import machine
import pytest

from vhw.vclock import VClock

RMT = esp32.RMT


@pytest.fixture
def vc():
    machine.world.reset(VClock(0))
    yield machine.world.clock
    machine.world.reset(VClock(0))


def record(pin):
    ev = []
    clk = machine.world.clock

    def on(kind, ident, v):
        if kind == "pin" and ident == pin:
            ev.append((clk.now_us_abs(), v))

    machine.world.listeners.append(on)
    return ev


def test_constructor_as_the_port(vc):
    r = RMT(0, pin=machine.Pin(18))
    assert r.clock_div() == 8 and RMT.source_freq() == 80_000_000
    assert repr(r) == "RMT(pin=18, source_freq=80000000, resolution_hz=10000000, idle_level=0)"
    assert RMT(pin=19, clock_div=80).clock_div() == 80
    assert RMT(pin=20, resolution_hz=1_000_000).clock_div() == 80
    assert RMT(pin=21, clock_div=3).resolution_hz == 26_666_666
    with pytest.raises(ValueError, match="mutually exclusive"):
        RMT(pin=22, clock_div=8, resolution_hz=10_000_000)
    with pytest.raises(ValueError, match="between 1 and 255"):
        RMT(pin=22, clock_div=256)
    with pytest.raises(ValueError, match="must be positive"):
        RMT(pin=22, resolution_hz=0)
    with pytest.raises(ValueError, match="num_symbols"):
        RMT(pin=22, num_symbols=65)
    with pytest.raises(ValueError, match="frequency"):
        RMT(pin=22, tx_carrier=(0, 50, 1))
    with pytest.raises(ValueError, match="duty"):
        RMT(pin=22, tx_carrier=(38000, 101, 1))
    with pytest.raises(TypeError):
        RMT(0)  # pin is required
    assert RMT.PULSE_MAX == 32767
    assert RMT.bitstream_rmt() is True and RMT.bitstream_rmt(False) is False
    RMT.bitstream_rmt(True)


def test_write_pulses_mode1_toggles_from_the_data_level(vc):
    ev = record(5)
    r = RMT(pin=machine.Pin(5), clock_div=80)  # 1 µs ticks
    assert machine.world.level(5) == 0 and ev == [(0, 0)]  # the channel holds the pin low
    vc.advance(100)
    r.write_pulses((1, 20, 2, 40), 0)  # 0 for 1, 1 for 20, 0 for 2, 1 for 40; from µs 101
    assert r.active() and not r.wait_done()
    vc.advance(1000)
    assert ev[1:] == [(102, 1), (122, 0), (124, 1), (164, 0)]
    assert r.wait_done() and not r.active()


def test_write_pulses_modes_2_and_3(vc):
    ev = record(6)
    r = RMT(pin=6, resolution_hz=1_000_000)
    r.write_pulses(10, [1, 0, 1, 1])  # one duration, a level each
    vc.advance(100)
    assert ev[1:] == [(1, 1), (11, 0), (21, 1), (41, 0)]
    r.write_pulses([5, 7, 9], [True, 0, 1])
    vc.advance(100)
    assert ev[5:] == [(101, 1), (106, 0), (113, 1), (122, 0)]
    with pytest.raises(ValueError, match="same length"):
        r.write_pulses([1, 2], [1])
    with pytest.raises(ValueError, match="No pulses"):
        r.write_pulses([])
    with pytest.raises(ValueError, match="PULSE_MAX"):
        r.write_pulses([32768])
    with pytest.raises(ValueError, match="PULSE_MAX"):
        r.write_pulses([0, 3])
    with pytest.raises(TypeError):
        r.write_pulses(5)  # mode 1 wants a list or tuple


def test_exact_durations_at_a_fractional_tick(vc):
    ev = record(7)
    r = RMT(pin=7, clock_div=3)  # 37.5 ns ticks
    r.write_pulses([40, 40, 40, 40, 13, 27])  # 1.5 µs each, then 0.4875 + 1.0125 µs
    vc.advance(100)
    # from µs 1 exactly: changes at 1 + 1.5 k µs (then 7.4875), each on the µs it falls in;
    # the end (µs 8.5) leaves the pin at the idle level it already has
    assert ev[1:] == [(1, 1), (2, 0), (4, 1), (5, 0), (7, 1), (7, 0)]


def test_idle_level_after_the_sequence(vc):
    ev = record(8)
    r = RMT(pin=8, clock_div=80, idle_level=True)
    assert machine.world.level(8) == 0  # high only once a transmission has ended
    r.write_pulses([10, 10], 1)
    vc.advance(50)
    assert ev[1:] == [(1, 1), (11, 0), (21, 1)]


def test_wait_done_blocks_in_virtual_time(vc):
    r = RMT(pin=9, clock_div=80)
    assert r.wait_done()  # never started: idle
    r.write_pulses([3000, 2000], 1)  # 5 ms from µs 1
    assert r.wait_done(timeout=2) is False and vc.now_us_abs() == 2000
    assert r.wait_done(timeout=100) is True and vc.now_us_abs() == 5001
    assert r.wait_done(timeout=-1)


def test_loop_repeats_one_fire_per_level_change(vc):
    ev = record(10)
    r = RMT(pin=10, clock_div=80)
    r.loop(True)
    r.write_pulses([100, 150, 50, 700], 1)  # 1 ms: high 100, low 150, high 50, low 700
    vc.advance(1_000_000)
    times = [t for t, _ in ev[1:]]
    assert len(times) == 4000
    assert times[:8] == [1, 101, 251, 301, 1001, 1101, 1251, 1301]
    assert all(b - a == 1000 for a, b in zip(times, times[4:]))
    assert r.fires <= 4001 and r.active() and r.wait_done() is False
    with pytest.raises(RuntimeError, match="never returns"):
        r.wait_done(timeout=-1)


def test_new_sequence_starts_where_the_loop_iteration_ends(vc):
    ev = record(11)
    r = RMT(pin=11, clock_div=80)
    r.loop(True)
    r.write_pulses([100, 150], 1)  # 250 µs iterations from µs 1
    vc.advance(600)  # inside the iteration 501..751
    r.write_pulses([30, 20], 1)  # blocks until 751, then loops the new one
    assert vc.now_us_abs() == 751
    vc.advance(200)
    old = [1, 101, 251, 351, 501, 601]
    assert [t for t, _ in ev[1:]] == old + [751, 781, 801, 831, 851, 881, 901, 931, 951]


def test_write_while_playing_waits_for_the_end(vc):
    ev = record(12)
    r = RMT(pin=12, clock_div=80)
    r.write_pulses([100, 100], 1)
    vc.advance(50)
    r.write_pulses([10], 1)  # blocks to µs 201 (done), starts at 202
    assert vc.now_us_abs() == 201
    vc.advance(50)
    assert ev[1:] == [(1, 1), (101, 0), (202, 1), (212, 0)]


def test_stop_a_loop(vc):
    ev = record(13)
    r = RMT(pin=13, clock_div=80, idle_level=0)
    r.loop(True)
    r.write_pulses([100, 100], 1)
    vc.advance(150)
    r.loop(False)  # stops at once, pin at the idle level
    assert not r.active() and machine.world.level(13) == 0
    vc.advance(1000)
    assert ev[1:] == [(1, 1), (101, 0)]
    r.loop(True)
    r.write_pulses([100, 100], 1)
    vc.advance(20)
    r.active(False)
    assert not r.active() and machine.world.level(13) == 0
    with pytest.raises(ValueError, match="write_pulses"):
        r.active(True)


def test_loop_count_plays_n_times(vc):
    ev = record(14)
    r = RMT(pin=14, clock_div=80)
    r.loop_count(3)
    r.write_pulses([10, 10], 1)
    vc.advance(1000)
    assert [t for t, _ in ev[1:]] == [1, 11, 21, 31, 41, 51]
    with pytest.raises(ValueError, match="-1, 0 or positive"):
        r.loop_count(-2)


def test_pin_belongs_to_the_channel_until_deinit(vc):
    p = machine.Pin(15, machine.Pin.OUT, value=1)
    r = RMT(pin=p, clock_div=80)
    assert p.value() == 0
    p.value(1)  # ignored while the RMT drives the pad
    assert p.value() == 0
    r.write_pulses([10], 1)
    vc.advance(5)
    assert p.value() == 1
    r.deinit()  # stops, and the CPU's pin again: its last write (1) applies
    assert p.value() == 1 and machine.world.funcs.get(15) is None
    with pytest.raises(OSError):
        r.write_pulses([1])
    with pytest.raises(OSError):
        r.clock_div()
    assert repr(r) == "RMT()"


def test_hold_devices_then_catch_up(vc):
    ev = record(16)
    r = RMT(pin=16, clock_div=80)
    r.loop(True)
    r.write_pulses([10, 10], 1)
    vc.advance(50)
    vc.hold_devices = True
    n = len(ev)
    vc.advance(40)
    assert len(ev) == n
    vc.hold_devices = False
    vc.advance(0)
    assert [v for _, v in ev[n:]] == [0, 1, 0, 1] and all(t == 90 for t, _ in ev[n:])
    vc.advance(30)
    assert [t for t, _ in ev[n + 4 :]] == [91, 101, 111]


def test_long_pulses_exact(vc):
    ev = record(17)
    r = RMT(pin=17, clock_div=255)  # 3.1875 µs ticks
    r.write_pulses([32767, 32767, 1], 1)
    vc.advance(300_000)
    t1 = 1 + 32767 * 255 // 80
    t2 = 1 + 2 * 32767 * 255 // 80
    t3 = 1 + (2 * 32767 + 1) * 255 // 80
    assert ev[1:] == [(1, 1), (t1, 0), (t2, 1), (t3, 0)]
