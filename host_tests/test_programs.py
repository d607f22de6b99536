"""Program files: the six presets pass the validator and follow the protocol; every validator
rule has a failing fixture (host_tests/fixtures/programs/) with its expected message; the
Library keeps the good programs when one file is broken; the same results on the MicroPython VM
(host_tests/mp_tests/mp_test_programs.py, run here with the fixtures)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware import programcheck as PC
from firmware import programs as P
from firmware import stepcheck as SC
from safety import limits as L

ROOT = Path(__file__).resolve().parent.parent
PRESETS_DIR = ROOT / "firmware" / "presets"
FIXTURES = ROOT / "host_tests" / "fixtures" / "programs"
MP_SCRIPT = ROOT / "host_tests" / "mp_tests" / "mp_test_programs.py"

# fixture -> the exact message (the json one: its prefix; the parser's detail differs by runtime)
EXPECTED = {
    "balance_short": "balance_short.json: step 1 (cheek left): rule balance: a 15 s monophasic "
    "step is shorter than two 10 s alternation intervals: one polarity would carry most of its "
    "charge",
    "balance_strokes": "balance_strokes.json: step 1 (cheek left): rule balance: net charge "
    "28.2 % of a 20 s window's charge (limit 5 %): strokes of 10 s are 2 alternation intervals "
    "of 5 s, so every soft start falls on the same polarity (make a stroke an odd number of "
    "intervals)",
    "area_chest": "area_chest.json: step 1 (chest left): rule area: 'chest' is not an allowed "
    "area (forehead brow eye_contour cheek nasolabial jawline chin neck_side)",
    "area_eyelid": "area_eyelid.json: step 1 (eyelid left): rule area: 'eyelid' is not an "
    "allowed area (forehead brow eye_contour cheek nasolabial jawline chin neck_side)",
    "area_front_neck": "area_front_neck.json: step 1 (front_neck left): rule area: "
    "'front_neck' is not an allowed area (forehead brow eye_contour cheek nasolabial jawline "
    "chin neck_side)",
    "density_ceiling": "density_ceiling.json: step 1 (cheek left): rule density: max 1200 uA "
    "above the 1000 uA cap of the disk probe (2 mA/cm2, ceiling 1000 uA)",
    "density_qtip": "density_qtip.json: step 1 (cheek left): rule density: max 200 uA above "
    "the 140 uA cap of the qtip probe (2 mA/cm2, ceiling 1000 uA)",
    "eye_cap_over": "eye_cap_over.json: step 1 (eye_contour left): rule eye_cap: max 250 uA "
    "above the 200 uA eye cap",
    "eye_probe_disk": "eye_probe_disk.json: step 1 (eye_contour left): rule eye_probe: eye "
    "steps use a globe or qtip probe, not disk",
    "format_version": "format_version.json: rule format: format must be 1",
    "freq_high": "freq_high.json: step 1 (cheek left): rule freq: 2000 Hz outside 0.3..1000 Hz",
    "id_mismatch": "id_mismatch.json: rule id: id 'other' does not match the file name",
    "intensity_min": "intensity_min.json: step 1 (cheek left): rule intensity: min 5 uA below "
    "10 uA",
    "json_syntax": "json_syntax.json: rule json: not valid JSON",
    "key_missing": "key_missing.json: step 1: rule missing: key 'movement' missing",
    "key_unknown": "key_unknown.json: step 1: rule key: unknown key 'speed'",
    "movement_bad": "movement_bad.json: step 1 (cheek left): rule movement: 'circle' is not "
    "toward, away or hold",
    "name_long": "name_long.json: rule name: name must be 1..16 characters",
    "period_short": "period_short.json: step 1 (cheek left): rule period: a 3 s stroke is "
    "shorter than one period at 0.3 Hz",
    "polarity_extra": "polarity_extra.json: step 1 (cheek left): rule polarity: polarity only "
    "for monophasic steps",
    "polarity_missing": "polarity_missing.json: step 1 (cheek left): rule polarity: a "
    "monophasic step needs polarity",
    "probe_unknown": "probe_unknown.json: rule probe: 'roller' is not disk, globe or qtip",
    "purpose_empty": "purpose_empty.json: rule purpose: purpose must be 1..120 characters",
    "rising_flat": "rising_flat.json: step 1 (cheek left): rule rising: intensity min 100 must "
    "be below max 100: the strokes rise in intensity",
    "shape_unknown": "shape_unknown.json: step 1 (cheek left): rule shape: 'square' is not "
    "biphasic, monophasic or wave",
    "side_neck_centre": "side_neck_centre.json: step 1 (neck_side centre): rule side: "
    "neck_side has no centre position (centre only on forehead, brow, chin)",
    "steps_empty": "steps_empty.json: rule steps: a program has 1..64 steps",
    "stroke_s_long": "stroke_s_long.json: step 1 (cheek left): rule stroke_s: 90 s outside "
    "2..60 s",
    "strokes_two": "strokes_two.json: step 1 (cheek left): rule strokes: 2 strokes; each "
    "position needs 3..20",
    "total_long": "total_long.json: rule total: 2400 s in total, outside 60..1800 s (30 min)",
    "total_short": "total_short.json: rule total: 12 s in total, outside 60..1800 s (30 min)",
    "twin_differ": "twin_differ.json: step 1 (cheek left): rule twin: 1 left and 0 right steps "
    "like this one: every left step needs an identical right twin",
    "twin_missing": "twin_missing.json: step 1 (cheek left): rule twin: 1 left and 0 right "
    "steps like this one: every left step needs an identical right twin",
    "type_strokes": "type_strokes.json: step 1 (cheek left): rule type: strokes must be an "
    "integer",
    "type_toplevel": "type_toplevel.json: rule type: a program must be a JSON object",
    "wave_short": "wave_short.json: step 1 (cheek left): rule wave: a 10 s stroke is shorter "
    "than one envelope (2 x 5 + 2 s)",
    "waveform_balance": "waveform_balance.json: step 1 (cheek left): rule waveform: freq_mhz: "
    "monophasic charge cannot balance within 5 % per 20 s",
}

# every tag the validator can report (firmware/programs.py header)
RULES = (
    "json type key missing format id name purpose probe steps area side movement strokes "
    "stroke_s freq period shape polarity wave intensity rising eye_probe eye_cap density "
    "waveform balance twin total"
).split()

# what each preset's purpose needs (DESIGN 5, the domain text)
NEEDS = {
    "lift": {"jawline", "cheek", "neck_side"},
    "rejuvenate": {"forehead", "cheek", "eye_contour", "nasolabial", "jawline"},
    "eye": {"eye_contour"},
    "tone": {"cheek", "jawline", "forehead"},
    "pores": {"forehead", "nasolabial", "cheek", "chin"},
    "relax": {"forehead", "jawline", "neck_side"},
}


def _rule(msg: str) -> str:
    m = re.search(r"rule (\w+):", msg)
    assert m, msg
    return m.group(1)


@pytest.fixture(scope="module")
def lib() -> P.Library:
    return P.Library((str(PRESETS_DIR), "/nonexistent/programs"))


# --- presets --------------------------------------------------------------------------------


def test_six_presets_load_in_order(lib: P.Library) -> None:
    assert lib.errors == []
    assert lib.ok
    assert lib.ids() == list(P.PRESETS)
    assert sorted(p.stem for p in PRESETS_DIR.glob("*.json")) == sorted(P.PRESETS)


@pytest.mark.rule("4.1", "4.2")
@pytest.mark.parametrize("pid", P.PRESETS)
def test_preset_follows_design(lib: P.Library, pid: str) -> None:
    prog = lib.load(pid)
    assert prog["id"] == pid and lib.name(pid) == prog["name"]
    # 5-15 min, each step's and the whole duration
    assert 5 * 60_000 <= prog["duration_ms"] <= 15 * 60_000
    assert prog["duration_ms"] == sum(s["strokes"] * s["stroke_ms"] for s in prog["steps"])
    areas = {s["area"] for s in prog["steps"]}
    assert areas <= set(SC.AREAS)
    assert NEEDS[pid] <= areas
    for s in prog["steps"]:
        assert s["strokes"] >= 3
        lo, hi = s["intensity_ua"]
        assert 10 <= lo < hi <= L.density_cap_ua(s["probe"])
        if s["area"] == "eye_contour":
            assert s["probe"] in ("globe", "qtip") and hi <= 200
        if s["side"] == "centre":
            assert s["area"] in ("forehead", "brow", "chin")
        assert s["freq_mhz"] == round(s["freq_hz"] * 1000)

    # left/right identical: the same steps on both sides
    def strip(s: dict) -> str:
        return json.dumps({k: v for k, v in s.items() if k != "side"}, sort_keys=True)

    left = sorted(strip(s) for s in prog["steps"] if s["side"] == "left")
    right = sorted(strip(s) for s in prog["steps"] if s["side"] == "right")
    assert left == right and left


def test_preset_probes_and_movements(lib: P.Library) -> None:
    probes = {pid: lib.load(pid)["probe"] for pid in P.PRESETS}
    assert probes == {
        "lift": "disk",
        "rejuvenate": "disk",
        "eye": "globe",
        "tone": "disk",
        "pores": "globe",
        "relax": "disk",
    }
    assert {s["movement"] for s in lib.load("lift")["steps"]} == {"toward"}
    assert {s["movement"] for s in lib.load("relax")["steps"]} == {"away"}
    rej = {s["probe"] for s in lib.load("rejuvenate")["steps"]}
    assert rej == {"disk", "globe"}
    eye = {s["probe"] for s in lib.load("eye")["steps"]}
    assert eye == {"globe", "qtip"}


@pytest.mark.rule("4.2")
def test_presets_within_board_probe_areas() -> None:
    """The boards' probe areas (firmware/boards/*.py) give the same caps the validator uses."""
    from firmware.boards import esp32, pico, sim

    for board in (pico, esp32, sim):
        lib = P.Library((str(PRESETS_DIR),), areas=board.PROBE_AREA_MM2)
        assert lib.ok and lib.errors == [], board.__name__


