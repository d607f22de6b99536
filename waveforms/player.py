# The output player: plays a Plan through a hardware pulse engine (rp2: drivers.pulsepio, PIO
# state machines; esp32: drivers.pulsermt, the RMT peripheral). Python describes one period
# and sets the level; the hardware makes every edge, so no Python code runs per edge and a GC
# pause or a late tick cannot stretch a phase.
#
# What runs in Python, once per control tick (heartbeat -> poll), allocation-free:
#   - the hardware deadman is fed (a silent loop loses OUT_EN within DEADMAN_MS, in hardware);
#   - periods played are counted from time since the last period start the engine confirmed
#     (the PIO keeps exact time: 1 us per instruction), charge per side from the exact
#     durations, and a stop cut mid-period adds what the cut period played;
#   - a level change is made at a period boundary: a "hold" cfg makes the engine stop there
#     with both legs low and report; the DAC is written in that pause and the engine released,
#     so every period is played at one level and a biphasic period balances;
#   - monophasic polarity flips every plan.alt_periods periods, at a boundary;
#   - progress: the last word handed to the engine must be taken within a period (and a
#     margin), else the engine stopped advancing: the output goes off (ERR_STALL).
# Where the level is: level_ua reads the legs (the pins), so a sense sample can be judged
# against what was driven at that instant.
from array import array

from micropython import const

from drivers import clock
from waveforms import plan as _p
from waveforms.tally import Tally, batch_for

ERR_NONE = const(0)
ERR_DEADMAN = const(1)  # the loop went silent: the hardware deadman dropped OUT_EN
ERR_EXCEPTION = const(2)  # the engine raised (a bus or driver error while playing)
ERR_PLAN = const(3)  # the plan cannot be played by the engine
ERR_STALL = const(4)  # the engine stopped taking words: it is not advancing

GUARD_US = const(50)  # no cfg is handed over this close to a period boundary (ambiguous)
POLL_MS = const(20)  # a full poll this often when the loop does not say (25 ms at 200 Hz)
HOLD_LEAD_US = const(27000)  # ask for a hold only when the boundary comes before the next poll
HOLD_EVERY_MS = const(40)  # level increases: at most one boundary pause per 40 ms
STALL_SLACK_US = const(20000)
_QUIET_MAX = const(0x1FFFFFFF)

# run states
_RUN = const(0)
_HOLD = const(1)  # a hold cfg was handed over: a level change at the next boundary
_FINISH = const(2)  # a hold cfg for finish(): stop at the next boundary


