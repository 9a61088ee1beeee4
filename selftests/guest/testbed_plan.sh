#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# In-guest plan for the guest tests alone (use it as a payload's run.sh;
# scripts/testbed.py runs it as /payload/run.sh).  Loads the kernel's own
# KVM (kvm_intel on Bochs, kvm_amd on QEMU, per /payload/vmm) and runs every
# /payload/bin/*_test against /dev/kvm, then, if /payload/minikvm.ko is
# there and the CPU has VMX, the same suites against minikvm.
#
#   mkdir -p P/bin && cp build/guest/*_test P/bin/ && echo qemu > P/vmm
#   cp selftests/guest/testbed_plan.sh P/run.sh
#   scripts/testbed.py --vmm qemu --payload P --workdir W --timeout 300
. /testbed/ktap.sh

VMM=$(cat /payload/vmm)
# Bochs 2.7 reports stale IDT-vectoring information after an exit during
# virtual-interrupt delivery: minikvm's testbed-only quirk corrects it
# (Documentation/fast-path.md, "A Bochs 2.7 bug"). Never on real hardware.
MK_QUIRKS=
[ "$(cat /payload/vmm)" = bochs ] && MK_QUIRKS=stale_vectoring_quirk=1
if [ "$VMM" = bochs ]; then
	KVM_MODS="irqbypass kvm kvm-intel"
else
	KVM_MODS="irqbypass kvm ccp kvm-amd"
fi

load_kvm() {
	for m in $KVM_MODS; do insmod /kmods/$m.ko || return 1; done
	test -c /dev/kvm
}
unload_kvm() {
	for m in $(echo $KVM_MODS | tr ' ' '\n' | sed '1!G;h;$!d'); do
		rmmod "$(echo $m | tr - _)" || return 1
	done
}

guest_suites() { # label device
	for t in /payload/bin/*_test; do
		suite "$1 $(basename $t)" env MINIKVM_DEV="$2" "$t"
	done
}

ktap_begin
ktap_diag "vmm=$VMM kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"

step "load $KVM_MODS" load_kvm
guest_suites kvm /dev/kvm
step "unload KVM" unload_kvm
dmesg_clean "dmesg clean: KVM"

if [ -f /payload/minikvm.ko ] && grep -qw vmx /proc/cpuinfo; then
	step "insmod irqbypass" insmod /kmods/irqbypass.ko
	step "insmod minikvm" insmod /payload/minikvm.ko $MK_QUIRKS
	guest_suites minikvm /dev/minikvm
	step "rmmod minikvm" rmmod minikvm
	dmesg_clean "dmesg clean: minikvm"
fi
ktap_end
