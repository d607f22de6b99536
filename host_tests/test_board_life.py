# Living on a real board (issue 12), on the sim board: the watchdog is armed when the device
# leaves soft-off and a reset counts as a watchdog fault only when a running device had it
# armed (DESIGN 4.7); the boost rail is up only around output; soft-off sleeps; the OLED is
# redrawn in slices that fit the tick; the frozen-package layout of a deployed board.
import json
import os

import machine
import pytest

from firmware import app as appmod
from firmware import programs, ui
from firmware.boards import hw as hwmod
from firmware.boards import sim as board
from safety import faults
from vhw import scratch
from vhw.install import make_sim_world
from vhw.vclock import WatchdogReset

P = board.PINS
MARK = board.WDT_SCRATCH
SHORT = {
    "format": 1,
    "id": "short",
    "name": "Short",
    "purpose": "one minute of output",
    "probe": "disk",
    "steps": [
        {
            "area": "cheek",
            "side": side,
            "movement": "toward",
            "strokes": 3,
            "stroke_s": 10,
            "shape": "biphasic",
            "freq_hz": 10,
            "intensity_ua": [50, 100],
        }
        for side in ("left", "right")
    ],
}  # 60 s: the shortest program the validator takes


class Device:
    """One boot of the sim board running the app: its loop paced at the app's tick period
    (each tick takes the virtual time the sim board charges, then sleeps to the deadline)."""

    def __init__(self, root, reset_cause=None, settings=None):
        self.vc, self.stage = make_sim_world(reset_cause=reset_cause)
        if settings is not None:
            with open(os.path.join(root, "settings.json"), "w") as f:
                json.dump(settings, f)
        self.hw = board.build(machine)
        custom = os.path.join(root, "programs")
        os.makedirs(custom, exist_ok=True)
        with open(os.path.join(custom, "short.json"), "w") as f:
            json.dump(SHORT, f)
        self.app = appmod.App(self.hw, root, (programs.shipped_dir(), custom))
        self.states = set()

    def run(self, ms):
        end = self.vc.now_us_abs() + ms * 1000
        while self.vc.now_us_abs() < end:
            self.tick()

    def tick(self):
        t0 = self.vc.now_us_abs()
        self.app.tick()
        self.states.add(self.app.state)
        left = appmod.TICK_US - (self.vc.now_us_abs() - t0)
        if left > 0:
            self.vc.advance(left)

    def press(self, pin, hold_ms, after_ms=200):
        machine.world.press(P[pin], True)
        self.run(hold_ms)
        machine.world.press(P[pin], False)
        self.run(after_ms)

    def power_on(self):
        self.press("BTN_POWER", 1200)
        assert self.app.state == "idle", (self.app.state, self.app.fault)

    def power_off(self):
        self.press("BTN_POWER", 1200)
        assert self.app.state == "off"

    def host_stops_the_loop(self, ms=2000):
        """mpremote connects: Ctrl-C ends the app's loop; nothing ticks for ms."""
        self.vc.advance(ms * 1000)


@pytest.fixture
def root(tmp_path):
    return str(tmp_path)


def marker():
    return machine.mem32[MARK]


# --- watchdog: DESIGN 4.7 ------------------------------------------------------------------


@pytest.mark.rule("4.7")
def test_wdt_not_armed_in_off_so_a_host_session_does_not_reset_the_device(root):
    d = Device(root)
    d.run(1000)  # the loop runs in soft-off
    assert d.app.state == "off"
    assert d.app.supervisor.wdt is None and machine.world.wdt is None
    d.host_stops_the_loop(3000)  # Ctrl-C: no feeding for 3 s, and no reset
    assert marker() == 0


