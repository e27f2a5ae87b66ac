/* Writing fixtures (see fixture.h): the same shape the loader reads,
 * indented by two spaces so a fixture reads well in a diff, secrets in
 * headers redacted, large bodies in files beside the fixture, and every
 * file replaced atomically. */
#include "cli/fixture.h"
#include "cli/fixture_body.h"
#include "cli/text_buffer.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- JSON text, written by hand for a stable, readable layout ---------- */

static void write_string(struct text_buffer *out, const char *s)
{
	text_buffer_add(out, "\"", 1);
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		text_buffer_add(out, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': text_buffer_add(out, "\\\"", 2); break;
		case '\\': text_buffer_add(out, "\\\\", 2); break;
		case '\n': text_buffer_add(out, "\\n", 2); break;
		case '\r': text_buffer_add(out, "\\r", 2); break;
		case '\t': text_buffer_add(out, "\\t", 2); break;
		default: text_buffer_printf(out, "\\u%04x", c); break;
		}
	}
	text_buffer_add(out, run, (size_t)(s - run));
	text_buffer_add(out, "\"", 1);
}

static void write_value(struct text_buffer *out, const cJSON *v, int indent);

static bool is_scalar(const cJSON *v) { return !cJSON_IsArray(v) && !cJSON_IsObject(v); }

/* Arrays of short scalars stay on one line; the rest get a line per item. */
static bool fits_one_line(const cJSON *array, int indent)
{
	size_t width = (size_t)indent + 20;
	for (const cJSON *item = array->child; item; item = item->next) {
		if (!is_scalar(item))
			return false;
		width += cJSON_IsString(item) ? strlen(item->valuestring) + 4 : 24;
	}
	return width <= 100;
}

