# File helpers of the persistent state (settings, session log, program files) on the board's
# filesystem (LittleFS): paths, the atomic replace, bounded JSON reads and JSON lines read in
# pieces, and the short texts a message may quote. Nothing here may crash the device on a bad
# file (DESIGN 4.10): a read is bounded, a parse that runs out of memory or recursion is
# "corrupt", never raised.
#
# The helpers that change the filesystem (replace, sync) take the caller's `os` module: the
# power-cut tests swap a writer's os (settings, sessionlog) for one that cuts at the n-th write.
# This module imports nothing of the app: the program validator and the Library use it without
# the settings or the log.
import gc
import json
import os

from micropython import const

try:
    from binascii import crc32 as _crc32
except ImportError:  # pragma: no cover - a port built without it
    _crc32 = None

QUOTE_MAX = const(24)  # characters of a file's own text quoted in a problem


def join(root, name):
    """root/name without os.path (MicroPython has none)."""
    if not root:
        return name
    if root.endswith("/"):
        return root + name
    return root + "/" + name


def size(path, fs=os):
    """Bytes of a file, -1 when it is missing."""
    try:
        return fs.stat(path)[6]
    except OSError:
        return -1


def exists(path, fs=os):
    return size(path, fs) >= 0


def sync(fs=os):
    s = getattr(fs, "sync", None)
    if s is not None:
        try:
            s()
        except OSError:
            pass


def replace(src, dst, fs=os):
    """rename src over dst (atomic on LittleFS); ports that refuse to rename onto an existing
    file get dst removed first (a power cut in between leaves src, which the readers use)."""
    try:
        fs.rename(src, dst)
    except OSError:
        if not exists(dst, fs) or not exists(src, fs):
            raise  # not the "target exists" refusal: leave both files alone
        fs.remove(dst)
        fs.rename(src, dst)


def errno_of(e):
    """The errno of an OSError on both runtimes (MicroPython: args[0]), or None."""
    a = getattr(e, "args", None)
    if a and isinstance(a[0], int):
        return a[0]
    n = getattr(e, "errno", None)
    return n if isinstance(n, int) else None


def digest(data):
    """A short fingerprint of a text or bytes (CRC-32; a 22-bit hash on a port without
    binascii.crc32): "has this changed", never a security check."""
    if isinstance(data, str):
        data = data.encode()
    if _crc32 is not None:
        return _crc32(data) & 0xFFFFFFFF
    h = len(data) & 0x3FFFFF
    for b in data:
        h = (h * 31 + b) & 0x3FFFFF
    return h


def quote(v):
    """repr of a value read from a file, cut to QUOTE_MAX characters; a list or dict is named,
    never printed (its repr recurses as deep as the file nests)."""
    if isinstance(v, str):
        if len(v) > QUOTE_MAX:
            return repr(v[:QUOTE_MAX]) + "..."
        return repr(v)
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    return "a " + type(v).__name__


def read_json(path, limit):
    """(value, None), or (None, why): why is "missing" or says what is wrong. At most `limit`
    bytes are read; a parse that runs out of memory or recursion is "corrupt", never raised."""
    try:
        f = open(path, "rb")
    except OSError:
        return None, "missing"
    try:
        text = f.read(limit + 1)
    except OSError as e:
        return None, "unreadable (errno %s)" % errno_of(e)
    finally:
        f.close()
    if len(text) > limit:
        return None, "corrupt (over %d bytes, not read)" % limit
    try:
        return json.loads(text), None
    except ValueError as e:
        return None, "corrupt (%s)" % (str(e)[:60],)
    except (MemoryError, RuntimeError):
        text = None
        gc.collect()
        return None, "corrupt (nested too deep to parse)"


# --- JSON lines ----------------------------------------------------------------------------


def parse_object(line):
    """One JSON line (bytes or str) -> dict, or None when it is not a JSON object. Invalid
    UTF-8 raises UnicodeError, a ValueError on both runtimes; a line nested too deep runs out
    of recursion (CPython) or memory (a board)."""
    try:
        r = json.loads(line)
    except ValueError:
        return None
    except (MemoryError, RuntimeError):
        gc.collect()
        return None
    return r if isinstance(r, dict) else None


def read_line(f, limit):
    """(line, long): the next line of a file opened "rb", with its newline when it has one;
    (b"", False) at the end. A line over `limit` bytes is read through in `limit`-byte pieces
    (never whole into RAM) and comes back cut to `limit` with long=True."""
    line = f.readline(limit + 1)
    if len(line) <= limit:
        return line, False
    head = line[:limit]
    while line and not line.endswith(b"\n"):
        line = f.readline(limit)
    return head, True


def count_lines(path, limit):
    """Lines in a file (read in pieces of at most `limit` bytes), 0 when it is missing."""
    n = 0
    try:
        f = open(path, "rb")
    except OSError:
        return 0
    try:
        while True:
            line = f.readline(limit)
            if not line:
                break
            if line.endswith(b"\n"):
                n += 1
    finally:
        f.close()
    return n
