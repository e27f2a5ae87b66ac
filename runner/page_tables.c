/* Identity page tables, built once and never edited (see page_tables.h).
 * 4 KiB granularity where permissions or holes need it (the system area,
 * the program's segments, guard pages), 2 MiB pages everywhere else. */
#include "runner/page_tables.h"
#include "runner/elf.h"
#include "runner/layout.h"
#include <errno.h>
#include <string.h>

#define PTE_PRESENT 0x1ull
#define PTE_WRITE 0x2ull
#define PTE_USER 0x4ull
#define PTE_ACCESSED 0x20ull
#define PTE_DIRTY 0x40ull
#define PTE_HUGE 0x80ull
#define PTE_NO_EXECUTE (1ull << 63)
#define PTE_ADDRESS_MASK 0x000ffffffffff000ull
#define TABLE_ENTRY (PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_ACCESSED)

struct table_allocator {
	struct guest_memory *memory;
	uint64_t next;
};

static uint64_t *table_new(struct table_allocator *tables, uint64_t *address)
{
	if (tables->next >= LAYOUT_PAGE_TABLES_END)
		return NULL;
	*address = tables->next;
	tables->next += GUEST_PAGE_SIZE;
	uint64_t *table = (uint64_t *)(tables->memory->host + *address);
	memset(table, 0, GUEST_PAGE_SIZE);
	return table;
}

static int chunk_needs_small_pages(uint64_t chunk, const struct mapped_region *regions, unsigned region_count,
				   const uint64_t *holes, unsigned hole_count)
{
	uint64_t lo = chunk, hi = chunk + GUEST_HUGE_PAGE_SIZE;
	if (chunk == 0)
		return 1;
	for (unsigned i = 0; i < region_count; i++)
		if (regions[i].start < hi && regions[i].end > lo)
			return 1;
	for (unsigned i = 0; i < hole_count; i++)
		if (holes[i] >= lo && holes[i] < hi)
			return 1;
	return 0;
}

/* Leaf entry for one 4 KiB page of the low system area. */
static uint64_t system_page_entry(uint64_t page)
{
	const uint64_t base = PTE_PRESENT | PTE_ACCESSED | PTE_DIRTY;
	if (page == 0)
		return 0; /* NULL page: never present */
	if (page == LAYOUT_USER_STUBS)
		return page | base | PTE_USER; /* user, read-only, executable */
	if (page == LAYOUT_FPU_IMAGE)
		return page | base | PTE_USER | PTE_NO_EXECUTE; /* user, read-only data */
	if (page == LAYOUT_ISR)
		return page | base; /* supervisor, read-only, executable */
	if (page < LAYOUT_PAGE_TABLES_END)
		return page | base | PTE_WRITE | PTE_NO_EXECUTE; /* tables, TSS, stacks: supervisor data */
	return 0;
}

static uint64_t user_page_entry(uint64_t page, const struct mapped_region *regions, unsigned region_count,
				const uint64_t *holes, unsigned hole_count)
{
	for (unsigned i = 0; i < hole_count; i++)
		if (holes[i] == page)
			return 0;
	uint32_t flags = 0;
	int covered = 0;
	for (unsigned i = 0; i < region_count; i++) {
		if (regions[i].start < page + GUEST_PAGE_SIZE && regions[i].end > page) {
			flags |= regions[i].flags;
			covered = 1;
		}
	}
	uint64_t entry = page | PTE_PRESENT | PTE_USER | PTE_ACCESSED | PTE_DIRTY;
	if (!covered)
		return entry | PTE_WRITE; /* heap, mmap arena, stack */
	if (flags & ELF_SEGMENT_WRITE)
		entry |= PTE_WRITE;
	if (!(flags & ELF_SEGMENT_EXEC))
		entry |= PTE_NO_EXECUTE;
	return entry;
}

int page_tables_build(struct guest_memory *memory, const struct mapped_region *regions, unsigned region_count,
		      const uint64_t *holes, unsigned hole_count, uint64_t *cr3, struct tkvm_error *err)
{
	struct table_allocator tables = {memory, LAYOUT_PAGE_TABLES};
	uint64_t pml4_address, pdpt_address;
	uint64_t *pml4 = table_new(&tables, &pml4_address);
	uint64_t *pdpt = table_new(&tables, &pdpt_address);
	if (memory->size > (512ull << 30))
		return tkvm_error_set(err, -EINVAL, "guest memory of %llu MiB is more than the 512 GiB one page directory pointer table maps",
				      (unsigned long long)(memory->size >> 20));
	pml4[0] = pdpt_address | TABLE_ENTRY;

	uint64_t *directory = NULL;
	for (uint64_t chunk = 0; chunk < memory->size; chunk += GUEST_HUGE_PAGE_SIZE) {
		unsigned gib = (unsigned)(chunk >> 30), slot = (unsigned)((chunk >> 21) & 511);
		if (slot == 0 || !directory) {
			uint64_t directory_address;
			directory = table_new(&tables, &directory_address);
			if (!directory)
				goto out_of_room;
			pdpt[gib] = directory_address | TABLE_ENTRY;
		}
		if (!chunk_needs_small_pages(chunk, regions, region_count, holes, hole_count)) {
			directory[slot] = chunk | PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_ACCESSED | PTE_DIRTY | PTE_HUGE;
			continue;
		}
		uint64_t table_address;
		uint64_t *table = table_new(&tables, &table_address);
		if (!table)
			goto out_of_room;
		directory[slot] = table_address | TABLE_ENTRY;
		for (unsigned i = 0; i < 512; i++) {
			uint64_t page = chunk + (uint64_t)i * GUEST_PAGE_SIZE;
			table[i] = chunk == 0 ? system_page_entry(page)
					      : user_page_entry(page, regions, region_count, holes, hole_count);
		}
	}
	*cr3 = pml4_address;
	return 0;
out_of_room:
	return tkvm_error_set(err, -E2BIG, "the program's segments need more page tables than the %llu KiB reserved for them",
			      (unsigned long long)((LAYOUT_PAGE_TABLES_END - LAYOUT_PAGE_TABLES) >> 10));
}

int page_tables_user_access(const struct guest_memory *memory, uint64_t cr3, uint64_t address, int write)
{
	uint64_t table = cr3 & PTE_ADDRESS_MASK;
	for (int level = 3; level >= 0; level--) {
		const uint64_t *entries = guest_memory_range(memory, table, GUEST_PAGE_SIZE);
		if (!entries)
			return 0;
		uint64_t entry = entries[(address >> (12 + 9 * level)) & 511];
		if (!(entry & PTE_PRESENT) || !(entry & PTE_USER) || (write && !(entry & PTE_WRITE)))
			return 0;
		if (level == 0 || (level == 1 && (entry & PTE_HUGE)))
			return 1;
		table = entry & PTE_ADDRESS_MASK;
	}
	return 0;
}
