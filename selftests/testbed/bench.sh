#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: guest-time costs, minikvm against the kernel's own KVM, in
# one boot of the testbed (Bochs: VMX, kvm_intel; QEMU TCG: SVM, kvm_amd,
# for a quick try of the plan).
#
# Rows (userspace-launcher/README.md, "--bench-io" and "--bench-irq"):
#   io       --bench-io: N `out %al, $0x80`, each an exit that KVM
#            completes in userspace (KVM_EXIT_IO): the exit round trip
#   ipi      fixed IPI ping-pong between two vCPUs, each handler EOIs,
#            the waiting vCPU halts: one operation = one round trip
#   eoi      self-IPI + delivery + xAPIC EOI write (eoi_write_ns: the EOI
#            write alone, timed by the guest's RDTSC)
#   timer    periodic LAPIC timer interrupt, handler EOIs: guest time
#            stolen per interrupt from a loop (net of a control window)
#   irqline  userspace raises and lowers IOAPIC pin 16 (KVM_IRQ_LINE) when
#            the guest asks by OUT; delivery + EOI
#   pic      `in $0x21` (master PIC IMR), in-kernel PIC
#   ioapic   IOAPIC register read: IOREGSEL write + IOWIN read
# The launcher reads CLOCK_MONOTONIC around the measured region and the
# vCPUs' "exits" from KVM_GET_STATS_FD; the --bench-irq rows create every
# VM with KVM_CREATE_IRQCHIP.
#
# Targets, in this order (the reference first, so that its numbers exist
# even if minikvm takes the machine down):
#   kvm_intel with enable_apicv=0: the comparison the issue asks for
#   kvm_intel with enable_apicv=1: only if APICv really turns on (it needs
#     posted interrupts, which Bochs 2.7 does not emulate: a SKIP there)
#   minikvm (/dev/minikvm)
# The table gives ns and kernel exits per operation and the ratio
# minikvm / kvm_intel (apicv=0) per row.
#
# The numbers never fail the plan; only a run that does not complete does.
# A target that cannot run a row (launcher exit status 77: no
# KVM_CAP_IRQCHIP, an ioctl answered -ENOTTY...) gives a SKIP with the
# reason, and the other targets run regardless.
#
# Settings (environment): BENCH_OUTS (io), BENCH_N_<row> (ipi eoi timer
# irqline pic ioapic), BENCH_ROWS (default: all), BENCH_APICV_ON=0 (no
# second reference column), BENCH_TIMEOUT (seconds per launcher run).
. /testbed/ktap.sh

VMM=$(cat /payload/vmm)
KO=/payload/minikvm.ko
LAUNCH=/payload/bin/minikvm-launch
OUTS=${BENCH_OUTS:-100000}
ROWS=${BENCH_ROWS:-"io ipi eoi timer irqline pic ioapic"}
TIMEOUT=${BENCH_TIMEOUT:-600}
RESULTS=/tmp/bench-results
if [ "$VMM" = bochs ]; then
	KVM_REF="irqbypass kvm kvm-intel"
	REF=kvm_intel
	APICV_PARAM=enable_apicv
	APICV_WHY="kvm_intel needs posted interrupts for APICv (cpu_has_vmx_apicv()); Bochs 2.7 emulates none"
else
	KVM_REF="irqbypass kvm ccp kvm-amd"
	REF=kvm_amd
	APICV_PARAM=avic
	APICV_WHY="no AVIC on this CPU"
fi
REF_OFF="$REF(apicv=0)"
REF_ON="$REF(apicv=1)"

# N per row: each row costs 0.3-1 s of Bochs guest time on kvm_intel.
n_of() {
	case $1 in
	io) echo "$OUTS" ;;
	ipi) echo "${BENCH_N_ipi:-2000}" ;;
	eoi) echo "${BENCH_N_eoi:-5000}" ;;
	timer) echo "${BENCH_N_timer:-1000}" ;;
	irqline) echo "${BENCH_N_irqline:-5000}" ;;
	pic) echo "${BENCH_N_pic:-10000}" ;;
	ioapic) echo "${BENCH_N_ioapic:-5000}" ;;
	esac
}

# load_kvm_ref PARAMS: the reference's modules, PARAMS for the last one.
load_kvm_ref() {
	for m in $KVM_REF; do
		case $m in
		kvm-intel|kvm-amd) insmod /kmods/$m.ko $1 || return 1 ;;
		*) insmod /kmods/$m.ko || return 1 ;;
		esac
	done
	test -c /dev/kvm
}
unload_kvm_ref() {
	for m in $(echo $KVM_REF | tr ' ' '\n' | sed '1!G;h;$!d'); do
		rmmod "$(echo $m | tr - _)" || return 1
	done
}
apicv_param() {
	cat /sys/module/$(echo $REF | tr - _)/parameters/$APICV_PARAM 2>/dev/null || echo "?"
}
status_is_0() {
	[ "$1" -eq 0 ] && return 0
	echo "minikvm-launch exit status $1 (70: launcher error, 71: the guest crashed or" \
		"gave a wrong value, 72: timeout)"
	return 1
}

