/* brk and mmap bookkeeping over a sorted free list (see address_space.h). */
#include "runner/address_space.h"
#include "runner/layout.h"
#include <string.h>

static uint64_t page_up(uint64_t x) { return (x + GUEST_PAGE_SIZE - 1) & ~(GUEST_PAGE_SIZE - 1); }

void address_space_init(struct address_space *space, uint64_t arena_start, uint64_t arena_end, uint64_t stack_low,
			uint64_t stack_top)
{
	memset(space, 0, sizeof *space);
	space->arena_start = arena_start;
	space->arena_end = arena_end;
	space->brk_start = space->brk_end = arena_start;
	space->stack_low = stack_low;
	space->stack_top = stack_top;
	space->limit = UINT64_MAX;
	if (arena_end > arena_start) {
		space->free[0] = (struct address_extent){arena_start, arena_end};
		space->free_count = 1;
	}
}

static void remove_extent(struct address_space *space, unsigned i)
{
	memmove(&space->free[i], &space->free[i + 1], (space->free_count - i - 1) * sizeof space->free[0]);
	space->free_count--;
}

static bool insert_extent(struct address_space *space, unsigned i, uint64_t start, uint64_t end)
{
	if (space->free_count == ADDRESS_SPACE_MAX_EXTENTS)
		return false;
	memmove(&space->free[i + 1], &space->free[i], (space->free_count - i) * sizeof space->free[0]);
	space->free[i] = (struct address_extent){start, end};
	space->free_count++;
	return true;
}

/* Removes [start, end) from the free list. Returns the number of bytes that
 * were free, or -1 when splitting an extent would overflow the list. */
static int64_t take_range(struct address_space *space, uint64_t start, uint64_t end)
{
	int64_t was_free = 0;
	for (unsigned i = 0; i < space->free_count && space->free[i].start < end;) {
		struct address_extent *e = &space->free[i];
		if (e->end <= start) {
			i++;
			continue;
		}
		uint64_t lo = e->start > start ? e->start : start, hi = e->end < end ? e->end : end;
		was_free += (int64_t)(hi - lo);
		if (e->start < start && e->end > end) { /* split */
			uint64_t tail_end = e->end;
			if (!insert_extent(space, i + 1, end, tail_end))
				return -1;
			space->free[i].end = start;
			break;
		}
		if (e->start < start) {
			e->end = start;
			i++;
		} else if (e->end > end) {
			e->start = end;
			break;
		} else {
			remove_extent(space, i);
		}
	}
	return was_free;
}

/* Adds [start, end) to the free list, merging with neighbours and with any
 * part already free. */
static void give_range(struct address_space *space, uint64_t start, uint64_t end)
{
	if (take_range(space, start, end) < 0)
		return; /* cannot happen for a range we are about to free whole, but stay safe */
	unsigned i = 0;
	while (i < space->free_count && space->free[i].end < start)
		i++;
	if (i < space->free_count && space->free[i].end == start) {
		space->free[i].end = end;
		if (i + 1 < space->free_count && space->free[i + 1].start == end) {
			space->free[i].end = space->free[i + 1].end;
			remove_extent(space, i + 1);
		}
		return;
	}
	if (i < space->free_count && space->free[i].start == end) {
		space->free[i].start = start;
		return;
	}
	insert_extent(space, i, start, end); /* a full list leaks the range rather than corrupting it */
}

static void note_usage(struct address_space *space)
{
	uint64_t used = address_space_used(space);
	if (used > space->peak_bytes)
		space->peak_bytes = used;
}

uint64_t address_space_used(const struct address_space *space)
{
	return page_up(space->brk_end) - space->brk_start + space->mapped_bytes;
}

uint64_t address_space_map(struct address_space *space, uint64_t length)
{
	if (length == 0 || length > space->arena_end - space->arena_start) {
		space->failed_request = length;
		space->failed_on_limit = false;
		return 0;
	}
	length = page_up(length);
	if (address_space_used(space) + length > space->limit) {
		space->failed_request = length;
		space->failed_on_limit = true;
		return 0;
	}
	for (unsigned i = space->free_count; i-- > 0;) {
		struct address_extent *e = &space->free[i];
		if (e->end - e->start < length)
			continue;
		uint64_t address = e->end - length;
		/* Never hand out the page the brk heap would grow into next. */
		if (address < page_up(space->brk_end))
			continue;
		e->end = address;
		if (e->end == e->start)
			remove_extent(space, i);
		space->mapped_bytes += length;
		note_usage(space);
		return address;
	}
	space->failed_request = length;
	space->failed_on_limit = false;
	return 0;
}