def test_durations_table_for_the_readme(lib: P.Library) -> None:
    text = (PRESETS_DIR / "README.md").read_text()
    for pid in P.PRESETS:
        prog = lib.load(pid)
        s = prog["duration_ms"] // 1000
        dur = f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
        row = next(line for line in text.splitlines() if line.startswith(f"| {pid} |"))
        assert row.endswith(f"| {len(prog['steps'])} | {dur} |"), row


# --- the validator's rules --------------------------------------------------------------------


def _fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def test_every_fixture_has_an_expected_message() -> None:
    assert sorted(p.stem for p in _fixtures()) == sorted(EXPECTED)


def test_every_rule_has_a_failing_fixture() -> None:
    tags = {_rule(m) for m in EXPECTED.values()}
    assert tags == set(RULES)
    head = Path(PC.__file__).read_text().split("import gc")[0]  # the module's header
    for tag in RULES:
        assert re.search(r"\b%s\b" % tag, head), tag


@pytest.mark.rule("4.1", "4.2", "4.9", "4.10")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_rejected_with_message(name: str) -> None:
    with pytest.raises(ValueError) as e:
        P.load_file(str(FIXTURES / f"{name}.json"))
    msg = str(e.value)
    if name == "json_syntax":
        assert msg.startswith(EXPECTED[name]), msg
    else:
        assert msg == EXPECTED[name]
    assert _rule(msg) == _rule(EXPECTED[name])


