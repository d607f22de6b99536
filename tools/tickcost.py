"""The control tick's cost in bytecodes, per slot, on the sim board (the cost model's tick part).

    python -m tools.tickcost [--ticks 400] [--json build/tickcost.json]

The app runs a client session on the sim board (power on, probes on skin, a program started,
its ramp done) and then, for `--ticks` ticks, every CPython bytecode executed in device code
(boot, firmware/, safety/, waveforms/, drivers/) is counted, per slot of the tick. The fakes
(vhw/) are not counted: on a board they are the port's C code. A tick of N bytecodes costs
about N x US_PER_OP on the RP2040 (MicroPython 1.28 at 125 MHz), a figure measured by running
the same session on the emulated chip (`make hil`, per-slot tick times) and dividing by these
counts: see US_PER_OP below. Deterministic (no wall time), so a test can hold the tick to the
budget (DESIGN 3: 25 % of the period) and fail when someone adds work to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE_DIRS = tuple(
    os.path.join(ROOT, d) + os.sep for d in ("firmware", "safety", "waveforms", "drivers")
)

# us on the emulated RP2040 per CPython bytecode counted here, for the build a board gets (the
# tick's `# @native` functions as machine code): `make hil --program relax`, steady running,
# per-slot tick times (MicroPython 1.28, RPI_PICO, 125 MHz, no flash wait states) divided by
# this tool's counts for the same slots: buttons 748/826, logic 1170/1287, player poll
# 791/893, bus + battery 715/741 -> 0.89-0.97. Measured 2026-12-01 (the bytecode-only build:
# 1.1-1.4). Re-measure when the tick changes shape (README, hardware-in-the-loop).
US_PER_OP = 0.92


class Counter:
    """sys.settrace counting opcodes executed in device code, into the bucket `slot`."""

    def __init__(self, n_slots=8):
        self.ops = [0] * n_slots
        self.slot = 0

    def _local(self, frame, event, arg):
        if event == "opcode":
            self.ops[self.slot] += 1
        return self._local

    def _global(self, frame, event, arg):
        if frame.f_code.co_filename.startswith(DEVICE_DIRS):
            frame.f_trace_opcodes = True
            return self._local
        return None  # the fakes, the stdlib, the tools: native on a board

    def __enter__(self):
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)


def running_app(program="relax"):
    """The sim board with the app playing `program` on skin (the bench's client)."""
    from vhw import install

    install.install()
    from tools.sim.mp_bench import drive_to_running

    root = tempfile.mkdtemp(prefix="tickcost-")
    with open(os.path.join(root, "settings.json"), "w") as f:
        json.dump({"last_program": program}, f)
    return drive_to_running(root)


def measure(ticks=400, program="relax", display=True):
    """{'slots': {slot: {'mean': ops, 'max': ops}}, 'ticks': n, 'state': ...} for `ticks`
    ticks of the running app, each slot's opcodes (the safety path included). display=False:
    the board without its OLED (the UI slot then drives the buzzer and LED only)."""
    app, vc = running_app(program)
    from firmware import app as appmod

    if not display:
        app.ui.display = app.ui.pages = None

    n_slots = getattr(appmod, "SLOTS", 5)
    per = [[] for _ in range(n_slots)]
    c = Counter(n_slots)
    states = set()
    for _ in range(ticks):
        slot = (app._slot + 1) % n_slots  # the slot this tick runs (App.tick advances it)
        c.slot = slot
        before = c.ops[slot]
        with c:
            app.tick()
        per[slot].append(c.ops[slot] - before)
        states.add(app.state)
        vc.sleep_us(appmod.TICK_US)
    slots = {}
    for s, v in enumerate(per):
        if v:
            slots[s] = {"mean": round(sum(v) / len(v), 1), "max": max(v)}
    worst = max(x["max"] for x in slots.values())
    return {
        "ticks": ticks,
        "program": program,
        "states": sorted(states),
        "tick_us": appmod.TICK_US,
        "slots": slots,
        "max_ops": worst,
        "us_per_op": US_PER_OP,
        "display": display,
        "tick_us_rp2040_opcount_est": round(worst * US_PER_OP),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=400)
    ap.add_argument("--program", default="relax")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    r = measure(a.ticks, a.program)
    budget = r["tick_us"] // 4
    for s, v in sorted(r["slots"].items()):
        est = v["max"] * US_PER_OP
        print(
            "slot %d: %7.1f ops mean, %5d max -> ~%5d us on the RP2040 (budget %d)"
            % (s, v["mean"], v["max"], est, budget)
        )
    print("states seen: %s" % ", ".join(r["states"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
