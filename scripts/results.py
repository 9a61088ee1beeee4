#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Counts for `make check`.

  results.py ctest LOG OUT.json    record a CTest run's counts
  results.py total A.json B.json   sum parts, print 'N passed, N failed'

A part whose file is missing (its build or its run broke before it could
count) is one failure, so nothing that failed to run can look like a pass.
"""
import json
import re
import sys


def ctest(log_path, out_path):
    text = open(log_path, errors="replace").read()
    m = re.search(r"(\d+)% tests passed, (\d+) tests? failed out of (\d+)", text)
    if not m:
        res = {"passed": 0, "failed": 1, "failures": ["ctest: no summary line"]}
    else:
        failed, total = int(m.group(2)), int(m.group(3))
        names = re.findall(r"^\s*\d+ - (\S+) \(", text, re.M)
        res = {"passed": total - failed, "failed": failed, "failures": names}
    json.dump(res, open(out_path, "w"), indent=1)
    print(f"unit: {res['passed']} passed, {res['failed']} failed")
    return 0 if res["failed"] == 0 else 1


def total(paths):
    passed = failed = skipped = 0
    for p in paths:
        name = p.rsplit("/", 1)[-1].removesuffix(".json")
        try:
            r = json.load(open(p))
        except (OSError, ValueError) as e:
            print(f"{name}: did not run ({e.__class__.__name__}): counted as 1 failure")
            failed += 1
            continue
        passed += r.get("passed", 0)
        failed += r.get("failed", 0)
        skipped += r.get("skipped", 0)
        extra = f", {r['skipped']} skipped" if r.get("skipped") else ""
        print(f"{name}: {r.get('passed', 0)} passed, {r.get('failed', 0)} failed{extra}")
        for f in r.get("failures", []):
            print(f"  FAILED: {f}")
    extra = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{extra}")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "ctest":
        sys.exit(ctest(sys.argv[2], sys.argv[3]))
    if len(sys.argv) >= 3 and sys.argv[1] == "total":
        sys.exit(total(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
