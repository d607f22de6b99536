"""pytest plugin for `pytest --collect-only -p tools.report.pytest_rules`: writes every
collected test's `rule` marker arguments as JSON ({"nodeid": [rule ids]}) to the file named by
the REPORT_RULES_OUT environment variable. Collection only: no test runs."""

import json
import os


def pytest_collection_modifyitems(session, config, items):
    path = os.environ.get("REPORT_RULES_OUT")
    if not path:
        return
    out = {}
    for item in items:
        ids = []
        for m in item.iter_markers(name="rule"):
            ids.extend(str(a) for a in m.args)
        if ids:
            out[item.nodeid] = sorted(set(ids), key=ids.index)
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
