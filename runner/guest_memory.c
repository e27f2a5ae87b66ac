/* Guest RAM backed by a memfd (see guest_memory.h). */
#include "runner/guest_memory.h"
#include "runner/layout.h"
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
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
	return 0;
}

void guest_memory_destroy(struct guest_memory *memory)
{
	if (memory->host)
		munmap(memory->host, memory->size);
	if (memory->memfd >= 0)
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
