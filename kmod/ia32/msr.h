// SPDX-License-Identifier: GPL-2.0
// Model-specific registers (SDM vol. 4), typed. One place for their numbers.
#pragma once

#include "../core/rt/types.h"

namespace ia32::msr {

enum class Index : mk::u32 {
  kP5McAddr = 0x0,
  kP5McType = 0x1,
  kTsc = 0x10,                 // IA32_TIME_STAMP_COUNTER
  kPlatformId = 0x17,
  kApicBase = 0x1b,
  kEblCrPoweron = 0x2a,
  kEbcFrequencyId = 0x2c,
  kFeatureControl = 0x3a,      // IA32_FEATURE_CONTROL
  kTscAdjust = 0x3b,
  kSpecCtrl = 0x48,
  kPredCmd = 0x49,
  kUcodeWrite = 0x79,          // IA32_BIOS_UPDT_TRIG
  kUcodeRev = 0x8b,            // IA32_BIOS_SIGN_ID
  kPerfctr0 = 0xc1,            // IA32_PMC0
  kPerfctr1 = 0xc2,
  kFsbFreq = 0xcd,
  kMtrrCap = 0xfe,
  kArchCapabilities = 0x10a,
  kBblCrCtl3 = 0x11e,
  kSysenterCs = 0x174,
  kSysenterEsp = 0x175,
  kSysenterEip = 0x176,
  kMcgCap = 0x179,
  kMcgStatus = 0x17a,
  kMcgCtl = 0x17b,
  kEvntsel0 = 0x186,           // IA32_PERFEVTSEL0
  kEvntsel1 = 0x187,
  kPerfStatus = 0x198,
  kPerfCtl = 0x199,
  kMiscEnable = 0x1a0,
  kDebugctl = 0x1d9,
  kLastBranchFromIp = 0x1db,
  kLastBranchToIp = 0x1dc,
  kLastIntFromIp = 0x1dd,
  kLastIntToIp = 0x1de,
  kMtrrPhysBase0 = 0x200,      // variable MTRRs: base 0x200 + 2n, mask 0x201 + 2n
  kMtrrFix64k00000 = 0x250,
  kMtrrFix16k80000 = 0x258,
  kMtrrFix16kA0000 = 0x259,
  kMtrrFix4kC0000 = 0x268,     // ... through 0x26f
  kMtrrFix4kF8000 = 0x26f,
  kPat = 0x277,                // IA32_PAT
  kMc0Ctl2 = 0x280,            // IA32_MCi_CTL2 = 0x280 + i
  kMtrrDefType = 0x2ff,
  kVmxBasic = 0x480,           // IA32_VMX_BASIC
  kMc0Ctl = 0x400,             // IA32_MCi_{CTL,STATUS,ADDR,MISC} = 0x400 + 4i + 0..3
  kRaplPowerUnit = 0x606,
  kPkgEnergyStatus = 0x611,
  kDramEnergyStatus = 0x619,
  kPp0EnergyStatus = 0x639,
  kPp1EnergyStatus = 0x641,
  kTscDeadline = 0x6e0,
  kX2apicFirst = 0x800,        // x2APIC registers 0x800-0x8ff
  kX2apicLast = 0x8ff,
  kXss = 0xda0,
  kEfer = 0xc0000080,
  kStar = 0xc0000081,
  kLstar = 0xc0000082,
  kCstar = 0xc0000083,
  kSyscallMask = 0xc0000084,   // IA32_FMASK (SFMASK)
  kFsBase = 0xc0000100,
  kGsBase = 0xc0000101,
  kKernelGsBase = 0xc0000102,
  kTscAux = 0xc0000103,
};

constexpr mk::u32 operator+(Index i) { return static_cast<mk::u32>(i); }

// IA32_FEATURE_CONTROL (SDM vol. 3C 23.7, "Enabling and Entering VMX
// Operation"): once Lock is set the register is read-only until reset, and
// VMXON #GPs unless the enable bit matching the current SMX state is set.
struct FeatureControl {
  mk::u64 value;

  static constexpr mk::u64 kLock = 1ull << 0;
  static constexpr mk::u64 kVmxInsideSmx = 1ull << 1;
  static constexpr mk::u64 kVmxOutsideSmx = 1ull << 2;

