# A fake `machine` module: the subset of MicroPython's machine API the firmware uses, with every
# object registered in `world` so tests and the simulator can see and drive the board.
# Runs on CPython and on MicroPython (installed as sys.modules["machine"] by vhw.install).

from vhw.vclock import VClock, WatchdogReset

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_ENODEV = 19


class BoardReset(BaseException):
    """machine.reset() / soft_reset() on the virtual board."""


class Cost:
    """What the target charges for what the firmware asks of its peripherals, in virtual time:
    each fake I2C transfer takes its bus time (9 bits a byte, address byte included, plus
    start and stop, at the bus frequency) and the CPU around it, an ADC read its conversion
    and call. Figures: the RP2040 under MicroPython 1.28 (measured on the emulated chip, issue
    10: MCP4725 set_code 130-140 us of which ~72 us on the bus at 400 kHz; Sense.read with 4x
    oversampling 198 us for 8 conversions). Host-side reads (traces, tests looking at pins or
    the stage model) cost nothing: only these driver calls are charged."""

    i2c_cpu_us = 45
    adc_us = 24

    def i2c_us(self, freq, nbytes):
        return ((1 + nbytes) * 9 + 2) * 1000000 // freq + self.i2c_cpu_us


class _World:
    def __init__(self):
        self.cost = None
        self._spending = False
        self.reset()

    def spend(self, us):
        """The firmware's call takes us of virtual time (hardware keeps running meanwhile)."""
        if us <= 0 or self._spending:
            return
        self._spending = True
        try:
            self.clock.advance(us)
        finally:
            self._spending = False

    def reset(self, clock=None, reset_cause=PWRON_RESET):
        self.clock = clock if clock is not None else VClock()
        self.levels = {}  # output pin id -> 0/1
        self.modes = {}  # pin id -> mode
        self.pulls = {}  # pin id -> pull
        self.inputs = {}  # pin id -> level driven from outside (buttons)
        self.irqs = {}  # pin id -> Pin with a handler
        self.adc = {}  # pin id -> int or callable returning a u16
        self.i2c = {}  # bus * 256 + addr -> device model
        self.pwms = {}  # pin id -> PWM
        self.dacs = {}  # pin id -> DAC
        self.listeners = []  # f(kind, ident, value) on every output change
        self.funcs = {}  # pin id -> peripheral that owns the pad (a PIO block, an RMT channel)
        self.cpu_levels = {}  # pin id -> the CPU's output level, kept while a peripheral owns it
        self.wdt = None
        self.reset_cause = reset_cause
        self.freq = 125000000

    # -- helpers for tests and the simulator --
    def level(self, pid):
        return self.levels.get(pid, 0)

    def drive(self, pid, level):
        """Drive an input pin from outside (a button, a sensor line)."""
        old = self.inputs.get(pid)
        self.inputs[pid] = level
        p = self.irqs.get(pid)
        if p is not None and old != level:
            p._edge(level)

    def press(self, pid, down):
        """Active-low button with a pull-up: pressed pulls the line to 0."""
        self.drive(pid, 0 if down else 1)

    def notify(self, kind, ident, value):
        for f in self.listeners:
            f(kind, ident, value)

    # -- pin function mux: a peripheral (vhw.rp2 PIO, vhw.esp32 RMT) can own a pad --
    def pad(self, pid):
        """The level on the pad, as Pin.value() reads it: the CPU's output, the owning
        peripheral's output, or (not driven) the outside world / the pull."""
        if pid in self.funcs:
            lvl = self.levels.get(pid)  # absent: the peripheral does not drive the pad
            if lvl is not None:
                return lvl
        elif self.modes.get(pid, Pin.IN) == Pin.OUT:
            return self.levels.get(pid, 0)
        lvl = self.inputs.get(pid)
        if lvl is None:
            return 1 if self.pulls.get(pid) == Pin.PULL_UP else 0
        return lvl

    def claim(self, pid, owner, level=None):
        """Hand the pad to a peripheral (level: what it drives, None: not driven). The CPU's
        output level is kept and applies again when the CPU takes the pin back."""
        if pid not in self.funcs:
            self.cpu_levels[pid] = self.levels.get(pid, 0)
        self.funcs[pid] = owner
        self._set_pad(pid, level)

    def pad_out(self, pid, owner, level):
        """A peripheral's output: reaches the pad only while that peripheral owns it."""
        if self.funcs.get(pid) is owner:
            self._set_pad(pid, level)

    def release(self, pid):
        """The pad back to the CPU (Pin.init with a mode): its kept output level applies."""
        if pid in self.funcs:
            del self.funcs[pid]
            self._set_pad(pid, self.cpu_levels.pop(pid, 0))

    def _set_pad(self, pid, level):
        old = self.levels.get(pid)
        if level is None:  # not driven: listeners see it as low
            if old is not None:
                del self.levels[pid]
                if old:
                    self.notify("pin", pid, 0)
        elif old != level:
            self.levels[pid] = level
            self.notify("pin", pid, level)


