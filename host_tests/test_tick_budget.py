# The control tick fits the RP2040 (DESIGN 3: a tick uses at most 25 % of its period), held by a
# deterministic count: the bytecodes each slot executes in device code on the sim board, times
# the us per bytecode measured on the emulated chip (tools/tickcost.py). Adding work to a slot
# that pushes it past the budget fails here, long before a board shows it.
import pytest

from tools import tickcost


@pytest.mark.rule("3.7")
def test_every_slot_of_the_running_tick_fits_a_quarter_of_its_period():
    r = tickcost.measure(600, "relax", display=False)
    assert r["states"] == ["running"]
    budget_ops = (r["tick_us"] // 4) / tickcost.US_PER_OP
    over = {s: v["max"] for s, v in r["slots"].items() if v["max"] > budget_ops}
    assert not over, "slots over %d bytecodes: %s" % (budget_ops, over)
