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
#   irqfd    a launcher thread signals an irqfd (MSI route, edge, vCPU 0);
#            the halted guest's handler EOIs and acknowledges by OUT to an
#            ioeventfd the thread waits on (no userspace exit)
#   tpr      xAPIC TPR write (MMIO offset 0x80)
#   cr8      MOV to CR8
#   pic      `in $0x21` (master PIC IMR), in-kernel PIC (not by default)
#   ioapic   IOAPIC register read: IOREGSEL write + IOWIN read (not by default)
# The launcher reads CLOCK_MONOTONIC around the measured region and the
# vCPUs' "exits" from KVM_GET_STATS_FD; the --bench-irq rows create every
# VM with KVM_CREATE_IRQCHIP.
#
# Columns, in this order (the reference first, so that its numbers exist
# even if minikvm takes the machine down):
#   kvm_intel enable_apicv=0: the reference of every ratio
#   kvm_intel enable_apicv=1: only if APICv really turns on (kvm_intel
#     needs posted interrupts for it, which Bochs 2.7 does not emulate:
#     the column then reads "n/a" with the reason; no numbers are made up)
#   minikvm enable_apicv=0 flexpriority=0: no TPR shadow, no APIC-access page
#   minikvm enable_apicv=0 (flexpriority=1): TPR shadow + APIC-access page
#   minikvm enable_apicv=1: + APIC-register virtualization, virtual-
#     interrupt delivery (and posted interrupts where the CPU has them)
# irqbypass.ko is loaded before minikvm.ko (its irq-bypass consumers). A
# minikvm.ko without those parameters (insmod fails, dmesg "Unknown
# parameter") is loaded with its defaults once, in the first minikvm
# column, and the other minikvm columns say so.
# The table gives ns and kernel exits per operation; a second table the
# ratio of each column's ns to kvm_intel enable_apicv=0's.
#
# The numbers never fail the plan; only a run that does not complete does.
# A column that cannot run a row (launcher exit status 77: no
# KVM_CAP_IRQCHIP, an ioctl answered -ENOTTY...) gives a SKIP with the
# reason, and the other columns run regardless.
#
# Settings (environment): BENCH_OUTS (io), BENCH_N_<row>, BENCH_ROWS
# (default: io ipi eoi timer irqline irqfd tpr cr8), BENCH_APICV_ON=0 (no
# kvm_intel enable_apicv=1 column), BENCH_MINIKVM_COLS (default
# "fp0 apicv0 apicv1"), BENCH_TIMEOUT (seconds per launcher run).
. /testbed/ktap.sh

VMM=$(cat /payload/vmm)
KO=/payload/minikvm.ko
# Bochs 2.7 reports stale IDT-vectoring information after an exit during
# virtual-interrupt delivery: minikvm's testbed-only quirk corrects it
# (Documentation/fast-path.md, "A Bochs 2.7 bug"). Never on real hardware.
MK_QUIRKS=
[ "$(cat /payload/vmm)" = bochs ] && MK_QUIRKS=stale_vectoring_quirk=1
LAUNCH=/payload/bin/minikvm-launch
OUTS=${BENCH_OUTS:-50000}
ROWS=${BENCH_ROWS:-"io ipi eoi timer irqline irqfd tpr cr8"}
MK_COLS=${BENCH_MINIKVM_COLS:-"fp0 apicv0 apicv1"}
TIMEOUT=${BENCH_TIMEOUT:-600}
RESULTS=/tmp/bench-results
if [ "$VMM" = bochs ]; then
	KVM_REF="irqbypass kvm kvm-intel"
	REF=kvm_intel
	APICV_PARAM=enable_apicv
	APICV_WHY="kvm_intel needs posted interrupts for APICv (cpu_has_vmx_apicv()); Bochs 2.7 emulates none"
	APICV_NA="kvm_intel: no posted interrupts on this CPU"
else
	KVM_REF="irqbypass kvm ccp kvm-amd"
	REF=kvm_amd
	APICV_PARAM=avic
	APICV_WHY="no AVIC on this CPU"
	APICV_NA="kvm_amd: no AVIC on this CPU"
