/* Running a fixture and recording its answer (see fixture_run.h). */
#include "cli/fixture_run.h"
#include "cli/fixture_body.h"
#include "cli/fixture_check.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int fixture_run(struct tkvm_program *program, const struct fixture *f, struct tkvm_response *response,
		double *milliseconds, struct tkvm_error *err)
{
	struct tkvm_header headers[FIXTURE_MAX_HEADERS];
	const char *content_type = NULL;
	for (size_t i = 0; i < f->header_count && i < FIXTURE_MAX_HEADERS; i++) {
		headers[i] = (struct tkvm_header){f->headers[i], strlen(f->headers[i])};
		if (!content_type && !strncasecmp(f->headers[i], "Content-Type:", 13))
			content_type = f->headers[i] + 13 + strspn(f->headers[i] + 13, " \t");
	}
	if (!content_type)
		content_type = f->body.length ? "application/octet-stream" : "";
	char *path = strdup(f->url);
	if (!path)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	char *query = strchr(path, '?');
	if (query)
		*query++ = 0;
	struct tkvm_request_input input = {
		.method = f->method,
		.url = path,
		.arg = f->arg ? f->arg : query ? query : "",
		.content_type = content_type,
		.headers = headers,
		.header_count = f->header_count,
		.body = f->body.data,
		.body_length = f->body.length,
	};
	double start = now_ms();
	int rc = tkvm_request_run(program, &input, response, err);
	*milliseconds = now_ms() - start;
	free(path);
	return rc;
}

/* The value of the first header of the answer named like line, or NULL. */
static const char *find_header(char **lines, size_t count, const char *line)
{
	const char *colon = strchr(line, ':');
	size_t n = colon ? (size_t)(colon - line) : strlen(line);
	for (size_t i = 0; i < count; i++)
		if (!strncasecmp(lines[i], line, n) && lines[i][n] == ':')
			return lines[i];
	return NULL;
}

static int record_headers(struct fixture_expect *e, const struct tkvm_response *response, bool fresh)
{
	char **lines;
	long count = fixture_response_headers(response, &lines);
	if (count < 0)
		return -ENOMEM;
	if (fresh || !e->header_count) {
		if (!fresh) {
			fixture_free_lines(lines, (size_t)count);
			return 0;
		}
		fixture_free_lines(e->headers, e->header_count);
		e->headers = lines;
		e->header_count = (size_t)count;
		return 0;
	}
	/* Keep the headers the fixture names, with their new values; drop the
	 * ones the answer no longer has. */
	size_t kept = 0;
	for (size_t i = 0; i < e->header_count; i++) {
		const char *now = find_header(lines, (size_t)count, e->headers[i]);
		char *copy = now ? strdup(now) : NULL;
		free(e->headers[i]);
		if (copy)
			e->headers[kept++] = copy;
	}
	e->header_count = kept;
	fixture_free_lines(lines, (size_t)count);
	return 0;
}

int fixture_record_answer(struct fixture *f, const struct tkvm_response *response, struct replay_session *session,
			  bool fresh)
{
	struct fixture_expect *e = &f->expect;
	e->status = response->status;
	if (record_headers(e, response, fresh) < 0)
		return -ENOMEM;
	if (fresh || e->check == FIXTURE_CHECK_EXACT) {
		e->check = FIXTURE_CHECK_EXACT;
		if (fixture_body_set(&e->body, response->body, response->body_length) < 0)
			return -ENOMEM;
	} else if (e->check == FIXTURE_CHECK_SHA256) {
		char hash[65];
		body_sha256_hex(response->body ? response->body : (const uint8_t *)"", response->body_length, hash);
		memcpy(e->pattern, hash, 65);
	}
	replay_take_fetches(session, f);
	return 0;
}
