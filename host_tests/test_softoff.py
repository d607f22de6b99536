# The device's entry (firmware/softoff.py): soft-off holds the board's drivers and nothing of
# the app until a long POWER press (issue 12: RAM after boot with the .mpy files in RAM).
import json
import os
import subprocess
import sys

import machine
import pytest

from firmware import softoff
from firmware.boards import sim as board
from vhw.install import make_sim_world

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P = board.PINS

# A fresh interpreter (nothing of the app imported by other tests): boot as main.py does, a short
# POWER press, then a long one, recording at every sleep of the loop what is imported and what
# the output stage does; stops (SystemExit) 3 s after the long press.
_BOOT = r"""
import json, sys
sys.path.insert(0, %(root)r)
from vhw import install
install.install()
vc, stage = install.make_sim_world()
import machine
from firmware.boards import sim as board
P = board.PINS
EVENTS = [(500, True), (700, False), (2000, True), (3300, False)]  # ms: a short, then a long
seen = []
def hook():
    t = vc.now_us_abs() // 1000
    while EVENTS and EVENTS[0][0] <= t:
        machine.world.press(P["BTN_POWER"], EVENTS.pop(0)[1])
    mods = sys.modules
    seen.append((t, "firmware.app" in mods, "safety.supervisor" in mods,
                 "waveforms.player" in mods, machine.world.level(P["OUT_EN"]),
                 machine.world.level(P["BOOST_EN"]), stage.dac.pd))
    if t >= 6300:
        raise SystemExit
vc.idle_hook = hook
from firmware import softoff
try:
    softoff.run(%(fs)r)
except SystemExit:
    pass
app = sys.modules["firmware.app"]
print(json.dumps({"seen": seen, "state": None}))
"""


@pytest.mark.rule("4.7")
def test_soft_off_after_boot_holds_no_app_until_a_long_power_press(tmp_path):
    code = _BOOT % {"root": ROOT, "fs": str(tmp_path)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    seen = json.loads(p.stdout.strip().splitlines()[-1])["seen"]
    before = [s for s in seen if s[0] < 3000]  # the long press is long at 2000 + 1000 ms
    after = [s for s in seen if s[0] >= 3300]
    assert before and after
    # soft-off: the short press woke nothing; no app layer imported; output, rail off, DAC asleep
    for t, app, sup, player, out_en, boost, pd in before:
        assert not app and not sup and not player, t
        assert out_en == 0 and boost == 0 and pd == 1, t
    # the long press built the app (it imported its layers) and it powered on
    assert all(s[1] and s[2] and s[3] for s in after)


def test_the_press_that_woke_the_device_is_no_short_press_for_the_app(tmp_path):
    vc, stage = make_sim_world()
    hw = board.build(machine)
    machine.world.press(P["BTN_POWER"], True)
    t_end = vc.now_us_abs() + 1_200_000

    def hook():
        if vc.now_us_abs() >= t_end:
            machine.world.press(P["BTN_POWER"], False)

    vc.idle_hook = hook
    softoff.wait_power(hw)  # returns at the long press, still held
    assert hw.buttons.power.pressed
    vc.idle_hook = None
    machine.world.press(P["BTN_POWER"], False)
    events = []
    for _ in range(40):
        vc.advance(5000)
        events.append(hw.buttons.power.poll(machine.world.clock.ticks_ms()))
    assert not any(events)  # the release after LONG is nothing, not SHORT (= start a program)


@pytest.mark.parametrize(
    "cause,marked,pending",
    [
        ("WDT_RESET", True, True),  # a running device's watchdog: the app shows the fault
        ("WDT_RESET", False, False),  # machine.reset() (mpremote, deploy): not a fault
        ("PWRON_RESET", True, False),
    ],
)
def test_watchdog_fault_pending_reads_the_marker_without_clearing_it(cause, marked, pending):
    make_sim_world(reset_cause=getattr(machine, cause))
    hw = board.build(machine)
    hw.wdt_mark(marked)
    assert softoff.watchdog_fault_pending(hw) is pending
    assert hw.wdt_mark() is marked  # still there for the supervisor to read and clear
