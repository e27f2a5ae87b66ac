/* How `tkvm serve` answers (see serve_handler.h): a request routed to a
 * program and mapped to the guest API the way the VMOD maps it, the
 * program's answer sent back unchanged, its failures turned into short
 * 500/503/504 answers; the live-update endpoint and the statistics. */
#include "cli/serve_handler.h"
#include "runner/tkvm.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RESERVED_PREFIX "/_tkvm/"

/* Routing. */

/* Which program a request is for, and the url it sees: the Host header's
 * first label names it (url unchanged), else the first path segment (url
 * without that segment); a single program answers everything. */
static struct served_program *route(struct served_programs *programs, const struct http_request *request, const char **url)
{
	*url = request->path;
	if (!programs->library)
		return programs->programs[0];
	const char *host = http_request_header(request, "Host");
	if (host) {
		size_t n = strcspn(host, ".:");
		struct served_program *p = served_programs_find(programs, host, n);
		if (p)
			return p;
	}
	const char *segment = request->path[0] == '/' ? request->path + 1 : request->path;
	size_t n = strcspn(segment, "/");
	struct served_program *p = n ? served_programs_find(programs, segment, n) : NULL;
	if (p) {
		*url = segment[n] ? segment + n : "/";
		return p;
	}
	return programs->count == 1 ? programs->programs[0] : NULL;
}

static void no_such_program(struct served_programs *programs, const struct http_request *request, struct http_reply *reply)
{
	char names[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < programs->count && used < sizeof names - 64; i++)
		used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", programs->programs[i]->name);
	const char *host = http_request_header(request, "Host");
	http_reply_text(reply, 404,
			"tkvm: no program for Host '%s' or path '%s'\n"
			"programs: %s (name one as the Host's first label, or as the first path segment: /NAME/...)",
			host ? host : "", request->path, names);
	http_reply_cause(reply, "no program for this Host or path");
}

/* Live update (X-LiveUpdate). */

static bool is_live_update(const struct http_request *request)
{
	return http_request_header(request, "X-LiveUpdate") != NULL;
}

/* The key check happens before the body (the ELF) is read. */
static bool live_update_refused(struct served_program *p, const struct http_request *request, struct http_reply *reply)
{
	reply->log.program = p->name;
	if (strcmp(request->method, "POST") != 0) {
		http_reply_text(reply, 405, "tkvm: a live update is a POST whose body is the new ELF");
		http_reply_add_header(reply, "Allow", "POST");
		http_reply_cause(reply, "live update with %s", request->method);
		return true;
	}
	const char *key = http_request_header(request, "X-LiveUpdate");
	const char *expected = p->settings.key ? p->settings.key : "";
	if (!*expected) {
		http_reply_text(reply, 403, "tkvm: live update of %s is off: its settings have no \"key\"", p->name);
		http_reply_cause(reply, "live update refused: %s has no key", p->name);
		return true;
	}
	/* Same time whatever the key: no byte-by-byte guessing. */
	size_t n = strlen(key), m = strlen(expected);
	unsigned char difference = n != m;
	for (size_t i = 0; i < m; i++)
		difference |= (unsigned char)(expected[i] ^ (i < n ? key[i] : 0));
	if (difference) {
		http_reply_text(reply, 403, "tkvm: wrong live-update key for %s", p->name);
		http_reply_cause(reply, "live update refused: wrong key");
		return true;
	}
	return false;
}

static void live_update(struct served_program *p, const struct http_request *request, struct http_reply *reply)
{
	char message[1200];
	reply->log.program = p->name;
	reply->log.outcome = "live-update";
	if (served_program_update(p, request->body, request->body_length, message, sizeof message) < 0) {
		http_reply_text(reply, 400, "%s", message);
		http_reply_cause(reply, "live update failed, %s keeps running the previous program: %s", p->name, message);
		return;
	}
	http_reply_text(reply, 201, "%s", message);
	http_reply_cause(reply, "live update: %zu-byte ELF now answers", request->body_length);
}

/* Statistics. */

static void stats(struct served_programs *programs, const struct http_request *request, struct http_reply *reply)
{
	if (strcmp(request->method, "GET") != 0 && strcmp(request->method, "HEAD") != 0) {
		http_reply_text(reply, 405, "tkvm: %s takes GET", SERVE_STATS_PATH);
		http_reply_add_header(reply, "Allow", "GET, HEAD");
		return;
	}
	char *json = served_programs_stats_json(programs);
	if (!json) {
		http_reply_text(reply, 500, "tkvm: out of memory");
		return;
	}
	size_t n = strlen(json);
	reply->status = 200;
	reply->content_type = strdup("application/json");
	reply->body = (uint8_t *)json;
	reply->body_length = n;
	if (n && json[n - 1] != '\n') {
		uint8_t *longer = realloc(reply->body, n + 2);
		if (longer) {
			longer[n] = '\n';
			longer[n + 1] = 0;
			reply->body = longer;
			reply->body_length = n + 1;
		}
	}
	http_reply_add_header(reply, "Cache-Control", "no-store");
}

/* Running a request. */

