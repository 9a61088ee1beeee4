#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run a minikvm test payload inside an emulated x86 machine.

The development machine cannot load modules and has no VMX, so every test
that needs a kernel module runs in an emulated machine that boots Debian's
stock kernel from a generated initramfs:

  bochs  Bochs 2.7 with cpu model corei7_skylake_x: Intel VMX (EPT, VPID,
         unrestricted guest, APICv without posted interrupts).  Slow: 1.5-2
         minutes to reach /init on an idle 2-core machine (about 60% of it
         before the kernel runs: BIOS, isolinux and the xz decompressor),
         about half the speed again while another Bochs runs.
  qemu   QEMU TCG with -cpu max: no VMX, but AMD SVM with NPT.  About 10 s.

Usage:
  scripts/testbed.py --vmm {bochs,qemu} --payload DIR --workdir DIR
                     [--timeout SECONDS] [--cpus N] [--kver VER] [--quiet]
                     [--mem MIB] [--cmdline ARGS] [--bochs-ips N]
                     [--bochs-native-tsc] [--trace-tools] [--build-only]
  scripts/testbed.py --self-test        (tests of the KTAP parser)

--timeout (default 1200) is wall-clock seconds from the emulator's start;
--kver defaults to scripts/kver.sh's choice (which honours $KVER).  The
guest's /init exports TESTBED_VMM, TESTBED_CPUS, TESTBED_KVER and
TESTBED_TRACE_TOOLS (1 with --trace-tools, else 0) to run.sh.

The payload directory must contain run.sh.  It is copied to /payload in the
guest and run there as "cd /payload && sh ./run.sh" with stdin from
/dev/null; it normally sources /testbed/ktap.sh (scripts/testbed/ktap.sh)
and prints a KTAP document.  The guest also has /bin/busybox with its
applets, the kernel's kvm.ko, kvm-intel.ko, kvm-amd.ko, irqbypass.ko and their
dependencies flat in /kmods/, and the shared libraries (plus the dynamic
loader and libgcc_s.so.1) of every dynamically linked ELF in the payload at
their host paths.

--trace-tools gives the guest bpftrace and bpftool (about 200 MB with their
libraries) on an ISO 9660 CD-ROM that the guest reads lazily: for bochs in
the boot ISO, for qemu as a second ISO (built once, kept in $TESTBED_CACHE,
default <tmpdir>/minikvm-testbed-cache-<uid>, while the host's files stay
the same); the initramfs gets the modules that mount it (ata_piix, sr_mod,
isofs and dependencies) in /kmods/.  run.sh then calls trace_tools_setup
from /testbed/trace_tools.sh (scripts/testbed/trace_tools.sh, always in the
initramfs), which mounts it and installs /usr/bin/bpftrace and
/usr/sbin/bpftool.  See "bpftrace in the guest" in Documentation/testbed.md.

Files written to the work directory (paths are fixed):
  initrd.gz      the initramfs            init.sh       a copy of its /init
  serial.log     the guest's serial port  emulator.log  the emulator's output
  ktap.log       guest output between the BEGIN and END markers
  results.json   counts, failure names and timings
  bochs only:    bochsrc, bochs.rc, bochs.log, iso/, testbed.iso, xorriso.log

Environment: TESTBED_NO_UNSHARE=1 starts Bochs in the host's network
namespace (it is otherwise started in a private one with "unshare --net",
when that works, so that its VNC display port is neither shared nor exposed).

