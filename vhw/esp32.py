# A fake of MicroPython's `esp32` module for the virtual board: the RMT transmitter
# (MicroPython 1.28, ports/esp32/esp32_rmt.c over ESP-IDF 5's RMT driver) playing its pulses on
# the fake machine's pin at exact times on the virtual clock. Runs on CPython and MicroPython.
#
# A channel is a VClock device (vhw.vclock: `devices`, fire(), hold_devices): it arms itself at
# the µs of its next level change and fire() applies every change due up to now, so one pulse
# costs one call whatever its length. Durations are exact in channel ticks: the channel divides
# the 80 MHz source by round(80 MHz / resolution_hz) (what ESP-IDF programs), a change lands on
# the µs it falls in. As with vhw.rp2, what the CPU starts at µs T begins at T + 1.
#
# Deviations: tx_carrier is checked but not modulated onto the pin; a duration outside
# 1..PULSE_MAX raises ValueError (the driver truncates it to 15 bits, 0 ending the sequence);
# loop_count(n > 0) plays the sequence n times; active(False)/loop(False) during a loop stop at
# once with the pin at idle_level; wait_done(timeout=-1) on an endless loop raises RuntimeError
# instead of blocking forever; deinit() gives the pin back to the CPU.
from vhw import machine as _machine
from vhw.vclock import ticks_diff as _ticks_diff

_SRC_HZ = 80000000
_MEM_WORDS = 64  # SOC_RMT_MEM_WORDS_PER_CHANNEL on the ESP32
_AHEAD_MAX = 1 << 28
_CPU_WAIT_MAX_US = 10000000
_world = _machine.world
_bitstream = [True]


