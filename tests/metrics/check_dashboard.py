#!/usr/bin/env python3
"""Checks the PromQL of a Grafana dashboard, and that it names only orca's families.

Every `expr` of the dashboard (panels, rows' nested panels) becomes one recording rule
(`record: check_N`) of a temporary rule file that `promtool check rules` parses: syntax,
function names and argument types are checked without a Prometheus server. A failure
names the panel whose query is wrong. Grafana's interval variables ($__rate_interval,
$__interval, $__range) are replaced by durations first; any other `$` variable fails
(promtool cannot parse it, and the dashboard's only variable is its datasource).

Every orca_* family named by the dashboard, and by the --rules files (their expressions
and annotations), must be in docs/OPERATIONS.md's metric reference, so that neither
shows a series orca does not export.

usage: check_dashboard.py DASHBOARD.json --reference docs/OPERATIONS.md
                          [--rules RULES.yml ...] [--promtool PATH]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Durations standing in for Grafana's own variables: any valid one does for a parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

# A histogram's series add these to the family's name.
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def exprs_of(node, title=None):
    """Yields (panel title, expr) for every target of every panel, depth first."""
    if isinstance(node, dict):
        title = node.get("title", title) if "targets" in node or "panels" in node else title
        if isinstance(node.get("expr"), str):
            yield title or "(untitled panel)", node["expr"]
        for value in node.values():
            yield from exprs_of(value, title)
    elif isinstance(node, list):
        for value in node:
            yield from exprs_of(value, title)


def reference_names(path):
    """The family names of the metric reference's tables: `name` in a row's first cell."""
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|", line)
            if m:
                names.add(m.group(1))
    return names


def unknown_families(text, known):
    out = set()
    for name in re.findall(r"\b(orca_[a-z0-9_]+)", text):
        base = name
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in known:
                base = name[: -len(suffix)]
        if base not in known:
            out.add(name)
    return sorted(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dashboard")
    parser.add_argument("--reference", required=True, help="docs/OPERATIONS.md")
    parser.add_argument("--rules", nargs="*", default=[], help="rule files to name-check")
    parser.add_argument("--promtool", default=shutil.which("promtool"))
    args = parser.parse_args()
    if not args.promtool:
        sys.exit("check_dashboard: promtool not found (Debian package prometheus)")

    with open(args.dashboard, encoding="utf-8") as f:
        dashboard = json.load(f)
    known = reference_names(args.reference)
    if not known:
        sys.exit(f"check_dashboard: no metric names found in {args.reference}'s tables")

    failures = []
    checks = []  # (title, expr after substitution)
    for title, expr in exprs_of(dashboard):
        for var, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(var, value)
        if "$" in expr:
            failures.append(f'panel "{title}": unknown variable in {expr!r}')
        for name in unknown_families(expr, known):
            failures.append(f'panel "{title}": {name} is not in {args.reference}\'s metric reference')
        checks.append((title, expr))
    if not checks:
        sys.exit(f"check_dashboard: no expr in {args.dashboard}")

    for path in args.rules:
        with open(path, encoding="utf-8") as f:
            for name in unknown_families(f.read(), known):
                failures.append(f"{path}: {name} is not in {args.reference}'s metric reference")

    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "dashboard-rules.yml")
        with open(rules, "w", encoding="utf-8") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, (_, expr) in enumerate(checks, 1):
                # A JSON string is a valid YAML double-quoted scalar.
                f.write(f"      - record: check_{i}\n        expr: {json.dumps(expr)}\n")
        run = subprocess.run([args.promtool, "check", "rules", rules], capture_output=True,
                             text=True)
        if run.returncode != 0:
            output = run.stdout + run.stderr
            named = False
            for m in re.finditer(r'"check_(\d+)": (.*)', output):
                title, expr = checks[int(m.group(1)) - 1]
                failures.append(f'panel "{title}": {m.group(2)}\n    expr: {expr}')
                named = True
            if not named:
                failures.append(f"promtool check rules failed:\n{output}")

    if failures:
        print(f"check_dashboard: {args.dashboard}: {len(failures)} problem(s)", file=sys.stderr)
        for failure in failures:
            print("  " + failure, file=sys.stderr)
        return 1
    print(f"check_dashboard: {args.dashboard}: {len(checks)} expressions parse, "
          "all families are in the metric reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
