/* Guest RAM backed by a memfd (see guest_memory.h). */
#include "runner/guest_memory.h"
#include "runner/layout.h"
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include "runner/pagemap_scan.h"
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const uint64_t guest_memory_user_start = LAYOUT_USER_START;

int guest_memory_create(struct guest_memory *memory, uint64_t size, const char *name, struct tkvm_error *err)
{
	memset(memory, 0, sizeof *memory);
	memory->memfd = -1;
	memory->memfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memory->memfd < 0)
		return tkvm_error_set(err, -errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(memory->memfd, (off_t)size) < 0) {
		int e = errno;
		close(memory->memfd);
		memory->memfd = -1;
		return tkvm_error_set(err, -e, "cannot size guest memory to %llu MiB: %s", (unsigned long long)(size >> 20), strerror(e));
	}
	void *host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memory->memfd, 0);
	if (host == MAP_FAILED) {
		int e = errno;
		close(memory->memfd);
		memory->memfd = -1;
		return tkvm_error_set(err, -e, "cannot map %llu MiB of guest memory: %s", (unsigned long long)(size >> 20), strerror(e));
	}
	memory->host = host;
	memory->size = size;
	memory->shared = true;
	memory->owns_memfd = true;
	return 0;
}

int guest_memory_freeze(struct guest_memory *memory, struct tkvm_error *err)
{
	/* F_SEAL_WRITE needs every writable shared mapping gone first. */
	if (munmap(memory->host, memory->size) < 0)
		return tkvm_error_set(err, -errno, "unmapping the template: %s", strerror(errno));
	memory->host = NULL;
	if (fcntl(memory->memfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return tkvm_error_set(err, -errno, "sealing the template memory: %s", strerror(errno));
	void *view = mmap(NULL, memory->size, PROT_READ, MAP_SHARED | MAP_NORESERVE, memory->memfd, 0);
	if (view == MAP_FAILED)
		return tkvm_error_set(err, -errno, "mapping the template read-only: %s", strerror(errno));
	memory->host = view;
	memory->frozen = true;
	return 0;
}

int guest_memory_map_private(struct guest_memory *memory, const struct guest_memory *template_memory,
			     struct tkvm_error *err)
{
	memset(memory, 0, sizeof *memory);
	memory->memfd = template_memory->memfd;
	memory->size = template_memory->size;
	void *host = mmap(NULL, memory->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, memory->memfd, 0);
	if (host == MAP_FAILED) {
		memory->memfd = -1;
		return tkvm_error_set(err, -errno, "mapping a request VM's memory: %s", strerror(errno));
	}
	memory->host = host;
	return 0;
}

int64_t guest_memory_reset(struct guest_memory *memory, const struct guest_memory *template_memory,
			   uint64_t give_back_pages)
{
	static __thread int pagemap = -1;
	static __thread struct page_region runs[1024];
	if (pagemap < 0)
		pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		return -errno;
	uint64_t start = (uint64_t)(uintptr_t)memory->host, end = start + memory->size;
	int64_t pages = 0;
	/* Pages present and not the file's own are the copies this VM wrote. */
	for (uint64_t cursor = start; cursor < end;) {
		struct pm_scan_arg scan = {
			.size = sizeof scan,
			.start = cursor,
			.end = end,
			.vec = (uint64_t)(uintptr_t)runs,
			.vec_len = sizeof runs / sizeof runs[0],
			.category_inverted = PAGE_IS_FILE,
			.category_mask = PAGE_IS_PRESENT | PAGE_IS_FILE,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_FILE,
		};
		long count = ioctl(pagemap, PAGEMAP_SCAN, &scan);
		if (count < 0)
			return -errno;
		for (long i = 0; i < count; i++) {
			uint64_t offset = runs[i].start - start, length = runs[i].end - runs[i].start;
			pages += (int64_t)(length / GUEST_PAGE_SIZE);
			if (give_back_pages && (uint64_t)pages > give_back_pages)
				madvise(memory->host + offset, length, MADV_DONTNEED);
			else
				memcpy(memory->host + offset, template_memory->host + offset, length);
		}
		/* The kernel stops early when the vector is full. */
		if (count < (long)(sizeof runs / sizeof runs[0]) || scan.walk_end >= end)
			break;
		cursor = scan.walk_end;
	}
	return pages;
}

void guest_memory_destroy(struct guest_memory *memory)
{
	if (memory->host)
		munmap(memory->host, memory->size);
	if (memory->memfd >= 0 && memory->owns_memfd)
		close(memory->memfd);
	memory->host = NULL;
	memory->memfd = -1;
}

const char *guest_memory_string(const struct guest_memory *memory, uint64_t address, size_t max_length, size_t *length)
{
	if (address < guest_memory_user_start || address >= memory->size)
		return NULL;
	uint64_t available = memory->size - address;
	uint64_t scan = available < (uint64_t)max_length + 1 ? available : (uint64_t)max_length + 1;
	const char *start = (const char *)memory->host + address;
	const char *end = memchr(start, 0, scan);
	if (!end)
		return NULL;
	if (length)
		*length = (size_t)(end - start);
	return start;
}

void guest_memory_discard(struct guest_memory *memory, uint64_t address, uint64_t length)
{
	if (!length || address > memory->size || length > memory->size - address)
		return;
	/* Zero in place rather than give pages back: a page given back makes
	 * the guest's next touch refault in KVM (~32 us each on PVM), and
	 * programs reuse freed memory at once (malloc's mmap/munmap churn).
	 * Pages never touched are not resident and already read as zero, so
	 * mincore limits the work to the pages actually used. */
	static __thread unsigned char residency[4096];
	uint8_t *start = memory->host + address;
	for (uint64_t done = 0; done < length;) {
		uint64_t pages = (length - done) / GUEST_PAGE_SIZE;
		if (pages > sizeof residency)
			pages = sizeof residency;
		if (pages == 0 || mincore(start + done, pages * GUEST_PAGE_SIZE, residency) < 0) {
			memset(start + done, 0, length - done);
			return;
		}
		for (uint64_t i = 0; i < pages;) {
			if (!(residency[i] & 1)) {
				i++;
				continue;
			}
			uint64_t run = i;
			while (run < pages && (residency[run] & 1))
				run++;
			memset(start + done + i * GUEST_PAGE_SIZE, 0, (run - i) * GUEST_PAGE_SIZE);
			i = run;
		}
		done += pages * GUEST_PAGE_SIZE;
	}
}
