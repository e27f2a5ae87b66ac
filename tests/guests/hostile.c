/* hostile: host calls with bad arguments, one per url (see README for each). The host must end the
 * request with a clear error (500, empty body), except /unknown-call -> 200 "enosys ok\n" and
 * /syscall-wild -> 200 "efault ok\n"; a call the host wrongly accepts answers 500 "host returned from <url>: <rax>\n". */
#define _GNU_SOURCE
#include "sdk/kvm_api.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WILD ((void *)0xdead0000000UL)  /* canonical, user half, never mapped */

/* A host call the SDK does not have: the host must answer -ENOSYS. */
extern long hostcall_unknown(void);
__asm__(".pushsection .text.hostcall_unknown,\"ax\",@progbits\n"
	".type hostcall_unknown, @function\n"
	"hostcall_unknown:\n"
	"mov $0x12345, %eax\n"
	"out %eax, $0\n"
	"ret\n"
	".size hostcall_unknown, . - hostcall_unknown\n"
	".popsection\n");

static char body[256];
static char long_ctype[5000];
static struct ResponseHeader many_headers[65];

static void on_get_late(const char *url, const char *arg)
{
	(void)url; (void)arg;
	backend_response_str(200, "text/plain", "late handler\n");
}

static KVM_NORETURN void returned(const char *url, long result)
{
	snprintf(body, sizeof(body), "host returned from %.100s: %ld\n", url, result);
	backend_response_str(500, "text/plain", body);
}

static void on_get(const char *url, const char *arg)
{
	(void)arg;
	if (strcmp(url, "/wild-body") == 0) {
		sys_backend_response(200, "text/plain", 10, WILD, 16, NULL);
	} else if (strcmp(url, "/huge-length") == 0) {
		sys_backend_response(200, "text/plain", 10, body, 1ULL << 40, NULL);
	} else if (strcmp(url, "/wild-ctype") == 0) {
		sys_backend_response(200, WILD, 10, "x", 1, NULL);
	} else if (strcmp(url, "/long-ctype") == 0) {
		memset(long_ctype, 'a', sizeof(long_ctype));
		sys_backend_response(200, long_ctype, sizeof(long_ctype), "x", 1, NULL);
	} else if (strcmp(url, "/bad-status") == 0) {
		sys_backend_response(99, "text/plain", 10, "x", 1, NULL);
	} else if (strcmp(url, "/many-headers") == 0) {
		static const char line[] = "X-Many: 1";
		for (unsigned i = 0; i < 65; i++) {
			many_headers[i].field = line;
			many_headers[i].field_len = sizeof(line) - 1;
		}
		struct BackendResponseExtra extra;
		memset(&extra, 0, sizeof(extra));
		extra.headers = many_headers;
		extra.num_headers = 65;
		sys_backend_response(200, "text/plain", 10, "x", 1, &extra);
	} else if (strcmp(url, "/wild-extra") == 0) {
		sys_backend_response(200, "text/plain", 10, "x", 1, WILD);
	} else if (strcmp(url, "/unknown-call") == 0) {
		const long result = hostcall_unknown();
		if (result == -ENOSYS)
			backend_response_str(200, "text/plain", "enosys ok\n");
		returned(url, result);
	} else if (strcmp(url, "/bad-where") == 0) {
		returned(url, sys_http_append(7, "X-Where: 7", 10));
	} else if (strcmp(url, "/find-wild") == 0) {
		http_append(RESP, "X-Find: 1");
		returned(url, (long)sys_http_find(RESP, "X-Find", 6, WILD, 100));
	} else if (strcmp(url, "/register-late") == 0) {
		register_func(KVM_HANDLER_GET, on_get_late);
	} else if (strcmp(url, "/wait-twice") == 0) {
		wait_for_requests();
	} else if (strcmp(url, "/syscall-wild") == 0) {
		errno = 0;
		const ssize_t result = write(1, WILD, 100);
		if (result == -1 && errno == EFAULT)
			backend_response_str(200, "text/plain", "efault ok\n");
		snprintf(body, sizeof(body), "write returned %zd, errno %d\n", result, errno);
		backend_response_str(500, "text/plain", body);
	} else if (strcmp(url, "/huge-log") == 0) {
		sys_log(body, 1ULL << 40);
	} else if (strcmp(url, "/ok") == 0) {
		backend_response_str(200, "text/plain", "fine\n");
	} else {
		snprintf(body, sizeof(body), "unknown %.200s\n", url);
		backend_response_str(404, "text/plain", body);
	}
	returned(url, 0);
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
