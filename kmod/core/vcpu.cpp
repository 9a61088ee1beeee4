// SPDX-License-Identifier: GPL-2.0
#include "vcpu.h"

#include <minikvm/core.h>
#include <minikvm/platform.h>

#include "rt/errno.h"
#include "rt/log.h"
#include "rt/new.h"
#include "vm.h"
#include "x86/decoder.h"
#include "x86/paging.h"
#include "x86/segment.h"

namespace mk {

namespace {
constexpr u64 kCr0Pe = 1, kCr4Osxsave = 1ull << 18;
constexpr u64 kRflagsTf = 1ull << 8, kRflagsVm = 1ull << 17;
constexpr u32 kSyncValid = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;

// XSAVE/FXSAVE of the guest's FPU image (SDM vol. 1 13.7/13.8).
bool g_has_xsave = false;
u64 g_xcr0_supported = 3;  // x87 | SSE (| AVX when the host has it)

u64 xgetbv0() {
  u32 lo, hi;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return static_cast<u64>(hi) << 32 | lo;
}
void xsetbv0(u64 v) {
#ifdef MINIKVM_KERNEL
  asm volatile("xsetbv" : : "a"(static_cast<u32>(v)), "d"(static_cast<u32>(v >> 32)), "c"(0));
#else
  (void)v;  // privileged: the host unit tests never switch XCR0
#endif
}

// An XCR0 value XSETBV accepts (SDM vol. 1 13.3): x87 set, AVX only with
// SSE, only components in `supported`.
bool xcr0_valid(u64 v, u64 supported) { return (v & 1) && (!(v & 4) || (v & 2)) && !(v & ~supported); }

void init_fpu_caps() {
  static bool done;
  if (done)
    return;
  unsigned int r[4];
  mk_cpuid(1, 0, r);
  // XSAVE usable by the host kernel (CR4.OSXSAVE reflects in CPUID.1:ECX.27).
  g_has_xsave = (r[2] & (1u << 26)) && (r[2] & (1u << 27));
  if (g_has_xsave) {
    u64 host = xgetbv0();
    g_xcr0_supported = host & 7;
  }
  done = true;
}
}  // namespace

int Vcpu::create(Vm *vm, u32 id, Vcpu **out) {
  Vcpu *v = new (nothrow) Vcpu(vm, id);
  if (!v)
    return -ENOMEM;
  int r = v->init();
  if (r) {
    delete v;
    return r;
  }
  *out = v;
  return 0;
}

int Vcpu::init() {
  init_fpu_caps();
  mutex_ = mk_mutex_new();
  run_ = static_cast<kvm_run *>(mk_page_alloc(&run_pa_));
  pio_page_ = static_cast<u8 *>(mk_page_alloc(&pio_pa_));
  fpu_ = static_cast<u8 *>(mk_page_alloc(&fpu_pa_));
  ctx_ = mk_vcpu_ctx_new(this);
  if (!mutex_ || !run_ || !pio_page_ || !fpu_ || !ctx_)
    return -ENOMEM;
  // FPU reset state (SDM vol. 1 table 9-1... KVM's fpu init): FCW 0x37f,
  // MXCSR 0x1f80, x87+SSE components "in use" so XRSTOR loads them.
  *reinterpret_cast<u16 *>(fpu_ + 0) = 0x37f;
  *reinterpret_cast<u32 *>(fpu_ + 24) = 0x1f80;
  *reinterpret_cast<u32 *>(fpu_ + 28) = 0xffff;  // MXCSR_MASK (FXSAVE layout)
  *reinterpret_cast<u64 *>(fpu_ + 512) = 3;      // XSTATE_BV
  int err;
  backend_ = vmx_create_backend(this, &err);
  if (!backend_)
    return err;
  // KVM's reset RDX: the processor signature, 0x600 until CPUID is set.
  gprs_[kRdx] = 0x600;
  // The BSP is the vCPU KVM_SET_BOOT_CPU_ID named (vCPU 0 by default);
  // IA32_APIC_BASE.BSP says so (kvm_vcpu_is_reset_bsp).
  bool bsp = id_ == vm_->boot_cpu_id();
  if (vm_->irqchip_in_kernel() || vm_->irqchip_split()) {
    lapic_ = new (nothrow) irq::Lapic(id_, *this, vm_->apic_bus(), vm_->trace_id());
    if (!lapic_ || lapic_->init())
      return -ENOMEM;
    lapic_->reset(bsp);
    mk_preempt_disable();
    backend_->load(mk_this_cpu());
    backend_->refresh_apicv();
    mk_preempt_enable();
    // Application processors wait for INIT/SIPI (KVM's kvm_arch_vcpu_create).
    mp_state_ = bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
  }
  constexpr u64 kApicBaseBsp = 1u << 8;
  u64 base = (msrs_.apic_base() & ~kApicBaseBsp) | (bsp ? kApicBaseBsp : 0);
  if (lapic_)
    base = lapic_->apic_base();
  msrs_.set(0x1b, base, true);
  return 0;
}

Vcpu::~Vcpu() {
  delete lapic_;  // stops its timer before anything it points at goes
  delete backend_;
  mk_vcpu_ctx_free(ctx_);
  mk_page_free(run_);
  mk_page_free(pio_page_);
  mk_page_free(fpu_);
  mk_mutex_free(mutex_);
}

void Vcpu::release() { vm_->put(); }

void *Vcpu::mmap_page(unsigned long pgoff) {
  if (pgoff == 0)
    return run_;
  if (pgoff == 1)
    return pio_page_;
  return nullptr;
}

// ---- FPU ----

void Vcpu::fpu_load() {
  // Called with the FPU claimed (kernel_fpu_begin) and interrupts off.
  if (g_has_xsave) {
    u64 mask = g_xcr0_supported;
    asm volatile("xrstor64 %0" : : "m"(*fpu_), "a"(static_cast<u32>(mask)), "d"(static_cast<u32>(mask >> 32)));
    // The guest's XCR0 only matters once it enabled XSAVE (CR4.OSXSAVE).
    xcr0_switched_ = (backend_->cr4() & kCr4Osxsave) && xcr0_ != host_xcr0();
    if (xcr0_switched_)
      xsetbv0(xcr0_);
  } else {
    asm volatile("fxrstor64 %0" : : "m"(*fpu_));
  }
}

void Vcpu::fpu_save() {
  if (g_has_xsave) {
    // XSAVE saves what XCR0 enables: the host's XCR0 (a superset) first.
    if (xcr0_switched_)
      xsetbv0(host_xcr0());
    u64 mask = g_xcr0_supported;
    asm volatile("xsave64 %0" : "=m"(*fpu_) : "a"(static_cast<u32>(mask)), "d"(static_cast<u32>(mask >> 32)) : "memory");
  } else {
    asm volatile("fxsave64 %0" : "=m"(*fpu_) : : "memory");
  }
}

u64 Vcpu::host_xcr0() {
  static u64 v;
  if (!v)
    v = xgetbv0();
  return v;
}

// ---- helpers for exit handlers ----

void Vcpu::skip_instruction(u64 len) {
  u64 rip = backend_->rip() + len;
  if (!backend_->long_mode_active())
    rip = static_cast<u32>(rip);
  backend_->set_rip(rip);
  // The instruction completed: no STI/MOV SS shadow any more (SDM 6.8.3).
  if (backend_->interrupt_shadow())
    backend_->set_interrupt_shadow(0);
  // Single-stepping: an emulated instruction ends with the #DB the CPU
  // would have raised (SDM 17.3.1.4).
  if (backend_->rflags() & kRflagsTf) {
    set_dr6_bits(1ull << 14);
    queue_exception(1);
  }
}

namespace {
// SDM vol. 3A table 6-4: exception classes for the double-fault rules.
enum class Class { kBenign, kContributory, kPageFault, kDoubleFault };
Class class_of(u8 v) {
  switch (v) {
    case 0: case 10: case 11: case 12: case 13: return Class::kContributory;
    case 14: return Class::kPageFault;
    case 8: return Class::kDoubleFault;
    default: return Class::kBenign;
  }
}
bool has_error_code(u8 v) { return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30; }
}  // namespace

int Vcpu::queue_exception(u8 vector, bool has_error, u32 error) {
  count(kStatInjectedExceptions);
  if (event_.valid && event_.type == 3) {
    // A hardware exception is already being delivered (SDM table 6-5).
    Class first = class_of(event_.vector), second = class_of(vector);
    if (first == Class::kDoubleFault) {
      run_->exit_reason = KVM_EXIT_SHUTDOWN;  // triple fault
      event_ = Event{};
      return 0;
    }
    if ((first == Class::kContributory && second == Class::kContributory) ||
        (first == Class::kPageFault && second != Class::kBenign)) {
      vector = 8;
      has_error = true;
      error = 0;
    }
  }
  event_ = Event{};
  event_.valid = true;
  event_.vector = vector;
  event_.type = 3;
  event_.has_error = has_error && has_error_code(vector);
  event_.error = error;
  return 1;
}

int Vcpu::halt() {
  count(kStatHaltExits);
  if (lapic_) {
    // With the in-kernel irqchip the vCPU sleeps in KVM_RUN until an
    // interrupt it can take arrives (wait_until_runnable()). The STI/MOV
    // SS shadow ended with the HLT (skip_instruction), so IF alone says
    // whether maskable interrupts wake it (SDM vol. 2 HLT).
    enter_halted();
    return 1;
  }
  // Without an in-kernel irqchip userspace decides what HLT means (KVM
  // returns KVM_EXIT_HLT the same way).
  run_->exit_reason = KVM_EXIT_HLT;
  return 0;
}

namespace {
u64 linear_rip(VcpuBackend *b) {
  kvm_segment cs;
  b->get_segment(SegReg::kCs, &cs);
  u64 rip = b->rip();
  return b->long_mode_active() && cs.l ? rip : static_cast<u32>(cs.base + rip);
}
}  // namespace

x86::PagingState Vcpu::paging_state() {
  x86::PagingState p{};
  p.cr0 = backend_->cr0();
  kvm_sregs s;
  backend_->get_sregs(&s);
  p.cr3 = s.cr3;
  p.cr4 = backend_->cr4();
  p.efer = backend_->efer();
  p.rflags = backend_->rflags();
  backend_->get_pdptes(p.pdpte);
  p.maxphyaddr = static_cast<u8>(cpuid_.max_phys_addr());
  const kvm_cpuid_entry2 *l1 = cpuid_.find(1, 0), *e1 = cpuid_.find(0x80000001, 0);
  p.pse36 = l1 && (l1->edx & (1u << 17));
  p.gbpages = e1 && (e1->edx & (1u << 26));
  return p;
}

x86::StringIoEnv Vcpu::string_io_env() {
  x86::StringIoEnv env{};
  env.paging = paging_state();
  constexpr SegReg order[6] = {SegReg::kEs, SegReg::kCs, SegReg::kSs, SegReg::kDs, SegReg::kFs, SegReg::kGs};
  for (int i = 0; i < 6; i++)
    backend_->get_segment(order[i], &env.seg[i]);
  env.mode = x86::cpu_mode(env.paging.cr0, backend_->rflags(), env.paging.efer, env.seg[1]);
  env.cpl = static_cast<u8>(backend_->cpl());
  const kvm_cpuid_entry2 *l0 = cpuid_.find(0, 0);
  // "GenuineIntel" in EBX, EDX, ECX.
  env.guest_vendor_intel = l0 && l0->ebx == 0x756e6547 && l0->edx == 0x49656e69 && l0->ecx == 0x6c65746e;
  return env;
}

int Vcpu::string_step(x86::IoStep step, const x86::StringIoRegs &regs, const x86::Exception &ex) {
  switch (step) {
    case x86::IoStep::kResume:
    case x86::IoStep::kExitToUser:
    case x86::IoStep::kInject:
      gprs_[kRcx] = regs.rcx;
      gprs_[kRsi] = regs.rsi;
      gprs_[kRdi] = regs.rdi;
      backend_->set_rip(regs.rip);
      backend_->set_rflags(regs.rflags);
      break;
    default:
      break;
  }
  switch (step) {
    case x86::IoStep::kResume:
      return 1;
    case x86::IoStep::kExitToUser:
      count(kStatUserspaceExits);
      return 0;
    case x86::IoStep::kInject:
      if (ex.vector == 14)
        gprs_[kCr2] = ex.cr2;
      return queue_exception(ex.vector, ex.has_error_code, ex.error_code);
    case x86::IoStep::kUnhandled:
      return emulation_failure(0);
    default:
      mk_log_once(MK_LOG_ERR, "BUG: string I/O step refused (minikvm bug)");
      run_->exit_reason = KVM_EXIT_INTERNAL_ERROR;
      run_->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
      run_->internal.ndata = 0;
      return 0;
  }
}

int Vcpu::pio_string(u64 qual, u32 insn_info, u32 insn_len) {
  x86::IoExit exit;
  if (x86::decode_io_exit(qual, insn_info, insn_len, &exit))
    return emulation_failure(0);
  x86::StringIoEnv env = string_io_env();
  x86::StringIoRegs regs{gprs_[kRcx], gprs_[kRsi], gprs_[kRdi], backend_->rip(), backend_->rflags()};
  x86::Exception ex{};
  x86::IoStep step = x86::begin(exit, env, regs, *vm_, run_, pio_page_, &string_in_, &ex);
  if (step == x86::IoStep::kExitToUser && string_in_.active)
    pending_ = Pending::kStringIn;
  return string_step(step, regs, ex);
}

int Vcpu::pio(u16 port, u8 size, bool in, u64 insn_len) {
  // A write an ioeventfd takes completes here, without an exit (KVM's
  // ioeventfd_write on the PIO bus).
  if (!in) {
    u64 val = gprs_[kRax];
    if (vm_->ioeventfd_write(true, port, size, &val) == 0) {
      count(kStatKernelPio);
      skip_instruction(insn_len);
      return 1;
    }
  }
  // An in-kernel device (PIC, ELCR, PIT) completes it here.
  if (io::IoDevice *dev = vm_->pio_bus().find(port, size)) {
    count(kStatKernelPio);
    u64 &rax = gprs_[kRax];
    if (in) {
      u64 val = 0;
      if (dev->read(port, size, &val) == 0) {
        if (size == 4)
          rax = static_cast<u32>(val);  // a 32-bit destination zero-extends
        else
          rax = (rax & ~((1ull << (8 * size)) - 1)) | (val & ((1ull << (8 * size)) - 1));
        skip_instruction(insn_len);
        return 1;
      }
    } else {
      u64 val = rax;
      if (dev->write(port, size, &val) == 0) {
        skip_instruction(insn_len);
        return 1;
      }
    }
    // The device declined (-EOPNOTSUPP): userspace gets it.
  }
  run_->exit_reason = KVM_EXIT_IO;
  run_->io.direction = in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
  run_->io.size = size;
  run_->io.port = port;
  run_->io.count = 1;
  run_->io.data_offset = 4096;  // KVM_PIO_PAGE_OFFSET * PAGE_SIZE
  if (!in) {
    u64 rax = gprs_[kRax];
    for (u8 i = 0; i < size; i++)
      pio_page_[i] = static_cast<u8>(rax >> (8 * i));
  }
  // As KVM's fast PIO: RIP stays on the instruction until userspace has
  // answered; the next KVM_RUN completes it (if userspace did not move RIP).
  pending_ = in ? Pending::kPioIn : Pending::kPioOut;
  pending_rip_ = linear_rip(backend_);
  pending_len_ = insn_len;
  pending_size_ = size;
  count(kStatUserspaceExits);
  return 0;
}

namespace {
x86::Mode decode_mode(VcpuBackend *b) {
  kvm_segment cs;
  b->get_segment(SegReg::kCs, &cs);
  if (!(b->cr0() & kCr0Pe) || (b->rflags() & kRflagsVm))
    return x86::Mode::kReal;
  if (b->long_mode_active() && cs.l)
    return x86::Mode::kLong64;
  return cs.db ? x86::Mode::kProt32 : x86::Mode::kProt16;
}
}  // namespace

int Vcpu::mmio(u64 gpa, bool write_hint) {
  (void)write_hint;
  // Fetch the instruction at CS:RIP. Without guest paging the linear
  // address is the guest-physical one.
  u8 bytes[15];
  size_t avail = 0;
  u64 la = linear_rip(backend_);
  // Read up to 15 bytes page by page through the guest's paging,
  // stopping at the first page that does not translate to RAM.
  x86::PagingState ps = paging_state();
  while (avail < sizeof(bytes)) {
    u64 at = la + avail, gpa_insn = at;
    if (backend_->cr0() & (1ull << 31)) {
      x86::PageFault pf;
      x86::Access acc{false, backend_->cpl() == 3, true, false};
      if (x86::translate(ps, at, acc, *vm_, &gpa_insn, &pf))
        break;
    }
    size_t chunk = 4096 - (at & 4095);
    if (chunk > sizeof(bytes) - avail)
      chunk = sizeof(bytes) - avail;
    if (vm_->read(gpa_insn, bytes + avail, chunk))
      break;
    avail += chunk;
  }
  x86::Insn insn;
  int r = x86::decode(bytes, avail, decode_mode(backend_), &insn);
  if (r)
    return emulation_failure(gpa);
  gprs_[kRsp] = backend_->rsp();
  // In-kernel devices first: this vCPU's LAPIC page, then the VM's MMIO
  // bus (the IOAPIC). Only what none claims goes to userspace.
  if (lapic_ && lapic_->mmio_covers(gpa)) {
    count(kStatLapicMmio);
    return mmio_device(insn, gpa, nullptr);
  }
  if (insn.op == x86::Op::kStore || insn.op == x86::Op::kStoreImm) {
    // ioeventfd on the MMIO bus: signalled, completes in the kernel.
    u64 val = x86::store_value(insn, *reinterpret_cast<x86::Gprs *>(gprs_));
    if (vm_->ioeventfd_write(false, gpa, insn.access_size, &val) == 0) {
      count(kStatKernelMmio);
      skip_instruction(insn.length);
      return 1;
    }
  }
  if (io::IoDevice *dev = vm_->mmio_bus().find(gpa, insn.access_size)) {
    count(kStatKernelMmio);
    return mmio_device(insn, gpa, dev);
  }
  run_->exit_reason = KVM_EXIT_MMIO;
  run_->mmio.phys_addr = gpa;
  run_->mmio.len = insn.access_size;
  if (insn.op == x86::Op::kStore || insn.op == x86::Op::kStoreImm) {
    u64 val = x86::store_value(insn, *reinterpret_cast<x86::Gprs *>(gprs_));
    run_->mmio.is_write = 1;
    for (int i = 0; i < 8; i++)
      run_->mmio.data[i] = i < insn.access_size ? static_cast<u8>(val >> (8 * i)) : 0;
    // As KVM: a write has completed by the time userspace sees it.
    skip_instruction(insn.length);
    pending_ = Pending::kMmioWrite;
  } else {
    run_->mmio.is_write = 0;
    for (auto &d : run_->mmio.data)
      d = 0;
    static_assert(sizeof(x86::Insn) <= sizeof(mmio_insn_), "decoded instruction fits");
    __builtin_memcpy(mmio_insn_, &insn, sizeof(insn));
    pending_ = Pending::kMmioRead;
    pending_rip_ = linear_rip(backend_);
    pending_len_ = insn.length;
  }
  count(kStatUserspaceExits);
  return 0;
}

int Vcpu::mmio_device(const x86::Insn &insn, u64 gpa, io::IoDevice *dev) {
  // The access completes here, as if userspace had answered at once.
  if (insn.op == x86::Op::kStore || insn.op == x86::Op::kStoreImm) {
    u64 val = x86::store_value(insn, *reinterpret_cast<x86::Gprs *>(gprs_));
    if (dev)
      dev->write(gpa, insn.access_size, &val);
    else
      lapic_->mmio_write(gpa, insn.access_size, &val);
  } else {
    u64 val = 0;
    if (dev)
      dev->read(gpa, insn.access_size, &val);
    else
      lapic_->mmio_read(gpa, insn.access_size, &val);
    x86::complete_load(insn, *reinterpret_cast<x86::Gprs *>(gprs_), val);
    backend_->set_rsp(gprs_[kRsp]);
  }
  skip_instruction(insn.length);
  return 1;
}

int Vcpu::emulation_failure(u64 gpa) {
  // As KVM when its emulator cannot handle the instruction.
  run_->exit_reason = KVM_EXIT_INTERNAL_ERROR;
  run_->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  run_->internal.ndata = 2;
  run_->internal.data[0] = gpa;
  run_->internal.data[1] = backend_->rip();
  return 0;
}

int Vcpu::complete_userspace_io() {
  Pending p = pending_;
  pending_ = Pending::kNone;
  switch (p) {
    case Pending::kNone:
    case Pending::kMmioWrite:
      return 1;
    case Pending::kPioOut:
      if (linear_rip(backend_) == pending_rip_)
        skip_instruction(pending_len_);
      return 1;
    case Pending::kPioIn: {
      if (linear_rip(backend_) != pending_rip_)
        return 1;
      u64 val = 0;
      for (u8 i = 0; i < pending_size_; i++)
        val |= static_cast<u64>(pio_page_[i]) << (8 * i);
      u64 &rax = gprs_[kRax];
      if (pending_size_ == 4)
        rax = val;  // a 32-bit destination zero-extends (SDM vol. 1 3.4.1.1)
      else
        rax = (rax & ~((1ull << (8 * pending_size_)) - 1)) | val;
      skip_instruction(pending_len_);
      return 1;
    }
    case Pending::kStringIn: {
      x86::StringIoEnv env = string_io_env();
      x86::StringIoRegs regs{gprs_[kRcx], gprs_[kRsi], gprs_[kRdi], backend_->rip(), backend_->rflags()};
      x86::Exception ex{};
      x86::IoStep step = x86::complete_in(env, regs, *vm_, pio_page_, &string_in_, &ex);
      int r = string_step(step, regs, ex);
      // An exception is queued for the next entry; an exit here is a bug report.
      return step == x86::IoStep::kInject ? 1 : r;
    }
    case Pending::kMmioRead: {
      x86::Insn insn;
      __builtin_memcpy(&insn, mmio_insn_, sizeof(insn));
      u64 val = 0;
      for (int i = 0; i < 8; i++)
        val |= static_cast<u64>(run_->mmio.data[i]) << (8 * i);
      gprs_[kRsp] = backend_->rsp();
      x86::complete_load(insn, *reinterpret_cast<x86::Gprs *>(gprs_), val);
      backend_->set_rsp(gprs_[kRsp]);
      skip_instruction(insn.length);
      return 1;
    }
  }
  return 1;
}

// ---- CPUID, MSRs, XSETBV ----

int Vcpu::emulate_cpuid() {
  count(kStatCpuidExits);
  // x86/cpuid.h: KVM's kvm_cpuid() semantics, with the dynamic bits
  // (OSXSAVE, APIC, OSPKE, XSAVE sizes) kept current by the backend.
  ia32::cpuid::Regs r = cpuid_.lookup(static_cast<u32>(gprs_[kRax]), static_cast<u32>(gprs_[kRcx]));
  gprs_[kRax] = r.eax;
  gprs_[kRbx] = r.ebx;
  gprs_[kRcx] = r.ecx;
  gprs_[kRdx] = r.edx;
  skip_instruction(2);
  return 1;
}

u64 Vcpu::cr4_reserved_bits() const {
  if (cpuid_.nent())
    return cpuid_.cr4_reserved_bits();
  // Before KVM_SET_CPUID2 KVM checks CR4 only against what it supports at
  // all (its guest-reserved bits start at 0): every bit backed by
  // KVM_GET_SUPPORTED_CPUID may be set (the upstream set_sregs_test).
  const x86::SupportedCpuid &sup = cpuid_.supported();
  return sup.cr4_reserved | x86::cr4_reserved_bits_for(sup.entries, sup.nent);
}

// ---- x86::MsrContext ----

namespace {
u32 vmcs_msr_index(x86::VmcsMsr m) {
  switch (m) {
    case x86::VmcsMsr::kSysenterCs: return 0x174;
    case x86::VmcsMsr::kSysenterEsp: return 0x175;
    case x86::VmcsMsr::kSysenterEip: return 0x176;
    case x86::VmcsMsr::kFsBase: return 0xc0000100;
    case x86::VmcsMsr::kGsBase: return 0xc0000101;
    case x86::VmcsMsr::kDebugctl: return 0x1d9;
    case x86::VmcsMsr::kPat: return 0x277;
  }
  return 0;
}
u64 rdtsc() {
  u32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return static_cast<u64>(hi) << 32 | lo;
}
bool is_syscall_msr(u32 index) {
  for (u32 i : x86::kSyscallMsrIndex)
    if (i == index)
      return true;
  return false;
}
}  // namespace

u64 Vcpu::read_vmcs_msr(x86::VmcsMsr m) {
  u64 v = 0;
  backend_->get_vmcs_msr(vmcs_msr_index(m), &v);
  return v;
}
void Vcpu::write_vmcs_msr(x86::VmcsMsr m, u64 value) { backend_->set_vmcs_msr(vmcs_msr_index(m), value); }
u64 Vcpu::efer() { return backend_->efer(); }
void Vcpu::set_efer(u64 efer) { backend_->set_efer(efer, true); }
u64 Vcpu::cr0() { return backend_->cr0(); }
u64 Vcpu::tsc_offset() {
  u64 v = 0;
  backend_->get_vmcs_msr(kTscOffsetPseudoMsr, &v);
  return v;
}
void Vcpu::set_tsc_offset(u64 offset) {
  backend_->set_vmcs_msr(kTscOffsetPseudoMsr, offset);
  __atomic_store_n(&tsc_offset_, offset, __ATOMIC_RELAXED);  // for the LAPIC's TSC deadline
}
u64 Vcpu::host_tsc() { return rdtsc(); }

void Vcpu::sync_swapped_msrs() {
  // The guest's SYSCALL MSRs may be live in this CPU (SWAPGS changes
  // KERNEL_GS_BASE without an exit): put them back into swapped_ and the
  // host's into the CPU; the next entry loads swapped_ again. Atomically
  // with respect to migration, or another CPU would keep guest values.
  mk_preempt_disable();
  backend_->put();
  mk_preempt_enable();
}

int Vcpu::emulate_rdmsr() {
  count(kStatMsrExits);
  u64 v;
  u32 index = static_cast<u32>(gprs_[kRcx]);
  if (is_syscall_msr(index))
    sync_swapped_msrs();
  if (msrs_.get(index, &v, false))
    return queue_exception(13, true, 0);
  gprs_[kRax] = static_cast<u32>(v);
  gprs_[kRdx] = v >> 32;
  skip_instruction(2);
  return 1;
}

int Vcpu::emulate_wrmsr() {
  count(kStatMsrExits);
  u64 v = static_cast<u32>(gprs_[kRax]) | (gprs_[kRdx] << 32);
  u32 index = static_cast<u32>(gprs_[kRcx]);
  if (is_syscall_msr(index))
    sync_swapped_msrs();
  if (msrs_.set(index, v, false))
    return queue_exception(13, true, 0);
  skip_instruction(2);
  return 1;
}

int Vcpu::emulate_xsetbv() {
  // SDM vol. 2 XSETBV: #GP unless CPL 0, ECX = 0, bit 0 set, AVX only with
  // SSE, and only supported components.
  u64 v = static_cast<u32>(gprs_[kRax]) | (static_cast<u64>(static_cast<u32>(gprs_[kRdx])) << 32);
  if (backend_->cpl() != 0 || static_cast<u32>(gprs_[kRcx]) != 0 || !xcr0_valid(v, cpuid_.xcr0_supported()))
    return queue_exception(13, true, 0);
  xcr0_ = v;
  cpuid_.set_xcr0(v);
  skip_instruction(3);
  return 1;
}

// ---- ioctls ----

void Vcpu::regs_to(kvm_regs *r) {
  r->rax = gprs_[kRax];
  r->rbx = gprs_[kRbx];
  r->rcx = gprs_[kRcx];
  r->rdx = gprs_[kRdx];
  r->rsi = gprs_[kRsi];
  r->rdi = gprs_[kRdi];
  r->rsp = backend_->rsp();
  r->rbp = gprs_[kRbp];
  r->r8 = gprs_[kR8];
  r->r9 = gprs_[kR9];
  r->r10 = gprs_[kR10];
  r->r11 = gprs_[kR11];
  r->r12 = gprs_[kR12];
  r->r13 = gprs_[kR13];
  r->r14 = gprs_[kR14];
  r->r15 = gprs_[kR15];
  r->rip = backend_->rip();
  r->rflags = backend_->rflags();
}

void Vcpu::regs_from(const kvm_regs &r) {
  gprs_[kRax] = r.rax;
  gprs_[kRbx] = r.rbx;
  gprs_[kRcx] = r.rcx;
  gprs_[kRdx] = r.rdx;
  gprs_[kRsi] = r.rsi;
  gprs_[kRdi] = r.rdi;
  backend_->set_rsp(r.rsp);
  gprs_[kRbp] = r.rbp;
  gprs_[kR8] = r.r8;
  gprs_[kR9] = r.r9;
  gprs_[kR10] = r.r10;
  gprs_[kR11] = r.r11;
  gprs_[kR12] = r.r12;
  gprs_[kR13] = r.r13;
  gprs_[kR14] = r.r14;
  gprs_[kR15] = r.r15;
  backend_->set_rip(r.rip);
  backend_->set_rflags(r.rflags);
  // As KVM's __set_regs: a pending exception injection is dropped.
  event_ = Event{};
}

long Vcpu::get_regs(unsigned long arg) {
  kvm_regs r{};
  regs_to(&r);
  return mk_copy_to_user(arg, &r, sizeof(r));
}

long Vcpu::set_regs(unsigned long arg) {
  kvm_regs r;
  if (mk_copy_from_user(&r, arg, sizeof(r)))
    return -EFAULT;
  regs_from(r);
  return 0;
}

long Vcpu::get_sregs(unsigned long arg) {
  kvm_sregs s{};
  backend_->get_sregs(&s);
  s.apic_base = msrs_.apic_base();
  if (event_.valid && event_.type == 0)
    s.interrupt_bitmap[event_.vector / 64] |= 1ull << (event_.vector % 64);
  return mk_copy_to_user(arg, &s, sizeof(s));
}

int Vcpu::set_sregs_checked(const kvm_sregs &s) {
  // KVM's kvm_is_valid_sregs(), kvm_is_valid_cr0/cr4() and
  // kvm_set_apic_base() checks, in that order.
  constexpr u64 kLme = 1ull << 8, kLma = 1ull << 10, kPg = 1ull << 31, kPae = 1ull << 5;
  if ((s.efer & kLme) && (s.cr0 & kPg)) {
    if (!(s.cr4 & kPae) || !(s.efer & kLma))
      return -EINVAL;
    // CR3 must be a legal GPA for the guest's MAXPHYADDR (known once
    // KVM_SET_CPUID2 gave one, as KVM's reserved_gpa_bits).
    if (cpuid_.nent() && (s.cr3 & cpuid_.reserved_gpa_bits()))
      return -EINVAL;
  } else if ((s.efer & kLma) || s.cs.l) {
    return -EINVAL;
  }
  if (s.cr4 & cr4_reserved_bits())
    return -EINVAL;
  if (s.cr4 & (1ull << 13))  // VMXE: no nested VMX
    return -EINVAL;
  if ((s.cr0 >> 32) || ((s.cr0 & (1ull << 29)) && !(s.cr0 & (1ull << 30))) || ((s.cr0 & kPg) && !(s.cr0 & 1)))
    return -EINVAL;
  // KVM's kvm_set_apic_base(), host-initiated.
  if (msrs_.set(0x1b, s.apic_base, true))
    return -EINVAL;
  set_cr8(s.cr8 & 15);
  int r = backend_->set_sregs(s);
  if (r)
    return r;
  // A pending external interrupt (userspace irqchip): at most one bit.
  for (u32 i = 0; i < 4; i++)
    if (s.interrupt_bitmap[i]) {
      event_ = Event{};
      event_.valid = true;
      event_.type = 0;
      event_.vector = static_cast<u8>(i * 64 + __builtin_ctzll(s.interrupt_bitmap[i]));
      break;
    }
  return 0;
}

long Vcpu::set_sregs(unsigned long arg) {
  kvm_sregs s;
  if (mk_copy_from_user(&s, arg, sizeof(s)))
    return -EFAULT;
  return set_sregs_checked(s);
}

long Vcpu::get_fpu(unsigned long arg) {
  // struct kvm_fpu is the FXSAVE legacy area, reordered (KVM's kvm_arch_vcpu_ioctl_get_fpu).
  kvm_fpu f{};
  const u8 *fx = fpu_;
  __builtin_memcpy(f.fpr, fx + 32, 128);
  f.fcw = *reinterpret_cast<const u16 *>(fx + 0);
  f.fsw = *reinterpret_cast<const u16 *>(fx + 2);
  f.ftwx = fx[4];
  f.last_opcode = *reinterpret_cast<const u16 *>(fx + 6);
  f.last_ip = *reinterpret_cast<const u64 *>(fx + 8);
  f.last_dp = *reinterpret_cast<const u64 *>(fx + 16);
  __builtin_memcpy(f.xmm, fx + 160, 256);
  f.mxcsr = *reinterpret_cast<const u32 *>(fx + 24);
  return mk_copy_to_user(arg, &f, sizeof(f));
}

long Vcpu::set_fpu(unsigned long arg) {
  kvm_fpu f;
  if (mk_copy_from_user(&f, arg, sizeof(f)))
    return -EFAULT;
  // MXCSR reserved bits would make XRSTOR fault (#GP) in the host.
  if (f.mxcsr & ~*reinterpret_cast<const u32 *>(fpu_ + 28))
    return -EINVAL;
  u8 *fx = fpu_;
  __builtin_memcpy(fx + 32, f.fpr, 128);
  *reinterpret_cast<u16 *>(fx + 0) = f.fcw;
  *reinterpret_cast<u16 *>(fx + 2) = f.fsw;
  fx[4] = f.ftwx;
  *reinterpret_cast<u16 *>(fx + 6) = f.last_opcode;
  *reinterpret_cast<u64 *>(fx + 8) = f.last_ip;
  *reinterpret_cast<u64 *>(fx + 16) = f.last_dp;
  __builtin_memcpy(fx + 160, f.xmm, 256);
  *reinterpret_cast<u32 *>(fx + 24) = f.mxcsr;
  *reinterpret_cast<u64 *>(fx + 512) |= 3;  // x87 and SSE state are as given
  return 0;
}

long Vcpu::msrs_io(unsigned long arg, bool set) {
  // KVM's msr_io() contract lives in x86/msrs.cpp; the SYSCALL MSRs are
  // brought back from the CPU first.
  sync_swapped_msrs();
  return set ? msrs_.set_msrs(arg) : msrs_.get_msrs(arg);
}

long Vcpu::set_cpuid2(unsigned long arg) {
  long r = cpuid_.set_cpuid2(arg, has_run_);
  if (!r)
    cpuid_changed();
  return r;
}

void Vcpu::cpuid_changed() {
  // The LAPIC's features follow the guest's CPUID, as KVM's
  // kvm_vcpu_after_set_cpuid(): TSC-deadline mode, x2APIC, MAXPHYADDR.
  if (!lapic_)
    return;
  lapic_->set_tsc_deadline_supported(cpuid_.has(ia32::cpuid::feature::kTscDeadline));
  lapic_->set_x2apic_supported(cpuid_.has(ia32::cpuid::feature::kX2apic));
  lapic_->set_maxphyaddr(cpuid_.max_phys_addr());
}

long Vcpu::get_cpuid2(unsigned long arg) { return cpuid_.get_cpuid2(arg); }

long Vcpu::get_vcpu_events(unsigned long arg) {
  kvm_vcpu_events ev{};
  get_events(&ev);
  return mk_copy_to_user(arg, &ev, sizeof(ev));
}

void Vcpu::get_events(kvm_vcpu_events *ev) {
  *ev = kvm_vcpu_events{};
  if (event_.valid && event_.type == 3) {
    ev->exception.injected = 1;
    ev->exception.nr = event_.vector;
    ev->exception.has_error_code = event_.has_error;
    ev->exception.error_code = event_.error;
  }
  if (event_.valid && (event_.type == 0 || event_.type == 4)) {
    ev->interrupt.injected = 1;
    ev->interrupt.nr = event_.vector;
    ev->interrupt.soft = event_.type == 4;
  } else if (user_irq_ >= 0) {
    ev->interrupt.injected = 1;  // KVM_INTERRUPT's vector, waiting for IF
    ev->interrupt.nr = static_cast<u8>(user_irq_);
  }
  ev->nmi.pending = __atomic_load_n(&nmi_pending_, __ATOMIC_RELAXED) != 0;
  if (lapic_) {
    ev->flags |= KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    ev->sipi_vector = sipi_vector_;
  }
  ev->interrupt.shadow = backend_->interrupt_shadow();
  ev->nmi.injected = event_.valid && event_.type == 2;
  ev->nmi.masked = backend_->nmi_masked();
  ev->flags |= KVM_VCPUEVENT_VALID_SHADOW;
}

int Vcpu::set_events(const kvm_vcpu_events &ev) {
  // KVM's kvm_vcpu_ioctl_x86_set_vcpu_events() validation (the parts that
  // apply without SMM, nested or exception payloads).
  if (ev.flags & ~(KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW |
                   KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT))
    return -EINVAL;
  if (ev.flags & (KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT | KVM_VCPUEVENT_VALID_SMM))
    return -EINVAL;  // capabilities minikvm does not report
  if (ev.exception.injected && (ev.exception.nr > 31 || ev.exception.nr == 2))
    return -EINVAL;
  event_ = Event{};
  if (ev.exception.injected || ev.exception.pending) {
    event_.valid = true;
    event_.type = 3;
    event_.vector = ev.exception.nr;
    event_.has_error = ev.exception.has_error_code;
    event_.error = ev.exception.error_code;
  } else if (ev.interrupt.injected) {
    event_.valid = true;
    event_.type = ev.interrupt.soft ? 4 : 0;
    event_.vector = ev.interrupt.nr;
  } else if (ev.nmi.injected) {
    event_.valid = true;
    event_.type = 2;
    event_.vector = 2;
  }
  user_irq_ = -1;
  if (ev.flags & KVM_VCPUEVENT_VALID_SHADOW)
    backend_->set_interrupt_shadow(ev.interrupt.shadow);
  backend_->set_nmi_masked(ev.nmi.masked);
  if (ev.flags & KVM_VCPUEVENT_VALID_NMI_PENDING)
    __atomic_store_n(&nmi_pending_, ev.nmi.pending ? 1u : 0u, __ATOMIC_RELAXED);
  if (lapic_ && (ev.flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR))
    sipi_vector_ = ev.sipi_vector;
  return 0;
}

long Vcpu::set_vcpu_events(unsigned long arg) {
  kvm_vcpu_events ev;
  if (mk_copy_from_user(&ev, arg, sizeof(ev)))
    return -EFAULT;
  return set_events(ev);
}

long Vcpu::get_xcrs(unsigned long arg) {
  kvm_xcrs x{};
  x.nr_xcrs = 1;
  x.xcrs[0].xcr = 0;
  x.xcrs[0].value = xcr0_;
  return mk_copy_to_user(arg, &x, sizeof(x));
}

long Vcpu::set_xcrs(unsigned long arg) {
  kvm_xcrs x;
  if (mk_copy_from_user(&x, arg, sizeof(x)))
    return -EFAULT;
  if (x.nr_xcrs > KVM_MAX_XCRS || x.flags)
    return -EINVAL;
  for (u32 i = 0; i < x.nr_xcrs; i++) {
    u64 v = x.xcrs[i].value;
    if (x.xcrs[i].xcr != 0 || !xcr0_valid(v, g_xcr0_supported))
      return -EINVAL;
    xcr0_ = v;
  }
  return 0;
}

long Vcpu::get_mp_state(unsigned long arg) {
  // As KVM: pending INIT/SIPI are acted on first, so the state is current.
  if (lapic_)
    accept_init_sipi();
  kvm_mp_state s{mp_state_};
  return mk_copy_to_user(arg, &s, sizeof(s));
}

long Vcpu::set_mp_state(unsigned long arg) {
  kvm_mp_state s;
  if (mk_copy_from_user(&s, arg, sizeof(s)))
    return -EFAULT;
  // KVM 6.1's kvm_arch_vcpu_ioctl_set_mpstate(): every state but RUNNABLE
  // needs the in-kernel LAPIC; unknown states are refused.
  switch (s.mp_state) {
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_HALTED:
    case KVM_MP_STATE_AP_RESET_HOLD:
    case KVM_MP_STATE_INIT_RECEIVED:
    case KVM_MP_STATE_SIPI_RECEIVED:
      if (!lapic_)
        return -EINVAL;
      break;
    case KVM_MP_STATE_RUNNABLE:
      break;
    default:
      return -EINVAL;
  }
  if (s.mp_state == KVM_MP_STATE_SIPI_RECEIVED) {
    // The SIPI (with the vector the LAPIC last latched) acts at KVM_RUN.
    mp_state_ = KVM_MP_STATE_INIT_RECEIVED;
    got_sipi_ = true;
  } else if (s.mp_state == KVM_MP_STATE_HALTED) {
    // Woken like a guest HLT (KVM re-evaluates RFLAGS.IF at wake-up; the
    // vCPU is loaded here, so read it now).
    enter_halted();
  } else {
    mp_state_ = s.mp_state;
  }
  return 0;
}

void Vcpu::store_sync_regs() {
  if (run_->kvm_valid_regs & KVM_SYNC_X86_REGS)
    regs_to(&run_->s.regs.regs);
  if (run_->kvm_valid_regs & KVM_SYNC_X86_SREGS) {
    backend_->get_sregs(&run_->s.regs.sregs);
    run_->s.regs.sregs.apic_base = msrs_.apic_base();
    for (auto &w : run_->s.regs.sregs.interrupt_bitmap)
      w = 0;
  }
  if (run_->kvm_valid_regs & KVM_SYNC_X86_EVENTS)
    get_events(&run_->s.regs.events);
}

int Vcpu::apply_sync_regs() {
  // KVM's sync_regs(): each set is applied and its dirty bit cleared.
  if (run_->kvm_dirty_regs & KVM_SYNC_X86_REGS) {
    regs_from(run_->s.regs.regs);
    run_->kvm_dirty_regs &= ~KVM_SYNC_X86_REGS;
  }
  if (run_->kvm_dirty_regs & KVM_SYNC_X86_SREGS) {
    kvm_sregs s = run_->s.regs.sregs;
    if (set_sregs_checked(s))
      return -EINVAL;
    run_->kvm_dirty_regs &= ~KVM_SYNC_X86_SREGS;
  }
  if (run_->kvm_dirty_regs & KVM_SYNC_X86_EVENTS) {
    kvm_vcpu_events ev = run_->s.regs.events;
    if (set_events(ev))
      return -EINVAL;
    run_->kvm_dirty_regs &= ~KVM_SYNC_X86_EVENTS;
  }
  return 0;
}

void Vcpu::post_run_save() {
  // KVM's post_kvm_run_save().
  run_->if_flag = (backend_->rflags() >> 9) & 1;
  run_->cr8 = cr8();
  run_->apic_base = msrs_.apic_base();
  run_->ready_for_interrupt_injection = backend_->interrupt_allowed() && !event_.valid && user_irq_ < 0;
}

long Vcpu::run_ioctl(unsigned long arg) {
  if (arg)
    return -EINVAL;
  long r;
  run_->flags = 0;
  if ((run_->kvm_valid_regs & ~kSyncValid) || (run_->kvm_dirty_regs & ~kSyncValid)) {
    r = -EINVAL;
    goto out;
  }
  if (run_->kvm_dirty_regs) {
    r = apply_sync_regs();
    if (r)
      goto out;
  }
  // Without an in-kernel APIC, KVM_RUN loads kvm_run->cr8 first (kvm_set_cr8).
  if (!lapic_) {
    if (run_->cr8 > 15) {
      r = -EINVAL;
      goto out;
    }
    cr8_ = run_->cr8;
  }
  __atomic_store_n(&tsc_offset_, tsc_offset(), __ATOMIC_RELAXED);
  if (lapic_ && mp_state_ == KVM_MP_STATE_UNINITIALIZED) {
    // KVM 6.1: a vCPU that never got INIT blocks until something arrives,
    // then returns -EAGAIN (or -EINTR for a signal) for userspace to retry.
    if (__atomic_load_n(&run_->immediate_exit, __ATOMIC_RELAXED)) {
      r = -EINTR;
      goto out;
    }
    if (mk_vcpu_wait(ctx_, runnable_cond, this)) {
      run_->exit_reason = KVM_EXIT_INTR;
      count(kStatSignalExits);
      r = -EINTR;
      goto out;
    }
    lapic_->inject_pending_timer();  // else the next wait would end at once
    accept_init_sipi();
    r = -EAGAIN;
    goto out;
  }
  r = complete_userspace_io();
  if (r <= 0)
    goto out;
  if (__atomic_load_n(&run_->immediate_exit, __ATOMIC_RELAXED)) {
    r = -EINTR;
    goto out;
  }
  has_run_ = true;
  for (;;) {
    // Split irqchip: the guest's EOI of a level-triggered vector of the
    // userspace IOAPIC (KVM_REQ_IOAPIC_EOI_EXIT in vcpu_enter_guest).
    if (pending_ioapic_eoi_ >= 0) {
      run_->exit_reason = KVM_EXIT_IOAPIC_EOI;
      run_->eoi.vector = static_cast<u8>(pending_ioapic_eoi_);
      pending_ioapic_eoi_ = -1;
      r = 0;
      break;
    }
    if (lapic_) {
      r = wait_until_runnable();
      if (r <= 0)
        break;
    }
    r = backend_->run_once();
    if (r <= 0)
      break;
    // Userspace irqchip: it asked to hear when it may inject (KVM's
    // dm_request_for_irq_injection + ready_for_interrupt_injection).
    if (!vm_->irqchip_in_kernel() && run_->request_interrupt_window && backend_->interrupt_allowed() &&
        !event_.valid && user_irq_ < 0) {
      run_->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
      r = 0;
      break;
    }
  }
out:
  if (run_->kvm_valid_regs)
    store_sync_regs();
  post_run_save();
  // Every return of KVM_RUN but the argument check above (KVM's
  // kvm_userspace_exit: the exit reason, and the errno when r < 0).
  if (mk_trace_on[MK_TP_USERSPACE_EXIT])
    mk_trace_userspace_exit(vm_->trace_id(), id_, run_->exit_reason, static_cast<int>(r));
  return r;
}

// ---- statistics (KVM_GET_STATS_FD) ----

namespace {
constexpr u32 kCum = KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10;
// Hardware exit reasons 0..kExitReasonBuckets-1 (SDM appendix C), as a
// linear histogram with one bucket per reason.
constexpr u16 kExitReasonBuckets = 70;
constexpr StatDesc kVcpuStats[] = {
    {"exits", kCum, 1},
    {"io_exits", kCum, 1},
    {"mmio_exits", kCum, 1},
    {"halt_exits", kCum, 1},
    {"signal_exits", kCum, 1},
    {"irq_exits", kCum, 1},
    {"nmi_exits", kCum, 1},
    {"cpuid_exits", kCum, 1},
    {"msr_exits", kCum, 1},
    {"cr_exits", kCum, 1},
    {"ept_faults", kCum, 1},
    {"exception_exits", kCum, 1},
    {"injected_exceptions", kCum, 1},
    {"userspace_exits", kCum, 1},
    // KVM's names where KVM counts the same thing.
    {"irq_injections", kCum, 1},
    {"nmi_injections", kCum, 1},
    {"irq_window_exits", kCum, 1},
    {"nmi_window_exits", kCum, 1},
    {"halt_wakeup", kCum, 1},
    // Exits completed by an in-kernel device, without userspace.
    {"kernel_pio", kCum, 1},
    {"kernel_mmio", kCum, 1},
    {"lapic_mmio", kCum, 1},
    {"lapic_msr", kCum, 1},
    {"exits_by_reason", KVM_STATS_TYPE_LINEAR_HIST | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, kExitReasonBuckets},
};
static_assert(sizeof(kVcpuStats) / sizeof(kVcpuStats[0]) == kNrStats + 1, "one descriptor per Stat");

void put_dec(char *&p, char *end, u64 v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n && p < end)
    *p++ = tmp[--n];
}
}  // namespace

