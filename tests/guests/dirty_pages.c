/* dirty_pages: for benchmarks of reset cost. GET with arg N writes one byte
 * into each of N distinct 4 KiB pages of a 32 MiB buffer (N <= 8192) and
 * answers 200 text/plain "dirtied <N>\n". */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <stdlib.h>

#define PAGES 8192
static char buffer[PAGES * 4096];
static char answer[64];

static void on_get(const char *url, const char *arg)
{
	(void)url;
	long n = strtol(arg, NULL, 10);
	if (n < 0 || n > PAGES)
		n = 0;
	for (long i = 0; i < n; i++)
		((volatile char *)buffer)[i * 4096] = (char)(i + 1);
	snprintf(answer, sizeof(answer), "dirtied %ld\n", n);
	backend_response_str(200, "text/plain", answer);
}

int main(void)
{
	for (long i = 0; i < PAGES; i++)
		buffer[i * 4096] = 0; /* make the pages the template's own */
	set_backend_get(on_get);
	wait_for_requests();
}
