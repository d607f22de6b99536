# The output player: plays a Plan into the output stage (DAC + H-bridge + OUT_EN).
#
# Strategy 'timer' (every board; the sim board's only one): a one-shot machine.Timer per
# segment. Its callback (_edge) applies the next segment from the preallocated table and
# re-arms the timer for that segment's duration. Deadlines are absolute (self._due advances by
# the planned durations, the delay is measured from "now"), so callback latency never
# accumulates: the long-run frequency is the plan's, exactly (the 10**9 % freq_mhz remainder is
# added one µs at a time, Bresenham-style). Segments longer than CHUNK_US are played as several
# timer waits so that the deadman, stop requests and amplitude cuts are seen within 2 ms.
#   Timer API: init(mode=ONE_SHOT, period=d, tick_hz=1_000_000, callback=cb) gives µs periods on
#   rp2 and esp32 (`period` alone is in ms; `freq` in whole Hz cannot express most segment
#   lengths exactly). Ports without tick_hz: use a board timer_factory wrapping freq=.
#   rp2 timers are virtual (soft) timers: a callback can be delayed by a GC pass; the lateness
#   is measured (last_stretch_us / max_stretch_us) and does not accumulate. On ESP32 pass
#   timer_hard=True (hard IRQ). Either way the callback allocates nothing.
#
# Strategy 'pwm' (rp2, square waves from 8 Hz up, whole-Hz frequencies): the complementary A/B
# channels of the PWM slice driving POL_A/POL_B make the edges in hardware.
#   monophasic: one channel, edge-aligned, duty = phase / period; the flip swaps the channels
#     (rp2 latches both compare values at the same counter wrap, so the old pulse ends and the
#     new channel starts at the next period: the off time is the dead time).
#   biphasic: needs the slice in phase-correct mode (MicroPython's PWM has no switch for it: the
#     board passes pwm_phase_correct, a callable that sets the PH_CORRECT bit with machine.mem32);
#     A is high around the counter's bottom, B (inverted) around its top: two equal pulses of
#     phase_us centred half a period apart, both gaps (period - 2*phase)/2 >= dead_us.
#   A periodic 2 ms timer does the deadman, the flips and amplitude changes (which therefore
#   land anywhere in a pulse: PWM has no wrap interrupt in MicroPython). Plans the PWM cannot
#   play exactly (below 8 Hz, fractional Hz, biphasic without phase-correct) use the timer path.
#
# Break-before-make: the plan puts an OPEN segment (dead time) between opposite polarities; the
# bridge driver itself never drives both legs high. DAC before bridge: a segment that closes the
# bridge writes the DAC first (only when the level changed); OPEN segments open the bridge and
# leave the DAC alone (the open bridge is the switch; fewer bus writes in the callback).
# Plans: build the next step's plan into a second Plan and start() it; rebuilding the plan that
# is playing stops the output (build() clears plan.ok first; the callback checks it: ERR_PLAN).
# Amplitude: increases take effect at the start of the next period (so both phases of a biphasic
# period carry the same level and the period stays balanced), decreases at the next callback
# (<= 2 ms), stop() at once.
from micropython import const

from drivers import clock, hbridge
from waveforms import plan as _p

DEADMAN_MS = const(20)  # no heartbeat for this long: the callback turns the output off
CHUNK_US = const(2000)  # longest wait between two callbacks
PWM_MIN_MHZ = const(8000)  # rp2 PWM goes down to ~7.5 Hz at 125 MHz
_TICK_HZ = const(1000000)
_QUIET_MAX = const(0x1FFFFFFF)

# error codes in Player.error (ints: set from the callback without allocating)
ERR_NONE = const(0)
ERR_DEADMAN = const(1)
ERR_EXCEPTION = const(2)
ERR_PLAN = const(3)  # the plan was rebuilt while playing (build() clears plan.ok first)

_NEG_POL = const(2)  # waveforms.plan.NEG
_OPEN_POL = const(0)  # waveforms.plan.OPEN


def _machine_timer():
    import machine

    return machine.Timer(-1)


