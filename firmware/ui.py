# What the client hears and sees: buzzer cues, the status LED, the optional OLED. A client runs a
# whole program by ear: short beep = next stroke, double = new area or side, long = the end.
# Patterns are (freq_hz, on_ms, off_ms) triples built once here, never in the tick.
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
_DISPLAY_MS = const(500)
_BLINK_MS = const(250)


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
        self._next_draw = 0
        self.lines = None  # callable returning the display lines, set by the app
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
            self._blinks = 0
            self._state = state
            c = _COLOURS.get(state, (0, 0, 0))
            self.led.set(c[0], c[1], c[2])

    def update(self, now_ms, clock):
        self.buzzer.update(now_ms)
        if self._blinks and clock.ticks_diff(now_ms, self._blink_at) >= 0:
            self._blinks -= 1
            self._blink_at = clock.ticks_add(now_ms, _BLINK_MS)
            c = self._blink_rgb if self._blinks % 2 else _COLOURS.get(self._state, (0, 0, 0))
            self.led.set(c[0], c[1], c[2])
        if self.display is not None and self.lines is not None:
            if clock.ticks_diff(now_ms, self._next_draw) >= 0:
                self._next_draw = clock.ticks_add(now_ms, _DISPLAY_MS)
                self._draw(self.lines())

    def _draw(self, lines):
        d = self.display
        try:
            d.fill(0)
            y = 0
            for text in lines:
                d.text(text, 0, y)
                y += 10
            d.show()
        except OSError:
            # A display that stops answering must never stop the treatment loop or the output
            # path; it is dropped and the buzzer/LED carry on.
            self.display = None

    def silence(self):
        self.buzzer.stop()
