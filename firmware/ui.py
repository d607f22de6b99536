# What the client hears and sees: buzzer cues, the status LED, the optional OLED. A client runs a
# whole program by ear: short beep = next stroke, double = new area or side, long = the end.
# Patterns are (freq_hz, on_ms, off_ms) triples built once here, never in the tick.
#
# The OLED (SSD1306 128x64, micropython-lib's driver) shows four text rows of 16 characters on
# pages 0, 2, 4 and 6. Nothing here sends a whole frame: each UI slot (every 5th control tick)
# composes one row into a byte buffer, draws only the characters that changed into the
# driver's frame buffer, and drivers/ssd1306slices.py sends the changed columns: one transfer
# (<= 17 bytes, ~0.4 ms at 400 kHz) per slot while output may play (running, paused), up to a
# page (9 transfers, <= 143 bytes) in the other states. Allocation-free once the strings shown
# are interned (every printable character is, by _CHARS).
from micropython import const

STROKE = ((2400, 60, 0),)
NEW_AREA = ((2400, 60, 90), (2400, 60, 0))
END = ((1800, 700, 0),)
START = ((1800, 80, 40), (2400, 80, 0))
PAUSE = ((1200, 200, 0),)
RESUME = ((2400, 40, 0),)
GEL = ((3000, 40, 60), (2200, 40, 60), (3000, 40, 60), (2200, 40, 0))  # poor contact: add gel
FAULT = ((700, 300, 150), (700, 300, 150), (700, 300, 0))
CLICK = ((3000, 15, 0),)
LIMIT = ((900, 80, 0),)  # level already at its end
POWER_ON = ((1500, 60, 30), (2000, 60, 30), (2600, 80, 0))
POWER_OFF = ((2600, 60, 30), (2000, 60, 30), (1500, 80, 0))
TINGLE = ((2600, 40, 40), (2600, 40, 0))  # find-my-level stored
WARN = ((1000, 120, 80), (1000, 120, 0))  # e.g. sessions too close together

CUES = {
    "stroke": STROKE,
    "new_area": NEW_AREA,
    "end": END,
    "start": START,
    "pause": PAUSE,
    "resume": RESUME,
    "gel": GEL,
    "fault": FAULT,
    "click": CLICK,
    "limit": LIMIT,
    "power_on": POWER_ON,
    "power_off": POWER_OFF,
    "tingle": TINGLE,
    "warn": WARN,
}

# LED colours by state (r, g, b)
_COLOURS = {
    "off": (0, 0, 0),
    "selftest": (16, 16, 16),
    "idle": (0, 24, 0),
    "running": (0, 0, 40),
    "paused": (40, 24, 0),
    "complete": (0, 40, 8),
    "fault": (60, 0, 0),
}
_BLINK_MS = const(250)
_ROWS = const(4)
_COLS = const(16)  # 8 px per character on 128 columns
SLOW_TRANSFERS = const(1)  # bus transfers per UI slot while output may play
FAST_TRANSFERS = const(9)  # one page (addressing + 8 slices) per UI slot otherwise
# One str per printable character (interned: indexing a str then allocates nothing either).
_CHARS = tuple(chr(c) for c in range(32, 127))


