# The period description the pulse engines play (drivers/pulsepio.py on rp2, pulsermt.py on
# esp32), kept apart from either so that a board never imports the other chip's module. The
# figures are the PIO program's cycle counts; the RMT engine plays the same words.
from micropython import const

PHASE_ADJ = const(3)  # cycles a phase costs beyond its count P'
DEAD_ADJ = const(6)
REST_ADJ = const(6)
MONO_OFF_ADJ = const(10)
R_MAX = const(0x3FFFFF)  # 22-bit rest count: 4.19 s
D_MAX = const(0x7F)
HOLD = const(0)  # the hold word


def cfg_word(pins, phase_us, dead_us, rest_us):
    """The configuration word for one period (off the hot path: may be a big int when the rest
    is over 2 s). pins 1 or 2: the leg of phase 1; dead_us 0: monophasic (rest_us is then the
    off time)."""
    if pins != 1 and pins != 2:
        raise ValueError("pins: 1 or 2")
    if phase_us <= PHASE_ADJ:
        raise ValueError("phase_us: too short for the PIO")
    if dead_us:
        d = dead_us - DEAD_ADJ
        r = rest_us - REST_ADJ
        if d < 1 or d > D_MAX:
            raise ValueError("dead_us: outside the PIO's range")
    else:
        d = 0
        r = rest_us - MONO_OFF_ADJ
    if r < 0 or r > R_MAX:
        raise ValueError("rest_us: outside the PIO's range")
    return pins | (d << 2) | (r << 9)