fi
REF_OFF="$REF(apicv=0)"
REF_ON="$REF(apicv=1)"

# N per row: each row costs 0.3-4 s of Bochs guest time on kvm_intel
# (5 columns x 8 rows: about 10 minutes of Bochs after the boot).
n_of() {
	case $1 in
	io) echo "$OUTS" ;;
	ipi) echo "${BENCH_N_ipi:-2000}" ;;
	eoi) echo "${BENCH_N_eoi:-5000}" ;;
	timer) echo "${BENCH_N_timer:-1000}" ;;
	irqline) echo "${BENCH_N_irqline:-5000}" ;;
	irqfd) echo "${BENCH_N_irqfd:-2000}" ;;
	tpr) echo "${BENCH_N_tpr:-5000}" ;;
	cr8) echo "${BENCH_N_cr8:-5000}" ;;
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

# The table, from $RESULTS ("COLUMN ROW BENCH[IRQ] key=value..." or
# "COLUMN ROW skipped|failed WHY" lines); COLS the column ids in order.
summary() {
	nlist=$(for r in $ROWS; do printf '%s=%s ' "$r" "$(n_of "$r")"; done)
	awk -v ref="$REF_OFF" -v cols="$COLS" -v vmm="$VMM" -v rows="$ROWS" -v nlist="$nlist" \
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
		if ((t, r) in why) {
			if (why[t, r] ~ /^failed/)
				return sprintf("%18s", "FAILED")
			if (why[t, r] ~ /^skipped n\/a/)
				return sprintf("%18s", "n/a")
			return sprintf("%18s", "SKIP")
		}
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
		desc["irqline"] = "KVM_IRQ_LINE edge + delivery + EOI (+1 userspace exit)"
		desc["irqfd"] = "irqfd (MSI) -> halted guest, EOI, ioeventfd ack"
		desc["tpr"] = "xAPIC TPR write (MMIO)"
		desc["cr8"] = "MOV to CR8"
		desc["pic"] = "in $0x21 (PIC IMR)"
		desc["ioapic"] = "IOAPIC IOREGSEL write + IOWIN read"
		print "guest-time ns per operation and kernel exits per operation (KVM_GET_STATS_FD"
		print "\"exits\" of all the VM'"'"'s vCPUs in the measured window)"
		if (vmm == "bochs") {
			print "clock: CLOCK_MONOTONIC of the Bochs guest, in which 1 ns = 0.1 emulated"
			print "instruction (ips=100M, tsc_early_khz; scripts/testbed.py BOCHS_TSC_NOTE):"
			print "the ns are emulated instruction counts x 10, for comparing minikvm with"
			print "kvm_intel, not hardware times; the testbed machine has " cpus " CPU(s)"
		} else {
			print "clock: CLOCK_MONOTONIC of the QEMU TCG guest (wall time, noisy)"
		}
		nc = split(cols, C, " ")
		nn = split(nlist, NL, " ")
		for (i = 1; i <= nn; i++) {
			split(NL[i], a, "=")
			if (!(a[1] in n))
				n[a[1]] = a[2]
		}
		nr = split(rows, R, " ")
		print "columns:"
		for (j = 1; j <= nc; j++)
			printf "  %d  %s\n", j, C[j]
		line = sprintf("%-8s %6s", "", "")
		for (j = 1; j <= nc; j++)
			line = line sprintf(" | %18s", "(" j ")")
		print line
		line = sprintf("%-8s %6s", "row", "N")
		for (j = 1; j <= nc; j++)
			line = line sprintf(" | %10s %7s", "ns/op", "exits")
		print line
		for (i = 1; i <= nr; i++) {
			r = R[i]
			line = sprintf("%-8s %6s", r, n[r])
			for (j = 1; j <= nc; j++)
				line = line " | " cell(C[j], r)
			print line
		}
		print ""
		print "ratio of ns/op to (1) " ref
		line = sprintf("%-8s", "row")
		for (j = 2; j <= nc; j++)
			line = line sprintf(" | %8s", "(" j ")")
		print line
		for (i = 1; i <= nr; i++) {
			r = R[i]
			line = sprintf("%-8s", r)
			for (j = 2; j <= nc; j++) {
				x = "-"
				if (((ref, r) in ns) && ((C[j], r) in ns) && ns[ref, r] > 0)
					x = sprintf("%.3f", ns[C[j], r] / ns[ref, r])
				line = line sprintf(" | %8s", x)
			}
			print line
		}
		print ""
		print "rows:"
		for (i = 1; i <= nr; i++)
			printf "  %-8s %s\n", R[i], desc[R[i]]
		for (i = 1; i <= nr; i++) {
			r = R[i]
			s = ""
			for (j = 1; j <= nc; j++)
				if ((C[j], r) in note)
					s = s (s ? "; " : "") "(" j ") " note[C[j], r]
			if (s)
				print "  " r ": " s
		}
		for (j = 1; j <= nc; j++) {
			fl = ""
			for (i = 1; i <= nr; i++)
				if ((C[j], R[i]) in why && !((C[j], R[i]) in ns) && why[C[j], R[i]] !~ /^skipped/)
					fl = fl " " R[i] " " substr(why[C[j], R[i]], why[C[j], R[i]] ~ /^failed / ? 8 : 1)
			if (C[j] in reason)
				print "  (" j ") " (reason[C[j]] ~ /^n\/a/ ? "" : "SKIP: ") reason[C[j]]
			if (fl)
				print "  (" j ") FAILED:" fl
		}
	}' "$RESULTS"
}

