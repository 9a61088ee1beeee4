// SPDX-License-Identifier: GPL-2.0
// A virtual CPU: what a KVM_CREATE_VCPU fd refers to. The architecture-
// neutral half of the KVM vCPU ABI lives here (kvm_run, KVM_RUN's contract,
// GPRs, FPU, completion of userspace I/O, exception queueing, statistics);
// everything VMX-specific is behind VcpuBackend (vcpu_backend.h), as KVM's
// kvm_x86_ops separates x86.c from vmx.c.
#pragma once

#include <linux/kvm.h>

#include "fd_object.h"
#include "irq/lapic.h"
#include "rt/types.h"
#include "stats.h"
#include "vcpu_backend.h"
#include "io/bus.h"
#include "x86/cpuid.h"
#include "x86/decoder.h"
#include "x86/msrs.h"
#include "x86/string_io.h"

namespace mk {

class Vm;

// GPR slots, in the order VMX reports register numbers (SDM table 27-3),
// the order of mk_vmx_vcpu_run()'s array; slot 16 holds CR2.
enum Reg : u8 {
  kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi,
  kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15, kCr2, kNrRegs
};

// The statistics minikvm keeps per vCPU (KVM_GET_STATS_FD names).
enum Stat : u8 {
  kStatExits, kStatIoExits, kStatMmioExits, kStatHaltExits, kStatSignalExits,
  kStatIrqExits, kStatNmiExits, kStatCpuidExits, kStatMsrExits, kStatCrExits,
  kStatEptFaults, kStatExceptionExits, kStatInjectedExceptions, kStatUserspaceExits,
  kStatInjectedIrqs, kStatInjectedNmis, kStatIrqWindowExits, kStatNmiWindowExits, kStatHaltWakeups,
  kStatKernelPio, kStatKernelMmio, kStatLapicMmio, kStatLapicMsr,
  kNrStats
};

// An exception, interrupt or NMI to deliver at the next VM entry.
struct Event {
  bool valid = false;
  u8 vector = 0;
  u8 type = 0;          // SDM 24.8.3 interruption type: 0 ext, 2 NMI, 3 hw exc, 4 soft int, 6 soft exc
  bool has_error = false;
  u32 error = 0;
  u32 insn_len = 0;     // soft interrupts/exceptions
  bool injected = false;  // re-delivery of an event the exit interrupted
};

class Vcpu final : public FdObject, public x86::MsrContext, public StatsSource, public irq::LapicHost {
 public:
  // The TSC offset, read/written through the backend's VMCS-MSR accessors.
  static constexpr u32 kTscOffsetPseudoMsr = 0xffffffff;
  static constexpr u32 kExitBuckets = 128;  // hardware exit reasons, by number
  static constexpr u32 kMmapPages = 2;  // kvm_run, then the PIO data page (KVM_PIO_PAGE_OFFSET = 1)

  // The VM creates and owns vCPUs; the fd holds a reference on the VM.
  static int create(Vm *vm, u32 id, Vcpu **out);
  ~Vcpu() override;

  long ioctl(unsigned int cmd, unsigned long arg) override;
  void release() override;  // the fd is gone: drop its VM reference
  void *mmap_page(unsigned long pgoff) override;

  u32 id() const { return id_; }
  Vm *vm() const { return vm_; }
  kvm_run *run() const { return run_; }
  u64 *gprs() { return gprs_; }
  u64 stat(Stat s) const { return stats_[s]; }
  void count(Stat s) { stats_[s]++; }
  u64 *exit_counts() { return exit_counts_; }
  VcpuBackend *backend() { return backend_; }

  // Called by the backend's exit handlers. Return 1: resume the guest;
  // 0: exit to userspace with run()->exit_reason set; <0: error for KVM_RUN.
  int emulate_cpuid();
  int emulate_rdmsr();
  int emulate_wrmsr();
  int emulate_xsetbv();
  int pio(u16 port, u8 size, bool in, u64 insn_len);
  int pio_string(u64 qual, u32 insn_info, u32 insn_len);
  int mmio(u64 gpa, bool write);
  int halt();
  // Queues an exception, merging with one already pending by the SDM's
  // double-fault rules (vol. 3A 6.15, table 6-5): contributory + contributory
  // or #PF + (#PF | contributory) is #DF; anything while delivering #DF is a
  // triple fault (returns 0 with KVM_EXIT_SHUTDOWN set).
  int queue_exception(u8 vector, bool has_error = false, u32 error = 0);
  Event &pending_event() { return event_; }
  void skip_instruction(u64 len);

  // Guest FPU/XSAVE image and XCR0, loaded around guest execution.
  void fpu_load();
  void fpu_save();
  u64 xcr0() const { return xcr0_; }

