#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side check of the bpftrace scripts in bpf-traces/ (no root, no BPF).

bpftrace resolves `args->field` of a tracepoint only when it attaches, from
the event's tracefs "format" file: a misspelt field, or a field that the
contract does not have, shows up only in a guest that runs minikvm (a Bochs
boot).  This check catches those mistakes on the host, against the contract
itself (uapi/minikvm/trace.h):

  1. every `tracepoint:minikvm:E` a script names is an event of the contract:
     E = "minikvm_" + X with a `struct minikvm_trace_X` in the header;
  2. every `args->F` used in a probe (its predicate or its body) exists as a
     field of the struct of *each* tracepoint that probe attaches to, and is
     not a pad field (the TRACE_EVENTs need not declare pads, so a format
     file may lack them), nor `common` (bpftrace calls those common_*);
  3. a script that has a VMX exit-reason table (`@vmx_exit_reason[N] = "NAME";`
     lines) has exactly MINIKVM_VMX_EXIT_REASONS of the header: every number,
     every name, nothing more;
  4. a script that has a KVM_EXIT_* table (`@kvm_exit_reason[N] = "NAME";`)
     has exactly the KVM_EXIT_* block of linux/kvm.h (the codes of
     kvm_run->exit_reason), when that header is installed;
  5. tracepoints of other systems, or wildcards under minikvm, are refused:
     the scripts are about minikvm and a wildcard hides which fields exist.

Usage:
  check_scripts.py [--header uapi/minikvm/trace.h] [--kvm-header /usr/include/linux/kvm.h] [SCRIPT.bt ...]
  check_scripts.py --self-test

Without SCRIPT arguments it checks every bpf-traces/*.bt.  Exit status 0 when
everything holds, 1 with one line per problem otherwise.  --self-test feeds
the checker deliberately broken scripts (each mistake above) and a correct
one, and fails unless each broken one is refused with the expected message
and the correct one passes: a checker that accepts everything cannot pass it.
"""

import argparse
import glob
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_HEADER = os.path.join(HERE, "..", "uapi", "minikvm", "trace.h")
DEFAULT_KVM_HEADER = "/usr/include/linux/kvm.h"


# ---- the contract --------------------------------------------------------

def strip_c_comments(text):
    return re.sub(r"/\*.*?\*/", " ", re.sub(r"//[^\n]*", "", text), flags=re.S)


