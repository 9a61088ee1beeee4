// SPDX-License-Identifier: GPL-2.0
// VMX architecture (SDM vol. 3C chapters 24-27 and appendices A-C), typed:
// capability MSRs, VM-execution/exit/entry control bits, exit reasons and
// VMCS field encodings. The one place these numbers live.
#pragma once

#include "../core/rt/types.h"

namespace ia32::vmx {

// ---- Capability MSRs (SDM appendix A) ----
enum class CapMsr : mk::u32 {
  kBasic = 0x480,
  kPinbasedCtls = 0x481,
  kProcbasedCtls = 0x482,
  kExitCtls = 0x483,
  kEntryCtls = 0x484,
  kMisc = 0x485,
  kCr0Fixed0 = 0x486,
  kCr0Fixed1 = 0x487,
  kCr4Fixed0 = 0x488,
  kCr4Fixed1 = 0x489,
  kVmcsEnum = 0x48a,
  kProcbasedCtls2 = 0x48b,
  kEptVpidCap = 0x48c,
  kTruePinbasedCtls = 0x48d,
  kTrueProcbasedCtls = 0x48e,
  kTrueExitCtls = 0x48f,
  kTrueEntryCtls = 0x490,
  kVmfunc = 0x491,
};

// IA32_VMX_BASIC (SDM A.1).
struct Basic {
  mk::u64 value;
  constexpr mk::u32 revision_id() const { return value & 0x7fffffff; }
  constexpr mk::u32 vmcs_size() const { return (value >> 32) & 0x1fff; }
  // Bit 48: VMXON/VMCS/... addresses limited to 32 bits.
  constexpr bool addresses_32bit() const { return (value >> 48) & 1; }
  constexpr mk::u32 memory_type() const { return (value >> 50) & 0xf; }  // 6 = write-back
  constexpr bool ins_outs_info() const { return (value >> 54) & 1; }
  // Bit 55: the IA32_VMX_TRUE_*_CTLS MSRs exist and say which default-1
  // controls may be 0 (SDM A.2).
  constexpr bool true_controls() const { return (value >> 55) & 1; }
};

// ---- Pin-based VM-execution controls (SDM 24.6.1) ----
namespace pin {
inline constexpr mk::u32 kExternalInterruptExiting = 1u << 0;
inline constexpr mk::u32 kNmiExiting = 1u << 3;
inline constexpr mk::u32 kVirtualNmis = 1u << 5;
inline constexpr mk::u32 kPreemptionTimer = 1u << 6;
inline constexpr mk::u32 kPostedInterrupts = 1u << 7;
}  // namespace pin

// ---- Primary processor-based VM-execution controls (SDM 24.6.2, table 24-6) ----
namespace proc {
inline constexpr mk::u32 kInterruptWindowExiting = 1u << 2;
inline constexpr mk::u32 kUseTscOffsetting = 1u << 3;
inline constexpr mk::u32 kHltExiting = 1u << 7;
inline constexpr mk::u32 kInvlpgExiting = 1u << 9;
inline constexpr mk::u32 kMwaitExiting = 1u << 10;
inline constexpr mk::u32 kRdpmcExiting = 1u << 11;
inline constexpr mk::u32 kRdtscExiting = 1u << 12;
inline constexpr mk::u32 kCr3LoadExiting = 1u << 15;
inline constexpr mk::u32 kCr3StoreExiting = 1u << 16;
inline constexpr mk::u32 kActivateTertiaryControls = 1u << 17;
inline constexpr mk::u32 kCr8LoadExiting = 1u << 19;
inline constexpr mk::u32 kCr8StoreExiting = 1u << 20;
inline constexpr mk::u32 kUseTprShadow = 1u << 21;
inline constexpr mk::u32 kNmiWindowExiting = 1u << 22;
inline constexpr mk::u32 kMovDrExiting = 1u << 23;
inline constexpr mk::u32 kUnconditionalIoExiting = 1u << 24;
inline constexpr mk::u32 kUseIoBitmaps = 1u << 25;
inline constexpr mk::u32 kMonitorTrapFlag = 1u << 27;
inline constexpr mk::u32 kUseMsrBitmaps = 1u << 28;
inline constexpr mk::u32 kMonitorExiting = 1u << 29;
inline constexpr mk::u32 kPauseExiting = 1u << 30;
inline constexpr mk::u32 kActivateSecondaryControls = 1u << 31;
}  // namespace proc

// ---- Secondary processor-based VM-execution controls (SDM 24.6.2, table 24-7) ----
namespace proc2 {
inline constexpr mk::u32 kVirtualizeApicAccesses = 1u << 0;
inline constexpr mk::u32 kEnableEpt = 1u << 1;
inline constexpr mk::u32 kDescriptorTableExiting = 1u << 2;
inline constexpr mk::u32 kEnableRdtscp = 1u << 3;
inline constexpr mk::u32 kVirtualizeX2apicMode = 1u << 4;
inline constexpr mk::u32 kEnableVpid = 1u << 5;
inline constexpr mk::u32 kWbinvdExiting = 1u << 6;
inline constexpr mk::u32 kUnrestrictedGuest = 1u << 7;
inline constexpr mk::u32 kApicRegisterVirtualization = 1u << 8;
inline constexpr mk::u32 kVirtualInterruptDelivery = 1u << 9;
inline constexpr mk::u32 kPauseLoopExiting = 1u << 10;
inline constexpr mk::u32 kRdrandExiting = 1u << 11;
inline constexpr mk::u32 kEnableInvpcid = 1u << 12;
inline constexpr mk::u32 kEnableVmFunctions = 1u << 13;
inline constexpr mk::u32 kVmcsShadowing = 1u << 14;
inline constexpr mk::u32 kRdseedExiting = 1u << 16;
inline constexpr mk::u32 kEnablePml = 1u << 17;
inline constexpr mk::u32 kEptViolationVe = 1u << 18;
inline constexpr mk::u32 kEnableXsaves = 1u << 20;
inline constexpr mk::u32 kTscScaling = 1u << 25;
inline constexpr mk::u32 kEnableUserWaitPause = 1u << 26;
}  // namespace proc2

// ---- VM-exit controls (SDM 24.7.1) ----
namespace exit_ctl {
inline constexpr mk::u32 kSaveDebugControls = 1u << 2;
inline constexpr mk::u32 kHostAddressSpaceSize = 1u << 9;  // host is 64-bit
inline constexpr mk::u32 kLoadPerfGlobalCtrl = 1u << 12;
inline constexpr mk::u32 kAckInterruptOnExit = 1u << 15;
inline constexpr mk::u32 kSavePat = 1u << 18;
inline constexpr mk::u32 kLoadPat = 1u << 19;
inline constexpr mk::u32 kSaveEfer = 1u << 20;
inline constexpr mk::u32 kLoadEfer = 1u << 21;
inline constexpr mk::u32 kSavePreemptionTimer = 1u << 22;
}  // namespace exit_ctl

// ---- VM-entry controls (SDM 24.8.1) ----
namespace entry_ctl {
inline constexpr mk::u32 kLoadDebugControls = 1u << 2;
inline constexpr mk::u32 kIa32eModeGuest = 1u << 9;
inline constexpr mk::u32 kEntryToSmm = 1u << 10;
inline constexpr mk::u32 kDeactivateDualMonitor = 1u << 11;
inline constexpr mk::u32 kLoadPerfGlobalCtrl = 1u << 13;
inline constexpr mk::u32 kLoadPat = 1u << 14;
inline constexpr mk::u32 kLoadEfer = 1u << 15;
}  // namespace entry_ctl

// ---- Basic exit reasons (SDM appendix C) ----
enum class ExitReason : mk::u16 {
  kExceptionOrNmi = 0,
  kExternalInterrupt = 1,
  kTripleFault = 2,
  kInitSignal = 3,
  kSipi = 4,
  kIoSmi = 5,
  kOtherSmi = 6,
  kInterruptWindow = 7,
  kNmiWindow = 8,
  kTaskSwitch = 9,
  kCpuid = 10,
  kGetsec = 11,
  kHlt = 12,
  kInvd = 13,
  kInvlpg = 14,
  kRdpmc = 15,
  kRdtsc = 16,
  kRsm = 17,
  kVmcall = 18,
  kVmclear = 19,
  kVmlaunch = 20,
  kVmptrld = 21,
  kVmptrst = 22,
  kVmread = 23,
  kVmresume = 24,
  kVmwrite = 25,
  kVmxoff = 26,
  kVmxon = 27,
  kCrAccess = 28,
  kMovDr = 29,
  kIoInstruction = 30,
  kRdmsr = 31,
  kWrmsr = 32,
  kEntryFailGuestState = 33,
  kEntryFailMsrLoading = 34,
  kMwait = 36,
  kMonitorTrapFlag = 37,
  kMonitor = 39,
  kPause = 40,
  kEntryFailMachineCheck = 41,
  kTprBelowThreshold = 43,
  kApicAccess = 44,
  kVirtualizedEoi = 45,
  kGdtrIdtrAccess = 46,
  kLdtrTrAccess = 47,
  kEptViolation = 48,
  kEptMisconfig = 49,
  kInvept = 50,
  kRdtscp = 51,
  kPreemptionTimer = 52,
  kInvvpid = 53,
  kWbinvd = 54,
  kXsetbv = 55,
  kApicWrite = 56,
  kRdrand = 57,
  kInvpcid = 58,
  kVmfunc = 59,
  kEncls = 60,
  kRdseed = 61,
  kPmlFull = 62,
  kXsaves = 63,
  kXrstors = 64,
  kSpp = 66,
  kUmwait = 67,
  kTpause = 68,
  kLoadiwkey = 69,
};
inline constexpr mk::u16 kMaxExitReason = 69;

// The exit-reason field (SDM 24.9.1): basic reason in bits 15:0, bit 31 set
// when VM entry failed.
struct ExitReasonField {
  mk::u32 value;
  constexpr ExitReason basic() const { return static_cast<ExitReason>(value & 0xffff); }
  constexpr bool entry_failed() const { return value >> 31; }
};

// ---- VMCS field encodings (SDM appendix B) ----
// Encoding bits (SDM 24.11.2): 0 access type (high half of a 64-bit field),
// 9:1 index, 11:10 type, 14:13 width.
enum class FieldWidth : mk::u8 { k16 = 0, k64 = 1, k32 = 2, kNatural = 3 };
enum class FieldType : mk::u8 { kControl = 0, kReadOnly = 1, kGuest = 2, kHost = 3 };

enum class Field : mk::u32 {
  // 16-bit control
  kVpid = 0x0000,
  kPostedIntrNotificationVector = 0x0002,
  kEptpIndex = 0x0004,
  // 16-bit guest state
  kGuestEsSelector = 0x0800,
  kGuestCsSelector = 0x0802,
  kGuestSsSelector = 0x0804,
  kGuestDsSelector = 0x0806,
  kGuestFsSelector = 0x0808,
  kGuestGsSelector = 0x080a,
  kGuestLdtrSelector = 0x080c,
  kGuestTrSelector = 0x080e,
  kGuestInterruptStatus = 0x0810,  // RVI (7:0), SVI (15:8)
  kGuestPmlIndex = 0x0812,
  // 16-bit host state
  kHostEsSelector = 0x0c00,
  kHostCsSelector = 0x0c02,
  kHostSsSelector = 0x0c04,
  kHostDsSelector = 0x0c06,
  kHostFsSelector = 0x0c08,
  kHostGsSelector = 0x0c0a,
  kHostTrSelector = 0x0c0c,
  // 64-bit control
  kIoBitmapA = 0x2000,
  kIoBitmapB = 0x2002,
  kMsrBitmap = 0x2004,
  kExitMsrStoreAddr = 0x2006,
  kExitMsrLoadAddr = 0x2008,
  kEntryMsrLoadAddr = 0x200a,
  kPmlAddress = 0x200e,
  kTscOffset = 0x2010,
  kVirtualApicPageAddr = 0x2012,
  kApicAccessAddr = 0x2014,
  kPostedIntrDescAddr = 0x2016,
  kVmFunctionControl = 0x2018,
  kEptPointer = 0x201a,
  kEoiExitBitmap0 = 0x201c,
  kEoiExitBitmap1 = 0x201e,
  kEoiExitBitmap2 = 0x2020,
  kEoiExitBitmap3 = 0x2022,
  kXssExitBitmap = 0x202c,
  kTscMultiplier = 0x2032,
  // 64-bit read-only
  kGuestPhysicalAddress = 0x2400,
  // 64-bit guest state
  kVmcsLinkPointer = 0x2800,
  kGuestIa32Debugctl = 0x2802,
  kGuestIa32Pat = 0x2804,
  kGuestIa32Efer = 0x2806,
  kGuestIa32PerfGlobalCtrl = 0x2808,
  kGuestPdpte0 = 0x280a,
  kGuestPdpte1 = 0x280c,
  kGuestPdpte2 = 0x280e,
  kGuestPdpte3 = 0x2810,
  // 64-bit host state
  kHostIa32Pat = 0x2c00,
  kHostIa32Efer = 0x2c02,
  kHostIa32PerfGlobalCtrl = 0x2c04,
  // 32-bit control
  kPinBasedControls = 0x4000,
  kProcBasedControls = 0x4002,
  kExceptionBitmap = 0x4004,
  kPageFaultErrorCodeMask = 0x4006,
  kPageFaultErrorCodeMatch = 0x4008,
  kCr3TargetCount = 0x400a,
  kExitControls = 0x400c,
  kExitMsrStoreCount = 0x400e,
  kExitMsrLoadCount = 0x4010,
  kEntryControls = 0x4012,
  kEntryMsrLoadCount = 0x4014,
  kEntryInterruptionInfo = 0x4016,
  kEntryExceptionErrorCode = 0x4018,
  kEntryInstructionLength = 0x401a,
  kTprThreshold = 0x401c,
  kProcBasedControls2 = 0x401e,
  kPleGap = 0x4020,
  kPleWindow = 0x4022,
  // 32-bit read-only
  kVmInstructionError = 0x4400,
  kExitReason = 0x4402,
  kExitInterruptionInfo = 0x4404,
  kExitInterruptionErrorCode = 0x4406,
  kIdtVectoringInfo = 0x4408,
  kIdtVectoringErrorCode = 0x440a,
  kExitInstructionLength = 0x440c,
  kVmxInstructionInfo = 0x440e,
  // 32-bit guest state
  kGuestEsLimit = 0x4800,
  kGuestCsLimit = 0x4802,
  kGuestSsLimit = 0x4804,
  kGuestDsLimit = 0x4806,
  kGuestFsLimit = 0x4808,
  kGuestGsLimit = 0x480a,
  kGuestLdtrLimit = 0x480c,
  kGuestTrLimit = 0x480e,
  kGuestGdtrLimit = 0x4810,
  kGuestIdtrLimit = 0x4812,
  kGuestEsAccessRights = 0x4814,
  kGuestCsAccessRights = 0x4816,
  kGuestSsAccessRights = 0x4818,
  kGuestDsAccessRights = 0x481a,
  kGuestFsAccessRights = 0x481c,
  kGuestGsAccessRights = 0x481e,
  kGuestLdtrAccessRights = 0x4820,
  kGuestTrAccessRights = 0x4822,
  kGuestInterruptibility = 0x4824,
  kGuestActivityState = 0x4826,
  kGuestSysenterCs = 0x482a,
  kPreemptionTimerValue = 0x482e,
  // 32-bit host state
  kHostSysenterCs = 0x4c00,
  // natural-width control
  kCr0GuestHostMask = 0x6000,
  kCr4GuestHostMask = 0x6002,
  kCr0ReadShadow = 0x6004,
  kCr4ReadShadow = 0x6006,
  kCr3TargetValue0 = 0x6008,
  // natural-width read-only
  kExitQualification = 0x6400,
  kGuestLinearAddress = 0x640a,
  // natural-width guest state
  kGuestCr0 = 0x6800,
  kGuestCr3 = 0x6802,
  kGuestCr4 = 0x6804,
  kGuestEsBase = 0x6806,
  kGuestCsBase = 0x6808,
  kGuestSsBase = 0x680a,
  kGuestDsBase = 0x680c,
  kGuestFsBase = 0x680e,
  kGuestGsBase = 0x6810,
  kGuestLdtrBase = 0x6812,
  kGuestTrBase = 0x6814,
  kGuestGdtrBase = 0x6816,
  kGuestIdtrBase = 0x6818,
  kGuestDr7 = 0x681a,
  kGuestRsp = 0x681c,
  kGuestRip = 0x681e,
  kGuestRflags = 0x6820,
  kGuestPendingDebugExceptions = 0x6822,
  kGuestSysenterEsp = 0x6824,
  kGuestSysenterEip = 0x6826,
  // natural-width host state
  kHostCr0 = 0x6c00,
  kHostCr3 = 0x6c02,
  kHostCr4 = 0x6c04,
  kHostFsBase = 0x6c06,
  kHostGsBase = 0x6c08,
  kHostTrBase = 0x6c0a,
  kHostGdtrBase = 0x6c0c,
  kHostIdtrBase = 0x6c0e,
  kHostSysenterEsp = 0x6c10,
  kHostSysenterEip = 0x6c12,
  kHostRsp = 0x6c14,
  kHostRip = 0x6c16,
};

constexpr FieldWidth width(Field f) { return static_cast<FieldWidth>((static_cast<mk::u32>(f) >> 13) & 3); }
constexpr FieldType type(Field f) { return static_cast<FieldType>((static_cast<mk::u32>(f) >> 10) & 3); }

// VM-instruction error numbers (SDM 30.4), the ones worth naming in logs.
enum class InstructionError : mk::u32 {
  kVmentryInvalidControls = 7,
  kVmentryInvalidHostState = 8,
  kVmptrldInvalidAddress = 9,
  kVmentryNonClearVmcs = 4,
  kVmresumeNonLaunchedVmcs = 5,
  kVmentryEventsBlockedByMovSs = 26,
};

}  // namespace ia32::vmx