@pytest.mark.rule("4.7")
def test_wdt_armed_at_power_on_and_a_stall_is_a_watchdog_fault_at_the_next_boot(root):
    d = Device(root)
    d.power_on()
    assert d.app.supervisor.wdt is not None and machine.world.wdt is not None
    assert marker() != 0  # armed by a running device
    with pytest.raises(WatchdogReset):
        d.host_stops_the_loop(2000)  # the loop stalls
    d2 = Device(root, reset_cause=machine.WDT_RESET)  # the chip reboots through the watchdog
    assert d2.app.state == "fault" and d2.app.fault == faults.WATCHDOG
    assert d2.app.supervisor.boot_fault == faults.WATCHDOG
    assert marker() == 0  # read at boot: the next reset is judged afresh
    # a maker's `mpremote reset` now (rp2: WDT_RESET again) shows no second fault
    d3 = Device(root, reset_cause=machine.WDT_RESET)
    assert d3.app.state == "off" and d3.app.fault is None


@pytest.mark.rule("4.7")
def test_a_reset_asked_for_in_off_is_not_a_watchdog_fault(root):
    # `make deploy` ends with `mpremote reset`: machine.reset() on rp2 reports WDT_RESET.
    d = Device(root)
    d.run(500)
    assert marker() == 0
    d2 = Device(root, reset_cause=machine.WDT_RESET)
    assert d2.app.state == "off" and d2.app.fault is None
    assert not d2.app.supervisor.latched
    d2.power_on()  # and the device works normally


@pytest.mark.rule("4.7")
def test_after_power_off_a_host_session_resets_at_most_once_and_without_a_fault(root):
    d = Device(root)
    d.power_on()
    d.run(500)
    d.power_off()
    assert marker() == 0  # back in soft-off
    d.run(2000)  # the WDT (it cannot be stopped on rp2) stays fed in soft-off
    assert d.app.state == "off"
    with pytest.raises(WatchdogReset):
        d.host_stops_the_loop(2000)  # mpremote's Ctrl-C: the armed WDT resets the chip once
    d2 = Device(root, reset_cause=machine.WDT_RESET)
    assert d2.app.state == "off" and d2.app.fault is None
    d2.host_stops_the_loop(3000)  # the next session: not armed any more, no reset


@pytest.mark.rule("4.7")
def test_scratch_marker_survives_a_watchdog_reboot_not_a_power_cycle(root):
    Device(root).power_on()
    assert marker() != 0
    make_sim_world(reset_cause=machine.SOFT_RESET)
    assert marker() != 0
    make_sim_world(reset_cause=machine.WDT_RESET)
    assert marker() != 0
    make_sim_world()  # power-on
    assert marker() == 0


class _Mem:
    def __init__(self):
        self.regs = {}

    def __getitem__(self, a):
        return self.regs.get(a, 0)

    def __setitem__(self, a, v):
        self.regs[a] = v


class _Machine:
    def __init__(self):
        self.mem32 = _Mem()


@pytest.mark.rule("4.7")
def test_pico_marker_in_watchdog_scratch3_and_a_forced_reboot_is_not_a_stall():
    from firmware.boards import pico

    assert pico.WDT_SCRATCH == 0x40058000 + 0x18  # SCRATCH3: not the bootrom's, not the SDK's
    assert pico.WDT_REASON == 0x40058000 + 0x08
    m = _Machine()
    mark = hwmod._wdt_mark(m, pico)
    assert mark() is False
    mark(True)
    assert m.mem32[pico.WDT_SCRATCH] != 0 and m.mem32[pico.WDT_SCRATCH] < 1 << 30
    m.mem32[pico.WDT_REASON] = 1  # TIMER: the watchdog expired
    assert mark() is True
    m.mem32[pico.WDT_REASON] = 2  # FORCE: machine.reset() (pico-sdk watchdog_reboot)
    assert mark() is False
    mark(False)
    m.mem32[pico.WDT_REASON] = 1
    assert mark() is False


def test_esp32_marker_in_rtc_memory():
    from firmware.boards import esp32

    class RTC:
        mem = b""

        def memory(self, v=None):
            if v is None:
                return RTC.mem
            RTC.mem = bytes(v)

    m = _Machine()
    m.RTC = RTC
    mark = hwmod._wdt_mark(m, esp32)
    assert mark() is False
    mark(True)
    assert mark() is True
    mark(False)
    assert mark() is False


