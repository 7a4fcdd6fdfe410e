/* MADT parsing (ACPI 6.5 5.2.12.2 Processor Local APIC, 5.2.12.8 Local APIC Address Override,
 * 5.2.12.12 Processor Local x2APIC). Every entry length is checked against the table before it
 * is read; a corrupt table is rejected as a whole rather than half-used. */
#include "acpi/madt.h"
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

static bool usable(u32 flags)
{
	return flags & (MADT_LAPIC_ENABLED | MADT_LAPIC_ONLINE_CAPABLE);
}

/* The APIC ID and flags of a processor entry; false for other entry types. */
static bool entry_cpu(const u8 *e, u32 *apic_id, u32 *flags)
{
	if (e[0] == MADT_TYPE_LOCAL_APIC) {
		const struct madt_lapic *l = (const void *)e;

		*apic_id = l->apic_id, *flags = l->flags;
		return true;
	}
	if (e[0] == MADT_TYPE_LOCAL_X2APIC) {
		const struct madt_x2apic *x = (const void *)e;

		*apic_id = x->x2apic_id, *flags = x->flags;
		return true;
	}
	return false;
}

/* Did a usable entry before offset `end` (already validated) list this APIC ID? Looks at the
 * table rather than the caller's array, which may have been too small to hold them all. */
static bool listed_before(const u8 *t, u32 end, u32 apic_id)
{
	for (u32 off = MADT_HEADER_LEN; off < end; off += t[off + 1]) {
		u32 id, flags;

		if (entry_cpu(t + off, &id, &flags) && usable(flags) && id == apic_id)
			return true;
	}
	return false;
}

static void add_cpu(const u8 *t, u32 off, u32 *ids, u32 max, struct madt_info *info)
{
	u32 apic_id, flags;

	entry_cpu(t + off, &apic_id, &flags);
	if (!usable(flags)) {
		info->disabled++;
		return;
	}
	if (listed_before(t, off, apic_id)) {
		info->duplicates++;
		return;
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
		/* The signature in hex: its bytes may be anything, including a newline. */
		ksnprintf(err, err_len, "madt: bad header (signature %#x, length %u, table %u bytes)",
			  len >= 4 ? rd32(t) : 0, len >= 8 ? rd32(t + 4) : 0, len);
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
		if (e->type == MADT_TYPE_LOCAL_APIC || e->type == MADT_TYPE_LOCAL_X2APIC)
			add_cpu(t, off, apic_ids, max_cpus, info);
		else if (e->type == MADT_TYPE_LAPIC_ADDR_OVERRIDE)
			info->lapic_phys = ((const struct madt_lapic_override *)e)->address;
		off += e->length;
	}
	if (!info->ncpus) {
		ksnprintf(err, err_len, "madt: no usable processor entries");
		return -1;
	}
	return 0;
}
