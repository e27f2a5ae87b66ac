/* split: a known time split for the profiler tests (tkvm profile).
 * GET -> work_a() then work_b(), busy loops without syscalls where work_b
 * runs exactly three times work_a's iterations (1:3 time), then 200
 * text/plain "split <16 hex digits>\n". arg = work_a's iterations in
 * thousands (empty: 500, about 1 ms; work_b about 3 ms). */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <stdlib.h>

static char body[64];

/* noipa: never inlined, cloned (work_a.constprop.0) or folded with its
 * twin, so the profiler sees these names and nothing else. */
static __attribute__((noipa)) uint64_t finish(uint64_t x)
{
	return x ^ (x >> 29);
}

/* One dependent multiply-add per iteration: the same cost in both. Each
 * ends by calling finish() (not as a tail call), so neither is a leaf:
 * GCC drops the frame pointer of leaf functions even with
 * -fno-omit-frame-pointer (unless -mno-omit-leaf-frame-pointer), and a
 * sample in a frameless leaf loses its caller, on_get. */
static __attribute__((noipa)) uint64_t work_a(uint64_t iterations, uint64_t x)
{
	for (uint64_t i = 0; i < iterations; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ volatile("" : "+r"(x));
	}
	x = finish(x);
	__asm__ volatile("" : "+r"(x));
	return x;
}

static __attribute__((noipa)) uint64_t work_b(uint64_t iterations, uint64_t x)
{
	for (uint64_t i = 0; i < 3 * iterations; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ volatile("" : "+r"(x));
	}
	x = finish(x);
	__asm__ volatile("" : "+r"(x));
	return x;
}

static void on_get(const char *url, const char *arg)
{
	(void)url;
	uint64_t thousands = arg && arg[0] ? strtoull(arg, NULL, 10) : 500;
	uint64_t x = work_a(thousands * 1000, 1);
	x = work_b(thousands * 1000, x);
	snprintf(body, sizeof body, "split %016llx\n", (unsigned long long)x);
	backend_response_str(200, "text/plain", body);
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
