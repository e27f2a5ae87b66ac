/* env: what the host put on the initial stack. GET -> 200 text/plain: "argc=<n>", one "argv[<i>]=<arg>" per
 * argument, one "env=<NAME=value>" per environment entry (in order), "at_random=present|absent",
 * "at_pagesz=<n>"; natively it prints the same. */
#define _GNU_SOURCE
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

static int saved_argc;
static char **saved_argv;
static char body[1 << 18];
static size_t body_len;

static KVM_PRINTF(1, 2) void line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	body_len += kvm_vformat(body + body_len, sizeof(body) - body_len, fmt, ap);
	va_end(ap);
}

static void describe(void)
{
	body_len = 0;
	line("argc=%d\n", saved_argc);
	for (int i = 0; i < saved_argc; i++)
		line("argv[%d]=%s\n", i, saved_argv[i]);
	for (char **e = environ; e != NULL && *e != NULL; e++)
		line("env=%s\n", *e);
	line("at_random=%s\n", getauxval(AT_RANDOM) != 0 ? "present" : "absent");
	line("at_pagesz=%lu\n", getauxval(AT_PAGESZ));
}

static void on_get(const char *url, const char *arg)
{
	(void)url; (void)arg;
	describe();
	backend_response(200, "text/plain", 10, body, body_len);
}

int main(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
	if (IS_LINUX_MAIN()) {
		describe();
		fwrite(body, 1, body_len, stdout);
		return 0;
	}
	set_backend_get(on_get);
	wait_for_requests();
}
