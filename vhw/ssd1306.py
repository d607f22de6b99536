# The SSD1306 OLED for the virtual board, both sides of the bus:
# - SSD1306Model: the chip at 0x3C on the fake I2C bus (vhw/stage.py attaches it when the board
#   file has DISPLAY_ADDR). It takes the command/data stream as a real SSD1306 does: a control
#   byte (0x00 command stream, 0x80 one command, 0x40 data stream, 0xC0 one data byte), the
#   multi-byte commands the driver sends, horizontal addressing with the column/page window
#   (0x21/0x22) and auto-increment, display on/off (0xAF/0xAE). `ram` is what the panel shows;
#   `bytes_in` / `transfers` count what came over the bus.
# - SSD1306_I2C: micropython-lib's driver (micropython/drivers/display/ssd1306, installed with
#   mip on a board) for the host, where there is neither that module nor framebuf: the same
#   constructor, attributes (i2c, addr, buffer, width, height, pages) and methods, the same bytes
#   on the bus, and a MONO_VLSB frame buffer with fill/fill_rect/pixel/text. Its font is not
#   framebuf's (a fixed pattern per character): what is drawn where is what matters here.
#   vhw.install registers this module as `ssd1306`.
# Runs on CPython and on MicroPython; text()/fill_rect() allocate nothing (the app's UI slot
# runs them under heap_lock in the VM tests).

_ARGS = {0x20: 1, 0x21: 2, 0x22: 2, 0x81: 1, 0xA8: 1, 0xD3: 1, 0xDA: 1, 0xD5: 1, 0xD9: 1}
_ARGS.update({0xDB: 1, 0x8D: 1, 0xAD: 1})


class SSD1306Model:
    def __init__(self, bus, addr, world, width=128, height=64):
        self.nack = False
        self.width = width
        self.pages = height // 8
        self.ram = bytearray(width * self.pages)
        self.on = False
        self.bytes_in = 0
        self.transfers = 0
        self.commands = 0
        self.col0 = 0
        self.col1 = width - 1
        self.page0 = 0
        self.page1 = self.pages - 1
        self.col = 0
        self.page = 0
        self._cmd = -1  # a command waiting for its arguments
        self._args = bytearray(4)
        self._nargs = 0
        self._stream = -1  # after a lone control byte (writevto): the mode of what follows
        world.i2c[bus * 256 + addr] = self

    # -- the bus side (vhw.machine.I2C) --
    def write(self, buf):
        n = len(buf)
        self.bytes_in += n
        if self._stream >= 0:
            # writevto([b"\x40", data]): the data continues the transfer the control byte began
            mode = self._stream
            self._stream = -1
            self._bytes(mode, buf, 0)
            return
        self.transfers += 1
        if n == 0:
            return
        ctrl = buf[0]
        if n == 1:
            self._stream = ctrl & 0x40  # a lone control byte: the next write is its payload
            return
        self._bytes(ctrl, buf, 1)

    def _bytes(self, ctrl, buf, i):
        n = len(buf)
        while i < n:
            if ctrl & 0x40:
                self._data(buf[i])
            else:
                self._command(buf[i])
            i += 1
            if ctrl & 0x80 and i < n:  # Co=1: one byte, then another control byte
                ctrl = buf[i]
                i += 1

    def read_into(self, buf):
        for i in range(len(buf)):
            buf[i] = 0x43 if self.on else 0x03  # status: display on/off

    def _command(self, b):
        # allocation-free: the firmware's UI slot runs this under heap_lock in the VM tests
        if self._cmd >= 0:
            self._args[self._nargs] = b
            self._nargs += 1
            if self._nargs >= _ARGS[self._cmd]:
                self._run(self._cmd, self._args)
                self._cmd = -1
            return
        self.commands += 1
        if b in _ARGS:
            self._cmd = b
            self._nargs = 0
        elif b == 0xAE:
            self.on = False
        elif b == 0xAF:
            self.on = True

    def _run(self, cmd, args):
        if cmd == 0x21:
            self.col0 = args[0] % self.width
            self.col1 = args[1] % self.width
            self.col = self.col0
        elif cmd == 0x22:
            self.page0 = args[0] % self.pages
            self.page1 = args[1] % self.pages
            self.page = self.page0

    def _data(self, b):
        self.ram[self.page * self.width + self.col] = b
        if self.col >= self.col1:
            self.col = self.col0
            self.page = self.page0 if self.page >= self.page1 else self.page + 1
        else:
            self.col += 1

    def page_bytes(self, page):
        return bytes(self.ram[page * self.width : (page + 1) * self.width])


