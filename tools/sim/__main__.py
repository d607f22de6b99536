"""python -m tools.sim: run the firmware's control loop on the sim board with a scripted client.

    python3 -m tools.sim --program lift --scenario PATH.json --out DIR [--speed N]
                         [--runtime cpython|micropython]

Writes trace.csv, trace.vcd, trace.png and summary.json into DIR (DESIGN section 6) and prints
a short summary. Exit 0 when the scenario ran (whatever the device did), 2 on a bad scenario
file (one line naming the problem) or a bad command line, 1 when the MicroPython VM could not
run it.

Also in DIR: trace_events.jsonl (state/step changes with area and side, scenario events, cues,
resets), signals.csv (OUT_EN, BOOST_EN, POL_A, POL_B, DAC code edges), sim_result.json (what
the core counted per session) and device_fs/ (the device's filesystem: settings.json,
log.jsonl). Scenarios: tools/sim/scenarios/*.json; a course scenario lists "sessions", each
with a "day", run one after the other on the same device filesystem and RTC.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from tools.sim import api
from tools.sim import summary as _summary

DEFAULT_SCENARIO = api.scenario_path("default")
DEFAULT_OUT = os.path.join("out", "sim")
PROGRESS_MIN_S = 60  # progress bar for runs longer than this (simulated) on a terminal


class Usage(Exception):
    """A bad command line or scenario: one line, exit 2."""


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python3 -m tools.sim",
        description="Run the firmware on the simulated board with a scripted client.",
    )
    p.add_argument("--program", help="preselect this program (as if MODE had chosen it)")
    p.add_argument("--scenario", default=DEFAULT_SCENARIO, help="scenario JSON (DESIGN 6)")
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder (default out/sim)")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per wall second (1 = real time, with a live status "
        "line); default: as fast as possible",
    )
    p.add_argument(
        "--runtime",
        choices=("cpython", "micropython"),
        default="cpython",
        help="run the firmware on CPython (default) or on the MicroPython VM",
    )
    p.add_argument(
        "--mpy",
        action="store_true",
        help="with --runtime micropython: load the .mpy files of `make mpy`",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="with --runtime micropython: kill the VM after this many seconds",
    )
    p.add_argument("--no-png", action="store_true", help="skip trace.png")
    p.add_argument("--no-vcd", action="store_true", help="skip trace.vcd")
    p.add_argument("--png-copy", metavar="PATH", help="also copy trace.png to PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    a = p.parse_args(argv)
    if a.speed is not None and not a.speed > 0:
        p.error("--speed must be > 0")
    return a


# ---- live status and progress (CPython runtime) ----


class Pacer:
    """Called by the core every few ticks: keeps to --speed, shows the live status line or a
    progress bar."""

    def __init__(self, speed: float | None, total_s: float, quiet: bool):
        self.speed = speed
        self.total_s = total_s
        self.t_wall0 = time.perf_counter()
        self.session_wall0 = self.t_wall0
        self.last_draw = 0.0
        tty = sys.stderr.isatty() and not quiet
        self.live = speed is not None and not quiet
        self.bar = tty and speed is None and total_s > PROGRESS_MIN_S
        self.done_s = 0.0  # simulated seconds of the sessions already finished
        self.drawn = False
        self.cur = None

    def __call__(self, sim) -> None:
        sim_s = sim.now() / 1e6
        now = time.perf_counter()
        if sim is not self.cur:
            # the next session of a course: its virtual time starts again at 0
            if self.cur is not None:
                self.done_s += self.cur.now() / 1e6
            self.cur = sim
            self.session_wall0 = now
        if self.speed is not None:
            target = self.session_wall0 + sim_s / self.speed
            if target > now:
                time.sleep(target - now)
                now = target
        if now - self.last_draw < 0.2:
            return
        self.last_draw = now
        if self.live:
            self._draw(self.status_line(sim))
        elif self.bar:
            frac = min(1.0, (self.done_s + sim_s) / self.total_s)
            n = int(frac * 30)
            wall = now - self.t_wall0
            speed = (self.done_s + sim_s) / wall if wall > 0 else 0
            self._draw(
                "[%s%s] %3d%%  %.0f/%.0f s simulated  x%.0f"
                % ("#" * n, "." * (30 - n), frac * 100, self.done_s + sim_s, self.total_s, speed)
            )

    @staticmethod
    def status_line(sim) -> str:
        app = sim.app
        if app is None:
            return "booting"
        sup = app.supervisor
        st = sim.hw.stage
        z = getattr(sup, "impedance_ohm", None)
        area = "%s/%s" % (app.area, app.side) if getattr(app, "area", None) else "-"
        return "t=%7.1f s  %-8s %-10s %-16s L%-2s %5d uA  contact %s%s" % (
            sim.now() / 1e6,
            app.state,
            app.program_id or "-",
            area,
            app.level,
            st.driven_ua() * st.driving(),
            "yes" if sup.contact else "no ",
            " (%.1f kOhm)" % (z / 1000) if z else "",
        ) + ("  FAULT %s" % app.fault if app.fault else "")

    def _draw(self, line: str) -> None:
        sys.stderr.write("\r" + line[:120].ljust(100))
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        a = parse(argv)
    except SystemExit as e:  # argparse: usage error is 2, --help is 0
        return int(e.code or 0)
    try:
        scn = api.load(a.scenario)
        program = a.program or scn.get("program")
        ids = api.program_ids()
        for p in [program] + [s.get("program") for s in scn["sessions"]]:
            if p and ids is not None and p not in ids:
                raise Usage("unknown program '%s' (one of: %s)" % (p, ", ".join(ids)))
    except (api.ScenarioError, Usage) as e:
        print("sim: %s" % e, file=sys.stderr)
        return 2
    out = a.out
    total_s = sum(s["duration_ms"] for s in scn["sessions"]) / 1000
    title = "%s: %s" % (os.path.basename(a.scenario), program or "default program")
    kw = {"vcd": not a.no_vcd, "png": not a.no_png, "title": title}
    if a.runtime == "micropython":
        if a.speed is not None and not a.quiet:
            print(
                "sim: --speed applies to the CPython runtime only; running flat out",
                file=sys.stderr,
            )
        try:
            summ, _ = api.simulate(
                scn, out, program, runtime="micropython", mpy=a.mpy, timeout=a.timeout, **kw
            )
        except RuntimeError as e:  # the VM is missing or the run failed: say so, exit 1
            print("sim: %s" % e, file=sys.stderr)
            return 1
    else:
        pacer = Pacer(a.speed, total_s, a.quiet)
        status = pacer if (pacer.live or pacer.bar or a.speed is not None) else None
        try:
            summ, _ = api.simulate(
                scn, out, program, status=status, status_every=5 if a.speed else 250, **kw
            )
        finally:
            pacer.close()
    if a.png_copy and not a.no_png:
        os.makedirs(os.path.dirname(os.path.abspath(a.png_copy)), exist_ok=True)
        shutil.copyfile(os.path.join(out, "trace.png"), a.png_copy)
    if not a.quiet:
        print(_summary.text(summ))
        print("wrote %s/{trace.csv,trace.vcd,trace.png,summary.json}" % out.rstrip("/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
