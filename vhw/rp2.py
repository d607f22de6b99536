# A fake of MicroPython's `rp2` module (1.28, RP2040) for the virtual board:
# - asm_pio / asm_pio_encode: the PIO assembler, word for word what the real
#   ports/rp2/modules/rp2.py makes (same program object: [array('H') words, offset in PIO0,
#   PIO1, PIO2, EXECCTRL, SHIFTCTRL, out_init, set_init, sideset_init]), quirks included;
# - PIO(0..1) and StateMachine(0..7): the programs run on the virtual clock
#   (machine.world.clock) as the RP2040 datasheet (chapter 3) says, cycle by cycle in time,
#   and drive the fake machine's pins (world.levels + world.notify("pin", ...)).
# Runs on CPython and on MicroPython 1.29 (the VM tests); it allocates freely (32-bit values are
# big ints on MicroPython) except on the CPU-side paths used under VClock.hold_devices.
#
# Time. An SM's cycles are counted from an epoch `ep` (absolute µs, VClock.now_us_abs()):
# cycle c runs at ep + c * num / den µs (num / den = the SM clock period in µs, from the clock
# divider exactly as the port computes it, so a 3 kHz SM keeps its fractional period), and an
# edge lands on the µs that cycle falls in. The SM is a VClock device: `due_us` is the µs of its
# next instruction with an effect outside the SM (pins, FIFOs, IRQ flags, waits); fire() runs
# every instruction due up to now, then runs ahead through the instructions nobody else can see
# (register moves, shifts, jumps, delays; a `jmp(x_dec/y_dec)` to itself is one step whatever
# its count) and re-arms at the next visible one. So a period of a pulse program costs a few
# dozen Python steps, not one per cycle. CPU actions that need the exact state (exec, restart,
# active, init) roll the run-ahead back first.
# The CPU at virtual µs T acts after the SM's cycles that fall in µs <= T; what it does (put,
# get, exec, active(1), restart) reaches the SM from its first cycle in µs T + 1 on. A stalled
# SM (blocking pull/push, wait irq) sleeps until what it waits for changes; `wait` on a pin and
# `jmp(pin)` to itself poll once per µs (a pin changes on a µs boundary in this world).
#
# Deviations from the hardware/port (see also the tests, host_tests/test_vhw_pio.py):
# - background autopull refills (datasheet 3.5.4.2) are checked at instruction boundaries, not
#   on every delay cycle; FIFO-level interrupts (PIO.irq trigger bits 0-7) are not raised;
# - IRQ handlers (PIO.irq, StateMachine.irq) are called, flags acknowledged, right after the SM
#   run in which the flag was set (the port schedules them: a few µs later);
# - a CPU-side call that would block forever on a board (get on an empty RX FIFO nobody fills,
#   put on a TX FIFO nobody drains, RMT wait_done(-1) on a loop) raises RuntimeError after
#   10 s of virtual time;
# - active(0) then active(1) drops what was left of a delay; machine.freq() changes after init
#   do not change a running SM's clock; after machine.world.reset() (a new virtual board) the
#   PIO blocks start empty and programs are loaded again on the next init.
from array import array

from vhw import machine as _machine
from vhw.vclock import ticks_diff as _ticks_diff

_M32 = 0xFFFFFFFF
_TICKS_MASK = (1 << 30) - 1
_FAR = 1 << 62  # no cycle bound (running ahead)
_AHEAD_MAX = 1 << 28  # µs: the farthest an SM arms itself (VClock ticks compare within 2**29)
_RUN_AHEAD_MAX = 64  # invisible instructions run ahead per fire
_CPU_WAIT_MAX_US = 10000000
_ST_PUSH = 1  # IN done, its autopush waits for room in the RX FIFO
_ST_IRQW = 2  # `irq(block, n)` set its flag and waits for it to clear
_world = _machine.world
# CPython's arrays say their type (MicroPython's do not: there the check is skipped; a getattr
# with a default would raise and allocate inside, under heap_lock)
_TYPECODES = hasattr(array("B"), "typecode")


class PIOASMError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The assembler: each instruction function appends one 16-bit word (datasheet 3.4 encodings);
# the decorated function runs twice (pass 0 finds labels, counts instructions and side-sets;
# pass 1 emits). Quirks kept from the real one: set() does not range-check its data, jmp to an
# unknown label raises, side-set values are checked against the count including the enable bit.


