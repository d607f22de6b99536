# Redraw an SSD1306 in slices that fit a control tick. micropython-lib's SSD1306_I2C.show()
# sends the whole 1 KB frame: about 23 ms of I2C at 400 kHz, longer than the pulse engine's
# deadman. Here the caller marks the columns it changed in the driver's frame buffer
# (mark(page, c0, c1)) and step(n) sends at most n bus transfers of what is marked, each one
# either the addressing of a page (7 bytes: column window c0..127, page window p..p) or one
# slice of CHUNK columns (1 + CHUNK bytes) that the controller's horizontal addressing places
# after the previous one. Slices are CHUNK-aligned, so a page's run never crosses its end.
#
#   w = SliceWriter(oled)            # an SSD1306_I2C (its i2c, addr, buffer, width 128, pages)
#   oled.text("L10", 0, 16); w.mark(2, 0, 24)
#   w.step(1)                        # one transfer: <= 1 + CHUNK bytes on the bus
#
# step() allocates nothing (preallocated command and slice buffers, no slicing).
from micropython import const

CHUNK = const(16)  # columns per data transfer: 17 bytes, ~0.4 ms at 400 kHz (9 bits a byte)
_CTRL_CMDS = const(0x00)  # Co=0, D/C#=0: every following byte is a command
_CTRL_DATA = const(0x40)  # Co=0, D/C#=1: every following byte is display data
_SET_COL_ADDR = const(0x21)
_SET_PAGE_ADDR = const(0x22)


class SliceWriter:
    def __init__(self, dev):
        self.i2c = dev.i2c
        self.addr = dev.addr
        self.buf = dev.buffer
        self.width = dev.width
        self.npages = dev.pages
        cmd = bytearray(7)
        cmd[0] = _CTRL_CMDS
        cmd[1] = _SET_COL_ADDR
        cmd[3] = self.width - 1
        cmd[4] = _SET_PAGE_ADDR
        self._cmd = cmd
        self._data = bytearray(1 + CHUNK)
        self._data[0] = _CTRL_DATA
        self._lo = bytearray(self.npages)  # marked columns of each page: [lo, hi)
        self._hi = bytearray(self.npages)  # hi == 0: nothing marked
        self._page = -1  # the page being sent, -1: none
        self._col = 0
        self._end = 0
        self._last = self.npages - 1
        self.bytes_sent = 0
        self.transfers = 0

    def mark(self, page, c0, c1):
        """Columns c0..c1-1 of page changed in the frame buffer."""
        if c1 <= c0 or page < 0 or page >= self.npages:
            return
        if c0 < 0:
            c0 = 0
        if c1 > self.width:
            c1 = self.width
        hi = self._hi[page]
        if hi == 0:
            self._lo[page] = c0
            self._hi[page] = c1
            return
        if c0 < self._lo[page]:
            self._lo[page] = c0
        if c1 > hi:
            self._hi[page] = c1

    def mark_all(self):
        for p in range(self.npages):
            self.mark(p, 0, self.width)

    def pending(self):
        if self._page >= 0:
            return True
        for p in range(self.npages):
            if self._hi[p]:
                return True
        return False

    def _next(self):
        """The next marked page after the last one sent (round robin); its run set up."""
        n = self.npages
        p = self._last
        for _ in range(n):
            p += 1
            if p >= n:
                p = 0
            hi = self._hi[p]
            if hi:
                lo = self._lo[p]
                self._hi[p] = 0
                self._col = lo - lo % CHUNK
                end = hi + CHUNK - 1
                self._end = end - end % CHUNK
                if self._end > self.width:
                    self._end = self.width
                self._page = p
                self._last = p
                return p
        return -1

    def step(self, transfers):
        """At most `transfers` bus writes of what is marked. Returns the bytes written.
        Raises OSError from the bus (the caller drops the display)."""
        sent = 0
        n = 0
        i2c = self.i2c
        addr = self.addr
        while n < transfers:
            p = self._page
            if p < 0:
                p = self._next()
                if p < 0:
                    break
                cmd = self._cmd
                cmd[2] = self._col
                cmd[5] = p
                cmd[6] = p
                i2c.writeto(addr, cmd)
                sent += 7
            else:
                d = self._data
                b = self.buf
                off = p * self.width + self._col
                for i in range(CHUNK):
                    d[i + 1] = b[off + i]
                i2c.writeto(addr, d)
                sent += 1 + CHUNK
                self._col += CHUNK
                if self._col >= self._end:
                    self._page = -1
            n += 1
        self.bytes_sent += sent
        self.transfers += n
        return sent