class SSD1306_I2C:
    def __init__(self, width, height, i2c, addr=0x3C, external_vcc=False):
        self.i2c = i2c
        self.addr = addr
        self.temp = bytearray(2)
        self.write_list = [b"\x40", None]
        self.width = width
        self.height = height
        self.external_vcc = external_vcc
        self.pages = height // 8
        self.buffer = bytearray(self.pages * width)
        self.init_display()

    # -- micropython-lib's SSD1306 --
    def init_display(self):
        for cmd in (
            0xAE,
            0x20,
            0x00,
            0x40,
            0xA1,
            0xA8,
            self.height - 1,
            0xC8,
            0xD3,
            0x00,
            0xDA,
            0x02 if self.width > 2 * self.height else 0x12,
            0xD5,
            0x80,
            0xD9,
            0x22 if self.external_vcc else 0xF1,
            0xDB,
            0x30,
            0x81,
            0xFF,
            0xA4,
            0xA6,
            0xAD,
            0x30,
            0x8D,
            0x10 if self.external_vcc else 0x14,
            0xAF,
        ):
            self.write_cmd(cmd)
        self.fill(0)
        self.show()

    def poweroff(self):
        self.write_cmd(0xAE)

    def poweron(self):
        self.write_cmd(0xAF)

    def contrast(self, contrast):
        self.write_cmd(0x81)
        self.write_cmd(contrast)

    def invert(self, invert):
        self.write_cmd(0xA6 | (invert & 1))

    def show(self):
        for cmd in (0x21, 0, self.width - 1, 0x22, 0, self.pages - 1):
            self.write_cmd(cmd)
        self.write_data(self.buffer)

    def write_cmd(self, cmd):
        self.temp[0] = 0x80
        self.temp[1] = cmd
        self.i2c.writeto(self.addr, self.temp)

    def write_data(self, buf):
        self.write_list[1] = buf
        self.i2c.writevto(self.addr, self.write_list)

    # -- framebuf.FrameBuffer, MONO_VLSB --
    def fill(self, c):
        v = 0xFF if c else 0
        b = self.buffer
        for i in range(len(b)):
            b[i] = v

    def pixel(self, x, y, c=None):
        if x < 0 or y < 0 or x >= self.width or y >= self.height:
            return None if c is None else None
        i = (y >> 3) * self.width + x
        bit = 1 << (y & 7)
        if c is None:
            return 1 if self.buffer[i] & bit else 0
        if c:
            self.buffer[i] |= bit
        else:
            self.buffer[i] &= ~bit & 0xFF
        return None

    def fill_rect(self, x, y, w, h, c):
        yy = y
        while yy < y + h:
            xx = x
            while xx < x + w:
                self.pixel(xx, yy, c)
                xx += 1
            yy += 1

    def text(self, s, x, y, c=1):
        # A fixed 8x8 pattern per character code (framebuf's font is not needed to check what
        # is drawn where): space is blank, every other character has a distinct column pattern.
        n = len(s)
        i = 0
        while i < n:
            code = ord(s[i])
            if code != 32:
                col = 0
                while col < 8:
                    bits = ((code * 37 + col * 11) & 0x7E) | 0x01 if col < 7 else 0
                    row = 0
                    while row < 8:
                        if bits & (1 << row):
                            self.pixel(x + col, y + row, c)
                        row += 1
                    col += 1
            x += 8
            i += 1
