/* The smallest useful TinyKVM program: answers GET with a greeting and POST
 * with the size of what it received. It also runs natively (IS_LINUX_MAIN)
 * so it can be debugged like any program. Build: gcc -static -O2 -I. */
#include "sdk/kvm_api.h"
#include <stdio.h>

static void on_get(const char *url, const char *arg)
{
	char text[256];
	snprintf(text, sizeof text, "Hello from the sandbox! You asked for %s%s%s\n", url, *arg ? "?" : "", arg);
	backend_response_str(200, "text/plain", text);
}

static void on_post(const char *url, const char *arg, const char *content_type, const uint8_t *data, size_t length)
{
	(void)arg, (void)data;
	char text[256];
	snprintf(text, sizeof text, "Received %zu bytes of %s at %s\n", length, content_type, url);
	backend_response_str(200, "text/plain", text);
}

int main(void)
{
	if (IS_LINUX_MAIN()) {
		puts("hello: not in the sandbox; run me with `tkvm run`");
		return 0;
	}
	set_backend_get(on_get);
	set_backend_post(on_post);
	wait_for_requests();
}