def test_fixture_breaks_only_its_rule() -> None:
    """Each fixture is the valid base program with one change: undo that change and it passes
    (checked for the step-level rules by fixing the field the rule names)."""
    base = json.loads((FIXTURES / "strokes_two.json").read_text())
    for s in base["steps"]:
        s["strokes"] = 3
    PC.validate(base, "base.json", expect_id="strokes_two")


def test_area_rule_lists_no_forbidden_area() -> None:
    for bad in ("front_neck", "neck", "neck_front", "eyelid", "eye", "eyeball", "chest", "lips"):
        assert bad not in SC.AREAS


def test_centre_and_eye_rules_compose() -> None:
    prog = json.loads((FIXTURES / "strokes_two.json").read_text())
    prog["id"] = "x"
    for s in prog["steps"]:
        s.update(strokes=3, area="eye_contour", probe="qtip", intensity_ua=[20, 140])
    assert PC.validate(prog, "x.json") == 60_000
    for s in prog["steps"]:
        s["intensity_ua"] = [20, 141]
    with pytest.raises(ValueError, match="rule density: max 141 uA above the 140 uA cap"):
        PC.validate(prog, "x.json")


@pytest.mark.rule("4.2")
def test_probe_areas_are_a_parameter() -> None:
    prog = json.loads((FIXTURES / "density_qtip.json").read_text())
    areas = {"disk": 100, "globe": 50, "qtip": 10}  # a bigger Q-tip: 200 uA
    PC.validate(prog, "density_qtip.json", areas=areas)
    with pytest.raises(ValueError, match="rule probe"):
        PC.validate(prog, "density_qtip.json", areas={"disk": 100, "globe": 50})
    assert L.density_cap_ua("disk") == 1000  # 2000 by density, the ceiling wins
    assert L.density_cap_ua("globe") == 1000
    assert L.density_cap_ua("qtip") == 140


