/* fetch: outbound HTTP through sys_fetch. GET answers 200 text/plain
 * "rc=<rc> status=<status> ctype=<ctype> length=<n>\n\n<body>" for:
 *   /get    GET of the URL in arg        /post  POST "posted-by-guest" (X-From: guest) to arg
 *   /small  GET into a 16-byte buffer    /headers  GET arg, the body replaced by the captured headers
 *   /self   GET "/target" (a self-request)        /target answers "target reached\n".
 * POST (any url) POSTs the request's body to the URL in arg, with header "Content-Type: <the
 * request's>", and answers the same way. */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <string.h>

static char answer[1 << 16];
static char small[16];
static char header_buffer[4096];

static void reply(long rc, const struct curl_op *op, const char *body, size_t length)
{
	int n = snprintf(answer, sizeof(answer), "rc=%ld status=%u ctype=%s length=%u\n\n", rc, op->status,
		rc == 0 ? op->ctype : "", rc == 0 ? op->content_length : 0);
	if (rc == 0 && body && length < sizeof(answer) - (size_t)n) {
		memcpy(answer + n, body, length);
		n += (int)length;
	}
	backend_response(200, "text/plain", 10, answer, (size_t)n);
}

static void on_get(const char *url, const char *arg)
{
	struct curl_op op;
	memset(&op, 0, sizeof(op));
	if (strcmp(url, "/target") == 0) {
		backend_response_str(200, "text/plain", "target reached\n");
	} else if (strcmp(url, "/self") == 0) {
		long rc = sys_fetch("/target", 7, &op, NULL, NULL);
		reply(rc, &op, op.content, op.content_length);
	} else if (strcmp(url, "/post") == 0) {
		struct curl_fields fields;
		memset(&fields, 0, sizeof(fields));
		CURL_SETFIELD(fields, 0, "X-From: guest");
		static const char payload[] = "posted-by-guest";
		op.post_buffer = payload;
		op.post_buflen = sizeof(payload) - 1;
		long rc = sys_fetch(arg, strlen(arg), &op, &fields, NULL);
		reply(rc, &op, op.content, op.content_length);
	} else if (strcmp(url, "/small") == 0) {
		op.content = small;
		op.content_length = sizeof(small);
		long rc = sys_fetch(arg, strlen(arg), &op, NULL, NULL);
		reply(rc, &op, op.content, op.content_length);
	} else if (strcmp(url, "/headers") == 0) {
		op.headers = header_buffer;
		op.headers_length = sizeof(header_buffer);
		long rc = sys_fetch(arg, strlen(arg), &op, NULL, NULL);
		reply(rc, &op, header_buffer, rc == 0 ? op.headers_length : 0);
	} else {
		long rc = sys_fetch(arg, strlen(arg), &op, NULL, NULL);
		reply(rc, &op, op.content, op.content_length);
	}
}

static void on_post(const char *url, const char *arg, const char *content_type, const uint8_t *data, size_t length)
{
	(void)url;
	static char type_line[256];
	struct curl_op op;
	struct curl_fields fields;
	memset(&op, 0, sizeof(op));
	memset(&fields, 0, sizeof(fields));
	snprintf(type_line, sizeof(type_line), "Content-Type: %s", content_type && *content_type ? content_type : "application/octet-stream");
	CURL_SETFIELD(fields, 0, type_line);
	op.post_buffer = data;
	op.post_buflen = (uint32_t)length;
	long rc = sys_fetch(arg, strlen(arg), &op, &fields, NULL);
	reply(rc, &op, op.content, op.content_length);
}

int main(void)
{
	set_backend_get(on_get);
	set_backend_post(on_post);
	wait_for_requests();
}
