#!/usr/bin/env python3
"""Prints one closing line 'LABEL: N passed, N failed, N skipped' from a meson
build directory's meson-logs/testlog.json (meson's own summary is not a
format CI reads)."""
import json
import sys

build, label = sys.argv[1], sys.argv[2]
counts = {"passed": 0, "failed": 0, "skipped": 0}
with open(f"{build}/meson-logs/testlog.json") as f:
    for line in f:
        result = json.loads(line).get("result", "")
        if result in ("OK", "EXPECTEDFAIL"):
            counts["passed"] += 1
        elif result == "SKIP":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
print(f"{label}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
sys.exit(1 if counts["failed"] else 0)
