#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`: minikvm's main job, shown inside the Bochs VMX machine, and
# traced. Loads minikvm, runs a few guests, then the interrupt tour (2
# vCPUs: LAPIC timer interrupts, IPIs, and a device interrupt through a
# resampling irqfd) while bpftrace scripts and minikvm-top watch; prints
# the guest's console, the exit-reason histogram, one device interrupt's
# whole path step by step with timestamps, the interrupt-path latency
# histograms and minikvm-top's table; then the same tour on kvm_intel for
# comparison. The histograms are printed between PLOT-DATA/PLOT-END lines,
# from which `make demo` draws build/demo/demo-histograms.png
# (scripts/demo_plot.py). Each stage is a KTAP step, so the demo fails
# loudly when something does not work.
. /testbed/ktap.sh
. /testbed/trace_tools.sh
. /payload/trace.sh
KO=/payload/minikvm.ko
BIN=/payload/bin
BPF=/payload/bpf
D=/tmp/demo
# Guest seconds (Bochs): bpftrace needs ~20-40 s to start there.
STEP_TIMEOUT=1800

show() { echo; echo "==== $* ===="; }
echo "1 4 1 7" >/proc/sys/kernel/printk

# One histogram of a bpftrace report as PLOT-DATA lines: the rows under
# "@MAP...:" up to the next blank line, "[16K, 32K)  3 |@@ |" -> "16K-32K 3".
plot_hist() { # file map title
	echo "PLOT-DATA $2 $3"
	awk -v m="@$2" 'index($0, m) == 1 { on = 1; next }
		on && /^$/ { exit }
		on && /^\[/ { l = $1 $2; gsub(/[\[\]\(\)]/, "", l); sub(/,/, "-", l); print l, $3 }' "$1"
	echo "PLOT-END"
}

demo_tour() {
	mkdir -p $D $TR_TMP
	rm -f $TR_TMP/*.pid $TR_TMP/*.out
	_tr_bg exits "$(_tr_bt_ready exits)" bpftrace $BPF/exits.bt || { _tr_stop_all; return 1; }
	_tr_bg path "$(_tr_bt_ready path)" bpftrace $BPF/irq_path.bt || { _tr_stop_all; return 1; }
	_tr_bg one "$(_tr_bt_ready one)" bpftrace $BPF/one_irq.bt 10 2 || { _tr_stop_all; return 1; }
	_tr_bg top "$(_tr_top_ready top)" $BIN/minikvm-top --once || { _tr_stop_all; return 1; }
	_tr_tour /dev/minikvm $D/tour >$D/tour.log
	rc=$?
	[ $rc -eq 0 ] || cat $D/tour.log
	sleep 1
	_tr_stop one; _tr_stop exits; _tr_stop path; _tr_stop top
	cp $TR_TMP/exits.out $TR_TMP/path.out $TR_TMP/one.out $TR_TMP/top.out $D/
	return $rc
}

ktap_begin
dmesg_mark
show "guest: $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU(s); VMX features the kernel sees:"
grep -m1 '^vmx flags' /proc/cpuinfo | cut -c1-200

show "insmod minikvm.ko"
step "insmod irqbypass (minikvm's irqfds are irq-bypass consumers)" insmod /kmods/irqbypass.ko
step "insmod minikvm" insmod $KO stale_vectoring_quirk=1
dmesg | grep minikvm | sed 's/^/    dmesg: /'
ls -l /dev/minikvm | sed 's/^/    /'
grep -H . /sys/module/minikvm/parameters/enable_apicv /sys/module/minikvm/parameters/flexpriority | sed 's/^/    /'

show "bpftrace, bpftool (from the testbed's CD) and minikvm-top"
step "trace tools" trace_tools_setup
echo "    $(ls -d /sys/kernel/tracing/events/minikvm/minikvm_* | wc -l) tracepoints in /sys/kernel/tracing/events/minikvm:"
ls /sys/kernel/tracing/events/minikvm/ | grep minikvm_ | tr '\n' ' ' | fold -s -w 96 | sed 's/^/    /'
echo

show "guests under minikvm's own VMX loop"
step "hello (long mode)" $BIN/minikvm-launch --mode long --load $BIN/guests/hello-long.bin --timeout 20
step "SMP hello, 4 vCPUs" $BIN/minikvm-launch --vcpus 4 --load $BIN/guests/smp-hello.bin --timeout 20

show "the interrupt tour on 2 vCPUs, traced by exits.bt, irq_path.bt, one_irq.bt and minikvm-top"
step "irq tour under tracing" demo_tour
show "the guest's console (COM1, the launcher's 16550)"
cat $D/tour.console 2>/dev/null | sed 's/^/    /'
grep -E '^TOUR' $D/tour.err 2>/dev/null | sed 's/^/    /'

show "exit reasons (bpf-traces/exits.bt)"
grep -E '^@exits_by_reason|^@exits_total|^@userspace_exits\[' $D/exits.out 2>/dev/null | sed 's/^/    /'
echo "PLOT-DATA exits VM exits by reason: minikvm, irq tour (2 vCPUs), bpf-traces/exits.bt"
awk '/^@exits_by_reason\[/ { k = $1; sub(/^@exits_by_reason\[/, "", k); sub(/\]:$/, "", k); print k, $2 }' $D/exits.out 2>/dev/null
echo "PLOT-END"

show "one device interrupt, step by step (bpf-traces/one_irq.bt 10 2: the third on GSI 10)"
grep -E '^ *(\+0|[0-9]+) ns |^one interrupt' $D/one.out 2>/dev/null | sed 's/^/    /'

show "interrupt-path latencies (bpf-traces/irq_path.bt)"
sed -n '/^=== minikvm interrupt paths/,$p' $D/path.out 2>/dev/null | sed 's/^/    /'
plot_hist $D/path.out source_to_eoi_ns "irq tour: source -> EOI, ns (irq_path.bt @source_to_eoi_ns)"
plot_hist $D/path.out accept_to_inject_ns "irq tour: LAPIC accept -> injection, ns (irq_path.bt)"

show "minikvm-top --once"
cat $D/top.out 2>/dev/null | sed 's/^/    /'

show "rmmod minikvm"
step "rmmod minikvm" rmmod minikvm
dmesg | grep minikvm | tail -1 | sed 's/^/    dmesg: /'

show "the reference: the same tour on kvm_intel, its exits by reason (tracepoint kvm:kvm_exit)"
ref_tour() {
	mkdir -p $TR_TMP
	_tr_bg kvm "$(_tr_bt_ready kvm)" bpftrace -e '
		BEGIN { printf("kvm_exit by reason... Hit Ctrl-C to end.\n"); }
		tracepoint:kvm:kvm_exit { @kvm_exits_by_reason[args->exit_reason] = count(); }' || { _tr_stop_all; return 1; }
	_tr_tour /dev/kvm $D/ref
	rc=$?
	_tr_stop kvm
	grep '^@' $TR_TMP/kvm.out
	return $rc
}
step "load kvm_intel" sh -c 'insmod /kmods/kvm.ko && insmod /kmods/kvm-intel.ko'
step "irq tour on kvm_intel, traced" ref_tour
step "unload kvm_intel" sh -c 'rmmod kvm_intel && rmmod kvm'
step "rmmod irqbypass" rmmod irqbypass
echo
dmesg_clean "no WARN/BUG/oops in dmesg"
ktap_end