class Player(Tally):
    def __init__(self, stage, engine):
        self.stage = stage
        self.engine = engine
        self._exact = getattr(engine, "exact_holds", True)  # False: holds cut the period
        self._lag = getattr(engine, "lag_us", 0)  # words handed over -> the period starts
        self._pa = engine.pin_a
        self._pb = engine.pin_b
        self._oe = engine.out_en
        self.plan = _p.Plan()
        self.playing = False
        self.mode = None  # 'pio' while playing
        self.error = ERR_NONE
        self._c = (array("I", [0]), array("I", [0]))  # cfg for v=1, v=2
        self._pc = 0  # phase count P'
        self._ph = 0
        self._dead = 0
        self._per = 0
        self._qmax = 1  # phases settled in one product (tally)
        self._alt = 0  # plan.alt_periods (0: no alternation)
        self._mono = False
        self._owe = 0  # the leg a cut biphasic period left a surplus on (0: none)
        self._v = 1
        self._amp = 0
        self._lvl = 0
        self._lvl_c = 0
        self._state = _RUN
        self._in = 0  # periods until the handed-over cfg takes effect (0: none pending)
        self._in_hold = False  # the word in flight is a HOLD (the engine pauses where it lands)
        self._flip = False  # the pending cfg flips the polarity
        self._alt_left = 0
        self._t0 = clock.ticks_us()  # start of the current period (us)
        self._ka_t = clock.ticks_us()  # when the last word was handed over
        self._ka_wait = 0  # us allowed for it to be taken
        self._hold_t = clock.ticks_ms()
        self._paused = False
        self._poll_ms = clock.ticks_ms()
        self.holds = 0
        self.max_hold_us = 0
        self.hold_us_total = 0
        self._reset_counters()

    @classmethod
    def for_hw(cls, hw):
        return cls(hw.stage, hw.pulse)

    # -- control-loop API --
    def driven_ua(self):
        """The level on the output now: the DAC level while a leg is driven, else 0."""
        if not self.playing:
            return 0
        legs = self.engine.legs()
        if legs == 1 or legs == 2:
            return self._lvl
        return 0

    # @native  (machine code on a board: tools/build_mpy.py)
    def level_key(self):
        """What drives the output now, as one int: level << 2 | legs (1 POL_A, 2 POL_B), 0 when
        nothing drives (stopped, OUT_EN low, both legs low). Two equal keys around a sense read
        mean the same phase was on the pins throughout (a new phase has the other leg, or the
        legs went low in between)."""
        if not self.playing:
            return 0
        # the pins read directly (no method hops: this runs twice every tick)
        legs = self._pa() | (self._pb() << 1)
        if (legs != 1 and legs != 2) or not self._oe():
            return 0
        return (self._lvl << 2) | legs

    # @native  (machine code on a board: tools/build_mpy.py)
    def set_amplitude(self, ua):
        """The pulse level from now on (0..plan.amp_ua); applied at a period boundary."""
        ua = int(ua)
        if ua < 0:
            ua = 0
        pl = self.plan
        if pl.ok and ua > pl.amp_ua:
            ua = pl.amp_ua
        self._amp = ua

    # @native  (machine code on a board: tools/build_mpy.py)
    def heartbeat(self, now_ms, poll=None):
        """Each control tick: feed the hardware deadman; account and hand over what is due
        when poll is True (the app's slot for it), or None and POLL_MS have passed, and at
        every tick while a boundary pause is expected."""
        if not self.playing:
            return
        try:
            eng = self.engine
            if not self._oe():
                self._halt(ERR_DEADMAN)  # the hardware deadman dropped OUT_EN: the loop was late
                return
            eng.feed()
            if poll is None:
                poll = clock.ticks_diff(now_ms, self._poll_ms) >= POLL_MS
            if poll or self._state != _RUN:
                self._poll_ms = now_ms
                self._poll()
        except Exception:  # noqa: BLE001 (the output goes off, whatever broke)
            self._halt(ERR_EXCEPTION)

    def quiet_us(self):
        """us the loop may be away without the deadman cutting the output."""
        if not self.playing:
            return _QUIET_MAX
        return (self.engine.deadman_ms - 2) * 1000

    def period_left_us(self):
        """us until the current period ends (where finish() stops), 0 when stopped."""
        if not self.playing:
            return 0
        d = self._per - clock.ticks_diff(clock.ticks_us(), self._t0)
        return d if d > 0 else 0

    def finish(self):
        """Stop at the end of the current period (both phases played); `playing` goes False
        then."""
        if self.playing and self._state != _FINISH:
            # a hold already handed over ends the run at its boundary; a flip or keep-alive
            # still lands (and is accounted) before the hold is handed over
            self._state = _FINISH

    def start(self, plan, amp_ua=0):
        """Play plan from its first period at amp_ua (soft start is the caller's: start at 0,
        raise with set_amplitude). Raises ValueError on a plan the engine cannot play; any
        error leaves the output off."""
        if plan is None or not plan.ok:
            raise ValueError("plan: not built")
        self.stop()
        self.plan = plan
        self._reset_counters()
        self.error = ERR_NONE
        self._amp = 0
        self.set_amplitude(amp_ua)
        try:
            self._load(plan)
            st = self.stage
            st.set_ua(self._amp)  # DAC first, legs low
            self._lvl = self._amp
            self._lvl_c = st.dac_cua()
            st.enable()
            self.engine.start(self._pc, self._c[self._v - 1])
            self._t0 = clock.ticks_add(clock.ticks_us(), self._lag)
            self.engine.arm()
            self.playing = True
            self.mode = "pio"
        except BaseException:
            self.stop()
            raise

    def stop(self):
        """Output off now (OUT_EN low, legs low, DAC zero), accounting the cut period. From
        any state, never raises."""
        if self.playing:
            try:
                self._account(clock.ticks_us(), True)
            except Exception:  # noqa: BLE001
                pass
        self.playing = False
        self.engine.stop()
        try:
            self.stage.off()
        except Exception:  # noqa: BLE001
            pass
        self._lvl = 0
        self.mode = None
        self._state = _RUN
        self._in = 0
        self._paused = False

    # -- set-up (allocates: not in a tick unless the output is being restarted) --
    def _load(self, plan):
        from drivers.pulsecfg import cfg_word

        pol0 = plan.pol[0]
        v = 1 if pol0 == _p.POS else 2
        was_mono = self._mono and self._alt_left > 0
        ph = plan.dur[0]
        if plan.n == 4:
            dead = plan.dur[1]
            rest = plan.dur[3]
            self._mono = False
        else:
            dead = 0
            rest = plan.dur[1]
            self._mono = True
        try:
            for k in (1, 2):
                self._c[k - 1][0] = cfg_word(k, ph, dead, rest)
        except ValueError as e:
            self.error = ERR_PLAN
            raise ValueError("plan: " + str(e)) from None
        self._pc = ph - 3
        self._ph = ph
        self._dead = dead
        self._per = plan.period_us
        self._qmax = batch_for(ph)
        alt = plan.alt_periods
        self._alt = alt
        if self._mono:
            if was_mono:
                # the alternation goes on across restarts and steps: a lift-off or a short
                # step never restarts it on the same polarity (DESIGN 3: < 5 % net per 20 s)
                v = self._v
                left = self._alt_left
                alt = left if left < alt else alt
        elif self._owe:
            v = 3 - self._owe  # a cut period's surplus on one leg is repaid first
        self._owe = 0
        self._v = v
        self._state = _RUN
        self._in = 0
        self._flip = False
        self._paused = False
        self._alt_left = alt
        self._ka_wait = 0
        self._hold_t = clock.ticks_ms()

    # -- the tick path: allocates nothing --
    def _halt(self, code):
        self.error = code
        if code == ERR_DEADMAN:
            self.deadman_trips += 1
        self.stop()

    # @native  (machine code on a board: tools/build_mpy.py)
    def _poll(self):
        eng = self.engine
        now = clock.ticks_us()
        if eng.acks():
            eng.take_ack()
            self._at_hold(now)
            return
        self._account(now, False)
        if self._paused:
            # stopped at the boundary: the report is on its way, or the engine is not advancing
            if clock.ticks_diff(now, self._ka_t) > self._ka_wait:
                self._halt(ERR_STALL)
            return
        tx = eng.tx_level()
        if tx:
            if self._ka_wait and clock.ticks_diff(now, self._ka_t) > self._ka_wait:
                self._halt(ERR_STALL)
            return
        self._ka_wait = 0
        if self._in:
            return  # a hold was handed over and taken: the pause is coming
        ttb = self._per - clock.ticks_diff(now, self._t0)
        if ttb <= GUARD_US:
            # a word handed over now could land at this boundary or the next: let it pass
            # first (polls phase-locked to the train would otherwise never hand one over)
            if ttb > 0:
                clock.sleep_us(ttb + 2)
            now = clock.ticks_us()
            self._account(now, False)
            ttb = self._per - clock.ticks_diff(now, self._t0)
        if self._state == _FINISH:
            self._hold(now, ttb)
            return
        if self._mono and self._alt_left <= 1 and self._alt:
            self._flip = True
            self._hand(self._c[2 - self._v], now, ttb)
            return
        want = self._amp
        if want != self._lvl and (
            want < self._lvl or clock.ticks_diff(clock.ticks_ms(), self._hold_t) >= HOLD_EVERY_MS
        ):
            if ttb <= HOLD_LEAD_US:
                self._state = _HOLD
                self._hold(now, ttb)
            return  # no keep-alive: it would hold the FIFO when the hold is due
        if ttb <= HOLD_LEAD_US:
            # keep-alive, handed just before the boundary (so that it never sits in the FIFO
            # ahead of a finish or a hold): its being taken proves the engine advances
            self._hand(self._c[self._v - 1], now, ttb)

    def _hold(self, now, ttb):
        self.engine.put_int(0)  # HOLD: stop at the next boundary and report
        self._in = 1
        self._in_hold = True
        self._ka_t = now
        self._ka_wait = ttb + self._per + STALL_SLACK_US

    def _hand(self, buf, now, ttb):
        self.engine.push(buf)
        self._in = 1
        self._in_hold = False
        self._ka_t = now
        self._ka_wait = ttb + self._per + STALL_SLACK_US

    def _at_hold(self, now):
        # the engine stopped at a boundary (legs low) and waits for P' and a cfg
        if self._exact:
            self._account(now, False)
            if self._in > 0 and not self._paused:
                self._land(self._in)  # reported a few us before the boundary we computed
        else:
            self._account(now, True)  # the engine stopped mid-period: count what it played
            if self._owe and not self._mono:
                self._v = 3 - self._owe  # and the next period starts on the other leg
            self._owe = 0
        self._in = 0
        self.holds += 1
        if self._state == _FINISH:
            self._paused = True  # nothing played since the boundary: stop() adds nothing
            self.stop()  # the period was whole: error stays ERR_NONE
            return
        self._paused = False
        self.settle()  # the phases played at the old level, before it changes
        st = self.stage
        lvl = self._amp
        st.set_ua(lvl)
        self._lvl = lvl
        self._lvl_c = st.dac_cua()
        self._hold_t = clock.ticks_ms()
        self._state = _RUN
        self._in = 0
        eng = self.engine
        eng.put_int(self._pc)
        eng.push(self._c[self._v - 1])
        t = clock.ticks_us()
        d = clock.ticks_diff(t, now)
        self.hold_us_total += d
        if d > self.max_hold_us:
            self.max_hold_us = d
        self._t0 = clock.ticks_add(t, self._lag)
