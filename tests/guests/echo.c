/* echo: POST bodies come back unchanged, with content type = the request's
 * (application/octet-stream when it has none) and headers "X-Body-Length: <len>" and
 * "X-Body-Fnv: <16 lowercase hex digits, FNV-1a 64 of the body>"; GET -> 200 text/plain "send me a POST\n". */
#include "sdk/kvm_api.h"
#include <string.h>

static uint64_t fnv1a64(const uint8_t *data, size_t len)
{
	uint64_t hash = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		hash ^= data[i];
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

static void on_get(const char *url, const char *arg)
{
	(void)url; (void)arg;
	backend_response_str(200, "text/plain", "send me a POST\n");
}

static void on_post(const char *url, const char *arg, const char *content_type,
	const uint8_t *data, size_t len)
{
	(void)url; (void)arg;
	if (content_type == NULL || content_type[0] == 0)
		content_type = "application/octet-stream";
	if (data == NULL)
		data = (const uint8_t *)"";
	http_appendf(RESP, "X-Body-Length: %zu", len);
	http_appendf(RESP, "X-Body-Fnv: %016llx", (unsigned long long)fnv1a64(data, len));
	backend_response(200, content_type, strlen(content_type), data, len);
}

int main(void)
{
	set_backend_get(on_get);
	set_backend_post(on_post);
	wait_for_requests();
}
