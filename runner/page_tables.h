/* Builds the guest's identity page tables once, final: the whole RAM is
 * mapped up front with accessed/dirty bits preset, so nothing ever edits a
 * live entry (on PVM such edits are not seen; see spec/kvm-host.md). */
#ifndef TKVM_RUNNER_PAGE_TABLES_H
#define TKVM_RUNNER_PAGE_TABLES_H
#include <stdint.h>
#include "runner/error.h"
#include "runner/guest_memory.h"

/* A range mapped with 4 KiB pages and the permissions of an ELF segment
 * (ELF_SEGMENT_* flags). Pages shared by two regions get the union. */
struct mapped_region {
	uint64_t start, end;
	uint32_t flags;
};

/* Maps [0, memory->size): the system area (supervisor, except the user stub
 * page), the regions with their permissions, the holes as not present (the
 * NULL page is always one), and everything else as user read-write-execute
 * with 2 MiB pages. Returns the CR3 value in *cr3. */
int page_tables_build(struct guest_memory *memory, const struct mapped_region *regions, unsigned region_count,
		      const uint64_t *holes, unsigned hole_count, uint64_t *cr3, struct tkvm_error *err);

/* Walks the tables like the CPU would: 1 when address is mapped for a
 * user-mode access (write access when `write`). For tests and for messages
 * that explain a fault. */
int page_tables_user_access(const struct guest_memory *memory, uint64_t cr3, uint64_t address, int write);
#endif
