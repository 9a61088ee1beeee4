#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print the record layout uapi/minikvm/trace.h promises, as the compiler
lays it out: one line per field, "<event> <field> <offset> <size>", for
every struct minikvm_trace_<event> (pad fields and the common header
excluded).  The testbed compares these lines with the kernel's tracefs
format files of the loaded module (selftests/testbed/trace.sh), so the
stable interface is checked where it is consumed, not only at build time.

The field names come from parsing the header; the offsets and sizes from a
C program compiled against it (offsetof/sizeof), so nothing is computed
twice by hand.

Usage: scripts/trace_layout.py [--header PATH] [--cc CC] > layout.txt
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRUCT_RE = re.compile(r"struct minikvm_trace_(\w+)\s*\{(.*?)\};", re.S)
FIELD_RE = re.compile(r"^\s*(?:__[us](?:8|16|32|64)|struct\s+\w+)\s+(\w+)(\[\d+\])?\s*;",
                      re.M)


def fields(header_text):
    out = []
    for m in STRUCT_RE.finditer(header_text):
        event = m.group(1)
        if event == "common":
            continue
        body = re.sub(r"/\*.*?\*/", "", m.group(2), flags=re.S)
        for f in FIELD_RE.finditer(body):
            name = f.group(1)
            if name in ("common", "pad") or name.startswith("pad"):
                continue
            out.append((event, name))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--header", default=os.path.join(ROOT, "uapi", "minikvm", "trace.h"))
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    args = ap.parse_args()
    with open(args.header) as f:
        text = f.read()
    fl = fields(text)
    if not fl:
        print("trace_layout: no minikvm_trace_* structs in %s" % args.header, file=sys.stderr)
        return 1
    src = ["#include <stddef.h>", "#include <stdio.h>",
           '#include "%s"' % os.path.abspath(args.header), "int main(void) {"]
    for ev, name in fl:
        src.append('  printf("%%s %%s %%zu %%zu\\n", "%s", "%s", offsetof(struct minikvm_trace_%s, %s), '
                   'sizeof(((struct minikvm_trace_%s *)0)->%s));' % (ev, name, ev, name, ev, name))
    src.append("  return 0;\n}")
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "layout.c")
        exe = os.path.join(d, "layout")
        with open(c, "w") as f:
            f.write("\n".join(src) + "\n")
        subprocess.run([args.cc, "-o", exe, c], check=True)
        r = subprocess.run([exe], check=True, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(r.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
