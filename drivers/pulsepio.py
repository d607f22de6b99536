# mypy: disable-error-code="name-defined, call-overload, operator"
# RP2040 PIO pulse engine: the H-bridge legs (POL_A, POL_B) played by a state machine, and the
# output switch (OUT_EN) held by a second one that drops it by itself when the control loop
# goes silent. No Python runs per edge: the CPU describes a period once and the PIO repeats it.
#
# Pulse state machine (1 MHz: one instruction = 1 us; 28 of PIO0's 32 instruction words). It
# holds the phase length P' in ISR and the period's configuration word in X; one period is
#   [phase 1: pins = cfg bits 0-1, P'+3 us][dead: D'+6 us][phase 2: pins = ~cfg, P'+3 us]
#   [rest: R'+6 us]                        (D' > 0, biphasic)
#   [phase 1: P'+3 us][off: R'+10 us]      (D' == 0, monophasic)
# cfg = v | D' << 2 | R' << 9, v = 1 (POL_A) or 2 (POL_B). At each period end it takes the next
# cfg from the TX FIFO, or repeats X when the FIFO is empty (`pull(noblock)`), so a pushed cfg
# takes effect at the next period boundary, exactly there. A zero word (HOLD) makes it stop at
# that boundary with both legs low, push P' to the RX FIFO (the CPU sees the period end), and
# wait for two words (P', the next cfg): the CPU changes the DAC level in that pause, so every
# period is played at one level (a biphasic period balances). A zero word is a small int: the
# hold costs no allocation anywhere.
#
# Deadman state machine (3 kHz: three instructions = 1 ms): owns OUT_EN while the pulses play;
# counts an allowance in ms down and pulls OUT_EN low when it runs out. The loop refills it
# every tick (feed()); a stalled loop loses the output within DEADMAN_MS, in hardware.
import rp2
from micropython import const

from drivers.pulsecfg import HOLD, cfg_word  # noqa: F401 (re-exported: the words it plays)

SM_HZ = const(1000000)
DEADMAN_HZ = const(3000)
DEADMAN_MS = const(9)  # DESIGN 4.5: a stalled loop never leaves the output on for > 10 ms


@rp2.asm_pio(
    out_init=[rp2.PIO.OUT_LOW, rp2.PIO.OUT_LOW],
    out_shiftdir=rp2.PIO.SHIFT_RIGHT,
)
def _pulse():
    pull()
    mov(isr, osr)  # ISR = P'
    pull()
    mov(x, osr)  # X = cfg
    jmp("period")
    label("hold")  # a zero word: tell the CPU, wait for P' and a cfg, legs low
    push()
    pull()
    mov(isr, osr)
    pull()
    mov(x, osr)
    wrap_target()
    label("period")
    mov(pins, x)  # phase 1
    mov(y, isr)
    label("p1")
    jmp(y_dec, "p1")
    mov(pins, null)  # dead time
    mov(osr, x)
    out(null, 2)
    out(y, 7)
    jmp(not_y, "rest")  # monophasic: no second phase
    label("d")
    jmp(y_dec, "d")
    mov(pins, invert(x))  # phase 2: the other leg
    mov(y, isr)
    label("p2")
    jmp(y_dec, "p2")
    mov(pins, null)
    label("rest")
    out(y, 22)
    label("r")
    jmp(y_dec, "r")
    pull(noblock)  # the next cfg, or X again
    mov(x, osr)
    jmp(not_x, "hold")
    wrap()


@rp2.asm_pio(set_init=rp2.PIO.OUT_HIGH)
def _deadman():
    pull()
    mov(x, osr)
    label("count")
    pull(noblock)  # a new allowance from the loop, or what is left
    mov(x, osr)
    jmp(x_dec, "count")
    set(pins, 0)  # silent loop: OUT_EN off
    label("dead")
    jmp("dead")


class PulsePIO:
    """The pulse and deadman state machines on pin objects (POL_A, POL_B consecutive)."""

    deadman_ms = DEADMAN_MS
    # us from handing over P' and the cfg (the last put returns) to the first leg going high:
    # the pull, two movs at 1 MHz and the FIFO's synchroniser; 5 on the sim board's PIO
    lag_us = 5

    def __init__(self, pin_a, pin_b, out_en, sm_id=0, dm_id=4):
        self.pin_a = pin_a
        self.pin_b = pin_b
        self.out_en = out_en
        self._sm = rp2.StateMachine(sm_id)
        self._dm = rp2.StateMachine(dm_id)
        self._allow = self.deadman_ms - 1
        self.running = False
        # the player's per-tick calls go straight to the state machine (bound once: a Python
        # frame per call costs ~15 us on an RP2040)
        sm = self._sm
        self.push = sm.put  # push(buf): the next cfg (a one-word array)
        self.put_int = sm.put  # put_int(v): P', or HOLD (0)
        self.tx_level = sm.tx_fifo  # words not yet taken
        self.acks = sm.rx_fifo  # hold reports waiting
        self.take_ack = sm.get

    def start(self, phase_count, cfg_buf):
        """Load P' and the first cfg (a one-word array) and play from phase 1 now."""
        sm = self._sm
        sm.init(_pulse, freq=SM_HZ, out_base=self.pin_a)
        sm.put(phase_count)
        sm.put(cfg_buf)
        sm.active(1)
        self.running = True

    def arm(self):
        """Hand OUT_EN (already high) to the deadman with a full allowance."""
        dm = self._dm
        dm.init(_deadman, freq=DEADMAN_HZ, set_base=self.out_en)
        self._allow = self.deadman_ms - 1  # n counts down through 0: n + 1 ms
        dm.put(self._allow)
        dm.active(1)

    def feed(self):
        """A full allowance again (each control tick)."""
        if self._dm.tx_fifo() < 4:
            self._dm.put(self._allow)

    def out_en_high(self):
        return self.out_en.value() == 1

    def legs(self):
        """1 POL_A high, 2 POL_B high, 0 neither (3: both, never played)."""
        return self.pin_a.value() | (self.pin_b.value() << 1)

    def stop(self):
        """OUT_EN low first, then both legs low, each pin back to the CPU. Never raises."""
        try:
            self._dm.active(0)
        except Exception:  # noqa: BLE001 (stop must not raise)
            pass
        _release(self.out_en)
        try:
            self._sm.active(0)
        except Exception:  # noqa: BLE001
            pass
        _release(self.pin_a)
        _release(self.pin_b)
        self.running = False


def _release(pin):
    try:
        pin.init(pin.OUT, value=0)
    except Exception:  # noqa: BLE001 (stop must not raise)
        pass
