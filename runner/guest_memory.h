/* Guest RAM: one memfd mapped into the host and given to KVM as one slot.
 * A memfd (rather than anonymous memory) is what lets request VMs map the
 * template privately later. Every guest pointer is checked here before the
 * host touches it. */
#ifndef TKVM_RUNNER_GUEST_MEMORY_H
#define TKVM_RUNNER_GUEST_MEMORY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/error.h"

struct guest_memory {
	int memfd;
	bool owns_memfd;
	uint8_t *host;  /* host address of guest physical 0 */
	uint64_t size;  /* bytes, multiple of 2 MiB */
	bool shared;    /* MAP_SHARED of the memfd (template); false = private copy-on-write */
	bool frozen;    /* a sealed template: host is a read-only view */
};

int guest_memory_create(struct guest_memory *memory, uint64_t size, const char *name, struct tkvm_error *err);
void guest_memory_destroy(struct guest_memory *memory);

/* Freezes a template's memory: the writable mapping goes, the memfd is
 * sealed against any change, and memory->host becomes a read-only view
 * (the source of every reset). */
int guest_memory_freeze(struct guest_memory *memory, struct tkvm_error *err);

/* A request VM's memory: a private copy-on-write mapping of a frozen
 * template's memfd (the memfd is shared, not owned). */
int guest_memory_map_private(struct guest_memory *memory, const struct guest_memory *template_memory,
			     struct tkvm_error *err);

/* Puts back the template's contents over exactly the pages that differ
 * from it: PAGEMAP_SCAN lists the pages this private mapping owns (written
 * since the last reset) and each run is copied from the template (pages
 * stay mapped: no refaults), or, when more than give_back_pages were
 * written, dropped with MADV_DONTNEED (the memory goes back to the host).
 * Returns the number of pages restored, or a negative errno. */
int64_t guest_memory_reset(struct guest_memory *memory, const struct guest_memory *template_memory,
			   uint64_t give_back_pages);

/* Host pointer for [address, address + length) of user memory, or NULL when
 * any byte is outside it (including the low system area) or the range wraps. */
static inline void *guest_memory_user_range(const struct guest_memory *memory, uint64_t address, uint64_t length)
{
	extern const uint64_t guest_memory_user_start;
	if (address < guest_memory_user_start || address > memory->size || length > memory->size - address)
		return NULL;
	return memory->host + address;
}

/* Host pointer for any guest range inside RAM (system area included). */
static inline void *guest_memory_range(const struct guest_memory *memory, uint64_t address, uint64_t length)
{
	if (address > memory->size || length > memory->size - address)
		return NULL;
	return memory->host + address;
}

/* A NUL-terminated string in user memory of at most max_length bytes
 * (terminator excluded): returns the host pointer and sets *length, or NULL
 * when it is not inside memory or not terminated in time. */
const char *guest_memory_string(const struct guest_memory *memory, uint64_t address, size_t max_length, size_t *length);

/* Makes [address, address + length) read as zero again, touching only
 * the pages in use. Page-aligned ranges only. */
void guest_memory_discard(struct guest_memory *memory, uint64_t address, uint64_t length);
#endif
