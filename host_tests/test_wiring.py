# The README's wiring tables must say what the board files say.
import os
import re

from tools import wiring

ROOT = wiring.ROOT


def test_readme_wiring_matches_board_files():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    a = text.index(wiring.BEGIN)
    b = text.index(wiring.END) + len(wiring.END)
    assert text[a:b] == wiring.tables(), "run: python -m tools.wiring --update README.md"


def test_pin_numbers_live_only_in_board_files():
    # A pin number outside firmware/boards/ would be a second source of truth for the wiring.
    pat = re.compile(r"\bPin\(\s*\d")
    for top in ("drivers", "safety", "waveforms", "firmware"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            if os.path.join("firmware", "boards") in dirpath:
                continue
            for fn in files:
                if fn.endswith(".py"):
                    with open(os.path.join(dirpath, fn)) as f:
                        assert not pat.search(f.read()), os.path.join(dirpath, fn)


def test_board_pins_unique_per_board():
    for name, _, _ in wiring.BOARDS:
        pins = wiring.board_pins(name)
        assert len(set(pins.values())) == len(pins), name
