#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The in-guest test plan of `make check-vm` (runs as /payload/run.sh inside
# the emulated machine; scripts/testbed.py boots it and counts the KTAP).
# One boot: minikvm under test, then the host kernel's own KVM as the
# reference, the same tests against both.
#
# /payload/vmm says where we are: bochs (VMX: minikvm must create VMs) or
# qemu (TCG, SVM only: minikvm must load and refuse VMs with EOPNOTSUPP).
. /testbed/ktap.sh
. /payload/upstream.sh
. /payload/garbage.sh
. /payload/uart.sh
. /payload/tour.sh
. /testbed/trace_tools.sh
. /payload/trace.sh
. /payload/minikvm_top.sh

VMM=$(cat /payload/vmm)
KO=/payload/minikvm.ko
# Bochs 2.7 reports stale IDT-vectoring information after an exit during
# virtual-interrupt delivery: minikvm's testbed-only quirk corrects it
# (Documentation/fast-path.md, "A Bochs 2.7 bug"). Never on real hardware.
MK_QUIRKS=
[ "$(cat /payload/vmm)" = bochs ] && MK_QUIRKS=stale_vectoring_quirk=1
BIN=/payload/bin
if [ "$VMM" = bochs ]; then
	EXPECT=vmx
	KVM_REF="kvm kvm-intel"
else
	EXPECT=novmx
	KVM_REF="kvm ccp kvm-amd"
fi

cpu_flags_as_expected() {
	flags=$(grep -m1 '^flags' /proc/cpuinfo)
	case $VMM in
	bochs) echo "$flags" | grep -qw vmx ;;
	qemu) ! echo "$flags" | grep -qw vmx && echo "$flags" | grep -qw svm ;;
	esac
}

dmesg_has() { dmesg | grep -E "$1"; }
dmesg_count_is() { n=$(dmesg | grep -cE "$2"); echo "$n lines match: $2"; [ "$n" -eq "$1" ]; }

load_kvm_ref() {
	for m in $KVM_REF; do insmod /kmods/$m.ko || return 1; done
	test -c /dev/kvm
}
unload_kvm_ref() {
	for m in $(echo $KVM_REF | tr ' ' '\n' | sed '1!G;h;$!d'); do
		rmmod "$(echo $m | tr - _)" || return 1
	done
}

ioctl_suite() { # name dev expect [env...]
	name=$1 dev=$2 expect=$3
	shift 3
	suite "$name" env MINIKVM_DEV="$dev" MINIKVM_EXPECT="$expect" "$@" $BIN/dev_ioctl_test
}

# The VM/vCPU ABI: ioctl tests and guest tests, the same binaries against
# minikvm and the reference KVM (selftests/ioctl, selftests/guest).
GUEST_TESTS="modes_test pio_test mmio_test cpuid_test msr_test exception_test entry_fail_test run_test smp_test"
# The in-kernel irqchip (Documentation/interrupts.md): LAPIC, IOAPIC, PIC,
# MSI and routing, PIT, their ioctls, and a hostile guest.
GUEST_TESTS="$GUEST_TESTS lapic_timer_test ipi_test initsipi_test x2apic_test tpr_test"
GUEST_TESTS="$GUEST_TESTS irqchip_ioctl_test ioapic_test pic_test msi_test pit_test irq_hostile_test irq_spread_test"
# The fast path (Documentation/fast-path.md): irqfd and ioeventfd, the split
# irqchip, APIC virtualization.
FAST_TESTS="irqfd_test split_irqchip_test apicv_test"
GUEST_TESTS="$GUEST_TESTS $FAST_TESTS"
# Every suite that delivers interrupts: run again on minikvm with APICv off.
IRQ_SUITES="lapic_timer_test ipi_test initsipi_test x2apic_test tpr_test irqchip_ioctl_test"
IRQ_SUITES="$IRQ_SUITES ioapic_test pic_test msi_test pit_test irq_hostile_test irq_spread_test $FAST_TESTS"
# ref_suite DESC cmd...: suite, for the reference KVM only. A run that
# fails is run once more, and the log says so with the first run's output:
# the reference under QEMU TCG (kvm_amd on an emulated SVM) has failed
# timing-bound checks on a loaded host and passed them in every other run
# (an AP's KVM_RUN returns after INIT, a LAPIC timer interrupt). minikvm's
# suites never use it: every failure of minikvm counts.
ref_suite() {
	_rs_d=$1
	shift
	_rs_log=${TMPDIR:-/tmp}/.ref_suite.$$
	_ktap_run "${SUITE_TIMEOUT:-300}" "# " "$@" >"$_rs_log" 2>&1
	_rs_rc=$?
	if [ "$_rs_rc" -ne 0 ] && [ "$_rs_rc" -ne 4 ]; then
		sed 's/^/# first run: /' "$_rs_log"
		rm -f "$_rs_log"
		ktap_diag "RETRY: $_rs_d: the reference failed (exit status $_rs_rc); once more"
		suite "$_rs_d" "$@"
		return
	fi
	sed 's/^/    /' "$_rs_log"
	rm -f "$_rs_log"
	if [ "$_rs_rc" -eq 4 ]; then
		_ktap_result 0 "$_rs_d" "SKIP exit status 4"
	else
		_ktap_result 0 "$_rs_d"
	fi
}

