#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`: what minikvm does today, shown inside the Bochs VMX machine.
# Loads minikvm, shows its verdict on VMX, probes it with the launcher, then
# probes the kernel's own KVM the same way for comparison. Each stage is a
# KTAP step, so the demo fails loudly when something does not work.
. /testbed/ktap.sh
KO=/payload/minikvm.ko
BIN=/payload/bin

show() { echo; echo "==== $* ===="; }

ktap_begin
# Judge dmesg from here on: Debian 6.1 on Bochs warns at boot about the
# emulated CPU's XSAVE sizes (CPUID leaf 0xD), before minikvm exists.
dmesg_mark
show "guest: $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU(s); VMX features the kernel sees:"
grep -m1 '^vmx flags' /proc/cpuinfo | cut -c1-200

show "insmod minikvm.ko"
step "insmod irqbypass (minikvm's irqfds are irq-bypass consumers)" insmod /kmods/irqbypass.ko
step "insmod minikvm" insmod $KO stale_vectoring_quirk=1
dmesg | grep minikvm | sed 's/^/    dmesg: /'
ls -l /dev/minikvm | sed 's/^/    /'

show "minikvm-launch --probe (on /dev/minikvm)"
step "probe minikvm" $BIN/minikvm-launch --probe
show "guests under minikvm's own VMX loop: real, protected and long mode, 4 vCPUs"
step "hello (real mode)" $BIN/minikvm-launch --mode real --load $BIN/guests/hello-real.bin --timeout 20
step "hello (protected mode)" $BIN/minikvm-launch --mode protected --load $BIN/guests/hello-protected.bin --timeout 20
step "hello (long mode)" $BIN/minikvm-launch --mode long --load $BIN/guests/hello-long.bin --timeout 20
step "SMP hello, 4 vCPUs" $BIN/minikvm-launch --vcpus 4 --load $BIN/guests/smp-hello.bin --timeout 20
show "10,000 exits to userspace, with minikvm's exit statistics"
step "bench-io 10000" $BIN/minikvm-launch --bench-io 10000
show "the in-kernel irqchip: LAPIC timer, IPIs, KVM_IRQ_LINE through the IOAPIC"
# The in-kernel irqchip: a LAPIC timer, IPIs between two vCPUs, an
# interrupt raised with KVM_IRQ_LINE through the IOAPIC (guest-time costs).
step "LAPIC timer, 200 interrupts" $BIN/minikvm-launch --bench-irq timer 200 --timeout 120
step "IPI ping-pong, 500 round trips" $BIN/minikvm-launch --bench-irq ipi 500 --timeout 120
step "KVM_IRQ_LINE via the IOAPIC, 500 interrupts" $BIN/minikvm-launch --bench-irq irqline 500 --timeout 120
show "the fast path: irqfd -> MSI -> guest handler, APICv (EOI and TPR without exits)"
grep -H . /sys/module/minikvm/parameters/enable_apicv /sys/module/minikvm/parameters/flexpriority | sed 's/^/    /'
step "irqfd -> guest, 500 interrupts" $BIN/minikvm-launch --bench-irq irqfd 500 --timeout 120
step "self-IPI + EOI, 500 (0 exits per EOI with APICv)" $BIN/minikvm-launch --bench-irq eoi 500 --timeout 120
show "an interrupt-driven 16550 console: UART IRQ 4 through a resampling irqfd"
step "uart echo" sh -c "printf 'hello minikvm\nquit\n' | $BIN/minikvm-launch --uart --load $BIN/guests/uart-echo.bin --timeout 60"

show "rmmod minikvm"
step "rmmod minikvm" rmmod minikvm
dmesg | grep minikvm | tail -1 | sed 's/^/    dmesg: /'

show "the reference: kvm_intel, probed the same way (on /dev/kvm)"
step "load kvm_intel" sh -c 'insmod /kmods/kvm.ko && insmod /kmods/kvm-intel.ko'
step "probe kvm_intel" $BIN/minikvm-launch --dev /dev/kvm --probe
step "unload kvm_intel" sh -c 'rmmod kvm_intel && rmmod kvm'
step "rmmod irqbypass" rmmod irqbypass
echo
dmesg_clean "no WARN/BUG/oops in dmesg"
ktap_end
