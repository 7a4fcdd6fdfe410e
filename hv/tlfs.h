/* Hyper-V Top-Level Functional Specification constants (TLFS 6.0), each defined once, named as
 * in the TLFS. Data only; shared with assembly. */
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

/* TLFS 2.4.4 partition privileges (CPUID 0x40000003 EAX) */
#define HV_MSR_HYPERCALL_AVAILABLE (1u << 5)
#define HV_MSR_VP_INDEX_AVAILABLE (1u << 6)
#define HV_ACCESS_FREQUENCY_MSRS (1u << 11)

/* TLFS 2.4.4 / 3.x synthetic MSRs */
#define HV_X64_MSR_GUEST_OS_ID 0x40000000
#define HV_X64_MSR_HYPERCALL 0x40000001
#define HV_X64_MSR_VP_INDEX 0x40000002
#define HV_X64_MSR_TSC_FREQUENCY 0x40000022
#define HV_X64_MSR_APIC_FREQUENCY 0x40000023

#endif