abi_suites() { # label dev expect
	_as_run=suite
	case "$1" in reference*) _as_run=ref_suite ;; esac
	for t in vm_ioctl_test vcpu_ioctl_test; do
		$_as_run "$1 $t" env MINIKVM_DEV="$2" MINIKVM_EXPECT="$3" $BIN/$t
	done
	for t in $GUEST_TESTS; do
		$_as_run "$1 $t" env MINIKVM_DEV="$2" MINIKVM_EXPECT="$3" $BIN/$t
	done
}

# The launcher's example guests: real, protected and long mode, and SMP.
launcher_hello() { # dev mode guest [args]
	dev=$1 mode=$2 g=$3
	shift 3
	out=$($BIN/minikvm-launch --dev "$dev" ${mode:+--mode "$mode"} --load $BIN/guests/$g "$@" --timeout 20 2>&1)
	rc=$?
	echo "$out"
	[ $rc -eq 0 ] && echo "$out" | grep -q "ello"
}
launcher_suite() { # label dev
	step "$1 launcher hello (real mode)" launcher_hello "$2" real hello-real.bin
	step "$1 launcher hello (protected mode)" launcher_hello "$2" protected hello-protected.bin
	step "$1 launcher hello (long mode)" launcher_hello "$2" long hello-long.bin
	step "$1 launcher SMP hello (4 vCPUs)" launcher_hello "$2" "" smp-hello.bin --vcpus 4
}

# Kernel messages stay in dmesg (dmesg_clean judges them) but off the
# serial console, where KVM's own (e.g. "kvm: pic: single mode not
# supported" from the PIC suites) would cut KTAP lines in half.
echo "1 4 1 7" >/proc/sys/kernel/printk
ktap_begin
dmesg_mark
ktap_diag "vmm=$VMM kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
step "cpu flags as expected on $VMM" cpu_flags_as_expected
# minikvm's irqfds are irq-bypass consumers, as KVM's: both need irqbypass.ko.
step "insmod irqbypass" insmod /kmods/irqbypass.ko

# Tracepoints are reached through tracefs (minikvm-top, bpftrace, `trace`).
grep -q ' /sys/kernel/tracing ' /proc/mounts || mount -t tracefs nodev /sys/kernel/tracing

# ---- minikvm as /dev/minikvm ----
top_suite_no_module
step "insmod minikvm" insmod $KO $MK_QUIRKS
top_suite_load
step "/dev/minikvm is a char device" test -c /dev/minikvm
if [ $EXPECT = vmx ]; then
	step "dmesg: VMX usable" dmesg_has 'minikvm: VMX usable on [0-9]+ CPUs'
else
	step "dmesg: VMX unusable, with the reason" dmesg_has 'minikvm: VMX unusable: CPU does not support VMX'
fi
ioctl_suite "minikvm dev_ioctl_test" /dev/minikvm $EXPECT
if [ $EXPECT = novmx ]; then
	step "dmesg: KVM_CREATE_VM refusal logged exactly once" dmesg_count_is 1 'minikvm: KVM_CREATE_VM refused'
fi
if [ $EXPECT = vmx ]; then
	step "launcher probe creates a VM" $BIN/minikvm-launch --probe
	abi_suites minikvm /dev/minikvm minikvm
	launcher_suite minikvm /dev/minikvm
	uart_suite /dev/minikvm minikvm
	tour_suite /dev/minikvm minikvm
	# Tracing (bpf-traces/, Documentation/tracepoints.md): bpftrace and
	# bpftool come from the testbed's CD (scripts/testbed.py --trace-tools).
	[ "${TESTBED_TRACE_TOOLS:-0}" = 1 ] && step "trace tools (bpftrace, bpftool)" trace_tools_setup
	top_suite_counts
	if [ -x /usr/bin/bpftrace ]; then
		trace_suite minikvm
		TRACE_READY=1
	else
		skip "minikvm trace suite" "no bpftrace in this guest (scripts/testbed.py --trace-tools)"
	fi
	# VT-d posting through the irq-bypass manager, seen by a test producer
	# (selftests/irqbypass): needs APICv (a posted-interrupt descriptor).
	step "insmod minikvm_bypass_test" insmod /payload/minikvm_bypass_test.ko
	suite "minikvm posting_test" env MINIKVM_DEV=/dev/minikvm /payload/posting_test
	step "rmmod minikvm_bypass_test" rmmod minikvm_bypass_test
	# Real mode too: minikvm's VMX-preemption timer keeps Bochs alive when
	# garbage loops with IF=0 (garbage.sh skips real mode on Bochs for KVM).
	GARBAGE_MODES="real protected long" GARBAGE_SEEDS=${GARBAGE_SEEDS:-20} garbage_suite /dev/minikvm minikvm