world = _World()


def _pid(p):
    if isinstance(p, Pin):
        return p.id
    return p


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self._handler = None
        self._trigger = 0
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        w = world
        if mode != -1:
            w.modes[self.id] = mode
            if mode != Pin.ALT and self.id in w.funcs:
                w.release(self.id)  # IN/OUT/OPEN_DRAIN: the pin is the CPU's again (SIO)
        if pull != -1:
            w.pulls[self.id] = pull
        if value is not None:
            self.value(value)
        elif mode == Pin.OUT and self.id not in w.levels:
            w.levels[self.id] = 0

    def value(self, v=None):
        w = world
        pid = self.id
        if v is None:
            return w.pad(pid)
        v = 1 if v else 0
        if pid in w.funcs:  # a peripheral owns the pad: only the CPU's output latch changes
            w.cpu_levels[pid] = v
            return None
        if w.levels.get(pid) != v:
            w.levels[pid] = v
            w.notify("pin", pid, v)
        else:
            w.levels[pid] = v
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def high(self):
        self.value(1)

    def low(self):
        self.value(0)

    def toggle(self):
        w = world
        if self.id in w.funcs:
            cur = w.cpu_levels.get(self.id, 0)
        else:
            cur = w.levels.get(self.id, 0)
        self.value(0 if cur else 1)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, hard=False):
        self._handler = handler
        self._trigger = trigger
        if handler is None:
            world.irqs.pop(self.id, None)
        else:
            world.irqs[self.id] = self
        return self

    def _edge(self, level):
        t = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
        if self._handler is not None and self._trigger & t:
            self._handler(self)


class ADC:
    CORE_TEMP = 4
    ATTN_0DB = 0
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=None):
        self.id = _pid(pin)

    def read_u16(self):
        c = world.cost
        if c is not None:
            world.spend(c.adc_us)  # the conversion is sampled at the end of the call
        src = world.adc.get(self.id, 0)
        if callable(src):
            v = src()
        else:
            v = src
        if v < 0:
            return 0
        if v > 65535:
            return 65535
        return v

    def atten(self, a):
        pass

    def width(self, w):
        pass


class PWM:
    def __init__(self, pin, freq=0, duty_u16=None, duty_ns=None, invert=False):
        self.id = _pid(pin)
        self._freq = 0
        self._duty = 0
        self._invert = bool(invert)
        self.active = True
        world.pwms[self.id] = self
        if freq:
            self._freq = freq
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def init(self, freq=0, duty_u16=None, invert=False):
        self.active = True
        self._invert = bool(invert)
        if freq:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f
        world.notify("pwm_freq", self.id, f)
        return None

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        if d < 0 or d > 65535:
            raise ValueError("duty_u16 out of range")
        if d != self._duty:
            self._duty = d
            world.notify("pwm", self.id, d)
        return None

    def duty_ns(self, ns=None):
        if ns is None:
            return 0
        return None

    def deinit(self):
        self.active = False
        if self._duty:
            self._duty = 0
            world.notify("pwm", self.id, 0)


