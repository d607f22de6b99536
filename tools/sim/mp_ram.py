# RAM in use after boot on the MicroPython VM (DESIGN 7 ram_after_boot_bytes), run by
# tools/bench.py through the runner with --post-mem: this script builds what it is told to and
# keeps it reachable in vhw._keep; the runner then collects in a later VM call (a collect inside
# the same call frees nothing on this port) and prints MPVM_MEM_ALLOC.
#   argv[1] == "base": the virtual board only (vhw fakes, clock, stage model)
#   argv[1] == "boot": that plus what main.py holds in soft-off after boot (firmware/softoff.py:
#                      the settings read, the board's drivers built, the output quiet)
#   argv[1] == "app":  that plus the sim board's drivers and the constructed App
import sys

import machine

import vhw
from vhw import install


def main(what):
    root = "/ram_fs"
    try:
        import os

        os.mkdir(root)
    except OSError:
        pass
    keep = list(install.make_sim_world())
    if what == "boot":
        from firmware import boards, softoff
        from firmware.settings import Settings

        hw = boards.load(Settings(root).get("board")).build(machine)
        softoff.quiet(hw)
        keep.append(hw)
    if what == "app":
        from firmware.app import App
        from firmware.boards import sim as board

        hw = board.build(machine)
        keep.append(App(hw, root=root))
    vhw._keep = keep


main(sys.argv[1] if len(sys.argv) > 1 else "app")