# minikvm_load PARAMS: irqbypass (once; C's irq-bypass consumers need it),
# then minikvm.ko with PARAMS. A minikvm.ko that does not know a parameter
# refuses to load (dmesg "Unknown parameter"): then it is loaded with its
# defaults and MK_NOPARAMS is set.
MK_NOPARAMS=
rm -f /tmp/bench-mk-noparams
minikvm_load() {
	grep -q '^irqbypass ' /proc/modules || insmod /kmods/irqbypass.ko 2>/dev/null || true
	insmod $KO $MK_QUIRKS $1 && return 0
	if dmesg | tail -n 5 | grep -q 'Unknown parameter'; then
		echo "minikvm.ko does not know the parameters \"$1\" (dmesg: Unknown parameter):" \
			"loading it with its defaults"
		: >/tmp/bench-mk-noparams  # step runs this in a subshell
		insmod $KO $MK_QUIRKS
		return
	fi
	return 1
}
minikvm_params() {
	for p in enable_apicv flexpriority; do
		printf '%s=%s ' $p "$(cat /sys/module/minikvm/parameters/$p 2>/dev/null || echo '?')"
	done
}

ktap_begin
dmesg_mark
rm -f "$RESULTS"
ktap_diag "vmm=$VMM kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) rows: $ROWS"
COLS="$REF_OFF $REF_ON"

# ---- the reference, APICv off ----
if step "load $REF $APICV_PARAM=0 ($KVM_REF)" load_kvm_ref "$APICV_PARAM=0"; then
	ktap_diag "$REF $APICV_PARAM=$(apicv_param) flexpriority=$(cat /sys/module/$(echo $REF | tr - _)/parameters/flexpriority 2>/dev/null || echo n/a)"
	for r in $ROWS; do bench_row "$REF_OFF" /dev/kvm "$r"; done
	step "unload $REF" unload_kvm_ref
else
	skip_rows "$REF_OFF" "the modules did not load"
fi
dmesg_clean "dmesg clean: $REF_OFF"

# ---- the reference, APICv on (if the CPU has what it needs) ----
if [ "${BENCH_APICV_ON:-1}" = 0 ]; then
	skip_rows "$REF_ON" "BENCH_APICV_ON=0"
