# Minimal self-checking test helper for scripts that run on MicroPython (the VM in
# host_tests/test_mpvm.py, or a board: `mpremote run` with this file on the board's path).
#
#   import mptest
#   from mptest import check, test
#
#   @test
#   def dac_clamps():
#       check("clamped", dac.set_code(9999) == dac.max_code)
#
#   mptest.main()   # runs the registered tests, prints "N passed, N failed, N skipped",
#                   # exits 1 when anything failed
#
# Lines: "PASS name", "FAIL name: detail", "SKIP name: reason" (like MicroPython's own
# tests/run-tests.py, an unsupported feature is a visible SKIP, not a silent pass).
import gc
import sys

import micropython

_tests = []
passed = 0
failed = 0
skipped = 0


def check(name, cond, detail=None):
    """Record one check; returns cond so a caller can stop early."""
    global passed, failed
    if cond:
        passed += 1
        print("PASS", name)
    else:
        failed += 1
        if detail is None:
            print("FAIL", name)
        else:
            print("FAIL", name + ":", detail)
    return cond


def check_eq(name, got, want):
    return check(name, got == want, "got %r, want %r" % (got, want))


def skip(name, reason):
    global skipped
    skipped += 1
    print("SKIP", name + ":", reason)


def test(fn):
    """Decorator: register fn to be run by main()."""
    _tests.append(fn)
    return fn


def unlock_all():
    """Undo any heap_lock left by a failing test (heap_unlock returns the remaining depth)."""
    while micropython.heap_unlock():
        pass


def no_alloc(fn):
    """Call fn() with the heap locked; True when it allocated nothing.

    fn must be a zero-argument callable made before this call (a lambda or a bound method stored
    beforehand), so that the call itself allocates nothing. An allocation under heap_lock raises
    MemoryError, which is caught here; the heap is unlocked in `finally` whatever happens (a
    MemoryError escaping with the heap locked hangs the VM).
    """
    ok = True
    clk = _vclock()
    if clk is not None:
        clk.hold_devices = True  # the PIO/RMT fakes run after the call: their work is not ours
    micropython.heap_lock()
    try:
        fn()
    except MemoryError:
        ok = False
    finally:
        micropython.heap_unlock()
        if clk is not None:
            clk.hold_devices = False
    return ok


def _vclock():
    m = sys.modules.get("machine")
    w = getattr(m, "world", None)
    return getattr(w, "clock", None)


def alloc_bytes(fn, n=100):
    """Heap bytes allocated by n calls of fn() (gc disabled meanwhile), per call, rounded up."""
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(n):
            fn()
        used = gc.mem_alloc() - before
    finally:
        gc.enable()
    return (used + n - 1) // n


def main():
    global failed
    for fn in _tests:
        name = fn.__name__
        try:
            fn()
        except Exception as e:  # a test that raises is one failure, the others still run
            unlock_all()
            failed += 1
            print("FAIL", name + ": raised")
            sys.print_exception(e)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        sys.exit(1)