def test_a_board_without_a_marker_keeps_every_watchdog_reset_a_fault(root, monkeypatch):
    monkeypatch.delattr(board, "WDT_SCRATCH")
    d = Device(root, reset_cause=machine.WDT_RESET)
    assert d.hw.wdt_mark is None
    assert d.app.state == "fault" and d.app.fault == faults.WATCHDOG


def test_scratch_fake_keeps_only_scratch_registers():
    m = scratch.Mem32()
    m[scratch.SCRATCH0 + 12] = 0x1234
    m[scratch.WATCHDOG_BASE] = 7  # CTRL: not modelled
    assert m[scratch.SCRATCH0 + 12] == 0x1234 and m[scratch.WATCHDOG_BASE] == 0


# --- the boost rail: up only around output (DESIGN 2) ------------------------------------------


def boost_pin():
    return machine.world.level(P["BOOST_EN"])


class Watched(Device):
    """Records BOOST_EN and OUT_EN at every tick with the state the app was in."""

    def __init__(self, root, **kw):
        super().__init__(root, **kw)
        self.seen = []  # (state, BOOST_EN, OUT_EN, playing)
        self.rises = []  # (t_us BOOST_EN rose, t_us OUT_EN first rose after it)
        self._boost_up = None
        machine.world.listeners.append(self._pin)

    def _pin(self, kind, ident, value):
        if kind != "pin":
            return
        t = self.vc.now_us_abs()
        if ident == P["BOOST_EN"] and value:
            self._boost_up = t
        elif ident == P["OUT_EN"] and value and self._boost_up is not None:
            self.rises.append((self._boost_up, t))
            self._boost_up = None

    def tick(self):
        super().tick()
        a = self.app
        self.seen.append((a.state, boost_pin(), self.hw.out_en.is_on(), a.player.playing))


@pytest.mark.rule("4.6")
def test_boost_low_in_every_state_without_output(root):
    d = Watched(root)
    d.run(300)  # soft-off
    d.power_on()  # self-test, idle
    d.run(500)
    d.stage.set_load(True, 20000)
    d.press("BTN_POWER", 100, 3000)  # start: running on skin
    assert d.app.state == "running" and boost_pin() == 1
    d.stage.set_load(False)
    d.run(500)  # lifted: paused, contact probes (they need the rail)
    assert d.app.state == "paused"
    d.stage.set_load(True, 20000)
    d.run(1000)
    d.stage.set_fault("short_circuit", True)
    d.run(200)
    assert d.app.state == "fault"
    d.stage.set_fault("short_circuit", False)
    d.stage.set_load(False)
    d.press("BTN_POWER", 1200)  # clear: idle
    assert d.app.state == "idle"
    d.run(300)
    d.power_off()
    d.run(300)
    states = {s for s, _, _, _ in d.seen}
    assert {"off", "idle", "running", "paused", "fault"} <= states
    for state, boost, out_en, _playing in d.seen:
        if state not in ("running", "paused"):
            assert boost == 0, state  # off, self-test done, idle, complete, fault
        if out_en:
            assert boost == 1  # never output without the rail
    assert boost_pin() == 0
    # the rail came up before OUT_EN, by the board's settle time
    assert d.rises
    for up, en in d.rises:
        assert en - up >= board.BOOST_SETTLE_MS * 1000, (up, en)


def test_boost_low_after_a_program_completes_and_after_find_my_level(root):
    d = Watched(root, settings={"last_program": "short"})
    d.power_on()
    assert d.app.program_id == "short"
    d.stage.set_load(True, 20000)
    d.press("BTN_POWER", 100, 100)  # start
    for _ in range(900):
        if d.app.state == "complete":
            break
        d.run(100)
    assert d.app.state == "complete" and boost_pin() == 0
    d.run(9000)
    assert d.app.state == "idle" and boost_pin() == 0
    assert all(b == 0 for s, b, _, _ in d.seen if s in ("complete", "idle"))
    d.press("BTN_PLUS", 1200, 3000)  # find my level: running
    assert d.app.state == "running" and boost_pin() == 1
    d.press("BTN_PLUS", 100, 300)  # the tingle: stored, back to idle
    assert d.app.state == "idle" and boost_pin() == 0


