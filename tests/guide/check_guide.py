#!/usr/bin/env python3
"""Checks that every C++ code block of docs/GUIDE.md is a snippet of guide_test.cpp.

usage: check_guide.py GUIDE.md guide_test.cpp
A snippet is the text between a "// guide:NAME" line and the next "// end" line.
Blocks and snippets are compared with leading/trailing blank lines removed.
"""
import re
import sys


def main(guide_path, test_path):
    guide = open(guide_path, encoding="utf-8").read()
    test = open(test_path, encoding="utf-8").read()
    snippets = {m.group(1): m.group(2).strip("\n")
                for m in re.finditer(r"^// guide:(\w+)\n(.*?)^// end$", test, re.S | re.M)}
    blocks = [b.strip("\n") for b in re.findall(r"```cpp\n(.*?)```", guide, re.S)]
    missing = [b for b in blocks if b not in snippets.values()]
    for b in missing:
        first = b.splitlines()[0] if b else "(empty)"
        print(f"GUIDE.md block not in {test_path}: starts with: {first}")
    unused = [name for name, text in snippets.items() if text not in blocks]
    for name in unused:
        print(f"snippet {name} of {test_path} is not shown in GUIDE.md")
    print(f"{len(blocks) - len(missing)} passed, {len(missing) + len(unused)} failed")
    return 1 if missing or unused else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
