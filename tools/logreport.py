"""Course report from the device's session log (host side, CPython).

    python3 -m tools.logreport LOG.jsonl [--settings settings.json] [--png out/logreport.png]
    python3 -m tools.logreport --device auto          # pulls :/log.jsonl (and :/log.1.jsonl,
                                                      # :/settings.json) with mpremote first
    make logreport LOGREPORT_ARGS="--device /dev/ttyACM0"

Prints every session (date when the device's RTC was set, program, time on skin, charge per
side, balance, max current, level, faults, completed), the totals, where the client is in the
course (firmware/course.py, the same rules the device uses) and the client's personal ceilings
from the settings file; writes a PNG chart (sessions and charge per side). The rotated archive
``log.1.jsonl`` beside the log is read first when present. Lines the device would skip (torn,
corrupt) are skipped and counted here too.

Exit status: 0 report written, 2 bad input (no log, mpremote failed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from firmware import course  # noqa: E402  (pure Python: no device modules needed)

SIDES = ("left", "right", "centre")
DEVICE_FILES = ("log.1.jsonl", "log.jsonl", "settings.json")


@dataclass
class Log:
    records: list[dict] = field(default_factory=list)
    corrupt: int = 0
    torn: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def sessions(self) -> list[dict]:
        return [r for r in self.records if "program" in r]

    @property
    def errors(self) -> list[dict]:
        return [r for r in self.records if "error" in r]


def archive_of(path: str) -> str:
    d, name = os.path.split(path)
    stem = name[:-6] if name.endswith(".jsonl") else name
    return os.path.join(d, stem + ".1.jsonl")


def read_log(path: str) -> Log:
    """The archive (if any) then the log; torn last lines and corrupt lines skipped, counted."""
    log = Log()
    for p in (archive_of(path), path):
        if not os.path.isfile(p):
            continue
        log.files.append(p)
        with open(p, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        # split leaves "" after a final newline; anything else there is a torn last line
        tail = lines.pop()
        if tail.strip():
            log.torn += 1
        for line in lines:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                log.corrupt += 1
                continue
            if isinstance(r, dict):
                log.records.append(r)
            else:
                log.corrupt += 1
    return log


def read_settings(path: str | None) -> dict | None:
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) else None


def _charge(r: dict, side: str) -> int:
    c = r.get("charge_uc")
    v = c.get(side) if isinstance(c, dict) else None
    return v if isinstance(v, int) else 0


def balance_pct(r: dict) -> float | None:
    """Smaller side / larger side in % (100 = identical); None when no side had charge."""
    a, b = _charge(r, "left"), _charge(r, "right")
    hi = max(a, b)
    return None if hi == 0 else 100.0 * min(a, b) / hi


def _date(rtc: object) -> str:
    if not isinstance(rtc, int):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(rtc))


def _yes(v: object) -> str:
    return "yes" if v is True else "no"


def report_text(log: Log, settings: dict | None = None, now_s: int | None = None) -> str:
    sess = log.sessions
    out = []
    out.append("Session log: " + (", ".join(log.files) or "(none)"))
    if log.torn or log.corrupt:
        out.append(f"skipped: {log.torn} torn last line(s), {log.corrupt} corrupt line(s)")
    out.append("")
    head = (
        f"{'#':>4} {'date (UTC)':16} {'program':11} {'skin':>6} {'left uC':>8} "
        f"{'right uC':>8} {'ctr uC':>7} {'bal %':>6} {'max uA':>6} {'lvl':>3} "
        f"{'done':4} faults"
    )
    out.append(head)
    out.append("-" * len(head))
    tot = {s: 0 for s in SIDES}
    skin = 0
    for i, r in enumerate(sess, 1):
        n = r.get("seq", i)
        s_on = r.get("on_skin_s") if isinstance(r.get("on_skin_s"), int) else 0
        skin += s_on
        for s in SIDES:
            tot[s] += _charge(r, s)
        bal = balance_pct(r)
        faults = r.get("faults") or []
        out.append(
            f"{n:>4} {_date(r.get('rtc')):16} {str(r.get('program'))[:11]:11} "
            f"{s_on // 60:>3}:{s_on % 60:02d} {_charge(r, 'left'):>8} {_charge(r, 'right'):>8} "
            f"{_charge(r, 'centre'):>7} {('-' if bal is None else f'{bal:.0f}'):>6} "
            f"{r.get('max_ua', '-'):>6} {r.get('level', '-'):>3} {_yes(r.get('completed')):4} "
            f"{' '.join(str(f) for f in faults) or '-'}"
        )
    out.append("")
    out.append(
        f"{len(sess)} session(s) in the log, {skin // 60} min on skin; charge: "
        f"left {tot['left']} uC, right {tot['right']} uC, centre {tot['centre']} uC"
    )
    target = settings.get("course_sessions", 12) if settings else 12
    st = course.status(log.records, now_s=now_s, target=target)
    out.append(
        f"course: {st['phase']}, {st['sessions']} session(s) counted "
        f"(intensive {st['target']}, 2-3 a week; then weekly x{course.WEEKLY_SESSIONS}; "
        "then monthly)"
    )
    if st["next_due_s"] is not None:
        late = " (overdue)" if st["overdue"] else ""
        out.append(f"next session due: {_date(st['next_due_s'])} UTC{late}")
    else:
        out.append("next session due: unknown (the device's clock was not set: sessions counted)")
    if st["close_pairs"]:
        out.append(f"warning: {st['close_pairs']} session(s) less than a day after the previous")
    if st["too_soon"]:
        out.append("warning: the last session was less than a day ago: rest today")
    if log.errors:
        out.append(f"{len(log.errors)} error record(s); last: {log.errors[-1].get('error')}")
    if settings is not None:
        c = settings.get("client_ceiling_ua")
        if isinstance(c, dict) and any(isinstance(v, int) for v in c.values()):
            parts = [f"{k} {v} uA" for k, v in sorted(c.items()) if isinstance(v, int)]
            out.append("client ceiling (find my level): " + ", ".join(parts))
        else:
            out.append("client ceiling (find my level): not measured yet")
        out.append(f"mode: {settings.get('mode', '?')}, level {settings.get('level', '?')}")
    return "\n".join(out) + "\n"


def write_png(log: Log, path: str, title: str = "Microcurrent sessions") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sess = log.sessions
    xs = list(range(1, len(sess) + 1))
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(sess) + 3), 4.2), dpi=100)
    w = 0.38
    left = [_charge(r, "left") for r in sess]
    right = [_charge(r, "right") for r in sess]
    ax.bar([x - w / 2 for x in xs], left, w, label="left", color="#3b7dd8")
    ax.bar([x + w / 2 for x in xs], right, w, label="right", color="#e07b39")
    centre = [_charge(r, "centre") for r in sess]
    if any(centre):
        ax.plot(xs, centre, "k.", label="centre")
    for x, r in zip(xs, sess):
        if r.get("completed") is not True:
            ax.annotate("x", (x, 0), ha="center", va="bottom", color="red")
    ax.set_xlabel("session (x = not completed)")
    ax.set_ylabel("charge per side (µC)")
    ax2 = ax.twinx()
    ax2.plot(
        xs,
        [(r.get("on_skin_s") or 0) / 60 for r in sess],
        "g-o",
        ms=3,
        lw=1,
        label="on skin (min)",
    )
    ax2.set_ylabel("time on skin (min)")
    st = course.status(log.records)
    ax.set_title(f"{title}: {len(sess)} sessions, course {st['phase']}")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    top = max(left + right + centre + [1])
    ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
    ax2.set_ylim(0, max([(r.get("on_skin_s") or 0) / 60 for r in sess] + [1]) * 1.3)
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8, ncol=4)
    if xs:
        ax.set_xticks(xs)
    fig.tight_layout()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def pull(port: str, dest: str) -> dict[str, str]:
    """Copy the log files and settings from a device with mpremote; missing ones are skipped.
    Returns {device name: local path}. Raises RuntimeError when the device cannot be reached."""
    got = {}
    errors = []
    for name in DEVICE_FILES:
        local = os.path.join(dest, name)
        cmd = [sys.executable, "-m", "mpremote", "connect", port, "cp", ":/" + name, local]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"mpremote: {e}") from e
        if p.returncode == 0 and os.path.isfile(local):
            got[name] = local
        else:
            errors.append((p.stderr or p.stdout).strip().splitlines()[-1:] or [""])
    if "log.jsonl" not in got and "log.1.jsonl" not in got:
        raise RuntimeError("mpremote: no log on the device (%s)" % "; ".join(e[0] for e in errors))
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m tools.logreport", description=__doc__.split("\n")[0]
    )
    ap.add_argument("log", nargs="?", help="log.jsonl (its log.1.jsonl archive is read too)")
    ap.add_argument("--device", metavar="PORT", help="pull the log with mpremote (auto, a port)")
    ap.add_argument("--settings", help="settings.json (client ceilings, course length)")
    ap.add_argument("--png", default=os.path.join("out", "logreport.png"), help="chart path")
    ap.add_argument("--no-png", action="store_true", help="no chart")
    ap.add_argument("--now", type=int, help="Unix seconds for 'next due' (default: now)")
    a = ap.parse_args(argv)
    settings_path = a.settings
    tmp = None
    try:
        if a.device:
            tmp = tempfile.mkdtemp(prefix="logreport-")
            try:
                got = pull(a.device, tmp)
            except RuntimeError as e:
                print(f"logreport: {e}", file=sys.stderr)
                return 2
            path = got.get("log.jsonl") or os.path.join(tmp, "log.jsonl")
            settings_path = settings_path or got.get("settings.json")
        else:
            if not a.log:
                print("logreport: give a log file or --device PORT", file=sys.stderr)
                return 2
            path = a.log
            if not os.path.isfile(path) and not os.path.isfile(archive_of(path)):
                print(f"logreport: no such log: {path}", file=sys.stderr)
                return 2
            if settings_path is None:
                guess = os.path.join(os.path.dirname(path), "settings.json")
                settings_path = guess if os.path.isfile(guess) else None
        log = read_log(path)
        settings = read_settings(settings_path)
        now = a.now if a.now is not None else int(time.time())
        sys.stdout.write(report_text(log, settings, now))
        if not a.no_png:
            print("chart:", write_png(log, a.png))
        return 0
    finally:
        if tmp:
            for name in os.listdir(tmp):
                os.remove(os.path.join(tmp, name))
            os.rmdir(tmp)


if __name__ == "__main__":
    sys.exit(main())
