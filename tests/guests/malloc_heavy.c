/* malloc_heavy: allocator stress. GET arg=N (default 10000): N allocations of 1 B..1 MiB (xorshift, seed 42),
 * at most 64 alive at once, each stamped with a pattern, every other one realloc'ed, all verified and freed;
 * 200 text/plain "ok <N> allocations, checksum <16 hex>\n" (same on glibc and musl), 500 "corrupt at <i>\n". */
#include "sdk/kvm_api.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LIVE_SLOTS 64
#define MAX_SIZE   (1u << 20)

struct block {
	unsigned char *ptr;
	size_t size;
	uint64_t tag;
};

static uint64_t rng_state;

static uint64_t xorshift64(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Log-uniform sizes from 1 B to 1 MiB, so small blocks dominate as in real programs. */
static size_t random_size(void)
{
	const unsigned shift = (unsigned)(xorshift64() % 21);
	const size_t size = ((size_t)1 << shift) + (size_t)(xorshift64() % ((size_t)1 << shift));
	return size > MAX_SIZE ? MAX_SIZE : size;
}

static uint64_t checksum;

static void mix(uint64_t value)
{
	for (int i = 0; i < 8; i++) {
		checksum ^= (value >> (8 * i)) & 0xff;
		checksum *= 0x100000001b3ULL;
	}
}

/* Every byte of small blocks; one byte per 256 plus the last 64 of large ones. */
static size_t stride_of(size_t size) { return size <= 4096 ? 1 : 256; }

static unsigned char pattern(uint64_t tag, size_t offset)
{
	return (unsigned char)((tag * 0x9e3779b97f4a7c15ULL + offset * 0x2545f491ULL) >> 56);
}

static void stamp(const struct block *b)
{
	const size_t stride = stride_of(b->size);
	for (size_t off = 0; off < b->size; off += stride)
		b->ptr[off] = pattern(b->tag, off);
	for (size_t off = b->size > 64 ? b->size - 64 : 0; off < b->size; off++)
		b->ptr[off] = pattern(b->tag, off);
}

/* Checks the first `size` bytes of the pattern (possibly a realloc'ed prefix). */
static int verify(const struct block *b, size_t size, size_t stamped_size)
{
	const size_t stride = stride_of(stamped_size);
	uint64_t sum = 0;
	for (size_t off = 0; off < size; off += stride) {
		if (b->ptr[off] != pattern(b->tag, off))
			return -1;
		sum += b->ptr[off];
	}
	for (size_t off = stamped_size > 64 ? stamped_size - 64 : 0; off < size; off++) {
		if (b->ptr[off] != pattern(b->tag, off))
			return -1;
		sum += b->ptr[off];
	}
	mix(sum);
	return 0;
}

/* Returns -1 on success, else the index of the allocation found corrupt. */
static long churn(unsigned long count)
{
	struct block live[LIVE_SLOTS];
	memset(live, 0, sizeof(live));
	rng_state = 42;
	checksum = 0xcbf29ce484222325ULL;
	for (unsigned long i = 0; i < count; i++) {
		struct block *b = &live[i % LIVE_SLOTS];
		if (b->ptr != NULL) {
			if (verify(b, b->size, b->size) != 0)
				return (long)b->tag;
			free(b->ptr);
		}
		b->tag = i;
		b->size = random_size();
		b->ptr = malloc(b->size);
		if (b->ptr == NULL)
			return (long)i;
		stamp(b);
		mix(b->size);
		if (i % 2 == 1) {
			const size_t old_size = b->size, new_size = random_size();
			unsigned char *moved = realloc(b->ptr, new_size);
			if (moved == NULL)
				return (long)i;
			b->ptr = moved;
			if (verify(b, old_size < new_size ? old_size : new_size, old_size) != 0)
				return (long)i;
			b->size = new_size;
			stamp(b);
			mix(new_size);
		}
	}
	for (unsigned i = 0; i < LIVE_SLOTS; i++) {
		if (live[i].ptr == NULL)
			continue;
		if (verify(&live[i], live[i].size, live[i].size) != 0)
			return (long)live[i].tag;
		free(live[i].ptr);
	}
	return -1;
}

static char body[128];

static int run(const char *arg)
{
	unsigned long count = 10000;
	if (arg != NULL && arg[0] != 0) {
		char *end;
		errno = 0;
		count = strtoul(arg, &end, 10);
		if (errno != 0 || *end != 0 || count > 100000000UL) {
			snprintf(body, sizeof(body), "bad count: %.60s\n", arg);
			return 400;
		}
	}
	const long bad = churn(count);
	if (bad >= 0) {
		snprintf(body, sizeof(body), "corrupt at %ld\n", bad);
		return 500;
	}
	snprintf(body, sizeof(body), "ok %lu allocations, checksum %016llx\n",
		count, (unsigned long long)checksum);
	return 200;
}

static void on_get(const char *url, const char *arg)
{
	(void)url;
	const int status = run(arg);
	backend_response_str(status, "text/plain", body);
}

/* Warm the allocator up before parking, so the template holds a used heap. */
static void warm_up(void)
{
	void *keep[256] = { 0 };
	rng_state = 7;
	for (unsigned i = 0; i < 4096; i++) {
		const unsigned slot = (unsigned)(xorshift64() % 256);
		const size_t size = random_size() / 16 + 1;
		if (keep[slot] != NULL && i % 3 == 0) {
			void *moved = realloc(keep[slot], size);
			if (moved != NULL)
				keep[slot] = moved;
		} else {
			free(keep[slot]);
			keep[slot] = malloc(size);
		}
		if (keep[slot] != NULL)
			memset(keep[slot], (int)i, size);
	}
	for (unsigned i = 0; i < 256; i++)
		free(keep[i]);
}

int main(int argc, char **argv)
{
	warm_up();
	if (IS_LINUX_MAIN()) {  /* natively: malloc_heavy [N] prints the response body */
		const int status = run(argc > 1 ? argv[1] : NULL);
		fputs(body, stdout);
		return status == 200 ? 0 : 1;
	}
	set_backend_get(on_get);
	wait_for_requests();
}
