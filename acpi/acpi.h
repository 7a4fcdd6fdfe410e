/* ACPI tables (ACPI 6.5 ch. 5): finding and validating the RSDP, RSDT/XSDT and the tables they
 * list; the FADT's power-management registers and \_S5 for power-off. */
#ifndef ACPI_ACPI_H
#define ACPI_ACPI_H

#include "boot/bootinfo.h"
#include "kernel/types.h"

struct acpi_rsdp { /* ACPI 6.5 5.2.5.3 */
	char signature[8];
	u8 checksum;
	char oem_id[6];
	u8 revision;
	u32 rsdt;
	u32 length;
	u64 xsdt;
	u8 ext_checksum;
	u8 reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");
#define ACPI_RSDP_V1_LEN 20

struct acpi_header { /* ACPI 6.5 5.2.6 */
	char signature[4];
	u32 length;
	u8 revision;
	u8 checksum;
	char oem_id[6];
	char oem_table_id[8];
	u32 oem_revision;
	u32 creator_id;
	u32 creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header");

struct acpi_gas { /* Generic Address Structure, ACPI 6.5 5.2.3.2 */
	u8 space_id; /* 0 memory, 1 I/O */
	u8 bit_width, bit_offset, access_size;
	u64 address;
} __attribute__((packed));
#define ACPI_GAS_IO 1

struct acpi_fadt { /* ACPI 6.5 5.2.9, up to X_PM_TMR_BLK */
	struct acpi_header h;
	u32 firmware_ctrl, dsdt;
	u8 reserved0, preferred_pm_profile;
	u16 sci_int;
	u32 smi_cmd;
	u8 acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	u32 pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
	u32 gpe0_blk, gpe1_blk;
	u8 pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len, gpe1_base,
		cst_cnt;
	u16 p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	u8 duty_offset, duty_width, day_alrm, mon_alrm, century;
	u16 iapc_boot_arch;
	u8 reserved1;
	u32 flags;
	struct acpi_gas reset_reg;
	u8 reset_value;
	u16 arm_boot_arch;
	u8 fadt_minor_version;
	u64 x_firmware_ctrl, x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk, x_pm2_cnt_blk,
		x_pm_tmr_blk;
} __attribute__((packed));
_Static_assert(__builtin_offsetof(struct acpi_fadt, pm1a_cnt_blk) == 64, "FADT PM1a_CNT_BLK");
_Static_assert(__builtin_offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(__builtin_offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(__builtin_offsetof(struct acpi_fadt, x_pm1a_cnt_blk) == 172, "FADT X_PM1a_CNT_BLK");
_Static_assert(sizeof(struct acpi_fadt) == 220, "FADT through X_PM_TMR_BLK");

#define FADT_TMR_VAL_EXT (1u << 8)
#define FADT_HW_REDUCED_ACPI (1u << 20)
#define PM1_CNT_SCI_EN (1u << 0)
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_EN (1u << 13)

/* Pure helpers (acpi/tables.c, unit-tested on the host). */
u8 acpi_checksum(const void *p, size_t len);
bool acpi_rsdp_valid(const struct acpi_rsdp *r, size_t avail);
/* Find the \_S5 package in AML and return its first two values (SLP_TYPa, SLP_TYPb). */
int acpi_parse_s5(const u8 *aml, size_t len, u8 *slp_typ_a, u8 *slp_typ_b);
/* A FADT register's I/O port (ACPI 6.5 5.2.9): its X_ field when the table is long enough to
 * hold it and it is set (it then takes precedence: Hyper-V Generation 2 fills only those), else
 * the legacy 32-bit field when the table holds it. 0 when neither is set, or the X_ field is not
 * in I/O space (memory-mapped registers are not supported) or names no 16-bit port. */
u16 acpi_fadt_io_port(const struct acpi_fadt *f, size_t x_offset, size_t legacy_offset);
#define ACPI_FADT_PORT(f, field)                                                                   \
	acpi_fadt_io_port(f, __builtin_offsetof(struct acpi_fadt, x_##field),                      \
			  __builtin_offsetof(struct acpi_fadt, field))
/* The ACPI PM timer's port (0: none; hardware-reduced ACPI has none), *ext: 32-bit counter. */
u16 acpi_pm_timer_port(const struct acpi_fadt *f, bool *ext);

/* Platform side (acpi/acpi.c). */
void acpi_init(const struct bootinfo *bi); /* prints one line: what was found or why not */
const struct acpi_header *acpi_find_table(const char sig[4], u32 index);
const struct acpi_rsdp *acpi_rsdp(void);
const struct acpi_fadt *acpi_fadt(void);
void acpi_poweroff(void); /* returns only if power-off did not happen */

#endif
