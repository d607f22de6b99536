# Board selection: a settings file may name the board; otherwise sys.platform decides.
#
# A board file holds pin numbers and DAC ceilings for one MCU and one wiring: the esp32 file on
# an RP2040 would drive the wrong pins. On a board (sys.platform "rp2" or "esp32") only that
# MCU's board is usable; on the host (tests, tools, the simulator: every other platform) every
# board is, built on the fake machine. load() never fails for a name: a name that is not
# usable here is ignored, the platform's board is used and `problems` says why (the app shows
# and logs it). Settings refuses such a name too (storage.Settings: "bad board").
BOARDS = ("pico", "esp32", "sim")
MCU_PLATFORMS = {"rp2": "pico", "esp32": "esp32"}
# Every DAC a board file can build (its DAC_KIND; the first is its default). Each one's driver
# clamp is checked against the board's ceiling code (host_tests/test_boundaries.py).
DAC_KINDS = {"pico": ("mcp4725", "pwm"), "esp32": ("builtin", "mcp4725"), "sim": ("mcp4725",)}

problems = []  # type: list[str]  # why the last load() ignored the name it was given


def name_for_platform(platform):
    return MCU_PLATFORMS.get(platform, "sim")


def _platform():
    import sys

    return sys.platform


def usable(name, platform=None):
    """True when `name` is a board this platform can be: its own MCU's board on a board,
    any known board on the host."""
    if name not in BOARDS:
        return False
    if platform is None:
        platform = _platform()
    own = name_for_platform(platform)
    return own == "sim" or name == own


def module(name):
    """The board module by name, on any platform (tools and tests build every board on the fake
    machine). Raises ValueError for a name that is not a board."""
    import sys

    if name not in BOARDS:
        raise ValueError("board: unknown %r" % (name,))
    full = "firmware.boards." + name
    __import__(full)
    return sys.modules[full]


def load(name=None):
    """The board module for this device: `name` (from the settings file) when it is usable here
    (see usable()), else the board of sys.platform, with the reason in `problems`. Never raises
    for a name."""
    del problems[:]
    platform = _platform()
    if name is not None and not usable(name, platform):
        if isinstance(name, str) and name in BOARDS:
            why = "is another MCU's board"
        else:
            why = "is not a board (%s)" % ", ".join(BOARDS)
        shown = repr(name[:24]) if isinstance(name, str) else "a " + type(name).__name__
        problems.append(
            "board: %s %s, %s used (%s)" % (shown, why, name_for_platform(platform), platform)
        )
        name = None
    if name is None:
        name = name_for_platform(platform)
    return module(name)