# bench_row TARGET DEV ROW: one launcher run; its output becomes "# "
# lines, its BENCH/BENCHIRQ line goes to $RESULTS as "TARGET ROW ...".
bench_row() {
	n=$(n_of "$3")
	if [ "$3" = io ]; then
		out=$($LAUNCH --dev "$2" --bench-io "$n" --timeout "$TIMEOUT" </dev/null 2>&1)
		rc=$?
		desc="bench $1 io: $n OUTs to a userspace port"
		tag=BENCH
	else
		out=$($LAUNCH --dev "$2" --bench-irq "$3" "$n" --timeout "$TIMEOUT" </dev/null 2>&1)
		rc=$?
		desc="bench $1 $3: N=$n"
		tag=BENCHIRQ
	fi
	ktap_diag "$out"
	if [ "$rc" -eq 77 ]; then
		why=$(printf '%s\n' "$out" | grep -m1 'cannot run guests' |
			sed 's/^minikvm-launch: //; s/: the device cannot run guests (yet).*//')
		echo "$1 $3 skipped $why" >>"$RESULTS"
		skip "$desc" "$1 cannot run this yet: $why"
		return
	fi
	line=$(printf '%s\n' "$out" | grep -m1 "^$tag ")
	if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
		echo "$1 $3 $line" >>"$RESULTS"
	else
		echo "$1 $3 failed (launcher exit status $rc)" >>"$RESULTS"
	fi
	step "$desc" status_is_0 "$rc"
}

# skip_rows TARGET REASON [ROWS]: every row (or ROWS) of TARGET as a SKIP.
skip_rows() {
	for r in ${3:-$ROWS}; do
		echo "$1 $r skipped $2" >>"$RESULTS"
		skip "bench $1 $r" "$2"
	done
}