class _Asm:
    def __init__(
        self,
        *,
        out_init=None,
        set_init=None,
        sideset_init=None,
        side_pindir=False,
        in_shiftdir=0,
        out_shiftdir=0,
        autopush=False,
        autopull=False,
        push_thresh=32,
        pull_thresh=32,
        fifo_join=0,
    ):
        shiftctrl = (
            fifo_join << 30
            | (pull_thresh & 0x1F) << 25
            | (push_thresh & 0x1F) << 20
            | out_shiftdir << 19
            | in_shiftdir << 18
            | autopull << 17
            | autopush << 16
        )
        execctrl = side_pindir << 29
        self.prog = [array("H"), -1, -1, -1, execctrl, shiftctrl, out_init, set_init, sideset_init]
        self.labels = {}
        self.wrap_used = False
        if sideset_init is None:
            self.nside_bits = 0
        elif isinstance(sideset_init, int):
            self.nside_bits = 1
        else:
            self.nside_bits = len(sideset_init)
        self.side_opt = False
        self.delay_max = 31
        self.pass_ = 0
        self.n = 0
        self.nside = 0

    def begin(self, pass_):
        if pass_ == 1:
            if self.n and not self.wrap_used:
                self.wrap()
            self.delay_max = 31
            if self.nside_bits:
                # side-set on some instructions only: the enable bit takes one more bit
                self.side_opt = self.nside != self.n
                if self.side_opt:
                    self.prog[4] |= 1 << 30
                    self.nside_bits += 1
                self.delay_max >>= self.nside_bits
        self.pass_ = pass_
        self.n = 0
        self.nside = 0

    # `instr [n]` and `instr.side(v)` act on the word just emitted
    def __getitem__(self, d):
        return self.delay(d)

    def delay(self, d):
        if self.pass_:
            if d > self.delay_max:
                raise PIOASMError("delay too large")
            self.prog[0][-1] |= d << 8
        return self

    def side(self, v):
        self.nside += 1
        if self.pass_:
            nb = self.nside_bits
            if not nb:
                raise PIOASMError("no sideset")
            if v >= 1 << nb:
                raise PIOASMError("sideset too large")
            self.prog[0][-1] |= self.side_opt << 12 | v << (13 - nb)
        return self

    def wrap_target(self):
        self.prog[4] |= self.n << 7

    def wrap(self):
        if not self.n:
            raise AssertionError()
        self.prog[4] |= (self.n - 1) << 12
        self.wrap_used = True

    def label(self, name):
        if self.pass_ == 0:
            if name in self.labels:
                raise PIOASMError("duplicate label {}".format(name))
            self.labels[name] = self.n

    def word(self, instr, label=None):
        self.n += 1
        if self.pass_:
            addr = 0
            if label is not None:
                if label not in self.labels:
                    raise PIOASMError("unknown label {}".format(label))
                addr = self.labels[label]
            self.prog[0].append(instr | addr)
        return self

    def nop(self):
        return self.word(0xA042)  # mov(y, y)

    def jmp(self, cond, label=None):
        if label is None:
            return self.word(0x0000, cond)
        return self.word(cond << 5, label)

    def wait(self, polarity, src, index):
        # src: gpio (0), pin (the name's value is 6) or irq (the irq function itself)
        if src == 6:
            s = 1
        elif src != 0:
            s = 2
        else:
            s = 0
        return self.word(0x2000 | polarity << 7 | s << 5 | index)

    def in_(self, src, bits):
        if bits <= 0 or bits > 32:
            raise PIOASMError("invalid bit count {}".format(bits))
        return self.word(0x4000 | src << 5 | (bits & 0x1F))

    def out(self, dest, bits):
        if dest == 8:
            dest = 7  # exec
        if bits <= 0 or bits > 32:
            raise PIOASMError("invalid bit count {}".format(bits))
        return self.word(0x6000 | dest << 5 | (bits & 0x1F))

    def push(self, a=0, b=0):
        a |= b
        if not a & 1:
            a |= 0x20  # block unless noblock
        return self.word(0x8000 | (a & 0x60))

    def pull(self, a=0, b=0):
        a |= b
        if not a & 1:
            a |= 0x20
        return self.word(0x8080 | (a & 0x60))

    def mov(self, dest, src):
        if dest == 8:
            dest = 4  # exec
        return self.word(0xA000 | dest << 5 | src)

    def irq(self, mod, index=None):
        if index is None:
            return self.word(0xC000 | mod)
        return self.word(0xC000 | (mod & 0x60) | index)

    def set(self, dest, data):
        return self.word(0xE000 | dest << 5 | data)


def _invert(v):
    return v | 0x08


def _reverse(v):
    return v | 0x10


def _rel(v):
    return v | 0x10


_NAMES = {
    "gpio": 0,
    "pins": 0,
    "x": 1,
    "y": 2,
    "null": 3,
    "pindirs": 4,
    "pc": 5,
    "status": 5,
    "isr": 6,
    "osr": 7,
    "exec": 8,  # out: 7, mov: 4
    "invert": _invert,
    "reverse": _reverse,
    "not_x": 1,
    "x_dec": 2,
    "not_y": 3,
    "y_dec": 4,
    "x_not_y": 5,
    "pin": 6,  # jmp condition; wait source (-> 1)
    "not_osre": 7,
    "noblock": 0x01,
    "block": 0x21,
    "iffull": 0x40,
    "ifempty": 0x40,
    "clear": 0x40,
    "rel": _rel,
}
_DIRECTIVES = ("wrap_target", "wrap", "label")
_INSTRUCTIONS = ("word", "nop", "jmp", "wait", "in_", "out", "push", "pull", "mov", "irq", "set")


def asm_pio(**kw):
    """Decorator: assemble the function body into a PIO program (a list, as the real one)."""
    asm = _Asm(**kw)

    def dec(f):
        g = f.__globals__
        saved = g.copy()
        g.clear()
        try:
            g.update(_NAMES)
            for name in _DIRECTIVES:
                g[name] = getattr(asm, name)
            for name in _INSTRUCTIONS:
                g[name] = getattr(asm, name)
            asm.begin(0)
            f()
            asm.begin(1)
            f()
        finally:
            g.clear()
            g.update(saved)
        return asm.prog

    return dec


def asm_pio_encode(instr, sideset_count, sideset_opt=False):
    """One instruction (a string, e.g. "set(pins, 1)") as its 16-bit word; sideset_count
    includes the enable bit. As the real one: no jmp (labels are unknown here)."""
    asm = _Asm()
    asm.nside_bits = sideset_count
    asm.side_opt = sideset_opt != 0
    asm.delay_max = 31 >> (sideset_count + asm.side_opt)
    asm.pass_ = 1
    g = {}
    g.update(_NAMES)
    for name in _INSTRUCTIONS:
        g[name] = getattr(asm, name)
    g["jmp"] = None
    exec(instr, g)
    if len(asm.prog[0]) != 1:
        raise PIOASMError("expecting exactly 1 instruction")
    return asm.prog[0][0]


# ---------------------------------------------------------------------------------------------
# The hardware model.


def _pin_id(p):
    if isinstance(p, _machine.Pin):
        return p.id
    return int(p)


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def _rev32(v):
    r = 0
    for _ in range(32):
        r = (r << 1) | (v & 1)
        v >>= 1
    return r


_pending = []  # (handler, argument): IRQ handlers to call once the current SM run is over
_draining = False


def _drain():
    global _draining
    if _draining:
        return
    _draining = True
    try:
        while _pending:
            h, arg = _pending.pop(0)
            h(arg)
    finally:
        _draining = False


