/* Hyper-V Top-Level Functional Specification (TLFS 6.0b) constants and ABI structures, each
 * defined once and named as in the TLFS. Data only. */
#ifndef HV_TLFS_H
#define HV_TLFS_H

/* TLFS 2.4 Hypervisor CPUID leaves */
#define HV_CPUID_VENDOR_AND_MAX_FUNCTIONS 0x40000000 /* EBX:ECX:EDX "Microsoft Hv" */
#define HV_CPUID_INTERFACE 0x40000001                /* EAX "Hv#1" */
#define HV_CPUID_VERSION 0x40000002
#define HV_CPUID_FEATURES 0x40000003
#define HV_CPUID_ENLIGHTMENT_INFO 0x40000004
#define HV_CPUID_IMPLEMENT_LIMITS 0x40000005
#define HV_CPUID_HARDWARE_FEATURES 0x40000006
#define HV_INTERFACE_SIGNATURE 0x31237648 /* "Hv#1" */

/* TLFS 2.4.4 partition privileges, CPUID 0x40000003 EAX */
#define HV_MSR_HYPERCALL_AVAILABLE (1u << 5)
#define HV_MSR_VP_INDEX_AVAILABLE (1u << 6)
#define HV_MSR_APIC_ACCESS_AVAILABLE (1u << 4)
#define HV_ACCESS_TSC_INVARIANT_CONTROLS (1u << 15)
#define HV_ACCESS_FREQUENCY_MSRS (1u << 11)
/* CPUID 0x40000003 EDX */
#define HV_FEATURE_FREQUENCY_MSRS_AVAILABLE (1u << 8)
#define HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE (1u << 4)
#define HV_X64_EXT_GVA_RANGES_FLUSH_AVAILABLE (1u << 14)
#define HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE (1u << 15)

/* TLFS 2.4.5 implementation recommendations, CPUID 0x40000004 EAX */
#define HV_X64_APIC_ACCESS_RECOMMENDED (1u << 3)
#define HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED (1u << 2)
#define HV_X64_CLUSTER_IPI_RECOMMENDED (1u << 10)
#define HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED (1u << 11)

/* TLFS 3.x synthetic MSRs */
#define HV_X64_MSR_GUEST_OS_ID 0x40000000
#define HV_X64_MSR_HYPERCALL 0x40000001
#define HV_X64_MSR_VP_INDEX 0x40000002
#define HV_X64_MSR_TSC_FREQUENCY 0x40000022
#define HV_X64_MSR_APIC_FREQUENCY 0x40000023
#define HV_X64_MSR_EOI 0x40000070 /* APIC access through MSRs (TLFS 10.3.4) */
#define HV_X64_MSR_ICR 0x40000071
#define HV_X64_MSR_TSC_INVARIANT_CONTROL 0x40000118 /* bit 0: expose the invariant TSC */
#define HV_X64_MSR_HYPERCALL_ENABLE (1ull << 0)
#define HV_X64_MSR_HYPERCALL_LOCKED (1ull << 1)
#define HV_X64_MSR_HYPERCALL_RESERVED 0xffcull /* bits 11:2: preserve */
#define HV_X64_MSR_HYPERCALL_PAGE_SHIFT 12

/* TLFS 3.6 guest OS identity for open-source operating systems */
#define HV_GUEST_OS_ID_OPEN_SOURCE (1ull << 63)
#define HV_GUEST_OS_ID_OS_TYPE_SHIFT 56 /* bits 62:56 */
#define HV_GUEST_OS_ID_VERSION_SHIFT 16 /* bits 47:16 */

/* TLFS 3.7 hypercall input value */
#define HV_HYPERCALL_FAST (1ull << 16)
#define HV_HYPERCALL_VARHEAD_SHIFT 17 /* bits 26:17, in 8-byte units */
#define HV_HYPERCALL_VARHEAD_MASK 0x3ffull
#define HV_HYPERCALL_REP_COUNT_SHIFT 32 /* bits 43:32 */
#define HV_HYPERCALL_REP_START_SHIFT 48 /* bits 59:48 */
#define HV_HYPERCALL_REP_MASK 0xfffull
#define HV_HYPERCALL_NESTED (1ull << 31)
/* Reserved input-value bits: 30:27, 47:44, 63:60 (must be zero, TLFS 3.7) */
#define HV_HYPERCALL_RSVD_MASK 0xf000f00078000000ull
/* TLFS 3.8 hypercall result value */
#define HV_HYPERCALL_RESULT_MASK 0xffffull
#define HV_HYPERCALL_REPS_COMPLETE_SHIFT 32 /* bits 43:32 */
#define HV_XMM_FAST_INPUT_MAX 112 /* RDX, R8 and XMM0-XMM5 */

