/* libFuzzer target: tkvm publish edits a library JSON that came from a
 * server, as text. The input is a member name on the first line (used when
 * it is a plain name, else "hello") and the library text after it.
 * Whatever the text, setting the member must end in an error message and
 * no output, or in a text that parses as one JSON object (comments
 * allowed) where the member holds the new value and every other member
 * has the value it had before. Never a crash, a leak or undefined
 * behaviour. */
#include "packager/json_text.h"
#include "packager/library_edit.h"
#include "runner/error.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char value_json[] = "{\n    \"uri\": \"https://cdn.example.com/p/hello.tar.xz\",\n"
				 "    \"max_memory\": 64,\n    \"env\": [\"A=1\"]\n  }";

static void name_of(const uint8_t *data, size_t size, char name[65], size_t *skip)
{
	const uint8_t *newline = memchr(data, '\n', size);
	size_t length = newline ? (size_t)(newline - data) : 0;
	*skip = newline ? length + 1 : 0;
	bool plain = length > 0 && length <= 64;
	for (size_t i = 0; plain && i < length; i++)
		plain = data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\';
	if (plain) {
		memcpy(name, data, length);
		name[length] = 0;
	} else {
		strcpy(name, "hello");
	}
}

/* Same JSON value, compared as printed: cJSON_Compare looks object members
 * up by name, so an object with a name twice would not even equal itself. */
static bool same_value(const cJSON *a, const cJSON *b)
{
	if (!a || !b)
		return false;
	char *x = cJSON_PrintUnformatted(a), *y = cJSON_PrintUnformatted(b);
	bool same = x && y && strcmp(x, y) == 0;
	cJSON_free(x);
	cJSON_free(y);
	return same;
}

/* The first member called name, as library_parse takes it. */
static const cJSON *first_member(const cJSON *object, const char *name)
{
	for (const cJSON *m = object ? object->child : NULL; m; m = m->next)
		if (m->string && strcmp(m->string, name) == 0)
			return m;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[65];
	size_t skip;
	name_of(data, size, name, &skip);
	const char *text = (const char *)data + skip;
	size_t length = size - skip;

	char *out = NULL;
	size_t out_length = 0;
	struct tkvm_error err = {0};
	int rc = library_edit_set_member(text, length, "fuzz.json", name, value_json, &out, &out_length, &err);
	if (rc < 0) {
		if (out || !err.message[0])
			__builtin_trap(); /* refused: a reason, and nothing half-made */
		return 0;
	}
	if (!out || out[out_length] != 0)
		__builtin_trap();

	struct tkvm_error ignored = {0};
	cJSON *after = json_text_parse(out, out_length, "out.json", &ignored);
	cJSON *before = json_text_parse(text, length, "in.json", &ignored);
	cJSON *value = cJSON_Parse(value_json);
	if (!after || !cJSON_IsObject(after) || !value)
		__builtin_trap(); /* the result is always a library */
	if (!same_value(first_member(after, name), value))
		__builtin_trap(); /* holding the new value */
	/* Every other member, as it was (blank input has none). */
	for (const cJSON *m = before ? before->child : NULL; m; m = m->next) {
		if (!m->string || strcmp(m->string, name) == 0 || first_member(before, m->string) != m)
			continue;
		if (!same_value(first_member(after, m->string), m))
			__builtin_trap();
	}
	cJSON_Delete(value);
	cJSON_Delete(before);
	cJSON_Delete(after);
	free(out);
	return 0;
}
