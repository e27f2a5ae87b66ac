/* hello: the callback model in its simplest form.
 * GET  -> 200 text/plain "Hello from tkvm: <url>\n"
 * POST -> 200 text/plain "posted <len> bytes to <url>\n"; boot prints "hello: ready\n" to stdout. */
#include "sdk/kvm_api.h"
#include <stdio.h>

static char body[80000];  /* url_len is a u16: any url fits */

static void on_get(const char *url, const char *arg)
{
	(void)arg;
	snprintf(body, sizeof(body), "Hello from tkvm: %s\n", url);
	backend_response_str(200, "text/plain", body);
}

static void on_post(const char *url, const char *arg, const char *content_type,
	const uint8_t *data, size_t len)
{
	(void)arg; (void)content_type; (void)data;
	snprintf(body, sizeof(body), "posted %zu bytes to %s\n", len, url);
	backend_response_str(200, "text/plain", body);
}

int main(void)
{
	set_backend_get(on_get);
	set_backend_post(on_post);
	printf("hello: ready\n");
	fflush(stdout);  /* the program never exits, so nothing else would flush it */
	wait_for_requests();
}
