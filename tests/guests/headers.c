/* headers: the request handler (index 3) and the header calls. Answers 201 text/plain with body lines
 * "method=<m>", "url=<u>", "arg=<a>", "http_method=<m>", "headers=<n>", then each request header line verbatim;
 * response headers "X-Reply: <X-Test value or none>", "X-Set: b", "X-Extra: yes" (no X-Gone); see README. */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <string.h>

static char body[1 << 20];
static size_t body_len;

static void add_line(const char *fmt, const char *value, size_t value_len)
{
	const int n = snprintf(body + body_len, sizeof(body) - body_len, fmt, (int)value_len, value);
	if (n > 0)
		body_len += (size_t)n < sizeof(body) - body_len ? (size_t)n : sizeof(body) - body_len - 1;
}

/* The value part of a "Name: value" line found by http_find(). */
static const char *field_value(const char *line)
{
	const char *colon = strchr(line, ':');
	if (colon == NULL)
		return "";
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	return colon;
}

static void on_request(const struct kvm_request *req)
{
	body_len = 0;
	add_line("method=%.*s\n", req->method, req->method_len);
	add_line("url=%.*s\n", req->url, req->url_len);
	add_line("arg=%.*s\n", req->arg, req->arg_len);

	char method[32];
	const unsigned long method_len = http_method(method, sizeof(method) - 1);
	method[method_len < sizeof(method) ? method_len : 0] = 0;
	add_line("http_method=%.*s\n", method, strlen(method));

	char count[16];
	snprintf(count, sizeof(count), "%u", (unsigned)req->num_headers);
	add_line("headers=%.*s\n", count, strlen(count));
	for (unsigned i = 0; i < req->num_headers; i++)
		add_line("%.*s\n", req->headers[i].field, req->headers[i].field_len);

	char found[HTTP_FMT_SIZE];
	const unsigned found_len = http_find(REQ, "X-Test", found, sizeof(found) - 1);
	found[found_len < sizeof(found) ? found_len : 0] = 0;
	char reply[HTTP_FMT_SIZE + 16];
	snprintf(reply, sizeof(reply), "X-Reply: %s", found_len > 0 ? field_value(found) : "none");
	http_append(RESP, reply);

	http_set(RESP, "X-Set: a");
	http_set(RESP, "X-Set: b");     /* replaces X-Set: a */
	http_set(RESP, "X-Gone: 1");
	http_set(RESP, "X-Gone");       /* no colon: removes it */

	struct BackendResponseExtra extra;
	memset(&extra, 0, sizeof(extra));
	static const char extra_line[] = "X-Extra: yes";
	const struct ResponseHeader extra_header = { extra_line, sizeof(extra_line) - 1 };
	extra.headers = &extra_header;
	extra.num_headers = 1;
	if (strcmp(req->url, "/cache") == 0) {
		sys_set_cacheable(1, 10000, 0, 0);  /* ttl 10 000 ms */
		extra.cached = true;
		extra.ttl = 10.0f;
	}
	backend_response_extra(201, "text/plain", sizeof("text/plain") - 1, body, body_len, &extra);
}

int main(void)
{
	set_backend_request(on_request);
	wait_for_requests();
}
