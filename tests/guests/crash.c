/* crash: faults during a request, no on_error handler (so the host answers 500 with an empty body).
 * /null write through NULL in deref_null(), /ud2 in illegal_instruction(), /div0 in divide_by_zero(),
 * /abort abort(), /stack recurse_forever(), /exit exit(3); /ok -> 200 text/plain "fine\n"; else 404. */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <string.h>

/* volatile keeps the compiler from proving the fault and replacing it with its own trap. */
static int *volatile null_pointer;
static volatile int zero;
static volatile int keep_recursing = 1;

__attribute__((noinline)) void deref_null(void)
{
	*null_pointer = 42;
}

__attribute__((noinline)) void illegal_instruction(void)
{
	__asm__ volatile("ud2");
}

__attribute__((noinline)) int divide_by_zero(void)
{
	return 1000 / zero;
}

__attribute__((noinline)) unsigned long recurse_forever(unsigned long depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	unsigned long result = depth;
	if (keep_recursing)
		result += recurse_forever(depth + 1);
	return result + (unsigned long)frame[0];  /* work after the call: no tail call */
}

static char body[256];

static void on_get(const char *url, const char *arg)
{
	(void)arg;
	if (strcmp(url, "/null") == 0)
		deref_null();
	else if (strcmp(url, "/ud2") == 0)
		illegal_instruction();
	else if (strcmp(url, "/div0") == 0)
		snprintf(body, sizeof(body), "%d\n", divide_by_zero());
	else if (strcmp(url, "/abort") == 0)
		abort();
	else if (strcmp(url, "/stack") == 0)
		snprintf(body, sizeof(body), "%lu\n", recurse_forever(0));
	else if (strcmp(url, "/exit") == 0)
		exit(3);
	else if (strcmp(url, "/ok") == 0)
		backend_response_str(200, "text/plain", "fine\n");
	else {
		snprintf(body, sizeof(body), "unknown crash %.200s\n", url);
		backend_response_str(404, "text/plain", body);
	}
	/* Only reached if a fault was survived. */
	backend_response_str(500, "text/plain", "survived the crash\n");
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
