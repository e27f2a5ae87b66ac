/* Comparing an answer with a fixture's expectations (see fixture_check.h). */
#include "cli/fixture_check.h"
#include "cli/fixture_body.h"
#include "cli/text_diff.h"
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DIFF_LINES 40
#define PREVIEW_LINES 8

long fixture_response_headers(const struct tkvm_response *r, char ***out)
{
	size_t count = 0, capacity = r->header_count + 2;
	char **lines = calloc(capacity, sizeof *lines);
	if (!lines)
		goto oom;
	if (r->content_type && *r->content_type && asprintf(&lines[count++], "Content-Type: %s", r->content_type) < 0)
		goto oom;
	/* As tkvm serve does: unless the program set its own. */
	bool has_cache_control = false;
	for (size_t i = 0; i < r->header_count; i++)
		has_cache_control |= !strncasecmp(r->headers[i], "Cache-Control:", 14);
	if (r->cacheable && !has_cache_control &&
	    asprintf(&lines[count++], "Cache-Control: public, max-age=%.0f", r->ttl > 0 ? r->ttl : 0) < 0)
		goto oom;
	for (size_t i = 0; i < r->header_count; i++)
		if (!(lines[count++] = strdup(r->headers[i])))
			goto oom;
	*out = lines;
	return (long)count;
oom:
	if (lines) {
		for (size_t i = 0; i < capacity; i++)
			free(lines[i]);
		free(lines);
	}
	*out = NULL;
	return -ENOMEM;
}

/* The value of a "Name: value" line, blanks around it left out. */
static void header_value(const char *line, const char **value, size_t *length)
{
	const char *v = strchr(line, ':');
	v = v ? v + 1 : line + strlen(line);
	while (*v == ' ' || *v == '\t')
		v++;
	size_t n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*value = v;
	*length = n;
}

static size_t name_length(const char *line)
{
	const char *colon = strchr(line, ':');
	return colon ? (size_t)(colon - line) : strlen(line);
}

struct checker {
	const char *indent;
	char *message;
	size_t message_size;
	struct text_buffer *details;
	bool failed;
};

static void problem(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct checker *c, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (!c->failed)
		snprintf(c->message, c->message_size, "%s", line);
	c->failed = true;
	text_buffer_printf(c->details, "%s%s\n", c->indent, line);
}

static void check_header(struct checker *c, const char *expected, char **lines, size_t count)
{
	size_t n = name_length(expected);
	const char *want;
	size_t want_length;
	header_value(expected, &want, &want_length);
	bool any_value = want_length == strlen(FIXTURE_REDACTED) && !memcmp(want, FIXTURE_REDACTED, want_length);
	const char *seen = NULL;
	for (size_t i = 0; i < count; i++) {
		if (name_length(lines[i]) != n || strncasecmp(lines[i], expected, n))
			continue;
		const char *got;
		size_t got_length;
		header_value(lines[i], &got, &got_length);
		if (any_value || (got_length == want_length && !memcmp(got, want, got_length)))
			return;
		if (!seen)
			seen = lines[i];
	}
	if (seen) {
		const char *got;
		size_t got_length;
		header_value(seen, &got, &got_length);
		problem(c, "header %.*s: expected \"%.*s\", got \"%.*s\"", (int)n, expected, (int)(want_length > 300 ? 300 : want_length),
			want, (int)(got_length > 300 ? 300 : got_length), got);
		return;
	}
	struct text_buffer names = {0};
	for (size_t i = 0; i < count; i++)
		text_buffer_printf(&names, "%s%.*s", i ? ", " : "", (int)name_length(lines[i]), lines[i]);
	problem(c, "header %.*s: expected \"%.*s\", but the answer has no %.*s header (it has: %s)", (int)n, expected,
		(int)(want_length > 300 ? 300 : want_length), want, (int)n, expected, count ? text_buffer_str(&names) : "none");
	text_buffer_free(&names);
}

/* The first lines of a body, to show next to a failed contains/regex check. */
static void preview(struct checker *c, const uint8_t *body, size_t length)
{
	if (!length) {
		text_buffer_printf(c->details, "%s  (the body is empty)\n", c->indent);
		return;
	}
	if (!body_is_text(body, length)) {
		char hash[65];
		body_sha256_hex(body, length, hash);
		text_buffer_printf(c->details, "%s  (binary body: %zu bytes, sha256 %s)\n", c->indent, length, hash);
		return;
	}
	size_t start = 0;
	for (int line = 0; start < length && line < PREVIEW_LINES; line++) {
		const uint8_t *newline = memchr(body + start, '\n', length - start);
		size_t end = newline ? (size_t)(newline - body) : length;
		text_buffer_printf(c->details, "%s  | ", c->indent);
		text_diff_escaped(c->details, (const char *)body + start, end - start, 200);
		text_buffer_add(c->details, "\n", 1);
		start = end + 1;
	}
	if (start < length)
		text_buffer_printf(c->details, "%s  | ... (%zu bytes in all)\n", c->indent, length);
}

