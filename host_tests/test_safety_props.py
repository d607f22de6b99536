# Properties of the supervisor on the virtual board (hypothesis state machine): random contact
# on/off with random impedances, random requests and step caps, random hardware faults and
# clears, app exceptions, clock jumps (stalls) and runs across the tick wrap. Checked at every
# output change (machine.world listener) and after every step:
#   - the firmware's command never exceeds the applicable cap; the load current neither, unless
#     a hardware fault drives it, and then the output is off within 10 ms: also when faults
#     mask each other (a dead current sense with a DAC stuck high into a low load reads no
#     current: the unexplained electrode voltage is no contact, so the output stops in that
#     tick and only contact probes run until SENSE_MISMATCH latches);
#   - zero output (at most the contact probe: <= 20 uA, <= 2 ms) whenever the contact decision
#     is false, truly zero (OUT_EN low) whenever a fault is latched, during a long press too;
#   - the allowed level rises at <= 100 uA/s (from zero it may start at MIN_MEASURABLE_UA);
#     the command follows it;
#   - a latched fault stays latched until clear() succeeds, clear() succeeds only once the
#     cause is gone (and always when it is, unless only a power cycle may clear that code),
#     and nothing latches without a cause.
# CI runs >= 500 examples (the issue); `make soak` more (HYPOTHESIS_PROFILE=soak).
import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from safety import clearing, faults, limits
from safety import contact as c
from tools.bench_safety import Rig
from waveforms import plan as _plan
from waveforms import player as _player

_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
EXAMPLES = max(500, settings.default.max_examples) if _PROFILE == "ci" else None
OVER_MS = 10  # a hardware fault driving more than the cap: output off within this
HW_FAULTS = [
    "dac_stuck_high",
    "sense_open",
    "sense_stuck_high",
    "short_circuit",
    "i2c_error",
    "battery_low",
]
FLOOR_NA = limits.MIN_MEASURABLE_UA * 1000
SHORT_AMBIGUOUS = 650  # below: the load may read as a short (< 500 Ohm) within tolerance

impedances = st.one_of(
    st.sampled_from([200, 499, 500, 999, 1000, 1200, 20000, 180000, 200000, 250000]),
    st.integers(300, 400000),
)


