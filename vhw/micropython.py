# A fake `micropython` module for CPython. On the MicroPython VM the real one is used.
# heap_lock is only counted here: CPython cannot prove "no allocation"; the VM tests do.

_lock_depth = 0
_scheduled = []
SCHEDULE_DEPTH = 8


def const(x):
    return x


def native(f):
    return f


def viper(f):
    return f


def asm_thumb(f):
    return f


def heap_lock():
    global _lock_depth
    _lock_depth += 1
    return _lock_depth - 1


def heap_unlock():
    global _lock_depth
    if _lock_depth:
        _lock_depth -= 1
    return _lock_depth


def heap_locked():
    return _lock_depth


def schedule(func, arg):
    """Queue func(arg) like the device: a bounded queue that raises when full."""
    if len(_scheduled) >= SCHEDULE_DEPTH:
        raise RuntimeError("schedule queue full")
    _scheduled.append((func, arg))


def run_scheduled():
    """Run what schedule() queued (the device does this between bytecodes)."""
    while _scheduled:
        func, arg = _scheduled.pop(0)
        func(arg)


def alloc_emergency_exception_buf(size):
    pass


def mem_info(verbose=False):
    print("mem: fake (CPython)")


def qstr_info(verbose=False):
    pass


def stack_use():
    return 0


def opt_level(level=None):
    return 0 if level is None else None


def kbd_intr(ch):
    pass