def test_bools_are_not_numbers() -> None:
    prog = json.loads((PRESETS_DIR / "lift.json").read_text())
    prog["steps"][0]["strokes"] = True
    with pytest.raises(ValueError, match="rule type: strokes must be an integer"):
        PC.validate(prog, "lift.json")


# --- caps from safety.limits (one statement of the safety facts) -----------------------------


@pytest.mark.rule("4.1", "4.2")
def test_validator_takes_its_caps_from_safety_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: the validator re-implemented the caps; it now asks limits.cap_ua (pro mode:
    the most any mode allows) and limits.area_cap_ua, so a change there reaches it."""
    from safety import limits

    prog = json.loads((FIXTURES / "strokes_two.json").read_text())
    prog["id"] = "x"
    for step in prog["steps"]:
        step.update(strokes=3, intensity_ua=[20, 300])
    calls: list[tuple] = []
    real = limits.cap_ua

    def spy(mode, area, probe, client=limits.CEILING_UA, areas=None):  # noqa: ANN001, ANN202
        calls.append((mode, area, probe, client))
        return real(mode, area, probe, client, areas)

    monkeypatch.setattr(limits, "cap_ua", spy)
    PC.validate(prog, "x.json")
    assert calls == [("pro", "cheek", "disk", None)] * 2
    # a lower cap in limits is the validator's cap at once
    monkeypatch.setattr(limits, "cap_ua", lambda *a, **k: 250)
    with pytest.raises(ValueError, match="rule density: max 300 uA above the 250 uA cap"):
        PC.validate(prog, "x.json")
    monkeypatch.undo()
    for step in prog["steps"]:
        step.update(area="eye_contour", probe="globe", intensity_ua=[20, 180])
    PC.validate(prog, "x.json")
    monkeypatch.setattr(limits, "EYE_CAP_UA", 150)
    with pytest.raises(ValueError, match="rule eye_cap: max 180 uA above the 150 uA eye cap"):
        PC.validate(prog, "x.json")


@pytest.mark.rule("4.1", "4.2", "4.9")
@pytest.mark.parametrize(
    "name, value, message",
    [
        ("CEILING_UA", 250, "rule density: max 300 uA above the 250 uA cap of the disk probe"),
        ("DENSITY_UA_PER_MM2", 2, "max 300 uA above the 200 uA cap of the disk probe (0.2 mA/cm2"),
        ("PROBE_AREA_MM2", {"disk": 10}, "max 300 uA above the 200 uA cap of the disk probe"),
        ("MIN_UA", 30, "rule intensity: min 20 uA below 30 uA"),
        ("PROGRAM_MAX_MS", 60_000, "rule total: 120 s in total, outside 60..60 s (1 min)"),
    ],
)
def test_a_safety_fact_lowered_in_limits_is_the_validators_at_once(
    monkeypatch: pytest.MonkeyPatch, name: str, value: object, message: str
) -> None:
    """Issue 11: the validator states no safety fact of its own. It reads the ceiling, the
    density and the probe areas, the lowest intensity and the 30 min program cap from
    safety.limits when it checks (a copy taken at import would keep the old value)."""
    prog = json.loads((FIXTURES / "strokes_two.json").read_text())
    prog["id"] = "x"
    for step in prog["steps"]:
        step.update(strokes=6, intensity_ua=[20, 300])
    assert PC.validate(prog, "x.json") == 120_000
    monkeypatch.setattr(L, name, value)
    with pytest.raises(ValueError) as e:
        PC.validate(prog, "x.json")
    assert message in str(e.value)


@pytest.mark.rule("4.1", "4.2")
@pytest.mark.parametrize("probe", ["disk", "globe", "qtip"])
@pytest.mark.parametrize("area", SC.AREAS)
def test_validator_cap_is_the_supervisors_cap(area: str, probe: str) -> None:
    from safety import limits

    if area == "eye_contour" and probe == "disk":
        return  # rule eye_probe
    cap = limits.cap_ua("pro", area, probe, None)
    prog = json.loads((FIXTURES / "strokes_two.json").read_text())
    prog["id"] = "x"
    for step in prog["steps"]:
        step.update(strokes=3, area=area, probe=probe, intensity_ua=[10, cap])
    PC.validate(prog, "x.json")
    for step in prog["steps"]:
        step["intensity_ua"] = [10, cap + 1]
    with pytest.raises(ValueError, match="rule (density|eye_cap): max %d uA" % (cap + 1)):
        PC.validate(prog, "x.json")


# --- monophasic balance (issue 11 item 4, DESIGN 3) -----------------------------------------


def mono_prog(**fields: object) -> dict:
    prog = json.loads((FIXTURES / "strokes_two.json").read_text())
    prog["id"] = "m"
    for step in prog["steps"]:
        step.update(
            strokes=6,
            stroke_s=10,
            shape="monophasic",
            freq_hz=40,
            intensity_ua=[60, 350],
            polarity="pos_first",
        )
        step.update(fields)
    return prog


@pytest.mark.rule("3.4")
def test_monophasic_step_shorter_than_two_alternation_intervals_is_rejected() -> None:
    """A step that ends before its second polarity has had its turn is DC. Accepted before."""

    def prog(strokes: int) -> dict:
        p = mono_prog(strokes=strokes, stroke_s=5, alt_s=10, freq_hz=40)
        p["steps"] += [dict(s, shape="biphasic", area="jawline") for s in p["steps"]]
        for s in p["steps"][2:]:
            del s["polarity"], s["alt_s"]
        return p

    with pytest.raises(ValueError, match="rule balance: a 15 s monophasic step is shorter than "):
        PC.validate(prog(3), "m.json")
    # 20 s = two intervals of 10 s: the length rule passes (the profile is checked next)
    with pytest.raises(ValueError, match="rule balance: net charge"):
        PC.validate(prog(4), "m.json")


@pytest.mark.rule("3.4")
@pytest.mark.parametrize("alt_s, intervals", [(5, 2), (1, 10), (2, 5)])
def test_strokes_lasting_even_alternation_intervals_are_rejected(
    alt_s: int, intervals: int
) -> None:
    """The shipped tone step (10 s strokes, 5 s alternation): every soft start on the same
    polarity, 23 % net in a 20 s window. Accepted before."""
    prog = mono_prog(alt_s=alt_s)
    if intervals % 2:
        # an odd number of intervals alternates the ramps' side, but these rising strokes
        # still differ too much from one interval to the next
        with pytest.raises(ValueError, match="rule balance: net charge .* do not even out"):
            PC.validate(prog, "m.json")
        return
    msg = (
        r"rule balance: net charge \d+\.\d %% of a 20 s window's charge \(limit 5 %%\): "
        r"strokes of 10 s are %d alternation intervals of %d s, so every soft start falls on "
        r"the same polarity" % (intervals, alt_s)
    )
    with pytest.raises(ValueError, match=msg):
        PC.validate(prog, "m.json")


@pytest.mark.rule("3.4")
def test_shipped_monophasic_steps_balance(lib: P.Library) -> None:
    from firmware import stepbalance as B
    from waveforms import plan as W

    seen = 0
    for pid in P.PRESETS:
        for step in lib.load(pid)["steps"]:
            if step["shape"] != "monophasic":
                continue
            p = W.build_step(W.Plan(), step, 1000)
            w = B.worst_permille(
                step["stroke_ms"],
                step["strokes"],
                *step["intensity_ua"],
                p.period_us,
                p.phase_us,
                p.alt_periods,
            )
            assert w <= 40, (pid, step, w)  # a margin below the 50 per mille limit
            seen += 1
    assert seen == 8  # tone's cheek pair and the six of pores


def period_sim_permille(
    freq_hz: float, alt_s: int, stroke_s: int, strokes: int, lo: int, top: int
) -> float:
    """An independent model: the player period by period (the level set at each period start
    from the soft start, 100 uA/s from zero at each stroke; the polarity flipping every
    alt_periods periods), every 20 s window of whole periods, 16 start phases over a cycle."""
    from waveforms import plan as W

    pl = W.make(W.MONOPHASIC, round(freq_hz * 1000), top, 1000, alt_ms=alt_s * 1000)
    per, n_alt, width = pl.period_us, pl.alt_periods, pl.phase_us
    stroke_us = stroke_s * 1_000_000
    levels = [lo + (top - lo) * (k + 1) // strokes for k in range(strokes)]
    amps = []
    for i in range(stroke_us * strokes // per):
        k, into = divmod(i * per, stroke_us)
        amps.append(min(levels[k], into * 100 / 1e6) * width)
    w = 20_000_000 // per
    worst = 0.0
    for j in range(16):
        k0 = 2 * n_alt * j // 16
        cn = [0.0]
        ct = [0.0]
        for i, q in enumerate(amps):
            cn.append(cn[-1] + (q if ((i + k0) // n_alt) % 2 == 0 else -q))
            ct.append(ct[-1] + q)
        spans = [(a, a + w) for a in range(len(amps) - w + 1)] + [(0, len(amps))]
        for a, b in spans:
            if ct[b] > ct[a]:
                worst = max(worst, abs(cn[b] - cn[a]) / (ct[b] - ct[a]))
    return worst * 1000


def _cases() -> list[tuple]:
    import random

    rnd = random.Random(11)
    out: list[tuple] = []
    while len(out) < 40:
        c = (
            rnd.choice([25, 30, 40, 50, 100]),  # the validator refuses slower (rule gap)
            rnd.randint(1, 10),
            rnd.randint(2, 15),
            rnd.randint(3, 8),
        )
        lo = rnd.randint(10, 200)
        case = c + (lo, rnd.randint(lo + 1, 600))
        if case[2] * case[3] <= 90:
            out.append(case)
    return out


@pytest.mark.rule("3.4")
@pytest.mark.parametrize("case", _cases())
def test_balance_model_agrees_with_a_period_by_period_simulation(case: tuple) -> None:
    """firmware/stepbalance.py (integers, 200 ms window grid, pulses spread below 20 Hz)
    against the player simulated period by period: within 1 % of a window's charge."""
    from firmware import stepbalance as B
    from waveforms import plan as W

    freq, alt_s, stroke_s, strokes, lo, hi = case
    try:
        pl = W.make(W.MONOPHASIC, round(freq * 1000), hi, 1000, alt_ms=alt_s * 1000)
    except ValueError:
        return  # the plan's own rule (rule waveform)
    want = max(
        period_sim_permille(freq, alt_s, stroke_s, strokes, lo, B.target_ua(lo, hi, lv))
        for lv in B.CLIENT_LEVELS
    )
    got = B.worst_permille(
        stroke_s * 1000, strokes, lo, hi, pl.period_us, pl.phase_us, pl.alt_periods
    )
    assert abs(got - want) <= 10, (got, want)