def test_selftest_checks_the_boost_switches_off(sim):
    from safety import selftest

    vc, stage, hw = sim
    ok, lines, code = selftest.run(hw, True)
    assert ok, lines
    assert any(ln.startswith("selftest: boost_off  ok") and "BOOST_EN low" in ln for ln in lines)
    assert not hw.boost.is_on() and not hw.out_en.is_on()
    hw.boost.off = lambda: None  # a boost enable stuck high: the rail stays up
    hw.boost.on()
    ok, lines, code = selftest.run(hw, True)
    assert not ok and code == faults.SELFTEST
    assert any(ln.startswith("selftest: boost_off  FAIL") for ln in lines)


def test_selftest_with_the_probes_on_skin_does_not_judge_the_boost(sim):
    from safety import selftest

    vc, stage, hw = sim
    stage.set_load(True, 20000)
    ok, lines, code = selftest.run(hw, True)
    assert ok, lines
    assert any("boost_off" in ln and "not checked" in ln for ln in lines)
    assert not hw.boost.is_on()


# --- soft-off is off: a slow poll in lightsleep (issue 12 item 6) ------------------------------


class Script:
    """Runs app.run() unmodified on the virtual clock: at each sleep of the loop (the clock's
    idle hook) the due events are applied; StopSimulation ends the run."""

    def __init__(self, d, events, end_ms):
        self.d = d
        self.t0 = d.vc.now_us_abs()
        self.events = sorted(events)
        self.end_us = end_ms * 1000
        self.hooks = []  # (t_ms, state) at each sleep of the loop
        self.sleeps = []  # (t_ms, ms) of each call of hw.off_sleep
        real = d.hw.off_sleep

        def off_sleep(ms):
            self.sleeps.append((self.now_ms(), ms))
            real(ms)

        d.hw.off_sleep = off_sleep

    def now_ms(self):
        return (self.d.vc.now_us_abs() - self.t0) // 1000

    def hook(self):
        from vhw.vclock import StopSimulation

        t = self.now_ms()
        self.hooks.append((t, self.d.app.state))
        while self.events and self.events[0][0] <= t:
            _, pin, down = self.events.pop(0)
            machine.world.press(P[pin], down)
        if t * 1000 >= self.end_us:
            raise StopSimulation()

    def run(self):
        from vhw.vclock import StopSimulation

        self.d.vc.idle_hook = self.hook
        try:
            self.d.app.run()
        except StopSimulation:
            pass
        finally:
            self.d.vc.idle_hook = None


def test_soft_off_sleeps_50_ms_at_a_time_and_a_long_press_still_powers_on(root):
    d = Device(root)
    s = Script(d, [(3000, "BTN_POWER", True), (4300, "BTN_POWER", False)], 6000)
    s.run()
    off = [t for t, st in s.hooks if st == "off" and t < 3000]
    # 3 s in soft-off: about 60 wakes of 50 ms, not 600 ticks of 5 ms
    assert 50 <= len(off) <= 62, len(off)
    assert s.sleeps and {ms for _, ms in s.sleeps} == {appmod.OFF_POLL_MS}
    # the press is seen at the next poll (<= 50 ms), then debounced (30 ms) and timed at the
    # tick rate (the buttons' and the logic's slots: <= 2 x 25 ms), and powers on
    on = [t for t, st in s.hooks if st != "off"]
    late = appmod.OFF_POLL_MS + 30 + 2 * 25 + 10
    assert on and 3000 + 1000 <= on[0] <= 3000 + 1000 + late, on[0]
    assert d.app.state == "idle"
    awake = [t for t, st in s.hooks if 3100 <= t <= 4000]
    assert len(awake) >= 150  # full tick rate while POWER is held