class UI:
    def __init__(self, hw):
        self.hw = hw
        self.buzzer = hw.buzzer
        self.led = hw.led
        self.display = hw.display
        self.last_cue = None
        self.cues = 0
        self.listener = None  # f(name): the simulator and the tests hear every cue
        self._state = None
        self._blink = False
        self.app = None  # what the display shows (state, program, step, level ...): the app
        self.pages = None  # the OLED's slice writer (drivers/ssd1306slices.py)
        self._want = bytearray(b" " * (_ROWS * _COLS))  # the rows as composed
        self._shown = bytearray(b" " * (_ROWS * _COLS))  # the rows in the frame buffer
        self._row = 0  # the row composed at the next UI slot
        self._drawing = -1  # a row composed and not yet drawn
        # what each row was composed from (UI._changed): the state and two values
        self._k_st = [None] * _ROWS
        self._k_x = [0] * _ROWS
        self._k_y = [0] * _ROWS
        self._transfers = FAST_TRANSFERS
        if self.display is not None:
            from drivers.ssd1306slices import SliceWriter

            self.pages = SliceWriter(self.display)
        self._blinks = 0  # course pattern: LED blinks left to show (2 per blink: on, off)
        self._blink_rgb = (0, 0, 0)
        self._blink_at = 0

    def cue(self, name):
        self.last_cue = name
        self.cues += 1
        self.buzzer.play(CUES[name])
        if self.listener is not None:
            self.listener(name)

    def show_course(self, blinks, warn, now_ms):
        """Where the client is in a course, on the LED in idle: 1 blink = intensive phase
        (2-3 sessions a week), 2 = weekly, 3 = monthly maintenance; amber = too soon again."""
        self._blinks = 2 * blinks
        self._blink_rgb = (40, 24, 0) if warn else (0, 0, 40)
        self._blink_at = now_ms

    def show_state(self, state):
        if state != self._state:
            was = self._state
            self._blinks = 0
            self._state = state
            c = _COLOURS.get(state, (0, 0, 0))
            self.led.set(c[0], c[1], c[2])
            # the display's share of a UI slot: small while output may play
            busy = state == "running" or state == "paused"
            self._transfers = SLOW_TRANSFERS if busy else FAST_TRANSFERS
            d = self.display
            if d is not None and (state == "off" or was == "off"):
                try:
                    if state == "off":
                        d.poweroff()  # dark in soft-off (the panel keeps its RAM)
                    else:
                        d.poweron()
                except OSError:
                    self._drop()

    def update(self, now_ms, clock):
        self.buzzer.update(now_ms)
        if self._blinks and clock.ticks_diff(now_ms, self._blink_at) >= 0:
            self._blinks -= 1
            self._blink_at = clock.ticks_add(now_ms, _BLINK_MS)
            c = self._blink_rgb if self._blinks % 2 else _COLOURS.get(self._state, (0, 0, 0))
            self.led.set(c[0], c[1], c[2])
        pages = self.pages
        if pages is None or self.app is None or self._state == "off":
            return
        try:
            # One job per UI slot, so a slot stays within the tick budget: a slice of what is
            # drawn goes to the panel, or the row composed last is drawn into the frame buffer,
            # or else the next row is composed, only when what it shows changed (most rows
            # change seldom; the time left once a second)
            if pages.pending():
                pages.step(self._transfers)
            elif self._drawing >= 0:
                self._draw_row(self._drawing)  # composed at the last UI slot
                self._drawing = -1
            else:
                r = self._row
                self._row = r + 1 if r + 1 < _ROWS else 0
                if self._changed(r):
                    self._compose(r)
                    self._drawing = r
        except OSError:
            # A display that stops answering must never stop the treatment loop or the output
            # path; it is dropped and the buzzer/LED carry on.
            self._drop()

    def _drop(self):
        self.display = None
        self.pages = None

    # -- the OLED's rows ------------------------------------------------------------------------
    # @native  (machine code on a board: tools/build_mpy.py)
    def _changed(self, r):
        """True when what row r shows may differ from when it was last composed: the state and
        the two values the row is made of (strings and small ints: compared, never built)."""
        a = self.app
        st = a.state
        s = a.session
        x = y = None
        if st == "fault":
            x = a.fault
        elif s is not None and s.step is not None and (st == "running" or st == "paused"):
            if r == 0:
                x = s.program_id
            elif r == 1:
                x = s.area
                y = s.side
            elif r == 2:
                x = a.level
                y = (s.program.get("duration_ms", 0) - s.on_skin_ms) // 1000
            else:
                sup = a.supervisor
                x = sup.contact
                y = sup.poor_contact
        elif r == 0:
            x = s.program_id if s is not None else a.choice
            y = a.level
        elif r >= 2:
            x = a.course_note
        ks = self._k_st
        kx = self._k_x
        ky = self._k_y
        if ks[r] is st and kx[r] == x and ky[r] == y and (x is None or type(kx[r]) is type(x)):
            return False
        ks[r] = st
        kx[r] = x
        ky[r] = y
        return True

    # @native  (machine code on a board: tools/build_mpy.py)
    def _put(self, at, end, s, skip=0):
        """Characters of s (from index skip) into the composed rows at at..end-1; returns the
        position after the last one written."""
        if s is None:
            return at
        w = self._want
        n = len(s)
        i = skip
        while i < n and at < end:
            c = ord(s[i])
            w[at] = c if 32 <= c < 127 else 63  # '?'
            at += 1
            i += 1
        return at

    # @native  (machine code on a board: tools/build_mpy.py)
    def _num(self, at, end, v, digits):
        """v >= 0 in decimal, at least `digits` digits (zero-padded)."""
        if v < 0:
            v = 0
        n = 1
        t = v
        while t >= 10:
            t //= 10
            n += 1
        if n < digits:
            n = digits
        w = self._want
        i = at + n - 1
        while i >= at:
            if i < end:
                w[i] = 48 + v % 10
            v //= 10
            i -= 1
        return at + n

    def _compose(self, r):
        """Row r of what the display shows now, from the app's state."""
        a = self.app
        w = self._want
        base = r * _COLS
        end = base + _COLS
        for i in range(base, end):
            w[i] = 32
        st = a.state
        if st == "fault":
            if r == 0:
                self._put(base, end, "FAULT")
            elif r == 1:
                self._put(base, end, a.fault)
            elif r == 2:
                self._put(base, end, "long POWER")
            else:
                self._put(base, end, "to clear")
            return
        s = a.session  # a program session or find-my-level (firmware/session.py)
        if s is not None and s.step is not None and (st == "running" or st == "paused"):
            if r == 0:
                self._put(base, end, s.program_id)
                self._put(end - len(st), end, st)
            elif r == 1:
                at = self._put(base, end, s.area)
                self._put(at + 1, end, s.side)
            elif r == 2:
                left = (s.program.get("duration_ms", 0) - s.on_skin_ms) // 1000
                at = self._put(base, end, "L")
                at = self._num(at, end, a.level, 1)
                at = self._num(at + 2, end, left // 60 if left > 0 else 0, 1)
                at = self._put(at, end, ":")
                at = self._num(at, end, left % 60 if left > 0 else 0, 2)
                self._put(at, end, " left")
            else:
                sup = a.supervisor
                if not sup.contact:
                    self._put(base, end, "contact --")
                elif sup.poor_contact:
                    self._put(base, end, "add gel")
                else:
                    self._put(base, end, "contact ok")
            return
        # off, self-test, idle, complete, find-my-level
        if r == 0:
            at = self._put(base, end, s.program_id if s is not None else a.choice)
            at = self._put(at + 2, end, "L")
            self._num(at, end, a.level, 1)
        elif r == 1:
            self._put(base, end, st)
        else:
            self._put(base, end, a.course_note, (r - 2) * _COLS)  # two rows of the course

    # @native  (machine code on a board: tools/build_mpy.py)
    def _draw_row(self, r):
        """The characters of row r that changed into the frame buffer; their columns marked."""
        want = self._want
        shown = self._shown
        d = self.display
        base = r * _COLS
        y = r * 16  # rows on pages 0, 2, 4, 6
        lo = -1
        hi = -1
        for i in range(_COLS):
            c = want[base + i]
            if c != shown[base + i]:
                shown[base + i] = c
                x = i * 8
                d.fill_rect(x, y, 8, 8, 0)
                if c != 32:
                    d.text(_CHARS[c - 32], x, y, 1)
                if lo < 0:
                    lo = i
                hi = i
        if lo >= 0:
            self.pages.mark(r * 2, lo * 8, hi * 8 + 8)

    def silence(self):
        self.buzzer.stop()