@pytest.mark.rule("3.4")
def test_accepted_monophasic_programs_balance_at_every_client_level() -> None:
    """What the validator accepts stays within 5 % (to the model's 1 %) at every level the
    client can choose, not only the levels it checks."""
    from firmware import stepbalance as B
    from waveforms import plan as W

    accepted = 0
    for freq, alt_s, stroke_s, strokes, lo, hi in _cases() * 1:
        prog = mono_prog(
            freq_hz=freq, alt_s=alt_s, stroke_s=stroke_s, strokes=strokes, intensity_ua=[lo, hi]
        )
        for step in prog["steps"]:
            step["stroke_s"] = 2 * stroke_s + 1  # odd: more of them pass
        try:
            PC.validate(prog, "m.json")
        except ValueError:
            continue
        accepted += 1
        step = prog["steps"][0]
        pl = W.build_step(W.Plan(), step, 1000)
        for lv in range(1, 11):
            top = B.target_ua(lo, hi, lv)
            worst = period_sim_permille(freq, alt_s, step["stroke_s"], strokes, lo, top)
            assert worst <= 60, (step, lv, worst, pl.alt_periods)
    assert accepted >= 3


@pytest.mark.rule("3.4")
def test_balance_is_checked_after_the_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from firmware import stepbalance as B

    calls: list[tuple] = []
    real = B.worst_permille

    def spy(*a: int) -> int:
        calls.append(a)
        return real(*a)

    monkeypatch.setattr(B, "worst_permille", spy)
    prog = mono_prog(strokes=20, stroke_s=60, alt_s=1)
    prog["steps"] = prog["steps"] * 2  # 80 min
    with pytest.raises(ValueError, match="rule total"):
        PC.validate(prog, "m.json")
    assert calls == []  # a hostile file never costs more than 30 min of steps