class Player:
    def __init__(
        self,
        stage,
        kind="timer",
        timer_factory=None,
        pwm_factory=None,
        pol_pins=None,
        pwm_phase_correct=None,
        timer_hard=False,
    ):
        if kind != "timer" and kind != "pwm":
            raise ValueError("kind: 'timer' or 'pwm'")
        if kind == "pwm" and (pwm_factory is None or pol_pins is None):
            raise ValueError("kind: 'pwm' needs pwm_factory and pol_pins")
        self.stage = stage
        self.kind = kind
        self._tim = (timer_factory or _machine_timer)()
        self._one_shot = getattr(self._tim, "ONE_SHOT", 0)
        self._periodic = getattr(self._tim, "PERIODIC", 1)
        self._hard = bool(timer_hard)
        self._pwm_factory = pwm_factory
        self._pins = pol_pins
        self._ph_correct = pwm_phase_correct
        self._pwm_a = None
        self._pwm_b = None
        self._duty = 0
        # bound methods made once: the callbacks pass these, never a new bound method
        self._cb = self._edge
        self._pcb = self._pwm_tick
        self.plan = _p.Plan()  # an unbuilt plan (ok False) until start()
        self.mode = None  # 'timer' or 'pwm' while playing
        self.playing = False
        self.deadman_ms = DEADMAN_MS
        self.error = ERR_NONE
        self._reset_counters()
        self._amp = 0
        self._lvl = 0
        self._dac_ua = 0
        self._i = 0
        self._left = 0
        self._due = clock.ticks_us()  # deadline of the next callback
        self._hb = clock.ticks_ms()  # last heartbeat
        self._sign = 1
        self._alt_left = 0
        self._alt_due = clock.ticks_us()
        self._acc = 0
        self._finishing = False

    @classmethod
    def for_hw(cls, hw):
        """The board's player: kind, timer and PWM from the Hardware object."""
        m = hw.machine
        return cls(
            hw.stage,
            kind=hw.player_kind,
            timer_factory=getattr(hw, "make_timer", None) or (lambda: m.Timer(-1)),
            pwm_factory=m.PWM,
            pol_pins=hw.pol_pins,
            pwm_phase_correct=getattr(hw, "pwm_phase_correct", None),
            timer_hard=getattr(hw, "timer_hard", False),
        )

    def _reset_counters(self):
        self.segments_played = 0
        self.periods_played = 0
        self.callbacks = 0
        self.last_stretch_us = 0  # lateness of the last callback vs its deadline
        self.max_stretch_us = 0
        self.deadman_trips = 0
        self.flips = 0
        # delivered charge per polarity: µC + nC (< 1000) + µA·µs (< 1000), so that nothing
        # grows past 2**30 in a 30 min session at the ceiling
        self.pos_uc = 0
        self.pos_nc = 0
        self._pos_r = 0
        self.neg_uc = 0
        self.neg_nc = 0
        self._neg_r = 0

    # -- control-loop API --
    @property
    def level_ua(self):
        """The level on the output now (µA, 0 in dead time and when stopped)."""
        if self.mode == "pwm":
            return self._lvl if self.playing else 0
        return self.stage.level_ua

    def heartbeat(self, now_ms):
        """Called by the control loop every tick; silence for deadman_ms stops the output."""
        self._hb = now_ms

    def set_amplitude(self, ua):
        """The pulse level from now on, clamped to 0..plan.amp_ua. It applies at the next period
        start, up or down, so both phases of a period carry the same level and every biphasic
        period balances. What must stop at once (contact lost, a fault) calls stop()."""
        ua = int(ua)
        if ua < 0:
            ua = 0
        pl = self.plan
        if pl.ok and ua > pl.amp_ua:
            ua = pl.amp_ua
        self._amp = ua
        if self.mode == "pwm" and self.playing:
            self._pwm_level()

    def quiet_us(self):
        """µs until the output next changes (a segment boundary), so the loop can put a
        gc.collect() or a flash write where it lengthens no phase: run it only when this is
        larger than the operation takes. Large (2**29 - 1) when stopped or when the PWM makes
        the edges (a pause cannot move them)."""
        if not self.playing or self.mode != "timer":
            return _QUIET_MAX
        d = clock.ticks_diff(self._due, clock.ticks_us()) + self._left
        return d if d > 0 else 0

    def period_left_us(self):
        """µs until the current period ends (where finish() would stop), 0 when stopped. The
        PWM strategy reports 0: it stops at once."""
        if not self.playing or self.mode != "timer":
            return 0
        d = clock.ticks_diff(self._due, clock.ticks_us()) + self._left
        if d < 0:
            d = 0
        pl = self.plan
        for j in range(self._i + 1, pl.n):
            d += pl.dur[j]
        return d

    def charge_nc(self):
        """(positive, negative) delivered charge in nC (off the hot path: may be a big int)."""
        return (self.pos_uc * 1000 + self.pos_nc, self.neg_uc * 1000 + self.neg_nc)

    def finish(self):
        """Stop at the end of the current period (the timer strategy), so a step change or a
        pause never leaves a half-played, unbalanced period; `playing` goes False then. The
        PWM strategy (>= 8 Hz, periods <= 125 ms) stops at once."""
        if not self.playing:
            return
        if self.mode != "timer":
            self.stop()
            return
        self._finishing = True

    def start(self, plan, amp_ua=0):
        """Play plan from its first segment. amp_ua: the starting level (soft start is the
        caller's: start at 0 and raise with set_amplitude). Raises ValueError on a bad plan."""
        if plan is None or not plan.ok:
            raise ValueError("plan: not built")
        self.stop()
        self.plan = plan
        self._reset_counters()
        self._finishing = False
        self.error = ERR_NONE
        self._amp = 0
        self.set_amplitude(amp_ua)
        self._lvl = 0
        self._dac_ua = 0
        self._sign = 1
        self._alt_left = plan.alt_periods + 1  # the first period start counts one down
        self._acc = 0
        self._hb = clock.ticks_ms()
        st = self.stage
        try:
            st.set_polarity(hbridge.OPEN)
            if self.kind == "pwm" and self._pwm_fits(plan):
                self._start_pwm(plan)
                return
            self.mode = "timer"
            st.set_ua(0)
            st.enable()
            self.playing = True
            self._due = clock.ticks_us()
            self._i = plan.n - 1  # the first _segment() starts segment 0
            self._left = 0
            self._segment()
        except BaseException:
            self.stop()  # e.g. a DAC bus error: the output is off before the caller hears of it
            raise

    def stop(self):
        """Output off now: timer stopped, OUT_EN low, DAC zero, bridge open. From any state,
        never raises."""
        self.playing = False
        try:
            self._tim.deinit()
        except Exception:  # noqa: BLE001 (stop must not raise)
            pass
        try:
            self.stage.off()
        except Exception:  # noqa: BLE001
            pass
        if self._pwm_a is not None or self._pwm_b is not None:
            self._pwm_release()
        self._dac_ua = 0
        self._lvl = 0
        self.mode = None

    # -- the playing path: everything below allocates nothing --
    def _halt(self, code):
        # from the callback: output off, no re-arm
        self.playing = False
        self.error = code
        self.stage.off()
        self._dac_ua = 0
        self._lvl = 0

    def _arm(self, d):
        if d > CHUNK_US:
            self._left = d - CHUNK_US
            d = CHUNK_US
        else:
            self._left = 0
        due = clock.ticks_add(self._due, d)
        self._due = due
        wait = clock.ticks_diff(due, clock.ticks_us())
        if wait < 1:
            wait = 1
        if self._hard:
            self._tim.init(
                mode=self._one_shot, period=wait, tick_hz=_TICK_HZ, callback=self._cb, hard=True
            )
        else:
            self._tim.init(mode=self._one_shot, period=wait, tick_hz=_TICK_HZ, callback=self._cb)

    def _edge(self, _t):
        if not self.playing:
            return
        try:
            self.callbacks += 1
            late = clock.ticks_diff(clock.ticks_us(), self._due)
            if late < 0:
                late = 0
            self.last_stretch_us = late
            if late > self.max_stretch_us:
                self.max_stretch_us = late
            if self.deadman_ms and clock.ticks_diff(clock.ticks_ms(), self._hb) > self.deadman_ms:
                self.deadman_trips += 1
                self._halt(ERR_DEADMAN)
                return
            if self._left > 0:
                self._arm(self._left)
                return
            self._segment()
        except Exception:  # noqa: BLE001 (an ISR must leave the output off, whatever broke)
            try:
                self._halt(ERR_EXCEPTION)
            except Exception:  # noqa: BLE001
                self.playing = False

    def _segment(self):
        # start the next segment of the plan
        pl = self.plan
        if not pl.ok:
            self._halt(ERR_PLAN)
            return
        i = self._i + 1
        if i >= pl.n:
            if self._finishing:
                # finish(): the period is complete and balanced; off here
                self._halt(ERR_NONE)
                return
            i = 0
            self.periods_played += 1
            a = self._amp
            if a > pl.amp_ua:
                a = pl.amp_ua
            self._lvl = a
            if pl.alt_periods:
                self._alt_left -= 1
                if self._alt_left <= 0:
                    self._alt_left = pl.alt_periods
                    self._sign = -self._sign
                    self.flips += 1
        self._i = i
        d = pl.dur[i]
        if i == pl.n - 1:
            acc = self._acc + pl.period_rem
            if acc >= pl.freq_mhz:
                acc -= pl.freq_mhz
                d += 1
            self._acc = acc
        st = self.stage
        pol = pl.pol[i]
        if pol == _OPEN_POL:
            st.set_polarity(hbridge.OPEN)
        else:
            lvl = pl.level[i]
            if self._lvl < lvl:
                lvl = self._lvl
            if lvl != self._dac_ua:
                st.set_ua(lvl)  # DAC before the bridge closes
                self._dac_ua = lvl
            if (pol == _NEG_POL) == (self._sign > 0):
                st.set_polarity(hbridge.NEG)
                neg = True
            else:
                st.set_polarity(hbridge.POS)
                neg = False
            # charge bookkeeping: level <= 1000, d // 1000 <= 3334: products < 2**30
            q = lvl * (d // 1000)
            r = lvl * (d % 1000)
            if neg:
                r += self._neg_r
                nc = self.neg_nc + q + r // 1000
                self._neg_r = r % 1000
                self.neg_uc += nc // 1000
                self.neg_nc = nc % 1000
            else:
                r += self._pos_r
                nc = self.pos_nc + q + r // 1000
                self._pos_r = r % 1000
                self.pos_uc += nc // 1000
                self.pos_nc = nc % 1000
        self.segments_played += 1
        self._arm(d)

    # -- PWM strategy --
    def _pwm_fits(self, plan):
        f = plan.freq_mhz
        if f < PWM_MIN_MHZ or f % 1000:
            return False
        if plan.shape == _p.MONOPHASIC:
            return True
        return self._ph_correct is not None

    def _start_pwm(self, plan):
        st = self.stage
        mk = self._pwm_factory
        hz = plan.freq_mhz // 1000
        duty = plan.phase_us * 65535 // plan.period_us
        self._duty = duty
        self.mode = "pwm"
        # OUT_EN is low (stop() above): configure both legs low first, then the duties
        if plan.shape == _p.MONOPHASIC:
            pa = mk(self._pins[0], freq=hz, duty_u16=0)
            pb = mk(self._pins[1], freq=hz, duty_u16=0)
            self._alt_due = clock.ticks_add(clock.ticks_us(), plan.alt_periods * plan.period_us)
            pa.duty_u16(duty)
        else:
            # phase-correct halves the frequency: ask for twice. B inverted at full duty is low.
            pa = mk(self._pins[0], freq=2 * hz, duty_u16=0)
            pb = mk(self._pins[1], freq=2 * hz, duty_u16=65535, invert=True)
            self._ph_correct()
            pa.duty_u16(duty)
            pb.duty_u16(65535 - duty)
        self._pwm_a = pa
        self._pwm_b = pb
        self._lvl = 0
        self.playing = True
        self._pwm_level()
        st.enable()
        self._due = clock.ticks_us()
        self._tim.init(mode=self._periodic, period=CHUNK_US, tick_hz=_TICK_HZ, callback=self._pcb)

    def _pwm_level(self):
        a = self._amp
        if a != self._lvl:
            self._lvl = a
            self.stage.set_ua(a)
            self._dac_ua = a

    def _pwm_tick(self, _t):
        pa = self._pwm_a
        pb = self._pwm_b
        if not self.playing or pa is None or pb is None:
            return
        try:
            self.callbacks += 1
            now = clock.ticks_us()
            pl = self.plan
            if self.deadman_ms and clock.ticks_diff(clock.ticks_ms(), self._hb) > self.deadman_ms:
                self.deadman_trips += 1
                self._tim.deinit()
                self._halt(ERR_DEADMAN)
                pa.duty_u16(0)
                if pl.shape == _p.MONOPHASIC:
                    pb.duty_u16(0)
                else:
                    pb.duty_u16(65535)  # inverted: low
                return
            if pl.alt_periods and clock.ticks_diff(now, self._alt_due) >= 0:
                self._alt_due = clock.ticks_add(self._alt_due, pl.alt_periods * pl.period_us)
                self._sign = -self._sign
                self.flips += 1
                # both compare values latch at the same counter wrap on rp2
                if self._sign > 0:
                    pb.duty_u16(0)
                    pa.duty_u16(self._duty)
                else:
                    pa.duty_u16(0)
                    pb.duty_u16(self._duty)
        except Exception:  # noqa: BLE001
            try:
                self._tim.deinit()
                self._halt(ERR_EXCEPTION)
            except Exception:  # noqa: BLE001
                self.playing = False

    def _pwm_release(self):
        # stage.off() has already dropped OUT_EN: now give the pins back to the bridge driver
        for pwm in (self._pwm_a, self._pwm_b):
            if pwm is None:
                continue
            try:
                pwm.duty_u16(0)
                pwm.deinit()
            except Exception:  # noqa: BLE001
                pass
        self._pwm_a = None
        self._pwm_b = None
        if self._pins is not None:
            for pin in self._pins:
                try:
                    pin.init(pin.OUT, value=0)  # back to GPIO function (rp2 pin mux)
                except Exception:  # noqa: BLE001
                    pass
        try:
            self.stage.bridge.open()
        except Exception:  # noqa: BLE001
            pass