class RMT:
    PULSE_MAX = 32767

    def __init__(
        self,
        id=-1,
        *,
        pin,
        resolution_hz=None,
        clock_div=None,
        idle_level=False,
        tx_carrier=None,
        num_symbols=_MEM_WORDS,
    ):
        if resolution_hz is not None and clock_div is not None:
            raise ValueError("resolution_hz and clock_div are mutually exclusive")
        if resolution_hz is None and clock_div is None:
            res = 10000000
        elif resolution_hz is not None:
            res = int(resolution_hz)
            if res <= 0:
                raise ValueError("resolution_hz must be positive")
        else:
            cd = int(clock_div)
            if cd < 1 or cd > 255:
                raise ValueError("clock_div must be between 1 and 255")
            res = _SRC_HZ // cd
        if num_symbols < _MEM_WORDS or num_symbols % 2:
            raise ValueError("num_symbols must be even and at least %d" % _MEM_WORDS)
        div = (_SRC_HZ + res // 2) // res  # the channel's integer divider (ESP-IDF rounds)
        if div < 1 or div > 256:
            raise ValueError("resolution_hz out of range")  # (ESP-IDF: ESP_ERR_INVALID_ARG)
        if tx_carrier is not None:
            if len(tx_carrier) != 3:
                raise ValueError("tuple/list has wrong length")
            if tx_carrier[0] == 0:
                raise ValueError("tx_carrier frequency must be >0")
            if tx_carrier[1] > 100:
                raise ValueError("tx_carrier duty must be 0..100")
        self.pin = pin.id if isinstance(pin, _machine.Pin) else int(pin)
        self.resolution_hz = res
        self.div = div
        self.idle_level = 1 if idle_level else 0
        self.tx_carrier = tx_carrier
        self._loop_count = 0
        self.enabled = False
        self.ongoing = False
        self.armed = False  # VClock device protocol
        self.due_us = 0
        self.clock = None
        self.edges = 0  # level changes played (for tests)
        self.fires = 0
        self._next = None  # a sequence waiting for the current loop iteration to end
        self._lv = ()
        self._cum = (0,)
        _world.claim(self.pin, self, 0)  # ESP-IDF holds the channel's output low until a TX

    def __repr__(self):
        if self.pin < 0:
            return "RMT()"
        return "RMT(pin=%d, source_freq=%d, resolution_hz=%d, idle_level=%d)" % (
            self.pin,
            _SRC_HZ,
            self.resolution_hz,
            self.idle_level,
        )

    def _check(self):
        if self.pin < 0:
            raise OSError("already deinitialized")

    @staticmethod
    def source_freq():
        return _SRC_HZ

    @staticmethod
    def bitstream_rmt(value=None):
        if value is not None:
            _bitstream[0] = bool(value)
        return _bitstream[0]

    @staticmethod
    def bitstream_channel(value=None):
        if value is not None:
            _bitstream[0] = value >= 0
        return 1 if _bitstream[0] else None

    def clock_div(self):
        self._check()
        return _SRC_HZ // self.resolution_hz

    def active(self, value=None):
        if value is None:
            self._catch_up()
            return self.enabled and self.ongoing
        if value:
            raise ValueError("activate by calling write_pulses()")
        self._deactivate()
        return False

    def deinit(self):
        if self.pin >= 0:
            self._deactivate()
            _world.release(self.pin)
            self.pin = -1

    def loop(self, enable_loop):
        self._check()
        self._loop_in(-1 if enable_loop else 0)

    def loop_count(self, n):
        self._check()
        if n < -1:
            raise ValueError("arg must be -1, 0 or positive")
        self._loop_in(n)

    def _loop_in(self, n):
        self._catch_up()
        if self.enabled and self.ongoing and self._loop_count != 0 and n == 0:
            self._deactivate()  # breaks the loop that plays
        self._loop_count = n

    def wait_done(self, *, timeout=0):
        self._check()
        self._catch_up()
        if not self.enabled:
            return True
        if not self.ongoing:
            return True
        if timeout == 0:
            return False
        if timeout < 0 and self._loops < 0 and self._next is None:
            raise RuntimeError("RMT.wait_done(timeout=-1) on an endless loop never returns")
        limit = _CPU_WAIT_MAX_US if timeout < 0 else timeout * 1000
        self._cpu_wait(self._idle, limit)
        return not self.ongoing

    def _idle(self):
        return not self.ongoing

    def write_pulses(self, duration, data=True):
        self._check()
        self._catch_up()
        if not isinstance(data, (list, tuple)):
            lv, du = _mode1(duration, data)  # durations, toggling from the level `data`
        elif isinstance(duration, int):
            du = [duration] * len(data)  # one duration, a level each
            lv = [1 if d else 0 for d in data]
        else:
            du = _durations(duration)
            lv = [1 if d else 0 for d in data]
            if len(du) != len(lv):
                raise ValueError("duration and data must have same length")
        if not du:
            raise ValueError("No pulses")
        for d in du:
            if d < 1 or d > RMT.PULSE_MAX:
                raise ValueError("duration %d outside 1..PULSE_MAX" % d)
        seq = _merge(lv, du, self.div)
        self.enabled = True
        if self.ongoing:
            if self._loops < 0:
                # an endless loop: the new sequence starts where the current iteration ends
                self._next = (seq, self._loop_count)
                self._cpu_wait(self._switched, _CPU_WAIT_MAX_US)
                return None
            self._cpu_wait(self._idle, _CPU_WAIT_MAX_US)
        clk = _world.clock
        self.clock = clk
        if self not in clk.devices:
            clk.devices.append(self)
        self._start(seq, self._loop_count, clk.now_us_abs() + 1)
        self._arm()
        return None

    def _switched(self):
        return self._next is None

    # -- playing --
    def _start(self, seq, loops, ep):
        self._lv, self._cum = seq
        self._n = len(self._lv)
        self._loops = loops if loops <= 0 else loops - 1  # more iterations after this one
        self._ep = ep  # µs of the sequence start
        self._base = 0  # 80 MHz ticks from ep to the current iteration's start
        self._k = 0  # next boundary: k < n starts pulse k, k == n ends the iteration
        self.ongoing = True

    def _out(self, level):
        _world.pad_out(self.pin, self, level)

    def _play(self, now):
        cum = self._cum
        while self.ongoing:
            k = self._k
            pos = self._base + cum[k]
            if self._ep + pos // 80 > now:
                return
            if k < self._n:
                lvl = self._lv[k]
                if _world.levels.get(self.pin) != lvl:
                    self.edges += 1
                self._out(lvl)
                self._k = k + 1
                continue
            # end of an iteration
            nxt = self._next
            if nxt is not None:
                self._next = None
                seq, loops = nxt
                ep = self._ep
                self._start(seq, loops, ep)
                self._base = pos
                cum = self._cum
            elif self._loops != 0:
                if self._loops > 0:
                    self._loops -= 1
                self._base = pos
                self._k = 0
            else:
                if _world.levels.get(self.pin) != self.idle_level:
                    self.edges += 1
                self._out(self.idle_level)
                self.ongoing = False
                return
            if self._base % 80 == 0:  # rebase on a whole µs: the numbers stay small
                self._ep += self._base // 80
                self._base = 0

    def fire(self):
        self.fires += 1
        self._play(self.clock.now_us_abs())
        self._arm()

    def _arm(self):
        if not self.ongoing:
            self.armed = False
            return
        clk = self.clock
        now = clk.now_us_abs()
        d = self._ep + (self._base + self._cum[self._k]) // 80 - now
        if d < 0:
            d = 0
        elif d > _AHEAD_MAX:
            d = _AHEAD_MAX
        self.due_us = clk.ticks_add(clk.ticks_us(), d)
        self.armed = True

    def _catch_up(self):
        # the CPU looks: every change due up to now has happened (not under hold_devices)
        clk = self.clock
        if self.ongoing and clk is not None and not clk.hold_devices:
            self._play(clk.now_us_abs())
            self._arm()

    def _deactivate(self):
        self._catch_up()
        if self.enabled:
            if self.ongoing:
                self._out(self.idle_level)
            self.ongoing = False
            self._next = None
            self.armed = False
            self.enabled = False

    def _cpu_wait(self, ready, limit):
        clk = _world.clock
        waited = 0
        while not ready():
            if waited >= limit:
                if limit >= _CPU_WAIT_MAX_US:
                    raise RuntimeError("RMT: would block forever (10 s of virtual time)")
                return
            d = 1000
            if self.armed:
                d = _ticks_diff(self.due_us, clk.ticks_us())
                if d < 1:
                    d = 1
            if d > limit - waited:
                d = limit - waited
            clk.advance(d)
            waited += d
            if clk.hold_devices:
                self.fire()


def _durations(seq):
    if not isinstance(seq, (list, tuple)):
        raise TypeError("object '%s' isn't a tuple or list" % type(seq).__name__)
    return list(seq)


def _mode1(duration, data):
    du = _durations(duration)
    lv = []
    level = 1 if data else 0
    for _ in du:
        lv.append(level)
        level ^= 1
    return lv, du


def _merge(lv, du, div):
    # runs of one level become one pulse; cum[k]: 80 MHz ticks from the start to pulse k
    levels = []
    cum = [0]
    t = 0
    for i in range(len(du)):
        t += du[i] * div
        if levels and levels[-1] == lv[i]:
            cum[-1] = t
        else:
            levels.append(lv[i])
            cum.append(t)
    return tuple(levels), tuple(cum)