Exit status: 0 only if the guest finished (END marker seen), no test failed
and at least one passed; 1 on test failure; 2 on a usage or setup error.
"""

import argparse
import fcntl
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
KTAP_SH = os.path.join(SCRIPT_DIR, "testbed", "ktap.sh")
TRACE_TOOLS_SH = os.path.join(SCRIPT_DIR, "testbed", "trace_tools.sh")
KVER_SH = os.path.join(SCRIPT_DIR, "kver.sh")

BEGIN_MARKER = "MINIKVM-TESTBED-BEGIN"
END_RE = re.compile(r"MINIKVM-TESTBED-END rc=(\d+)")
INFO_RE = re.compile(r"MINIKVM-TESTBED-INFO (.*)")
PANIC_RE = re.compile(r"Kernel panic - not syncing")
PANIC_END_RE = re.compile(r"---\[ end Kernel panic")

KERNEL_MODULES = ["kvm", "kvm-intel", "kvm-amd", "irqbypass"]
KERNEL_CMDLINE = "console=ttyS0 quiet"

BOCHS_BIOS = "/usr/share/bochs/BIOS-bochs-latest"
BOCHS_VGABIOS = "/usr/share/vgabios/vgabios.bin"
BOCHS_RFB_PLUGINS = [
    "/usr/lib/x86_64-linux-gnu/bochs/plugins/libbx_rfb_gui.so",
    "/usr/lib/bochs/plugins/libbx_rfb_gui.so",
]
ISOLINUX_BIN = "/usr/lib/ISOLINUX/isolinux.bin"
LDLINUX_C32 = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
HOST_BUSYBOX = "/bin/busybox"
RFB_LOCK = "/tmp/minikvm-testbed-bochs-rfb.lock"

# Bochs guest time.  With "clock: sync=none" Bochs's timers (PIT, HPET, RTC,
# UART, ACPI PM timer) run at "ips" emulated instructions per guest second,
# and its TSC and local APIC timer count one tick per instruction.  Linux,
# however, takes the TSC frequency of a corei7_skylake_x from CPUID (3.5 GHz,
# and the APIC timer from the crystal clock) instead of calibrating it.  So,
# measured here with the stock command line: guest time (TSC) ran about 50x
# slower than wall time on a busy CPU, the APIC timer fired about 30 times
# for every timer tick (7,400 interrupts per guest second instead of 250), and
# "sleep 3" took 5-12 s of wall time.  Adding tsc_early_khz=<ips/1000> makes
# the kernel calibrate everything against one clock: 250 timer interrupts per
# second, "sleep 3" takes 0.1 s of wall time, guest time = instructions / ips
# (at 100 M ips: one guest ns = 0.1 instruction, guest time runs at 0.3-0.7x
# wall time), and the guest's timeouts (ktap.sh's SUITE_TIMEOUT, the
# kselftest harness's) mean something again.  --bochs-native-tsc turns it
# off (then a guest ns is about 3.5 instructions; TESTBED.md's figures).
BOCHS_IPS = 100000000

# Seconds to wait for the emulator to exit after the END marker, and for the
# rest of a panic message after "Kernel panic - not syncing".
END_GRACE = 20
PANIC_GRACE = 15


class SetupError(Exception):
    """A problem with the host or the arguments: exit status 2."""


def log(vmm, msg):
    print("testbed(%s): %s" % (vmm, msg), flush=True)


# ---------------------------------------------------------------------------
# KTAP parser
# ---------------------------------------------------------------------------

_RESULT_RE = re.compile(r"^( *)(ok|not ok)[ \t]+(\d+)\b(.*)$")
_PLAN_RE = re.compile(r"^( *)1\.\.(\d+)\b")
_VERSION_RE = re.compile(r"^( *)(?:TAP|KTAP) version \d+")


class _Item:
    __slots__ = ("indent", "kind", "status", "num", "desc", "directive")

    def __init__(self, indent, kind, status=None, num=0, desc="",
                 directive=""):
        self.indent = indent
        self.kind = kind            # "result", "plan" or "version"
        self.status = status        # "ok" / "not ok" / None (orphans)
        self.num = num              # result number or planned count
        self.desc = desc
        self.directive = directive


class _Group:
    """The results and the plan of one indentation level."""

    def __init__(self):
        self.plan = None
        self.results = []           # list of (_Item, _Group or None)


def _split_description(rest):
    rest = rest.strip()
    if rest.startswith("- "):
        rest = rest[2:]
    elif rest == "-":
        rest = ""
    m = re.match(r"^(.*?)(?:^|\s)#\s*(.*)$", rest)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    return rest, ""


def _tokenize(lines):
    items = []
    for raw in lines:
        line = raw.rstrip("\r\n").replace("\r", "")
        m = _RESULT_RE.match(line)
        if m:
            desc, directive = _split_description(m.group(4))
            items.append(_Item(len(m.group(1)), "result", m.group(2),
                               int(m.group(3)), desc, directive))
            continue
        m = _PLAN_RE.match(line)
        if m:
            items.append(_Item(len(m.group(1)), "plan", num=int(m.group(2))))
            continue
        m = _VERSION_RE.match(line)
        if m:
            items.append(_Item(len(m.group(1)), "version"))
        # Anything else (diagnostics, kernel console messages, program
        # chatter) does not take part in counting.
    return items


def _parse_group(items, base):
    """Parse items that are all indented by >= base into a _Group."""
    group = _Group()
    pending = None
    i = 0
    n = len(items)

    def flush_orphan():
        group.results.append((_Item(base, "result", None, 0,
                                    "(unfinished subtest)"), pending))

    while i < n:
        it = items[i]
        if it.indent > base:
            j = i
            child_base = it.indent
            while j < n and items[j].indent > base:
                child_base = min(child_base, items[j].indent)
                j += 1
            child = _parse_group(items[i:j], child_base)
            if pending is not None:
                # Two child blocks in a row: only when indentation jumps
                # around; keep them together.
                pending.results.extend(child.results)
                if pending.plan is None:
                    pending.plan = child.plan
            else:
                pending = child
            i = j
            continue
        if it.kind == "result":
            group.results.append((it, pending))
            pending = None
        else:
            if pending is not None:
                flush_orphan()
                pending = None
            if it.kind == "plan" and group.plan is None:
                group.plan = it.num
        i += 1
    if pending is not None:
        flush_orphan()
    return group


def _is_skip(item):
    return re.match(r"(skip|todo)\b", item.directive, re.I) is not None


class KtapCounts:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []
        self.has_plan = False

    def fail(self, name):
        self.failed += 1
        self.failures.append(name)

    def as_tuple(self):
        return (self.passed, self.failed, self.skipped)


def _missing(group):
    if group.plan is None or group.plan <= len(group.results):
        return []
    seen = {it.num for it, _ in group.results}
    want = group.plan - len(group.results)
    missing = [k for k in range(1, group.plan + 1) if k not in seen]
    k = group.plan
    while len(missing) < want:         # duplicate numbers printed
        k += 1
        missing.append(k)
    return missing[:want]


def _count_group(group, prefix, acc, what):
    for it, children in group.results:
        _count_result(it, children, prefix, acc)
    for k in _missing(group):
        acc.fail("%s: missing result %d" % (what, k))


def _count_result(it, children, prefix, acc):
    name = prefix + (it.desc or ("test %d" % it.num))
    if children is not None and (children.results or _missing(children)):
        before = acc.failed
        _count_group(children, name + ": ", acc, name)
        if (it.status == "not ok" and not _is_skip(it)
                and acc.failed == before):
            acc.fail(name)
        return
    # A leaf: a result line without subtest results before it.
    if it.status is None:
        return
    if _is_skip(it):
        acc.skipped += 1
    elif it.status == "ok":
        acc.passed += 1
    else:
        acc.fail(name)


def parse_ktap(lines):
    """Count the results of a KTAP document (see the module docstring of
    scripts/testbed/ktap.sh for the format).  Returns KtapCounts."""
    items = _tokenize(lines)
    acc = KtapCounts()
    if not items:
        return acc
    base = min(it.indent for it in items)
    top = _parse_group(items, base)
    acc.has_plan = top.plan is not None
    _count_group(top, "", acc, "ktap")
    return acc


SELF_TESTS = [
    # (name, text, (passed, failed, skipped), failures or None, has_plan)
    ("leaves", """\
TAP version 13
# diagnostic
ok 1 uname
not ok 2 vmx flag visible
ok 3 load
1..3
""", (2, 1, 0), ["vmx flag visible"], True),

    ("nested suite", """\
TAP version 13
ok 1 step one
    TAP version 13
    1..3
    # Starting 3 tests from 1 test cases.
    #  RUN           global.a ...
    #            OK  global.a
    ok 1 global.a
    ok 2 global.b
    not ok 3 global.c
    # FAILED: 2 / 3 tests passed.
not ok 2 kvm_smoke
1..2
""", (3, 1, 0), ["kvm_smoke: global.c"], True),

    ("missing results", """\
TAP version 13
    TAP version 13
    1..4
    ok 1 a
    ok 2 b
not ok 1 crashy
1..1
""", (2, 2, 0), ["crashy: missing result 3", "crashy: missing result 4"],
     True),

    ("crash after pass", """\
TAP version 13
    1..2
    ok 1 a
    ok 2 b
not ok 1 exits_nonzero
ok 2 fine
1..2
""", (3, 1, 0), ["exits_nonzero"], True),

    ("skip", """\
TAP version 13
ok 1 one
ok 2 two # SKIP no vmx
    1..2
    ok 1 x # SKIP not supported
    ok 2 y
ok 3 suite
    1..0 # SKIP all skipped
ok 4 empty_suite # SKIP exit status 4
not ok 5 todo thing # TODO later
1..5
""", (2, 0, 4), [], True),

    ("interleaved kernel messages", """\
TAP version 13
ok 1 insmod
[   12.345678] kvm: some message
[   12.345679] ------------[ cut here ]------------
    1..2
    ok 1 a
[   13.000000] WARNING: CPU: 0 PID: 1 at foo.c:1 bar+0x1/0x2
    not ok 2 b
not ok 2 suite
[   14.0] ok 3 not a result line
random program output
ok 3 after
1..3
""", (3, 1, 0), ["suite: b"], True),

    ("deeper nesting", """\
TAP version 13
        1..1
        ok 1 inner-leaf
    ok 1 inner-suite
    not ok 2 inner-fail
    1..2
not ok 1 outer
1..1
""", (1, 1, 0), ["outer: inner-fail"], True),

    ("nested crash counted once", """\
TAP version 13
        1..2
        ok 1 a
    not ok 1 inner
    1..1
not ok 1 outer
1..1
""", (1, 1, 0), ["outer: inner: missing result 2"], True),

    ("unfinished output, no plan", """\
TAP version 13
ok 1 a
    1..3
    ok 1 x
""", (2, 2, 0), ["(unfinished subtest): missing result 2",
                 "(unfinished subtest): missing result 3"], False),

    ("leading plan with missing top-level results", """\
