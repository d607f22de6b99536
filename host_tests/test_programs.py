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

from firmware import programs as P

ROOT = Path(__file__).resolve().parent.parent
PRESETS_DIR = ROOT / "firmware" / "presets"
FIXTURES = ROOT / "host_tests" / "fixtures" / "programs"
MP_SCRIPT = ROOT / "host_tests" / "mp_tests" / "mp_test_programs.py"

# fixture -> the exact message (the json one: its prefix; the parser's detail differs by runtime)
EXPECTED = {
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
    "waveform twin total"
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
    assert areas <= set(P.AREAS)
    assert NEEDS[pid] <= areas
    for s in prog["steps"]:
        assert s["strokes"] >= 3
        lo, hi = s["intensity_ua"]
        assert 10 <= lo < hi <= P.probe_cap_ua(s["probe"])
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
    head = Path(P.__file__).read_text().split("import json")[0]  # the module's header
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
    P.validate(base, "base.json", expect_id="strokes_two")


def test_area_rule_lists_no_forbidden_area() -> None:
    for bad in ("front_neck", "neck", "neck_front", "eyelid", "eye", "eyeball", "chest", "lips"):
        assert bad not in P.AREAS


def test_centre_and_eye_rules_compose() -> None:
    prog = json.loads((FIXTURES / "strokes_two.json").read_text())
    prog["id"] = "x"
    for s in prog["steps"]:
        s.update(strokes=3, area="eye_contour", probe="qtip", intensity_ua=[20, 140])
    assert P.validate(prog, "x.json") == 60_000
    for s in prog["steps"]:
        s["intensity_ua"] = [20, 141]
    with pytest.raises(ValueError, match="rule density: max 141 uA above the 140 uA cap"):
        P.validate(prog, "x.json")


@pytest.mark.rule("4.2")
def test_probe_areas_are_a_parameter() -> None:
    prog = json.loads((FIXTURES / "density_qtip.json").read_text())
    areas = {"disk": 100, "globe": 50, "qtip": 10}  # a bigger Q-tip: 200 uA
    P.validate(prog, "density_qtip.json", areas=areas)
    with pytest.raises(ValueError, match="rule probe"):
        P.validate(prog, "density_qtip.json", areas={"disk": 100, "globe": 50})
    assert P.probe_cap_ua("disk") == 1000  # 2000 by density, the ceiling wins
    assert P.probe_cap_ua("globe") == 1000
    assert P.probe_cap_ua("qtip") == 140


def test_bools_are_not_numbers() -> None:
    prog = json.loads((PRESETS_DIR / "lift.json").read_text())
    prog["steps"][0]["strokes"] = True
    with pytest.raises(ValueError, match="rule type: strokes must be an integer"):
        P.validate(prog, "lift.json")


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
    with pytest.raises(ValueError, match="tone.json: rule json"):
        P.load_all((shipped, custom))


def test_no_programs_at_all_is_not_ok(tmp_path: Path) -> None:
    lib = P.Library((str(tmp_path / "none"), str(tmp_path / "none2")))
    assert not lib.ok and lib.ids() == []
    with pytest.raises(ValueError, match="no program found"):
        P.load_all((str(tmp_path / "none"),))


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


def test_load_all_for_the_deploy_selftest() -> None:
    # tools/deploy.py calls programs.load_all() with no argument on the board
    lib = P.load_all()
    assert lib.ids() == list(P.PRESETS)


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
_KEYS = list(P._STEP_KEYS) + list(P._STEP_OPTIONAL) + ["side", "bogus"]


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
        P.validate(prog, pid + ".json")
    except ValueError as e:
        msg = str(e)
        assert msg.startswith(pid + ".json: ") and " rule " in " " + msg
        assert _rule(msg) in RULES
        return
    for s in prog["steps"]:
        assert s["area"] in P.AREAS
        lo, hi = s["intensity_ua"]
        probe = s.get("probe", prog["probe"])
        assert 10 <= lo < hi <= P.probe_cap_ua(probe) <= 1000
        if s["area"] == "eye_contour":
            assert hi <= 200 and probe in ("globe", "qtip")
        assert s["strokes"] >= 3


@given(st.lists(st.sampled_from(P.AREAS), min_size=1, max_size=6), st.integers(20, 1000))
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
        assert P.validate(prog, "g.json") == 60_000 * len(areas)
    else:
        with pytest.raises(ValueError, match="rule eye_cap"):
            P.validate(prog, "g.json")


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
