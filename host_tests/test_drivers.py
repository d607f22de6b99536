# Unit tests for the drivers on the fake machine.
import machine
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import clock, hbridge
from drivers.button import LONG, NONE, SHORT, Button
from drivers.dac import ceiling_code
from drivers.esp32dac import ESP32DAC
from drivers.mcp4725 import MCP4725
from drivers.pwmdac import PWMDAC
from drivers.sense import Sense, scale_for


@pytest.mark.rule("4.3")
def test_ceiling_codes_match_the_design():
    # 1.1 x ceiling at full scale: 1000 µA is 10/11 of full scale, rounded down.
    assert ceiling_code(4095, 1100, 1000) == 3722
    assert ceiling_code(65535, 1100, 1000) == 59577
    assert ceiling_code(255, 1100, 1000) == 231


@pytest.mark.rule("4.3")
@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_every_dac_clamps_to_its_ceiling(code):
    machine.world.reset()
    i2c = machine.I2C(0)
    from vhw.stage import MCP4725Model

    chip = MCP4725Model(0, 0x60, machine.world)
    dacs = [
        MCP4725(i2c, 0x60, max_code=3722),
        PWMDAC(machine.PWM(machine.Pin(16)), max_code=59577),
        ESP32DAC(machine.DAC(machine.Pin(25)), max_code=231),
    ]
    for d in dacs:
        written = d.set_code(code)
        assert 0 <= written <= d.max_code
        assert d.code == written
    assert chip.code == dacs[0].code
    assert machine.world.pwms[16].duty_u16() == dacs[1].code
    assert machine.world.dacs[25].value == dacs[2].code


def test_mcp4725_fast_write_bytes_and_nack():
    machine.world.reset()
    from vhw.stage import MCP4725Model

    chip = MCP4725Model(0, 0x60, machine.world)
    d = MCP4725(machine.I2C(0), 0x60, max_code=4095)
    d.set_code(0xABC)
    assert chip.code == 0xABC
    assert bytes(d._buf) == b"\x0a\xbc"
    chip.nack = True
    with pytest.raises(OSError):
        d.set_code(5)
    assert d.error
    assert chip.code == 0xABC  # the chip holds its last code
    chip.nack = False
    d.set_code(7)
    assert not d.error and chip.code == 7


@pytest.mark.rule("4.3")
def test_dac_rejects_a_max_code_beyond_full_scale():
    machine.world.reset()
    with pytest.raises(ValueError):
        ESP32DAC(machine.DAC(machine.Pin(25)), max_code=256)


def test_hbridge_never_has_both_legs_high():
    machine.world.reset()
    seen = []
    a = machine.Pin(10, machine.Pin.OUT, value=0)
    b = machine.Pin(11, machine.Pin.OUT, value=0)
    br = hbridge.HBridge(a, b)
    machine.world.listeners.append(
        lambda kind, pid, v: seen.append((machine.world.level(10), machine.world.level(11)))
    )
    for pol in (1, -1, 1, 0, -1, -1, 1, 0):
        br.set(pol)
        assert br.driving() == pol
    assert (1, 1) not in seen
    br.open()
    assert machine.world.level(10) == 0 and machine.world.level(11) == 0


