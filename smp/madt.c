/* MADT parsing (ACPI 6.5 5.2.12.2 Processor Local APIC, 5.2.12.8 Local APIC Address Override,
 * 5.2.12.12 Processor Local x2APIC). Every entry length is checked against the table before it
 * is read; a corrupt table is rejected as a whole rather than half-used. */
#include "smp/madt.h"
#include "kernel/printf.h"
#include "kernel/string.h"

struct madt_entry {
	u8 type, length;
} __attribute__((packed));

struct madt_lapic {
	u8 type, length, acpi_uid, apic_id;
	u32 flags;
} __attribute__((packed));

struct madt_x2apic {
	u8 type, length;
	u16 reserved;
	u32 x2apic_id, flags, acpi_uid;
} __attribute__((packed));

struct madt_lapic_override {
	u8 type, length;
	u16 reserved;
	u64 address;
} __attribute__((packed));

static u32 rd32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void add_cpu(u32 apic_id, u32 flags, u32 *ids, u32 max, struct madt_info *info)
{
	if (!(flags & (MADT_LAPIC_ENABLED | MADT_LAPIC_ONLINE_CAPABLE))) {
		info->disabled++;
		return;
	}
	for (u32 i = 0; i < MIN(info->ncpus, max); i++) {
		if (ids[i] == apic_id) {
			info->duplicates++;
			return;
		}
	}
	if (info->ncpus < max)
		ids[info->ncpus] = apic_id;
	else
		info->truncated = true;
	info->ncpus++;
}

/* Returns the minimum length an entry of this type must have (0: any length, type unused). */
static u32 entry_min_len(u8 type)
{
	switch (type) {
	case MADT_TYPE_LOCAL_APIC:
		return sizeof(struct madt_lapic);
	case MADT_TYPE_LOCAL_X2APIC:
		return sizeof(struct madt_x2apic);
	case MADT_TYPE_LAPIC_ADDR_OVERRIDE:
		return sizeof(struct madt_lapic_override);
	default:
		return 0;
	}
}

int madt_parse(const void *table, u32 len, u32 *apic_ids, u32 max_cpus, struct madt_info *info,
	       char *err, size_t err_len)
{
	const u8 *t = table;
	u32 off;

	memset(info, 0, sizeof(*info));
	if (len < MADT_HEADER_LEN || memcmp(t, "APIC", 4) || rd32(t + 4) != len) {
		ksnprintf(err, err_len, "madt: bad header (signature %.4s, length %u)", (const char *)t, len);
		return -1;
	}
	info->lapic_phys = rd32(t + 36);
	for (off = MADT_HEADER_LEN; off < len;) {
		const struct madt_entry *e = (const void *)(t + off);

		if (len - off < sizeof(*e) || e->length < sizeof(*e) || e->length > len - off ||
		    e->length < entry_min_len(e->type)) {
			ksnprintf(err, err_len, "madt: entry at offset %u (type %u) has bad length %u", off,
				  len - off >= 2 ? e->type : 0, len - off >= 2 ? e->length : 0);
			return -1;
		}
		if (e->type == MADT_TYPE_LOCAL_APIC) {
			const struct madt_lapic *l = (const void *)e;

			add_cpu(l->apic_id, l->flags, apic_ids, max_cpus, info);
		} else if (e->type == MADT_TYPE_LOCAL_X2APIC) {
			const struct madt_x2apic *x = (const void *)e;

			add_cpu(x->x2apic_id, x->flags, apic_ids, max_cpus, info);
		} else if (e->type == MADT_TYPE_LAPIC_ADDR_OVERRIDE) {
			info->lapic_phys = ((const struct madt_lapic_override *)e)->address;
		}
		off += e->length;
	}
	if (!info->ncpus) {
		ksnprintf(err, err_len, "madt: no usable processor entries");
		return -1;
	}
	return 0;
}