  constexpr bool locked() const { return value & kLock; }
  constexpr bool vmx_outside_smx() const { return value & kVmxOutsideSmx; }
  constexpr bool vmx_inside_smx() const { return value & kVmxInsideSmx; }
};

// IA32_EFER (SDM vol. 3A 2.2.1, AMD APM vol. 2 3.1.7).
namespace efer {
inline constexpr mk::u64 kSce = 1ull << 0;    // SYSCALL enable
inline constexpr mk::u64 kLme = 1ull << 8;    // IA-32e mode enable
inline constexpr mk::u64 kLma = 1ull << 10;   // IA-32e mode active (read-only to WRMSR)
inline constexpr mk::u64 kNxe = 1ull << 11;   // execute-disable enable
inline constexpr mk::u64 kSvme = 1ull << 12;  // AMD only
inline constexpr mk::u64 kFfxsr = 1ull << 14; // AMD only
}  // namespace efer

// IA32_APIC_BASE (SDM vol. 3A 10.4.4, 10.12.1).
namespace apic_base {
inline constexpr mk::u64 kBsp = 1ull << 8;
inline constexpr mk::u64 kExtd = 1ull << 10;    // x2APIC mode
inline constexpr mk::u64 kEnable = 1ull << 11;  // xAPIC global enable
inline constexpr mk::u64 kDefaultBase = 0xfee00000ull;
}  // namespace apic_base

// IA32_MISC_ENABLE (SDM vol. 4 table 2-2).
namespace misc_enable {
inline constexpr mk::u64 kFastString = 1ull << 0;
inline constexpr mk::u64 kEmon = 1ull << 7;          // performance monitoring available (RO)
inline constexpr mk::u64 kBtsUnavailable = 1ull << 11;   // RO
inline constexpr mk::u64 kPebsUnavailable = 1ull << 12;  // RO
inline constexpr mk::u64 kMwait = 1ull << 18;
inline constexpr mk::u64 kLimitCpuid = 1ull << 22;
}  // namespace misc_enable

// IA32_DEBUGCTL (SDM vol. 3B 17.4.1).
namespace debugctl {
inline constexpr mk::u64 kLbr = 1ull << 0;
inline constexpr mk::u64 kBtf = 1ull << 1;
inline constexpr mk::u64 kBusLockDetect = 1ull << 2;
inline constexpr mk::u64 kRtm = 1ull << 15;  // RTM debugging
}  // namespace debugctl

// Memory types in MTRRs and PAT (SDM vol. 3A 11.11, 11.12).
namespace mtrr {
inline constexpr mk::u8 kUc = 0, kWc = 1, kWt = 4, kWp = 5, kWb = 6;
inline constexpr mk::u8 kUcMinus = 7;  // PAT only
inline constexpr mk::u32 kVariableCount = 8;  // as KVM_NR_VAR_MTRR
// IA32_MTRRCAP: VCNT in bits 7:0, FIX = bit 8, WC = bit 10, SMRR = bit 11.
inline constexpr mk::u64 kCapFixed = 1ull << 8;
inline constexpr mk::u64 kCapWc = 1ull << 10;
// IA32_MTRR_DEF_TYPE: type in bits 7:0, FE = bit 10, E = bit 11.
inline constexpr mk::u64 kDefTypeFixedEnable = 1ull << 10;
inline constexpr mk::u64 kDefTypeEnable = 1ull << 11;
// IA32_MTRR_PHYSMASKn: V = bit 11.
inline constexpr mk::u64 kMaskValid = 1ull << 11;
}  // namespace mtrr

// IA32_PAT power-on value: WB, WT, UC-, UC, WB, WT, UC-, UC (SDM vol. 3A 11.12.4).
inline constexpr mk::u64 kPatDefault = 0x0007040600070406ull;

// Machine-check architecture (SDM vol. 3B 15.3).
namespace mcg {
inline constexpr mk::u64 kCountMask = 0xff;   // IA32_MCG_CAP bank count
inline constexpr mk::u64 kCtlP = 1ull << 8;   // IA32_MCG_CTL present
inline constexpr mk::u64 kCmciP = 1ull << 10; // IA32_MCi_CTL2 present
inline constexpr mk::u64 kLmceP = 1ull << 27;
// IA32_MCi_CTL2: CMCI enable and the corrected-error threshold.
inline constexpr mk::u64 kCtl2CmciEnable = 1ull << 30;
inline constexpr mk::u64 kCtl2ThresholdMask = 0x7fff;
}  // namespace mcg

}  // namespace ia32::msr