def parse_trace_header(path):
    """Returns ({struct suffix: [field names]}, {exit reason number: name})."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    text = strip_c_comments(raw)
    structs = {}
    for m in re.finditer(r"struct\s+minikvm_trace_(\w+)\s*\{(.*?)\}\s*;", text, re.S):
        name, body = m.group(1), m.group(2)
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            fm = re.match(r"(?:struct\s+)?\w+\s+(\w+)\s*(\[[^\]]*\])?$", decl)
            if not fm:
                raise ValueError("%s: cannot parse field declaration %r of struct minikvm_trace_%s"
                                 % (path, decl, name))
            fields.append(fm.group(1))
        structs[name] = fields
    # The exit-reason list is a macro: read it from the raw text (its lines
    # end in backslashes; comments do not occur inside it).
    reasons = {}
    macro = re.search(r"#define\s+MINIKVM_VMX_EXIT_REASONS\(X\)(.*?)(?:\n\s*\n|\n#)", raw, re.S)
    if not macro:
        raise ValueError("%s: no MINIKVM_VMX_EXIT_REASONS(X) macro" % path)
    for num, nm in re.findall(r"X\(\s*(\d+)\s*,\s*(\w+)\s*\)", macro.group(1)):
        reasons[int(num)] = nm
    if "common" not in structs or not reasons:
        raise ValueError("%s: no struct minikvm_trace_common or no exit reasons found" % path)
    return structs, reasons


def parse_kvm_exit_codes(path):
    """The KVM_EXIT_* codes of kvm_run->exit_reason: the contiguous block of
    defines that starts at KVM_EXIT_UNKNOWN (the header also has other
    KVM_EXIT_* families: KVM_EXIT_IO_IN/OUT, KVM_EXIT_HYPERV_*...)."""
    codes = {}
    started = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#define\s+KVM_EXIT_(\w+)\s+(\d+)", line)
            if m and (started or m.group(1) == "UNKNOWN"):
                started = True
                codes[int(m.group(2))] = m.group(1)
            elif started:
                break
    if not codes:
        raise ValueError("%s: no KVM_EXIT_UNKNOWN block" % path)
    return codes


# ---- the scripts ---------------------------------------------------------

def blank_comments_and_strings(src):
    """src with comments and the insides of string literals replaced by
    spaces (newlines kept, so offsets and line numbers stay valid)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('"' + re.sub(r"[^\n]", " ", src[i + 1:j]) + '"')
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def probe_blocks(src):
    """Yields (line, header, body) for every top-level `header { body }` of a
    bpftrace program: header = the probe list and the predicate."""
    clean = blank_comments_and_strings(src)
    depth, start, hdr_start = 0, 0, 0
    for i, c in enumerate(clean):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced '}' at line %d" % (clean.count("\n", 0, i) + 1))
            if depth == 0:
                header = clean[hdr_start:start]
                # A #include or #define line before the first probe is not part of it.
                header = "\n".join(l for l in header.split("\n") if not l.strip().startswith("#"))
                yield clean.count("\n", 0, hdr_start) + 1, header, clean[start + 1:i]
                hdr_start = i + 1
    if depth != 0:
        raise ValueError("unbalanced '{' (missing '}' at the end)")


def check_script(path, structs, reasons, kvm_codes):
    problems = []
    with open(path, encoding="utf-8") as f:
        src = f.read()
    name = os.path.basename(path)
    try:
        blocks = list(probe_blocks(src))
    except ValueError as e:
        return ["%s: %s" % (name, e)]
    for line, header, body in blocks:
        probes = [p for p in re.findall(r"[\w:*./-]+", header.split("/")[0]) if ":" in p]
        events = []
        for p in probes:
            parts = p.split(":")
            if parts[0] in ("tracepoint", "t"):
                if len(parts) != 3 or parts[1] != "minikvm":
                    problems.append("%s:%d: probe %s: only tracepoint:minikvm:<event> is allowed here"
                                    % (name, line, p))
                    continue
                ev = parts[2]
                if "*" in ev or "?" in ev:
                    problems.append("%s:%d: probe %s: no wildcards (name each event, so its fields can be checked)"
                                    % (name, line, p))
                    continue
                if not ev.startswith("minikvm_") or ev[len("minikvm_"):] not in structs \
                        or ev == "minikvm_common":
                    problems.append("%s:%d: tracepoint %s is not an event of uapi/minikvm/trace.h "
                                    "(no struct minikvm_trace_%s)" % (name, line, p, ev[len("minikvm_"):]))
                    continue
                events.append(ev)
        used = sorted(set(re.findall(r"\bargs\s*->\s*(\w+)", header + body)))
        if used and not events:
            problems.append("%s:%d: args->%s used in a probe that is not a minikvm tracepoint"
                            % (name, line, used[0]))
        for ev in events:
            fields = structs[ev[len("minikvm_"):]]
            for fld in used:
                if fld == "common" or fld.startswith("pad"):
                    problems.append("%s:%d: args->%s under %s: not a usable field (pads and the common "
                                    "header need not be in the format file)" % (name, line, fld, ev))
                elif fld not in fields:
                    problems.append("%s:%d: args->%s under %s: struct minikvm_trace_%s has no field %s "
                                    "(fields: %s)" % (name, line, fld, ev, ev[len("minikvm_"):], fld,
                                                      ", ".join(f for f in fields
                                                                if f != "common" and not f.startswith("pad"))))

    def table(mapname):
        t = {}
        for num, nm in re.findall(r"@%s\[\s*(\d+)\s*\]\s*=\s*\"(\w*)\"" % mapname, src):
            if int(num) in t:
                problems.append("%s: @%s[%s] assigned twice" % (name, mapname, num))
            t[int(num)] = nm
        return t

    def compare(mapname, have, want, what):
        for num in sorted(set(have) | set(want)):
            if num not in have:
                problems.append("%s: @%s lacks %d = %s (%s)" % (name, mapname, num, want[num], what))
            elif num not in want:
                problems.append("%s: @%s[%d] = %s is not in %s" % (name, mapname, num, have[num], what))
            elif have[num] != want[num]:
                problems.append("%s: @%s[%d] = %s, but %s says %s" % (name, mapname, num, have[num], what,
                                                                      want[num]))

    vmx = table("vmx_exit_reason")
    if vmx or re.search(r"@vmx_exit_reason\b", src):
        compare("vmx_exit_reason", vmx, reasons, "MINIKVM_VMX_EXIT_REASONS")
    kvm = table("kvm_exit_reason")
    if (kvm or re.search(r"@kvm_exit_reason\b", src)) and kvm_codes is not None:
        compare("kvm_exit_reason", kvm, kvm_codes, "the KVM_EXIT_* codes of linux/kvm.h")
    return problems