def test_run_time_reload_repeats_the_balance_check_only_for_a_changed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from firmware import stepbalance as B

    custom = tmp_path / "programs"
    custom.mkdir()
    prog = mono_prog(strokes=12, stroke_s=5, alt_s=1)
    (custom / "m.json").write_text(json.dumps(prog))
    lib = P.Library((str(PRESETS_DIR), str(custom)))
    assert "m" in lib.ids(), lib.errors
    calls: list[tuple] = []
    monkeypatch.setattr(B, "worst_permille", lambda *a: calls.append(a) or 0)
    lib.load("m")
    assert calls == []  # the text checked at start: within the watchdog's time
    prog["steps"][0]["stroke_s"] = prog["steps"][1]["stroke_s"] = 10
    (custom / "m.json").write_text(json.dumps(prog))
    lib.load("m")
    assert len(calls) == 2  # both twins (the second one from the cache on a board)


# --- the library ------------------------------------------------------------------------------


def _copy_presets(tmp_path: Path) -> tuple[str, str]:
    shipped = tmp_path / "presets"
    custom = tmp_path / "programs"
    shutil.copytree(PRESETS_DIR, shipped)
    custom.mkdir()
    return str(shipped), str(custom)


@pytest.mark.rule("4.10")
def test_broken_custom_file_is_left_out(tmp_path: Path) -> None:
    shipped, custom = _copy_presets(tmp_path)
    shutil.copy(FIXTURES / "area_chest.json", custom)
    good = json.loads((PRESETS_DIR / "relax.json").read_text())
    good["id"] = "mine"
    good["name"] = "Mine"
    (Path(custom) / "mine.json").write_text(json.dumps(good))
    (Path(custom) / "notes.txt").write_text("not a program")
    lib = P.Library((shipped, custom))
    assert lib.ok  # the shipped presets are fine: the self-test passes
    assert lib.ids() == list(P.PRESETS) + ["mine"]
    assert len(lib.errors) == 1 and "rule area" in lib.errors[0]
    assert lib.load("mine")["name"] == "Mine"


