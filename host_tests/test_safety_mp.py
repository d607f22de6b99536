# CPython half of the fixed-table check: the scenario in mp_tests/safety_scenario.py makes the
# decisions in its EXPECTED table. mp_tests/mp_test_safety.py checks the MicroPython VM makes
# the same ones (and that the tick allocates nothing there). When a deliberate change to the
# supervisor changes the table, regenerate EXPECTED from run() (CPython) and review the diff.
from host_tests.mp_tests import safety_scenario


def test_cpython_makes_the_table_decisions():
    rows = safety_scenario.run()
    assert len(rows) == len(safety_scenario.EXPECTED)
    for got, want in zip(rows, safety_scenario.EXPECTED):
        assert tuple(got) == tuple(want)
