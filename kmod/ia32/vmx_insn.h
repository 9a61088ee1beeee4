// SPDX-License-Identifier: GPL-2.0
// The VMX instructions (SDM vol. 3C chapter 30) as inline functions.
//
// Every VMX instruction reports failure through RFLAGS (SDM 30.2): CF=1
// "VMfailInvalid" (no current VMCS / bad pointer), ZF=1 "VMfailValid"
// (the VM-instruction error field says why). The wrappers return true on
// success. They are executed only in VMX root operation; the host unit
// tests link them but never call them.
#pragma once

#include "../core/rt/types.h"
#include "vmx.h"

#ifndef MINIKVM_KERNEL
// Host unit tests: the instructions act on a simulated VMX (lib/user/vmx_user.cpp):
// a VMCS is a field->value map, VMXON/VMCLEAR/VMPTRLD/INVEPT/INVVPID succeed.
extern "C" {
int mk_user_vmx_op(int op, unsigned long long a, unsigned long long b);
unsigned long long mk_user_vmread(unsigned long long field);
int mk_user_vmwrite(unsigned long long field, unsigned long long value);
}
#endif

namespace ia32::vmx::insn {

#ifdef MINIKVM_KERNEL

inline bool vmxon(mk::u64 pa) {
  bool fail;
  asm volatile("vmxon %1" : "=@ccbe"(fail) : "m"(pa) : "memory", "cc");
  return !fail;
}

inline void vmxoff() { asm volatile("vmxoff" ::: "memory", "cc"); }

inline bool vmclear(mk::u64 pa) {
  bool fail;
  asm volatile("vmclear %1" : "=@ccbe"(fail) : "m"(pa) : "memory", "cc");
  return !fail;
}

inline bool vmptrld(mk::u64 pa) {
  bool fail;
  asm volatile("vmptrld %1" : "=@ccbe"(fail) : "m"(pa) : "memory", "cc");
  return !fail;
}

inline mk::u64 vmread(Field f) {
  mk::u64 v = 0;
  asm volatile("vmread %1, %0" : "=rm"(v) : "r"(static_cast<mk::u64>(f)) : "cc");
  return v;
}

inline bool vmwrite(Field f, mk::u64 v) {
  bool fail;
  asm volatile("vmwrite %1, %2" : "=@ccbe"(fail) : "rm"(v), "r"(static_cast<mk::u64>(f)) : "cc");
  return !fail;
}

// INVEPT/INVVPID types (SDM 30.3).
enum class InveptType : mk::u64 { kSingleContext = 1, kGlobal = 2 };
enum class InvvpidType : mk::u64 { kIndividualAddress = 0, kSingleContext = 1, kAllContext = 2 };

inline bool invept(InveptType t, mk::u64 eptp) {
  struct {
    mk::u64 eptp, reserved;
  } desc = {eptp, 0};
  bool fail;
  asm volatile("invept %1, %2" : "=@ccbe"(fail) : "m"(desc), "r"(static_cast<mk::u64>(t)) : "memory", "cc");
  return !fail;
}

inline bool invvpid(InvvpidType t, mk::u16 vpid, mk::u64 la = 0) {
  struct {
    mk::u64 vpid, la;
  } desc = {vpid, la};
  bool fail;
  asm volatile("invvpid %1, %2" : "=@ccbe"(fail) : "m"(desc), "r"(static_cast<mk::u64>(t)) : "memory", "cc");
  return !fail;
}

#else  // !MINIKVM_KERNEL

enum class InveptType : mk::u64 { kSingleContext = 1, kGlobal = 2 };
enum class InvvpidType : mk::u64 { kIndividualAddress = 0, kSingleContext = 1, kAllContext = 2 };
inline bool vmxon(mk::u64 pa) { return mk_user_vmx_op(0, pa, 0) == 0; }
inline void vmxoff() { mk_user_vmx_op(1, 0, 0); }
inline bool vmclear(mk::u64 pa) { return mk_user_vmx_op(2, pa, 0) == 0; }
inline bool vmptrld(mk::u64 pa) { return mk_user_vmx_op(3, pa, 0) == 0; }
inline mk::u64 vmread(Field f) { return mk_user_vmread(static_cast<mk::u64>(f)); }
inline bool vmwrite(Field f, mk::u64 v) { return mk_user_vmwrite(static_cast<mk::u64>(f), v) == 0; }
inline bool invept(InveptType t, mk::u64 eptp) { return mk_user_vmx_op(4, static_cast<mk::u64>(t), eptp) == 0; }
inline bool invvpid(InvvpidType t, mk::u16 vpid, mk::u64 = 0) {
  return mk_user_vmx_op(5, static_cast<mk::u64>(t), vpid) == 0;
}

#endif

}  // namespace ia32::vmx::insn