def test_in_soft_off_output_boost_buzzer_and_display_are_off(root):
    d = Device(root)
    d.power_on()
    d.run(300)
    s = Script(d, [(0, "BTN_POWER", True), (1200, "BTN_POWER", False)], 3000)
    s.run()
    assert d.app.state == "off"
    w = machine.world
    assert w.level(P["OUT_EN"]) == 0 and w.level(P["BOOST_EN"]) == 0
    assert w.pwms[P["BUZZER"]].duty_u16() == 0
    assert not d.hw.buzzer.busy()
    assert w.level(P["LED"]) == 0
    # the power-off cue played to its end before the first sleep, POWER released
    t_off = next(t for t, st in s.hooks if st == "off")
    cue_ms = sum(on + gap for _, on, gap in ui.POWER_OFF)
    assert s.sleeps and s.sleeps[0][0] >= max(t_off + cue_ms, 1200), (t_off, s.sleeps[0])


def test_boards_say_how_soft_off_sleeps():
    from firmware.boards import esp32, pico

    assert pico.OFF_SLEEP == "lightsleep" and board.OFF_SLEEP == "lightsleep"
    assert esp32.OFF_SLEEP == "sleep"  # light sleep would drop console characters on the UART


# --- the OLED: only what changed, in slices that fit the tick (issue 12 item 4) -----------------

# Bus bytes per UI slot (every 5th tick): while output may play one transfer (a 16-column
# slice, 17 bytes: ~0.43 ms at 400 kHz, 9 bits a byte; ~0.48 ms with the RP2040's call cost),
# otherwise at most one page (7 bytes of addressing + 8 slices: 143 bytes, ~3.2 ms).
RUN_SLOT_BYTES = 1 + 16
IDLE_SLOT_BYTES = 7 + 8 * (1 + 16)
POWER_CMD_BYTES = 2  # the display's on/off command (0x80, 0xAE/0xAF) at a state change


class Shown(Device):
    """Records the bytes the OLED received in each tick, with the state and slot."""

    def __init__(self, root, **kw):
        super().__init__(root, **kw)
        self.oled = self.stage.oled
        self.per_tick = []  # (state, slot, bytes)
        self.sizes = []  # every transfer's size after boot
        real = self.oled.write

        def write(buf):
            self.sizes.append(len(buf))
            real(buf)

        self.oled.write = write

    def tick(self):
        n0 = self.oled.bytes_in
        super().tick()
        self.per_tick.append((self.app.state, self.app._slot, self.oled.bytes_in - n0))

    def rows(self):
        shown = self.app.ui._shown
        return [bytes(shown[i * 16 : i * 16 + 16]).decode().rstrip() for i in range(4)]

    def panel_matches_frame(self):
        fb = self.hw.display.buffer
        return all(self.oled.page_bytes(p) == bytes(fb[p * 128 : (p + 1) * 128]) for p in range(8))


def test_sim_board_has_an_ssd1306_at_0x3c(sim):
    vc, stage, hw = sim
    assert board.DISPLAY_ADDR == 0x3C and 0x3C in hw.i2c.scan()
    assert hw.display is not None and stage.oled is not None
    assert stage.oled.on  # the driver's init sequence switched it on, and cleared it
    assert stage.oled.page_bytes(0) == bytes(128)