def test_custom_cannot_take_a_shipped_id(tmp_path: Path) -> None:
    shipped, custom = _copy_presets(tmp_path)
    shutil.copy(PRESETS_DIR / "lift.json", custom)
    lib = P.Library((shipped, custom))
    assert lib.ids() == list(P.PRESETS)
    assert lib.path("lift") == os.path.join(shipped, "lift.json")
    assert "already defined" in lib.errors[0]


@pytest.mark.rule("4.8")
def test_broken_shipped_preset_fails_the_selftest(tmp_path: Path) -> None:
    shipped, custom = _copy_presets(tmp_path)
    (Path(shipped) / "tone.json").write_text('{"format": 1, "id": "tone"')
    lib = P.Library((shipped, custom))
    assert not lib.ok
    assert "tone" not in lib.ids() and len(lib.ids()) == 5
    assert lib.errors[0].startswith("tone.json: rule json")


def test_no_programs_at_all_is_not_ok(tmp_path: Path) -> None:
    lib = P.Library((str(tmp_path / "none"), str(tmp_path / "none2")))
    assert not lib.ok and lib.ids() == [] and lib.errors == []


def test_load_checks_the_file_again(tmp_path: Path) -> None:
    shipped, custom = _copy_presets(tmp_path)
    lib = P.Library((shipped, custom))
    prog = json.loads((PRESETS_DIR / "pores.json").read_text())
    prog["steps"][0]["area"] = "chest"
    (Path(shipped) / "pores.json").write_text(json.dumps(prog))
    with pytest.raises(ValueError, match="pores.json: step 1 .*rule area"):
        lib.load("pores")
    with pytest.raises(ValueError, match="no such program"):
        lib.load("nope")


def test_default_dirs() -> None:
    shipped, custom = P.default_dirs("/some/root")
    assert Path(shipped) == PRESETS_DIR
    assert custom == "/some/root/programs"
    assert P.default_dirs("/")[1] == "/programs"


def test_library_without_folders_finds_the_shipped_presets() -> None:
    # tools/deploy.py's self-test builds the Library of programs.default_dirs("/") on the board
    lib = P.Library()
    assert lib.ok and lib.ids() == list(P.PRESETS)


# --- properties -------------------------------------------------------------------------------

