/* Matching fetches with recordings (see fixture_match.h). cJSON parses
 * JSON bodies and cJSON_Compare compares them structurally: members by
 * name in any order, arrays in order, numbers by value. */
#include "cli/fixture_match.h"
#include "cli/fixture_body.h"
#include "cli/text_diff.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_COMPARED 256   /* characters of a URL the distance looks at */
#define MAX_JSON_DIFFERENCES 6

/* A JSON object or array filling the whole body (white space around it
 * allowed), or NULL. */
static cJSON *parse_json_body(const uint8_t *data, size_t length)
{
	size_t start = 0;
	while (start < length && strchr(" \t\r\n", data[start]) && data[start])
		start++;
	if (start == length || (data[start] != '{' && data[start] != '['))
		return NULL;
	const char *end = NULL;
	cJSON *json = cJSON_ParseWithLengthOpts((const char *)data + start, length - start, &end, false);
	if (!json)
		return NULL;
	const char *stop = (const char *)data + length;
	while (end && end < stop && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != stop) {
		cJSON_Delete(json);
		return NULL;
	}
	return json;
}

bool fixture_bodies_match(const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length)
{
	if (a_length == b_length && (!a_length || !memcmp(a, b, a_length)))
		return true;
	cJSON *ja = parse_json_body(a, a_length);
	if (!ja)
		return false;
	cJSON *jb = parse_json_body(b, b_length);
	bool same = jb && cJSON_Compare(ja, jb, true);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	return same;
}

bool fixture_fetch_matches(const struct fixture_fetch *recorded, const struct fixture_fetch *request)
{
	return !strcasecmp(recorded->method, request->method) && !strcmp(recorded->url, request->url) &&
	       fixture_bodies_match(recorded->request_body.data, recorded->request_body.length, request->request_body.data,
				    request->request_body.length);
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strnlen(a, URL_COMPARED), lb = strnlen(b, URL_COMPARED);
	size_t *row = malloc((lb + 1) * sizeof *row);
	if (!row)
		return la > lb ? la : lb;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diagonal = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diagonal + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diagonal = up;
		}
	}
	size_t d = row[lb];
	free(row);
	return d;
}

long fixture_closest_fetch(const struct fixture_fetch *recorded, size_t count, const struct fixture_fetch *request)
{
	long best = -1;
	size_t best_score = (size_t)-1;
	for (size_t i = 0; i < count; i++) {
		size_t score = edit_distance(recorded[i].url, request->url);
		if (strcasecmp(recorded[i].method, request->method))
			score += 20;
		if (!fixture_bodies_match(recorded[i].request_body.data, recorded[i].request_body.length,
					  request->request_body.data, request->request_body.length))
			score += 10;
		if (score < best_score)
			best_score = score, best = (long)i;
	}
	return best;
}

/* A JSON value in a few characters, for "recorded 1, got 2". */
static void short_json(struct text_buffer *out, const cJSON *v)
{
	char *text = v ? cJSON_PrintUnformatted(v) : NULL;
	if (!text) {
		text_buffer_printf(out, "(nothing)");
		return;
	}
	text_diff_escaped(out, text, strlen(text), 60);
	free(text);
}

/* Appends "$.a.b[2]: ..." lines for the first differences between two
 * JSON values; returns how many it found. */