class SupervisorMachine(RuleBasedStateMachine):
    @initialize(
        before_wrap_ms=st.integers(0, 8000),
        shape=st.sampled_from([_plan.BIPHASIC, _plan.MONOPHASIC]),
        freq_mhz=st.sampled_from([1000, 10000, 100000, 333333, 1000000]),
        warm=st.booleans(),
    )
    def boot(self, before_wrap_ms, shape, freq_mhz, warm):
        self.rig = Rig(
            start_us=((1 << 30) - before_wrap_ms) * 1000, shape=shape, freq_mhz=freq_mhz
        )
        self.rig.on_event = self.check_event
        self.rig.running = True
        self.sup = self.rig.sup
        self.model = self.rig.model
        self.latched_seen = False
        self.cause_seen = False  # a fault cause since the last clear (or boot)
        self.over_since = None
        self.open_since = None  # OUT_EN high while the contact decision is false
        if warm:  # start from a running program with contact (2 s of soft start)
            self.rig.set_step("pro", "cheek", "disk", 1000)
            self.model.set_load(True, 20000)
            self.rig.request = 1000
            self.rig.run_ms(2000)

    # -- checks ------------------------------------------------------------------------------
    def _cause_now(self):
        """Something that may latch a fault: a hardware fault, or a load that is a short within
        the measurement tolerance (a 20 uA probe into 500 Ohm is 10 mV: +-10 %)."""
        m = self.model
        if any(m.faults[f] for f in HW_FAULTS):
            return True
        return m.contact and m.impedance_ohm < SHORT_AMBIGUOUS

    def _detectable(self):
        """A cause the clear() check must see. It looks with OUT_EN low only (a fault means
        truly zero): the DAC's bus, the sense at rest (pegged or reading a current), the
        battery. What only a current through a load could show (a stuck source, a dead sense,
        a short) is the business of the power-cycle-only codes and of the next contact probe."""
        f = self.model.faults
        stuck = f["sense_stuck_high"] and not f["sense_open"]  # an open sense reads 0 first
        return f["i2c_error"] or f["battery_low"] or stuck

    def check_event(self, ev):
        t, drive, meas, en, contact, latched, allowed, playing = ev
        sup = self.sup
        stage = self.rig.hw.stage
        cap = sup.cap_ua if sup.cap_ua > c.PROBE_UA else c.PROBE_UA
        # the firmware's command: never above the cap (nor the DAC clamp's ceiling)
        assert stage.driven_ua() <= cap, (stage.driven_ua(), cap)
        assert drive <= 1100  # hardware: 1.1 x ceiling at DAC full scale
        if self._cause_now():
            self.cause_seen = True
        # load current above the cap: only from a hardware fault, and not for long
        if meas > cap:
            assert self.model.faults["dac_stuck_high"], (meas, cap)
            if self.over_since is None:
                self.over_since = t
            assert t - self.over_since <= OVER_MS * 1000, "over-current not stopped in time"
        else:
            self.over_since = None
        if latched:
            assert en == 0, "output on with a latched fault (also during a long press)"
        if en and not contact:
            # contact probe only: small and short
            if not self.model.faults["dac_stuck_high"]:
                assert drive <= c.PROBE_UA, drive
            if self.open_since is None:
                self.open_since = t
            assert t - self.open_since <= 2000, "probe pulse longer than 2 ms"
        else:
            self.open_since = None

    @invariant()
    def holds(self):
        if not hasattr(self, "rig"):
            return
        sup = self.sup
        rig = self.rig
        if self.latched_seen:
            assert sup.latched, "a latched fault went away without clear()"
        if sup.latched:
            self.latched_seen = True
            assert rig.out_en() == 0 and rig.hw.stage.driven_ua() == 0
            assert not rig.player.playing
            assert self.cause_seen, "latched %s without a cause" % sup.fault
        if not sup.contact:
            assert rig.hw.stage.driven_ua() <= c.PROBE_UA
            assert not rig.player.playing
        # slew: allowed (nA) rises by at most 100 nA per ms between ticks; from zero it may
        # start at the measurable floor (nothing blind is driven in contact)
        log = rig.allowed_log
        for i in range(max(1, len(log) - 300), len(log)):
            (t0, _a0, na0), (t1, _a1, na1) = log[i - 1], log[i]
            rise_ok = na1 - na0 <= (t1 - t0) * 100 // 1000 + 1
            assert rise_ok or (na0 == 0 and na1 <= FLOOR_NA), (na0, na1, t1 - t0)
        # the command follows the allowed level: the player takes it at a period start (so
        # every biphasic period balances) after its next poll (every POLL_MS when the loop
        # gives no slot, as here), so the level is at most the highest allowed level of the
        # last poll interval and period (DESIGN 4.4: decreases MAY be immediate; the cap, the
        # slew and contact loss are checked above, each at once)
        tl = log[-1][0] if log else 0
        if rig.player.playing and len(log) >= 2 and not self.model.faults["dac_stuck_high"]:
            span = rig.player.plan.period_us + (_player.POLL_MS + 5) * 1000 + 4000
            recent = max(a for t, a, _n in log if tl - t <= span)
            assert rig.hw.stage.driven_ua() <= recent + 1
        while len(log) > 2 and tl - log[0][0] > 3_400_000:  # keep the longest period (0.3 Hz)
            del log[0]

    # -- the world ---------------------------------------------------------------------------
    @rule(z=impedances)
    def touch(self, z):
        self.model.set_load(True, z)
        if z < SHORT_AMBIGUOUS:
            self.cause_seen = True

    @rule()
    def lift(self):
        self.model.set_load(False)

    @rule(ua=st.one_of(st.integers(-50, 1200), st.sampled_from([0, 5000, 10**6])))
    def request(self, ua):
        self.rig.request = ua

    @rule(
        mode=st.sampled_from(["home", "pro"]),
        area=st.sampled_from(["cheek", "eye_contour", "forehead", "neck"]),
        probe=st.sampled_from(["disk", "globe", "qtip"]),
        client=st.integers(0, 1200),
    )
    def step(self, mode, area, probe, client):
        if self.sup.latched:
            return
        self.rig.set_step(mode, area, probe, client)

    @rule(name=st.sampled_from(HW_FAULTS))
    def fault(self, name):
        self.model.set_fault(name, True)
        self.cause_seen = True

    @rule(name=st.sampled_from(HW_FAULTS))
    def heal(self, name):
        self.model.set_fault(name, False)

    @rule()
    def app_exception(self):
        self.sup.trip(faults.SOFTWARE)
        self.cause_seen = True

    @rule(ms=st.one_of(st.integers(1, 300), st.integers(300, 3000)))
    def run(self, ms):
        self.rig.run_ms(ms)

    @rule(ms=st.integers(3, 200))
    def stall(self, ms):
        # the loop is late (GC, flash write): no tick for ms, then one
        self.rig.stall_ms(ms)
        self.rig.tick()
        self.rig.vc.sleep_us(2000)

    @precondition(lambda self: hasattr(self, "rig") and self.sup.latched)
    @rule()
    def long_press(self):
        m = self.model
        code = self.sup.fault
        power_cycle = clearing.needs_power_cycle(self.sup)
        ok = self.sup.clear()
        if ok:
            assert not power_cycle
            assert not self._detectable(), (m.faults, m.contact, m.impedance_ohm)
            assert not self.sup.latched and self.rig.out_en() == 0
            self.latched_seen = False
            self.cause_seen = self._cause_now()
        else:
            assert self.sup.latched and self.sup.fault == code
            if not self._cause_now() and not power_cycle:
                raise AssertionError("clear refused with no cause left (%s)" % code)


SupervisorMachine.TestCase.settings = settings(
    parent=settings.default,
    max_examples=EXAMPLES if EXAMPLES is not None else settings.default.max_examples,
    stateful_step_count=25,
)
test_supervisor_state_machine = pytest.mark.safety(SupervisorMachine.TestCase)
