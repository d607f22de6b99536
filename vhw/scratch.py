# The RP2040's watchdog scratch registers for the virtual board, as `machine.mem32`
# (vhw.install attaches it to the fake machine module). On the chip, WATCHDOG_SCRATCH0..7 keep
# their values through a watchdog reboot (a timeout or machine.reset()) and a soft reset, and
# read 0 after a power-on or a RUN-pin reset. Here the registers live outside `machine.world`,
# so they survive `world.reset()` with reset_cause WDT_RESET or SOFT_RESET; any other cause (a
# power-on, the default) clears them. Any other address reads 0 and ignores writes (the
# firmware touches no other register on the sim board). Runs on CPython and on MicroPython.

WATCHDOG_BASE = 0x40058000
SCRATCH0 = WATCHDOG_BASE + 0x0C
SCRATCH7 = WATCHDOG_BASE + 0x28


class Mem32:
    def __init__(self):
        self.regs = {}

    @staticmethod
    def _scratch(addr):
        return SCRATCH0 <= addr <= SCRATCH7 and (addr - SCRATCH0) % 4 == 0

    def __getitem__(self, addr):
        if not self._scratch(addr):
            return 0
        return self.regs.get(addr, 0)

    def __setitem__(self, addr, value):
        if self._scratch(addr):
            self.regs[addr] = value & 0xFFFFFFFF

    def power_on(self):
        """A power cycle: every scratch register back to 0."""
        self.regs.clear()


mem32 = Mem32()


def attach(machine):
    """machine.mem32 on the fake machine module, and world.reset() that clears the registers
    unless the reset cause keeps them (WDT_RESET, SOFT_RESET). Idempotent."""
    machine.mem32 = mem32
    w = machine.world
    if getattr(w, "_scratch_reset", None) is not None:
        return
    orig = w.reset
    keep = (machine.WDT_RESET, machine.SOFT_RESET)

    def reset(clock=None, reset_cause=machine.PWRON_RESET):
        if reset_cause not in keep:
            mem32.power_on()
        orig(clock, reset_cause)

    w._scratch_reset = orig
    w.reset = reset
