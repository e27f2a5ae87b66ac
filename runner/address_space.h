/* Where the program's brk heap and mmap()s go, inside memory that the page
 * tables already map: brk grows up from the end of the ELF, mmap takes from
 * the top of the arena down, as Linux lays it out. Host-side bookkeeping
 * only; a plain struct, so resetting a VM can copy it back. Invariant: every
 * free byte of the arena reads as zero (callers discard what they free). */
#ifndef TKVM_RUNNER_ADDRESS_SPACE_H
#define TKVM_RUNNER_ADDRESS_SPACE_H
#include <stdbool.h>
#include <stdint.h>

#define ADDRESS_SPACE_MAX_EXTENTS 1024

struct address_extent {
	uint64_t start, end;
};

struct address_space {
	uint64_t arena_start, arena_end; /* [end of ELF, stack guard) */
	uint64_t brk_start, brk_end;     /* brk_end as the program set it (not page-aligned) */
	uint64_t stack_low, stack_top;
	uint64_t mapped_bytes;           /* bytes of live mmap()s */
	uint64_t peak_bytes;             /* highest brk + mmap total seen */
	uint64_t failed_request;         /* size of the last allocation that did not fit, 0 if none */
	uint64_t limit;                  /* most bytes brk + mmap may use (max_request_memory in request VMs) */
	bool failed_on_limit;            /* the last failure hit `limit`, not the end of memory */
	unsigned free_count;
	struct address_extent free[ADDRESS_SPACE_MAX_EXTENTS]; /* sorted, disjoint, non-adjacent */
};

void address_space_init(struct address_space *space, uint64_t arena_start, uint64_t arena_end, uint64_t stack_low,
			uint64_t stack_top);

/* Allocates length bytes (rounded up to pages) from the top of the arena; 0 when nothing fits. */
uint64_t address_space_map(struct address_space *space, uint64_t length);

/* Claims [address, address + length) for MAP_FIXED. Returns 1 if every
 * byte was free (already zero), 0 if some was in use (the caller must zero
 * it), -1 if the range is outside the arena. */
int address_space_map_fixed(struct address_space *space, uint64_t address, uint64_t length);

/* Tries to grow [address, address + old_length) in place to new_length. */
bool address_space_grow(struct address_space *space, uint64_t address, uint64_t old_length, uint64_t new_length);

/* Returns the part of [address, address + length) that lies in the arena to
 * the free list; discard_start and discard_length tell the caller what to zero
 * (length 0 when nothing). */
void address_space_unmap(struct address_space *space, uint64_t address, uint64_t length, uint64_t *discard_start,
			 uint64_t *discard_length);

/* brk(2): returns the new break, or the old one when the request cannot be
 * met. On shrink, *discard_* name the pages to zero. */
uint64_t address_space_brk(struct address_space *space, uint64_t requested, uint64_t *discard_start,
			   uint64_t *discard_length);

/* True when [address, address + length) lies inside the arena and is allocated. */
bool address_space_is_allocated(const struct address_space *space, uint64_t address, uint64_t length);

/* Bytes handed out (brk heap plus mmaps). */
uint64_t address_space_used(const struct address_space *space);
#endif
