/* Fetches and output during a fixture (see fixture_replay.h). The hook
 * runs on the request's thread; a self-request being recorded runs the
 * program again in-process, which calls the hook again on the same
 * thread, so the lock is never held across a fetch. */
#include "cli/fixture_replay.h"
#include "cli/fixture_match.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURLE_COULDNT_CONNECT 7
#define MAX_FETCHES_KEPT 1024
#define OUTPUT_LIMIT (256u << 10)
/* Misses shown in detail (finding the closest recording is not free). */
#define MISSES_DESCRIBED 8

void replay_session_init(struct replay_session *s, enum replay_mode mode)
{
	memset(s, 0, sizeof *s);
	s->mode = mode;
	pthread_mutex_init(&s->lock, NULL);
}

static void forget(struct replay_session *s)
{
	for (size_t i = 0; i < s->made_count; i++)
		fixture_fetch_free(&s->made[i]);
	s->made_count = 0;
	for (size_t i = 0; i < s->miss_count; i++)
		fixture_fetch_free(&s->misses[i].fetch);
	s->miss_count = 0;
	free(s->used);
	s->used = NULL;
	text_buffer_free(&s->output);
}

void replay_session_free(struct replay_session *s)
{
	forget(s);
	free(s->made);
	free(s->misses);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof *s);
}

