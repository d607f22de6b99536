# Wall-clock time for the session log's records: Unix seconds from the board's RTC, or None.
# The RP2040 and the ESP32 keep no time across power loss: an RTC reading before 2024 was
# never set (`mpremote rtc --set` sets it), and the log then counts sessions and boots instead.
from micropython import const

_YEAR_SET = const(2024)  # an RTC reading before this year means it was never set

_rtc_source = None


def set_rtc_source(fn):
    """Tests and the simulator: fn() -> Unix seconds or None; None restores machine.RTC."""
    global _rtc_source
    _rtc_source = fn


def epoch_seconds(year, month, day, hh=0, mm=0, ss=0):
    """Unix seconds of a UTC civil date (integer arithmetic, any port's epoch)."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    mp = month + 9 if month <= 2 else month - 3
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hh * 3600 + mm * 60 + ss


def rtc_seconds():
    """Unix seconds from the board's RTC, or None when there is no RTC or it was never set."""
    if _rtc_source is not None:
        return _rtc_source()
    try:
        import machine

        dt = machine.RTC().datetime()
    except Exception:  # noqa: BLE001 - no RTC on this port (or the fake machine): no time
        return None
    try:
        if dt[0] < _YEAR_SET:
            return None
        return epoch_seconds(dt[0], dt[1], dt[2], dt[4], dt[5], dt[6])
    except (TypeError, IndexError):
        return None