static void check_exact(struct checker *c, const struct fixture_body *want, const uint8_t *got, size_t got_length)
{
	if (want->length == got_length && (!got_length || !memcmp(want->data, got, got_length)))
		return;
	const char *from = want->form == FIXTURE_BODY_FILE ? want->file : NULL;
	if (body_is_text(want->data, want->length) && body_is_text(got, got_length)) {
		problem(c, "body differs from the expected%s%s (%zu bytes expected, %zu got):", from ? " " : "", from ? from : "",
			want->length, got_length);
		char deeper[64];
		snprintf(deeper, sizeof deeper, "%s  ", c->indent);
		text_diff_unified("expected", (const char *)want->data, want->length, "actual", (const char *)got, got_length,
				  deeper, DIFF_LINES, c->details);
		return;
	}
	char want_hash[65], got_hash[65];
	body_sha256_hex(want->data, want->length, want_hash);
	body_sha256_hex(got ? got : (const uint8_t *)"", got_length, got_hash);
	size_t at = 0;
	while (at < want->length && at < got_length && want->data[at] == got[at])
		at++;
	problem(c, "body differs (binary): expected %zu bytes, got %zu bytes; first difference at byte %zu", want->length,
		got_length, at);
	text_buffer_printf(c->details, "%s  expected sha256 %s%s%s\n%s  actual   sha256 %s\n", c->indent, want_hash,
			   from ? "  " : "", from ? from : "", c->indent, got_hash);
}

static void check_body(struct checker *c, const struct fixture_expect *e, const uint8_t *got, size_t got_length)
{
	switch (e->check) {
	case FIXTURE_CHECK_NONE:
		return;
	case FIXTURE_CHECK_EXACT:
		check_exact(c, &e->body, got, got_length);
		return;
	case FIXTURE_CHECK_CONTAINS:
		if (got_length >= strlen(e->pattern) && memmem(got, got_length, e->pattern, strlen(e->pattern)))
			return;
		problem(c, "body does not contain \"%.200s\"; it begins:", e->pattern);
		preview(c, got, got_length);
		return;
	case FIXTURE_CHECK_REGEX: {
		regex_t re;
		if (regcomp(&re, e->pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE) != 0) {
			problem(c, "body_regex does not compile");
			return;
		}
		/* regexec wants a C string: a body with NUL bytes is matched up to the first. */
		char *text = strndup(got ? (const char *)got : "", got_length);
		bool match = text && regexec(&re, text, 0, NULL, 0) == 0;
		free(text);
		regfree(&re);
		if (match)
			return;
		problem(c, "body does not match /%.200s/; it begins:", e->pattern);
		preview(c, got, got_length);
		return;
	}
	case FIXTURE_CHECK_SHA256: {
		char hash[65];
		body_sha256_hex(got ? got : (const uint8_t *)"", got_length, hash);
		if (!strcmp(hash, e->pattern))
			return;
		problem(c, "body sha256 is %s (%zu bytes), expected %s", hash, got_length, e->pattern);
		preview(c, got, got_length);
		return;
	}
	}
}

bool fixture_check(const struct fixture *f, const struct tkvm_response *r, const char *indent, char *message,
		   size_t message_size, struct text_buffer *details)
{
	struct checker c = {indent, message, message_size, details, false};
	const struct fixture_expect *e = &f->expect;
	message[0] = 0;
	if (r->outcome != TKVM_OUTCOME_OK && !(e->status && e->status == r->status)) {
		if (r->outcome == TKVM_OUTCOME_FAILED)
			problem(&c, "the request failed: %s", r->error);
		else
			text_buffer_printf(details, "%s(the request failed, and on_error answered: %s)\n", indent, r->error);
	}
	if (e->status && e->status != r->status)
		problem(&c, "status: expected %d, got %d", e->status, r->status);
	char **lines = NULL;
	long count = e->header_count ? fixture_response_headers(r, &lines) : 0;
	if (count < 0)
		problem(&c, "out of memory comparing headers");
	for (size_t i = 0; count >= 0 && i < e->header_count; i++)
		check_header(&c, e->headers[i], lines, (size_t)count);
	if (count > 0)
		fixture_free_lines(lines, (size_t)count);
	check_body(&c, e, r->body, r->body_length);
	return !c.failed;
}
