/* brk, mmap, munmap, mremap, mprotect, madvise over memory the page tables
 * already map (nothing here edits a page-table entry: see spec/kvm-host.md).
 * Protections cannot change after boot, so mprotect succeeds without
 * effect; freed memory is zeroed so the next mmap reads zeros. */
#include "runner/syscalls.h"
#include "runner/layout.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static uint64_t page_up(uint64_t x) { return (x + GUEST_PAGE_SIZE - 1) & ~(GUEST_PAGE_SIZE - 1); }

static void discard(struct machine *m, uint64_t start, uint64_t length)
{
	if (length)
		guest_memory_discard(&m->memory, start, length);
}

int64_t syscall_brk(struct machine *m, const uint64_t *a)
{
	uint64_t start, length;
	uint64_t result = address_space_brk(&m->space, a[0], &start, &length);
	discard(m, start, length);
	return (int64_t)result;
}

/* Fills a fresh private file mapping from the file, as a MAP_PRIVATE read. */
static int64_t fill_from_file(struct machine *m, uint64_t address, uint64_t length, int guest_fd, uint64_t offset)
{
	int host_fd = file_table_get(&m->files, guest_fd);
	if (host_fd < 0)
		return host_fd;
	uint8_t *target = guest_memory_user_range(&m->memory, address, length);
	if (!target)
		return -EFAULT;
	uint64_t done = 0;
	while (done < length) {
		ssize_t n = pread(host_fd, target + done, length - done, (off_t)(offset + done));
		if (n < 0)
			return -errno;
		if (n == 0)
			break; /* past the end of the file: the rest stays zero */
		done += (uint64_t)n;
	}
	return 0;
}

int64_t syscall_mmap(struct machine *m, const uint64_t *a)
{
	uint64_t hint = a[0], length = a[1], flags = a[3], offset = a[5];
	int fd = (int)a[4];
	if (length == 0 || length > m->memory.size)
		return length == 0 ? -EINVAL : -ENOMEM;
	if (!(flags & MAP_ANONYMOUS) && (offset & (GUEST_PAGE_SIZE - 1)))
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS) && file_table_get(&m->files, fd) < 0)
		return -EBADF;
	uint64_t address;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (hint & (GUEST_PAGE_SIZE - 1))
			return -EINVAL;
		if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED)) {
			for (uint64_t p = hint; p < hint + page_up(length); p += GUEST_PAGE_SIZE)
				if (address_space_is_allocated(&m->space, p, GUEST_PAGE_SIZE))
					return -EEXIST;
		}
		int was_free = address_space_map_fixed(&m->space, hint, length);
		if (was_free < 0)
			return -ENOMEM;
		if (!was_free)
			discard(m, hint, page_up(length));
		address = hint;
	} else {
		address = address_space_map(&m->space, length);
		if (!address)
			return -ENOMEM;
	}
	if (!(flags & MAP_ANONYMOUS)) {
		int64_t r = fill_from_file(m, address, length, fd, offset);
		if (r < 0) {
			uint64_t start, discard_length;
			address_space_unmap(&m->space, address, length, &start, &discard_length);
			discard(m, start, discard_length);
			return r;
		}
	}
	return (int64_t)address;
}

int64_t syscall_munmap(struct machine *m, const uint64_t *a)
{
	if ((a[0] & (GUEST_PAGE_SIZE - 1)) || a[1] == 0 || a[0] + a[1] < a[0])
		return -EINVAL;
	uint64_t start, length;
	address_space_unmap(&m->space, a[0], a[1], &start, &length);
	discard(m, start, length);
	return 0;
}

int64_t syscall_mremap(struct machine *m, const uint64_t *a)
{
	uint64_t old_address = a[0], old_size = page_up(a[1]), new_size = page_up(a[2]), flags = a[3];
	if ((old_address & (GUEST_PAGE_SIZE - 1)) || new_size == 0 || (flags & ~(uint64_t)(MREMAP_MAYMOVE | MREMAP_FIXED)))
		return -EINVAL;
	if (flags & MREMAP_FIXED)
		return -EINVAL; /* not offered */
	if (!address_space_is_allocated(&m->space, old_address, old_size ? old_size : GUEST_PAGE_SIZE))
		return -EFAULT;
	uint64_t start, length;
	if (new_size <= old_size) {
		address_space_unmap(&m->space, old_address + new_size, old_size - new_size, &start, &length);
		discard(m, start, length);
		return (int64_t)old_address;
	}
	if (address_space_grow(&m->space, old_address, old_size, new_size))
		return (int64_t)old_address;
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	uint64_t new_address = address_space_map(&m->space, new_size);
	if (!new_address)
		return -ENOMEM;
	memmove(m->memory.host + new_address, m->memory.host + old_address, old_size);
	address_space_unmap(&m->space, old_address, old_size, &start, &length);
	discard(m, start, length);
	return (int64_t)new_address;
}

int64_t syscall_mprotect(struct machine *m, const uint64_t *a)
{
	if (a[0] & (GUEST_PAGE_SIZE - 1))
		return -EINVAL;
	return 0;
}

int64_t syscall_madvise(struct machine *m, const uint64_t *a)
{
	if (a[0] & (GUEST_PAGE_SIZE - 1))
		return -EINVAL;
	/* MADV_DONTNEED promises zeros on the next read of anonymous memory. */
	if (a[2] == MADV_DONTNEED && address_space_is_allocated(&m->space, a[0], page_up(a[1])))
		discard(m, a[0], page_up(a[1]));
	return 0;
}
