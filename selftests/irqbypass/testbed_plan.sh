#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# In-guest plan for the irq-bypass posting test alone (a payload's run.sh):
# the reference KVM (kvm_intel on Bochs, kvm_amd on QEMU), then, where the
# CPU has VMX, minikvm with enable_apicv=1 and =0. Payload layout:
#
#   P/bin/posting_test P/bin/minikvm_bypass_test.ko [P/minikvm.ko] P/vmm
#   cp selftests/irqbypass/testbed_plan.sh P/run.sh
#   scripts/testbed.py --vmm bochs --payload P --workdir W --timeout 1200
#
# minikvm.ko needs irqbypass.ko loaded first (it is an irq-bypass consumer).
. /testbed/ktap.sh

VMM=$(cat /payload/vmm)
# Bochs 2.7 reports stale IDT-vectoring information after an exit during
# virtual-interrupt delivery: minikvm's testbed-only quirk corrects it
# (Documentation/fast-path.md, "A Bochs 2.7 bug"). Never on real hardware.
MK_QUIRKS=
[ "$(cat /payload/vmm)" = bochs ] && MK_QUIRKS=stale_vectoring_quirk=1
if [ "$VMM" = bochs ]; then KVM_MODS="kvm kvm-intel"; else KVM_MODS="kvm ccp kvm-amd"; fi
load_kvm() { for m in $KVM_MODS; do insmod /kmods/$m.ko || return 1; done; test -c /dev/kvm; }
unload_kvm() {
	for m in $(echo $KVM_MODS | tr ' ' '\n' | sed '1!G;h;$!d'); do
		rmmod "$(echo $m | tr - _)" || return 1
	done
}

ktap_begin
ktap_diag "vmm=$VMM kernel=$(uname -r)"
step "insmod irqbypass" insmod /kmods/irqbypass.ko
step "insmod minikvm_bypass_test" insmod /payload/bin/minikvm_bypass_test.ko
step "load $KVM_MODS" load_kvm
suite "kvm posting_test" env MINIKVM_DEV=/dev/kvm /payload/bin/posting_test
step "unload KVM" unload_kvm
dmesg_clean "dmesg clean: KVM"
if [ -f /payload/minikvm.ko ] && grep -qw vmx /proc/cpuinfo; then
	for apicv in 1 0; do
		step "insmod minikvm enable_apicv=$apicv" insmod /payload/minikvm.ko $MK_QUIRKS enable_apicv=$apicv
		suite "minikvm(apicv=$apicv) posting_test" env MINIKVM_DEV=/dev/minikvm /payload/bin/posting_test
		step "rmmod minikvm" rmmod minikvm
		dmesg_clean "dmesg clean: minikvm apicv=$apicv"
	done
fi
step "rmmod minikvm_bypass_test" rmmod minikvm_bypass_test
step "rmmod irqbypass" rmmod irqbypass
dmesg_clean "dmesg clean: end"
ktap_end
