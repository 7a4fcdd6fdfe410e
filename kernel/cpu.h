/* The CPU's identity strings (CPUID 0 and 0x80000002-4), read once. */
#ifndef KERNEL_CPU_H
#define KERNEL_CPU_H

const char *cpu_vendor_string(void);
const char *cpu_brand_string(void);

#endif
