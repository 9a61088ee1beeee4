#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check a `minikvm-top --once --json` document against the schema of
bpf-traces/README.md (section "minikvm-top", "JSON"): parses it with a
real JSON parser, checks every member's presence and type, the fixed keys
of the small groups, and that each total equals the sum of its parts.

Usage:
  check_json.py [FILE]          the document from FILE (default stdin);
                                exit 0 if it conforms, 1 with the reasons
  check_json.py --expect-vm-count N [FILE]   also: exactly N VMs
  check_json.py --self-test     feeds broken documents, expects each rejected
"""
import copy
import json
import sys

FIXED = {
    "injections": ["EXTINT", "NMI", "HWEXC", "SWINT", "PRIVSW", "SWEXC", "VID"],
    "interrupts": ["other", "ipi", "msi", "ioapic", "timer", "lvt", "nmi_ioctl"],
    "interrupts_coalesced": ["other", "ipi", "msi", "ioapic", "timer", "lvt", "nmi_ioctl"],
    "eois": ["edge", "level", "spurious"],
    "gsi_sets": ["irq_line", "irqfd", "resample", "kernel"],
    "irqfd_injections": ["inatomic", "work"],
    "irqchip": ["pic_set_irq", "pic_coalesced", "ioapic_set_irq", "ioapic_coalesced",
                "msi_set_irq"],
    "irte_updates": ["posted", "remapped", "failed"],
    "apicv": ["off", "xapic", "x2apic", "tpr_only", "active"],
}
# keys a fixed group may also have, only when non-zero
EXTRA_OK = {
    "injections": lambda k: k == "other" or k.isdigit(),
    "interrupts": lambda k: k == "unknown",
    "interrupts_coalesced": lambda k: k == "unknown",
    "gsi_sets": lambda k: k == "unknown",
    "apicv": lambda k: k == "unknown",
}
SPARSE = ["exits", "userspace_exits", "userspace_errors"]
NUMBERS = ["exits_total", "userspace_total", "interrupts_total", "entries", "failed_entries",
           "reinjections", "ipis_sent", "gsi_unrouted", "irqfd_resamples"]


def is_count(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_counters(where, obj, errors):
    expected = set(NUMBERS) | set(FIXED) | set(SPARSE)
    if not isinstance(obj, dict):
        errors.append(f"{where}: not an object")
        return
    for key in sorted(expected - set(obj)):
        errors.append(f"{where}: missing '{key}'")
    for key in sorted(set(obj) - expected - {"vm", "pid"}):
        errors.append(f"{where}: unexpected member '{key}'")
    for key in NUMBERS:
        if key in obj and not is_count(obj[key]):
            errors.append(f"{where}.{key}: not a count: {obj[key]!r}")
    for group in list(FIXED) + SPARSE:
        g = obj.get(group)
        if g is None:
            continue
        if not isinstance(g, dict):
            errors.append(f"{where}.{group}: not an object")
            continue
        for k, v in g.items():
            if not is_count(v):
                errors.append(f"{where}.{group}.{k}: not a count: {v!r}")
        if group in FIXED:
            for k in FIXED[group]:
                if k not in g:
                    errors.append(f"{where}.{group}: missing key '{k}'")
            for k, v in g.items():
                if k not in FIXED[group]:
                    if not EXTRA_OK.get(group, lambda _k: False)(k):
                        errors.append(f"{where}.{group}: unexpected key '{k}'")
                    elif v == 0:
                        errors.append(f"{where}.{group}.{k}: shown though zero")
        else:
            for k, v in g.items():
                if v == 0:
                    errors.append(f"{where}.{group}.{k}: sparse group shows a zero")

    def total(group):
        g = obj.get(group)
        return sum(v for v in g.values() if is_count(v)) if isinstance(g, dict) else None

    checks = [
        ("exits_total", total("exits")),
        ("interrupts_total", total("interrupts")),
        ("userspace_total",
         None if total("userspace_exits") is None or total("userspace_errors") is None
         else total("userspace_exits") + total("userspace_errors")),
    ]
    for key, want in checks:
        if want is not None and is_count(obj.get(key)) and obj[key] != want:
            errors.append(f"{where}.{key} = {obj[key]}, its parts add up to {want}")
    irq = obj.get("interrupts")
    coal = obj.get("interrupts_coalesced")
    if isinstance(irq, dict) and isinstance(coal, dict):
        for k, v in coal.items():
            if is_count(v) and is_count(irq.get(k, 0)) and v > irq.get(k, 0):
                errors.append(f"{where}: more coalesced {k} interrupts ({v}) than accepted")


def check_document(text, expect_vms=None):
    errors = []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        return [f"not JSON: {e}"]
    if not isinstance(doc, dict):
        return ["the document is not an object"]
    if text.count("\n") != 1 or not text.endswith("\n"):
        errors.append("the document must be one line ending in a newline")
    for key in sorted({"version", "duration_s", "missed", "vms", "unattributed"} - set(doc)):
        errors.append(f"missing top-level '{key}'")
    for key in sorted(set(doc) - {"version", "duration_s", "missed", "vms", "unattributed"}):
        errors.append(f"unexpected top-level '{key}'")
    if doc.get("version") != 1:
        errors.append(f"version is {doc.get('version')!r}, expected 1")
    m = doc.get("missed")
    if not isinstance(m, int) or isinstance(m, bool) or m < 0:
        errors.append(f"missed: not a count: {m!r}")
    d = doc.get("duration_s")
    if not isinstance(d, (int, float)) or isinstance(d, bool) or d < 0:
        errors.append(f"duration_s: not a duration: {d!r}")
    vms = doc.get("vms")
    if not isinstance(vms, list):
        errors.append("vms: not an array")
        vms = []
    seen = []
    for i, vm in enumerate(vms):
        where = f"vms[{i}]"
        if not isinstance(vm, dict):
            errors.append(f"{where}: not an object")
            continue
        if not is_count(vm.get("vm")) or vm.get("vm") == 0:
            errors.append(f"{where}.vm: not a VM number: {vm.get('vm')!r}")
        if not is_count(vm.get("pid")):
            errors.append(f"{where}.pid: not a pid: {vm.get('pid')!r}")
        seen.append(vm.get("vm"))
        check_counters(where, vm, errors)
    if seen != sorted(seen, key=lambda v: v if isinstance(v, int) else -1):
        errors.append(f"vms not sorted by VM number: {seen}")
    if len(set(map(str, seen))) != len(seen):
        errors.append(f"a VM appears twice: {seen}")
    un = doc.get("unattributed")
    if un is not None:
        check_counters("unattributed", un, errors)
        if isinstance(un, dict) and ("vm" in un or "pid" in un):
            errors.append("unattributed: has vm/pid")
    if expect_vms is not None and len(vms) != expect_vms:
        errors.append(f"{len(vms)} VMs, expected {expect_vms}")
    return errors


def self_test():
    good_vm = {
        "vm": 1, "pid": 5, "exits_total": 3, "userspace_total": 2, "interrupts_total": 1,
        "entries": 3, "exits": {"IO_INSTRUCTION": 2, "HLT": 1}, "failed_entries": 0,
        "userspace_exits": {"IO": 2}, "userspace_errors": {},
        "injections": {k: 0 for k in FIXED["injections"]}, "reinjections": 0,
        "interrupts": dict({k: 0 for k in FIXED["interrupts"]}, timer=1),
        "interrupts_coalesced": {k: 0 for k in FIXED["interrupts_coalesced"]},
        "eois": {"edge": 1, "level": 0, "spurious": 0}, "ipis_sent": 0,
        "gsi_sets": {k: 0 for k in FIXED["gsi_sets"]}, "gsi_unrouted": 0,
        "irqfd_injections": {"inatomic": 0, "work": 0}, "irqfd_resamples": 0,
        "irqchip": {k: 0 for k in FIXED["irqchip"]},
        "irte_updates": {k: 0 for k in FIXED["irte_updates"]},
        "apicv": {k: 0 for k in FIXED["apicv"]},
    }
    good = {"version": 1, "duration_s": 2.0, "missed": 0, "vms": [good_vm], "unattributed": None}

    def doc(mutate):
        d = copy.deepcopy(good)
        mutate(d)
        return json.dumps(d, separators=(",", ":")) + "\n"

    def setitem(path, value):
        def f(d):
            o = d
            for p in path[:-1]:
                o = o[p]
            o[path[-1]] = value
        return f

    def delitem(path):
        def f(d):
            o = d
            for p in path[:-1]:
                o = o[p]
            del o[path[-1]]
        return f

    broken = {
        "not JSON": lambda: '{"version":1,\n',
        "two lines": lambda: json.dumps(good, indent=1) + "\n",
        "exits_total wrong": lambda: doc(setitem(["vms", 0, "exits_total"], 4)),
        "interrupts_total wrong": lambda: doc(setitem(["vms", 0, "interrupts_total"], 0)),
        "userspace_total wrong": lambda: doc(setitem(["vms", 0, "userspace_total"], 9)),
        "timer key missing": lambda: doc(delitem(["vms", 0, "interrupts", "timer"])),
        "group missing": lambda: doc(delitem(["vms", 0, "eois"])),
        "negative count": lambda: doc(setitem(["vms", 0, "ipis_sent"], -1)),
        "string count": lambda: doc(setitem(["vms", 0, "entries"], "3")),
        "sparse zero": lambda: doc(setitem(["vms", 0, "userspace_errors"], {"EINTR": 0})),
        "vm 0": lambda: doc(setitem(["vms", 0, "vm"], 0)),
        "no version": lambda: doc(delitem(["version"])),
        "unknown member": lambda: doc(setitem(["vms", 0, "bogus"], 1)),
        "bad unattributed": lambda: doc(setitem(["unattributed"], {"vm": 1})),
        "coalesced > accepted": lambda: doc(
            setitem(["vms", 0, "interrupts_coalesced", "ipi"], 1)),
        "unsorted vms": lambda: doc(lambda d: d["vms"].insert(
            0, dict(copy.deepcopy(good_vm), vm=2))),
    }
    fails = 0
    errs = check_document(json.dumps(good, separators=(",", ":")) + "\n")
    if errs:
        print(f"self-test: a good document was rejected: {errs}")
        fails += 1
    for name, make in broken.items():
        if not check_document(make()):
            print(f"self-test: broken document accepted: {name}")
            fails += 1
    errs = check_document(json.dumps(good, separators=(",", ":")) + "\n", expect_vms=2)
    if not errs:
        print("self-test: --expect-vm-count 2 accepted one VM")
        fails += 1
    print(f"check_json.py self-test: {len(broken) + 2 - fails} passed, {fails} failed")
    return 1 if fails else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    args = argv[1:]
    expect = None
    if len(args) >= 2 and args[0] == "--expect-vm-count":
        expect = int(args[1])
        args = args[2:]
    if len(args) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    text = open(args[0]).read() if args else sys.stdin.read()
    errors = check_document(text, expect)
    for e in errors:
        print(f"check_json.py: {e}")
    if errors:
        return 1
    print("check_json.py: the document conforms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
