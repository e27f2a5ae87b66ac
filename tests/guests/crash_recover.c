/* crash_recover: the on_error second chance. /null writes through NULL, then on_error answers
 * 503 text/plain "recovered: <what>\n" (<what> is the host's description); /double crashes in on_error too
 * (host answers 500, empty body); /ok -> 200 text/plain "fine\n"; else 404 "unknown <url>\n". */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <string.h>

static int *volatile null_pointer;
static char body[8192];

__attribute__((noinline)) void deref_null(void)
{
	*null_pointer = 42;
}

static void on_get(const char *url, const char *arg)
{
	(void)arg;
	if (strcmp(url, "/null") == 0 || strcmp(url, "/double") == 0)
		deref_null();
	if (strcmp(url, "/ok") == 0)
		backend_response_str(200, "text/plain", "fine\n");
	snprintf(body, sizeof(body), "unknown %.200s\n", url);
	backend_response_str(404, "text/plain", body);
}

static void on_error(const char *url, const char *arg, const char *what)
{
	(void)arg;
	if (strcmp(url, "/double") == 0)
		deref_null();
	snprintf(body, sizeof(body), "recovered: %s\n", what != NULL ? what : "(null)");
	backend_response_str(503, "text/plain", body);
}

int main(void)
{
	set_backend_get(on_get);
	set_on_error(on_error);
	wait_for_requests();
}
