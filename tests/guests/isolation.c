/* isolation: proves per-request reset. GET with arg "SECRET SIZE" first
 * looks for any earlier secret in a global, a heap block made in main, the
 * stack, a fresh malloc(SIZE) buffer and xmm15, then writes SECRET into all
 * of them. Answers 200 text/plain "clean\n", or "LEAK <where>: <found>\n".
 * GET /count answers "count=<n>\n" (requests this VM has seen: 1 when reset). */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARK "SECRET-"

static char global_secret[64];
static char *heap_block;
static int request_count;
static char answer[256];

static const char *find_mark(const char *p, size_t n)
{
	for (size_t i = 0; i + sizeof(MARK) - 1 <= n; i++)
		if (p[i] == 'S' && memcmp(p + i, MARK, sizeof(MARK) - 1) == 0)
			return p + i;
	return NULL;
}

/* Reads (and then fills) stack below the caller: what an earlier request
 * left there must be gone. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static __attribute__((noinline)) const char *stack_probe(const char *secret)
{
	volatile char area[16384];
	char copy[sizeof(area)];
	for (size_t i = 0; i < sizeof(area); i++)
		copy[i] = area[i];
	const char *found = find_mark(copy, sizeof(copy));
	static char where[64];
	if (found)
		snprintf(where, sizeof(where), "%.40s", found);
	for (size_t i = 0; i + 64 <= sizeof(area); i += 64)
		for (size_t k = 0; k < 40 && secret[k]; k++)
			area[i + k] = secret[k];
	return found ? where : NULL;
}
#pragma GCC diagnostic pop

static void on_get(const char *url, const char *arg)
{
	unsigned long long xmm; /* first, before any library code can touch it */
	__asm__ volatile("movq %%xmm15, %0" : "=r"(xmm));
	request_count++;
	if (strcmp(url, "/count") == 0) {
		snprintf(answer, sizeof(answer), "count=%d\n", request_count);
		backend_response_str(200, "text/plain", answer);
	}
	char secret[48];
	size_t size = 4096;
	if (sscanf(arg, "%40s %zu", secret, &size) < 1)
		snprintf(secret, sizeof(secret), MARK "none");
	const char *leak = NULL, *where = NULL;
	if ((leak = find_mark(global_secret, sizeof(global_secret))))
		where = "global";
	else if ((leak = find_mark(heap_block, 4096)))
		where = "heap";
	else if ((leak = stack_probe(secret)))
		where = "stack";
	else if (xmm == 0x5345435245542d21ull)
		where = "xmm15", leak = "register";
	char *big = malloc(size);
	if (!where && big && (leak = find_mark(big, size)))
		where = "malloc";
	char found[48] = "";
	if (where)
		snprintf(found, sizeof(found), "%.40s", leak); /* before it is overwritten below */
	snprintf(global_secret, sizeof(global_secret), "%s", secret);
	snprintf(heap_block, 4096, "%s", secret);
	if (big)
		for (size_t i = 0; i + 64 <= size; i += 4096)
			memcpy(big + i, secret, strlen(secret));
	unsigned long long marker = 0x5345435245542d21ull;
	__asm__ volatile("movq %0, %%xmm15" : : "r"(marker) : "xmm15");
	if (where)
		snprintf(answer, sizeof(answer), "LEAK %s: %s\n", where, found);
	else
		snprintf(answer, sizeof(answer), "clean\n");
	backend_response_str(200, "text/plain", answer);
}

int main(void)
{
	heap_block = calloc(1, 4096);
	set_backend_get(on_get);
	wait_for_requests();
}
