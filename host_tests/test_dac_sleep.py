# The DAC sleeps whenever no output is to come (soft-off, idle, fault): the MCP4725's
# power-down mode (1 kOhm to ground, ~0.06 uA instead of 0.2-0.4 mA), woken by the next write.
import pytest

from drivers.mcp4725 import MCP4725
from host_tests.test_board_life import Device, root  # noqa: F401 (fixture)


class Bus:
    def __init__(self):
        self.writes = []

    def writeto(self, addr, buf, stop=True):
        self.writes.append((addr, bytes(buf)))
        return len(buf)


def test_mcp4725_sleep_is_the_power_down_command_and_a_write_wakes_it():
    bus = Bus()
    d = MCP4725(bus, 0x60, max_code=3722)
    d.set_code(1000)
    d.sleep()
    assert bus.writes[-1] == (0x60, bytes([0x10, 0x00]))  # PD1 PD0 = 01: 1 kOhm to ground
    assert d.code == 0
    d.set_code(200)
    assert bus.writes[-1] == (0x60, bytes([0x00, 200]))  # fast write, PD = 00: awake


def test_mcp4725_sleep_on_a_dead_bus_is_a_driver_error():
    class Dead(Bus):
        def writeto(self, addr, buf, stop=True):
            raise OSError(19)

    d = MCP4725(Dead(), 0x60)
    with pytest.raises(OSError):
        d.sleep()
    assert d.error


@pytest.mark.rule("4.6")
def test_dac_powered_down_in_off_idle_and_fault_awake_while_running(root):  # noqa: F811
    d = Device(root)
    dac = d.stage.dac  # the chip model on the sim board's bus
    d.run(300)
    assert d.app.state == "off" and dac.pd == 1
    d.power_on()
    d.run(500)
    assert d.app.state == "idle" and dac.pd == 1
    d.stage.set_load(True, 20000)
    d.press("BTN_POWER", 100, 3000)
    assert d.app.state == "running"
    assert dac.pd == 0 and dac.code > 0  # woken by the level it plays
    d.stage.set_fault("short_circuit", True)
    d.run(200)
    assert d.app.state == "fault" and dac.pd == 1
    assert not d.hw.out_en.is_on()
