# A fake `neopixel` module (one WS2812 status LED on the pico/esp32 boards).


class NeoPixel:
    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.buf = [(0, 0, 0)] * n
        self.writes = 0

    def __setitem__(self, i, v):
        self.buf[i] = v

    def __getitem__(self, i):
        return self.buf[i]

    def __len__(self):
        return self.n

    def fill(self, v):
        for i in range(self.n):
            self.buf[i] = v

    def write(self):
        self.writes += 1