else
	step "launcher probe reports EOPNOTSUPP" sh -c "$BIN/minikvm-launch --probe; test \$? -eq 2"
fi
step "rmmod minikvm" rmmod minikvm
step "/dev/minikvm is gone" test ! -e /dev/minikvm
step "no allocation leaked at unload" dmesg_count_is 0 'minikvm: BUG'
dmesg_clean "dmesg clean: minikvm"

# ---- minikvm with APICv off (enable_apicv=0): the interrupt suites again ----
if [ $EXPECT = vmx ]; then
	step "insmod minikvm enable_apicv=0" insmod $KO $MK_QUIRKS enable_apicv=0
	for t in $IRQ_SUITES; do
		suite "minikvm(apicv=0) $t" env MINIKVM_DEV=/dev/minikvm MINIKVM_EXPECT=minikvm $BIN/$t
	done
	uart_suite /dev/minikvm "minikvm(apicv=0)"
	tour_suite /dev/minikvm "minikvm(apicv=0)"
	step "rmmod minikvm (apicv=0)" rmmod minikvm
	# No APIC-access page either: only the TPR shadow is left.
	step "insmod minikvm enable_apicv=0 flexpriority=0" insmod $KO $MK_QUIRKS enable_apicv=0 flexpriority=0
	for t in apicv_test tpr_test; do
		suite "minikvm(apicv=0,flexpriority=0) $t" env MINIKVM_DEV=/dev/minikvm MINIKVM_EXPECT=minikvm $BIN/$t
	done
	step "rmmod minikvm (apicv=0, flexpriority=0)" rmmod minikvm
	step "no allocation leaked at unload" dmesg_count_is 0 'minikvm: BUG'
	dmesg_clean "dmesg clean: minikvm apicv=0"
fi

# ---- minikvm as /dev/kvm (as_kvm=1), as the upstream selftests use it ----
step "insmod minikvm as_kvm=1" insmod $KO $MK_QUIRKS as_kvm=1
ioctl_suite "minikvm-as-kvm dev_ioctl_test" /dev/kvm $EXPECT
if [ $EXPECT = vmx ]; then
	upstream_suite "minikvm-as-kvm upstream"
fi
step "rmmod minikvm (as_kvm)" rmmod minikvm
step "/dev/kvm is gone" test ! -e /dev/kvm
dmesg_clean "dmesg clean: minikvm as_kvm"

# ---- the reference: the host kernel's KVM, same tests ----
step "load reference KVM ($KVM_REF)" load_kvm_ref
ioctl_suite "reference-kvm dev_ioctl_test" /dev/kvm kvm
abi_suites reference-kvm /dev/kvm kvm
launcher_suite reference-kvm /dev/kvm
uart_suite /dev/kvm reference-kvm
tour_suite /dev/kvm reference-kvm
if [ "${TRACE_READY:-0}" = 1 ]; then
	trace_ref_suite reference-kvm
fi
step "insmod minikvm_bypass_test (reference)" insmod /payload/minikvm_bypass_test.ko
ref_suite "reference-kvm posting_test" env MINIKVM_DEV=/dev/kvm /payload/posting_test
step "rmmod minikvm_bypass_test (reference)" rmmod minikvm_bypass_test
if [ $EXPECT = vmx ]; then
	upstream_suite "reference-kvm upstream"
	GARBAGE_SEEDS=${GARBAGE_SEEDS:-20} garbage_suite /dev/kvm reference-kvm
fi
step_not "insmod minikvm as_kvm=1 refused while kvm owns minor 232" insmod $KO $MK_QUIRKS as_kvm=1
step "dmesg: clear message about minor 232" dmesg_has 'minikvm: misc minor 232 \(/dev/kvm\) is taken'
step "insmod minikvm beside KVM" insmod $KO $MK_QUIRKS
ioctl_suite "minikvm-beside-kvm dev_ioctl_test" /dev/minikvm $EXPECT MINIKVM_OTHER_DEV=/dev/kvm
step "rmmod minikvm (beside KVM)" rmmod minikvm
step "unload reference KVM" unload_kvm_ref
step "rmmod irqbypass" rmmod irqbypass
step "no allocation leaked at unload" dmesg_count_is 0 'minikvm: BUG'
dmesg_clean "dmesg clean: reference"

ktap_end
