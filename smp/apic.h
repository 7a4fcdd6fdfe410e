/* Local APIC in xAPIC (MMIO) or x2APIC (MSR) mode (SDM 3A ch. 10 / 11). One interface for both;
 * the mode is chosen once at boot and every CPU uses the same one. */
#ifndef SMP_APIC_H
#define SMP_APIC_H

#include "kernel/types.h"

/* Vectors: the one table of every vector the kernel uses. */
#define VEC_CALL 0xf0      /* cross-CPU call: wake the target's call loop */
#define VEC_PING 0xf1      /* IPI round-trip benchmark: request */
#define VEC_PONG 0xf2      /* IPI round-trip benchmark: reply */
#define VEC_TIMER 0xf3     /* APIC timer */
#define VEC_TLB_FLUSH 0xf4 /* TLB shootdown */
#define VEC_WAKE 0xf5      /* stress: wake readers that halt between changes (targets=halt) */
#define VEC_REWAKE 0xf6    /* stress: a halted reader's own safety timer (a wake-up lost) */
#define VEC_TEST_PING 0xe0 /* self-tests: IPIs between every pair of CPUs */
#define VEC_TEST_PONG 0xe1
#define VEC_APIC_ERROR 0xfe
#define VEC_SPURIOUS 0xff

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_BSP (1u << 8)
#define APIC_BASE_EXTD (1u << 10) /* x2APIC mode */
#define APIC_BASE_EN (1u << 11)
#define CPUID_1_ECX_X2APIC (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define X2APIC_MSR_BASE 0x800

/* Register offsets in the xAPIC page; the x2APIC MSR is X2APIC_MSR_BASE + (offset >> 4). */
#define APIC_ID 0x020
#define APIC_VERSION 0x030
#define APIC_TPR 0x080
#define APIC_EOI 0x0b0
#define APIC_LDR 0x0d0
#define APIC_DFR 0x0e0
#define APIC_SVR 0x0f0
#define APIC_ESR 0x280
#define APIC_ICR_LO 0x300
#define APIC_ICR_HI 0x310
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF 0x340
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_CURRENT 0x390
#define APIC_TIMER_DIVIDE 0x3e0

#define APIC_SVR_ENABLE (1u << 8)
#define APIC_LVT_MASKED (1u << 16)
#define APIC_TIMER_DIVIDE_16 0x3
#define ICR_DELIVERY_FIXED (0u << 8)
#define ICR_DELIVERY_INIT (5u << 8)
#define ICR_DELIVERY_STARTUP (6u << 8)
#define ICR_DELIVERY_STATUS (1u << 12) /* xAPIC only: send pending */
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_TRIGGER_LEVEL (1u << 15)
#define ICR_DEST_ALL_BUT_SELF (3u << 18)

#define XAPIC_MAX_ID 254 /* 255 is the xAPIC broadcast ID */
#define APIC_DEFAULT_PHYS 0xfee00000

void apic_init_bsp(u64 mmio_phys); /* choose the mode, enable and set up the boot CPU's APIC */
void apic_init_ap(void);           /* the same mode on an application processor */
bool apic_x2apic_mode(void);
const char *apic_mode_name(void);
/* Hyper-V recommends its EOI and ICR MSRs over the xAPIC page (TLFS 10.3.4): used in xAPIC
 * mode from the call on (x2APIC mode uses its own MSRs anyway). Before the APs start. */
void apic_use_hv_msrs(void);
bool apic_hv_msrs_used(void);
u32 apic_read_id(void);
void apic_eoi(void);
u32 apic_esr(void); /* clear and read the error status */

int apic_send_ipi(u32 apic_id, u8 vector);
int apic_send_ipi_all_but_self(u8 vector);
int apic_send_init(u32 apic_id);
int apic_send_startup(u32 apic_id, u8 page);

/* One-shot APIC timer (divide by 16). Ticks per millisecond come from apic_timer_calibrate(). */
void apic_timer_calibrate(void);
u64 apic_timer_ticks_per_ms(void);
void apic_timer_oneshot(u32 ticks, u8 vector);
void apic_timer_stop(void);

#endif
