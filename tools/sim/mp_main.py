# The simulator's entry on the MicroPython VM (tools/mpvm/runner.py runs this file; the .py
# files beside it land in /script, so `core` imports from there). The host passes the
# normalised scenario as /extra/scenario.json and the program id as argv[1]; the trace goes to
# /out, which the runner copies back to the host's --out folder.
import json
import sys
import time

import core


def main():
    with open("/extra/scenario.json") as f:
        scn = json.loads(f.read())
    program = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    t0 = time.ticks_ms()
    core.run(scn, "/out", "/out/device_fs", program=program)
    print(
        "sim: ran in %d ms on %s" % (time.ticks_diff(time.ticks_ms(), t0), sys.implementation.name)
    )


main()