static bool has_header(char **headers, size_t count, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < count; i++)
		if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
			return true;
	return false;
}

static const char *outcome_name(enum tkvm_outcome outcome)
{
	switch (outcome) {
	case TKVM_OUTCOME_OK: return "ok";
	case TKVM_OUTCOME_RECOVERED: return "recovered";
	default: return "failed";
	}
}

/* The program's answer moves into the reply, unchanged. */
static void take_response(struct http_reply *reply, struct tkvm_response *response)
{
	reply->status = response->status;
	reply->content_type = response->content_type;
	reply->headers = response->headers;
	reply->header_count = response->header_count;
	reply->body = response->body;
	reply->body_length = response->body_length;
	response->content_type = NULL;
	response->headers = NULL;
	response->header_count = 0;
	response->body = NULL;
	response->body_length = 0;
	if (response->cacheable && !has_header(reply->headers, reply->header_count, "Cache-Control")) {
		char value[64];
		snprintf(value, sizeof value, "public, max-age=%.0f", response->ttl > 0 ? response->ttl : 0);
		http_reply_add_header(reply, "Cache-Control", value);
	}
}

static void run_program(struct served_program *p, const char *url, const struct http_request *request,
			struct http_reply *reply)
{
	reply->log.program = p->name;
	char message[1200];
	struct tkvm_program *program = served_program_acquire(p, message, sizeof message);
	if (!program) {
		http_reply_text(reply, 503, "tkvm: %s could not start: %s", p->name, message);
		http_reply_cause(reply, "%s could not start: %s", p->name, message);
		reply->log.outcome = "not-started";
		return;
	}
	struct tkvm_header headers[TKVM_MAX_REQUEST_HEADERS];
	size_t count = request->header_count < TKVM_MAX_REQUEST_HEADERS ? request->header_count : TKVM_MAX_REQUEST_HEADERS;
	for (size_t i = 0; i < count; i++)
		headers[i] = (struct tkvm_header){request->headers[i].line, request->headers[i].length};
	const char *arg = http_request_header(request, "X-Arg");
	const char *content_type = http_request_header(request, "Content-Type");
	struct tkvm_request_input input = {
		.method = request->method,
		.url = url,
		.arg = arg ? arg : request->query ? request->query : "",
		.content_type = content_type ? content_type : "",
		.headers = headers,
		.header_count = count,
		.body = request->body,
		.body_length = request->body_length,
	};
	struct tkvm_response response;
	struct tkvm_error err = {0};
	int r = tkvm_request_run(program, &input, &response, &err);
	if (r == -EBUSY) {
		http_reply_text(reply, 503, "tkvm: %s is busy: no free VM within the queue timeout (%g s, %d VMs)", p->name,
				p->queue_timeout, p->settings.concurrency);
		http_reply_cause(reply, "queue timeout: no free VM within %g s", p->queue_timeout);
		reply->log.outcome = "busy";
	} else if (r < 0) {
		int status = r == -EINVAL || r == -E2BIG ? 400 : 500;
		http_reply_text(reply, status, "tkvm: %s: %s", p->name, err.message);
		http_reply_cause(reply, "%s", err.message);
		reply->log.outcome = "error";
	} else {
		reply->log.vm = (int)response.vm;
		reply->log.queue_seconds = response.queue_seconds;
		reply->log.outcome = outcome_name(response.outcome);
		if (response.outcome == TKVM_OUTCOME_FAILED) {
			int status = response.failure == TKVM_FAILURE_TIMEOUT ? 504 : 500;
			http_reply_text(reply, status, "tkvm: %s: request failed: %s", p->name, response.error);
			http_reply_cause(reply, "%s", response.error);
		} else {
			take_response(reply, &response);
			if (response.outcome == TKVM_OUTCOME_RECOVERED)
				http_reply_cause(reply, "answered by on_error after: %s", response.error);
		}
		tkvm_response_free(&response);
	}
	tkvm_program_release(program);
}

/* The two handler calls of http_server.h. */

static bool is_reserved(const struct http_request *request)
{
	return strncmp(request->path, RESERVED_PREFIX, strlen(RESERVED_PREFIX)) == 0;
}

void serve_on_headers(void *context, const struct http_request *request, struct http_reply *reply)
{
	struct served_programs *programs = context;
	if (is_reserved(request))
		return;
	const char *url;
	struct served_program *p = route(programs, request, &url);
	if (!p)
		no_such_program(programs, request, reply);
	else if (is_live_update(request))
		live_update_refused(p, request, reply);
}

void serve_on_request(void *context, const struct http_request *request, struct http_reply *reply)
{
	struct served_programs *programs = context;
	if (is_reserved(request)) {
		if (strcmp(request->path, SERVE_STATS_PATH) == 0)
			stats(programs, request, reply);
		else
			http_reply_text(reply, 404, "tkvm: nothing at %s (try %s)", request->path, SERVE_STATS_PATH);
		return;
	}
	const char *url;
	struct served_program *p = route(programs, request, &url);
	if (!p)
		no_such_program(programs, request, reply);
	else if (is_live_update(request))
		live_update(p, request, reply);
	else
		run_program(p, url, request, reply);
}
