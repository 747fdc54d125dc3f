#!/usr/bin/env python3
"""Compare the instructions of tokend's own code between the dumps of tk_timing.

usage: compare.py OUT_PREFIX

OUT_PREFIX.1, OUT_PREFIX.2, ... are the callgrind dumps tk_timing made,
each named "CASE STATE ROUND" (STATE known or unknown).  For each dump,
callgrind_annotate --inclusive=no gives the instructions (Ir) of every
function; only those in lib/tk_*.c count (libc, libpq, libcrypto, json-c
and libfcgi are left out).  For every case and round, the known and the
unknown request must have spent exactly the same Ir in every function of
lib/tk_*.c.  Prints one "ok - " or "not ok - " line per case and round,
with the functions that differ, and "N passed, N failed" last.
"""
import collections
import glob
import re
import subprocess
import sys

TRIGGER = "desc: Trigger: Client Request: "
OWN = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(?:\S*/)?(lib/tk_\w+\.c):(\S+)")


def own_costs(path):
    """{file:function: Ir} of lib/tk_*.c in one dump."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
        check=True, capture_output=True, text=True).stdout
    costs = collections.Counter()
    for line in out.splitlines():
        m = OWN.match(line)
        if m:
            name = m.group(2) + ":" + m.group(3)
            costs[name] += int(m.group(1).replace(",", ""))
    return costs


def main():
    prefix = sys.argv[1]
    dumps = {}
    for path in glob.glob(glob.escape(prefix) + ".*"):
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith(TRIGGER):
                    dumps[line[len(TRIGGER):].strip()] = path
                    break
    runs = collections.defaultdict(dict)
    for label, path in dumps.items():
        words = label.split()
        if len(words) != 3 or words[1] not in ("known", "unknown") or words[2] == "0":
            continue  # the dump at exit, and round 0 (the warm-up)
        case, state, rnd = words
        runs[(case, int(rnd))][state] = own_costs(path)
    passed = failed = 0
    if not runs:
        print("not ok - no dumps under %s.*" % prefix)
        failed += 1
    for (case, rnd), states in sorted(runs.items()):
        known, unknown = states.get("known"), states.get("unknown")
        if known is None or unknown is None:
            print("not ok - %s round %d: a dump is missing" % (case, rnd))
            failed += 1
            continue
        tk, tu = sum(known.values()), sum(unknown.values())
        diff = sorted(f for f in set(known) | set(unknown) if known[f] != unknown[f])
        if tk > 0 and not diff:
            print("ok - %s round %d: %d Ir in lib/tk_*.c for a known id and for an "
                  "unknown one" % (case, rnd, tk))
            passed += 1
        else:
            print("not ok - %s round %d: %d Ir for a known id, %d for an unknown one; %s"
                  % (case, rnd, tk, tu, ", ".join(
                      "%s %d/%d" % (f, known[f], unknown[f]) for f in diff) or "nothing counted"))
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
