# Board selection: a settings file may name the board; otherwise sys.platform decides.
BOARDS = ("pico", "esp32", "sim")


def name_for_platform(platform):
    if platform == "rp2":
        return "pico"
    if platform == "esp32":
        return "esp32"
    return "sim"


def load(name=None):
    """The board module: `name` (from the settings file) if given, else by sys.platform."""
    import sys

    if name is None:
        name = name_for_platform(sys.platform)
    if name not in BOARDS:
        raise ValueError("board: unknown %r" % (name,))
    full = "firmware.boards." + name
    __import__(full)
    return sys.modules[full]