  // MSR and CPUID state (x86/msrs.h, x86/cpuid.h).
  x86::GuestMsrs &msrs() { return msrs_; }
  x86::GuestCpuid &cpuid() { return cpuid_; }

  // StatsSource: KVM_GET_STATS_FD on the vCPU fd.
  const StatDesc *stat_descs(u32 *count) const override;
  void stat_values(u64 *out) override;
  void stats_id(char *buf, size_t len) const override;

  // x86::MsrContext: the MSRs whose value lives in the VMCS or the vCPU.
  u64 read_vmcs_msr(x86::VmcsMsr msr) override;
  void write_vmcs_msr(x86::VmcsMsr msr, u64 value) override;
  u64 efer() override;
  void set_efer(u64 efer) override;
  u64 cr0() override;
  u64 tsc_offset() override;
  void set_tsc_offset(u64 offset) override;
  u64 host_tsc() override;
  // Debug registers the guest reaches through MOV DR exits (DR7 is in the VMCS).
  u64 dr(u32 n) const { return dr_[n & 3]; }
  void set_dr(u32 n, u64 v) { dr_[n & 3] = v; }
  u64 dr6() const { return dr6_; }
  void set_dr6(u64 v) { dr6_ = v; }
  void set_dr6_bits(u64 bits) { dr6_ = (dr6_ & ~0x600full) | bits; }
  // CR8: the in-kernel LAPIC's TPR[7:4], else kept here and reported in kvm_run.
  u64 cr8() const { return lapic_ ? lapic_->cr8() : cr8_; }
  int set_cr8(u64 v) {
    if (v >> 4)
      return 1;
    if (lapic_)
      lapic_->set_cr8(v);
    else
      cr8_ = v;
    return 0;
  }

  // ---- interrupts (vcpu_irq.cpp) ----
  irq::Lapic *lapic() { return lapic_; }
  // Its LAPIC passes the PIC's INTR: LINT0 in ExtINT mode or the APIC
  // hardware-disabled (KVM's kvm_apic_accept_pic_intr). Any context.
  bool takes_pic_intr() const;
  // Makes the vCPU notice new work: wakes it from HLT / wait-for-SIPI and,
  // if it is in guest mode on another CPU, forces a VM exit (KVM's
  // kvm_vcpu_kick). Any context.
  void kick();
  // Queues an NMI (KVM_NMI, LAPIC NMI delivery); at most two pend, as on
  // hardware one can wait while another is being handled.
  void queue_nmi();
  // Called by the backend with interrupts off, right before VM entry:
  // decides what to inject (event_, an NMI, an ExtINT from the PIC or the
  // LAPIC's highest vector) and which window exits to request. cpu is the
  // CPU about to enter; it is published for kick() first.
  void prepare_entry(int cpu);
  void left_guest();  // after VM exit (interrupts still off)
  // LapicHost
  void apic_kick() override { kick(); }
  void apic_posted() override;  // vcpu_apicv.cpp
  void apic_nmi() override { queue_nmi(); }
  void apic_eoi_level(u8 vector) override;
  void apic_eoi_edge(u8 vector) override;
  u64 apic_guest_tsc() override;
  // MsrContext: the LAPIC's MSRs and IA32_APIC_BASE.
  int lapic_msr_get(u32 index, u64 *value) override;
  int lapic_msr_set(u32 index, u64 value, bool host_initiated) override;
  // Posted interrupts (irq/posted.h, vcpu_apicv.cpp): the physical address
  // of the vCPU's posted-interrupt descriptor, 0 when it has none (no
  // in-kernel LAPIC, or APICv off/inhibited); whether the CPU itself
  // processes it (VT-x posted-interrupt processing) rather than minikvm's
  // software fallback (post, kick, PIR -> IRR at the next entry).
  u64 pi_desc_pa() const;
  bool hw_posted_intr() const;
  // CR4 bits the guest may not set: not backed by its CPUID or by minikvm.
  u64 cr4_reserved_bits() const;

 private:
  Vcpu(Vm *vm, u32 id) : vm_(vm), id_(id) {}
  int init();