static void write_value(struct text_buffer *out, const cJSON *v, int indent)
{
	if (cJSON_IsString(v)) {
		write_string(out, v->valuestring ? v->valuestring : "");
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
			text_buffer_printf(out, "%lld", (long long)d);
		else
			text_buffer_printf(out, "%.17g", d);
	} else if (cJSON_IsBool(v)) {
		text_buffer_printf(out, "%s", cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsNull(v)) {
		text_buffer_printf(out, "null");
	} else if (!v->child) {
		text_buffer_printf(out, cJSON_IsArray(v) ? "[]" : "{}");
	} else if (cJSON_IsArray(v) && fits_one_line(v, indent)) {
		text_buffer_add(out, "[", 1);
		for (const cJSON *item = v->child; item; item = item->next) {
			write_value(out, item, indent);
			if (item->next)
				text_buffer_add(out, ", ", 2);
		}
		text_buffer_add(out, "]", 1);
	} else {
		bool object = cJSON_IsObject(v);
		text_buffer_add(out, object ? "{\n" : "[\n", 2);
		for (const cJSON *item = v->child; item; item = item->next) {
			text_buffer_printf(out, "%*s", indent + 2, "");
			if (object) {
				write_string(out, item->string ? item->string : "");
				text_buffer_add(out, ": ", 2);
			}
			write_value(out, item, indent + 2);
			text_buffer_add(out, item->next ? ",\n" : "\n", item->next ? 2 : 1);
		}
		text_buffer_printf(out, "%*s%c", indent, "", object ? '}' : ']');
	}
}

/* --- The fixture as JSON ------------------------------------------------ */

static cJSON *add_headers(cJSON *object, const char *key, char **lines, size_t count,
			  const struct fixture_redaction *redaction)
{
	if (!count)
		return object;
	cJSON *array = cJSON_AddArrayToObject(object, key);
	for (size_t i = 0; array && i < count; i++) {
		if (redaction && fixture_header_is_secret(redaction, lines[i])) {
			const char *colon = strchr(lines[i], ':');
			size_t n = colon ? (size_t)(colon - lines[i]) : strlen(lines[i]);
			char line[300];
			snprintf(line, sizeof line, "%.*s: " FIXTURE_REDACTED, (int)(n < 250 ? n : 250), lines[i]);
			cJSON_AddItemToArray(array, cJSON_CreateString(line));
		} else {
			cJSON_AddItemToArray(array, cJSON_CreateString(lines[i]));
		}
	}
	return object;
}

/* body / body_base64 / body_file, by the body's form; keep_empty writes
 * "body": "" for an empty body (an expectation), otherwise nothing. */
static void add_body(cJSON *object, const struct fixture_body *body, bool keep_empty)
{
	if (body->form == FIXTURE_BODY_FILE) {
		cJSON_AddStringToObject(object, "body_file", body->file);
		return;
	}
	if (!body->length) {
		if (keep_empty || body->form != FIXTURE_BODY_NONE)
			cJSON_AddStringToObject(object, "body", "");
		return;
	}
	if (body->form == FIXTURE_BODY_TEXT && body_is_text(body->data, body->length)) {
		cJSON_AddStringToObject(object, "body", (const char *)body->data);
		return;
	}
	char *encoded = body_base64_encode(body->data, body->length);
	if (encoded)
		cJSON_AddStringToObject(object, "body_base64", encoded);
	free(encoded);
}

static cJSON *fixture_json(const struct fixture *f, const struct fixture_redaction *redaction)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "name", f->name);
	if (f->description)
		cJSON_AddStringToObject(root, "description", f->description);
	cJSON *request = cJSON_AddObjectToObject(root, "request");
	cJSON_AddStringToObject(request, "method", f->method ? f->method : "GET");
	cJSON_AddStringToObject(request, "url", f->url ? f->url : "/");
	if (f->arg)
		cJSON_AddStringToObject(request, "arg", f->arg);
	add_headers(request, "headers", f->headers, f->header_count, NULL);
	if (f->body.form != FIXTURE_BODY_NONE || f->body.length)
		add_body(request, &f->body, false);

	const struct fixture_expect *e = &f->expect;
	cJSON *expect = cJSON_AddObjectToObject(root, "expect");
	if (e->status)
		cJSON_AddNumberToObject(expect, "status", e->status);
	add_headers(expect, "headers", e->headers, e->header_count, redaction);
	switch (e->check) {
	case FIXTURE_CHECK_EXACT: add_body(expect, &e->body, true); break;
	case FIXTURE_CHECK_CONTAINS: cJSON_AddStringToObject(expect, "body_contains", e->pattern); break;
	case FIXTURE_CHECK_REGEX: cJSON_AddStringToObject(expect, "body_regex", e->pattern); break;
	case FIXTURE_CHECK_SHA256: cJSON_AddStringToObject(expect, "body_sha256", e->pattern); break;
	case FIXTURE_CHECK_NONE: break;
	}

	cJSON *fetches = cJSON_AddArrayToObject(root, "fetches");
	for (size_t i = 0; fetches && i < f->fetch_count; i++) {
		const struct fixture_fetch *x = &f->fetches[i];
		cJSON *item = cJSON_CreateObject();
		cJSON_AddItemToArray(fetches, item);
		cJSON *req = cJSON_AddObjectToObject(item, "request");
		cJSON_AddStringToObject(req, "method", x->method);
		cJSON_AddStringToObject(req, "url", x->url);
		add_headers(req, "headers", x->request_headers, x->request_header_count, redaction);
		add_body(req, &x->request_body, false);
		cJSON *res = cJSON_AddObjectToObject(item, "response");
		if (x->curl_code) {
			cJSON_AddNumberToObject(res, "curl_code", x->curl_code);
			cJSON_AddStringToObject(res, "error", x->error ? x->error : "");
			continue;
		}
		cJSON_AddNumberToObject(res, "status", x->status);
		if (x->content_type && *x->content_type)
			cJSON_AddStringToObject(res, "content_type", x->content_type);
		add_headers(res, "headers", x->response_headers, x->response_header_count, redaction);
		add_body(res, &x->response_body, false);
	}
	return root;
}