1..3
ok 1 a
""", (1, 2, 0), ["ktap: missing result 2", "ktap: missing result 3"], True),

    ("carriage returns and descriptions with dashes", "TAP version 13\r\n"
     "ok 1 - dash desc\r\nnot ok 2 - bad one # with note\r\n1..2\r\n",
     (1, 1, 0), ["bad one"], True),
]


def self_test():
    bad = 0
    for name, text, want, want_fail, want_plan in SELF_TESTS:
        got = parse_ktap(text.splitlines(True))
        ok = (got.as_tuple() == want and got.has_plan == want_plan and
              (want_fail is None or got.failures == want_fail))
        print("%s %s" % ("ok  " if ok else "FAIL", name))
        if not ok:
            bad += 1
            print("     want %s failures=%s plan=%s" %
                  (want, want_fail, want_plan))
            print("     got  %s failures=%s plan=%s" %
                  (got.as_tuple(), got.failures, got.has_plan))
    print("parser self-test: %d of %d cases failed" % (bad, len(SELF_TESTS)))
    ok = self_test_mirror()
    print("%s trace tree mirrors host symlinks" % ("ok  " if ok else "FAIL"))
    return 1 if bad or not ok else 0


def self_test_mirror():
    """_mirror_host_path on a made-up merged-/usr layout: a relative
    directory symlink (lib -> usr/lib), an absolute one that must become
    relative, a library symlink chain; then every link, resolved inside a
    tree rooted elsewhere, must reach the file."""
    with tempfile.TemporaryDirectory() as t:
        t = os.path.realpath(t)
        os.makedirs(t + "/usr/lib/gnu")
        os.makedirs(t + "/usr/lib64")
        with open(t + "/usr/lib/gnu/libx.so.1.2", "w") as f:
            f.write("x")
        os.symlink("usr/lib", t + "/lib")
        os.symlink("libx.so.1.2", t + "/usr/lib/gnu/libx.so.1")
        os.symlink(t + "/lib/gnu/libx.so.1", t + "/usr/lib64/ld.so")
        entries = {}
        _mirror_host_path(t + "/lib64/../usr/lib64/ld.so", entries)
        want = {
            t + "/usr/lib64/ld.so": ("link", "../../lib/gnu/libx.so.1"),
            t + "/lib": ("link", "usr/lib"),
            t + "/usr/lib/gnu/libx.so.1": ("link", "libx.so.1.2"),
            t + "/usr/lib/gnu/libx.so.1.2": ("file",
                                             t + "/usr/lib/gnu/libx.so.1.2"),
        }
        if entries != want:
            print("     want %s\n     got  %s" % (want, entries))
            return False
        # Resolve in a tree at a different root, as the guest does.
        for p, (kind, what) in entries.items():
            if kind != "link":
                continue
            tree = "/elsewhere" + p
            cur = os.path.normpath(os.path.join(os.path.dirname(tree), what))
            if not cur.startswith("/elsewhere" + t + "/"):
                print("     %s leaves the tree: %s" % (p, cur))
                return False
    return True


# ---------------------------------------------------------------------------
# initramfs
# ---------------------------------------------------------------------------

def need_tool(name, package):
    path = shutil.which(name, path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/sbin:/usr/bin:/bin")
    if not path:
        raise SetupError("'%s' not found: install it with "
                         "'apt-get install -y %s'" % (name, package))
    return path


def need_file(path, package):
    if not os.path.exists(path):
        raise SetupError("%s not found: install it with "
                         "'apt-get install -y %s'" % (path, package))
    if not os.access(path, os.R_OK):
        raise SetupError("%s is not readable (run as root?)" % path)
    return path


def elf_info(path):
    """(is_elf, e_type, dynamic) for a file; dynamic means PT_INTERP or
    PT_DYNAMIC present (executables and shared libraries)."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
            if len(hdr) < 64 or hdr[:4] != b"\x7fELF":
                return False, 0, False
            is64 = hdr[4] == 2
            end = "little" if hdr[5] == 1 else "big"
            e_type = int.from_bytes(hdr[16:18], end)
            if is64:
                phoff = int.from_bytes(hdr[32:40], end)
                phentsize = int.from_bytes(hdr[54:56], end)
                phnum = int.from_bytes(hdr[56:58], end)
            else:
                phoff = int.from_bytes(hdr[28:32], end)
                phentsize = int.from_bytes(hdr[42:44], end)
                phnum = int.from_bytes(hdr[44:46], end)
            dynamic = False
            for k in range(phnum):
                f.seek(phoff + k * phentsize)
                p_type = int.from_bytes(f.read(4), end)
                if p_type in (2, 3):    # PT_DYNAMIC, PT_INTERP
                    dynamic = True
                    break
            return True, e_type, dynamic
    except OSError:
        return False, 0, False


