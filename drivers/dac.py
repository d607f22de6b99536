# The DAC interface every output-stage DAC driver implements. The ceiling clamp lives here, in
# codes: whatever a caller asks, no driver writes a code above max_code (DESIGN 4.3, layer 2).


class DAC:
    resolution = 0  # bits
    full_scale = 0  # 2**resolution - 1

    def __init__(self, max_code):
        fs = self.full_scale
        if max_code < 0 or max_code > fs:
            raise ValueError("max_code: outside 0..full scale")
        self.max_code = max_code
        self.code = 0

    def _write(self, code):
        raise NotImplementedError

    def set_code(self, code):
        """Write code, clamped to 0..max_code; returns the code written."""
        if code > self.max_code:
            code = self.max_code
        elif code < 0:
            code = 0
        self._write(code)
        self.code = code
        return code

    def zero(self):
        self._write(0)
        self.code = 0

    def sleep(self):
        """No output for a while (soft-off, idle, fault): zero, and the chip's own low-power
        mode where it has one. The next set_code() wakes it."""
        self.zero()


def ceiling_code(full_scale, ua_fs, ceiling_ua):
    """The highest code whose current does not exceed ceiling_ua (round down)."""
    return full_scale * ceiling_ua // ua_fs