def run(scripts, header, kvm_header, quiet=False):
    structs, reasons = parse_trace_header(header)
    kvm_codes = None
    if kvm_header and os.path.exists(kvm_header):
        kvm_codes = parse_kvm_exit_codes(kvm_header)
    elif not quiet:
        print("check_scripts: %s not found: KVM_EXIT_* tables not checked" % kvm_header)
    problems = []
    for s in scripts:
        problems += check_script(s, structs, reasons, kvm_codes)
    return problems


# ---- self-test -----------------------------------------------------------

GOOD = r'''
// a comment with args->nonsense and tracepoint:minikvm:minikvm_bogus in it
BEGIN {
%TABLE%}
tracepoint:minikvm:minikvm_exit
/args->vm == 1/
{
	@x[args->vcpu, @vmx_exit_reason[args->reason & 0xffff]] = count();
	printf("args->bogus in a string { is not code\n");
}
tracepoint:minikvm:minikvm_entry, tracepoint:minikvm:minikvm_exit { @y[args->vm, args->rip] = count(); }
END { clear(@vmx_exit_reason); }
'''

# (name, script text, a fragment the checker's message must contain).  In
# the texts, %TABLE% stands for the whole exit-reason table of the header.
BROKEN = [
    ("unknown field", GOOD.replace("args->vcpu,", "args->cpu,"),
     "args->cpu under minikvm_exit: struct minikvm_trace_exit has no field cpu"),
    ("field of another event", GOOD.replace("@x[args->vcpu", "@x[args->gsi"),
     "has no field gsi"),
    ("field not in every attached event",
     GOOD.replace("@y[args->vm, args->rip]", "@y[args->vm, args->reason]"),
     "args->reason under minikvm_entry"),
    ("field in the predicate", GOOD.replace("/args->vm == 1/", "/args->vmid == 1/"), "no field vmid"),
    ("pad field", "tracepoint:minikvm:minikvm_eoi { @[args->pad] = count(); }", "args->pad under minikvm_eoi"),
    ("unknown tracepoint", GOOD.replace("minikvm:minikvm_entry,", "minikvm:minikvm_enter,"),
     "tracepoint tracepoint:minikvm:minikvm_enter is not an event"),
    ("wildcard", "tracepoint:minikvm:* { @[probe] = count(); }", "no wildcards"),
    ("other system", "tracepoint:kvm:kvm_exit { @[args->exit_reason] = count(); }",
     "only tracepoint:minikvm:<event>"),
    ("wrong reason name", GOOD.replace("%TABLE%", '%TABLE%\t@vmx_exit_reason[30] = "IO";\n'),
     "@vmx_exit_reason[30] = IO, but MINIKVM_VMX_EXIT_REASONS says IO_INSTRUCTION"),
    ("extra reason", GOOD.replace("%TABLE%", '%TABLE%\t@vmx_exit_reason[5] = "X";\n'),
     "@vmx_exit_reason[5] = X is not in MINIKVM_VMX_EXIT_REASONS"),
    ("missing reason", GOOD.replace("%TABLE%", '\t@vmx_exit_reason[30] = "IO_INSTRUCTION";\n'),
     "@vmx_exit_reason lacks 1 = EXTERNAL_INTERRUPT"),
    ("unbalanced braces", GOOD + "\nEND { printf(\"x\");\n", "unbalanced"),
]


