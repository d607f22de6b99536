# ESP32 RMT pulse engine: the same interface as drivers.pulsepio.PulsePIO, so the player does
# not know which chip it runs on. Two RMT channels (1 us ticks: 80 MHz APB / 80) play one period
# each in loop mode, POL_A and POL_B; a period is the cfg word PulsePIO takes (pins, D', R').
# The RMT cannot wait at a boundary by itself: a hold (or a polarity flip) turns looping off,
# the channels finish the period they play and stop there, legs low; the loop sees that as the
# report PulsePIO pushes, writes the DAC and starts the next period.
# Deadman: a hard timer counts the allowance down every 2 ms and drops OUT_EN when it runs out
# (Python every 2 ms, never per edge).
from esp32 import RMT
from machine import Timer
from micropython import const

from drivers.pulsepio import DEAD_ADJ, HOLD_BIT, MONO_OFF_ADJ, PHASE_ADJ, REST_ADJ

DEADMAN_MS = const(8)
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
    lv = []
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
    deadman_ms = DEADMAN_MS

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
        self._cfg = 0
        self._next = 0
        self._seq = {}
        self._pending = False  # looping turned off: stopping at the period end
        self._held = False
        self._want = 0
        self.running = False

    def _play(self, cfg):
        self._cfg = cfg & ~HOLD_BIT
        s = self._seq.get(self._cfg & 3)
        if s is None:
            a, b = _period(self._cfg, self._phase)
            s = (_durations(a), _durations(b))
            self._seq[self._cfg & 3] = s
        (da, la), (db, lb) = s
        self._ra.loop(True)
        self._rb.loop(True)
        self._ra.write_pulses(da, la)
        self._rb.write_pulses(db, lb)
        self._pending = False
        self._held = False

    def start(self, phase_count, cfg_buf):
        self._phase = phase_count + PHASE_ADJ
        self._seq = {}
        self._play(cfg_buf[0])
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
        w = buf[0]
        if self._held:
            self._play(w)  # the release
            return
        if (w & HOLD_BIT) or (w & 3) != (self._cfg & 3):
            self._want = w
            self._ra.loop(False)
            self._rb.loop(False)
            self._pending = True

    def put_int(self, v):
        self._phase = v + PHASE_ADJ

    def tx_level(self):
        return 0

    def acks(self):
        if self._pending and self._ra.wait_done(timeout=0) and self._rb.wait_done(timeout=0):
            self._pending = False
            self._held = True
            return 1
        return 0

    def take_ack(self):
        return self._phase - PHASE_ADJ

    def legs(self):
        return self.pin_a.value() | (self.pin_b.value() << 1)

    def stop(self):
        try:
            self._tim.deinit()
        except Exception:  # noqa: BLE001 (stop must not raise)
            pass
        try:
            self.out_en.init(self.out_en.OUT, value=0)
        except Exception:  # noqa: BLE001
            pass
        _halt(self._ra, self.pin_a)
        _halt(self._rb, self.pin_b)
        self.running = False


def _halt(rmt, pin):
    try:
        rmt.loop(False)
    except Exception:  # noqa: BLE001 (stop must not raise)
        pass
    try:
        pin.init(pin.OUT, value=0)  # the pin back to the CPU, low
    except Exception:  # noqa: BLE001
        pass
