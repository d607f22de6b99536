"""The traceability matrix: rule -> code -> tests (from the `rule` markers) -> measured value.

Tests are collected, never run: `pytest --collect-only -p tools.report.pytest_rules` in a
subprocess (the same collection `make test` does, so parametrised and hypothesis tests count).
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

from tools.report.rules import RULES, SECTION4

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collect(root: str = ROOT, tests: str = "host_tests", timeout: float = 300) -> dict:
    """{rule id: sorted test names} from a collect-only pytest run; test names are node ids
    without their parameters (a parametrised test counts once)."""
    with tempfile.TemporaryDirectory(prefix="rules-") as tmp:
        out = os.path.join(tmp, "rules.json")
        env = dict(os.environ, REPORT_RULES_OUT=out)
        env.pop("PYTEST_ADDOPTS", None)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "tools.report.pytest_rules",
            "-p",
            "no:cacheprovider",
            tests,
        ]
        r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        if not os.path.exists(out):
            raise RuntimeError(
                "test collection failed (exit %d):\n%s%s"
                % (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
            )
        with open(out) as f:
            items = json.load(f)
    by_rule: dict[str, set] = {}
    for nodeid, ids in items.items():
        name = re.sub(r"\[.*\]$", "", nodeid)
        for rid in ids:
            by_rule.setdefault(rid, set()).add(name)
    return {k: sorted(v) for k, v in by_rule.items()}


def unknown_rules(by_rule: dict) -> list[str]:
    return sorted(k for k in by_rule if k not in RULES)


def missing_section4(by_rule: dict) -> list[str]:
    return [r for r in SECTION4 if not by_rule.get(r)]


def code_ref_problems(root: str = ROOT) -> list[str]:
    """Every `code` entry of rules.RULES names a file and a top-level name (or Class.method)
    that exist in it."""
    problems = []
    cache: dict[str, set] = {}
    for rid, r in RULES.items():
        for ref in r["code"]:
            path, _, name = ref.partition(":")
            full = os.path.join(root, path)
            if path not in cache:
                if not os.path.exists(full):
                    problems.append("%s: %s: no such file" % (rid, path))
                    cache[path] = set()
                    continue
                with open(full, encoding="utf-8") as f:
                    tree = ast.parse(f.read())
                names = set()
                for node in tree.body:
                    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                        names.add(node.name)
                        if isinstance(node, ast.ClassDef):
                            for sub in node.body:
                                if isinstance(sub, ast.FunctionDef):
                                    names.add(node.name + "." + sub.name)
                    elif isinstance(node, ast.Assign):
                        for t in node.targets:
                            if isinstance(t, ast.Name):
                                names.add(t.id)
                cache[path] = names
            if name and name not in cache[path]:
                problems.append("%s: %s: %s not defined there" % (rid, path, name))
    return problems


def _fmt(v) -> str:
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def matrix(by_rule: dict, bench: dict | None, figures: dict) -> list[dict]:
    """One row per rule: id, title, code, tests, measured (text) and where it came from."""
    rows = []
    for rid, r in RULES.items():
        measured = None
        source = None
        if bench:
            vals = [(k, bench.get(k)) for k in r["bench"] if bench.get(k) is not None]
            if vals:
                measured = "; ".join("%s = %s" % (k, _fmt(v)) for k, v in vals)
                source = "build/bench.json"
        if measured is None:
            vals = [figures[k] for k in r["figure"] if figures.get(k)]
            if vals:
                measured = "; ".join(vals)
                source = "this report"
        rows.append(
            {
                "rule": rid,
                "title": r["title"],
                "code": r["code"],
                "tests": by_rule.get(rid, []),
                "measured": measured or "not measured",
                "source": source or "",
            }
        )
    return rows


def write_csv(rows: list[dict], path: str) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rule", "title", "code", "tests", "measured", "source"])
        for r in rows:
            w.writerow(
                [
                    r["rule"],
                    r["title"],
                    " ".join(r["code"]),
                    " ".join(r["tests"]),
                    r["measured"],
                    r["source"],
                ]
            )