@given(st.integers(min_value=1, max_value=4_000_000))
def test_fixed_point_scale_stays_small_and_accurate(fs):
    mul, shift = scale_for(fs)
    assert 65535 * mul < 2**30
    got = (65535 * mul) >> shift
    assert abs(got - fs) <= max(1, fs // 5000)


def test_sense_oversamples_and_converts(sim):
    vc, stage, hw = sim
    stage.set_load(True, 10000)
    hw.stage.set_ua(500)
    hw.stage.set_polarity(hbridge.POS)
    hw.stage.enable()
    stage.noise_counts = 0
    assert stage.measured_ua() == 499  # codes round down: never above the request
    ua = hw.sense.read()
    assert abs(ua - 500) <= 2
    assert abs(hw.sense.mv - 4990) <= 5
    with pytest.raises(ValueError):
        Sense(None, None, 1, 1, oversample=0)


def test_compliance_limit_and_open_circuit(sim):
    vc, stage, hw = sim
    stage.noise_counts = 0
    hw.stage.set_ua(1000)
    hw.stage.set_polarity(hbridge.NEG)
    hw.stage.enable()
    stage.set_load(True, 40000)  # 1000 µA would need 40 V: the 20 V rail allows 500 µA
    assert stage.measured_ua() == -500
    assert stage.electrode_mv() == 20000
    stage.set_load(False)
    assert stage.measured_ua() == 0
    assert stage.electrode_mv() == 20000
    hw.stage.off()
    assert stage.measured_ua() == 0 and machine.world.level(12) == 0


@pytest.mark.rule("4.6", "4.10")
def test_output_stage_off_order_and_never_raises(sim):
    vc, stage, hw = sim
    order = []
    machine.world.listeners.append(lambda kind, ident, v: order.append((kind, ident, v)))
    hw.stage.set_ua(300)
    hw.stage.set_polarity(hbridge.POS)
    hw.stage.enable()
    assert hw.stage.driven_ua() == 299  # code rounding: never above the request
    stage.set_fault("i2c_error")
    order.clear()
    hw.stage.off()  # the DAC NACKs: off still completes
    assert hw.stage.dac_error
    assert order[0] == ("pin", 12, 0)  # OUT_EN low first
    assert machine.world.level(10) == 0 and machine.world.level(11) == 0
    assert hw.stage.driven_ua() == 0


def _run_button(vc, btn, pid, down_ms, total_ms):
    events = []
    t_end = clock.ticks_add(clock.ticks_ms(), total_ms)
    t_up = clock.ticks_add(clock.ticks_ms(), down_ms)
    machine.world.press(pid, True)
    while clock.ticks_diff(t_end, clock.ticks_ms()) > 0:
        if clock.ticks_diff(clock.ticks_ms(), t_up) >= 0:
            machine.world.press(pid, False)
        e = btn.poll(clock.ticks_ms())
        if e != NONE:
            events.append(e)
        vc.advance(2000)
    return events


@pytest.mark.parametrize("fixture", ["sim", "sim_near_wrap"])
def test_button_short_and_long_press(fixture, request):
    vc, stage, hw = request.getfixturevalue(fixture)
    b = hw.buttons.power
    assert _run_button(vc, b, 2, 100, 300) == [SHORT]
    assert _run_button(vc, b, 2, Button.long_press_ms + 200, 1500) == [LONG]
    assert _run_button(vc, b, 2, 10, 200) == []  # shorter than the debounce: nothing


def test_button_ignores_bounce(sim):
    vc, stage, hw = sim
    b = hw.buttons.mode
    events = []
    for k in range(40):  # 2 ms chatter for 80 ms, then held, then released
        machine.world.press(3, k % 2 == 0)
        e = b.poll(clock.ticks_ms())
        if e:
            events.append(e)
        vc.advance(2000)
    machine.world.press(3, True)
    for _ in range(50):
        e = b.poll(clock.ticks_ms())
        if e:
            events.append(e)
        vc.advance(2000)
    machine.world.press(3, False)
    for _ in range(30):
        e = b.poll(clock.ticks_ms())
        if e:
            events.append(e)
        vc.advance(2000)
    assert events == [SHORT]


def test_buzzer_pattern_plays_without_blocking(sim):
    vc, stage, hw = sim
    pat = ((2000, 50, 50), (3000, 100, 0))
    hw.buzzer.play(pat)
    pwm = machine.world.pwms[14]
    on = []
    for _ in range(150):
        hw.buzzer.update(clock.ticks_ms())
        on.append(pwm.duty_u16() > 0)
        vc.advance(2000)
    assert not hw.buzzer.busy()
    # ~25 ticks on, ~25 off, ~50 on, then silent
    assert 70 <= sum(on) <= 80
    assert pwm.freq() == 3000


def test_battery_reads_the_divider(sim):
    vc, stage, hw = sim
    assert abs(hw.battery.read_mv() - 3900) <= 3
    stage.set_fault("battery_low")
    assert abs(hw.battery.read_mv() - 3100) <= 3


def test_clock_wraps_like_the_device(sim_near_wrap):
    vc, stage, hw = sim_near_wrap
    t0 = clock.ticks_ms()
    vc.advance(100_000)
    t1 = clock.ticks_ms()
    assert t1 < t0  # wrapped
    assert clock.ticks_diff(t1, t0) == 100
    assert clock.ticks_add(t0, 100) == t1


def test_timer_fires_at_exact_virtual_instants(sim):
    vc, stage, hw = sim
    fired = []
    t = machine.Timer(-1)
    t.init(mode=machine.Timer.PERIODIC, freq=1000, callback=lambda tm: fired.append(vc.ticks_us()))
    start = vc.ticks_us()
    vc.sleep_ms(10)
    t.deinit()
    assert [clock.ticks_diff(f, start) for f in fired] == [1000 * k for k in range(1, 11)]


def test_watchdog_expires_without_feeding(sim):
    from vhw.vclock import WatchdogReset

    vc, stage, hw = sim
    wdt = hw.make_wdt(500)
    vc.sleep_ms(400)
    wdt.feed()
    vc.sleep_ms(400)
    with pytest.raises(WatchdogReset):
        vc.sleep_ms(200)


def test_boards_build_on_the_fake_machine():
    from firmware import boards

    for name in boards.BOARDS:
        machine.world.reset()
        b = boards.module(name)
        hw = b.build(machine)
        assert hw.stage.dac.max_code * hw.ua_fs // hw.stage.dac.full_scale <= 1000
        assert hw.out_en.is_on() is False
    assert boards.name_for_platform("rp2") == "pico"
    assert boards.name_for_platform("esp32") == "esp32"
    assert boards.name_for_platform("linux") == "sim"
    with pytest.raises(ValueError):
        boards.module("arduino")  # load() never raises: host_tests/test_hostile_files.py


def test_watchdog_fires_at_its_instant_inside_one_long_sleep(sim):
    from vhw.vclock import WatchdogReset

    vc, stage, hw = sim
    wdt = hw.make_wdt(500)
    t0 = clock.ticks_ms()
    with pytest.raises(WatchdogReset):
        vc.sleep_ms(5000)  # a stalled loop: one long sleep, no timer due
    assert clock.ticks_diff(clock.ticks_ms(), t0) == 501
    assert wdt.feeds == 0
