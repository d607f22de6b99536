"""The output player on its hardware pulse engine (drivers/pulsepio.py on the vhw.rp2 fake).

The PIO fake executes the assembled program one instruction per state-machine cycle on the
virtual clock, so the recorded pin edges are what the RP2040 would put on POL_A/POL_B: phases
and dead times exact to the µs, with no Python code in between. The control loop is modelled by
calling heartbeat() every tick while the clock advances.
"""

from __future__ import annotations

import machine
import pytest

from drivers import clock
from firmware.boards import sim as board
from vhw import install
from waveforms import plan as P
from waveforms import player as PL

A = board.PINS["POL_A"]
B = board.PINS["POL_B"]
EN = board.PINS["OUT_EN"]
TICK_US = 2000


class Edges:
    """Pin changes of POL_A/POL_B/OUT_EN and the DAC code at each, in absolute virtual µs."""

    def __init__(self, vc, world, model):
        self.vc = vc
        self.model = model
        self.ev = []  # (t, pin, level, dac_code)
        world.listeners.append(self)

    def __call__(self, kind, ident, value):
        if kind == "pin" and ident in (A, B, EN):
            self.ev.append((self.vc.now_us_abs(), ident, value, self.model.dac.code))

    def pulses(self, pin):
        """(start, length, dac_code) of each high pulse on pin."""
        out = []
        t_on = None
        code = 0
        for t, p, v, c in self.ev:
            if p != pin:
                continue
            if v and t_on is None:
                t_on, code = t, c
            elif not v and t_on is not None:
                out.append((t_on, t - t_on, code))
                t_on = None
        return out


@pytest.fixture
def rig():
    vc, model = install.make_sim_world()
    hw = board.build(machine)
    model.set_load(True, 10000)
    player = PL.Player.for_hw(hw)
    rec = Edges(vc, machine.world, model)
    return vc, model, hw, player, rec


def run(vc, player, us, tick=TICK_US):
    end = vc.now_us_abs() + us
    while vc.now_us_abs() < end:
        vc.advance(tick)
        player.heartbeat(clock.ticks_ms())


@pytest.mark.rule("3.6")
def test_biphasic_100hz_phases_and_dead_times_exact(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 100000, 300, 500)
    p.start(pl, 300)
    run(vc, p, 200000)
    a = rec.pulses(A)
    b = rec.pulses(B)
    assert len(a) >= 19 and len(b) >= 19
    for (ta, la, _), (tb, lb, _) in zip(a, b):
        assert la == pl.phase_us and lb == pl.phase_us
        assert tb - (ta + la) == pl.dead_us  # dead time between + and -
    for (t0, _, _), (t1, _, _) in zip(a, a[1:]):
        assert t1 - t0 == pl.period_us


@pytest.mark.rule("3.6", "3.5")
def test_edges_need_no_python(rig):
    """Hardware edges: a second of virtual time with no Python call at all still plays every
    period, and no machine.Timer is armed while playing."""
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 40000, 200, 500)
    hw.pulse.deadman_ms = 2000  # the deadman would (rightly) cut a silent loop
    p.start(pl, 200)
    n0 = len(rec.pulses(A))
    vc.advance(1000000)
    assert len(rec.pulses(A)) - n0 >= 39
    assert not any(getattr(t, "armed", False) for t in vc.timers if isinstance(t, machine.Timer))


@pytest.mark.rule("3.4", "4.4")
def test_level_changes_only_at_period_boundaries(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 100000, 600, 1000)
    p.start(pl, 0)
    for lvl in range(20, 400, 20):
        p.set_amplitude(lvl)
        run(vc, p, 50000)
    a = rec.pulses(A)
    b = rec.pulses(B)
    assert p.holds > 5
    # both phases of every period carry the same DAC code, and the width never changes
    for (_ta, la, ca), (_tb, lb, cb) in zip(a, b):
        assert ca == cb
        assert la == lb == pl.phase_us
    assert a[-1][2] > 0
    pos, neg = p.charge_nc()
    assert pos == neg


