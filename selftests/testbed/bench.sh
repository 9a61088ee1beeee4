#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: the cost of one exit round trip to userspace, minikvm
# against the kernel's own KVM, in one boot of the testbed (Bochs: VMX,
# kvm_intel; QEMU TCG: SVM, kvm_amd, for a quick try of the plan).
#
# minikvm-launch --bench-io N runs a built-in long-mode guest that executes
# N `out %al, $0x80`, each a VM exit that KVM completes in userspace
# (KVM_EXIT_IO), then HLT. The launcher reads CLOCK_MONOTONIC around its
# KVM_RUN loop and counts the exits it sees; the kernel's own count comes
# from KVM_GET_STATS_FD ("exits"). The plan prints, for each target,
# guest-time ns per round trip, the total, exits per OUT, and the ratio
# minikvm / reference.
#
# The numbers never fail the plan; only a run that does not complete does.
# A device that cannot run guests yet (launcher exit status 77) gives a
# SKIP with the reason, and the reference half runs regardless.
. /testbed/ktap.sh

VMM=$(cat /payload/vmm)
KO=/payload/minikvm.ko
LAUNCH=/payload/bin/minikvm-launch
OUTS=${BENCH_OUTS:-100000}
RESULTS=/tmp/bench-results
if [ "$VMM" = bochs ]; then
	KVM_REF="irqbypass kvm kvm-intel"
	REF=kvm_intel
else
	KVM_REF="irqbypass kvm ccp kvm-amd"
	REF=kvm_amd
fi

load_kvm_ref() {
	for m in $KVM_REF; do insmod /kmods/$m.ko || return 1; done
	test -c /dev/kvm
}
unload_kvm_ref() {
	for m in $(echo $KVM_REF | tr ' ' '\n' | sed '1!G;h;$!d'); do
		rmmod "$(echo $m | tr - _)" || return 1
	done
}
status_is_0() {
	[ "$1" -eq 0 ] && return 0
	echo "minikvm-launch exit status $1 (70: launcher error, 71: the guest crashed, 72: timeout)"
	return 1
}

# bench_target NAME DEV: one run; its output becomes "# " lines, its BENCH
# line goes to $RESULTS.
bench_target() {
	out=$($LAUNCH --dev "$2" --bench-io "$OUTS" --timeout "${BENCH_TIMEOUT:-900}" </dev/null 2>&1)
	rc=$?
	ktap_diag "$out"
	desc="bench $1: $OUTS OUTs to a userspace port"
	if [ "$rc" -eq 77 ]; then
		why=$(printf '%s\n' "$out" | grep -m1 'cannot run guests' | sed 's/^minikvm-launch: //; s/: the device cannot run guests (yet).*//')
		echo "$1 skipped $why" >>"$RESULTS"
		skip "$desc" "$1 cannot run guests yet: $why"
		return
	fi
	line=$(printf '%s\n' "$out" | grep -m1 '^BENCH ')
	if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
		echo "$1 $line" >>"$RESULTS"
	else
		echo "$1 failed (launcher exit status $rc)" >>"$RESULTS"
	fi
	step "$desc" status_is_0 "$rc"
}

# The table, from the BENCH lines ("key=value" fields).
summary() {
	awk -v ref="$REF" -v vmm="$VMM" '
	function field(k,   i, a) {
		for (i = 3; i <= NF; i++) {
			split($i, a, "=")
			if (a[1] == k)
				return a[2]
		}
		return ""
	}
	$2 == "BENCH" {
		ok[$1] = 1
		ns[$1] = field("ns_per_round_trip"); tot[$1] = field("ns_total")
		rt[$1] = field("round_trips"); ue[$1] = field("user_exits_per_out")
		ke[$1] = field("kernel_exits_per_out"); outs = field("outs")
		next
	}
	{ msg[$1] = substr($0, length($1) + 2) }
	END {
		printf "exit round trip to userspace: %s OUTs to port 0x80 from a long-mode guest\n", outs
		if (vmm == "bochs") {
			print "clock: CLOCK_MONOTONIC of the Bochs guest, in which 1 ns = 0.1 emulated"
			print "instruction (ips=100M, tsc_early_khz; scripts/testbed.py BOCHS_TSC_NOTE):"
			print "the ns below are emulated instruction counts x 10, for comparing minikvm"
			print "with kvm_intel, not hardware times"
		} else {
			print "clock: CLOCK_MONOTONIC of the QEMU TCG guest (wall time, noisy)"
		}
		printf "%-10s %16s %16s %12s %12s %18s\n", "target", "ns/round trip", "total ns",
			"round trips", "exits/OUT", "kernel exits/OUT"
		n = split("minikvm " ref, t, " ")
		for (i = 1; i <= n; i++) {
			k = t[i]
			if (ok[k])
				printf "%-10s %16s %16s %12s %12s %18s\n", k, ns[k], tot[k], rt[k], ue[k], ke[k]
			else
				printf "%-10s %s\n", k, (k in msg) ? msg[k] : "did not run"
		}
		if (ok["minikvm"] && ok[ref] && ns[ref] > 0)
			printf "ratio minikvm/%s (ns per round trip): %.3f\n", ref, ns["minikvm"] / ns[ref]
		else
			printf "ratio minikvm/%s: n/a (both must have run)\n", ref
	}' "$RESULTS"
}

ktap_begin
dmesg_mark
rm -f "$RESULTS"
ktap_diag "vmm=$VMM kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"

# ---- minikvm ----
step "insmod minikvm" insmod $KO
bench_target minikvm /dev/minikvm
step "rmmod minikvm" rmmod minikvm
dmesg_clean "dmesg clean: minikvm"

# ---- the reference: the kernel's KVM ----
step "load $REF ($KVM_REF)" load_kvm_ref
bench_target $REF /dev/kvm
step "unload $REF" unload_kvm_ref
dmesg_clean "dmesg clean: $REF"

echo
summary | sed 's/^/# /'
ktap_end
