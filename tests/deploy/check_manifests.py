#!/usr/bin/env python3
"""Checks deploy/kubernetes against the orca command it runs.

- every file parses as YAML, and every document has a kind;
- every orca container's args name a subcommand and only flags that subcommand's
  --help lists;
- no Redis URL, password or token sits in an orca container's args (`ps` shows them):
  they come from a Secret through the environment;
- a worker's pod waits longer for it (terminationGracePeriodSeconds) than its --grace;
- every Prometheus query of a KEDA trigger parses (promtool check rules), and names
  only orca_* families documented in docs/OPERATIONS.md.

usage: check_manifests.py DIR --orca PATH --promtool PATH --reference OPERATIONS.md
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml


def duration_seconds(text):
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", text):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def check_container(where, container, orca, helps, failures):
    args = container.get("args", [])
    if not args:
        failures.append(f"{where}: an orca container without args")
        return
    command = args[0]
    if command not in helps:
        run = subprocess.run([orca, command, "--help"], capture_output=True, text=True)
        if run.returncode != 0:
            failures.append(f"{where}: `orca {command}` is not a command: {run.stderr.strip()}")
            return
        helps[command] = set(re.findall(r"(--[a-z][a-z0-9-]*)", run.stdout))
    for arg in args[1:]:
        flag = arg.split("=", 1)[0]
        if flag.startswith("--") and flag not in helps[command]:
            failures.append(f"{where}: `orca {command}` has no flag {flag}")
        if re.search(r"redis(s)?(-cluster)?://|password|token", arg, re.I):
            failures.append(f"{where}: a secret on the command line: {arg}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--orca", required=True)
    parser.add_argument("--promtool", required=True)
    parser.add_argument("--reference", required=True)
    o = parser.parse_args()
    documented = set(re.findall(r"`(orca_[a-z_]+)`", open(o.reference, encoding="utf-8").read()))
    failures = []
    helps = {}
    queries = []
    files = sorted(glob.glob(os.path.join(o.dir, "*.yaml")))
    if not files:
        failures.append(f"no manifests in {o.dir}")
    for path in files:
        name = os.path.basename(path)
        try:
            docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
        except yaml.YAMLError as e:
            failures.append(f"{name}: {e}")
            continue
        for doc in docs:
            kind = doc.get("kind")
            if not kind:
                failures.append(f"{name}: a document without a kind")
                continue
            where = f"{name} {kind} {doc.get('metadata', {}).get('name', '?')}"
            spec = doc.get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("containers", []):
                if not str(c.get("image", "")).startswith("orca"):
                    continue
                check_container(where, c, o.orca, helps, failures)
                args = c.get("args", [])
                if args and args[0] == "worker" and "--grace" in args:
                    grace = duration_seconds(args[args.index("--grace") + 1])
                    waits = spec.get("terminationGracePeriodSeconds", 30)
                    if waits <= grace:
                        failures.append(f"{where}: the pod's {waits} s do not cover --grace {grace} s")
            for trigger in doc.get("spec", {}).get("triggers", []):
                if trigger.get("type") == "prometheus":
                    queries.append((where, trigger["metadata"]["query"]))
    if queries:
        with tempfile.TemporaryDirectory() as tmp:
            rules = {"groups": [{"name": "check", "rules": [
                {"record": f"check_{i}", "expr": q} for i, (_, q) in enumerate(queries)]}]}
            rules_path = os.path.join(tmp, "rules.yml")
            with open(rules_path, "w", encoding="utf-8") as f:
                yaml.safe_dump(rules, f)
            run = subprocess.run([o.promtool, "check", "rules", rules_path],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                failures.append(f"a KEDA query does not parse: {run.stdout}{run.stderr}")
        for where, q in queries:
            for family in re.findall(r"\b(orca_[a-z_]+)", q):
                if family not in documented:
                    failures.append(f"{where}: {family} is not in {o.reference}")
    for f in failures:
        print(f)
    print(f"{len(files)} manifests, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
