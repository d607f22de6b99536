"""The simulator (DESIGN section 6): scenario files, the command line, the output files and
every shipped scenario, on the real app and the sim board."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import pytest

from safety import faults
from tools.sim import __main__ as cli
from tools.sim import api, scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = "t_us,commanded_ua,measured_ua,contact,impedance_ohm,state,program,step,fault"
STATES = {"off", "selftest", "idle", "running", "paused", "complete", "fault"}
SUMMARY_FIELDS = {
    "max_abs_measured_ua": int,
    "max_abs_commanded_ua": int,
    "net_charge_uc": float,
    "charge_uc_by_side": dict,
    "faults": list,
    "steps_completed": int,
    "program_completed": bool,
    "ceiling_ua": int,
}
SHORT_S = 60  # shipped scenarios up to this long (simulated) run in the default suite
PROBE_UA = 20  # DESIGN 4.5: the contact probe while no contact is detected


def start_events(contact_ms=2500, z=20000):
    """Long POWER, probes on skin, short POWER: the client starts the preselected program."""
    return [
        {"t_ms": 0, "press": "power", "hold_ms": 1500},
        {"t_ms": contact_ms, "contact": True, "impedance_ohm": z},
        {"t_ms": contact_ms + 1500, "press": "power"},
    ]


def short_scenario(duration_ms=12000, extra=()):
    return {
        "duration_ms": duration_ms,
        "board": "sim",
        "program": "lift",
        "events": start_events() + list(extra),
    }


def run(tmp_path, data, name="run", **kw):
    scn = scenario.validate(data)
    out = str(tmp_path / name)
    kw.setdefault("vcd", False)
    kw.setdefault("png", False)
    summ, tr = api.simulate(scn, out, **kw)
    return summ, tr, out


# ---- scenario files ----

BAD = [
    ([1, 2], "JSON object"),
    ({"events": []}, "missing 'duration_ms'"),
    ({"duration_ms": "10", "events": []}, "'duration_ms' must be an integer"),
    ({"duration_ms": 0, "events": []}, "'duration_ms' must be >= 1"),
    ({"duration_ms": 1000}, "'events' must be a list"),
    ({"duration_ms": 1000, "board": "pico", "events": []}, "board"),
    ({"duration_ms": 1000, "events": [], "speed": 3}, "unknown key 'speed'"),
    ({"duration_ms": 1000, "events": [{"press": "power"}]}, "events[0]: missing 't_ms'"),
    ({"duration_ms": 1000, "events": [{"t_ms": 2000, "press": "power"}]}, "must be <= 1000"),
    ({"duration_ms": 1000, "events": [{"t_ms": 0}]}, "no action"),
    ({"duration_ms": 1000, "events": [{"t_ms": 0, "press": "pwr"}]}, 'unknown button "pwr"'),
    (
        {"duration_ms": 1000, "events": [{"t_ms": 0, "press": "mode", "hold_ms": -5}]},
        "'hold_ms' must be >= 1",
    ),
    ({"duration_ms": 1000, "events": [{"t_ms": 0, "contact": True}]}, "needs 'impedance_ohm'"),
    (
        {"duration_ms": 1000, "events": [{"t_ms": 0, "contact": "yes", "impedance_ohm": 5}]},
        "true or false",
    ),
    (
        {"duration_ms": 1000, "events": [{"t_ms": 0, "contact": True, "impedance_ohm": -1}]},
        "'impedance_ohm' must be a number",
    ),
    ({"duration_ms": 1000, "events": [{"t_ms": 0, "fault": "meltdown"}]}, "unknown fault"),
    (
        {"duration_ms": 1000, "events": [{"t_ms": 0, "fault": "sense_open", "press": "plus"}]},
        "more than one action",
    ),
    ({"sessions": []}, "'sessions' must be a non-empty list"),
    ({"sessions": [{"duration_ms": 10, "events": []}]}, "missing 'day'"),
]


@pytest.mark.parametrize(("data", "expect"), BAD, ids=[b[1] for b in BAD])
def test_bad_scenario_names_the_problem(data, expect):
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.validate(data, "scenario x.json")
    msg = str(e.value)
    assert expect in msg
    assert "\n" not in msg
    assert msg.startswith("scenario x.json")


def test_scenario_normalised_sorted_with_default_hold():
    s = scenario.validate(
        {
            "duration_ms": 5000,
            "events": [
                {"t_ms": 3000, "contact": False},
                {"t_ms": 100, "press": "plus"},
                {"t_ms": 100, "fault": "i2c_error"},
            ],
        }
    )
    (sess,) = s["sessions"]
    assert [e["t_ms"] for e in sess["events"]] == [100, 100, 3000]
    assert sess["events"][0] == {"t_ms": 100, "kind": "press", "button": "plus", "hold_ms": 100}
    assert sess["events"][1]["kind"] == "fault"
    assert sess["day"] == 0 and s["board"] == "sim"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ('{"duration_ms": 10, "events": [}', "not valid JSON at line 1"),
        ('{"duration_ms": 10, "events": [{"t_ms": 0, "fault": "sense_opn"}]}', "unknown fault"),
        ("", "not valid JSON"),
    ],
)
def test_cli_bad_scenario_exits_2_with_one_line(tmp_path, capsys, text, expect):
    p = tmp_path / "bad.json"
    p.write_text(text)
    rc = cli.main(["--scenario", str(p), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expect in err and str(p) in err


def test_cli_missing_file_and_unknown_program_exit_2(tmp_path, capsys):
    assert cli.main(["--scenario", str(tmp_path / "nope.json"), "--out", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert api.program_ids(), "no firmware/presets/*.json"
    good = tmp_path / "ok.json"
    good.write_text(json.dumps({"duration_ms": 10, "events": []}))
    rc = cli.main(["--scenario", str(good), "--program", "no_such", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown program 'no_such'" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_bad_scenario_as_a_process(tmp_path):
    """The real command line: exit status 2 and one line, no traceback."""
    p = tmp_path / "bad.json"
    p.write_text('{"duration_ms": 100, "events": [{"t_ms": 0, "press": "reset"}]}')
    r = subprocess.run(
        [sys.executable, "-m", "tools.sim", "--scenario", str(p), "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unknown button" in r.stderr
    assert "Traceback" not in r.stderr


SHIPPED = sorted(f[:-5] for f in os.listdir(api.SCENARIOS) if f.endswith(".json"))


def _total_s(name):
    return sum(s["duration_ms"] for s in api.load(api.scenario_path(name))["sessions"]) / 1000


def test_shipped_scenarios_cover_the_contract():
    for s in SHIPPED:
        api.load(api.scenario_path(s))  # every one is valid
    for f in scenario.FAULTS:
        assert "fault_" + f in SHIPPED
    for s in ("default", "contact_chatter", "button_mashing", "course"):
        assert s in SHIPPED
    assert api.load(api.scenario_path("default"))["program"] == "lift"
    assert len(api.load(api.scenario_path("course"))["sessions"]) >= 10


# ---- a run and its files ----


def test_outputs_columns_and_summary(tmp_path):
    data = short_scenario(14000, [{"t_ms": 11000, "contact": False}])
    scn = scenario.validate(data)
    out = str(tmp_path / "o")
    summ, tr = api.simulate(scn, out, title="t")
    for f in ("trace.csv", "trace.vcd", "trace.png", "summary.json"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    with open(os.path.join(out, "trace.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert ",".join(rows[0]) == COLUMNS
    body = rows[1:]
    assert len(body) >= 14000 // 5  # at least one row per 5 ms control tick
    ts = [int(r[0]) for r in body]
    assert ts == sorted(ts) and ts[-1] <= 14_000_000
    for r in body:
        int(r[1]), int(r[2])
        assert r[3] in ("0", "1")
        assert r[4] == "" or int(r[4]) >= 0
        assert r[5] in STATES
    assert {r[5] for r in body} >= {"off", "idle", "running"}
    assert {r[6] for r in body} == {"lift"}
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    for k, typ in SUMMARY_FIELDS.items():
        assert isinstance(s[k], typ), k
    assert set(s["charge_uc_by_side"]) == {"left", "right", "centre"}
    assert s["ceiling_ua"] == 1000
    assert 0 < s["max_abs_measured_ua"] <= s["ceiling_ua"]
    assert s["max_abs_commanded_ua"] <= s["ceiling_ua"]
    assert s["faults"] == []
    assert s["max_abs_measured_no_contact_ua"] <= PROBE_UA
    assert summ == s
    with open(os.path.join(out, "trace.vcd")) as f:
        head = f.read(4000)
    assert "$timescale 1 us $end" in head and "$enddefinitions" in head
    for var in ("commanded_ua", "measured_ua", "contact", "state", "fault", "out_en"):
        assert " %s $end" % var in head
    with open(os.path.join(out, "trace.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_press_drives_the_board_and_program_preselects(tmp_path):
    ids = api.program_ids() or []
    other = next((p for p in ids if p != "lift"), None)
    if other is None:
        pytest.skip("only one program")
    data = short_scenario(7000)
    scn = scenario.validate(data)
    out = str(tmp_path / "o")
    summ, tr = api.simulate(scn, out, program=other, vcd=False, png=False)
    with open(os.path.join(out, "device_fs", "settings.json")) as f:
        assert json.load(f)["last_program"] == other
    assert set(tr.program) == {other}
    assert "running" in tr.state  # long POWER booted it, short POWER started it


def test_speed_paces_real_time_and_shows_status(tmp_path, capfd):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"duration_ms": 3000, "events": start_events()[:1]}))
    t0 = time.perf_counter()
    rc = cli.main(
        [
            "--scenario",
            str(p),
            "--out",
            str(tmp_path / "o"),
            "--speed",
            "20",
            "--no-png",
            "--no-vcd",
        ]
    )
    wall = time.perf_counter() - t0
    out, err = capfd.readouterr()
    assert rc == 0
    assert wall >= 3.0 / 20 * 0.9
    assert "t=" in err and "contact" in err  # the live status line
    assert "simulated 3.0 s" in out


# ---- every shipped scenario runs ----


def _check_run(summ, tr):
    assert summ["firmware_exceptions"] == []
    assert summ["max_abs_measured_ua"] <= summ["ceiling_ua"]
    assert summ["max_abs_commanded_ua"] <= summ["ceiling_ua"]
    assert not summ["ceiling_exceeded"]
    assert summ["max_abs_measured_no_contact_ua"] <= PROBE_UA
    assert summ["max_abs_measured_in_fault_ua"] == 0
    assert all(f["code"] != faults.SOFTWARE for f in summ["faults"]), summ["faults"]


SHORT = [s for s in SHIPPED if _total_s(s) <= SHORT_S]
# default (a whole lift program, ~8 s of wall time) runs in every suite: it is what `make sim`
# shows; the course (15 programs, ~2 min) only in `make soak` or with SIM_LONG=1
LONG = [s for s in SHIPPED if _total_s(s) > SHORT_S and s != "default"]
LONG_RUNS = os.environ.get("HYPOTHESIS_PROFILE") == "soak" or bool(os.environ.get("SIM_LONG"))


@pytest.mark.parametrize("name", SHORT)
def test_shipped_short_scenario_runs(tmp_path, name):
    summ, tr, _ = run(tmp_path, json.load(open(api.scenario_path(name))))
    _check_run(summ, tr)
    if not name.startswith("fault_"):
        assert summ["faults"] == [], summ["faults"]


def test_default_scenario_runs_lift_to_completion(tmp_path):
    summ, tr, _ = run(tmp_path, json.load(open(api.scenario_path("default"))))
    _check_run(summ, tr)
    assert summ["faults"] == []
    assert summ["program_completed"]
    assert summ["steps_completed"] >= 6
    assert "complete" in tr.state
    # both sides got the same dose within 5 % (DESIGN 5: identical steps on both sides)
    side = summ["charge_uc_by_side"]
    assert side["left"] > 0 and abs(side["left"] - side["right"]) <= 0.05 * side["left"]
    # biphasic and alternating shapes: net charge is a small part of the total
    assert abs(summ["net_charge_uc"]) <= 0.05 * summ["total_charge_uc"]


@pytest.mark.slow
@pytest.mark.skipif(not LONG_RUNS, reason="long scenario: make test, make soak or SIM_LONG=1")
@pytest.mark.parametrize("name", LONG)
def test_shipped_long_scenario_runs(tmp_path, name):
    summ, tr, _ = run(tmp_path, json.load(open(api.scenario_path(name))))
    _check_run(summ, tr)
    assert summ["faults"] == []
    assert summ["program_completed"]
    if name == "course":
        assert all(s["program_completed"] for s in summ["sessions"])


@pytest.mark.rule("4.4", "4.5")
def test_contact_chatter_pauses_and_soft_starts(tmp_path):
    summ, tr, _ = run(tmp_path, json.load(open(api.scenario_path("contact_chatter"))))
    assert "paused" in tr.state and "running" in tr.state
    # soft start (DESIGN 4.4): after each pause the output comes back from zero, never a jump
    # to the level it had before the probe left the skin
    prev_state = None
    for i in range(len(tr)):
        if prev_state == "paused" and tr.state[i] == "running":
            assert abs(tr.cmd[i]) <= 50, (tr.t[i], tr.cmd[i])
        prev_state = tr.state[i]


def test_course_of_sessions_keeps_the_log(tmp_path):
    """Three sessions days apart, each switched off by the client (long POWER) after a few
    seconds of treatment: the device's filesystem (settings, session log) survives between
    sessions and the board's clock says which day it is."""
    sess = []
    for day in (0, 2, 9):
        ev = start_events() + [{"t_ms": 7000, "press": "power", "hold_ms": 1500}]
        sess.append({"day": day, "duration_ms": 9000, "events": ev})
    summ, tr, out = run(tmp_path, {"program": "lift", "sessions": sess})
    assert [s["day"] for s in summ["sessions"]] == [0, 2, 9]
    assert [s["final_state"] for s in summ["sessions"]] == ["off"] * 3
    assert tr.t[-1] >= 9 * 86400 * 10**6
    assert summ["simulated_s"] == pytest.approx(27.0, abs=0.1)
    with open(os.path.join(out, "device_fs", "log.jsonl")) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    sessions = [r for r in recs if r.get("program") == "lift"]
    assert len(sessions) == 3
    days = [(r["rtc"] - sessions[0]["rtc"]) // 86400 for r in sessions]
    assert days == [0, 2, 9]


def test_exception_out_of_the_firmware_is_reported_not_hidden(tmp_path, monkeypatch, capsys):
    """An exception that escapes the app's own loop ends the session: the run still writes its
    files and exits 0 (the scenario ran), and the error is in the summary and on the terminal."""
    from firmware import app as app_mod

    def broken_run(self):
        raise ValueError("boom")

    monkeypatch.setattr(app_mod.App, "run", broken_run)
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"duration_ms": 1000, "events": []}))
    rc = cli.main(["--scenario", str(p), "--out", str(tmp_path / "o"), "--no-png", "--no-vcd"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "FIRMWARE EXCEPTION" in out and "ValueError: boom" in out
    with open(tmp_path / "o" / "summary.json") as f:
        s = json.load(f)
    assert s["firmware_exceptions"][0]["error"] == "ValueError: boom"