class _IRQ:
    """What PIO.irq() / StateMachine.irq() return: flags() and trigger() as machine.Pin.irq's."""

    def __init__(self, parent, trigger):
        self.parent = parent  # PIO / StateMachine object passed to the handler
        self.handler = None
        self.trig = trigger
        self.hard = False
        self.fl = 0

    def flags(self):
        return self.fl

    def trigger(self, new=None):
        old = self.trig
        if new is not None:
            self.trig = new
            self.fl = 0
        return old


class _PIOBlock:
    """One PIO block: 32 words of instruction memory, 8 IRQ flags, the pins' output and
    direction registers as the block drives them, four state machines."""

    def __init__(self, idx):
        self.idx = idx
        self.mem = [0] * 32
        self.used = 0
        self.loaded = []  # program objects this block holds (offset in prog[1 + idx])
        self.flags = 0
        self.vals = 0  # pin output levels, bit per GPIO
        self.dirs = 0  # pin directions (1 = output)
        self.inte = 0  # IRQ0_INTE: bits 8..11 = flags 0..3
        self.pio_irq = None
        self.sms = [_SM(self, i) for i in range(4)]

    # -- programs --
    def add(self, prog):
        data = prog[0]
        n = len(data)
        mask = (1 << n) - 1
        off = -1
        for o in range(32 - n, -1, -1):  # the SDK works down from the top
            if not self.used & (mask << o):
                off = o
                break
        if off < 0:
            raise OSError(12)  # ENOMEM
        for i in range(n):
            w = data[i]
            if w >> 13 == 0:  # jmp: relocated by the offset, as pio_add_program does
                w += off
            self.mem[off + i] = w & 0xFFFF
        self.used |= mask << off
        prog[1 + self.idx] = off
        self.loaded.append(prog)
        return off

    def holds(self, prog):
        for p in self.loaded:
            if p is prog:
                return True
        return False

    def remove(self, prog=None):
        if prog is None:
            self.used = 0
            for p in self.loaded:
                p[1 + self.idx] = -1
            self.loaded = []
            return
        off = prog[1 + self.idx]
        if off < 0 or not self.holds(prog):
            raise ValueError("prog not in instruction memory")
        self.used &= ~(((1 << len(prog[0])) - 1) << off)
        prog[1 + self.idx] = -1
        self.loaded = [p for p in self.loaded if p is not prog]

    # -- pins --
    def write(self, base, count, v, dirs):
        """`count` bits of v to pins base.. (mod 32): levels, or directions when dirs."""
        for i in range(count):
            p = (base + i) & 31
            b = (v >> i) & 1
            if dirs:
                if (self.dirs >> p) & 1 != b:
                    self.dirs ^= 1 << p
                    self.pad(p)
            elif (self.vals >> p) & 1 != b:
                self.vals ^= 1 << p
                if (self.dirs >> p) & 1:
                    self.pad(p)

    def pad(self, p):
        if (self.dirs >> p) & 1:
            _world.pad_out(p, self, (self.vals >> p) & 1)
        else:
            _world.pad_out(p, self, None)

    def init_pins(self, base, count, init):
        """The out/set/sideset pins of an init: their init levels and directions, then the
        pads are handed to this block (gpio_set_function(PIO))."""
        if base < 0 or not count:
            return
        for i in range(count):
            if isinstance(init, int):
                v = init
            else:
                v = init[i]
            p = (base + i) & 31
            bit = 1 << p
            self.vals = (self.vals & ~bit) | ((v & 1) << p)
            self.dirs = (self.dirs & ~bit) | (((v >> 1) & 1) << p)
        for i in range(count):
            p = (base + i) & 31
            lvl = (self.vals >> p) & 1 if (self.dirs >> p) & 1 else None
            _world.claim(p, self, lvl)

    # -- IRQ flags --
    def set_flag(self, i, src):
        bit = 1 << i
        if self.flags & bit:
            return
        self.flags |= bit
        if i < 4 and self.inte & (0x100 << i):
            # IRQ0: the port's handler acknowledges the flag and calls the Python handlers
            self.flags &= ~bit
            ints = 0x100 << i
            pi = self.pio_irq
            if pi is not None and pi.handler is not None and ints & pi.trig:
                pi.fl = ints & pi.trig
                _pending.append((pi.handler, pi.parent))
            sm = self.sms[i]
            si = sm.irq_obj
            if si is not None and si.handler is not None and si.trig & 1:
                si.fl = 1
                _pending.append((si.handler, si.parent))
        self.flags_changed(src)

    def clear_flag(self, i, src):
        bit = 1 << i
        if self.flags & bit:
            self.flags &= ~bit
            self.flags_changed(src)

    def flags_changed(self, src):
        # src: the SM whose current cycle changed them, or None (the CPU, now)
        if src is not None and not src.active:
            src = None  # exec() on a disabled SM: the CPU, now
        for sm in self.sms:
            if sm is not src and sm.stalled and sm.active:
                sm.wake_after(src)


