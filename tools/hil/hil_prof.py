# `make hil HIL_ARGS=--profile`: time named methods of the running app on the chip. Each target
# (a dotted path from the App, e.g. "supervisor.tick") is replaced on its instance by a wrapper
# that adds its duration on the chip's clock; hil_main prints the sums once a second as
#   hil prof <name>=<mean us without the longest>/<max us>/<calls> ...
# (inclusive: a callee's time is in its caller)
# The wrappers allocate and cost time themselves ("calib", a wrapped no-op, is that cost):
# read the figures as where a tick goes, not as its exact duration. Not deployed to a device.
from drivers import clock

TARGETS = (
    "supervisor.tick",
    "supervisor._check_sample",
    "supervisor.sense.read",
    "supervisor.hk.run",
    "player.heartbeat",
    "player._poll",
    "player._account",
    "player.level_key",
    "player.set_amplitude",
    "player.settle",
    "_logic",
    "menu.session_logic",
    "session.logic",
    "session.dose.account",
    "session.envelope.level_ua",
    "ui.update",
    "buttons.power.poll",
)

_acc = {}


def _noop():
    return None


class _Calib:
    def f(self):
        return None


_done = {}  # path -> the object wrapped (a new session object is wrapped again)
_app = [None]
_missing = []


def _wrap(obj, attr, name):
    f = getattr(obj, attr)
    rec = _acc.get(name)
    if rec is None:
        rec = [0, 0, 0]  # sum, max, calls
        _acc[name] = rec

    def w(*a, **k):
        t = clock.ticks_us()
        try:
            return f(*a, **k)
        finally:
            d = clock.ticks_diff(clock.ticks_us(), t)
            rec[0] += d
            rec[2] += 1
            if d > rec[1]:
                rec[1] = d

    setattr(obj, attr, w)


def _attach():
    del _missing[:]
    for path in _targets:
        parts = path.split(".")
        obj = _app[0]
        try:
            for p in parts[:-1]:
                obj = getattr(obj, p)
            getattr(obj, parts[-1])
        except AttributeError:
            obj = None
        if obj is None:
            _missing.append(path)
            continue
        if _done.get(path) is obj:
            continue
        _done[path] = obj
        _wrap(obj, parts[-1], path)


_targets = TARGETS


def install(app, targets=TARGETS):
    """Wrap the targets that exist now; the others (the menu, a session) at each report."""
    global _targets
    _targets = targets
    _app[0] = app
    _attach()
    c = _Calib()
    _wrap(c, "f", "calib")
    for _ in range(50):
        c.f()


def report():
    out = []
    for name in sorted(_acc):
        rec = _acc[name]
        if rec[2]:
            # the mean without the longest call (a GC or a flash write in it)
            n = rec[2]
            avg = (rec[0] - rec[1]) // (n - 1) if n > 1 else rec[0]
            out.append("%s=%d/%d/%d" % (name, avg, rec[1], n))
        if name != "calib":
            rec[0] = rec[1] = rec[2] = 0
    print("hil prof " + " ".join(out))
    _attach()