def test_display_redraws_only_what_changed_in_slices_within_the_tick_budget(root):
    d = Shown(root, settings={"last_program": "short", "level": 10})
    ui_slot = appmod._SLOT_UI
    n0 = d.oled.bytes_in
    d.run(300)  # soft-off from boot: the panel is dark, nothing is drawn
    assert not d.oled.on and d.oled.bytes_in == n0
    d.power_on()
    d.run(1000)
    assert d.rows()[:2] == ["short  L10", "idle"]
    assert d.panel_matches_frame()
    d.stage.set_load(True, 20000)
    d.press("BTN_POWER", 100, 4000)  # running on skin: the time left counts down
    assert d.app.state == "running"
    assert d.rows()[0].startswith("short") and d.rows()[0].endswith("running")
    assert d.rows()[1] == "cheek left" and d.rows()[3] == "contact ok"
    # steady running: each second the time left changes by a digit or two: the page's
    # addressing and one or two slices, not the row
    n = len(d.per_tick)
    d.run(5000)
    steady = sum(b for st, sl, b in d.per_tick[n:])
    assert 0 < steady <= 6 * (7 + 2 * RUN_SLOT_BYTES), steady
    d.stage.set_load(False)
    d.run(1500)
    assert d.app.state == "paused" and d.rows()[3] == "contact --"
    d.stage.set_load(True, 20000)
    d.run(3000)
    d.stage.set_fault("short_circuit", True)
    d.run(1000)
    assert d.app.state == "fault" and d.rows()[:2] == ["FAULT", faults.SHORT]
    d.stage.set_fault("short_circuit", False)
    d.stage.set_load(False)
    d.press("BTN_POWER", 1200, 1000)
    assert d.app.state == "idle"
    assert d.panel_matches_frame()
    d.power_off()
    assert not d.oled.on
    # every tick: the UI slot carries the display's bytes, within its budget
    running = [b for st, sl, b in d.per_tick if st in ("running", "paused")]
    assert max(running) == RUN_SLOT_BYTES  # the display did work while output played
    for st, sl, b in d.per_tick:
        if sl != ui_slot:
            assert b <= POWER_CMD_BYTES, (st, sl, b)
        elif st in ("running", "paused"):
            assert b <= RUN_SLOT_BYTES, (st, b)
        else:
            assert b <= IDLE_SLOT_BYTES + POWER_CMD_BYTES, (st, b)
    # never a whole frame after boot: the largest transfer is one slice
    assert max(d.sizes) == RUN_SLOT_BYTES


def test_a_session_with_the_display_costs_no_pulse_and_no_restart(root):
    d = Shown(root, settings={"last_program": "short"})
    d.power_on()
    d.stage.set_load(True, 20000)
    d.press("BTN_POWER", 100, 100)
    for _ in range(900):
        if d.app.state == "complete":
            break
        d.run(100)
    assert d.app.state == "complete"
    assert d.app.player.deadman_trips == 0
    assert d.app.supervisor.deadman_restarts == 0
    assert d.app.last_record["completed"] and d.app.last_record["faults"] == []
    assert d.app.ui.pages.transfers > 50


def test_a_display_that_stops_answering_is_dropped_and_the_session_goes_on(root):
    d = Shown(root, settings={"last_program": "short"})
    d.power_on()
    d.stage.set_load(True, 20000)
    d.press("BTN_POWER", 100, 2000)
    assert d.app.state == "running"
    d.oled.nack = True  # the OLED stops acknowledging
    d.run(2000)
    assert d.app.ui.display is None
    assert d.app.state == "running" and not d.app.supervisor.latched


# --- deploy layouts: nothing on the filesystem shadows a frozen package (item 5) ---------------