class _SM:
    """One state machine's registers, FIFOs, configuration and place in time."""

    def __init__(self, pio, idx):
        self.pio = pio
        self.idx = idx
        self.id = pio.idx * 4 + idx
        self.irq_obj = None
        self.armed = False  # VClock device protocol
        self.due_us = 0
        self.clock = None
        self.active = False
        self.steps = 0  # instructions (and fast-forwarded loops) executed one by one
        self.fires = 0
        self.toff = 0
        self.tnow = 0
        self.ticknow = 0
        self.later = -1  # cycle from which the oldest TX word (put meanwhile) is visible
        self.tx = [0] * 8
        self.txt = [0] * 8  # tick (VClock ticks_us) each TX word was put
        self.rx = [0] * 8
        self._defaults()
        self.pc = 0
        self.x = 0
        self.y = 0
        self.osr = 0
        self._restart_state()
        self.ep = 0
        self.c = 0
        self._timebase(1, 0)

    def _defaults(self):
        self.prog = None
        self.offset = 0
        self.wrap_top = 31
        self.wrap_bot = 0
        self.side_en = 0
        self.side_pindir = 0
        self.jmp_pin = 0
        self.status_sel = 0
        self.status_n = 0
        self.in_right = 0
        self.out_right = 0
        self.autopush = 0
        self.autopull = 0
        self.push_th = 32
        self.pull_th = 32
        self.in_base = 0
        self.out_base = 0
        self.out_count = 0
        self.set_base = 0
        self.set_count = 0
        self.ss_base = 0
        self.ss_count = 0  # PINCTRL_SIDESET_COUNT: includes the enable bit
        self.ss_bits = 0
        self.ss_mask = 0
        self.dl_mask = 31
        self.txcap = 4
        self.rxcap = 4
        self.txh = 0
        self.txn = 0
        self.rxh = 0
        self.rxn = 0
        self.visible = [1] * 32

    def _restart_state(self):
        # SM_RESTART: shift counters, ISR, delay, IRQ wait, stalled exec (not PC, OSR, X, Y)
        self.isr = 0
        self.isc = 0
        self.osc = 32
        self.ex = -1  # instruction to run instead of mem[pc] (OUT/MOV EXEC, exec())
        self.st = 0
        self.st_irq = 0
        self.st_dl = 0
        self.st_mem = True
        self.stalled = False
        self.parked = False
        self.snap = None
        self.wake = False
        self.wake_tick = 0

    def _timebase(self, div_int, div_frac):
        self.div_int = div_int
        self.div_frac = div_frac
        d256 = div_int * 256 + div_frac
        if d256 == 0 or div_int == 0:
            d256 = 65536 * 256  # clkdiv 0 is 65536
        self.num = d256 * 1000000
        self.den = 256 * _world.freq
        g = _gcd(self.num, self.den)
        self.num //= g
        self.den //= g
        self.g = self.den  # cycles per whole number of µs (rebasing step)

    # -- configuration (StateMachine.init) --
    def init(
        self,
        prog,
        freq=-1,
        *,
        in_base=None,
        out_base=None,
        set_base=None,
        jmp_pin=None,
        sideset_base=None,
        in_shiftdir=None,
        out_shiftdir=None,
        push_thresh=None,
        pull_thresh=None,
    ):
        if len(prog) != 9:
            raise ValueError("requested length 9 but object has length %d" % len(prog))
        pio = self.pio
        off = prog[1 + pio.idx]
        if off < 0 or not pio.holds(prog):
            off = pio.add(prog)
        sys_hz = _world.freq
        if freq < 0:
            di, df = 1, 0
        elif freq == 0:
            di, df = 0, 0
        else:
            div = sys_hz * 256 // freq
            if div < 256 or div > 65536 * 256:
                raise ValueError("freq out of range")
            di, df = div // 256, div & 0xFF
        # pio_sm_init: disabled, configured, FIFOs cleared, restarted, jmp to the program
        if self.active:
            self._sync(self._now(), True)
        self.active = False
        self.armed = False
        self._defaults()
        self.prog = prog
        self.offset = off
        self._timebase(di & 0xFFFF, df)
        execctrl = (prog[4] & _M32) + (off << 12) + (off << 7)
        shiftctrl = prog[5] & _M32
        if in_shiftdir is not None:
            shiftctrl = (shiftctrl & ~(1 << 18)) | (in_shiftdir << 18)
        if out_shiftdir is not None:
            shiftctrl = (shiftctrl & ~(1 << 19)) | (out_shiftdir << 19)
        # The port ORs the value in unmasked: push_thresh=32 also sets PULL_THRESH bit 0.
        if push_thresh is not None:
            shiftctrl = (shiftctrl & ~(0x1F << 20)) | (push_thresh << 20)
        if pull_thresh is not None:
            shiftctrl = (shiftctrl & ~(0x1F << 25)) | (pull_thresh << 25)
        shiftctrl &= _M32
        self.execctrl = execctrl
        self.shiftctrl = shiftctrl
        self.side_en = (execctrl >> 30) & 1
        self.side_pindir = (execctrl >> 29) & 1
        self.wrap_top = (execctrl >> 12) & 31
        self.wrap_bot = (execctrl >> 7) & 31
        self.status_sel = (execctrl >> 4) & 1
        self.status_n = execctrl & 15
        self.autopush = (shiftctrl >> 16) & 1
        self.autopull = (shiftctrl >> 17) & 1
        self.in_right = (shiftctrl >> 18) & 1
        self.out_right = (shiftctrl >> 19) & 1
        self.push_th = ((shiftctrl >> 20) & 31) or 32
        self.pull_th = ((shiftctrl >> 25) & 31) or 32
        join = (shiftctrl >> 30) & 3
        self.txcap = 8 if join == 1 else (0 if join & 2 else 4)
        self.rxcap = 8 if join == 2 else (0 if join & 1 else 4)
        if in_base is not None:
            self.in_base = _pin_id(in_base)
        if jmp_pin is not None:
            self.jmp_pin = _pin_id(jmp_pin)
        out_n, out_b, out_i = self._pins(prog[6], out_base)
        set_n, set_b, set_i = self._pins(prog[7], set_base)
        ss_n, ss_b, ss_i = self._pins(prog[8], sideset_base)
        if out_b >= 0:
            self.out_base = out_b
            self.out_count = out_n
        if set_b >= 0:
            self.set_base = set_b
            self.set_count = set_n
        if ss_b >= 0:
            self.ss_base = ss_b
            self.ss_bits = ss_n
            self.ss_count = ss_n + self.side_en
        n = self.ss_count
        self.ss_mask = (1 << (n - self.side_en)) - 1 if n else 0
        self.dl_mask = (1 << (5 - n)) - 1
        self._restart_state()
        self.pc = off
        self._classify()
        pio.init_pins(out_b, out_n, out_i)
        pio.init_pins(set_b, set_n, set_i)
        pio.init_pins(ss_b, ss_n, ss_i)

    def _pins(self, init, base):
        if init is None:
            n = 0
        elif isinstance(init, int):
            n = 1
        else:
            n = len(init)
        b = -1 if base is None else _pin_id(base)
        return n, b, init

    def _classify(self):
        # 0: nothing outside the SM sees it (may run ahead of time), 1: visible
        mem = self.pio.mem
        vis = self.visible
        ss_always = self.ss_count and not self.side_en
        for a in range(32):
            ins = mem[a]
            op = ins >> 13
            v = 1
            if ss_always or (self.ss_count and (ins >> 12) & 1) or self.autopull:
                v = 1
            elif op == 0:
                v = 1 if (ins >> 5) & 7 == 6 else 0  # jmp pin
            elif op == 2:
                v = 1 if ((ins >> 5) & 7 == 0 or self.autopush) else 0  # in pins
            elif op == 3:
                d = (ins >> 5) & 7
                v = 1 if d == 0 or d == 4 or d == 7 else 0  # out pins/pindirs/exec
            elif op == 5:
                d = (ins >> 5) & 7
                s = ins & 7
                v = 1 if d == 0 or d == 4 or s == 0 or s == 5 else 0  # pins, exec, status
            elif op == 7:
                d = (ins >> 5) & 7
                v = 1 if d == 0 or d == 4 else 0  # set pins/pindirs
            vis[a] = v

    # -- time --
    def _now(self):
        return _world.clock.now_us_abs()

    def _us(self, c):
        return self.ep + c * self.num // self.den

    def _cmax(self, t):
        # the last cycle that falls in µs <= t
        return ((t - self.ep + 1) * self.den - 1) // self.num

    def _cyc_ge(self, t):
        # the first cycle that falls in µs >= t
        return -((self.ep - t) * self.den // self.num)

    def _save(self):
        return [self.pc, self.x, self.y, self.isr, self.osr, self.isc, self.osc, self.c]

    def _restore(self, s):
        self.pc, self.x, self.y, self.isr, self.osr, self.isc, self.osc, self.c = s

    def _sync(self, t, exact):
        """Run every cycle that falls in µs <= t. exact: also undo any run-ahead past t (the
        CPU is about to change the SM's state)."""
        if not self.active:
            return
        if self.wake:
            self._take_wake(t)
        cm = self._cmax(t)
        if exact and self.snap is not None and self.c - 1 > cm:
            self._restore(self.snap)
            self.snap = None
            self.parked = False
        self._run(cm, False, t)

    def _take_wake(self, t):
        # a CPU action at wake_tick (possibly during hold_devices) woke a stalled SM
        self.wake = False
        if self.stalled:
            clk = self.clock
            at = t + _ticks_diff(self.wake_tick, clk.ticks_us())
            c = self._cyc_ge(at + 1)
            self.c = c if c > self.c + 1 else self.c + 1
            self.stalled = False

    def poke(self):
        """The CPU changed what a stalled SM waits for: it retries from the next µs."""
        if self.stalled and self.active and not self.wake:
            self.wake = True
            self.wake_tick = self.clock.ticks_us()
            self.due_us = self.wake_tick
            self.armed = True

    def wake_after(self, src):
        """Another SM (src, at its current cycle) or the CPU (None, now) changed the IRQ flags
        this stalled SM may wait for: it retries at its first cycle after that instant."""
        if src is None:
            c = self._cyc_ge(self._now() + 1)
        else:
            x = ((src.ep - self.ep) * src.den + src.c * src.num) * self.den
            c = x // (src.den * self.num) + 1
        self.c = c if c > self.c + 1 else self.c + 1
        self.stalled = False
        self._arm()

    def fire(self):
        self.fires += 1
        t = self.clock.now_us_abs()
        if self.wake:
            self._take_wake(t)
        self._run(self._cmax(t), True, t)
        self._arm()
        if _pending:
            _drain()

    def _arm(self):
        if not self.active or self.parked or self.stalled:
            self.armed = False
            return
        clk = self.clock
        # rebase the epoch on a whole µs to keep the numbers small
        g = self.g
        if self.c >= g:
            k = (self.c // g) * g
            self.ep += k * self.num // self.den
            self.c -= k
            if self.snap is not None:
                self.snap[7] -= k
        now = clk.now_us_abs()
        d = self._us(self.c) - now
        if d < 0:
            d = 0
        elif d > _AHEAD_MAX:
            d = _AHEAD_MAX
        self.due_us = clk.ticks_add(clk.ticks_us(), d)
        self.armed = True

    def _run(self, cmax, ahead, t):
        """Execute the cycles <= cmax; ahead: then run ahead through invisible instructions."""
        self.parked = False
        if self.stalled:
            return  # nothing to do until woken (poke, wake_after)
        self.tnow = t  # for the FIFO time stamps (VClock ticks)
        self.ticknow = self.clock.ticks_us()
        self.toff = self.ticknow - t
        vis = self.visible
        snap = self.snap
        if snap is not None and self.c - 1 <= cmax:
            self.snap = snap = None  # everything run ahead is now in the past
        n = 0
        while True:
            if self.c <= cmax:
                r = self._step(cmax)
            else:
                if not ahead or self.st or self.ex >= 0 or vis[self.pc]:
                    break
                if n >= _RUN_AHEAD_MAX:
                    break
                n += 1
                if snap is None:
                    self.snap = snap = self._save()
                r = self._step(_FAR)
            if r:
                break

    # -- FIFOs --
    def _tx_take(self):
        self.later = -1
        if not self.txn:
            return None
        h = self.txh
        if self.active:
            # put at tick s is seen from the SM's first cycle in the next µs on (this matters
            # when the SM catches up after hold_devices: it was put "later" than now)
            itick = (self._us(self.c) + self.toff) & _TICKS_MASK
            if _ticks_diff(self.txt[h], itick) >= 0:
                at = self.tnow + _ticks_diff(self.txt[h], self.ticknow)
                self.later = self._cyc_ge(at + 1)
                return None
        self.txh = (h + 1) & 7
        self.txn -= 1
        return self.tx[h]

    def _rx_put(self, v):
        if self.rxn >= self.rxcap:
            return False
        self.rx[(self.rxh + self.rxn) & 7] = v
        self.rxn += 1
        return True

    def _stall(self):
        self.stalled = True
        return 1

    def _tx_wait(self):
        # a blocking read of an empty TX FIFO: stall, or (a word put meanwhile, not yet seen)
        # retry from the cycle that sees it
        if self.later < 0:
            return self._stall()
        self.c = self.later if self.later > self.c else self.c + 1
        return 0

    def _irq_index(self, idx):
        i = idx & 7
        if idx & 0x10:
            i = (i & 4) | ((i + self.idx) & 3)
        return i

    def _in_pins(self, n):
        pad = _world.pad
        b = self.in_base
        v = 0
        for i in range(n):
            v |= pad((b + i) & 31) << i
        return v

    def _source(self, s, n):
        # IN / MOV sources (s 4 is reserved, 5 is STATUS for MOV only)
        if s == 1:
            return self.x
        if s == 2:
            return self.y
        if s == 6:
            return self.isr
        if s == 7:
            return self.osr
        if s == 0:
            return self._in_pins(n)
        if s == 5:
            lvl = self.rxn if self.status_sel else self.txn
            return _M32 if lvl < self.status_n else 0
        return 0

    # -- one instruction --
    def _step(self, cb):
        """Execute the current instruction at cycle self.c (cb: the last cycle a fast-forward
        may reach). 0: go on, 1: stalled, 2: parked in an endless invisible loop."""
        self.steps += 1
        ex = self.ex
        if self.st and (ex < 0 or not self.st_mem):
            return self._phase()  # (an exec() meanwhile runs first, then this)
        from_mem = ex < 0
        ins = self.pio.mem[self.pc] if from_mem else ex
        f = (ins >> 8) & 0x1F
        nss = self.ss_count
        side = False
        if nss:
            if not self.side_en or f & 0x10:
                side = True
                self.pio.write(
                    self.ss_base, self.ss_bits, (f >> (5 - nss)) & self.ss_mask, self.side_pindir
                )
            dl = f & self.dl_mask
        else:
            dl = f
        op = ins >> 13
        jump = -1
        newex = -1
        if op == 0:  # JMP
            cond = (ins >> 5) & 7
            tgt = ins & 0x1F
            if cond == 2 or cond == 4:  # x--, y--: taken if non-zero before the decrement
                v = self.x if cond == 2 else self.y
                if v and from_mem and not side and tgt == self.pc:
                    # a countdown loop on itself: all iterations up to cb in one step
                    ln = dl + 1
                    k = (cb - self.c) // ln + 1
                    if k > v:
                        k = v
                    if cond == 2:
                        self.x = v - k
                    else:
                        self.y = v - k
                    self.c += k * ln
                    return 0
                if cond == 2:
                    self.x = (v - 1) & _M32
                else:
                    self.y = (v - 1) & _M32
                take = v != 0
            elif cond == 0:
                take = True
            elif cond == 1:
                take = self.x == 0
            elif cond == 3:
                take = self.y == 0
            elif cond == 5:
                take = self.x != self.y
            elif cond == 6:
                take = _world.pad(self.jmp_pin) == 1
            else:
                take = self.osc < self.pull_th  # !OSRE
            if take:
                if from_mem and not side and tgt == self.pc:
                    # jumping to itself with nothing changing: idle until cb (or for good)
                    if cb >= _FAR:
                        self.steps -= 1
                        self.parked = True
                        return 2
                    ln = dl + 1
                    self.c += ((cb - self.c) // ln + 1) * ln
                    return 0
                jump = tgt
        elif op == 1:  # WAIT
            pol = (ins >> 7) & 1
            src = (ins >> 5) & 3
            idx = ins & 0x1F
            if src == 2:
                i = self._irq_index(idx)
                if (self.pio.flags >> i) & 1 != pol:
                    return self._stall()
                if pol:
                    self.pio.clear_flag(i, self)
            elif src != 3:
                p = idx if src == 0 else (self.in_base + idx) & 31
                if _world.pad(p) != pol:
                    # poll: a pin changes on a µs boundary; retry in the next µs
                    c = self.c + 1
                    self.c = cb + 1 if cb + 1 > c else c
                    return 0
        elif op == 2:  # IN
            n = ins & 0x1F or 32
            v = self._source((ins >> 5) & 7, n) & ((1 << n) - 1)
            if self.in_right:
                self.isr = ((self.isr >> n) | (v << (32 - n))) & _M32
            else:
                self.isr = ((self.isr << n) | v) & _M32
            c = self.isc + n
            self.isc = 32 if c > 32 else c
            if self.autopush and self.isc >= self.push_th:
                if not self._rx_put(self.isr):
                    self.st = _ST_PUSH
                    self.st_dl = dl
                    self.st_mem = from_mem
                    return self._stall()
                self.isr = 0
                self.isc = 0
        elif op == 3:  # OUT
            if self.autopull and self.osc >= self.pull_th:
                w = self._tx_take()
                if w is None:
                    return self._tx_wait()
                self.osr = w
                self.osc = 0
                self.c += 1  # refilled: the OUT itself runs on the next cycle
                return 0
            n = ins & 0x1F or 32
            osr = self.osr
            if self.out_right:
                v = osr & ((1 << n) - 1)
                osr >>= n
            else:
                v = osr >> (32 - n)
                osr = (osr << n) & _M32
            self.osr = osr
            c = self.osc + n
            self.osc = 32 if c > 32 else c
            d = (ins >> 5) & 7
            if d == 1:
                self.x = v
            elif d == 2:
                self.y = v
            elif d == 0:
                self.pio.write(self.out_base, self.out_count, v, False)
            elif d == 4:
                self.pio.write(self.out_base, self.out_count, v, True)
            elif d == 5:
                jump = v & 31
            elif d == 6:
                self.isr = v
                self.isc = n
            elif d == 7:
                newex = v & 0xFFFF
            if self.autopull and self.osc >= self.pull_th:
                w = self._tx_take()
                if w is not None:
                    self.osr = w
                    self.osc = 0
        elif op == 4:
            if ins & 0x80:  # PULL
                if (ins & 0x40 or self.autopull) and self.osc < self.pull_th:
                    pass  # ifempty / autopull with the OSR not yet empty: no-op
                else:
                    w = self._tx_take()
                    if w is None:
                        if ins & 0x20:
                            return self._tx_wait()
                        w = self.x  # noblock on an empty FIFO: OSR = X
                    self.osr = w
                    self.osc = 0
            else:  # PUSH
                if ins & 0x40 and self.isc < self.push_th:
                    pass  # iffull below the threshold: no-op
                else:
                    if not self._rx_put(self.isr) and ins & 0x20:
                        return self._stall()
                    # pushed, or dropped (noblock, RX full): ISR cleared either way
                    self.isr = 0
                    self.isc = 0
        elif op == 5:  # MOV
            v = self._source(ins & 7, 32)
            o = (ins >> 3) & 3
            if o == 1:
                v ^= _M32
            elif o == 2:
                v = _rev32(v)
            d = (ins >> 5) & 7
            if d == 1:
                self.x = v
            elif d == 2:
                self.y = v
            elif d == 0:
                self.pio.write(self.out_base, self.out_count, v, False)
            elif d == 7:
                self.osr = v
                self.osc = 0
            elif d == 6:
                self.isr = v
                self.isc = 0
            elif d == 5:
                jump = v & 31
            elif d == 4:
                newex = v & 0xFFFF
        elif op == 6:  # IRQ
            i = self._irq_index(ins & 0x1F)
            if ins & 0x40:
                self.pio.clear_flag(i, self)
            else:
                self.pio.set_flag(i, self)
                if ins & 0x20 and (self.pio.flags >> i) & 1:
                    self.st = _ST_IRQW
                    self.st_irq = i
                    self.st_dl = dl
                    self.st_mem = from_mem
                    return self._stall()
        else:  # SET
            d = (ins >> 5) & 7
            v = ins & 0x1F
            if d == 1:
                self.x = v
            elif d == 2:
                self.y = v
            elif d == 0:
                self.pio.write(self.set_base, self.set_count, v, False)
            elif d == 4:
                self.pio.write(self.set_base, self.set_count, v, True)
        # completed
        if newex >= 0:
            self.c += 1  # OUT/MOV EXEC: its own delay is ignored
        else:
            self.c += 1 + dl
        self.ex = newex
        if jump >= 0:
            self.pc = jump
        elif from_mem:
            pc = self.pc
            self.pc = self.wrap_bot if pc == self.wrap_top else (pc + 1) & 31
        if self.autopull and op != 3 and self.osc >= self.pull_th:
            w = self._tx_take()  # background refill between OUTs
            if w is not None:
                self.osr = w
                self.osc = 0
        return 0

    def _phase(self):
        # the second half of an instruction that stalled after doing its first half
        if self.st == _ST_PUSH:
            if not self._rx_put(self.isr):
                return self._stall()
            self.isr = 0
            self.isc = 0
        elif (self.pio.flags >> self.st_irq) & 1:
            return self._stall()
        self.st = 0
        self.c += 1 + self.st_dl
        if self.st_mem:
            pc = self.pc
            self.pc = self.wrap_bot if pc == self.wrap_top else (pc + 1) & 31
        else:
            self.ex = -1
        return 0

    # -- CPU side --
    def cpu_sync(self, exact=False):
        """Bring the SM to now before the CPU looks at it (not under hold_devices: nothing
        runs then; the FIFOs show what they held when the hold began)."""
        if self.active and not self.clock.hold_devices:
            self._sync(self._now(), exact)
            self._arm()
            if _pending:
                _drain()

    def set_active(self, on):
        clk = _world.clock
        if on and not self.active:
            if self.prog is None:
                raise ValueError("StateMachine not initialised")  # (the fake's own check)
            self.clock = clk
            if self not in clk.devices:
                clk.devices.append(self)
            self.active = True
            self.ep = clk.now_us_abs() + 1
            self.c = 0
            self.stalled = False
            self.parked = False
            self.snap = None
            self.wake = False
            self._arm()
        elif not on and self.active:
            self.cpu_sync(True)
            self.active = False
            self.armed = False
            self.snap = None

    def restart(self):
        self.cpu_sync(True)
        self._restart_state()
        self.pc = self.offset
        if self.active:
            self.c = self._cyc_ge(self._now() + 1)
            self._arm()

    def cpu_exec(self, ins):
        if not self.active:
            # a disabled SM executes it at once (a stall latches it until enabled)
            self.clock = _world.clock
            self.ex = ins
            self.stalled = False
            self.toff = 0
            self._step(_FAR)
            self.stalled = False
            if _pending:
                _drain()
            return
        self.cpu_sync(True)
        c = self._cyc_ge(self._now() + 1)
        if self.stalled:
            self.stalled = False
            if c < self.c + 1:
                c = self.c + 1
        if c > self.c:
            self.c = c
        self.ex = ins
        self._arm()

    def put_word(self, v):
        clk = _world.clock
        if self.txn >= self.txcap:
            self._cpu_wait(self._tx_room, "put")
        self.tx[(self.txh + self.txn) & 7] = v
        self.txt[(self.txh + self.txn) & 7] = clk.ticks_us()
        self.txn += 1
        if self.stalled:
            self.poke()

    def _tx_room(self):
        return self.txn < self.txcap

    def _rx_data(self):
        return self.rxn > 0

    def get_word(self):
        if not self.rxn:
            self._cpu_wait(self._rx_data, "get")
        h = self.rxh
        v = self.rx[h]
        self.rxh = (h + 1) & 7
        self.rxn -= 1
        if self.stalled:
            self.poke()
        return v

    def _cpu_wait(self, ready, what):
        # the CPU spins: virtual time passes, to the next event of any device or timer
        clk = _world.clock
        waited = 0
        while not ready():
            if waited >= _CPU_WAIT_MAX_US:
                raise RuntimeError(
                    "StateMachine.%s would block forever (10 s of virtual time)" % what
                )
            d = _next_event_us(clk)
            clk.advance(d)
            waited += d
            if clk.hold_devices and self.active:
                self.fire()
            else:
                self.cpu_sync()


def _next_event_us(clk):
    best = 1000
    now = clk.ticks_us()
    lists = (clk.timers,) if clk.hold_devices else (clk.timers, clk.devices)
    for lst in lists:
        for t in lst:
            if t.armed:
                d = _ticks_diff(t.due_us, now)
                if d < 1:
                    d = 1
                if d < best:
                    best = d
    return best


_blocks = []
_blocks_clock = None


def _block(i):
    global _blocks, _blocks_clock
    if _blocks_clock is not _world.clock:
        # a new virtual board (machine.world.reset): the PIO blocks come up from reset
        _blocks = [_PIOBlock(0), _PIOBlock(1)]
        _blocks_clock = _world.clock
    return _blocks[i]


def core(sm_id):
    """The fake's state of StateMachine(sm_id) (registers pc x y isr osr isc osc, FIFOs, steps,
    fires): for tests and the simulator; not in the real module."""
    return _block(sm_id >> 2).sms[sm_id & 3]


_NOARG = object()


class PIO:
    IN_LOW = 0
    IN_HIGH = 1
    OUT_LOW = 2
    OUT_HIGH = 3
    SHIFT_LEFT = 0
    SHIFT_RIGHT = 1
    JOIN_NONE = 0
    JOIN_TX = 1
    JOIN_RX = 2
    IRQ_SM0 = 0x100
    IRQ_SM1 = 0x200
    IRQ_SM2 = 0x400
    IRQ_SM3 = 0x800

    def __init__(self, id):
        if not 0 <= id < 2:
            raise ValueError("invalid PIO")
        self._id = id
        _block(id)

    def __repr__(self):
        return "PIO(%d)" % self._id

    def __eq__(self, other):
        return isinstance(other, PIO) and other._id == self._id

    def __hash__(self):
        return self._id

    def add_program(self, prog):
        _block(self._id).add(prog)

    def remove_program(self, prog=None):
        _block(self._id).remove(prog)

    def state_machine(self, id, *args, **kw):
        if not 0 <= id < 4:
            raise ValueError("invalid StateMachine")
        return StateMachine(self._id * 4 + id, *args, **kw)

    def irq(self, handler=_NOARG, trigger=_NOARG, hard=_NOARG):
        b = _block(self._id)
        if b.pio_irq is None:
            b.pio_irq = _IRQ(self, 0xF00)
        irq = b.pio_irq
        if handler is not _NOARG or trigger is not _NOARG or hard is not _NOARG:
            irq.handler = None if handler is _NOARG else handler
            irq.trig = 0xF00 if trigger is _NOARG else trigger
            irq.hard = False if hard is _NOARG else bool(hard)
            irq.fl = 0
            if irq.handler is not None:
                b.inte = irq.trig  # as the port: replaces the enables
        return irq


class StateMachine:
    def __init__(self, id, *args, **kw):
        if not 0 <= id < 8:
            raise ValueError("invalid StateMachine")
        self._id = id
        sm = core(id)
        if args or kw:
            sm.init(*args, **kw)

    def __repr__(self):
        return "StateMachine(%d)" % self._id

    def __eq__(self, other):
        return isinstance(other, StateMachine) and other._id == self._id

    def __hash__(self):
        return self._id

    def init(self, *args, **kw):
        core(self._id).init(*args, **kw)

    def active(self, value=None):
        sm = core(self._id)
        if value is not None:
            sm.set_active(bool(value))
        return sm.active

    def restart(self):
        core(self._id).restart()

    def exec(self, instr):
        sm = core(self._id)
        if isinstance(instr, int):
            ins = instr & 0xFFFF
        else:
            ins = asm_pio_encode(instr, sm.ss_count, sm.side_en)
        sm.cpu_exec(ins)

    def put(self, value, shift=0):
        sm = core(self._id)
        sm.cpu_sync()
        # Under hold_devices (a heap-locked control tick) this allocates nothing for a word
        # that is already a 32-bit value: no masking, no iterator.
        if isinstance(value, int):
            if shift:
                value = (value << shift) & _M32
            elif value < 0 or value > _M32:
                value &= _M32
            sm.put_word(value)
            return
        if isinstance(value, list) or isinstance(value, tuple):  # (a tuple of types allocates)
            raise TypeError("can't convert %s to int" % type(value).__name__)
        if _TYPECODES and isinstance(value, array) and value.typecode not in ("B", "H", "I"):
            raise ValueError("unsupported buffer type")
        for i in range(len(value)):
            w = value[i]
            if shift:
                w = (w << shift) & _M32
            elif w < 0 or w > _M32:
                w &= _M32
            sm.put_word(w)

    def get(self, buf=None, shift=0):
        sm = core(self._id)
        sm.cpu_sync()
        if buf is None:
            v = sm.get_word()
            return v >> shift if shift else v
        if isinstance(buf, (list, tuple)):
            raise TypeError("object with buffer protocol required")
        n = len(buf)
        if not n:
            return buf
        if isinstance(buf, bytearray):
            bits = 8
        else:
            if _TYPECODES and isinstance(buf, array) and buf.typecode not in "bBhHiI":
                raise ValueError("unsupported buffer type")
            bits = 8 * (len(bytes(buf)) // n)
        mask = (1 << bits) - 1
        for i in range(n):
            v = (sm.get_word() >> shift) & mask
            try:
                buf[i] = v
            except (OverflowError, ValueError):
                buf[i] = v - (1 << bits)  # a signed buffer: the same bits
        return buf

    def rx_fifo(self):
        sm = core(self._id)
        sm.cpu_sync()
        return sm.rxn

    def tx_fifo(self):
        sm = core(self._id)
        sm.cpu_sync()
        return sm.txn

    def irq(self, handler=_NOARG, trigger=_NOARG, hard=_NOARG):
        sm = core(self._id)
        if sm.irq_obj is None:
            sm.irq_obj = _IRQ(self, 1)
        irq = sm.irq_obj
        if handler is not _NOARG or trigger is not _NOARG or hard is not _NOARG:
            irq.handler = None if handler is _NOARG else handler
            irq.trig = 1 if trigger is _NOARG else trigger
            irq.hard = False if hard is _NOARG else bool(hard)
            irq.fl = 0
            bit = 0x100 << sm.idx
            if irq.handler is None:
                sm.pio.inte &= ~bit
            else:
                sm.pio.inte |= bit
        return irq


def bootsel_button():
    return 0
