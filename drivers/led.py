# The status LED: a plain GPIO LED or one WS2812 pixel (MicroPython's neopixel module).


class PinLED:
    def __init__(self, pin):
        self.pin = pin
        self.rgb = (0, 0, 0)
        pin(0)

    def set(self, r, g, b):
        self.rgb = (r, g, b)
        self.pin(1 if (r or g or b) else 0)


class NeoLED:
    def __init__(self, np):
        self.np = np
        self.rgb = (0, 0, 0)
        self.set(0, 0, 0)

    def set(self, r, g, b):
        self.rgb = (r, g, b)
        self.np[0] = self.rgb
        self.np.write()