const StatDesc *Vcpu::stat_descs(u32 *count) const {
  *count = sizeof(kVcpuStats) / sizeof(kVcpuStats[0]);
  return kVcpuStats;
}

void Vcpu::stat_values(u64 *out) {
  for (u32 i = 0; i < kNrStats; i++)
    out[i] = __atomic_load_n(&stats_[i], __ATOMIC_RELAXED);
  for (u32 i = 0; i < kExitReasonBuckets; i++)
    out[kNrStats + i] = __atomic_load_n(&exit_counts_[i], __ATOMIC_RELAXED);
}

void Vcpu::stats_id(char *buf, size_t len) const {
  char *p = buf, *end = buf + len - 1;
  for (const char *s = "minikvm-vcpu-"; *s && p < end; s++)
    *p++ = *s;
  put_dec(p, end, id_);
  *p = 0;
}

long Vcpu::ioctl(unsigned int cmd, unsigned long arg) {
  if (mk_current_mm() != vm_->mm())
    return -EIO;
  if (cmd == KVM_GET_STATS_FD)
    return StatsFd::create(vm_, this);
  mk_mutex_lock(mutex_);
  mk_vcpu_load(ctx_);
  long r;
  switch (cmd) {
    case KVM_RUN: r = run_ioctl(arg); break;
    case KVM_GET_REGS: r = get_regs(arg); break;
    case KVM_SET_REGS: r = set_regs(arg); break;
    case KVM_GET_SREGS: r = get_sregs(arg); break;
    case KVM_SET_SREGS: r = set_sregs(arg); break;
    case KVM_GET_FPU: r = get_fpu(arg); break;
    case KVM_SET_FPU: r = set_fpu(arg); break;
    case KVM_GET_MSRS: r = msrs_io(arg, false); break;
    case KVM_SET_MSRS: r = msrs_io(arg, true); break;
    case KVM_SET_CPUID2: r = set_cpuid2(arg); break;
    case KVM_SET_CPUID:
      r = cpuid_.set_cpuid(arg, has_run_);
      if (!r)
        cpuid_changed();
      break;
    case KVM_GET_CPUID2: r = get_cpuid2(arg); break;
    case KVM_GET_VCPU_EVENTS: r = get_vcpu_events(arg); break;
    case KVM_SET_VCPU_EVENTS: r = set_vcpu_events(arg); break;
    case KVM_GET_XCRS: r = get_xcrs(arg); break;
    case KVM_SET_XCRS: r = set_xcrs(arg); break;
    case KVM_GET_MP_STATE: r = get_mp_state(arg); break;
    case KVM_SET_MP_STATE: r = set_mp_state(arg); break;
    case KVM_GET_LAPIC: r = get_lapic(arg); break;
    case KVM_SET_LAPIC: r = set_lapic(arg); break;
    case KVM_INTERRUPT: r = interrupt(arg); break;
    case KVM_NMI:
      // An NMI the LAPIC latches (KVM's kvm_inject_nmi): the LAPIC's
      // accept event with its own origin, so tools tell it from NMI IPIs.
      if (mk_trace_on[MK_TP_APIC_ACCEPT])
        mk_trace_apic_accept(vm_->trace_id(), id_, lapic_ ? lapic_->id() : id_, 2,
                             static_cast<u8>(irq::Delivery::kNmi), 0, 0, MINIKVM_ORIGIN_NMI_IOCTL);
      queue_nmi();
      r = 0;
      break;
    // The guest's TSC runs at the host's rate (no TSC scaling): guests and
    // VMMs convert TSC ticks with this (QEMU, the APIC guest tests).
    case KVM_GET_TSC_KHZ: r = mk_tsc_khz() ? static_cast<long>(mk_tsc_khz()) : -EIO; break;
    // As KVM's kvm_arch_vcpu_ioctl(): an unknown vCPU ioctl is -EINVAL.
    default: r = -EINVAL; break;
  }
  mk_vcpu_put(ctx_);
  mk_mutex_unlock(mutex_);
  return r;
}

}  // namespace mk

extern "C" void mk_core_vcpu_sched_in(void *obj, int cpu) {
  static_cast<mk::Vcpu *>(obj)->backend()->load(cpu);
}

extern "C" void mk_core_vcpu_sched_out(void *obj) { static_cast<mk::Vcpu *>(obj)->backend()->put(); }
