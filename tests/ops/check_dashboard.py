#!/usr/bin/env python3
"""Checks the operations files against the documentation.

usage: check_dashboard.py DASHBOARD.json METRICS.md UNIT.service...

- Every `tunnelgate_*` metric name in every panel target expression (rows' nested panels
  included) and in every template variable query of the Grafana dashboard must be a metric
  documented in docs/metrics.md, i.e. appear as a table row starting with | `name` |.
  Counters are documented with their `_total` suffix and queried with it, so names are
  compared exactly.
- The dashboard must be importable with a ${DS_PROMETHEUS} input and have an `instance`
  variable (sums across nodes).
- Every systemd unit must have ExecStart= and an ExecStartPre= that runs --check-config.

Exits 0 when everything holds, 1 with one line per problem otherwise.
"""
import json
import re
import sys

METRIC_RE = re.compile(r"\btunnelgate_[a-z0-9_]+")
DOC_ROW_RE = re.compile(r"^\|\s*`(tunnelgate_[a-z0-9_]+)`\s*\|", re.MULTILINE)


def documented_metrics(path):
    with open(path, encoding="utf-8") as f:
        return set(DOC_ROW_RE.findall(f.read()))


def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def dashboard_expressions(dash):
    """(where, expression) for every target and template query."""
    for p in walk_panels(dash.get("panels")):
        for t in p.get("targets") or []:
            expr = t.get("expr")
            if expr is not None:
                yield f'panel {p.get("id")} "{p.get("title")}" target {t.get("refId")}', expr
    for v in (dash.get("templating") or {}).get("list") or []:
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        for where, text in (("query", q), ("definition", v.get("definition"))):
            if isinstance(text, str):
                yield f'variable "{v.get("name")}" {where}', text


def check_dashboard(dash_path, documented):
    problems = []
    with open(dash_path, encoding="utf-8") as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            return [f"{dash_path}: not JSON: {e}"]
    inputs = [i.get("name") for i in dash.get("__inputs") or []]
    if "DS_PROMETHEUS" not in inputs:
        problems.append(f"{dash_path}: no __inputs entry DS_PROMETHEUS")
    variables = [v.get("name") for v in (dash.get("templating") or {}).get("list") or []]
    if "instance" not in variables:
        problems.append(f"{dash_path}: no template variable 'instance'")
    used = 0
    n_targets = 0
    for where, expr in dashboard_expressions(dash):
        n_targets += 1
        for name in METRIC_RE.findall(expr):
            used += 1
            if name not in documented:
                problems.append(f"{dash_path}: {where}: metric {name} is not in docs/metrics.md")
    if n_targets == 0 or used == 0:
        problems.append(f"{dash_path}: no target expressions with tunnelgate_ metrics found")
    return problems


def check_unit(path):
    problems = []
    exec_start, pre_check = False, False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("ExecStart="):
                exec_start = bool(line[len("ExecStart="):].strip())
            elif line.startswith("ExecStartPre=") and "--check-config" in line:
                pre_check = True
    if not exec_start:
        problems.append(f"{path}: no ExecStart=")
    if not pre_check:
        problems.append(f"{path}: no ExecStartPre= with --check-config")
    return problems


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    dash_path, metrics_md, units = argv[1], argv[2], argv[3:]
    documented = documented_metrics(metrics_md)
    if not documented:
        print(f"{metrics_md}: no documented metrics found", file=sys.stderr)
        return 1
    problems = check_dashboard(dash_path, documented)
    for u in units:
        problems += check_unit(u)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"ok: dashboard uses only documented metrics ({len(documented)} documented); "
          f"{len(units)} unit file(s) have ExecStart and ExecStartPre --check-config")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
