# A fixed scenario for the supervisor on the sim board, run the same way on CPython
# (host_tests/test_safety_mp.py) and on the MicroPython VM (mp_test_safety.py): both must make
# the decisions in EXPECTED (contact, impedance, allowed, latched, fault, every 100 ms).
# Device-style code: runs on MicroPython 1.29.

# (t_ms, what, value)
EVENTS = (
    (0, "load", 20000),
    (0, "request", 400),
    (1500, "load", 0),
    (1700, "load", 60000),
    (2600, "request", 100),
    (2900, "load", 150000),
    (3300, "fault", "i2c_error"),
    (3500, "heal", "i2c_error"),
    (3600, "clear", None),
    (3700, "load", 20000),
    (4400, "fault", "dac_stuck_high"),
)
END_MS = 4600
EVERY_MS = 100


def build():
    import machine

    from firmware.boards import sim as board
    from safety.supervisor import Supervisor
    from vhw import install
    from waveforms import plan as _plan
    from waveforms.player import Player

    vc, model = install.make_sim_world()
    if model.oled is not None:
        model.oled.nack = True  # no OLED on this board: the table is the supervisor's alone
    hw = board.build(machine)
    # the supervisor's decisions, on a rail that needs no settle time (the app brings the
    # rail up when a session starts; the boost's settle wait is tested in test_board_life)
    hw.stage.boost_settle_us = 0
    player = Player.for_hw(hw)
    sup = Supervisor(hw, player)
    sup.set_step("pro", "cheek", "disk", 1000)
    plan = _plan.make(_plan.BIPHASIC, 100000, 1000, 1000)
    return vc, model, hw, player, sup, plan


class Loop:
    """The app's part of a control tick, allocation-free once built."""

    def __init__(self, vc, model, hw, player, sup, plan):
        from drivers import clock

        self.clock = clock
        self.vc = vc
        self.model = model
        self.player = player
        self.sup = sup
        self.plan = plan
        self.request = 0

    def tick(self):
        now = self.clock.ticks_ms()
        player = self.player
        sup = self.sup
        player.heartbeat(now)
        allowed = sup.tick(now, self.request)
        if sup.contact and not sup.latched and self.request > 0:
            if not player.playing:
                player.start(self.plan, 0)
            player.set_amplitude(allowed)
        return allowed


def run():
    """Play EVENTS; returns the list of rows (t_ms, contact, impedance or -1, allowed,
    latched, fault or '')."""
    vc, model, hw, player, sup, plan = build()
    loop = Loop(vc, model, hw, player, sup, plan)
    rows = []
    ev = 0
    t = 0
    while t <= END_MS:
        while ev < len(EVENTS) and EVENTS[ev][0] <= t:
            _, what, v = EVENTS[ev]
            if what == "load":
                model.set_load(v > 0, v)
            elif what == "request":
                loop.request = v
            elif what == "fault":
                model.set_fault(v, True)
            elif what == "heal":
                model.set_fault(v, False)
            elif what == "clear":
                sup.clear()
            ev += 1
        loop.tick()
        if t % EVERY_MS == 0:
            z = sup.impedance_ohm
            rows.append(
                (
                    t,
                    1 if sup.contact else 0,
                    -1 if z is None else z,
                    sup.allowed_ua,
                    1 if sup.latched else 0,
                    sup.fault or "",
                )
            )
        vc.sleep_us(2000)
        t += 2
    return rows


# From a CPython run; host_tests/test_safety_mp.py checks CPython still makes these decisions.
EXPECTED = (
    (0, 0, 20000, 0, 0, ""),
    (100, 1, 21055, 14, 0, ""),
    (200, 1, 21055, 24, 0, ""),
    (300, 1, 20678, 34, 0, ""),
    (400, 1, 20500, 45, 0, ""),
    (500, 1, 20387, 55, 0, ""),
    (600, 1, 20338, 65, 0, ""),
    (700, 1, 19985, 76, 0, ""),
    (800, 1, 19987, 86, 0, ""),
    (900, 1, 20211, 96, 0, ""),
    (1000, 1, 20000, 107, 0, ""),
    (1100, 1, 20171, 117, 0, ""),
    (1200, 1, 19991, 127, 0, ""),
    (1300, 1, 19992, 138, 0, ""),
    (1400, 1, 20133, 148, 0, ""),
    (1500, 0, -1, 0, 0, ""),
    (1600, 0, -1, 0, 0, ""),
    (1700, 0, -1, 0, 0, ""),
    (1800, 1, 63277, 13, 0, ""),
    (1900, 1, 60000, 24, 0, ""),
    (2000, 1, 59965, 34, 0, ""),
    (2100, 1, 61552, 44, 0, ""),
    (2200, 1, 59959, 54, 0, ""),
    (2300, 1, 59983, 65, 0, ""),
    (2400, 1, 60000, 75, 0, ""),
    (2500, 1, 60759, 85, 0, ""),
    (2600, 1, 60655, 96, 0, ""),
    (2700, 1, 60602, 100, 0, ""),
    (2800, 1, 60602, 100, 0, ""),
    (2900, 1, 60602, 100, 0, ""),
    (3000, 1, 151510, 100, 0, ""),
    (3100, 1, 151520, 100, 0, ""),
    (3200, 1, 151520, 100, 0, ""),
    (3300, 1, 151520, 100, 0, ""),
    (3400, 0, -1, 0, 1, "DAC"),
    (3500, 0, -1, 0, 1, "DAC"),
    (3600, 0, 149947, 0, 0, ""),
    (3700, 1, 158277, 14, 0, ""),
    (3800, 1, 21111, 24, 0, ""),
    (3900, 1, 20678, 34, 0, ""),
    (4000, 1, 20500, 45, 0, ""),
    (4100, 1, 20387, 55, 0, ""),
    (4200, 1, 20322, 65, 0, ""),
    (4300, 1, 20289, 76, 0, ""),
    (4400, 1, 20019, 86, 0, ""),
    (4500, 0, -1, 0, 1, "OVERCURRENT"),
    (4600, 0, -1, 0, 1, "OVERCURRENT"),
)