# The table, from $RESULTS ("TARGET ROW BENCH[IRQ] key=value..." lines).
summary() {
	nlist=$(for r in $ROWS; do printf '%s=%s ' "$r" "$(n_of "$r")"; done)
	awk -v ref="$REF_OFF" -v ref2="$REF_ON" -v vmm="$VMM" -v rows="$ROWS" -v nlist="$nlist" \
		-v cpus="$(grep -c ^processor /proc/cpuinfo)" '
	function field(k,   i, a) {
		for (i = 4; i <= NF; i++) {
			split($i, a, "=")
			if (a[1] == k)
				return a[2]
		}
		return ""
	}
	function cell(t, r) {
		if ((t, r) in ns)
			return sprintf("%10.0f %7s", ns[t, r], ex[t, r])
		if ((t, r) in why)
			return sprintf("%18s", why[t, r] ~ /^failed/ ? "FAILED" : "SKIP")
		return sprintf("%18s", "-")
	}
	$3 == "BENCH" || $3 == "BENCHIRQ" {
		t = $1; r = $2
		if ($3 == "BENCH") {
			ns[t, r] = field("ns_per_round_trip"); ex[t, r] = field("kernel_exits_per_out")
			n[r] = field("outs")
		} else {
			ns[t, r] = field("ns_per_op"); ex[t, r] = field("kernel_exits_per_op")
			n[r] = field("n")
			if (r == "eoi") note[t, r] = "EOI write alone " field("eoi_write_ns") " ns"
			if (r == "timer") note[t, r] = "period " field("period_ns") " ns"
		}
		next
	}
	{
		why[$1, $2] = substr($0, length($1) + length($2) + 3)
		if (why[$1, $2] ~ /^skipped /)
			reason[$1] = substr(why[$1, $2], 9)
	}
	END {
		desc["io"] = "OUT to a userspace port: exit round trip"
		desc["ipi"] = "IPI ping-pong round trip (2 vCPUs, HLT)"
		desc["eoi"] = "self-IPI + delivery + EOI write"
		desc["timer"] = "LAPIC timer interrupt (stolen time)"
		desc["irqline"] = "KVM_IRQ_LINE edge + delivery + EOI"
		desc["pic"] = "in $0x21 (PIC IMR)"
		desc["ioapic"] = "IOAPIC IOREGSEL write + IOWIN read"
		print "guest-time ns per operation and kernel exits per operation (KVM_GET_STATS_FD"
		print "\"exits\" of all the VM'"'"'s vCPUs), ratio = minikvm / " ref " (ns)"
		if (vmm == "bochs") {
			print "clock: CLOCK_MONOTONIC of the Bochs guest, in which 1 ns = 0.1 emulated"
			print "instruction (ips=100M, tsc_early_khz; scripts/testbed.py BOCHS_TSC_NOTE):"
			print "the ns are emulated instruction counts x 10, for comparing minikvm with"
			print "kvm_intel, not hardware times; the testbed machine has " cpus " CPU(s)"
		} else {
			print "clock: CLOCK_MONOTONIC of the QEMU TCG guest (wall time, noisy)"
		}
		printf "%-8s %-41s %6s | %18s | %18s | %7s | %18s\n", "", "", "", "minikvm", ref,
			"ratio", ref2
		printf "%-8s %-41s %6s | %10s %7s | %10s %7s | %7s | %10s %7s\n", "row", "operation", "N",
			"ns/op", "exits", "ns/op", "exits", "(ns)", "ns/op", "exits"
		nn = split(nlist, NL, " ")
		for (i = 1; i <= nn; i++) {
			split(NL[i], a, "=")
			if (!(a[1] in n))
				n[a[1]] = a[2]
		}
		nr = split(rows, R, " ")
		for (i = 1; i <= nr; i++) {
			r = R[i]
			ratio = "n/a"
			if (((ref, r) in ns) && (("minikvm", r) in ns) && ns[ref, r] > 0)
				ratio = sprintf("%.3f", ns["minikvm", r] / ns[ref, r])
			printf "%-8s %-41s %6s | %s | %s | %7s | %s\n", r, desc[r], n[r],
				cell("minikvm", r), cell(ref, r), ratio, cell(ref2, r)
		}
		for (i = 1; i <= nr; i++) {
			r = R[i]
			s = ""
			split("minikvm " ref " " ref2, T, " ")
			for (j = 1; j <= 3; j++)
				if ((T[j], r) in note)
					s = s (s ? "; " : "") T[j] ": " note[T[j], r]
			if (s)
				print "  " r ": " s
		}
		split("minikvm " ref " " ref2, T, " ")
		for (j = 1; j <= 3; j++) {
			fl = ""
			for (i = 1; i <= nr; i++)
				if ((T[j], R[i]) in why && !((T[j], R[i]) in ns) && why[T[j], R[i]] !~ /^skipped/)
					fl = fl " " R[i] " " substr(why[T[j], R[i]], why[T[j], R[i]] ~ /^failed / ? 8 : 1)
			if (T[j] in reason)
				print "  " T[j] " SKIP: " reason[T[j]]
			if (fl)
				print "  " T[j] " FAILED:" fl
		}
	}' "$RESULTS"
}

ktap_begin
dmesg_mark
rm -f "$RESULTS"
ktap_diag "vmm=$VMM kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) rows: $ROWS"

# ---- the reference, APICv off ----
if step "load $REF $APICV_PARAM=0 ($KVM_REF)" load_kvm_ref "$APICV_PARAM=0"; then
	ktap_diag "$REF $APICV_PARAM=$(apicv_param)"
	for r in $ROWS; do bench_row "$REF_OFF" /dev/kvm "$r"; done
	step "unload $REF" unload_kvm_ref
else
	skip_rows "$REF_OFF" "the modules did not load"
fi
dmesg_clean "dmesg clean: $REF_OFF"

# ---- the reference, APICv on (if the CPU has what it needs) ----
IRQ_ROWS=$(echo $ROWS | tr ' ' '\n' | grep -v '^io$' | tr '\n' ' ')
if [ "${BENCH_APICV_ON:-1}" = 0 ]; then
	skip_rows "$REF_ON" "BENCH_APICV_ON=0" "$IRQ_ROWS"
elif step "load $REF $APICV_PARAM=1" load_kvm_ref "$APICV_PARAM=1"; then
	v=$(apicv_param)
	case $v in
	Y|1)
		for r in $IRQ_ROWS; do bench_row "$REF_ON" /dev/kvm "$r"; done ;;
	*)
		skip_rows "$REF_ON" "$APICV_PARAM reads $v after loading with $APICV_PARAM=1: $APICV_WHY" "$IRQ_ROWS" ;;
	esac
	step "unload $REF" unload_kvm_ref
else
	skip_rows "$REF_ON" "the modules did not load" "$IRQ_ROWS"
fi
dmesg_clean "dmesg clean: $REF_ON"

# ---- minikvm ----
if step "insmod minikvm" insmod $KO; then
	for r in $ROWS; do bench_row minikvm /dev/minikvm "$r"; done
	step "rmmod minikvm" rmmod minikvm
else
	skip_rows minikvm "insmod failed"
fi
dmesg_clean "dmesg clean: minikvm"

echo
summary | sed 's/^/# /'
ktap_end