def _fake_mpy_tree(tmp_path):
    """build/mpy as tools/build_mpy makes it: .mpy files, data copied beside the code."""
    from tools import build_mpy

    mpy = tmp_path / "mpy"
    for rel in build_mpy.device_modules():
        dest = mpy / rel.with_suffix(".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"M\x06")
    for rel in build_mpy.data_files():
        dest = mpy / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((build_mpy.ROOT / rel).read_bytes())
    return mpy


def _frozen_names():
    """Top-level names the frozen image provides: our packages and the manifest's modules."""
    from tools import deploy

    return set(deploy.DEVICE_DIRS) | {"ssd1306", "neopixel", "asyncio", "onewire", "dht"}


@pytest.mark.parametrize("frozen", [False, True], ids=["mpy", "frozen"])
def test_deploy_layout_has_no_data_folder_named_like_a_code_package(tmp_path, frozen):
    from tools import deploy

    mpy = None if frozen else _fake_mpy_tree(tmp_path)
    tree = deploy.stage(mpy, tmp_path / "device")
    top = {p.name for p in tree.iterdir()}
    dirs = {p.name for p in tree.iterdir() if p.is_dir()}
    assert {"boot.py", "main.py"} <= top
    presets = sorted(p.name for p in (tree / deploy.PRESETS_DEVICE).iterdir())
    shipped = sorted(p.name for p in (deploy.ROOT / "firmware" / "presets").glob("*.json"))
    assert presets == shipped and len(presets) == 6
    if frozen:
        # nothing named like a frozen package or module, at any level of the tree
        assert dirs == {"data"}
        names = {p.stem for p in tree.rglob("*")}
        assert not names & _frozen_names(), names & _frozen_names()
    else:
        assert dirs == set(deploy.DEVICE_DIRS) | {"data"}
        for d in deploy.DEVICE_DIRS:  # the code packages hold code only: no data beside it
            files = [p for p in (tree / d).rglob("*") if p.is_file()]
            assert files and all(p.suffix == ".mpy" for p in files), d
    # the data folder is named like no module of the firmware (no `import data` anywhere)
    assert "data" not in _frozen_names()
    for d in deploy.DEVICE_DIRS:
        assert not (deploy.ROOT / d / "data.py").exists()
        assert not (deploy.ROOT / d / "data").exists()


def test_presets_are_found_in_data_presets_on_a_board(monkeypatch):
    assert programs.PRESETS_DIR == "/data/presets"
    # a frozen module: no folder beside it
    monkeypatch.setattr(programs, "__file__", ".frozen/firmware/programs.py")
    assert programs.shipped_dir() == "/data/presets"
    # a .mpy tree as `make deploy` puts it on a board: no presets beside the code
    monkeypatch.setattr(programs, "__file__", "/firmware/programs.mpy")
    assert programs.shipped_dir() == "/data/presets"
    # the source tree (host, VM, a tree with the presets beside the code): beside the module
    monkeypatch.undo()
    assert programs.shipped_dir().endswith("firmware/presets")


def test_clean_snippet_removes_the_code_packages_and_keeps_the_data(tmp_path, monkeypatch):
    from tools import deploy

    for rel in ("firmware/app.mpy", "firmware/presets/lift.json", "drivers/dac.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    for rel in ("settings.json", "log.jsonl", "programs/mine.json", "data/presets/old.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    monkeypatch.chdir(tmp_path)
    exec(deploy.CLEAN_SNIPPET % (deploy.DEVICE_DIRS + (deploy.PRESETS_DEVICE,),), {})
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["data", "log.jsonl", "programs", "programs/mine.json", "settings.json"]


def test_selftest_snippet_prints_its_report_without_arming_the_watchdog(tmp_path, capsys):
    from tools import deploy

    make_sim_world()
    exec(deploy.SELFTEST_SNIPPET % {"path": deploy.SETTINGS, "board": "sim"}, {})
    out = capsys.readouterr().out
    assert "selftest: board sim, 6 programs" in out
    assert "selftest: PASS" in out and "SELFTEST PASS" in out
    assert machine.world.wdt is None  # nothing armed: mpremote's session is never cut short
    assert machine.world.level(P["OUT_EN"]) == 0 and machine.world.level(P["BOOST_EN"]) == 0


def test_probe_snippet_reports_the_platform_and_an_unarmed_watchdog(capsys):
    from tools import deploy

    make_sim_world()
    exec(deploy.PROBE_SNIPPET.replace("exec(open('boot.py').read(), {})", "pass"), {})
    out = capsys.readouterr().out
    assert "PLATFORM " in out and "WDT 0" in out


def test_deploy_waits_for_a_board_whose_armed_watchdog_resets_it(monkeypatch, capsys):
    import time

    from tools import deploy

    answers = [("rp2", True), deploy.NoDevice("gone"), ("rp2", False)]

    def probe_info(port):
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    monkeypatch.setattr(deploy, "probe_info", probe_info)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    assert deploy.probe("/dev/ttyACM0") == "rp2" and not answers
    assert "watchdog is armed" in capsys.readouterr().out
    # a board that never comes back: NoDevice, after the wait
    monkeypatch.setattr(deploy, "probe_info", lambda port: ("rp2", True))
    with pytest.raises(deploy.NoDevice):
        deploy.probe("/dev/ttyACM0", wait=0)
