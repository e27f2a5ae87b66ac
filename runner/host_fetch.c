/* sys_fetch (0x20000) and sys_request (0x20001): the guest's curl_op,
 * curl_fields and curl_options are checked and copied, the URL is checked
 * against the program's allowed_hosts, and the embedder's fetch hook does
 * the transfer; the answer is written back into the program's structures
 * (spec/guest-abi.md). The policy lives here so that every embedder
 * enforces the same one. */
#include "runner/machine.h"
#include "runner/syscalls.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FETCH_URL_MAX 1024
#define CURL_OP_SIZE 176
#define CURL_FIELDS_SIZE 120
#define CURL_FIELDS_COUNT 12
#define CURL_OPTIONS_SIZE 24
#define HEADERS_CAPTURE_MIN 64
/* CURLcode values the program may get back (negated). */
#define CURLE_UNSUPPORTED_PROTOCOL 1
#define CURLE_URL_MALFORMAT 3
#define CURLE_COULDNT_CONNECT 7
#define CURLE_REMOTE_ACCESS_DENIED 9
#define CURLE_WRITE_ERROR 23
#define CURLE_OUT_OF_MEMORY 27

static void fetch_log(struct machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fetch_log(struct machine *m, const char *fmt, ...)
{
	char line[1400];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (m->hooks.log && n > 0)
		m->hooks.log(m->hooks.context, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	machine_trace(m, "[fetch] %s", line);
}

/* "http(s)://[user@]host[:port]/..." → host and host:port; 0 or -1. */
static int url_authority(const char *url, char *host, size_t host_size, char *host_port, size_t port_size)
{
	const char *p = strstr(url, "://");
	if (!p)
		return -1;
	p += 3;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n == 0 || n >= port_size)
		return -1;
	memcpy(host_port, p, n);
	host_port[n] = 0;
	size_t h = n;
	if (host_port[0] == '[') { /* [v6]:port */
		const char *close = strchr(host_port, ']');
		h = close ? (size_t)(close - host_port + 1) : n;
	} else {
		const char *colon = strchr(host_port, ':');
		if (colon)
			h = (size_t)(colon - host_port);
	}
	if (h >= host_size)
		return -1;
	memcpy(host, host_port, h);
	host[h] = 0;
	return 0;
}

static bool host_allowed(const struct tkvm_settings *s, const char *host, const char *host_port)
{
	for (size_t i = 0; i < s->allowed_host_count; i++) {
		const char *allowed = s->allowed_hosts[i];
		if (strcmp(allowed, "*") == 0 || strcasecmp(allowed, host_port) == 0 ||
		    (!strchr(allowed, ':') && strcasecmp(allowed, host) == 0))
			return true;
	}
	return false;
}

bool tkvm_url_allowed(const struct tkvm_settings *settings, const char *url)
{
	char host[256], host_port[300];
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return false;
	return url_authority(url, host, sizeof host, host_port, sizeof host_port) == 0 &&
	       host_allowed(settings, host, host_port);
}

/* Copies the response into the program's curl_op. */
static int64_t write_back(struct machine *m, uint8_t *op, struct tkvm_fetch_response *r)
{
	uint32_t status = (uint32_t)r->status;
	memcpy(op + 0, &status, 4);
	r->content_type[sizeof r->content_type - 1] = 0;
	uint32_t ctlen = (uint32_t)strlen(r->content_type) + 1;
	memcpy(op + 48, r->content_type, ctlen);
	memcpy(op + 44, &ctlen, 4);

	uint64_t headers;
	uint32_t headers_capacity;
	memcpy(&headers, op + 16, 8);
	memcpy(&headers_capacity, op + 24, 4);
	if (headers_capacity >= HEADERS_CAPTURE_MIN) {
		uint32_t length = (uint32_t)(r->headers_length < headers_capacity - 1 ? r->headers_length : headers_capacity - 1);
		if (!headers) {
			length = (uint32_t)r->headers_length;
			headers = address_space_map(&m->space, (uint64_t)length + 1);
			if (!headers)
				return -CURLE_OUT_OF_MEMORY;
			memcpy(op + 16, &headers, 8);
		}
		uint8_t *target = guest_memory_user_range(&m->memory, headers, (uint64_t)length + 1);
		if (!target)
			return -CURLE_WRITE_ERROR;
		if (length)
			memcpy(target, r->headers, length);
		target[length] = 0;
		memcpy(op + 24, &length, 4);
	}

	uint64_t content;
	uint32_t capacity;
	memcpy(&content, op + 32, 8);
	memcpy(&capacity, op + 40, 4);
	if (r->body_length > UINT32_MAX)
		return -CURLE_WRITE_ERROR;
	if (!content) {
		content = address_space_map(&m->space, r->body_length ? r->body_length : 1);
		if (!content)
			return -CURLE_OUT_OF_MEMORY;
		memcpy(op + 32, &content, 8);
	} else if (r->body_length > capacity) {
		fetch_log(m, "sys_fetch: the %zu-byte answer does not fit the program's %u-byte buffer", r->body_length, capacity);
		return -CURLE_WRITE_ERROR;
	}
	uint8_t *target = guest_memory_user_range(&m->memory, content, r->body_length);
	if (!target)
		return -CURLE_WRITE_ERROR;
	if (r->body_length)
		memcpy(target, r->body, r->body_length);
	uint32_t length = (uint32_t)r->body_length;
	memcpy(op + 40, &length, 4);
	return 0;
}

int64_t host_call_fetch(struct machine *m, const uint64_t *a, bool self_request, void (*bad)(struct machine *, const char *, const char *))
{
	const char *call = self_request ? "sys_request" : "sys_fetch";
	if (a[1] == 0 || a[1] > FETCH_URL_MAX) {
		bad(m, call, "url length must be 1..1024");
		return -1;
	}
	const char *url_text = guest_memory_user_range(&m->memory, a[0], a[1]);
	uint8_t *op = guest_memory_user_range(&m->memory, a[2], CURL_OP_SIZE);
	const uint8_t *fields = a[3] ? guest_memory_user_range(&m->memory, a[3], CURL_FIELDS_SIZE) : NULL;
	const uint8_t *options = a[4] ? guest_memory_user_range(&m->memory, a[4], CURL_OPTIONS_SIZE) : NULL;
	if (!url_text || !op || (a[3] && !fields) || (a[4] && !options)) {
		bad(m, call, !url_text ? "url is outside guest memory"
			     : !op ? "struct curl_op is outside guest memory"
			     : !fields && a[3] ? "struct curl_fields is outside guest memory"
					       : "struct curl_options is outside guest memory");
		return -1;
	}
	char url[FETCH_URL_MAX + 1];
	memcpy(url, url_text, a[1]);
	url[a[1]] = 0;
	if (strlen(url) != a[1]) {
		bad(m, call, "url contains a NUL byte");
		return -1;
	}

	const char *headers[CURL_FIELDS_COUNT];
	char *header_copies[CURL_FIELDS_COUNT] = {0};
	size_t header_count = 0;
	for (unsigned i = 0; fields && i < CURL_FIELDS_COUNT; i++) {
		uint64_t pointer;
		uint16_t length;
		memcpy(&pointer, fields + 8 * i, 8);
		memcpy(&length, fields + 96 + 2 * i, 2);
		if (!pointer || !length)
			break;
		const char *text = guest_memory_user_range(&m->memory, pointer, length);
		if (!text) {
			bad(m, call, "a curl_fields entry is outside guest memory");
			goto fail;
		}
		header_copies[i] = strndup(text, length);
		headers[header_count++] = header_copies[i];
	}
	uint32_t post_length;
	uint64_t post_buffer;
	memcpy(&post_length, op + 4, 4);
	memcpy(&post_buffer, op + 8, 8);
	const uint8_t *body = NULL;
	if (post_buffer && post_length) {
		body = guest_memory_user_range(&m->memory, post_buffer, post_length);
		if (!body) {
			bad(m, call, "the POST buffer is outside guest memory");
			goto fail;
		}
	}
	struct tkvm_fetch_request request = {
		.method = body ? "POST" : "GET",
		.url = url,
		.headers = headers,
		.header_count = header_count,
		.body = body,
		.body_length = body ? post_length : 0,
		.follow_location = options ? options[16] != 0 : true,
		.dummy_fetch = options && options[17],
		.tcp_fast_open = options && options[18],
		.dont_verify_host = options && options[19],
		.program = m->settings.name,
		.settings = &m->settings,
	};

	int64_t result;
	bool self = self_request || url[0] == '/';
	if (self_request && url[0] != '/') {
		result = -CURLE_URL_MALFORMAT;
		fetch_log(m, "%s: \"%s\" is not a path (self-requests start with '/')", call, url);
		goto done;
	}
	if (!self) {
		char host[256], host_port[300];
		if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
			result = -CURLE_UNSUPPORTED_PROTOCOL;
			fetch_log(m, "%s: %s refused: only http and https URLs are fetched", call, url);
			goto done;
		}
		if (url_authority(url, host, sizeof host, host_port, sizeof host_port) < 0) {
			result = -CURLE_URL_MALFORMAT;
			fetch_log(m, "%s: %s is not a valid URL", call, url);
			goto done;
		}
		if (!host_allowed(&m->settings, host, host_port)) {
			result = -CURLE_REMOTE_ACCESS_DENIED;
			fetch_log(m, "%s: %s denied: %s is not in allowed_hosts (add it to the program's settings)", call, url,
				  host_port);
			goto done;
		}
	}
	if (!m->hooks.fetch) {
		result = -CURLE_COULDNT_CONNECT;
		fetch_log(m, "%s: %s: this host offers no outbound HTTP", call, url);
		goto done;
	}
	struct tkvm_fetch_response response;
	memset(&response, 0, sizeof response);
	m->hooks.fetch(m->hooks.context, &request, &response);
	if (response.curl_code) {
		result = -(int64_t)response.curl_code;
		fetch_log(m, "%s %s %s failed: %s", call, request.method, url, response.error[0] ? response.error : "error");
	} else {
		result = write_back(m, op, &response);
		machine_trace(m, "[fetch] %s %s -> %d, %zu bytes", request.method, url, response.status, response.body_length);
	}
	free(response.body);
	free(response.headers);
done:
	for (size_t i = 0; i < CURL_FIELDS_COUNT; i++)
		free(header_copies[i]);
	return result;
fail:
	for (size_t i = 0; i < CURL_FIELDS_COUNT; i++)
		free(header_copies[i]);
	return -1;
}