char *fixture_to_text(struct fixture *f, const struct fixture_redaction *redaction, struct tkvm_error *err)
{
	cJSON *root = fixture_json(f, redaction);
	struct text_buffer out = {0};
	if (root) {
		write_value(&out, root, 0);
		text_buffer_add(&out, "\n", 1);
	}
	cJSON_Delete(root);
	if (!root || out.out_of_memory) {
		text_buffer_free(&out);
		tkvm_error_set(err, -ENOMEM, "%s: out of memory", f->path);
		return NULL;
	}
	return text_buffer_take(&out);
}

/* --- Files ---------------------------------------------------------------- */

/* A large body gets a file beside the fixture, "<stem>.<role>.bin". */
static int place_large_body(struct fixture *f, struct fixture_body *body, const char *role)
{
	if (body->form == FIXTURE_BODY_FILE || body->length <= FIXTURE_INLINE_LIMIT)
		return 0;
	const char *file = strrchr(f->path, '/');
	file = file ? file + 1 : f->path;
	size_t stem = strlen(file);
	if (stem > 5 && !strcmp(file + stem - 5, ".json"))
		stem -= 5;
	size_t n = stem + strlen(role) + 8;
	free(body->file);
	if (!(body->file = malloc(n)))
		return -ENOMEM;
	snprintf(body->file, n, "%.*s.%s.bin", (int)stem, file, role);
	body->form = FIXTURE_BODY_FILE;
	return 0;
}

static int write_body_file(const struct fixture *f, const struct fixture_body *body, struct tkvm_error *err)
{
	if (body->form != FIXTURE_BODY_FILE)
		return 0;
	char *path;
	if (body->file[0] == '/')
		path = strdup(body->file);
	else if (asprintf(&path, "%s/%s", f->directory, body->file) < 0)
		path = NULL;
	if (!path)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	int rc = file_write_atomic(path, body->data ? (const void *)body->data : "", body->length, err);
	free(path);
	return rc;
}

int fixture_save(struct fixture *f, const struct fixture_redaction *redaction, struct tkvm_error *err)
{
	int rc = place_large_body(f, &f->body, "request");
	if (!rc && f->expect.check == FIXTURE_CHECK_EXACT)
		rc = place_large_body(f, &f->expect.body, "response");
	for (size_t i = 0; !rc && i < f->fetch_count; i++) {
		char role[48];
		snprintf(role, sizeof role, "fetch%zu.request", i + 1);
		rc = place_large_body(f, &f->fetches[i].request_body, role);
		snprintf(role, sizeof role, "fetch%zu.response", i + 1);
		if (!rc)
			rc = place_large_body(f, &f->fetches[i].response_body, role);
	}
	if (rc)
		return tkvm_error_set(err, rc, "%s: out of memory", f->path);
	/* Body files first: a fixture never names a file that is not there yet. */
	if ((rc = write_body_file(f, &f->body, err)) < 0)
		return rc;
	if (f->expect.check == FIXTURE_CHECK_EXACT && (rc = write_body_file(f, &f->expect.body, err)) < 0)
		return rc;
	for (size_t i = 0; i < f->fetch_count; i++)
		if ((rc = write_body_file(f, &f->fetches[i].request_body, err)) < 0 ||
		    (rc = write_body_file(f, &f->fetches[i].response_body, err)) < 0)
			return rc;
	char *text = fixture_to_text(f, redaction, err);
	if (!text)
		return -ENOMEM;
	rc = file_write_atomic(f->path, text, strlen(text), err);
	free(text);
	return rc;
}

void fixture_redact_request(struct fixture *f, const struct fixture_redaction *redaction)
{
	for (size_t i = 0; i < f->header_count; i++) {
		if (!fixture_header_is_secret(redaction, f->headers[i]))
			continue;
		const char *colon = strchr(f->headers[i], ':');
		size_t n = colon ? (size_t)(colon - f->headers[i]) : strlen(f->headers[i]);
		char *line = malloc(n + sizeof ": " FIXTURE_REDACTED);
		if (!line)
			continue;
		snprintf(line, n + sizeof ": " FIXTURE_REDACTED, "%.*s: " FIXTURE_REDACTED, (int)n, f->headers[i]);
		free(f->headers[i]);
		f->headers[i] = line;
	}
}
