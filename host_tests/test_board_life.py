# Living on a real board (issue 12), on the sim board: the watchdog is armed when the device
# leaves soft-off and a reset counts as a watchdog fault only when a running device had it
# armed (DESIGN 4.7); the boost rail is up only around output; soft-off sleeps; the OLED is
# redrawn in slices that fit the tick; the frozen-package layout of a deployed board.
import os

import machine
import pytest

from firmware import app as appmod
from firmware import programs
from firmware.boards import hw as hwmod
from firmware.boards import sim as board
from safety import faults
from vhw import scratch
from vhw.install import make_sim_world
from vhw.vclock import WatchdogReset

P = board.PINS
MARK = board.WDT_SCRATCH


class Device:
    """One boot of the sim board running the app: its loop paced at the app's tick period
    (each tick takes the virtual time the sim board charges, then sleeps to the deadline)."""

    def __init__(self, root, reset_cause=None):
        self.vc, self.stage = make_sim_world(reset_cause=reset_cause)
        self.hw = board.build(machine)
        custom = os.path.join(root, "programs")
        os.makedirs(custom, exist_ok=True)
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
