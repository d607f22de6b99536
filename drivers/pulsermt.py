# ESP32 RMT pulse engine: the same interface as drivers.pulsepio.PulsePIO, so the player does
# not know which chip it runs on. Two RMT channels (1 us ticks: 80 MHz APB / 80) play one period
# each in loop mode, POL_A and POL_B; a period is the cfg word PulsePIO takes (pins, D', R').
# Deadman: a hard timer counts the allowance down every 2 ms and drops OUT_EN when it runs out
# (Python every 2 ms, never per edge).
from esp32 import RMT
from machine import Timer
from micropython import const

from drivers.pulsecfg import DEAD_ADJ, HOLD, MONO_OFF_ADJ, PHASE_ADJ, REST_ADJ

DEADMAN_MS = const(10)
_DM_TICK_MS = const(2)
_MAX_TICKS = const(32767)  # one RMT item's longest duration
_CLOCK_DIV = const(80)


def _chunks(out, level, us):
    # a run longer than one RMT item becomes several items of the same level
    while us > 0:
        d = us if us <= _MAX_TICKS else _MAX_TICKS
        out.append((level, d))
        us -= d


def _durations(segs):
    # write_pulses(durations, levels): the form with one level per duration
    lv: list = []
    for level, us in segs:
        _chunks(lv, level, us)
    return tuple(d for _, d in lv), tuple(lvl for lvl, _ in lv)


def _period(cfg, phase):
    pins = cfg & 3
    d = (cfg >> 2) & 0x7F
    r = (cfg >> 9) & 0x3FFFFF
    if d:
        dead = d + DEAD_ADJ
        rest = r + REST_ADJ
        first = [(1, phase), (0, dead + phase + rest)]
        second = [(0, phase + dead), (1, phase), (0, rest)]
    else:
        first = [(1, phase), (0, r + MONO_OFF_ADJ)]
        second = [(0, phase + r + MONO_OFF_ADJ)]
    if pins == 1:
        return first, second
    return second, first


class PulseRMT:
    """Same interface as PulsePIO. The RMT cannot pause at a boundary and report it, so a hold
    is answered at once: the loop writes the (built-in, instant) DAC and the engine restarts
    both channels from a new period start (the cut period is what it played: exact_holds
    False tells the player to count it as cut, not whole). Polarity flips hand over at the
    end of the period that plays (RMT: a write during an endless loop)."""

    deadman_ms = DEADMAN_MS
    exact_holds = False

    def __init__(self, pin_a, pin_b, out_en, ch_a=0, ch_b=1, timer_id=0):
        self.pin_a = pin_a
        self.pin_b = pin_b
        self.out_en = out_en
        self._ra = RMT(ch_a, pin=pin_a, clock_div=_CLOCK_DIV, idle_level=False)
        self._rb = RMT(ch_b, pin=pin_b, clock_div=_CLOCK_DIV, idle_level=False)
        self._tim = Timer(timer_id)
        self._dm_cb = self._deadman
        self._allow = 0
        self._phase = 0
        self._v = 1
        self._seq: list = []
        self._acks = 0
        self.running = False

    def _play(self, v):
        (da, la), (db, lb) = self._seq[v - 1]
        ra = self._ra
        rb = self._rb
        ra.write_pulses(da, la)
        rb.write_pulses(db, lb)
        self._v = v

    def _channels(self):
        self._ra.loop(True)
        self._rb.loop(True)

    def start(self, phase_count, cfg_buf):
        cfg = cfg_buf[0]
        self._phase = phase_count + PHASE_ADJ
        seq = []
        for v in (1, 2):
            a, b = _period((cfg & ~3) | v, self._phase)
            seq.append((_durations(a), _durations(b)))
        self._seq = seq
        self._acks = 0
        self._channels()
        self._play(cfg & 3)
        self.running = True

    def arm(self):
        self._allow = self.deadman_ms // _DM_TICK_MS
        self._tim.init(mode=Timer.PERIODIC, period=_DM_TICK_MS, callback=self._dm_cb, hard=True)

    def _deadman(self, _t):
        a = self._allow - 1
        self._allow = a
        if a <= 0:
            self.out_en(0)
            self._tim.deinit()

    def feed(self):
        self._allow = self.deadman_ms // _DM_TICK_MS

    def out_en_high(self):
        return self.out_en.value() == 1

    def push(self, buf):
        v = buf[0] & 3
        if self._acks < 0:
            # the release after a hold: a new period starts now
            self._acks = 0
            self._stop_channels()
            self._channels()
            self._play(v)
        elif v != self._v:
            self._play(v)  # hands over where the playing period ends

    def put_int(self, v):
        if v == HOLD:
            self._acks = 1
        else:
            self._phase = v + PHASE_ADJ

    def tx_level(self):
        return 0

    def acks(self):
        return 1 if self._acks > 0 else 0

    def take_ack(self):
        self._acks = -1  # held: the next push restarts the channels
        return self._phase - PHASE_ADJ

    def legs(self):
        return self.pin_a.value() | (self.pin_b.value() << 1)

    def _stop_channels(self):
        # two calls, no tuple: stop() runs inside a control tick (contact loss)
        _idle(self._ra)
        _idle(self._rb)

    def stop(self):
        try:
            self._tim.deinit()
        except Exception:  # noqa: BLE001 (stop must not raise)
            pass
        try:
            self.out_en.init(self.out_en.OUT, value=0)
        except Exception:  # noqa: BLE001
            pass
        self._stop_channels()
        _low(self.pin_a)  # the pins back to the CPU, low
        _low(self.pin_b)
        self.running = False


def _idle(rmt):
    try:
        rmt.active(False)  # stops at once, the pin at its idle level (low)
    except Exception:  # noqa: BLE001 (stop must not raise)
        pass


def _low(pin):
    try:
        pin.init(pin.OUT, value=0)
    except Exception:  # noqa: BLE001 (stop must not raise)
        pass
