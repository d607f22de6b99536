# A rig for driving the player's timer callback by hand, as an interrupt would, on the sim
# board: the tests and the bench call the callback themselves (under heap_lock on the VM) and
# move the virtual clock to each deadline. Runs on CPython and on MicroPython.
import machine

from vhw import install

NEAR_WRAP_US = ((1 << 30) - 5) * 1000  # both tick counters a few ms before they wrap


class OneShot:
    """The player's timer: records the wait and the callback; never fires by itself."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self):
        self.period = 0
        self.callback = None
        self.armed = False

    def init(self, mode=0, period=0, tick_hz=1000, callback=None, hard=False):
        self.period = period
        self.callback = callback
        self.armed = True

    def deinit(self):
        self.armed = False


class Rig:
    """A sim board (drivers.clock on its virtual clock), a Player on its output stage with a
    OneShot timer, and fire(n): n timer interrupts, each at its deadline, with the control
    loop's heartbeat. `dac` is the MCP4725 model (its `writes` count bus writes)."""

    def __init__(self, start_us=0):
        from firmware.boards import sim as board
        from waveforms.player import Player

        self.clock, self.model = install.make_sim_world(start_us)
        self.hw = board.build(machine)
        self.stage = self.hw.stage
        self.dac = self.model.dac
        self.tim = OneShot()
        tim = self.tim
        self.player = Player(self.stage, kind="timer", timer_factory=lambda: tim)

    def fire(self, n):
        clk = self.clock
        tim = self.tim
        p = self.player
        i = 0
        while i < n:
            clk.advance(tim.period)
            p.heartbeat(clk.ticks_ms())
            tim.callback(tim)
            i += 1