int address_space_map_fixed(struct address_space *space, uint64_t address, uint64_t length)
{
	length = page_up(length);
	if (address < page_up(space->brk_end) || address + length > space->arena_end || address + length < address)
		return -1;
	int64_t was_free = take_range(space, address, address + length);
	if (was_free < 0)
		return -1;
	space->mapped_bytes += (uint64_t)was_free;
	note_usage(space);
	return (uint64_t)was_free == length ? 1 : 0;
}

bool address_space_grow(struct address_space *space, uint64_t address, uint64_t old_length, uint64_t new_length)
{
	uint64_t old_end = address + page_up(old_length), new_end = address + page_up(new_length);
	if (new_end <= old_end)
		return true;
	if (address_space_used(space) + (new_end - old_end) > space->limit)
		return false;
	for (unsigned i = 0; i < space->free_count; i++) {
		struct address_extent *e = &space->free[i];
		if (e->start == old_end && e->end >= new_end) {
			e->start = new_end;
			if (e->start == e->end)
				remove_extent(space, i);
			space->mapped_bytes += new_end - old_end;
			note_usage(space);
			return true;
		}
	}
	return false;
}

void address_space_unmap(struct address_space *space, uint64_t address, uint64_t length, uint64_t *discard_start,
			 uint64_t *discard_length)
{
	uint64_t start = address, end = address + page_up(length);
	uint64_t floor = page_up(space->brk_end);
	*discard_start = *discard_length = 0;
	if (start < floor)
		start = floor;
	if (end > space->arena_end)
		end = space->arena_end;
	if (end <= start)
		return;
	/* Count what was in use, so mapped_bytes stays exact. */
	uint64_t in_use = end - start;
	for (unsigned i = 0; i < space->free_count; i++) {
		const struct address_extent *e = &space->free[i];
		uint64_t lo = e->start > start ? e->start : start, hi = e->end < end ? e->end : end;
		if (hi > lo)
			in_use -= hi - lo;
	}
	space->mapped_bytes -= in_use < space->mapped_bytes ? in_use : space->mapped_bytes;
	give_range(space, start, end);
	*discard_start = start;
	*discard_length = end - start;
}

uint64_t address_space_brk(struct address_space *space, uint64_t requested, uint64_t *discard_start,
			   uint64_t *discard_length)
{
	*discard_start = *discard_length = 0;
	if (requested < space->brk_start)
		return space->brk_end;
	uint64_t old_top = page_up(space->brk_end), new_top = page_up(requested);
	if (new_top > old_top) {
		if (address_space_used(space) + (new_top - old_top) > space->limit) {
			space->failed_request = new_top - old_top;
			space->failed_on_limit = true;
			return space->brk_end;
		}
		/* The pages must be free and directly above the current break. */
		for (unsigned i = 0; i < space->free_count; i++) {
			struct address_extent *e = &space->free[i];
			if (e->start <= old_top && e->end >= new_top) {
				if (take_range(space, old_top, new_top) < 0)
					break;
				space->brk_end = requested;
				note_usage(space);
				return space->brk_end;
			}
		}
		space->failed_request = new_top - old_top;
		space->failed_on_limit = false;
		return space->brk_end;
	}
	if (new_top < old_top) {
		give_range(space, new_top, old_top);
		*discard_start = new_top;
		*discard_length = old_top - new_top;
	}
	space->brk_end = requested;
	return space->brk_end;
}

bool address_space_is_allocated(const struct address_space *space, uint64_t address, uint64_t length)
{
	if (address < space->arena_start || address + length > space->arena_end || address + length < address)
		return false;
	for (unsigned i = 0; i < space->free_count; i++)
		if (space->free[i].start < address + length && space->free[i].end > address)
			return false;
	return true;
}
