// SPDX-License-Identifier: GPL-2.0
// CPUID leaves and feature bits the hypervisor reads or offers to guests
// (SDM vol. 2A, CPUID; AMD APM vol. 3 for the 8000_0001H bits Intel shares).
#pragma once

#include "../core/rt/types.h"

namespace ia32::cpuid {

struct Regs {
  mk::u32 eax, ebx, ecx, edx;
};

enum class Reg : mk::u8 { kEax, kEbx, kEcx, kEdx };

enum class Leaf : mk::u32 {
  kVendor = 0x0,
  kFeatures = 0x1,
  kCacheDescriptors = 0x2,
  kSerialNumber = 0x3,
  kCacheParams = 0x4,             // indexed by cache level
  kMonitorMwait = 0x5,
  kThermalPower = 0x6,
  kStructuredExt = 0x7,           // indexed
  kPerfMon = 0xa,                 // architectural performance monitoring
  kTopology = 0xb,                // indexed by level
  kXsave = 0xd,                   // indexed by state component
  kTopologyV2 = 0x1f,             // indexed by level
  kHypervisorBase = 0x40000000,   // vendor signature, max hypervisor leaf
  kHypervisorFeatures = 0x40000001,
  kExtMax = 0x80000000,
  kExtFeatures = 0x80000001,
  kExtBrand0 = 0x80000002,
  kExtBrand2 = 0x80000004,
  kExtL1Cache = 0x80000005,
  kExtL2Cache = 0x80000006,
  kExtPowerMgmt = 0x80000007,
  kExtAddressSizes = 0x80000008,
  kCentaurBase = 0xc0000000,
};

constexpr mk::u32 operator+(Leaf l) { return static_cast<mk::u32>(l); }

// CPUID.01H:ECX
namespace features_ecx {
inline constexpr mk::u32 kSse3 = 1u << 0;
inline constexpr mk::u32 kPclmulqdq = 1u << 1;
inline constexpr mk::u32 kDtes64 = 1u << 2;
inline constexpr mk::u32 kMonitor = 1u << 3;
inline constexpr mk::u32 kDsCpl = 1u << 4;
inline constexpr mk::u32 kVmx = 1u << 5;  // Virtual Machine Extensions
inline constexpr mk::u32 kSmx = 1u << 6;
inline constexpr mk::u32 kEst = 1u << 7;
inline constexpr mk::u32 kTm2 = 1u << 8;
inline constexpr mk::u32 kSsse3 = 1u << 9;
inline constexpr mk::u32 kCnxtId = 1u << 10;
inline constexpr mk::u32 kSdbg = 1u << 11;   // IA32_DEBUG_INTERFACE MSR
inline constexpr mk::u32 kFma = 1u << 12;
inline constexpr mk::u32 kCx16 = 1u << 13;
inline constexpr mk::u32 kXtpr = 1u << 14;
inline constexpr mk::u32 kPdcm = 1u << 15;   // IA32_PERF_CAPABILITIES MSR
inline constexpr mk::u32 kPcid = 1u << 17;
inline constexpr mk::u32 kDca = 1u << 18;
inline constexpr mk::u32 kSse41 = 1u << 19;
inline constexpr mk::u32 kSse42 = 1u << 20;
inline constexpr mk::u32 kX2apic = 1u << 21;
inline constexpr mk::u32 kMovbe = 1u << 22;
inline constexpr mk::u32 kPopcnt = 1u << 23;
inline constexpr mk::u32 kTscDeadline = 1u << 24;
inline constexpr mk::u32 kAes = 1u << 25;
inline constexpr mk::u32 kXsave = 1u << 26;
inline constexpr mk::u32 kOsxsave = 1u << 27;  // mirrors CR4.OSXSAVE
inline constexpr mk::u32 kAvx = 1u << 28;
inline constexpr mk::u32 kF16c = 1u << 29;
inline constexpr mk::u32 kRdrand = 1u << 30;
inline constexpr mk::u32 kHypervisor = 1u << 31;  // running under a hypervisor
}  // namespace features_ecx

// CPUID.01H:EDX
namespace features_edx {
inline constexpr mk::u32 kFpu = 1u << 0;
inline constexpr mk::u32 kVme = 1u << 1;
inline constexpr mk::u32 kDe = 1u << 2;
inline constexpr mk::u32 kPse = 1u << 3;
inline constexpr mk::u32 kTsc = 1u << 4;
inline constexpr mk::u32 kMsr = 1u << 5;
inline constexpr mk::u32 kPae = 1u << 6;
inline constexpr mk::u32 kMce = 1u << 7;
inline constexpr mk::u32 kCx8 = 1u << 8;
inline constexpr mk::u32 kApic = 1u << 9;  // mirrors IA32_APIC_BASE.EN
inline constexpr mk::u32 kSep = 1u << 11;
inline constexpr mk::u32 kMtrr = 1u << 12;
inline constexpr mk::u32 kPge = 1u << 13;
inline constexpr mk::u32 kMca = 1u << 14;
inline constexpr mk::u32 kCmov = 1u << 15;
inline constexpr mk::u32 kPat = 1u << 16;
inline constexpr mk::u32 kPse36 = 1u << 17;
inline constexpr mk::u32 kPsn = 1u << 18;
inline constexpr mk::u32 kClfsh = 1u << 19;
inline constexpr mk::u32 kDs = 1u << 21;
inline constexpr mk::u32 kAcpi = 1u << 22;
inline constexpr mk::u32 kMmx = 1u << 23;
inline constexpr mk::u32 kFxsr = 1u << 24;
inline constexpr mk::u32 kSse = 1u << 25;
inline constexpr mk::u32 kSse2 = 1u << 26;
inline constexpr mk::u32 kSs = 1u << 27;
inline constexpr mk::u32 kHtt = 1u << 28;
inline constexpr mk::u32 kTm = 1u << 29;
inline constexpr mk::u32 kPbe = 1u << 31;
}  // namespace features_edx

// CPUID.(EAX=07H,ECX=0):EBX
namespace leaf7_ebx {
inline constexpr mk::u32 kFsgsbase = 1u << 0;
inline constexpr mk::u32 kTscAdjust = 1u << 1;  // IA32_TSC_ADJUST MSR
inline constexpr mk::u32 kSgx = 1u << 2;
inline constexpr mk::u32 kBmi1 = 1u << 3;
inline constexpr mk::u32 kHle = 1u << 4;
inline constexpr mk::u32 kAvx2 = 1u << 5;
inline constexpr mk::u32 kFdpExcptnOnly = 1u << 6;
inline constexpr mk::u32 kSmep = 1u << 7;
inline constexpr mk::u32 kBmi2 = 1u << 8;
inline constexpr mk::u32 kErms = 1u << 9;
inline constexpr mk::u32 kInvpcid = 1u << 10;
inline constexpr mk::u32 kRtm = 1u << 11;
inline constexpr mk::u32 kRdtMonitoring = 1u << 12;
inline constexpr mk::u32 kZeroFcsFds = 1u << 13;
inline constexpr mk::u32 kMpx = 1u << 14;
inline constexpr mk::u32 kRdtAllocation = 1u << 15;
inline constexpr mk::u32 kAvx512f = 1u << 16;
inline constexpr mk::u32 kAvx512dq = 1u << 17;
inline constexpr mk::u32 kRdseed = 1u << 18;
inline constexpr mk::u32 kAdx = 1u << 19;
inline constexpr mk::u32 kSmap = 1u << 20;
inline constexpr mk::u32 kAvx512ifma = 1u << 21;
inline constexpr mk::u32 kClflushopt = 1u << 23;
inline constexpr mk::u32 kClwb = 1u << 24;
inline constexpr mk::u32 kIntelPt = 1u << 25;
inline constexpr mk::u32 kAvx512pf = 1u << 26;
inline constexpr mk::u32 kAvx512er = 1u << 27;
inline constexpr mk::u32 kAvx512cd = 1u << 28;
inline constexpr mk::u32 kSha = 1u << 29;
inline constexpr mk::u32 kAvx512bw = 1u << 30;
inline constexpr mk::u32 kAvx512vl = 1u << 31;
}  // namespace leaf7_ebx

// CPUID.(EAX=07H,ECX=0):ECX
namespace leaf7_ecx {
inline constexpr mk::u32 kPrefetchwt1 = 1u << 0;
inline constexpr mk::u32 kAvx512vbmi = 1u << 1;
inline constexpr mk::u32 kUmip = 1u << 2;
inline constexpr mk::u32 kPku = 1u << 3;
inline constexpr mk::u32 kOspke = 1u << 4;  // mirrors CR4.PKE
inline constexpr mk::u32 kWaitpkg = 1u << 5;
inline constexpr mk::u32 kAvx512vbmi2 = 1u << 6;
inline constexpr mk::u32 kCetSs = 1u << 7;
inline constexpr mk::u32 kGfni = 1u << 8;
inline constexpr mk::u32 kVaes = 1u << 9;
inline constexpr mk::u32 kVpclmulqdq = 1u << 10;
inline constexpr mk::u32 kAvx512vnni = 1u << 11;
inline constexpr mk::u32 kAvx512bitalg = 1u << 12;
inline constexpr mk::u32 kTme = 1u << 13;
inline constexpr mk::u32 kAvx512vpopcntdq = 1u << 14;
inline constexpr mk::u32 kLa57 = 1u << 16;
inline constexpr mk::u32 kRdpid = 1u << 22;
inline constexpr mk::u32 kKeyLocker = 1u << 23;
inline constexpr mk::u32 kBusLockDetect = 1u << 24;
inline constexpr mk::u32 kCldemote = 1u << 25;
inline constexpr mk::u32 kMovdiri = 1u << 27;
inline constexpr mk::u32 kMovdir64b = 1u << 28;
inline constexpr mk::u32 kEnqcmd = 1u << 29;
inline constexpr mk::u32 kSgxLc = 1u << 30;
inline constexpr mk::u32 kPks = 1u << 31;
}  // namespace leaf7_ecx

// CPUID.(EAX=07H,ECX=0):EDX
namespace leaf7_edx {
inline constexpr mk::u32 kAvx512_4vnniw = 1u << 2;
inline constexpr mk::u32 kAvx512_4fmaps = 1u << 3;
inline constexpr mk::u32 kFsrm = 1u << 4;
inline constexpr mk::u32 kUintr = 1u << 5;
inline constexpr mk::u32 kAvx512Vp2intersect = 1u << 8;
inline constexpr mk::u32 kSrbdsCtrl = 1u << 9;
inline constexpr mk::u32 kMdClear = 1u << 10;
inline constexpr mk::u32 kRtmAlwaysAbort = 1u << 11;
inline constexpr mk::u32 kTsxForceAbort = 1u << 13;
inline constexpr mk::u32 kSerialize = 1u << 14;
inline constexpr mk::u32 kHybrid = 1u << 15;
inline constexpr mk::u32 kTsxldtrk = 1u << 16;
inline constexpr mk::u32 kPconfig = 1u << 18;
inline constexpr mk::u32 kArchLbr = 1u << 19;
inline constexpr mk::u32 kCetIbt = 1u << 20;
inline constexpr mk::u32 kAmxBf16 = 1u << 22;
inline constexpr mk::u32 kAvx512Fp16 = 1u << 23;
inline constexpr mk::u32 kAmxTile = 1u << 24;
inline constexpr mk::u32 kAmxInt8 = 1u << 25;
inline constexpr mk::u32 kSpecCtrl = 1u << 26;  // IBRS/IBPB: IA32_SPEC_CTRL, IA32_PRED_CMD
inline constexpr mk::u32 kStibp = 1u << 27;
inline constexpr mk::u32 kFlushL1d = 1u << 28;  // IA32_FLUSH_CMD
inline constexpr mk::u32 kArchCapabilities = 1u << 29;
inline constexpr mk::u32 kCoreCapabilities = 1u << 30;
inline constexpr mk::u32 kSsbd = 1u << 31;
}  // namespace leaf7_edx

// CPUID.(EAX=07H,ECX=1):EAX
namespace leaf7_1_eax {
inline constexpr mk::u32 kAvxVnni = 1u << 4;
inline constexpr mk::u32 kAvx512Bf16 = 1u << 5;
}  // namespace leaf7_1_eax

// CPUID.(EAX=0DH,ECX=1):EAX
namespace leafd_1_eax {
inline constexpr mk::u32 kXsaveopt = 1u << 0;
inline constexpr mk::u32 kXsavec = 1u << 1;
inline constexpr mk::u32 kXgetbv1 = 1u << 2;
inline constexpr mk::u32 kXsaves = 1u << 3;  // and IA32_XSS
inline constexpr mk::u32 kXfd = 1u << 4;
}  // namespace leafd_1_eax

// CPUID.80000001H:ECX
namespace ext1_ecx {
inline constexpr mk::u32 kLahfLm = 1u << 0;
inline constexpr mk::u32 kSvm = 1u << 2;
inline constexpr mk::u32 kAbm = 1u << 5;  // LZCNT
inline constexpr mk::u32 kPrefetchw = 1u << 8;
}  // namespace ext1_ecx

// CPUID.80000001H:EDX
namespace ext1_edx {
inline constexpr mk::u32 kSyscall = 1u << 11;
inline constexpr mk::u32 kNx = 1u << 20;
inline constexpr mk::u32 kFxsrOpt = 1u << 25;  // AMD: EFER.FFXSR
inline constexpr mk::u32 kPdpe1gb = 1u << 26;
inline constexpr mk::u32 kRdtscp = 1u << 27;
inline constexpr mk::u32 kLm = 1u << 29;
}  // namespace ext1_edx

// CPUID.80000007H:EDX
namespace ext7_edx {
inline constexpr mk::u32 kInvariantTsc = 1u << 8;
}  // namespace ext7_edx

// XCR0 state components (SDM vol. 1 13.1), enumerated by CPUID.(EAX=0DH,ECX=0).
namespace xcr0 {
inline constexpr mk::u64 kX87 = 1ull << 0;
inline constexpr mk::u64 kSse = 1ull << 1;
inline constexpr mk::u64 kAvx = 1ull << 2;
inline constexpr mk::u64 kBndregs = 1ull << 3;
inline constexpr mk::u64 kBndcsr = 1ull << 4;
inline constexpr mk::u64 kOpmask = 1ull << 5;
inline constexpr mk::u64 kZmmHi256 = 1ull << 6;
inline constexpr mk::u64 kHi16Zmm = 1ull << 7;
inline constexpr mk::u64 kPkru = 1ull << 9;
}  // namespace xcr0

// The XSAVE area's fixed part (SDM vol. 1 13.4): the 512-byte legacy region
// and the 64-byte header; extended components start at offset 576.
inline constexpr mk::u32 kXsaveLegacyAndHeaderSize = 512 + 64;

// One feature flag: where it lives in CPUID, as KVM's X86_FEATURE_* map to
// (function, index, register, bit) through its reverse_cpuid table.
struct Feature {
  mk::u32 leaf;
  mk::u32 subleaf;
  Reg reg;
  mk::u32 mask;
};

namespace feature {
inline constexpr Feature kVmx{0x1, 0, Reg::kEcx, features_ecx::kVmx};
inline constexpr Feature kPdcm{0x1, 0, Reg::kEcx, features_ecx::kPdcm};
inline constexpr Feature kPcid{0x1, 0, Reg::kEcx, features_ecx::kPcid};
inline constexpr Feature kX2apic{0x1, 0, Reg::kEcx, features_ecx::kX2apic};
inline constexpr Feature kTscDeadline{0x1, 0, Reg::kEcx, features_ecx::kTscDeadline};
inline constexpr Feature kXsave{0x1, 0, Reg::kEcx, features_ecx::kXsave};
inline constexpr Feature kOsxsave{0x1, 0, Reg::kEcx, features_ecx::kOsxsave};
inline constexpr Feature kMce{0x1, 0, Reg::kEdx, features_edx::kMce};
inline constexpr Feature kApic{0x1, 0, Reg::kEdx, features_edx::kApic};
inline constexpr Feature kMtrr{0x1, 0, Reg::kEdx, features_edx::kMtrr};
inline constexpr Feature kMca{0x1, 0, Reg::kEdx, features_edx::kMca};
inline constexpr Feature kFsgsbase{0x7, 0, Reg::kEbx, leaf7_ebx::kFsgsbase};
inline constexpr Feature kTscAdjust{0x7, 0, Reg::kEbx, leaf7_ebx::kTscAdjust};
inline constexpr Feature kSmep{0x7, 0, Reg::kEbx, leaf7_ebx::kSmep};
inline constexpr Feature kRtm{0x7, 0, Reg::kEbx, leaf7_ebx::kRtm};
inline constexpr Feature kSmap{0x7, 0, Reg::kEbx, leaf7_ebx::kSmap};
inline constexpr Feature kUmip{0x7, 0, Reg::kEcx, leaf7_ecx::kUmip};
inline constexpr Feature kPku{0x7, 0, Reg::kEcx, leaf7_ecx::kPku};
inline constexpr Feature kOspke{0x7, 0, Reg::kEcx, leaf7_ecx::kOspke};
inline constexpr Feature kLa57{0x7, 0, Reg::kEcx, leaf7_ecx::kLa57};
inline constexpr Feature kRdpid{0x7, 0, Reg::kEcx, leaf7_ecx::kRdpid};
inline constexpr Feature kXsavec{0xd, 1, Reg::kEax, leafd_1_eax::kXsavec};
inline constexpr Feature kXsaves{0xd, 1, Reg::kEax, leafd_1_eax::kXsaves};
inline constexpr Feature kSvm{0x80000001, 0, Reg::kEcx, ext1_ecx::kSvm};
inline constexpr Feature kNx{0x80000001, 0, Reg::kEdx, ext1_edx::kNx};
inline constexpr Feature kFxsrOpt{0x80000001, 0, Reg::kEdx, ext1_edx::kFxsrOpt};
inline constexpr Feature kRdtscp{0x80000001, 0, Reg::kEdx, ext1_edx::kRdtscp};
inline constexpr Feature kLm{0x80000001, 0, Reg::kEdx, ext1_edx::kLm};
}  // namespace feature

}  // namespace ia32::cpuid
