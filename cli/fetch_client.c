/* libcurl transport for sys_fetch (see fetch_client.h). */
#include "cli/fetch_client.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_LIMIT (64u << 20)
#define MAX_REDIRECTS 10

struct buffer {
	char *data;
	size_t length, capacity, limit;
	bool overflow;
};

static size_t append(struct buffer *b, const char *data, size_t length)
{
	if (b->length + length > b->limit) {
		b->overflow = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (b->length + length + 1 > b->capacity) {
		size_t capacity = b->capacity ? b->capacity : 4096;
		while (capacity < b->length + length + 1)
			capacity *= 2;
		char *bigger = realloc(b->data, capacity);
		if (!bigger)
			return 0;
		b->data = bigger;
		b->capacity = capacity;
	}
	memcpy(b->data + b->length, data, length);
	b->length += length;
	b->data[b->length] = 0;
	return length;
}

static size_t on_body(char *data, size_t size, size_t count, void *context) { return append(context, data, size * count); }

/* Header lines only ("Name: value\r\n"): no status lines, no blank line. */
static size_t on_header(char *data, size_t size, size_t count, void *context)
{
	size_t length = size * count;
	if (length <= 2 || (length >= 5 && strncmp(data, "HTTP/", 5) == 0))
		return length;
	return append(context, data, length) == length ? length : 0;
}

void fetch_client_global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void fail(struct tkvm_fetch_response *response, int code, const char *fmt, const char *detail)
{
	response->curl_code = code;
	snprintf(response->error, sizeof response->error, fmt, detail);
}

/* A self-request without a server: the same program answers it in-process. */
static int self_request(struct fetch_client *client, const struct tkvm_fetch_request *request,
			struct tkvm_fetch_response *response)
{
	if (!client || !client->program) {
		fail(response, CURLE_COULDNT_CONNECT, "%s: no server to send a self-request to", request->url);
		return 0;
	}
	char path[1100];
	snprintf(path, sizeof path, "%s", request->url);
	char *query = strchr(path, '?');
	if (query)
		*query++ = 0;
	struct tkvm_header headers[16];
	size_t count = request->header_count < 16 ? request->header_count : 16;
	const char *content_type = "";
	for (size_t i = 0; i < count; i++) {
		headers[i] = (struct tkvm_header){request->headers[i], strlen(request->headers[i])};
		if (strncasecmp(request->headers[i], "Content-Type:", 13) == 0)
			content_type = request->headers[i] + 13 + strspn(request->headers[i] + 13, " \t");
	}
	struct tkvm_request_input input = {
		.method = request->method, .url = path, .arg = query ? query : "", .content_type = content_type,
		.headers = headers, .header_count = count, .body = request->body, .body_length = request->body_length,
	};
	struct tkvm_response answer;
	struct tkvm_error err = {0};
	if (tkvm_request_run(client->program, &input, &answer, &err) < 0) {
		fail(response, CURLE_COULDNT_CONNECT, "self-request: %.200s", err.message);
		return 0;
	}
	response->status = answer.status;
	snprintf(response->content_type, sizeof response->content_type, "%s", answer.content_type ? answer.content_type : "");
	response->body = answer.body;
	response->body_length = answer.body_length;
	answer.body = NULL;
	struct buffer lines = {NULL, 0, 0, 1u << 20, false};
	for (size_t i = 0; i < answer.header_count; i++) {
		append(&lines, answer.headers[i], strlen(answer.headers[i]));
		append(&lines, "\r\n", 2);
	}
	response->headers = lines.data;
	response->headers_length = lines.length;
	tkvm_response_free(&answer);
	return 0;
}

int fetch_client_perform(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response)
{
	struct fetch_client *client = context;
	char url[2048];
	if (request->url[0] == '/') {
		if (!client || !client->self_base_url)
			return self_request(client, request, response);
		snprintf(url, sizeof url, "%s%s", client->self_base_url, request->url);
	} else {
		snprintf(url, sizeof url, "%s", request->url);
	}
	CURL *curl = curl_easy_init();
	if (!curl) {
		fail(response, CURLE_FAILED_INIT, "%s", "curl_easy_init failed");
		return 0;
	}
	struct curl_slist *headers = NULL;
	for (size_t i = 0; i < request->header_count; i++)
		headers = curl_slist_append(headers, request->headers[i]);
	struct buffer body = {NULL, 0, 0, BODY_LIMIT, false}, header_lines = {NULL, 0, 0, 1u << 20, false};
	bool post = request->body != NULL;
	CURLcode code = CURLE_OK;
	for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
		body.length = header_lines.length = 0;
		curl_easy_reset(curl);
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, 8L);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L); /* each hop is checked below */
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, &header_lines);
		curl_easy_setopt(curl, CURLOPT_USERAGENT, "tkvm");
		if (request->tcp_fast_open)
			curl_easy_setopt(curl, CURLOPT_TCP_FASTOPEN, 1L);
		if (request->dont_verify_host) {
			curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
			curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		}
		if (post) {
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->body);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_length);
		}
		code = curl_easy_perform(curl);
		if (code != CURLE_OK)
			break;
		long status = 0;
		char *location = NULL;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
		if (!request->follow_location || status < 300 || status > 399 || !location)
			break;
		if (request->settings && !tkvm_url_allowed(request->settings, location)) {
			fail(response, CURLE_REMOTE_ACCESS_DENIED, "redirect to %s denied: not in allowed_hosts", location);
			goto out;
		}
		if (hop == MAX_REDIRECTS) {
			code = CURLE_TOO_MANY_REDIRECTS;
			break;
		}
		snprintf(url, sizeof url, "%s", location);
		if (status == 301 || status == 302 || status == 303)
			post = false; /* as browsers and curl do */
	}
	if (code != CURLE_OK) {
		fail(response, code, "%s", body.overflow ? "the answer is larger than 64 MiB" : curl_easy_strerror(code));
		goto out;
	}
	long status = 0;
	char *content_type = NULL;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
	response->status = (int)status;
	snprintf(response->content_type, sizeof response->content_type, "%s", content_type ? content_type : "");
	response->body = (uint8_t *)body.data;
	response->body_length = body.length;
	response->headers = header_lines.data;
	response->headers_length = header_lines.length;
	body.data = header_lines.data = NULL;
out:
	free(body.data);
	free(header_lines.data);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return 0;
}
