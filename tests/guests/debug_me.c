/* debug_me: for tkvm debug's hooks. GET /bp calls breakpoint() (the request waits for gdb
 * when allow_debug is on, else the host logs it) and answers 200 text/plain "after
 * breakpoint <counter>\n", where counter is a global gdb may change while stopped;
 * GET /crash writes through NULL in crash_here(); anything else answers "fine\n". */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <string.h>

static volatile int counter = 1;
static char answer[64];

static __attribute__((noinline)) void crash_here(void)
{
	*(volatile int *)0 = counter;
}

static void on_get(const char *url, const char *arg)
{
	(void)arg;
	if (strcmp(url, "/bp") == 0) {
		breakpoint();
		snprintf(answer, sizeof(answer), "after breakpoint %d\n", counter);
		backend_response_str(200, "text/plain", answer);
	}
	if (strcmp(url, "/crash") == 0)
		crash_here();
	backend_response_str(200, "text/plain", "fine\n");
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
