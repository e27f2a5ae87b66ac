/* HAR capture → fixtures (see har_import.h). The HAR is checked as
 * strictly as a fixture: a file that is not JSON, or has no log.entries,
 * is an error with its line; an entry that cannot become a fixture (no
 * response, not http, not under --har-base, a malformed member) is
 * skipped with the reason, and the others still import. */
#include "cli/har_import.h"
#include "cli/fixture_body.h"
#include "packager/json_text.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_ENTRIES 10000
#define SLUG_MAX 60

/* Set by the proxy or the connection, not by the program: left out. */
static const char *const dropped_request_headers[] = {"Host", "Connection", "Content-Length", "Transfer-Encoding",
						      "Keep-Alive", "Upgrade", "TE", "Proxy-Connection"};

void har_fixture_slug(const char *method, const char *url, char *slug, size_t size)
{
	size_t n = 0;
	bool dash = false;
	for (const char *c = method; *c && n + 1 < size && n < SLUG_MAX; c++)
		slug[n++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
	size_t method_end = n;
	for (const char *c = url; *c && *c != '?' && *c != '#' && n + 1 < size && n < SLUG_MAX; c++) {
		char lower = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		if ((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9')) {
			if (dash && n + 2 < size)
				slug[n++] = '-';
			slug[n++] = lower;
			dash = false;
		} else {
			dash = true;
		}
	}
	if (n == method_end && n + 6 < size) {
		memcpy(slug + n, "-root", 5);
		n += 5;
	} else if (n > method_end && slug[method_end] != '-') {
		/* "get" + "hello" reads "get-hello". */
		if (n + 1 < size) {
			memmove(slug + method_end + 1, slug + method_end, n - method_end);
			slug[method_end] = '-';
			n++;
		}
	}
	slug[n] = 0;
}

static bool dropped(const char *name)
{
	if (name[0] == ':') /* HTTP/2 pseudo-headers */
		return true;
	for (size_t i = 0; i < sizeof dropped_request_headers / sizeof *dropped_request_headers; i++)
		if (!strcasecmp(name, dropped_request_headers[i]))
			return true;
	return false;
}

static const char *string_of(const cJSON *object, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The part of url the program sees ("/x?y"), or NULL with why. */
static const char *program_url(const char *url, const char *base, const char **why)
{
	if (base) {
		size_t n = strlen(base);
		while (n && base[n - 1] == '/')
			n--;
		if (strncmp(url, base, n) || (url[n] && url[n] != '/' && url[n] != '?')) {
			*why = "not under --har-base";
			return NULL;
		}
		return url + n;
	}
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end || (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))) {
		*why = "not an http or https URL";
		return NULL;
	}
	return scheme_end + 3 + strcspn(scheme_end + 3, "/?#");
}

/* Body text of a HAR postData / content object into a fixture body. */
static const char *read_har_body(const cJSON *object, struct fixture_body *body)
{
	const char *text = string_of(object, "text");
	if (!text)
		return NULL;
	const char *encoding = string_of(object, "encoding");
	if (encoding && !strcasecmp(encoding, "base64")) {
		uint8_t *data;
		size_t length;
		if (body_base64_decode(text, &data, &length) < 0)
			return "its body is marked base64 but is not";
		int rc = fixture_body_set(body, data, length);
		free(data);
		return rc < 0 ? "out of memory" : NULL;
	}
	if (encoding)
		return "its body has an unknown encoding";
	return fixture_body_set(body, (const uint8_t *)text, strlen(text)) < 0 ? "out of memory" : NULL;
}

static const char *add_line(char ***lines, size_t *count, const char *name, const char *value)
{
	char *line;
	if (asprintf(&line, "%s: %s", name, value) < 0)
		return "out of memory";
	if (fixture_header_problem(line)) {
		free(line);
		return NULL; /* a header Varnish would not deliver: left out */
	}
	char **bigger = realloc(*lines, (*count + 1) * sizeof *bigger);
	if (!bigger) {
		free(line);
		return "out of memory";
	}
	*lines = bigger;
	(*lines)[(*count)++] = line;
	return NULL;
}

/* One entry into f; NULL when it became a fixture, else why not. */
static const char *entry_to_fixture(const cJSON *entry, const char *base, struct fixture *f)
{
	const cJSON *request = cJSON_GetObjectItemCaseSensitive(entry, "request");
	const cJSON *response = cJSON_GetObjectItemCaseSensitive(entry, "response");
	if (!cJSON_IsObject(request) || !cJSON_IsObject(response))
		return "it has no request or no response object";
	const char *method = string_of(request, "method"), *url = string_of(request, "url"), *why = NULL;
	if (!method || !url)
		return "its request has no method or no url";
	if (!fixture_method_valid(method))
		return "its method is not an HTTP method";
	const char *path = program_url(url, base, &why);
	if (!path)
		return why;
	if (!strncmp(path, "/_tkvm/", 7))
		return "a tkvm serve endpoint, not the program";
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(response, "status");
	if (!cJSON_IsNumber(status) || status->valuedouble < 100 || status->valuedouble > 999)
		return "its response has no status (the request did not complete)";
	char *fragment_free = strndup(*path ? path : "/", strcspn(*path ? path : "/", "#"));
	if (!fragment_free)
		return "out of memory";
	if (fragment_free[0] != '/') { /* "?q" right after the base */
		char *rooted;
		if (asprintf(&rooted, "/%s", fragment_free) < 0)
			rooted = NULL;
		free(fragment_free);
		if (!(fragment_free = rooted))
			return "out of memory";
	}
	for (const char *c = fragment_free; *c; c++)
		if ((unsigned char)*c <= 32 || *c == 127) {
			free(fragment_free);
			return "its URL has spaces or control characters";
		}
	f->url = fragment_free;
	if (!(f->method = strdup(method)))
		return "out of memory";

	const cJSON *headers = cJSON_GetObjectItemCaseSensitive(request, "headers");
	if (!cJSON_IsArray(headers))
		headers = NULL;
	bool has_content_type = false;
	const cJSON *h;
	cJSON_ArrayForEach(h, headers)
	{
		const char *name = string_of(h, "name"), *value = string_of(h, "value");
		if (!name || !value || dropped(name) || f->header_count == FIXTURE_MAX_HEADERS)
			continue;
		if (!strcasecmp(name, "X-Arg") && !f->arg && !(f->arg = strdup(value)))
			return "out of memory";
		has_content_type |= !strcasecmp(name, "Content-Type");
		if ((why = add_line(&f->headers, &f->header_count, name, value)))
			return why;
	}
	const cJSON *post = cJSON_GetObjectItemCaseSensitive(request, "postData");
	if (cJSON_IsObject(post)) {
		if ((why = read_har_body(post, &f->body)))
			return why;
		const char *mime = string_of(post, "mimeType");
		if (mime && *mime && !has_content_type && f->header_count < FIXTURE_MAX_HEADERS &&
		    (why = add_line(&f->headers, &f->header_count, "Content-Type", mime)))
			return why;
	}

	f->expect.status = (int)status->valuedouble;
	const cJSON *response_headers = cJSON_GetObjectItemCaseSensitive(response, "headers");
	if (!cJSON_IsArray(response_headers))
		response_headers = NULL;
	cJSON_ArrayForEach(h, response_headers)
	{
		const char *name = string_of(h, "name"), *value = string_of(h, "value");
		if (name && value && !strcasecmp(name, "Content-Type")) {
			if ((why = add_line(&f->expect.headers, &f->expect.header_count, "Content-Type", value)))
				return why;
			break;
		}
	}
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(response, "content");
	if (cJSON_IsObject(content) && string_of(content, "text")) {
		if ((why = read_har_body(content, &f->expect.body)))
			return why;
		f->expect.check = FIXTURE_CHECK_EXACT;
	}
	return NULL;
}

static int ensure_directory(const char *directory, struct tkvm_error *err)
{
	struct stat st;
	if (stat(directory, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : tkvm_error_set(err, -ENOTDIR, "%s is not a directory", directory);
	if (mkdir(directory, 0777) < 0)
		return tkvm_error_set(err, -errno, "cannot make the fixtures directory %s: %s", directory, strerror(errno));
	return 0;
}

/* A file name for the slug not taken in this import: slug.json,
 * slug-2.json, ... */
static char *free_file(const char *directory, const char *slug, const struct har_import_result *result, size_t done)
{
	for (int n = 1; n < 10000; n++) {
		char *path;
		if ((n == 1 ? asprintf(&path, "%s/%s.json", directory, slug) : asprintf(&path, "%s/%s-%d.json", directory, slug, n)) < 0)
			return NULL;
		bool taken = false;
		for (size_t i = 0; i < done && !taken; i++)
			taken = result->entries[i].file && !strcmp(result->entries[i].file, path);
		if (!taken)
			return path;
		free(path);
	}
	return NULL;
}

int har_import(const char *har_path, const struct har_import_options *o, struct har_import_result *result,
	       struct tkvm_error *err)
{
	memset(result, 0, sizeof *result);
	uint8_t *text;
	size_t length;
	int rc = file_read_whole(har_path, &text, &length, err);
	if (rc < 0)
		return rc;
	cJSON *root = json_text_parse((const char *)text, length, har_path, err);
	free(text);
	if (!root)
		return -EINVAL;
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "log"), "entries");
	if (!cJSON_IsArray(entries)) {
		cJSON_Delete(root);
		return tkvm_error_set(err, -EINVAL, "%s: not a HAR capture: it has no log.entries array", har_path);
	}
	size_t count = (size_t)cJSON_GetArraySize(entries);
	if (count > MAX_ENTRIES) {
		cJSON_Delete(root);
		return tkvm_error_set(err, -E2BIG, "%s: %zu entries; at most %d", har_path, count, MAX_ENTRIES);
	}
	if ((rc = ensure_directory(o->directory, err)) < 0 ||
	    (count && !(result->entries = calloc(count, sizeof *result->entries)))) {
		cJSON_Delete(root);
		return rc < 0 ? rc : tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	const cJSON *entry;
	size_t i = 0;
	cJSON_ArrayForEach(entry, entries)
	{
		struct har_import_entry *e = &result->entries[i];
		e->index = i++;
		result->count = i;
		const cJSON *request = cJSON_GetObjectItemCaseSensitive(entry, "request");
		const char *method = string_of(request, "method"), *url = string_of(request, "url");
		e->method = method ? strdup(method) : NULL;
		e->url = url ? strdup(url) : NULL;
		struct fixture f = {0};
		const char *why = cJSON_IsObject(entry) ? entry_to_fixture(entry, o->base_url, &f) : "it is not an object";
		if (why) {
			snprintf(e->why, sizeof e->why, "%s", why);
			fixture_free(&f);
			continue;
		}
		char slug[SLUG_MAX + 8];
		har_fixture_slug(f.method, f.url, slug, sizeof slug);
		char *path = free_file(o->directory, slug, result, e->index);
		struct stat st;
		if (path && !o->force && stat(path, &st) == 0) {
			snprintf(e->why, sizeof e->why, "%.150s exists (--force replaces it)", path);
			free(path);
			fixture_free(&f);
			continue;
		}
		if (!path || fixture_set_path(&f, path, NULL) < 0) {
			free(path);
			fixture_free(&f);
			snprintf(e->why, sizeof e->why, "out of memory");
			continue;
		}
		fixture_redact_request(&f, o->redaction);
		rc = fixture_save(&f, o->redaction, err);
		fixture_free(&f);
		if (rc < 0) {
			free(path);
			cJSON_Delete(root);
			return rc;
		}
		e->file = path;
	}
	cJSON_Delete(root);
	return 0;
}

void har_import_result_free(struct har_import_result *result)
{
	for (size_t i = 0; i < result->count; i++) {
		free(result->entries[i].method);
		free(result->entries[i].url);
		free(result->entries[i].file);
	}
	free(result->entries);
	memset(result, 0, sizeof *result);
}