elif step "load $REF $APICV_PARAM=1" load_kvm_ref "$APICV_PARAM=1"; then
	v=$(apicv_param)
	ktap_diag "$REF $APICV_PARAM=$v after loading with $APICV_PARAM=1"
	case $v in
	Y|1)
		for r in $ROWS; do bench_row "$REF_ON" /dev/kvm "$r"; done ;;
	*)
		ktap_diag "$REF_ON: n/a: $APICV_PARAM reads $v: $APICV_WHY"
		skip_rows "$REF_ON" "n/a ($APICV_NA; $APICV_PARAM reads $v after loading with $APICV_PARAM=1)" ;;
	esac
	step "unload $REF" unload_kvm_ref
else
	skip_rows "$REF_ON" "the modules did not load"
fi
dmesg_clean "dmesg clean: $REF_ON"

# ---- minikvm, one column per parameter set ----
first_mk=
for c in $MK_COLS; do
	case $c in
	fp0) col="minikvm(apicv=0,fp=0)"; params="enable_apicv=0 flexpriority=0" ;;
	apicv0) col="minikvm(apicv=0)"; params="enable_apicv=0" ;;
	apicv1) col="minikvm(apicv=1)"; params="enable_apicv=1" ;;
	*) continue ;;
	esac
	COLS="$COLS $col"
	if [ -n "$MK_NOPARAMS" ]; then
		skip_rows "$col" "minikvm.ko has no enable_apicv/flexpriority parameters: its default load is column $first_mk"
		continue
	fi
	if step "insmod minikvm $params" minikvm_load "$params"; then
		[ -e /tmp/bench-mk-noparams ] && MK_NOPARAMS=1
		[ -n "$MK_NOPARAMS" ] && col="$col(defaults)" && COLS="${COLS% *} $col"
		first_mk=${first_mk:-$col}
		ktap_diag "$col: /sys/module/minikvm/parameters: $(minikvm_params)"
		for r in $ROWS; do bench_row "$col" /dev/minikvm "$r"; done
		step "rmmod minikvm" rmmod minikvm
	else
		skip_rows "$col" "insmod failed"
	fi
	dmesg_clean "dmesg clean: $col"
done

# ---- the cost of minikvm's tracepoints (Documentation/tracepoints.md) ----
# --bench-io (an OUT that exits to userspace: one minikvm_exit, one
# minikvm_userspace_exit, one minikvm_entry per round trip) with nothing
# attached, with minikvm_exit recorded by ftrace, and with every minikvm
# event recorded. Guest-time ns per round trip, one run each.
TRACE_N=${TRACE_N:-20000}
TRACEFS=/sys/kernel/tracing
trace_cost() { # label
	out=$($LAUNCH --dev /dev/minikvm --bench-io "$TRACE_N" --timeout "$TIMEOUT" </dev/null 2>&1)
	ns=$(printf '%s\n' "$out" | sed -n 's/^BENCH .*ns_per_round_trip=\([0-9.]*\).*/\1/p' | head -1)
	printf '%-40s %s\n' "$1" "${ns:-failed}" >>/tmp/trace-cost
	echo "$1: ${ns:-failed} ns per round trip"
	[ -n "$ns" ]
}
trace_events() { # 0|1 [event]
	echo "$1" >"$TRACEFS/events/minikvm/${2:+$2/}enable" && echo >"$TRACEFS/trace"
}
grep -q " $TRACEFS " /proc/mounts || mount -t tracefs nodev $TRACEFS
: >/tmp/trace-cost
if step "insmod minikvm (defaults) for the tracing cost" minikvm_load ""; then
	step "bench tracing: nothing attached" trace_cost "tracepoints off"
	step "enable minikvm_exit (ftrace)" trace_events 1 minikvm_exit
	step "bench tracing: minikvm_exit recorded" trace_cost "minikvm_exit recorded (ftrace)"
	step "enable every minikvm event (ftrace)" trace_events 1
	step "bench tracing: all 15 events recorded" trace_cost "all minikvm events recorded (ftrace)"
	step "disable the minikvm events" trace_events 0
	step "bench tracing: off again" trace_cost "tracepoints off again"
	step "rmmod minikvm" rmmod minikvm
fi

echo
summary | sed 's/^/# /'
echo "# tracepoint cost, --bench-io $TRACE_N on minikvm (guest-time ns per round trip):"
sed 's/^/#   /' /tmp/trace-cost
ktap_end