@pytest.mark.rule("3.4")
def test_charge_counted_from_what_was_played(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 73000, 250, 500)
    p.start(pl, 250)
    run(vc, p, 333333)
    p.stop()  # mid-period: the cut period counts what its phases played
    played = sum(la * ca for _, la, ca in rec.pulses(A)) * 1100 // 4095
    played_b = sum(lb * cb for _, lb, cb in rec.pulses(B)) * 1100 // 4095
    pos, neg = p.charge_nc()
    assert abs(pos - played // 1000) <= 2
    assert abs(neg - played_b // 1000) <= 2


@pytest.mark.rule("3.4", "4.9")
def test_finish_ends_after_a_whole_period(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 50000, 200, 500)
    p.start(pl, 200)
    run(vc, p, 30000)
    p.finish()
    run(vc, p, 60000)
    assert not p.playing and p.error == PL.ERR_NONE
    assert len(rec.pulses(A)) == len(rec.pulses(B))
    pos, neg = p.charge_nc()
    assert pos == neg > 0
    assert machine.world.level(EN) == 0


@pytest.mark.rule("4.5", "4.9")
def test_silent_loop_loses_output_in_hardware(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 100000, 300, 500)
    p.start(pl, 300)
    run(vc, p, 20000)
    t_stall = vc.now_us_abs()
    vc.advance(50000)  # the loop stalls: no heartbeat
    off = [t for t, pin, v, _ in rec.ev if pin == EN and v == 0 and t >= t_stall]
    assert off and off[0] - t_stall <= 10000  # DESIGN 4.5: never more than 10 ms
    p.heartbeat(clock.ticks_ms())
    assert not p.playing and p.error == PL.ERR_DEADMAN


@pytest.mark.rule("3.4", "3.2")
def test_monophasic_flips_at_boundaries_and_balances(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.MONOPHASIC, 2000, 200, 500, alt_ms=2000)
    p.start(pl, 200)
    run(vc, p, 20000000, tick=5000)
    a = rec.pulses(A)
    b = rec.pulses(B)
    assert abs(len(a) - len(b)) <= pl.alt_periods
    for _, la, _ in a + b:
        assert la == pl.phase_us
    pos, neg = p.charge_nc()
    assert abs(pos - neg) * 20 <= pos + neg


@pytest.mark.rule("4.6")
def test_stop_from_any_state_leaves_everything_low(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 100000, 300, 500)
    for at in (0, 1000, 4990, 5010, 9990):
        p.start(pl, 300)
        vc.advance(at)
        p.stop()
        w = machine.world
        assert w.level(A) == 0 and w.level(B) == 0 and w.level(EN) == 0
        assert hw.stage.driven_ua() == 0 and not p.playing
        vc.advance(20000)
        assert w.level(A) == 0 and w.level(B) == 0


def test_plan_out_of_engine_range_is_refused(rig):
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, 300, 300, 500, phase_us=100)  # a 3.3 s rest: fits 22 bits
    p.start(pl, 0)
    p.stop()
    bad = P.make(P.BIPHASIC, 100000, 300, 500)
    bad.dur[0] = 2  # too short for the state machine
    with pytest.raises(ValueError):
        p.start(bad, 0)
    assert machine.world.level(EN) == 0


@pytest.mark.rule("3.6")
def test_esp32_board_plays_through_rmt():
    """The ESP32 board's player on its RMT engine (vhw.esp32 fake): the same plan, the same
    phase widths and dead times on its POL_A/POL_B pins; flips and level changes work."""
    from firmware.boards import esp32 as eboard

    vc, model = install.make_sim_world()
    hw = eboard.build(machine)
    p = PL.Player.for_hw(hw)
    ea, eb = eboard.PINS["POL_A"], eboard.PINS["POL_B"]
    edges = []
    machine.world.listeners.append(
        lambda kind, ident, v: (
            kind == "pin" and ident in (ea, eb) and edges.append((vc.now_us_abs(), ident, v))
        )
    )
    pl = P.make(P.BIPHASIC, 40000, 300, 500)
    p.start(pl, 100)
    run(vc, p, 100000)
    p.set_amplitude(200)
    run(vc, p, 200000)
    highs = {}
    cut = 0
    for t, pin, v in edges:
        if v:
            highs[pin] = t
        elif pin in highs:
            w = t - highs.pop(pin)
            assert w <= pl.phase_us
            cut += w != pl.phase_us
    # the RMT cannot pause at a boundary: a level change restarts the period (exact_holds)
    assert p.holds >= 1 and p.playing and cut <= p.holds
    # a level change cuts one period (repaid by starting on the other leg, at the new level):
    # within 5 % over this short run, where the PIO is exact
    pos, neg = p.charge_nc()
    assert pos > 0 and abs(pos - neg) * 20 < pos + neg
    p.stop()
    assert machine.world.level(ea) == 0 and machine.world.level(eb) == 0


def test_no_board_imports_the_other_chips_module():
    """The ESP32 path (RMT engine, player) never imports rp2 or the PIO driver, and the PIO
    driver never imports esp32: each board loads only its own chip's module."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent

    def imports(rel):
        tree = ast.parse((root / rel).read_text())
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                out.add(node.module)
        return out

    for rel in ("drivers/pulsermt.py", "waveforms/player.py", "drivers/pulsecfg.py"):
        assert not {"rp2", "drivers.pulsepio"} & imports(rel), rel
    for rel in ("drivers/pulsepio.py", "waveforms/player.py", "drivers/pulsecfg.py"):
        assert not {"esp32", "drivers.pulsermt"} & imports(rel), rel


@pytest.mark.rule("3.4")
@pytest.mark.parametrize("freq_mhz,phase_us", [(300, 1500000), (100000, 4975)])
def test_charge_read_mid_run_matches_the_pins_across_levels_and_settles(rig, freq_mhz, phase_us):
    # phases are counted per leg and turned into charge lazily (on a level change, every
    # _qmax phases, on a read): whatever the moment of the read, it equals what was played
    vc, model, hw, p, rec = rig
    pl = P.make(P.BIPHASIC, freq_mhz, 300, 500, phase_us=phase_us)
    p.start(pl, 100)
    per = pl.period_us
    for i, lvl in enumerate((100, 180, 180, 250, 120)):
        p.set_amplitude(lvl)
        run(vc, p, per * (7 if per > 100000 else 40) + 1234 * i)
        pos, neg = p.charge_nc()
        played = sum(la * ca for _, la, ca in rec.pulses(A)) * 1100 // 4095 // 1000
        played_b = sum(lb * cb for _, lb, cb in rec.pulses(B)) * 1100 // 4095 // 1000
        # never more than was played; less by at most the periods since the last poll
        # (POLL_MS) and the one under way
        lag = (PL.POLL_MS * 1000 // per + 2) * phase_us * 1100 // 1000
        assert played - lag <= pos <= played + 2
        assert played_b - lag <= neg <= played_b + 2
    if per > 100000:  # long phases: the count was settled on reaching _qmax, more than once
        assert p.periods_played > 2 * p._qmax > 0