_VAL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 3000),
    st.floats(-1, 2000),
    st.just(float("nan")),
    st.text(max_size=12),
    st.lists(st.integers(-10, 2000), max_size=3),
)
_KEYS = list(SC.STEP_KEYS) + list(SC.STEP_OPTIONAL) + ["side", "bogus"]


@pytest.mark.rule("4.10")
@given(st.data())
def test_mutated_presets_raise_only_valueerror(data: st.DataObject) -> None:
    """Whatever a file holds, the validator answers with ValueError naming file and rule, or
    accepts it; and an accepted program keeps every safety invariant."""
    pid = data.draw(st.sampled_from(P.PRESETS))
    prog = json.loads((PRESETS_DIR / f"{pid}.json").read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(prog["steps"]) - 1))
        key = data.draw(st.sampled_from(_KEYS))
        prog["steps"][i][key] = data.draw(_VAL)
    try:
        PC.validate(prog, pid + ".json")
    except ValueError as e:
        msg = str(e)
        assert msg.startswith(pid + ".json: ") and " rule " in " " + msg
        assert _rule(msg) in RULES
        return
    for s in prog["steps"]:
        assert s["area"] in SC.AREAS
        lo, hi = s["intensity_ua"]
        probe = s.get("probe", prog["probe"])
        assert 10 <= lo < hi <= L.density_cap_ua(probe) <= 1000
        if s["area"] == "eye_contour":
            assert hi <= 200 and probe in ("globe", "qtip")
        assert s["strokes"] >= 3


@given(st.lists(st.sampled_from(SC.AREAS), min_size=1, max_size=6), st.integers(20, 1000))
def test_generated_programs_pass_only_when_safe(areas: list[str], hi: int) -> None:
    steps = []
    for a in areas:
        for side in ("left", "right"):
            steps.append(
                {
                    "area": a,
                    "side": side,
                    "movement": "hold",
                    "strokes": 3,
                    "stroke_s": 10,
                    "shape": "biphasic",
                    "freq_hz": 10,
                    "intensity_ua": [10, hi],
                    "probe": "globe",
                }
            )
    prog = {"format": 1, "id": "g", "name": "G", "purpose": "p", "probe": "disk", "steps": steps}
    ok = not ("eye_contour" in areas and hi > 200)
    if ok:
        assert PC.validate(prog, "g.json") == 60_000 * len(areas)
    else:
        with pytest.raises(ValueError, match="rule eye_cap"):
            PC.validate(prog, "g.json")


# --- the same on the MicroPython VM -----------------------------------------------------------


def _cpython_lines() -> list[str]:
    lib = P.Library((str(PRESETS_DIR),))
    out = []
    for pid in lib.ids():
        prog = lib.load(pid)
        out.append("PRESET %s %d %d" % (pid, len(prog["steps"]), prog["duration_ms"]))
    for p in _fixtures():
        try:
            P.load_file(str(p))
            out.append("MSG %s accepted" % p.name)
        except ValueError as e:
            msg = str(e)
            out.append("MSG %s %s" % (p.name, msg if _rule(msg) != "json" else "rule json"))
    return out


@pytest.mark.slow
def test_same_results_on_the_micropython_vm() -> None:
    from tools.mpvm import runner

    if not runner.available():
        pytest.fail("MicroPython VM not installed: run `make node`")
    rc, out, err = runner.run_script(MP_SCRIPT, libs=[str(FIXTURES)], timeout=120)
    assert rc == 0, out + err
    vm = [ln for ln in out.splitlines() if ln.startswith(("PRESET ", "MSG "))]
    assert vm == _cpython_lines()
    assert "SKIP" not in out, out


@pytest.mark.rule("4.5")
def test_a_slow_monophasic_step_is_refused_because_its_gaps_cannot_be_watched() -> None:
    # issue 11 item 5: below 25 Hz a monophasic pulse leaves the output silent for more than
    # one contact-probe interval (20 ms); the engine cannot probe inside that gap, so a lift
    # and re-touch there would go unseen and the next pulse land at full level
    for hz in (0.5, 10, 24):
        with pytest.raises(ValueError, match="rule gap: monophasic at %s Hz leaves" % hz):
            PC.validate(mono_prog(freq_hz=hz, alt_s=1, stroke_s=5, strokes=6), "m.json")
    PC.validate(mono_prog(freq_hz=25, alt_s=1, stroke_s=5, strokes=6), "m.json")  # 20 ms gaps
