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
_MAX_BATCH = const(64)  # periods accounted per step (keeps products below 2**30)

# run states
_RUN = const(0)
_HOLD = const(1)  # a hold cfg was handed over: a level change at the next boundary
_FINISH = const(2)  # a hold cfg for finish(): stop at the next boundary


class Player:
    def __init__(self, stage, engine):
        self.stage = stage
        self.engine = engine
        self._exact = getattr(engine, "exact_holds", True)  # False: holds cut the period
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

    def _reset_counters(self):
        self.periods_played = 0
        self.flips = 0
        self.deadman_trips = 0
        self.segments_played = 0
        # charge per polarity: uC + nC (< 1000) + uA.us (< 1000): no int grows past 2**30
        self.pos_uc = 0
        self.pos_nc = 0
        self._pos_c = 0
        self._pos_r = 0
        self.neg_uc = 0
        self.neg_nc = 0
        self._neg_c = 0
        self._neg_r = 0

    # -- control-loop API --
    @property
    def level_ua(self):
        """The level on the output now: the DAC level while a leg is driven, else 0."""
        if not self.playing:
            return 0
        legs = self.engine.legs()
        if legs == 1 or legs == 2:
            return self._lvl
        return 0

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

    def set_amplitude(self, ua):
        """The pulse level from now on (0..plan.amp_ua); applied at a period boundary."""
        ua = int(ua)
        if ua < 0:
            ua = 0
        pl = self.plan
        if pl.ok and ua > pl.amp_ua:
            ua = pl.amp_ua
        self._amp = ua

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

    def charge_nc(self):
        """(positive, negative) delivered charge in nC (off the hot path)."""
        return (self.pos_uc * 1000 + self.pos_nc, self.neg_uc * 1000 + self.neg_nc)

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
            self._t0 = clock.ticks_us()
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
        alt = plan.alt_periods
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
        into = clock.ticks_diff(now, self._t0)
        ttb = self._per - into
        if ttb <= GUARD_US:
            return
        if self._state == _FINISH:
            self._hold(now, ttb)
            return
        if self._mono and self._alt_left <= 1 and self.plan.alt_periods:
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
        self._t0 = t

    def _account(self, now, cut):
        """Charge for the periods completed since _t0 (and, with cut, the part of the current
        one played); _t0 moves to the start of the current period."""
        per = self._per
        e = clock.ticks_diff(now, self._t0)
        if e < 0:
            return
        if self._paused:
            return  # nothing plays in the pause
        n = e // per
        while n > 0:
            k = n if n < _MAX_BATCH else _MAX_BATCH
            if self._in:
                if k > self._in:
                    k = self._in
                self._in -= k
                if self._in == 0:
                    self._land(k)
                    self._t0 = clock.ticks_add(self._t0, k * per)
                    if self._paused:
                        return
                    n -= k
                    e -= k * per
                    continue
            self._periods(k)
            self._t0 = clock.ticks_add(self._t0, k * per)
            n -= k
            e -= k * per
        if self._paused:
            return
        if cut and e > 0:
            # the cut period: what its phases played before the stop
            ph = self._ph
            a = e if e < ph else ph
            self._side(self._v == 2, a)
            if not self._mono:
                b = e - ph - self._dead
                if b > ph:
                    b = ph
                if b > 0:
                    self._side(self._v == 1, b)
                if a > b:
                    self._owe = self._v  # the next start begins on the other leg: repaid

    def _land(self, k):
        # k periods, the last of which ends where the handed-over cfg takes effect
        self._periods(k)
        if self._flip:
            self._flip = False
            self._v = 3 - self._v
            self._alt_left = self.plan.alt_periods
            self.flips += 1
        if self._in_hold:
            self._paused = True  # the engine waits at this boundary: _at_hold() follows

    def _periods(self, k):
        self.periods_played += k
        self.segments_played += k * (2 if self._mono else 4)
        ph = self._ph
        for _ in range(k):
            self._side(self._v == 2, ph)
            if not self._mono:
                self._side(self._v == 1, ph)
        if self._mono and self.plan.alt_periods:
            self._alt_left -= k

    def _side(self, neg, d):
        # The level the DAC code really sets (10 nA units, <= 110000) times d us: counted in
        # uC + 0.01 nC (< 100000) + 0.01 pC (< 1000), every product below 2**30.
        lc = self._lvl_c
        if lc <= 0 or d <= 0:
            return
        q = lc * (d // 1000)
        r = lc * (d % 1000)
        if neg:
            r += self._neg_r
            c = self._neg_c + q + r // 1000
            self._neg_r = r % 1000
            self.neg_uc += c // 100000
            c %= 100000
            self._neg_c = c
            self.neg_nc = c // 100
        else:
            r += self._pos_r
            c = self._pos_c + q + r // 1000
            self._pos_r = r % 1000
            self.pos_uc += c // 100000
            c %= 100000
            self._pos_c = c
            self.pos_nc = c // 100
