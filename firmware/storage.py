# The persistent state under one name, for firmware/app.py (settings, session log and the RTC
# are all needed at its boot). The parts live in their own modules; everything else imports the
# part it needs:
#   firmware/settings.py    Settings: settings.json (atomic save, repaired when corrupt)
#   firmware/sessionlog.py  SessionLog: log.jsonl (rotation, repair, problems logged once)
#   firmware/rtc.py         rtc_seconds(): wall-clock time for the log records
#   firmware/fileio.py      file helpers and bounded JSON reads (used by the programs too)
from firmware.rtc import rtc_seconds, set_rtc_source  # noqa: F401
from firmware.sessionlog import SessionLog  # noqa: F401
from firmware.settings import Settings  # noqa: F401