static int json_differences(const cJSON *recorded, const cJSON *got, char *path, size_t path_size, const char *indent,
			    struct text_buffer *out, int found)
{
	if (found >= MAX_JSON_DIFFERENCES || cJSON_Compare(recorded, got, true))
		return found;
	size_t used = strlen(path);
	if (cJSON_IsObject(recorded) && cJSON_IsObject(got)) {
		for (const cJSON *item = recorded->child; item && found < MAX_JSON_DIFFERENCES; item = item->next) {
			snprintf(path + used, path_size - used, ".%s", item->string ? item->string : "");
			const cJSON *other = cJSON_GetObjectItemCaseSensitive(got, item->string);
			if (!other) {
				text_buffer_printf(out, "%s%s: in the recording (", indent, path);
				short_json(out, item);
				text_buffer_printf(out, "), missing in the fetch\n");
				found++;
			} else {
				found = json_differences(item, other, path, path_size, indent, out, found);
			}
		}
		for (const cJSON *item = got->child; item && found < MAX_JSON_DIFFERENCES; item = item->next) {
			if (cJSON_GetObjectItemCaseSensitive(recorded, item->string))
				continue;
			snprintf(path + used, path_size - used, ".%s", item->string ? item->string : "");
			text_buffer_printf(out, "%s%s: in the fetch (", indent, path);
			short_json(out, item);
			text_buffer_printf(out, "), not in the recording\n");
			found++;
		}
	} else if (cJSON_IsArray(recorded) && cJSON_IsArray(got)) {
		int n = cJSON_GetArraySize(recorded), m = cJSON_GetArraySize(got);
		if (n != m) {
			text_buffer_printf(out, "%s%s: recorded %d item%s, the fetch has %d\n", indent, *path ? path : "$", n,
					   n == 1 ? "" : "s", m);
			found++;
		}
		const cJSON *a = recorded->child, *b = got->child;
		for (int i = 0; a && b && found < MAX_JSON_DIFFERENCES; i++, a = a->next, b = b->next) {
			snprintf(path + used, path_size - used, "[%d]", i);
			found = json_differences(a, b, path, path_size, indent, out, found);
		}
	} else {
		text_buffer_printf(out, "%s%s: recorded ", indent, *path ? path : "$");
		short_json(out, recorded);
		text_buffer_printf(out, ", the fetch has ");
		short_json(out, got);
		text_buffer_printf(out, "\n");
		found++;
	}
	path[used] = 0;
	return found;
}

static void describe_body(const struct fixture_body *recorded, const struct fixture_body *got, const char *indent,
			  struct text_buffer *out)
{
	cJSON *ja = parse_json_body(recorded->data, recorded->length), *jb = parse_json_body(got->data, got->length);
	char deeper[64];
	snprintf(deeper, sizeof deeper, "%s  ", indent);
	if (ja && jb) {
		char path[512] = "$";
		text_buffer_printf(out, "%sbody (JSON, compared by value):\n", indent);
		json_differences(ja, jb, path, sizeof path, deeper, out, 0);
	} else if (body_is_text(recorded->data, recorded->length) && body_is_text(got->data, got->length)) {
		text_buffer_printf(out, "%sbody:\n", indent);
		text_diff_unified("recorded", (const char *)recorded->data, recorded->length, "fetch",
				  (const char *)got->data, got->length, deeper, 30, out);
	} else {
		char ha[65], hb[65];
		body_sha256_hex(recorded->data ? recorded->data : (const uint8_t *)"", recorded->length, ha);
		body_sha256_hex(got->data ? got->data : (const uint8_t *)"", got->length, hb);
		text_buffer_printf(out, "%sbody: recorded %zu bytes (sha256 %.16s...), the fetch has %zu bytes (sha256 %.16s...)\n",
				   indent, recorded->length, ha, got->length, hb);
	}
	cJSON_Delete(ja);
	cJSON_Delete(jb);
}

void fixture_describe_difference(const struct fixture_fetch *recorded, const struct fixture_fetch *request,
				 const char *indent, struct text_buffer *out)
{
	if (strcasecmp(recorded->method, request->method))
		text_buffer_printf(out, "%smethod: recorded %s, the fetch is %s\n", indent, recorded->method, request->method);
	if (strcmp(recorded->url, request->url)) {
		size_t at = 0;
		while (recorded->url[at] && recorded->url[at] == request->url[at])
			at++;
		text_buffer_printf(out, "%surl: recorded ", indent);
		text_diff_escaped(out, recorded->url, strlen(recorded->url), 300);
		text_buffer_printf(out, "\n%s     fetch    ", indent);
		text_diff_escaped(out, request->url, strlen(request->url), 300);
		text_buffer_printf(out, "\n");
		if (at < 300)
			text_buffer_printf(out, "%s              %*s^\n", indent, (int)at, "");
	}
	if (!fixture_bodies_match(recorded->request_body.data, recorded->request_body.length, request->request_body.data,
				  request->request_body.length))
		describe_body(&recorded->request_body, &request->request_body, indent, out);
}