class Cpio:
    """Writer of a gzip'd newc cpio archive (the initramfs format)."""

    def __init__(self, path):
        self.f = gzip.GzipFile(path, "wb", compresslevel=6, mtime=0)
        self.ino = 1
        self.paths = {}             # guest path -> description of entry

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.lstrip("/")
        nameb = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0,
                  2 if stat.S_ISDIR(mode) else 1,
                  0, len(data), 0, 0, rdev[0], rdev[1], len(nameb), 0]
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08X" % v for v in fields)
        self.f.write(hdr + nameb)
        self.f.write(b"\0" * ((-(len(hdr) + len(nameb))) % 4))
        self.f.write(data)
        self.f.write(b"\0" * ((-len(data)) % 4))

    def _parents(self, path):
        parent = os.path.dirname(path)
        if parent not in ("/", "") and parent not in self.paths:
            self.mkdir(parent)

    def mkdir(self, path, mode=0o755):
        path = os.path.normpath("/" + path)
        if path in self.paths:
            return
        self._parents(path)
        self.paths[path] = "dir"
        self._entry(path, stat.S_IFDIR | mode)

    def file(self, path, data, mode=0o644, what="file"):
        path = os.path.normpath("/" + path)
        if path in self.paths:
            return
        self._parents(path)
        self.paths[path] = what
        self._entry(path, stat.S_IFREG | (mode & 0o7777), data)

    def host_file(self, path, host_path, mode=None):
        st = os.stat(host_path)
        with open(host_path, "rb") as f:
            data = f.read()
        self.file(path, data, st.st_mode if mode is None else mode,
                  host_path)

    def symlink(self, path, target):
        path = os.path.normpath("/" + path)
        if path in self.paths:
            return
        self._parents(path)
        self.paths[path] = "symlink"
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, path, major, minor, mode=0o600):
        path = os.path.normpath("/" + path)
        if path in self.paths:
            return
        self._parents(path)
        self.paths[path] = "chardev"
        self._entry(path, stat.S_IFCHR | mode, rdev=(major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0)
        self.f.close()


INIT_TEMPLATE = r"""#!/bin/busybox sh
# /init of the minikvm testbed, generated by scripts/testbed.py.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
exec </dev/null >/dev/console 2>&1
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
export TESTBED_VMM=@VMM@ TESTBED_CPUS=@CPUS@ TESTBED_KVER=@KVER@
export TESTBED_TRACE_TOOLS=@TRACE_TOOLS@
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
chmod 1777 /tmp
hostname minikvm-testbed
# The markers are split in this file so that printing /init cannot fake them.
echo "MINIKVM-TESTBED-""INFO phase=begin uptime=$(cut -d' ' -f1 /proc/uptime) nproc=$(nproc) kernel=$(uname -r)"
echo "MINIKVM-TESTBED-""BEGIN"
cd /payload && sh ./run.sh </dev/null
rc=$?
echo "MINIKVM-TESTBED-""END rc=$rc"
echo "MINIKVM-TESTBED-""INFO phase=end uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
# Let the UART drain what the tty layer still holds: with Bochs's guest time
# tied to the instruction count (tsc_early_khz), one guest second is too
# short for a long plan's last few KiB, and poweroff -f drops them.
sleep 5
poweroff -f
"""


def resolve_kver(args):
    if args.kver:
        return args.kver
    try:
        out = subprocess.run(["sh", KVER_SH], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise SetupError("cannot run %s: %s" % (KVER_SH, e))
    if out.returncode != 0 or not out.stdout.strip():
        raise SetupError("cannot choose a kernel version:\n" +
                         out.stderr.strip())
    return out.stdout.strip().splitlines()[-1]


def module_closure(kver, vmm):
    """Host paths of the KVM modules and everything they depend on."""
    modinfo = need_tool("modinfo", "kmod")
    found = {}
    todo = list(KERNEL_MODULES)
    while todo:
        name = todo.pop(0)
        key = name.replace("-", "_")
        if key in found:
            continue
        r = subprocess.run([modinfo, "-k", kver, "-F", "filename", name],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        fname = r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""
        if r.returncode != 0 or not fname:
            log(vmm, "warning: module %s not found for %s: %s" %
                (name, kver, r.stderr.strip()))
            found[key] = None
            continue
        if fname == "(builtin)" or not fname.startswith("/"):
            found[key] = None
            continue
        found[key] = fname
        r = subprocess.run([modinfo, "-k", kver, "-F", "depends", name],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        for dep in r.stdout.replace("\n", ",").split(","):
            if dep.strip():
                todo.append(dep.strip())
    return [p for p in found.values() if p]


def read_module(path):
    if path.endswith(".ko"):
        with open(path, "rb") as f:
            return f.read()
    if path.endswith(".ko.xz"):
        with lzma.open(path) as f:
            return f.read()
    if path.endswith(".ko.gz"):
        with gzip.open(path) as f:
            return f.read()
    if path.endswith(".ko.zst"):
        zstd = need_tool("zstd", "zstd")
        return subprocess.run([zstd, "-dc", path], check=True,
                              stdout=subprocess.PIPE).stdout
    raise SetupError("unknown module compression: %s" % path)


def module_guest_name(path):
    base = os.path.basename(path)
    for ext in (".xz", ".gz", ".zst"):
        if base.endswith(".ko" + ext):
            return base[:-len(ext)]
    return base


def shared_libs(path):
    """Host paths of the shared libraries and loader an ELF file needs."""
    ldd = need_tool("ldd", "libc-bin")
    r = subprocess.run([ldd, path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    libs = []
    missing = []
    for line in r.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
            continue
        m = re.match(r"\s*(\S+)\s*=>\s*not found", line)
        if m:
            missing.append(m.group(1))
            continue
        m = re.match(r"\s*(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    if missing:
        raise SetupError("%s needs libraries not found on the host: %s" %
                         (path, ", ".join(missing)))
    return libs


def find_libgcc_s():
    for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
              "/lib64", "/usr/lib64", "/lib", "/usr/lib"):
        p = os.path.join(d, "libgcc_s.so.1")
        if os.path.exists(p):
            return p
    return None


def add_payload(cpio, hdir, gdir, root, elves, seen):
    """Copy the host directory hdir to gdir in the initramfs.  Symlinks
    that stay inside the payload root are kept; others are followed (so a
    payload may link to files elsewhere, e.g. the built module).  Every
    dynamically linked ELF is appended to elves."""
    real = os.path.realpath(hdir)
    if real in seen:
        return
    seen = seen | {real}
    cpio.mkdir(gdir, stat.S_IMODE(os.stat(hdir).st_mode))
    for name in sorted(os.listdir(hdir)):
        hp = os.path.join(hdir, name)
        gp = gdir + "/" + name
        if os.path.islink(hp):
            target = os.path.realpath(hp)
            rroot = os.path.realpath(root)
            if os.path.commonpath([target, rroot]) == rroot:
                cpio.symlink(gp, os.readlink(hp))
                continue
            if not os.path.exists(hp):
                raise SetupError("payload symlink %s points to missing %s" %
                                 (hp, os.readlink(hp)))
        if os.path.isdir(hp):
            add_payload(cpio, hp, gp, root, elves, seen)
        elif os.path.isfile(hp):
            cpio.host_file(gp, hp)
            is_elf, e_type, dynamic = elf_info(hp)
            if is_elf and e_type in (2, 3) and dynamic:
                elves.append(hp)


def build_initramfs(args, kver, workdir, trace_tools=None):
    vmm = args.vmm
    payload = os.path.abspath(args.payload)
    if not os.path.isfile(os.path.join(payload, "run.sh")):
        raise SetupError("payload %s has no run.sh" % payload)
    need_file(HOST_BUSYBOX, "busybox-static")
    for f in (KTAP_SH, TRACE_TOOLS_SH):
        if not os.path.isfile(f):
            raise SetupError("%s is missing" % f)
    moddir = "/lib/modules/%s" % kver
    if not os.path.isdir(moddir):
        raise SetupError("%s not found: install linux-image-%s" %
                         (moddir, kver))

    out = os.path.join(workdir, "initrd.gz")
    tmp = out + ".tmp"
    cpio = Cpio(tmp)
    try:
        for d in ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/proc", "/sys",
                  "/dev", "/run", "/root", "/etc", "/kmods", "/testbed"):
            cpio.mkdir(d)
        cpio.mkdir("/tmp", 0o1777)
        cpio.chardev("/dev/console", 5, 1)
        cpio.chardev("/dev/null", 1, 3, 0o666)
        cpio.file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        cpio.file("/etc/group", b"root:x:0:\n")
        init = (INIT_TEMPLATE.replace("@VMM@", vmm)
                .replace("@CPUS@", str(args.cpus)).replace("@KVER@", kver)
                .replace("@TRACE_TOOLS@", "1" if trace_tools else "0"))
        cpio.file("/init", init.encode(), 0o755)
        with open(os.path.join(workdir, "init.sh"), "w") as f:
            f.write(init)

        cpio.host_file("/bin/busybox", HOST_BUSYBOX, 0o755)
        cpio.host_file("/testbed/ktap.sh", KTAP_SH, 0o644)
        # Always there, so that trace_tools_setup can say what is missing.
        cpio.host_file("/testbed/trace_tools.sh", TRACE_TOOLS_SH, 0o644)

        mods = module_closure(kver, vmm)
        for m in mods:
            cpio.file("/kmods/" + module_guest_name(m), read_module(m),
                      0o644, m)
        if trace_tools:
            # The modules that mount the CD, in load order, and the key
            # that tells trace_tools_setup whether the CD matches.
            tmods = module_load_order(kver, vmm, TRACE_TOOLS_MODULES)
            for m in tmods:
                cpio.file("/kmods/" + module_guest_name(m), read_module(m),
                          0o644, m)
            cpio.file("/testbed/trace_tools.modules", "".join(
                module_guest_name(m) + "\n" for m in tmods).encode())
            cpio.file("/testbed/trace_tools.key",
                      (trace_tools.key + "\n").encode())
            mods = mods + [m for m in tmods if m not in mods]

        # The payload, keeping modes.
        elves = []
        _, _, bb_dynamic = elf_info(HOST_BUSYBOX)
        if bb_dynamic:
            log(vmm, "warning: %s is dynamically linked; install "
                "busybox-static" % HOST_BUSYBOX)
            elves.append(HOST_BUSYBOX)
        add_payload(cpio, payload, "/payload", payload, elves, set())

        # Shared libraries at their host paths.
        libs = []
        for e in elves:
            libs.extend(shared_libs(e))
        if elves:
            g = find_libgcc_s()
            if g:
                libs.append(g)
                libs.extend(shared_libs(g))
        for lib in libs:
            real = os.path.realpath(lib)
            cpio.host_file(real, real)
            if os.path.normpath(lib) != real:
                cpio.symlink(lib, real)
        cpio.close()
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.replace(tmp, out)
    return out, mods, len(elves), sorted(set(libs))


# ---------------------------------------------------------------------------
# Trace tools (--trace-tools): bpftrace and bpftool on a CD-ROM
# ---------------------------------------------------------------------------
#
# bpftrace needs about 200 MB of shared libraries (libLLVM-14 alone is 105
# MiB).  In the initramfs they would cost every boot: the guest decompresses
# the initramfs itself (in Bochs, emulated: minutes for 200 MB) and keeps it
# in RAM.  On an ISO 9660 CD-ROM the guest reads only the pages it touches,
# when it touches them.  The tree mirrors the host's paths under trace/ in
# the image (trace/usr/bin/bpftrace, trace/lib -> usr/lib, ...), symlinks made
# relative so that they resolve inside the tree wherever the CD is mounted;
# the guest runs the programs through the CD's dynamic loader with
# --library-path (scripts/testbed/trace_tools.sh), so nothing has to be at
# its host path in the guest.  Files are grafted into the image straight
# from their host paths (xorriso -graft-points): the 200 MB are never
# copied, only written once into the ISO.  QEMU gets the tree as a second
# ISO, built once and kept in the cache directory while the host files do
# not change; Bochs boots from its ISO (ata0-master), which is rebuilt for
# every run anyway, so the tree is grafted into that one.

TRACE_TOOLS_PROGRAMS = [("/usr/bin/bpftrace", "bpftrace"),
                        ("/usr/sbin/bpftool", "bpftool")]
# What the guest needs to mount the CD: the PIIX IDE controller that both
# Bochs and QEMU's "pc" machine emulate (ata_piix on libata), the SCSI
# CD-ROM driver libata presents ATAPI drives through (sr_mod), ISO 9660.
TRACE_TOOLS_MODULES = ["ata_piix", "sr_mod", "isofs"]
TRACE_TOOLS_DIR = "trace"               # the tree's directory in the image
TRACE_TOOLS_ENV = "testbed-trace-tools.env"
TRACE_TOOLS_VOLID = "MINIKVM_TRACE"
# Bump when the layout of the tree or the env file changes (cache key).
TRACE_TOOLS_LAYOUT = 1


def elf_interp(path):
    """The PT_INTERP string (the dynamic loader) of an ELF file, or None."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if len(hdr) < 64 or hdr[:4] != b"\x7fELF" or hdr[4] != 2 or \
                hdr[5] != 1:
            return None         # only 64-bit little-endian is needed here
        phoff = int.from_bytes(hdr[32:40], "little")
        phentsize = int.from_bytes(hdr[54:56], "little")
        phnum = int.from_bytes(hdr[56:58], "little")
        for k in range(phnum):
            f.seek(phoff + k * phentsize)
            ph = f.read(56)
            if int.from_bytes(ph[0:4], "little") == 3:      # PT_INTERP
                off = int.from_bytes(ph[8:16], "little")
                size = int.from_bytes(ph[32:40], "little")
                f.seek(off)
                return f.read(size).split(b"\0")[0].decode()
    return None


def _mirror_host_path(path, entries, depth=0):
    """Record in entries (tree path -> ("file", host path) or ("link",
    relative target)) what it takes to reach host path `path` inside the
    tree as it is reached on the host: every symlink on the way, then the
    file."""
    if depth > 40:
        raise SetupError("too many levels of symlinks at %s" % path)
    parts = os.path.normpath(path).strip("/").split("/")
    cur = ""
    for i, part in enumerate(parts):
        cur += "/" + part
        if os.path.islink(cur):
            target = os.path.normpath(os.path.join(os.path.dirname(cur),
                                                   os.readlink(cur)))
            entries[cur] = ("link",
                            os.path.relpath(target, os.path.dirname(cur)))
            rest = parts[i + 1:]
            _mirror_host_path(os.path.join(target, *rest), entries,
                              depth + 1)
            return
    if not os.path.isfile(cur):
        raise SetupError("trace tools: %s is not a regular file" % cur)
    entries[cur] = ("file", cur)


def trace_tools_manifest():
    """What goes into the trace tree: (entries, env file text, the cache
    key)."""
    entries = {}
    libdirs = []
    interp = None
    programs = []
    for prog, package in TRACE_TOOLS_PROGRAMS:
        need_file(prog, package)
        programs.append(prog)
        _mirror_host_path(prog, entries)
        pi = elf_interp(prog)
        if pi is None:
            raise SetupError("trace tools: %s has no dynamic loader "
                             "(PT_INTERP)" % prog)
        if interp not in (None, pi):
            raise SetupError("trace tools: %s wants loader %s, another "
                             "program %s" % (prog, pi, interp))
        interp = pi
        libs = shared_libs(prog)
        g = find_libgcc_s()         # dlopen'ed by glibc for thread cancel
        if g:
            libs.append(g)
        for lib in libs:
            _mirror_host_path(lib, entries)
            d = os.path.dirname(os.path.normpath(lib))
            if os.path.normpath(lib) != os.path.normpath(interp) and \
                    d not in libdirs:
                libdirs.append(d)
    _mirror_host_path(interp, entries)
    for p in entries:
        if "=" in p or "\\" in p or "\n" in p:
            raise SetupError("trace tools: cannot graft %r into an ISO" % p)
    h = hashlib.sha256()
    h.update(("layout %d\n" % TRACE_TOOLS_LAYOUT).encode())
    for p in sorted(entries):
        kind, what = entries[p]
        h.update(("%s %s %s" % (p, kind, what)).encode())
        if kind == "file":
            st = os.stat(p)
            h.update((" %d %d %d" % (st.st_size, st.st_mtime_ns,
                                     st.st_ino)).encode())
        h.update(b"\n")
    key = h.hexdigest()[:16]
    env = ("# Generated by scripts/testbed.py --trace-tools.  Paths are the\n"
           "# build host's, relative to the %s/ directory of this image.\n"
           "TRACE_TOOLS_KEY=%s\n"
           "TRACE_TOOLS_LOADER=%s\n"
           "TRACE_TOOLS_LIBPATH=%s\n"
           "TRACE_TOOLS_PROGRAMS='%s'\n" %
           (TRACE_TOOLS_DIR, key, interp, ":".join(libdirs),
            " ".join(programs)))
    return entries, env, key


def trace_tools_cache_root():
    return os.environ.get("TESTBED_CACHE") or os.path.join(
        tempfile.gettempdir(), "minikvm-testbed-cache-%d" % os.getuid())


class TraceTools:
    """The trace tree of one manifest, kept in the cache directory:
    stage/ holds the symlinks and the env file, graft-points the pathspecs
    that put the stage and the host's files into an image, trace.iso (made
    on demand) the image QEMU attaches."""

    def __init__(self, vmm):
        self.vmm = vmm
        self.entries, self.env, self.key = trace_tools_manifest()
        self.root = trace_tools_cache_root()
        self.dir = os.path.join(self.root, "trace-tools-" + self.key)
        self.graft_list = os.path.join(self.dir, "graft-points")
        self.iso = os.path.join(self.dir, "trace.iso")
        self.iso_seconds = None     # xorriso time if built in this run
        self.size = sum(os.path.getsize(p) for p, (k, _) in
                        self.entries.items() if k == "file")

    def _lock(self):
        os.makedirs(self.root, exist_ok=True)
        lock = open(os.path.join(self.root, "trace-tools.lock"), "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    def _build_stage(self):
        tmp = "%s.tmp-%d" % (self.dir, os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        stage = os.path.join(tmp, "stage", TRACE_TOOLS_DIR)
        os.makedirs(stage)
        specs = ["%s=%s" % (TRACE_TOOLS_DIR, stage.replace(tmp, self.dir))]
        for p in sorted(self.entries):
            kind, what = self.entries[p]
            if kind == "link":
                sp = stage + p
                os.makedirs(os.path.dirname(sp), exist_ok=True)
                os.symlink(what, sp)
            else:
                specs.append("%s%s=%s" % (TRACE_TOOLS_DIR, p, what))
        with open(os.path.join(stage, TRACE_TOOLS_ENV), "w") as f:
            f.write(self.env)
        with open(os.path.join(tmp, "graft-points"), "w") as f:
            f.write("".join(s + "\n" for s in specs))
        os.rename(tmp, self.dir)
        # One tree per host state is enough: drop those of older states.
        for name in os.listdir(self.root):
            if name.startswith("trace-tools-") and \
                    os.path.join(self.root, name) != self.dir:
                shutil.rmtree(os.path.join(self.root, name),
                              ignore_errors=True)

    def prepare(self, want_iso):
        lock = self._lock()
        try:
            if not os.path.isfile(self.graft_list):
                shutil.rmtree(self.dir, ignore_errors=True)
                self._build_stage()
            if want_iso and not os.path.isfile(self.iso):
                xorriso = need_tool("xorriso", "xorriso")
                t0 = time.monotonic()
                tmp = self.iso + ".tmp"
                xlog = os.path.join(self.dir, "xorriso.log")
                with open(xlog, "w") as f:
                    r = subprocess.run(
                        [xorriso, "-as", "mkisofs", "-R", "-V",
                         TRACE_TOOLS_VOLID, "-o", tmp, "-graft-points",
                         "-path-list", self.graft_list],
                        stdin=subprocess.DEVNULL, stdout=f,
                        stderr=subprocess.STDOUT)
                if r.returncode != 0:
                    raise SetupError("xorriso failed (exit %d) making the "
                                     "trace tools ISO, see %s" %
                                     (r.returncode, xlog))
                os.rename(tmp, self.iso)
                self.iso_seconds = time.monotonic() - t0
                log(self.vmm, "trace tools: made %s (%.0f MiB) in %.1f s" %
                    (self.iso, os.path.getsize(self.iso) / 1048576.0,
                     self.iso_seconds))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()


def module_load_order(kver, vmm, names):
    """Host paths of the modules `names` and of everything they depend on,
    each after its dependencies (the order insmod needs)."""
    modinfo = need_tool("modinfo", "kmod")
    order = []
    state = {}

    def field(name, what):
        r = subprocess.run([modinfo, "-k", kver, "-F", what, name],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def visit(name):
        key = name.replace("-", "_")
        if key in state:
            return
        state[key] = "visiting"
        rc, out, err = field(name, "filename")
        fname = out.splitlines()[0] if out else ""
        if rc != 0 or not fname:
            raise SetupError("module %s not found for %s: %s" %
                             (name, kver, err))
        if fname != "(builtin)" and fname.startswith("/"):
            _, deps, _ = field(name, "depends")
            for dep in deps.replace("\n", ",").split(","):
                if dep.strip():
                    visit(dep.strip())
            order.append(fname)
        state[key] = "done"

    for n in names:
        visit(n)
    return order


# ---------------------------------------------------------------------------
# Emulators
# ---------------------------------------------------------------------------

def _set_pdeathsig():
    """In the child before exec: die with the runner (even on SIGKILL)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)       # PR_SET_PDEATHSIG
    except Exception:
        pass


def unshare_net_works():
    if os.environ.get("TESTBED_NO_UNSHARE"):
        return None
    path = shutil.which("unshare")
    if not path:
        return None
    try:
        r = subprocess.run([path, "--net", "true"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if r.returncode == 0 else None


def prepare_qemu(args, kver, workdir, initrd, serial, trace_tools=None):
    qemu = need_tool("qemu-system-x86_64", "qemu-system-x86")
    cmd = [qemu, "-accel", "tcg", "-cpu", "max", "-m", str(args.mem),
           "-smp", str(args.cpus),
           "-kernel", "/boot/vmlinuz-%s" % kver, "-initrd", initrd,
           "-append", args.cmdline + " panic=-1",
           "-nographic", "-monitor", "none", "-serial", "file:" + serial,
           "-nic", "none", "-no-reboot"]
    if trace_tools:
        # The cached image, shared read-only by every run: an ATAPI CD-ROM
        # on the PIIX IDE controller of the "pc" machine (secondary master).
        trace_tools.prepare(want_iso=True)
        cmd += ["-drive", "file=%s,format=raw,if=ide,index=2,media=cdrom,"
                "readonly=on" % trace_tools.iso]
    return cmd, None


BOCHSRC_TEMPLATE = """\
# Generated by scripts/testbed.py; see /work/shared/TESTBED.md.
megs: @MEGS@
cpu: model=corei7_skylake_x, count=@CPUS@, ips=@IPS@, reset_on_triple_fault=1
romimage: file=@BIOS@
vgaromimage: file=@VGABIOS@
display_library: rfb, options="timeout=0"
ata0-master: type=cdrom, path=@ISO@, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=@SERIAL@
clock: sync=none, time0=utc
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
mouse: enabled=0
log: @LOG@
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
"""

ISOLINUX_CFG = """\
SERIAL 0 115200
DEFAULT testbed
PROMPT 0
TIMEOUT 0
LABEL testbed
  KERNEL /vmlinuz
  APPEND initrd=/initrd.gz @CMDLINE@
"""


def prepare_bochs(args, kver, workdir, initrd, serial, trace_tools=None):
    bochs = need_tool("bochs", "bochs")
    need_file(BOCHS_BIOS, "bochsbios")
    need_file(BOCHS_VGABIOS, "vgabios")
    if not any(os.path.exists(p) for p in BOCHS_RFB_PLUGINS):
        raise SetupError("the Bochs rfb display plugin (libbx_rfb_gui.so) "
                         "is missing: install it with 'apt-get install -y "
                         "bochs'")
    xorriso = need_tool("xorriso", "xorriso")
    need_file(ISOLINUX_BIN, "isolinux")
    need_file(LDLINUX_C32, "syslinux-common")
    vmlinuz = need_file("/boot/vmlinuz-%s" % kver, "linux-image-amd64")

    isodir = os.path.join(workdir, "iso")
    shutil.rmtree(isodir, ignore_errors=True)
    os.makedirs(os.path.join(isodir, "isolinux"))
    shutil.copyfile(ISOLINUX_BIN,
                    os.path.join(isodir, "isolinux", "isolinux.bin"))
    shutil.copyfile(LDLINUX_C32,
                    os.path.join(isodir, "isolinux", "ldlinux.c32"))
    with open(os.path.join(isodir, "isolinux", "isolinux.cfg"), "w") as f:
        f.write(ISOLINUX_CFG.replace("@CMDLINE@", args.cmdline))
    shutil.copyfile(vmlinuz, os.path.join(isodir, "vmlinuz"))
    try:
        os.link(initrd, os.path.join(isodir, "initrd.gz"))
    except OSError:
        shutil.copyfile(initrd, os.path.join(isodir, "initrd.gz"))
    iso = os.path.join(workdir, "testbed.iso")
    if os.path.exists(iso):
        os.unlink(iso)
    extra = []
    if trace_tools:
        # The trace tree goes into the boot image itself (Rock Ridge for the
        # symlinks, modes and long names): BIOS and isolinux read only the
        # kernel and the initramfs from it, so boot time does not change.
        trace_tools.prepare(want_iso=False)
        extra = ["-R", "-graft-points", "-path-list", trace_tools.graft_list]
    t0 = time.monotonic()
    with open(os.path.join(workdir, "xorriso.log"), "w") as xlog:
        r = subprocess.run([xorriso, "-as", "mkisofs", "-o", iso,
                            "-b", "isolinux/isolinux.bin",
                            "-c", "isolinux/boot.cat", "-no-emul-boot",
                            "-boot-load-size", "4", "-boot-info-table"] +
                           extra + [isodir], stdin=subprocess.DEVNULL,
                           stdout=xlog, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise SetupError("xorriso failed (exit %d), see %s" %
                         (r.returncode, os.path.join(workdir, "xorriso.log")))
    if trace_tools:
        log(args.vmm, "trace tools: boot ISO with the trace tree (%.0f MiB) "
            "made in %.1f s" % (os.path.getsize(iso) / 1048576.0,
                                time.monotonic() - t0))

    bochsrc = os.path.join(workdir, "bochsrc")
    bochslog = os.path.join(workdir, "bochs.log")
    text = BOCHSRC_TEMPLATE
    for k, v in (("@MEGS@", str(args.mem)), ("@CPUS@", str(args.cpus)),
                 ("@IPS@", str(args.bochs_ips)), ("@BIOS@", BOCHS_BIOS),
                 ("@VGABIOS@", BOCHS_VGABIOS), ("@ISO@", iso),
                 ("@SERIAL@", serial), ("@LOG@", bochslog)):
        text = text.replace(k, v)
    with open(bochsrc, "w") as f:
        f.write(text)
    rc = os.path.join(workdir, "bochs.rc")
    with open(rc, "w") as f:
        f.write("c\n")
    if os.path.exists(bochslog):
        os.unlink(bochslog)
    cmd = [bochs, "-q", "-f", bochsrc, "-rc", rc]
    # The rfb display listens on the first free TCP port of 5900-5949 (it
    # has no port option).  In a private network namespace each Bochs has
    # all of them to itself and nothing is exposed; otherwise starts are
    # serialized with a lock until Bochs has its port.
    unshare = unshare_net_works()
    if unshare:
        return [unshare, "--net"] + cmd, None
    return cmd, bochslog


# ---------------------------------------------------------------------------
# Running and following the serial log
# ---------------------------------------------------------------------------

class Runner:
    def __init__(self, vmm, quiet):
        self.vmm = vmm
        self.quiet = quiet
        self.proc = None

    def kill(self):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def start(self, cmd, workdir, rfb_log):
        emu_log = open(os.path.join(workdir, "emulator.log"), "wb")
        lock = None
        if rfb_log:
            lock = open(RFB_LOCK, "a")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            self.proc = subprocess.Popen(
                cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=emu_log,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_set_pdeathsig)
            if lock:
                self._wait_rfb_port(rfb_log)
        finally:
            emu_log.close()
            if lock:
                fcntl.flock(lock, fcntl.LOCK_UN)
                lock.close()

    def _wait_rfb_port(self, bochslog):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(bochslog, errors="replace") as f:
                    text = f.read()
                m = re.search(r"listening for connections on port (\d+)",
                              text)
                if m:
                    log(self.vmm, "Bochs rfb display on TCP port %s" %
                        m.group(1))
                    return
                if "could not bind" in text:
                    return
            except OSError:
                pass
            time.sleep(0.1)

    def follow(self, serial, timeout):
        """Follow the serial log until the guest is done.  Returns a dict
        with what was seen."""
        t0 = time.monotonic()
        st = {"begin": None, "end": None, "end_rc": None, "timed_out": False,
              "panic": False, "lines": [], "body": [], "info": {},
              "exited": None}
        buf = b""
        pos = 0
        in_body = False
        done_at = None      # deadline after END or a panic
        while True:
            chunk = b""
            try:
                with open(serial, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos += len(chunk)
            except FileNotFoundError:
                pass
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").replace("\r", "")
                line = line.replace("\0", "")
                st["lines"].append(line)
                now = time.monotonic() - t0
                m = INFO_RE.search(line)
                if m:
                    d = dict(kv.partition("=")[::2]
                             for kv in m.group(1).split())
                    phase = d.pop("phase", "")
                    for k, v in d.items():
                        st["info"]["%s_%s" % (k, phase) if phase else k] = v
                    continue
                if not in_body and st["begin"] is None and \
                        BEGIN_MARKER in line:
                    st["begin"] = now
                    in_body = True
                    log(self.vmm, "guest reached /init after %.1f s "
                        "(guest uptime %s s)" %
                        (now, st["info"].get("uptime_begin", "?")))
                    continue
                m = END_RE.search(line)
                if in_body and m:
                    in_body = False
                    st["end"] = now
                    st["end_rc"] = int(m.group(1))
                    done_at = time.monotonic() + END_GRACE
                    continue
                if in_body:
                    st["body"].append(line)
                    if not self.quiet:
                        print(line, flush=True)
                if PANIC_RE.search(line) and not st["panic"]:
                    st["panic"] = True
                    log(self.vmm, "guest kernel panic after %.1f s" % now)
                    if done_at is None:
                        done_at = time.monotonic() + PANIC_GRACE
                if PANIC_END_RE.search(line) and st["panic"] and \
                        st["end"] is None:
                    done_at = min(done_at or 1e18, time.monotonic() + 2)
            if self.proc.poll() is not None:
                # Pick up what was written just before the exit.
                if chunk:
                    continue
                if buf:
                    buf += b"\n"
                    continue
                st["exited"] = self.proc.returncode
                break
            now = time.monotonic()
            if done_at is not None and now > done_at:
                self.kill()
                continue
            if now - t0 > timeout:
                st["timed_out"] = True
                self.kill()
                continue
            time.sleep(0.2)
        st["total"] = time.monotonic() - t0
        return st


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run a minikvm test payload in an emulated machine.")
    ap.add_argument("--vmm", choices=("bochs", "qemu"))
    ap.add_argument("--payload", help="directory with run.sh")
    ap.add_argument("--workdir", help="directory for generated files")
    ap.add_argument("--timeout", type=int, default=1200,
                    help="seconds for the whole emulator run (default 1200)")
    ap.add_argument("--cpus", type=int, default=1,
                    help="number of guest CPUs (default 1)")
    ap.add_argument("--kver", help="kernel version (default: scripts/kver.sh)")
    ap.add_argument("--quiet", action="store_true",
                    help="do not echo the guest's output")
    ap.add_argument("--mem", type=int, default=512,
                    help="guest memory in MiB (default 512)")
    ap.add_argument("--cmdline", default=KERNEL_CMDLINE,
                    help="kernel command line (default %r)" % KERNEL_CMDLINE)
    ap.add_argument("--bochs-ips", type=int, default=BOCHS_IPS,
                    help="Bochs emulated instructions per second, the rate "
                    "of guest time (default %d)" % BOCHS_IPS)
    ap.add_argument("--bochs-native-tsc", action="store_true",
                    help="do not add tsc_early_khz=IPS/1000 to the Bochs "
                    "guest's command line (the guest then takes the TSC for "
                    "3.5 GHz, see BOCHS_TSC_NOTE in this script)")
    ap.add_argument("--trace-tools", action="store_true",
                    help="give the guest bpftrace and bpftool on a CD-ROM "
                    "(the boot ISO for bochs, a second cached ISO for qemu) "
                    "and the modules to mount it; a plan calls "
                    "trace_tools_setup from /testbed/trace_tools.sh")
    ap.add_argument("--build-only", action="store_true",
                    help="build the initramfs (and the ISO for bochs), "
                    "do not boot")
    ap.add_argument("--self-test", action="store_true",
                    help="run the KTAP parser's built-in tests and exit")
    args = ap.parse_args(argv)

    if args.self_test:
        return self_test()
    for opt in ("vmm", "payload", "workdir"):
        if getattr(args, opt) is None:
            ap.error("--%s is required" % opt)
    if args.cpus < 1 or args.mem < 64 or args.timeout < 1:
        ap.error("bad --cpus, --mem or --timeout")

    vmm = args.vmm
    runner = Runner(vmm, args.quiet)

    def on_signal(signum, frame):
        runner.kill()
        log(vmm, "interrupted by signal %d" % signum)
        sys.exit(128 + signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    try:
        return run(args, runner)
    except SetupError as e:
        print("testbed(%s): error: %s" % (vmm, e), file=sys.stderr)
        return 2
    finally:
        runner.kill()


def run(args, runner):
    vmm = args.vmm
    t_start = time.monotonic()
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    if not os.path.isdir(args.payload):
        raise SetupError("payload directory %s does not exist" %
                         args.payload)
    for name in ("serial.log", "results.json", "ktap.log", "emulator.log"):
        try:
            os.unlink(os.path.join(workdir, name))
        except FileNotFoundError:
            pass
    kver = resolve_kver(args)
    need_file("/boot/vmlinuz-%s" % kver, "linux-image-amd64")

    if vmm == "bochs" and not args.bochs_native_tsc and \
            "tsc_early_khz=" not in args.cmdline:
        args.cmdline += " tsc_early_khz=%d" % (args.bochs_ips // 1000)

    trace_tools = TraceTools(vmm) if args.trace_tools else None
    initrd, mods, n_elves, libs = build_initramfs(args, kver, workdir,
                                                  trace_tools)
    serial = os.path.join(workdir, "serial.log")
    if vmm == "qemu":
        cmd, rfb_log = prepare_qemu(args, kver, workdir, initrd, serial,
                                    trace_tools)
    else:
        cmd, rfb_log = prepare_bochs(args, kver, workdir, initrd, serial,
                                     trace_tools)
    build_seconds = time.monotonic() - t_start
    log(vmm, "kernel %s, %d CPU(s), initramfs %s (%.1f MiB, modules: %s, "
        "%d dynamic ELF(s), %d libraries), built in %.1f s" %
        (kver, args.cpus, initrd, os.path.getsize(initrd) / 1048576.0,
         " ".join(module_guest_name(m) for m in mods), n_elves, len(libs),
         build_seconds))
    if args.build_only:
        log(vmm, "would start: %s" % " ".join(cmd))
        return 0
    log(vmm, "starting: %s" % " ".join(cmd))

    runner.start(cmd, workdir, rfb_log)
    st = runner.follow(serial, args.timeout)

    with open(os.path.join(workdir, "ktap.log"), "w") as f:
        f.write("".join(line + "\n" for line in st["body"]))

    counts = parse_ktap(st["body"])
    finished = st["end"] is not None
    if not finished:
        if st["timed_out"]:
            log(vmm, "TIMEOUT after %d s" % args.timeout)
        elif st["panic"]:
            log(vmm, "the guest kernel panicked")
        else:
            log(vmm, "the emulator exited (status %s) before the END "
                "marker" % st["exited"])
        if st["timed_out"] or args.quiet or st["begin"] is None:
            log(vmm, "last 30 serial lines (%s):" % serial)
            for line in st["lines"][-30:]:
                print("    " + line, flush=True)
        if st["begin"] is None:
            try:
                with open(os.path.join(workdir, "emulator.log"),
                          errors="replace") as f:
                    tail = f.read().splitlines()[-15:]
                if tail:
                    log(vmm, "last lines of emulator.log:")
                    for line in tail:
                        print("    " + line, flush=True)
            except OSError:
                pass
            if vmm == "bochs":
                try:
                    with open(os.path.join(workdir, "bochs.log"),
                              errors="replace") as f:
                        panics = [l.rstrip() for l in f if ">>PANIC<<" in l]
                    for line in panics[-5:]:
                        print("    bochs.log: " + line, flush=True)
                except OSError:
                    pass
        counts.fail("testbed: guest did not finish")
    else:
        if not counts.has_plan:
            counts.fail("testbed: no top-level plan line (run.sh did not "
                        "reach ktap_end?)")
        if st["end_rc"]:
            counts.fail("testbed: run.sh exited with status %d" %
                        st["end_rc"])

    results = {
        "vmm": vmm,
        "passed": counts.passed,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "failures": counts.failures,
        "boot_seconds": round(st["begin"], 1) if st["begin"] is not None
        else None,
        "total_seconds": round(st["total"], 1),
        "end_rc": st["end_rc"],
        "kver": kver,
        "cpus": args.cpus,
        "timed_out": st["timed_out"],
        "kernel_panic": st["panic"],
        "build_seconds": round(build_seconds, 1),
        "guest_uptime_begin": _float(st["info"].get("uptime_begin")),
        "guest_uptime_end": _float(st["info"].get("uptime_end")),
        "bochs_ips": args.bochs_ips if vmm == "bochs" else None,
        "cmdline": args.cmdline,
        "trace_tools": trace_tools.key if trace_tools else None,
        "command": cmd,
    }
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")

    for name in counts.failures:
        log(vmm, "FAILED: %s" % name)
    summary = "%d passed, %d failed" % (counts.passed, counts.failed)
    if counts.skipped:
        summary += ", %d skipped" % counts.skipped
    log(vmm, "boot %s s, total %.1f s" %
        ("%.1f" % st["begin"] if st["begin"] is not None else "-",
         st["total"]))
    print("testbed(%s): %s" % (vmm, summary), flush=True)
    ok = finished and counts.failed == 0 and counts.passed > 0
    return 0 if ok else 1


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