  long run_ioctl(unsigned long arg);
  int complete_userspace_io();
  long get_regs(unsigned long arg);
  long set_regs(unsigned long arg);
  long get_sregs(unsigned long arg);
  long set_sregs(unsigned long arg);
  long get_fpu(unsigned long arg);
  long set_fpu(unsigned long arg);
  long msrs_io(unsigned long arg, bool set);
  long set_cpuid2(unsigned long arg);
  long get_cpuid2(unsigned long arg);
  long get_vcpu_events(unsigned long arg);
  long set_vcpu_events(unsigned long arg);
  long get_xcrs(unsigned long arg);
  long set_xcrs(unsigned long arg);
  long get_mp_state(unsigned long arg);
  long set_mp_state(unsigned long arg);
  long get_lapic(unsigned long arg);
  long set_lapic(unsigned long arg);
  long interrupt(unsigned long arg);
  // Runs INIT/SIPI and blocks while the vCPU cannot run (HALTED,
  // INIT_RECEIVED, UNINITIALIZED): 1 to enter the guest, -EINTR on a signal.
  int wait_until_runnable();
  bool has_wake_event();
  static int runnable_cond(void *self);
  void accept_init_sipi();
  // kick()'s body: wakes the vCPU and, in guest mode on another CPU,
  // sends it the posted-interrupt notification (posted_ipi) or a
  // reschedule IPI.
  void wake_and_notify(bool posted_ipi);
  bool interrupt_pending();
  // lapic_vectors false: only the PIC's ExtINT (virtual-interrupt delivery).
  int next_interrupt(bool *from_pic, bool lapic_vectors = true);
  void enter_halted();
  void init_reset();
  int mmio_device(const x86::Insn &insn, u64 gpa, io::IoDevice *dev);
  void poll_init_sipi();
  void cpuid_changed();
  void sipi_start(u8 vector);
  void regs_to(kvm_regs *r);
  void regs_from(const kvm_regs &r);
  int set_sregs_checked(const kvm_sregs &s);
  void store_sync_regs();
  int apply_sync_regs();
  void post_run_save();
  void get_events(kvm_vcpu_events *ev);
  int set_events(const kvm_vcpu_events &ev);
  int emulation_failure(u64 gpa);
  int string_step(x86::IoStep step, const x86::StringIoRegs &regs, const x86::Exception &ex);
  static u64 host_xcr0();
  void sync_swapped_msrs();
  x86::PagingState paging_state();
  x86::StringIoEnv string_io_env();
  void reset();

  Vm *vm_;
  u32 id_;
  VcpuBackend *backend_ = nullptr;
  void *ctx_ = nullptr;  // the platform's preempt-notifier context
  kvm_run *run_ = nullptr;
  u64 run_pa_ = 0;
  u8 *pio_page_ = nullptr;
  u64 pio_pa_ = 0;
  u64 gprs_[kNrRegs] = {};

  // What KVM_RUN must finish first (KVM's complete_userspace_io).
  enum class Pending : u8 { kNone, kPioIn, kPioOut, kMmioRead, kMmioWrite, kStringIn };
  Pending pending_ = Pending::kNone;
  u64 pending_rip_ = 0;      // linear RIP of the instruction that exited
  u64 pending_len_ = 0;      // its length
  u8 pending_size_ = 0;
  u8 pending_reg_ = 0;       // MMIO load destination
  alignas(8) u8 mmio_insn_[40] = {};  // the decoded MMIO load (x86::Insn, opaque here)

  Event event_;
  u64 stats_[kNrStats] = {};
  u64 exit_counts_[kExitBuckets] = {};

  // FPU: an XSAVE (or FXSAVE) image, 64-byte aligned, one page.
  u8 *fpu_ = nullptr;
  u64 fpu_pa_ = 0;
  u64 xcr0_ = 1;
  bool xcr0_switched_ = false;
  x86::GuestCpuid cpuid_;
  x86::GuestMsrs msrs_{id_, cpuid_, *this};
  x86::PendingIn string_in_{};
  bool has_run_ = false;
  u64 dr_[4] = {}, dr6_ = 0xffff0ff0;
  u64 cr8_ = 0;
  irq::Lapic *lapic_ = nullptr;  // with KVM_CREATE_IRQCHIP
  u32 nmi_pending_ = 0;          // atomic
  int guest_cpu_ = -1;           // the CPU in guest mode for this vCPU, or -1 (atomic)
  bool halt_if_ = false;         // maskable interrupts allowed when the vCPU halted
  bool halt_nmi_ = false;        // NMIs not blocked when it halted
  bool got_init_ = false, got_sipi_ = false;  // taken from the LAPIC, not yet acted on
  u8 sipi_vector_ = 0;
  int user_irq_ = -1;            // KVM_INTERRUPT vector (userspace irqchip)
  int pending_ioapic_eoi_ = -1;  // split irqchip: vector for KVM_EXIT_IOAPIC_EOI
  u64 tsc_offset_ = 0;           // mirror of the VMCS TSC offset, for other CPUs
  void *mutex_ = nullptr;  // one ioctl at a time per vCPU (KVM's vcpu->mutex)
  u32 mp_state_ = KVM_MP_STATE_RUNNABLE;

  friend class Vm;
};

}  // namespace mk