class DAC:
    def __init__(self, pin, bits=8, buffering=None):
        self.id = _pid(pin)
        self.value = 0
        world.dacs[self.id] = self

    def write(self, v):
        if v < 0 or v > 255:
            raise ValueError("value out of range")
        if v != self.value:
            self.value = v
            world.notify("dac", self.id, v)


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        self.bus = id
        self.freq = freq

    def _dev(self, addr):
        d = world.i2c.get(self.bus * 256 + addr)
        if d is None or d.nack:
            raise OSError(_ENODEV)
        return d

    def scan(self):
        out = []
        base = self.bus * 256
        for key in world.i2c:
            d = world.i2c[key]
            if key // 256 == self.bus and not d.nack:
                out.append(key - base)
        out.sort()
        return out

    def _spend(self, n):
        c = world.cost
        if c is not None:
            world.spend(c.i2c_us(self.freq, n))

    def writeto(self, addr, buf, stop=True):
        d = self._dev(addr)
        self._spend(len(buf))  # the device acts when the last byte is on the bus
        d.write(buf)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        d = self._dev(addr)
        n = 0
        for b in vector:
            n += len(b)
        self._spend(n)
        for b in vector:
            d.write(b)
        return len(vector)

    def readfrom_into(self, addr, buf, stop=True):
        d = self._dev(addr)
        self._spend(len(buf))
        d.read_into(buf)

    def readfrom(self, addr, n, stop=True):
        buf = bytearray(n)
        self.readfrom_into(addr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        d = self._dev(addr)
        self._spend(1 + len(buf))
        d.write_mem(memaddr, buf)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        d = self._dev(addr)
        self._spend(2 + len(buf))  # the register address written, then a repeated start
        d.read_mem_into(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, n, addrsize=8):
        buf = bytearray(n)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)


SoftI2C = I2C


class I2CDevice:
    """Base for device models on the fake bus: a plain register file that can NACK."""

    def __init__(self, bus, addr):
        self.nack = False
        self.regs = bytearray(256)
        self.writes = 0
        world.i2c[bus * 256 + addr] = self

    def write(self, buf):
        self.writes += 1

    def read_into(self, buf):
        for i in range(len(buf)):
            buf[i] = self.regs[i]

    def write_mem(self, mem, buf):
        for i in range(len(buf)):
            self.regs[(mem + i) & 0xFF] = buf[i]

    def read_mem_into(self, mem, buf):
        for i in range(len(buf)):
            buf[i] = self.regs[(mem + i) & 0xFF]


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, mode=PERIODIC, period=-1, freq=-1, callback=None, hard=True):
        self.armed = False
        self.due_us = 0
        self.period_us = 0
        self.mode = mode
        self.callback = None
        self.fired = 0
        clock = world.clock
        clock.timers.append(self)
        if callback is not None:
            self.init(mode=mode, period=period, freq=freq, callback=callback)

    def init(self, mode=PERIODIC, period=-1, freq=-1, callback=None, hard=True, tick_hz=1000):
        if freq > 0:
            p = 1000000 // freq
        elif period >= 0:
            p = period * (1000000 // tick_hz)
        else:
            raise ValueError("period or freq required")
        if p < 1:
            p = 1
        self.period_us = p
        self.mode = mode
        self.callback = callback
        clock = world.clock
        if self not in clock.timers:
            clock.timers.append(self)
        self.due_us = clock.ticks_add(clock.ticks_us(), p)
        self.armed = True

    def deinit(self):
        self.armed = False

    def fire(self):
        if self.mode == Timer.ONE_SHOT:
            self.armed = False
        else:
            self.due_us = world.clock.ticks_add(self.due_us, self.period_us)
        self.fired += 1
        cb = self.callback
        if cb is not None:
            cb(self)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.last = world.clock.ticks_ms()
        self.feeds = 0
        world.wdt = self
        world.clock.watchdogs.append(self)

    def feed(self):
        self.last = world.clock.ticks_ms()
        self.feeds += 1

    def check(self, now_ms):
        if world.clock.ticks_diff(now_ms, self.last) > self.timeout:
            raise WatchdogReset()


def reset_cause():
    return world.reset_cause


def reset():
    raise BoardReset()


def soft_reset():
    raise BoardReset()


def freq(f=None):
    if f is None:
        return world.freq
    world.freq = f
    return None


def unique_id():
    return b"\x5e\x11\x00\x00\x00\x00\x00\x01"


def idle():
    pass


def lightsleep(ms=0):
    world.clock.sleep_ms(ms)


def deepsleep(ms=0):
    raise BoardReset()


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def bootloader():
    raise BoardReset()
