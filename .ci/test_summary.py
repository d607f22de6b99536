"""Print the one summary block of `make test` from the parts' logs (build/test/).

    python .ci/test_summary.py build/test pytest mpy typecheck lint

Exit status 1 if any part failed or did not run. Standard library only.
"""

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def pytest_counts(logs: Path) -> dict | None:
    xml = logs / "pytest.xml"
    if not xml.is_file():
        return None
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for case in ET.parse(xml).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            counts["skipped"] += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        else:
            counts["passed"] += 1
    return counts


def pytest_detail(logs: Path) -> str:
    xml = logs / "pytest.xml"
    if not xml.is_file():
        return "no report"
    root = ET.parse(xml).getroot()
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    vm = {"passed": 0, "failed": 0, "skipped": 0}
    for case in root.iter("testcase"):
        if case.find("skipped") is not None:
            kind = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            kind = "failed"
        else:
            kind = "passed"
        counts[kind] += 1
        if case.get("classname", "").endswith("test_mpvm"):
            vm[kind] += 1
    cp = {k: counts[k] - vm[k] for k in counts}
    s = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    s += f" (CPython {cp['passed']}/{cp['passed'] + cp['failed']}"
    s += f", MicroPython VM {vm['passed']}/{vm['passed'] + vm['failed']})"
    mp_checks = mp_check_count(logs)
    if mp_checks:
        s += f"\n{'':<23}{mp_checks}"
    return s


def mp_check_count(logs: Path) -> str:
    """Checks inside the MicroPython-side scripts (written by host_tests/test_mpvm.py)."""
    path = logs / "mp_checks.json"
    if not path.is_file():
        return ""
    data = json.loads(path.read_text())
    parts = []
    for mode in ("py", "mpy"):
        runs = [v for k, v in data.items() if k.endswith(f"[{mode}]")]
        if runs:
            p = sum(r[0] for r in runs)
            f = sum(r[1] for r in runs)
            parts.append(f"{mode} {p} passed/{f} failed")
    return "MicroPython-side checks: " + ", ".join(parts)


def mpy_detail(logs: Path) -> str:
    sizes = logs.parent / "mpy_sizes.json"
    log = (logs / "mpy.log").read_text() if (logs / "mpy.log").is_file() else ""
    errors = len(re.findall(r"^mpy-cross: ", log, re.M))
    if errors:
        return f"{errors} compile error(s)"
    if sizes.is_file():
        data = json.loads(sizes.read_text())
        return f"{len(data) - 1} modules, {data['total']} bytes of .mpy"
    return ""


def typecheck_detail(logs: Path) -> str:
    log = logs / "typecheck.log"
    if not log.is_file():
        return ""
    parts = re.findall(r"^typecheck (\S+) \(.*?\): (\S+), (\d+) files", log.read_text(), re.M)
    return "; ".join(f"{port} {res} ({n} files)" for port, res, n in parts)


def lint_detail(logs: Path) -> str:
    log = logs / "lint.log"
    if not log.is_file():
        return ""
    text = log.read_text()
    out = []
    m = re.search(r"Found (\d+) error", text)
    if m:
        out.append(f"ruff check: {m.group(1)} error(s)")
    m = re.search(r"(\d+) files? would be reformatted", text)
    if m:
        out.append(f"ruff format: {m.group(1)} file(s) to reformat (make fmt)")
    return "; ".join(out) or "ruff check + format clean"


DETAIL = {
    "pytest": pytest_detail,
    "mpy": mpy_detail,
    "typecheck": typecheck_detail,
    "lint": lint_detail,
}


def main(argv: list[str]) -> int:
    logs = Path(argv[1])
    parts = argv[2:]
    failed = []
    lines = []
    for part in parts:
        st = logs / f"{part}.status"
        if st.is_file():
            result, secs = st.read_text().split()
        else:
            result, secs = "FAIL", "-"
        try:
            detail = DETAIL.get(part, lambda _p: "")(logs)
        except Exception as e:  # a summary must never hide the results
            detail = f"(no detail: {e})"
        if result != "pass":
            failed.append(part)
        lines.append(f"  {part:<10} {result.upper():<5} {secs:>4} s  {detail}")
    bar = "=" * 78
    print()
    print(bar)
    print("make test summary")
    print("\n".join(lines))
    print(bar)
    if failed:
        print(f"make test: FAILED ({', '.join(failed)}); logs in {logs}/")
    else:
        print("make test: all parts passed")
    # The plain closing line CI reads: pytest's counts, a failed non-pytest part counted as one.
    c = pytest_counts(logs) or {"passed": 0, "failed": 0, "skipped": 0}
    nf = c["failed"] + len([p for p in failed if p != "pytest"])
    if "pytest" in failed and c["failed"] == 0:
        nf += 1
    print(f"tests: {c['passed']} passed, {nf} failed, {c['skipped']} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