def self_test(header, kvm_header):
    structs, reasons = parse_trace_header(header)
    ok = True
    with tempfile.TemporaryDirectory() as d:
        def write(text):
            p = os.path.join(d, "t.bt")
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
            return p

        # The correct script with the whole table: no problems at all.
        full = "".join('\t@vmx_exit_reason[%d] = "%s";\n' % kv for kv in sorted(reasons.items()))
        probs = check_script(write(GOOD.replace("%TABLE%", full)), structs, reasons, None)
        if probs:
            ok = False
            print("self-test FAIL: a correct script was refused: %s" % probs)
        else:
            print("self-test ok: a correct script passes")
        for what, text, expect in BROKEN:
            if what in ("wrong reason name", "extra reason"):
                # the table with one entry changed or added, not duplicated
                m = re.search(r'@vmx_exit_reason\[(\d+)\] = "\w+";\n$', text.split("}")[0])
                text = text.replace("%TABLE%", "".join(l for l in full.splitlines(True)
                                                        if "[%s]" % m.group(1) not in l))
            text = text.replace("%TABLE%", full)
            probs = check_script(write(text), structs, reasons, None)
            if any(expect in p for p in probs):
                print("self-test ok: %s is refused (%s)" % (what, expect))
            else:
                ok = False
                print("self-test FAIL: %s: expected a problem containing %r, got %r" % (what, expect, probs))
        if kvm_header and os.path.exists(kvm_header):
            codes = parse_kvm_exit_codes(kvm_header)
            if codes.get(2) != "IO" or codes.get(10) != "INTR" or "IO_OUT" in codes.values():
                ok = False
                print("self-test FAIL: KVM_EXIT_* block of %s parsed wrongly: %r" % (kvm_header, codes))
            bad = 'BEGIN { @kvm_exit_reason[2] = "IO"; @kvm_exit_reason[10] = "EINTR"; }'
            probs = check_script(write(bad), structs, reasons, codes)
            if any("@kvm_exit_reason[10] = EINTR, but" in p for p in probs) and \
                    any("@kvm_exit_reason lacks 0 = UNKNOWN" in p for p in probs):
                print("self-test ok: a wrong KVM_EXIT_* table is refused")
            else:
                ok = False
                print("self-test FAIL: wrong KVM_EXIT_* table: got %r" % probs)
    print("self-test: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", default=DEFAULT_HEADER)
    ap.add_argument("--kvm-header", default=DEFAULT_KVM_HEADER)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("scripts", nargs="*")
    a = ap.parse_args()
    if a.self_test:
        return self_test(a.header, a.kvm_header)
    scripts = a.scripts or sorted(glob.glob(os.path.join(HERE, "*.bt")))
    if not scripts:
        print("check_scripts: no .bt scripts found in %s" % HERE)
        return 1
    problems = run(scripts, a.header, a.kvm_header)
    for p in problems:
        print("check_scripts: " + p)
    if problems:
        print("check_scripts: %d problem(s) in %d script(s)" % (len(problems), len(scripts)))
        return 1
    print("check_scripts: %d script(s) match uapi/minikvm/trace.h: %s"
          % (len(scripts), " ".join(os.path.basename(s) for s in scripts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