int replay_session_begin(struct replay_session *s, const struct fixture *fixture)
{
	pthread_mutex_lock(&s->lock);
	forget(s);
	s->fixture = fixture;
	if (fixture && fixture->fetch_count)
		s->used = calloc(fixture->fetch_count, sizeof *s->used);
	int rc = fixture && fixture->fetch_count && !s->used ? -ENOMEM : 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* --- Copies between the runner's structures and fixture ones ------------ */

/* The request part of a fetch, as a fixture_fetch. */
static int capture_request(struct fixture_fetch *f, const struct tkvm_fetch_request *request)
{
	memset(f, 0, sizeof *f);
	f->method = strdup(request->method);
	f->url = strdup(request->url);
	if (request->header_count && (f->request_headers = calloc(request->header_count, sizeof(char *))))
		for (size_t i = 0; i < request->header_count; i++)
			if ((f->request_headers[i] = strdup(request->headers[i])))
				f->request_header_count = i + 1;
	int rc = request->body ? fixture_body_set(&f->request_body, request->body, request->body_length) : 0;
	if (!request->body)
		f->request_body.form = FIXTURE_BODY_NONE;
	if (!f->method || !f->url || rc || (request->header_count && f->request_header_count != request->header_count))
		return -ENOMEM;
	return 0;
}

/* Response header lines ("Name: value\r\n"...) into an array. */
static int split_headers(const char *text, size_t length, char ***lines, size_t *count)
{
	*lines = NULL;
	*count = 0;
	size_t n = 0;
	for (size_t i = 0; i < length; i++)
		n += text[i] == '\n';
	if (length && text[length - 1] != '\n')
		n++;
	if (!n)
		return 0;
	if (!(*lines = calloc(n, sizeof **lines)))
		return -ENOMEM;
	size_t start = 0;
	for (size_t i = 0; i <= length; i++) {
		if (i < length && text[i] != '\n')
			continue;
		size_t end = i;
		while (end > start && (text[end - 1] == '\r' || text[end - 1] == '\n'))
			end--;
		if (end > start) {
			if (!((*lines)[*count] = strndup(text + start, end - start)))
				return -ENOMEM;
			(*count)++;
		}
		start = i + 1;
	}
	return 0;
}

static int capture_response(struct fixture_fetch *f, const struct tkvm_fetch_response *response)
{
	if (response->curl_code) {
		f->curl_code = response->curl_code;
		f->error = strdup(response->error);
		return f->error ? 0 : -ENOMEM;
	}
	f->status = response->status;
	f->content_type = strdup(response->content_type);
	if (!f->content_type || split_headers(response->headers ? response->headers : "", response->headers_length,
					      &f->response_headers, &f->response_header_count) < 0)
		return -ENOMEM;
	if (response->body_length && fixture_body_set(&f->response_body, response->body, response->body_length) < 0)
		return -ENOMEM;
	return 0;
}

/* A recording, given to the program as the transport would give it. */
static int answer_from(const struct fixture_fetch *recorded, struct tkvm_fetch_response *response)
{
	if (recorded->curl_code) {
		response->curl_code = recorded->curl_code;
		snprintf(response->error, sizeof response->error, "%s", recorded->error ? recorded->error : "recorded failure");
		return 0;
	}
	response->status = recorded->status;
	snprintf(response->content_type, sizeof response->content_type, "%s", recorded->content_type ? recorded->content_type : "");
	size_t length = 0;
	for (size_t i = 0; i < recorded->response_header_count; i++)
		length += strlen(recorded->response_headers[i]) + 2;
	if (length) {
		if (!(response->headers = malloc(length + 1)))
			return -ENOMEM;
		size_t at = 0;
		for (size_t i = 0; i < recorded->response_header_count; i++)
			at += (size_t)sprintf(response->headers + at, "%s\r\n", recorded->response_headers[i]);
		response->headers_length = at;
	}
	const struct fixture_body *body = &recorded->response_body;
	if (body->length) {
		if (!(response->body = malloc(body->length))) {
			free(response->headers);
			response->headers = NULL;
			return -ENOMEM;
		}
		memcpy(response->body, body->data, body->length);
		response->body_length = body->length;
	}
	return 0;
}

/* Which recording answers, under the lock: the first unused match, else
 * the last match already used (a program that fetches the same thing
 * twice gets the same answer); -1 when nothing matches. */
static long choose_recording(struct replay_session *s, const struct fixture_fetch *request)
{
	const struct fixture *f = s->fixture;
	long reuse = -1;
	for (size_t i = 0; f && i < f->fetch_count; i++) {
		if (!fixture_fetch_matches(&f->fetches[i], request))
			continue;
		if (!s->used[i]) {
			s->used[i] = true;
			return (long)i;
		}
		reuse = (long)i;
	}
	return reuse;
}

static void keep(struct replay_session *s, struct fixture_fetch *made)
{
	pthread_mutex_lock(&s->lock);
	if (s->made_count == s->made_capacity && s->made_count < MAX_FETCHES_KEPT) {
		size_t capacity = s->made_capacity ? s->made_capacity * 2 : 8;
		struct fixture_fetch *bigger = realloc(s->made, capacity * sizeof *bigger);
		if (bigger)
			s->made = bigger, s->made_capacity = capacity;
	}
	if (s->made_count < s->made_capacity)
		s->made[s->made_count++] = *made;
	else
		fixture_fetch_free(made);
	pthread_mutex_unlock(&s->lock);
}

static void remember_miss(struct replay_session *s, struct fixture_fetch *request)
{
	pthread_mutex_lock(&s->lock);
	if (s->miss_count == s->miss_capacity && s->miss_count < MAX_FETCHES_KEPT) {
		size_t capacity = s->miss_capacity ? s->miss_capacity * 2 : 4;
		struct replay_miss *bigger = realloc(s->misses, capacity * sizeof *bigger);
		if (bigger)
			s->misses = bigger, s->miss_capacity = capacity;
	}
	if (s->miss_count < s->miss_capacity) {
		long closest = s->fixture && s->miss_count < MISSES_DESCRIBED
				       ? fixture_closest_fetch(s->fixture->fetches, s->fixture->fetch_count, request) : -1;
		s->misses[s->miss_count++] = (struct replay_miss){*request, closest};
	} else {
		fixture_fetch_free(request);
	}
	pthread_mutex_unlock(&s->lock);
}

int replay_fetch(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response)
{
	struct replay_session *s = context;
	struct fixture_fetch made;
	if (capture_request(&made, request) < 0) {
		fixture_fetch_free(&made);
		response->curl_code = 27; /* CURLE_OUT_OF_MEMORY */
		snprintf(response->error, sizeof response->error, "out of memory");
		return 0;
	}
	if (s->mode == REPLAY_RECORD_LIVE) {
		fetch_client_perform(&s->live, request, response);
		if (capture_response(&made, response) < 0)
			fixture_fetch_free(&made);
		else
			keep(s, &made);
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	long chosen = choose_recording(s, &made);
	int rc = chosen >= 0 ? answer_from(&s->fixture->fetches[chosen], response) : 0;
	pthread_mutex_unlock(&s->lock);
	if (chosen < 0 || rc < 0) {
		response->curl_code = CURLE_COULDNT_CONNECT;
		snprintf(response->error, sizeof response->error, "%s",
			 rc < 0 ? "out of memory" : "tkvm test: no recorded fetch matches (run 'tkvm test --record' to record it)");
		if (chosen < 0) {
			remember_miss(s, &made);
			return 0;
		}
	}
	if (capture_response(&made, response) < 0)
		fixture_fetch_free(&made);
	else
		keep(s, &made);
	return 0;
}

void replay_describe_misses(const struct replay_session *s, const char *indent, struct text_buffer *out)
{
	char deeper[64];
	snprintf(deeper, sizeof deeper, "%s  ", indent);
	for (size_t i = 0; i < s->miss_count; i++) {
		if (i == MISSES_DESCRIBED) {
			text_buffer_printf(out, "%s... and %zu more fetches not recorded\n", indent, s->miss_count - i);
			break;
		}
		const struct replay_miss *miss = &s->misses[i];
		text_buffer_printf(out, "%sfetch not recorded: %s %s", indent, miss->fetch.method, miss->fetch.url);
		if (miss->fetch.request_body.length)
			text_buffer_printf(out, " (%zu-byte body)", miss->fetch.request_body.length);
		text_buffer_printf(out, "\n");
		if (miss->closest < 0) {
			text_buffer_printf(out, "%sthe fixture has no recorded fetches (record them: tkvm test --record)\n", deeper);
			continue;
		}
		const struct fixture_fetch *closest = &s->fixture->fetches[miss->closest];
		text_buffer_printf(out, "%sclosest recording: fetches[%ld]", deeper, miss->closest);
		if (closest->line)
			text_buffer_printf(out, " (%s:%d)", s->fixture->path, closest->line);
		text_buffer_printf(out, ": %s %s\n", closest->method, closest->url);
		fixture_describe_difference(closest, &miss->fetch, deeper, out);
	}
}

void replay_take_fetches(struct replay_session *s, struct fixture *fixture)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < fixture->fetch_count; i++)
		fixture_fetch_free(&fixture->fetches[i]);
	free(fixture->fetches);
	fixture->fetches = s->made;
	fixture->fetch_count = s->made_count;
	s->made = NULL;
	s->made_count = s->made_capacity = 0;
	pthread_mutex_unlock(&s->lock);
}

/* --- Output ------------------------------------------------------------ */

static void keep_output(struct replay_session *s, const char *prefix, const char *data, size_t length)
{
	pthread_mutex_lock(&s->lock);
	if (s->output.length < OUTPUT_LIMIT) {
		text_buffer_add(&s->output, prefix, strlen(prefix));
		text_buffer_add(&s->output, data, length);
		if (*prefix && (!length || data[length - 1] != '\n'))
			text_buffer_add(&s->output, "\n", 1);
	}
	pthread_mutex_unlock(&s->lock);
	if (s->echo_output) {
		fputs(prefix, stderr);
		fwrite(data, 1, length, stderr);
		if (*prefix && (!length || data[length - 1] != '\n'))
			fputc('\n', stderr);
	}
}

static void on_output(void *context, int fd, const char *data, size_t length)
{
	(void)fd;
	keep_output(context, "", data, length);
}

static void on_log(void *context, const char *data, size_t length) { keep_output(context, "log: ", data, length); }

struct tkvm_hooks replay_session_hooks(struct replay_session *s)
{
	return (struct tkvm_hooks){.context = s, .output = on_output, .log = on_log, .fetch = replay_fetch};
}
