# heap_lock on the real MicroPython VM: the mechanism every no-allocation test relies on, then a
# driver hot path (MCP4725.set_code on the fake I2C bus) that must allocate nothing.
import sys

import micropython
import mptest
from mptest import check, check_eq, no_alloc, skip, test

try:
    import machine
except ImportError:  # vhw.install.install_mp() not there yet: use the fake directly
    import vhw.machine as machine

    sys.modules["machine"] = machine


@test
def mechanism_catches_allocation():
    check("list creation raises MemoryError under heap_lock", not no_alloc(lambda: [1, 2, 3]))
    x = 3

    def flt():
        return x * 1.5  # a float is a heap object on this port

    check("float arithmetic allocates", not no_alloc(flt))
    big = 1 << 29

    def bigint():
        return big * 2  # 2**30: beyond the small-int range, a heap object

    check("int >= 2**30 allocates", not no_alloc(bigint))
    check("dict creation allocates", not no_alloc(lambda: {"a": x}))
    check("str formatting allocates", not no_alloc(lambda: "%d" % x))


@test
def mechanism_passes_non_allocating():
    buf = bytearray(4)
    small = 1 << 28

    def ints():
        buf[0] = 7
        buf[1] = (small * 3) >> 28  # stays below 2**30
        return buf[0] + buf[1]

    check("small-int arithmetic on a preallocated buffer", no_alloc(ints))
    check("empty call", no_alloc(lambda: None))


@test
def mechanism_unlocks():
    no_alloc(lambda: [0])
    # heap usable again after a caught MemoryError: this allocates
    lst = [1, 2, 3]
    check("heap unlocked after a caught MemoryError", len(lst) == 3)
    micropython.heap_lock()
    depth = micropython.heap_unlock()
    check_eq("lock depth back to zero", depth, 0)


@test
def mcp4725_set_code_no_alloc():
    try:
        from drivers.mcp4725 import MCP4725
    except ImportError as e:
        skip("mcp4725_set_code_no_alloc", "drivers.mcp4725 missing (%s)" % e)
        return
    i2c = machine.I2C(0)
    dev = machine.I2CDevice(0, 0x60)
    dac = MCP4725(i2c, 0x60, max_code=3722)
    dac.set_code(1)  # warm up: first calls may intern or cache
    set_mid = lambda: dac.set_code(2048)  # noqa: E731 (made before the lock)
    set_over = lambda: dac.set_code(5000)  # noqa: E731
    zero = dac.zero
    writes = dev.writes
    check("MCP4725.set_code allocates nothing", no_alloc(set_mid))
    check_eq("code written", dac.code, 2048)
    check("MCP4725.set_code above the ceiling allocates nothing", no_alloc(set_over))
    check_eq("clamped to max_code", dac.code, 3722)
    check("MCP4725.zero allocates nothing", no_alloc(zero))
    check_eq("zero", dac.code, 0)
    check_eq("three bus writes", dev.writes - writes, 3)
    dev.nack = True
    try:
        dac.set_code(10)
        check("NACK raises OSError", False)
    except OSError:
        check("NACK raises OSError and sets error", dac.error)


mptest.main()