/* TLFS Appendix: hypercall codes */
#define HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE 0x0002
#define HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST 0x0003
#define HVCALL_SEND_SYNTHETIC_CLUSTER_IPI 0x000b
#define HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE_EX 0x0013
#define HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX 0x0014
#define HVCALL_SEND_SYNTHETIC_CLUSTER_IPI_EX 0x0015

/* TLFS 10.5.2: valid synthetic cluster IPI vectors */
#define HV_IPI_VECTOR_MIN 0x10
#define HV_IPI_VECTOR_MAX 0xff

/* TLFS Appendix: hypercall status codes */
#define HV_STATUS_SUCCESS 0x0000
#define HV_STATUS_INVALID_HYPERCALL_CODE 0x0002
#define HV_STATUS_INVALID_HYPERCALL_INPUT 0x0003
#define HV_STATUS_INVALID_ALIGNMENT 0x0004
#define HV_STATUS_INVALID_PARAMETER 0x0005
#define HV_STATUS_ACCESS_DENIED 0x0006
#define HV_STATUS_INVALID_VP_INDEX 0x000e

/* TLFS 12.4 virtual address flushes: flags */
#define HV_FLUSH_ALL_PROCESSORS (1ull << 0)
#define HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES (1ull << 1)
#define HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY (1ull << 2) /* not valid for the List calls */
#define HV_FLUSH_USE_EXTENDED_RANGE_FORMAT (1ull << 3)

/* TLFS 12.4.2 GVA range: page number in 63:12, additional pages in 11:0 */
#define HV_GVA_PAGE_SHIFT 12
#define HV_GVA_MAX_ADDITIONAL 0xfffull /* 4096 pages, 16 MiB, per entry */

/* TLFS 7.8.7 HV_VP_SET */
#define HV_GENERIC_SET_SPARSE_4K 0
#define HV_GENERIC_SET_ALL 1
#define HV_VP_SET_BANK_BITS 64
#define HV_VP_SET_MAX_BANKS 64 /* VP indices 0..4095 */

#define HV_PAGE_SIZE 4096

#ifndef __ASSEMBLER__
#include "kernel/types.h"

/* Every structure below is naturally aligned, so no packing is needed; the sizes are checked. */

/* HV_VP_SET */
struct hv_vpset {
	u64 format;
	u64 valid_bank_mask;
	u64 bank_contents[];
};
_Static_assert(sizeof(struct hv_vpset) == 16, "HV_VP_SET header");

/* HV_INPUT_FLUSH_VIRTUAL_ADDRESS_SPACE / _LIST */
struct hv_tlb_flush {
	u64 address_space;
	u64 flags;
	u64 processor_mask;
	u64 gva_list[];
};
_Static_assert(sizeof(struct hv_tlb_flush) == 24, "HV_INPUT_FLUSH_VIRTUAL_ADDRESS_SPACE");

/* HV_INPUT_FLUSH_VIRTUAL_ADDRESS_SPACE_EX / _LIST_EX: the GVA list follows the banks */
struct hv_tlb_flush_ex {
	u64 address_space;
	u64 flags;
	struct hv_vpset hv_vp_set;
};
_Static_assert(sizeof(struct hv_tlb_flush_ex) == 32, "HV_INPUT_FLUSH_VIRTUAL_ADDRESS_SPACE_EX");

/* HV_INPUT_SEND_SYNTHETIC_CLUSTER_IPI */
struct hv_send_ipi {
	u32 vector;
	u8 target_vtl;
	u8 reserved[3];
	u64 cpu_mask;
};
_Static_assert(sizeof(struct hv_send_ipi) == 16, "HV_INPUT_SEND_SYNTHETIC_CLUSTER_IPI");

/* HV_INPUT_SEND_SYNTHETIC_CLUSTER_IPI_EX */
struct hv_send_ipi_ex {
	u32 vector;
	u8 target_vtl;
	u8 reserved[3];
	struct hv_vpset vp_set;
};
_Static_assert(sizeof(struct hv_send_ipi_ex) == 24, "HV_INPUT_SEND_SYNTHETIC_CLUSTER_IPI_EX");
#endif

#endif
