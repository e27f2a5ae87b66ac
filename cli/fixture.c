/* Loading fixtures (see fixture.h): cJSON parses, and we walk the text in
 * step with it so every problem names its file and line. Nothing a fixture
 * holds is trusted: types, sizes, header syntax, base64, regular
 * expressions and the files it names are all checked before a test runs. */
#include "cli/fixture.h"
#include "cli/fixture_body.h"
#include "packager/json_text.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_URL 8192
#define MAX_NAME 200
#define MAX_FETCHES 1024
#define MAX_FETCH_HEADERS 256

/* Where we are: the fixture's text, for lines, and where errors go. */
struct reader {
	const char *text;
	const char *path;
	const char *directory;
	struct tkvm_error *err;
};

/* A value and its place in the text (NULL when not found again). */
struct node {
	const cJSON *json;
	const char *at;
	const char *key_at;
	const char *name; /* "expect.status", for messages */
};

static int fail(const struct reader *r, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const struct reader *r, const char *at, const char *fmt, ...)
{
	char what[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	int line = json_text_line_at(r->text, at);
	if (line > 0)
		return tkvm_error_set(r->err, -EINVAL, "%s:%d: %s", r->path, line, what);
	return tkvm_error_set(r->err, -EINVAL, "%s: %s", r->path, what);
}

static int out_of_memory(const struct reader *r) { return tkvm_error_set(r->err, -ENOMEM, "%s: out of memory", r->path); }

/* The member key of object (cJSON and text alike). */
static struct node member(const struct node *object, const char *key, char *name_buffer, size_t size)
{
	struct node n = {cJSON_GetObjectItemCaseSensitive(object->json, key), NULL, NULL, name_buffer};
	snprintf(name_buffer, size, "%s%s%s", object->name, *object->name ? "." : "", key);
	if (n.json)
		n.at = json_text_member(object->at, key, 0, &n.key_at);
	return n;
}

static const char *where(const struct node *n) { return n->key_at ? n->key_at : n->at; }


/* Every member must be one of known, once; keys starting with '_' are
 * comments and allowed anywhere. */
static int check_keys(const struct reader *r, const struct node *object, const char *const *known, size_t count)
{
	/* Duplicates are looked for pairwise: keep that cheap whatever the input. */
	int members = cJSON_GetArraySize(object->json);
	if (members > 64)
		return fail(r, object->at, "%s has %d members; that is not a fixture", *object->name ? object->name : "the fixture",
			    members);
	for (const cJSON *item = object->json->child; item; item = item->next) {
		const char *key = item->string ? item->string : "";
		const char *key_at = NULL;
		for (const cJSON *earlier = object->json->child; earlier != item; earlier = earlier->next)
			if (earlier->string && !strcmp(earlier->string, key)) {
				json_text_member(object->at, key, 1, &key_at);
				return fail(r, key_at, "\"%s\" appears twice in %s", key, *object->name ? object->name : "the fixture");
			}
		if (key[0] == '_')
			continue;
		bool found = false;
		const char *closest = NULL;
		size_t best = 3;
		for (size_t i = 0; i < count && !found; i++) {
			found = !strcmp(key, known[i]);
			size_t d = json_text_edit_distance(key, known[i]);
			if (d < best)
				best = d, closest = known[i];
		}
		if (found)
			continue;
		json_text_member(object->at, key, 0, &key_at);
		char quoted[128], hint[200] = "", list[400] = "";
		json_text_quote(key, quoted, sizeof quoted);
		if (closest) {
			snprintf(hint, sizeof hint, "; did you mean \"%s\"?", closest);
		} else {
			size_t used = 0;
			for (size_t i = 0; i < count && used < sizeof list; i++)
				used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", known[i]);
			snprintf(hint, sizeof hint, " (known: %s)", list);
		}
		return fail(r, key_at, "unknown key %s in %s%s", quoted, *object->name ? object->name : "the fixture", hint);
	}
	return 0;
}

static const char *type_name(const cJSON *v)
{
	return cJSON_IsString(v) ? "a string" : cJSON_IsNumber(v) ? "a number" : cJSON_IsBool(v) ? "true or false"
	     : cJSON_IsNull(v) ? "null" : cJSON_IsArray(v) ? "an array" : cJSON_IsObject(v) ? "an object" : "something else";
}

static int want_object(const struct reader *r, const struct node *n)
{
	if (cJSON_IsObject(n->json))
		return 0;
	return fail(r, where(n), "%s must be an object, not %s", n->name, type_name(n->json));
}

/* A string member copied out; absent leaves *out NULL. */
static int read_string(const struct reader *r, const struct node *object, const char *key, char **out, size_t max)
{
	char name[128];
	struct node n = member(object, key, name, sizeof name);
	*out = NULL;
	if (!n.json)
		return 0;
	if (!cJSON_IsString(n.json) || !n.json->valuestring)
		return fail(r, where(&n), "%s must be a string, not %s", name, type_name(n.json));
	if (strlen(n.json->valuestring) > max)
		return fail(r, where(&n), "%s is longer than %zu bytes", name, max);
	*out = strdup(n.json->valuestring);
	return *out ? 0 : out_of_memory(r);
}

static int read_int(const struct reader *r, const struct node *object, const char *key, int low, int high, int *out,
		    bool *present)
{
	char name[128];
	struct node n = member(object, key, name, sizeof name);
	if (present)
		*present = n.json != NULL;
	if (!n.json)
		return 0;
	double v = n.json->valuedouble;
	if (!cJSON_IsNumber(n.json))
		return fail(r, where(&n), "%s must be a whole number from %d to %d, not %s", name, low, high, type_name(n.json));
	if (v != (double)(long long)v || v < low || v > high)
		return fail(r, where(&n), "%s must be a whole number from %d to %d, got %g", name, low, high, v);
	*out = (int)v;
	return 0;
}

const char *fixture_header_problem(const char *line)
{
	const char *colon = strchr(line, ':');
	if (!colon)
		return "has no colon (write \"Name: value\")";
	if (colon == line)
		return "has an empty name";
	for (const char *c = line; c < colon; c++)
		if (!strchr("!#$%&'*+-.^_`|~", *c) && !((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
			return "has a character that is not allowed in a header name";
	for (const char *c = colon + 1; *c; c++)
		if ((unsigned char)*c < 32 && *c != '\t')
			return "has a control character (CR, LF, ...) in its value";
	return NULL;
}

bool fixture_method_valid(const char *method)
{
	if (!*method || strlen(method) > 32)
		return false;
	for (const char *c = method; *c; c++)
		if (!(*c >= 'A' && *c <= 'Z') && *c != '-' && *c != '_')
			return false;
	return true;
}

/* An array of strings; strict = every string must be a valid "Name: value"
 * line (what reaches the program); otherwise only no CR or LF (recorded
 * lines are passed on as they came, one per line). */
static int read_headers(const struct reader *r, const struct node *object, const char *key, size_t max, bool strict,
			char ***out, size_t *count)
{
	char name[128];
	struct node n = member(object, key, name, sizeof name);
	*out = NULL;
	*count = 0;
	if (!n.json)
		return 0;
	if (!cJSON_IsArray(n.json))
		return fail(r, where(&n), "%s must be an array of \"Name: value\" strings, not %s", name, type_name(n.json));
	size_t total = (size_t)cJSON_GetArraySize(n.json);
	if (total > max)
		return fail(r, where(&n), "%s has %zu headers; at most %zu", name, total, max);
	if (!total)
		return 0;
	char **lines = calloc(total, sizeof *lines);
	if (!lines)
		return out_of_memory(r);
	*out = lines;
	size_t i = 0;
	for (const cJSON *item = n.json->child; item; item = item->next, i++) {
		/* The element's place is looked up for a message only. */
		if (!cJSON_IsString(item) || !item->valuestring) {
			const char *at = json_text_element(n.at, i);
			return fail(r, at ? at : where(&n), "%s[%zu] must be a string \"Name: value\", not %s", name, i, type_name(item));
		}
		const char *problem = strict ? fixture_header_problem(item->valuestring)
				      : strpbrk(item->valuestring, "\r\n") ? "has a CR or LF in it" : NULL;
		if (!problem && strlen(item->valuestring) > 8192)
			problem = "is longer than 8192 bytes";
		if (problem) {
			char quoted[128];
			const char *at = json_text_element(n.at, i);
			return fail(r, at ? at : where(&n), "%s[%zu] %s %s", name, i,
				    json_text_quote(item->valuestring, quoted, sizeof quoted), problem);
		}
		if (!(lines[i] = strdup(item->valuestring)))
			return out_of_memory(r);
		*count = i + 1;
	}
	return 0;
}

/* A path under the fixture's directory (absolute paths are taken as they are). */
static char *resolve(const char *directory, const char *file)
{
	if (file[0] == '/')
		return strdup(file);
	size_t n = strlen(directory) + strlen(file) + 2;
	char *path = malloc(n);
	if (path)
		snprintf(path, n, "%s/%s", directory, file);
	return path;
}

/* body / body_base64 / body_file of object, at most one. */
static int read_body(const struct reader *r, const struct node *object, struct fixture_body *body)
{
	static const char *const keys[] = {"body", "body_base64", "body_file"};
	struct node found = {0};
	char names[3][128];
	int kind = -1;
	for (int k = 0; k < 3; k++) {
		struct node n = member(object, keys[k], names[k], sizeof names[k]);
		if (!n.json)
			continue;
		if (kind >= 0)
			return fail(r, where(&n), "%s has both \"%s\" and \"%s\": give one", object->name, keys[kind], keys[k]);
		kind = k;
		found = n;
	}
	if (kind < 0)
		return 0;
	if (!cJSON_IsString(found.json) || !found.json->valuestring)
		return fail(r, where(&found), "%s must be a string, not %s", found.name, type_name(found.json));
	const char *value = found.json->valuestring;
	if (kind == 0) {
		body->form = FIXTURE_BODY_TEXT;
		body->length = strlen(value);
		body->data = (uint8_t *)strdup(value);
		return body->data ? 0 : out_of_memory(r);
	}
	if (kind == 1) {
		body->form = FIXTURE_BODY_BASE64;
		if (body_base64_decode(value, &body->data, &body->length) < 0)
			return fail(r, where(&found), "%s is not valid base64", found.name);
		return 0;
	}
	body->form = FIXTURE_BODY_FILE;
	if (!*value)
		return fail(r, where(&found), "%s is empty (name a file relative to the fixture)", found.name);
	if (!(body->file = strdup(value)))
		return out_of_memory(r);
	char *path = resolve(r->directory, value);
	if (!path)
		return out_of_memory(r);
	struct tkvm_error file_err = {0};
	int rc = file_read_whole(path, &body->data, &body->length, &file_err);
	free(path);
	if (rc < 0)
		return fail(r, where(&found), "%s: %s", found.name, file_err.message);
	return 0;
}

static int read_request(const struct reader *r, const struct node *root, struct fixture *f)
{
	static const char *const keys[] = {"method", "url", "arg", "headers", "body", "body_base64", "body_file"};
	char name[128];
	struct node request = member(root, "request", name, sizeof name);
	if (!request.json)
		return fail(r, json_text_root(r->text), "no \"request\": a fixture needs {\"request\": {\"method\": \"GET\", \"url\": \"/\"}, ...}");
	int rc;
	if ((rc = want_object(r, &request)) || (rc = check_keys(r, &request, keys, COUNT_OF(keys))) ||
	    (rc = read_string(r, &request, "method", &f->method, 32)) || (rc = read_string(r, &request, "url", &f->url, MAX_URL)) ||
	    (rc = read_string(r, &request, "arg", &f->arg, MAX_URL)) ||
	    (rc = read_headers(r, &request, "headers", FIXTURE_MAX_HEADERS, true, &f->headers, &f->header_count)) ||
	    (rc = read_body(r, &request, &f->body)))
		return rc;
	char key_name[128];
	if (!f->url)
		return fail(r, request.at, "request has no \"url\" (the path, e.g. \"/hello\")");
	struct node url = member(&request, "url", key_name, sizeof key_name);
	if (f->url[0] != '/')
		return fail(r, where(&url), "request.url must start with '/' (the path the program sees), got \"%.100s\"", f->url);
	for (const char *c = f->url; *c; c++)
		if ((unsigned char)*c <= 32 || *c == 127)
			return fail(r, where(&url), "request.url has a space or control character; percent-encode it (%%20, ...)");
	if (!f->method && !(f->method = strdup(f->body.form != FIXTURE_BODY_NONE ? "POST" : "GET")))
		return out_of_memory(r);
	if (!fixture_method_valid(f->method)) {
		struct node method = member(&request, "method", key_name, sizeof key_name);
		return fail(r, where(&method), "request.method \"%.40s\" is not an HTTP method (GET, POST, ...)", f->method);
	}
	return 0;
}

static bool is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F')))
			return false;
	return true;
}

/* glibc's regcomp copies a repeated part once per repetition, so "a{99}"
 * nested a few times, or "a+++++...", grows exponentially and exhausts
 * memory. Before compiling, estimate the size as regcomp will expand it
 * (parts repeated are counted as often as copied) and refuse beyond a
 * budget no sensible pattern comes near. Back-references (a glibc
 * extension to POSIX EREs) are refused too: matching them can take
 * exponential time. */
#define REGEX_MAX_LENGTH 2048
#define REGEX_BUDGET 20000

static bool regex_too_complex(const char *pattern)
{
	if (strlen(pattern) > REGEX_MAX_LENGTH)
		return true;
	double sizes[64]; /* per open group: the size of what it holds so far */
	int depth = 0;
	double last = 0;  /* the size of the atom just before, which a repetition repeats */
	sizes[0] = 0;
	for (const char *p = pattern; *p; p++) {
		double atom = 1;
		switch (*p) {
		case '(':
			if (++depth == 64)
				return true;
			sizes[depth] = 0;
			last = 0;
			continue;
		case ')':
			if (depth == 0)
				break;
			atom = sizes[depth--] + 1;
			break;
		case '*':
		case '?':
		case '+':
			sizes[depth] += last; /* a copy, at most */
			last *= 2;
			if (sizes[depth] > REGEX_BUDGET)
				return true;
			continue;
		case '{': {
			char *end;
			long low = strtol(p + 1, &end, 10), high = low;
			if (*end == ',')
				high = end[1] == '}' ? low + 1 : strtol(end + 1, &end, 10);
			if (low < 0 || high < 0)
				return true;
			double copies = (double)(high > low ? high : low);
			sizes[depth] += last * (copies > 1 ? copies - 1 : 0);
			last *= copies > 1 ? copies : 1;
			if (sizes[depth] > REGEX_BUDGET)
				return true;
			while (*p && *p != '}')
				p++;
			if (!*p)
				return false; /* regcomp says what is wrong */
			continue;
		}
		case '[':
			/* A bracket expression is one atom: skip to its end. */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
					const char *close = strstr(p + 2, p[1] == ':' ? ":]" : p[1] == '.' ? ".]" : "=]");
					if (!close)
						return false;
					p = close + 1;
				}
				p++;
			}
			if (!*p)
				return false;
			break;
		case '\\':
			if (p[1] >= '1' && p[1] <= '9')
				return true; /* back-references can take exponential time to match */
			if (p[1])
				p++;
			break;
		default:
			break;
		}
		sizes[depth] += atom;
		last = atom;
		if (sizes[depth] > REGEX_BUDGET)
			return true;
	}
	return false;
}

static int read_expect(const struct reader *r, const struct node *root, struct fixture *f)
{
	static const char *const keys[] = {"status", "headers", "body", "body_base64", "body_file", "body_contains",
					   "body_regex", "body_sha256"};
	char name[128];
	struct node expect = member(root, "expect", name, sizeof name);
	if (!expect.json)
		return 0;
	struct fixture_expect *e = &f->expect;
	int rc;
	if ((rc = want_object(r, &expect)) || (rc = check_keys(r, &expect, keys, COUNT_OF(keys))) ||
	    (rc = read_int(r, &expect, "status", 100, 999, &e->status, NULL)) ||
	    (rc = read_headers(r, &expect, "headers", TKVM_MAX_RESPONSE_HEADERS + 2, true, &e->headers, &e->header_count)) ||
	    (rc = read_body(r, &expect, &e->body)))
		return rc;
	if (e->body.form != FIXTURE_BODY_NONE)
		e->check = FIXTURE_CHECK_EXACT;
	static const char *const pattern_keys[] = {"body_contains", "body_regex", "body_sha256"};
	static const enum fixture_check checks[] = {FIXTURE_CHECK_CONTAINS, FIXTURE_CHECK_REGEX, FIXTURE_CHECK_SHA256};
	for (size_t k = 0; k < COUNT_OF(pattern_keys); k++) {
		char key_name[128];
		struct node n = member(&expect, pattern_keys[k], key_name, sizeof key_name);
		if (!n.json)
			continue;
		if (e->check != FIXTURE_CHECK_NONE)
			return fail(r, where(&n), "expect has more than one body check (\"%s\" and another): give one", pattern_keys[k]);
		if (!cJSON_IsString(n.json) || !n.json->valuestring)
			return fail(r, where(&n), "%s must be a string, not %s", key_name, type_name(n.json));
		e->check = checks[k];
		if (!(e->pattern = strdup(n.json->valuestring)))
			return out_of_memory(r);
		if (e->check == FIXTURE_CHECK_SHA256) {
			if (!is_hex64(e->pattern))
				return fail(r, where(&n), "expect.body_sha256 must be 64 hexadecimal digits (sha256sum's output)");
			for (char *c = e->pattern; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
		} else if (e->check == FIXTURE_CHECK_REGEX) {
			if (regex_too_complex(e->pattern))
				return fail(r, where(&n), "expect.body_regex is too long, repeats too much (nested or stacked "
						       "repetitions) or has a back-reference; write a simpler pattern");
			regex_t re;
			int code = regcomp(&re, e->pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
			if (code) {
				char why[200];
				regerror(code, &re, why, sizeof why);
				return fail(r, where(&n), "expect.body_regex is not a valid POSIX extended regular expression: %s", why);
			}
			regfree(&re);
		}
	}
	return 0;
}

static int read_fetch(const struct reader *r, const cJSON *json, const char *at, int line, size_t index,
		      struct fixture_fetch *fetch)
{
	static const char *const keys[] = {"request", "response"};
	static const char *const request_keys[] = {"method", "url", "headers", "body", "body_base64", "body_file"};
	static const char *const response_keys[] = {"status", "content_type", "headers", "body", "body_base64",
						    "body_file", "curl_code", "error"};
	char name[64], request_name[80], response_name[80];
	snprintf(name, sizeof name, "fetches[%zu]", index);
	struct node item = {json, at, NULL, name};
	fetch->line = line;
	int rc;
	if ((rc = want_object(r, &item)) || (rc = check_keys(r, &item, keys, COUNT_OF(keys))))
		return rc;
	struct node request = member(&item, "request", request_name, sizeof request_name);
	struct node response = member(&item, "response", response_name, sizeof response_name);
	if (!request.json || !response.json)
		return fail(r, item.at, "%s needs a \"request\" and a \"response\"", name);
	if ((rc = want_object(r, &request)) || (rc = check_keys(r, &request, request_keys, COUNT_OF(request_keys))) ||
	    (rc = read_string(r, &request, "method", &fetch->method, 32)) ||
	    (rc = read_string(r, &request, "url", &fetch->url, 4096)) ||
	    (rc = read_headers(r, &request, "headers", MAX_FETCH_HEADERS, false, &fetch->request_headers,
			       &fetch->request_header_count)) ||
	    (rc = read_body(r, &request, &fetch->request_body)))
		return rc;
	if (!fetch->url)
		return fail(r, request.at, "%s.request has no \"url\"", name);
	if (!fetch->method && !(fetch->method = strdup(fetch->request_body.form ? "POST" : "GET")))
		return out_of_memory(r);
	if (!fixture_method_valid(fetch->method)) {
		char key_name[128];
		struct node method = member(&request, "method", key_name, sizeof key_name);
		return fail(r, where(&method), "%s.request.method \"%.40s\" is not an HTTP method", name, fetch->method);
	}
	bool has_status = false;
	if ((rc = want_object(r, &response)) || (rc = check_keys(r, &response, response_keys, COUNT_OF(response_keys))) ||
	    (rc = read_int(r, &response, "status", 0, 999, &fetch->status, &has_status)) ||
	    (rc = read_string(r, &response, "content_type", &fetch->content_type, 127)) ||
	    (rc = read_headers(r, &response, "headers", MAX_FETCH_HEADERS, false, &fetch->response_headers,
			       &fetch->response_header_count)) ||
	    (rc = read_body(r, &response, &fetch->response_body)) ||
	    (rc = read_int(r, &response, "curl_code", 1, 99, &fetch->curl_code, NULL)) ||
	    (rc = read_string(r, &response, "error", &fetch->error, 255)))
		return rc;
	if (!has_status && !fetch->curl_code)
		return fail(r, response.at, "%s.response needs a \"status\" (or \"curl_code\" and \"error\" for a failed fetch)", name);
	return 0;
}

/* Where each element of the array at array_at starts, and its line
 * (array_line is the array's), in one pass: json_text_element and
 * json_text_line_at walk from the start every time, which would make a
 * long array quadratic. The text is valid JSON with comments. */
static void element_positions(const char *array_at, int array_line, const char **positions, int *lines, size_t count)
{
	if (!array_at || *array_at != '[')
		return;
	const char *p = array_at + 1, *counted = array_at;
	int line = array_line;
	int depth = 0;
	size_t i = 0;
	bool want = true;
	while (*p && i < count) {
		if ((unsigned char)*p <= ' ') {
			p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '/') {
			p += strcspn(p, "\n");
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			p = end ? end + 2 : p + strlen(p);
			continue;
		}
		if (want && depth == 0) {
			for (; counted < p; counted++)
				line += *counted == '\n';
			lines[i] = line;
			positions[i++] = p;
			want = false;
		}
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p)
				p++;
			continue;
		}
		if (*p == '[' || *p == '{')
			depth++;
		else if ((*p == ']' || *p == '}') && depth-- == 0)
			return;
		else if (*p == ',' && depth == 0)
			want = true;
		p++;
	}
}

static int read_fetches(const struct reader *r, const struct node *root, struct fixture *f)
{
	char name[128];
	struct node fetches = member(root, "fetches", name, sizeof name);
	if (!fetches.json)
		return 0;
	if (!cJSON_IsArray(fetches.json))
		return fail(r, where(&fetches), "fetches must be an array, not %s", type_name(fetches.json));
	size_t count = (size_t)cJSON_GetArraySize(fetches.json);
	if (count > MAX_FETCHES)
		return fail(r, where(&fetches), "fetches has %zu entries; at most %d", count, MAX_FETCHES);
	if (!count)
		return 0;
	const char **positions = calloc(count, sizeof *positions);
	int *lines = calloc(count, sizeof *lines);
	if (!positions || !lines || !(f->fetches = calloc(count, sizeof *f->fetches))) {
		free(positions);
		free(lines);
		return out_of_memory(r);
	}
	element_positions(fetches.at, json_text_line_at(r->text, fetches.at), positions, lines, count);
	size_t i = 0;
	int rc = 0;
	for (const cJSON *item = fetches.json->child; item && !rc; item = item->next, i++) {
		f->fetch_count = i + 1;
		rc = read_fetch(r, item, positions[i], lines[i], i, &f->fetches[i]);
	}
	free(positions);
	free(lines);
	return rc;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

int fixture_set_path(struct fixture *f, const char *path, const char *name)
{
	free(f->path);
	free(f->directory);
	f->path = strdup(path);
	const char *slash = strrchr(path, '/');
	f->directory = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (name && name != f->name) {
		free(f->name);
		f->name = strdup(name);
	} else if (!f->name) {
		const char *file = base_name(path);
		size_t n = strlen(file);
		f->name = strndup(file, n > 5 && !strcmp(file + n - 5, ".json") ? n - 5 : n);
	}
	return f->path && f->directory && f->name ? 0 : -ENOMEM;
}

int fixture_parse(const char *text, size_t length, const char *path, struct fixture *f, struct tkvm_error *err)
{
	memset(f, 0, sizeof *f);
	if (fixture_set_path(f, path, NULL) < 0) {
		fixture_free(f);
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", path);
	}
	cJSON *json = json_text_parse(text, length, path, err);
	if (!json) {
		fixture_free(f);
		return err ? (err->code ? err->code : -EINVAL) : -EINVAL;
	}
	/* The walkers need NUL-terminated text; json_text_parse refused NUL bytes. */
	char *copy = strndup(text, length);
	struct reader r = {copy, path, f->directory, err};
	struct node root = {json, json_text_root(copy), NULL, ""};
	static const char *const keys[] = {"name", "description", "request", "expect", "fetches"};
	int rc;
	char *name = NULL;
	if (!copy)
		rc = out_of_memory(&r);
	else if (!cJSON_IsObject(json))
		rc = fail(&r, root.at, "a fixture is a JSON object {\"name\": ..., \"request\": ..., \"expect\": ...}, not %s",
			  type_name(json));
	else if (!(rc = check_keys(&r, &root, keys, COUNT_OF(keys))) && !(rc = read_string(&r, &root, "name", &name, MAX_NAME)) &&
		 !(rc = read_string(&r, &root, "description", &f->description, 4096)) && !(rc = read_request(&r, &root, f)) &&
		 !(rc = read_expect(&r, &root, f)))
		rc = read_fetches(&r, &root, f);
	if (!rc && name) {
		char key_name[32];
		struct node n = member(&root, "name", key_name, sizeof key_name);
		if (!*name)
			rc = fail(&r, where(&n), "name is empty");
		for (const char *c = name; !rc && *c; c++)
			if ((unsigned char)*c < 32 || *c == 127)
				rc = fail(&r, where(&n), "name has a control character");
		if (!rc) {
			free(f->name);
			f->name = name;
			name = NULL;
		}
	}
	free(name);
	free(copy);
	cJSON_Delete(json);
	if (rc)
		fixture_free(f);
	return rc;
}

int fixture_load(const char *path, struct fixture *f, struct tkvm_error *err)
{
	uint8_t *text;
	size_t length;
	memset(f, 0, sizeof *f);
	int rc = file_read_whole(path, &text, &length, err);
	if (rc < 0)
		return rc;
	rc = fixture_parse((const char *)text, length, path, f, err);
	free(text);
	return rc;
}

void fixture_free_lines(char **lines, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(lines[i]);
	free(lines);
}

void fixture_body_free(struct fixture_body *body)
{
	free(body->data);
	free(body->file);
	memset(body, 0, sizeof *body);
}

int fixture_body_set(struct fixture_body *body, const uint8_t *data, size_t length)
{
	uint8_t *copy = malloc(length + 1);
	if (!copy)
		return -ENOMEM;
	if (length)
		memcpy(copy, data, length);
	copy[length] = 0;
	free(body->data);
	body->data = copy;
	body->length = length;
	if (body->form != FIXTURE_BODY_FILE)
		body->form = body_is_text(copy, length) ? FIXTURE_BODY_TEXT : FIXTURE_BODY_BASE64;
	return 0;
}

void fixture_fetch_free(struct fixture_fetch *fetch)
{
	free(fetch->method);
	free(fetch->url);
	fixture_free_lines(fetch->request_headers, fetch->request_header_count);
	fixture_body_free(&fetch->request_body);
	free(fetch->content_type);
	fixture_free_lines(fetch->response_headers, fetch->response_header_count);
	fixture_body_free(&fetch->response_body);
	free(fetch->error);
	memset(fetch, 0, sizeof *fetch);
}

void fixture_free(struct fixture *f)
{
	free(f->path);
	free(f->directory);
	free(f->name);
	free(f->description);
	free(f->method);
	free(f->url);
	free(f->arg);
	fixture_free_lines(f->headers, f->header_count);
	fixture_body_free(&f->body);
	fixture_free_lines(f->expect.headers, f->expect.header_count);
	fixture_body_free(&f->expect.body);
	free(f->expect.pattern);
	for (size_t i = 0; i < f->fetch_count; i++)
		fixture_fetch_free(&f->fetches[i]);
	free(f->fetches);
	memset(f, 0, sizeof *f);
}

bool fixture_header_is_secret(const struct fixture_redaction *redaction, const char *line)
{
	static const char *const always[] = {"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization"};
	const char *colon = strchr(line, ':');
	size_t n = colon ? (size_t)(colon - line) : strlen(line);
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < COUNT_OF(always); i++)
		if (strlen(always[i]) == n && !strncasecmp(line, always[i], n))
			return true;
	for (size_t i = 0; redaction && i < redaction->count; i++)
		if (strlen(redaction->names[i]) == n && !strncasecmp(line, redaction->names[i], n))
			return true;
	return false;
}
