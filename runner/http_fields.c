/* Header line lists (see http_fields.h). */
#include "runner/http_fields.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_fields_init(struct http_fields *fields, size_t limit)
{
	memset(fields, 0, sizeof *fields);
	fields->limit = limit;
}

void http_fields_clear(struct http_fields *fields)
{
	for (size_t i = 0; i < fields->count; i++)
		free(fields->lines[i]);
	fields->count = 0;
}

void http_fields_free(struct http_fields *fields)
{
	http_fields_clear(fields);
	free(fields->lines);
	free(fields->lengths);
	fields->lines = NULL;
	fields->lengths = NULL;
	fields->capacity = 0;
}

static size_t name_length(const char *line, size_t length)
{
	const char *colon = memchr(line, ':', length);
	return colon ? (size_t)(colon - line) : length;
}

int http_fields_append(struct http_fields *fields, const char *line, size_t length)
{
	if (length > HTTP_FIELD_MAX_LENGTH)
		return -EINVAL;
	if (fields->count >= fields->limit)
		return -ENOSPC;
	if (fields->count == fields->capacity) {
		size_t capacity = fields->capacity ? fields->capacity * 2 : 16;
		char **lines = realloc(fields->lines, capacity * sizeof *lines);
		if (!lines)
			return -ENOMEM;
		fields->lines = lines;
		size_t *lengths = realloc(fields->lengths, capacity * sizeof *lengths);
		if (!lengths)
			return -ENOMEM;
		fields->lengths = lengths;
		fields->capacity = capacity;
	}
	char *copy = malloc(length + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, line, length);
	copy[length] = 0;
	fields->lines[fields->count] = copy;
	fields->lengths[fields->count] = length;
	return (int)fields->count++;
}

static void remove_at(struct http_fields *fields, size_t index)
{
	free(fields->lines[index]);
	memmove(&fields->lines[index], &fields->lines[index + 1], (fields->count - index - 1) * sizeof fields->lines[0]);
	memmove(&fields->lengths[index], &fields->lengths[index + 1], (fields->count - index - 1) * sizeof fields->lengths[0]);
	fields->count--;
}

int http_fields_find(const struct http_fields *fields, const char *key, size_t key_length)
{
	/* A key given as "Name:" or "Name: value" still means the name. */
	key_length = name_length(key, key_length);
	for (size_t i = 0; i < fields->count; i++) {
		size_t n = name_length(fields->lines[i], fields->lengths[i]);
		if (n == key_length && n < fields->lengths[i] && strncasecmp(fields->lines[i], key, n) == 0)
			return (int)i;
	}
	return -1;
}

int http_fields_set(struct http_fields *fields, const char *line, size_t length)
{
	if (length > HTTP_FIELD_MAX_LENGTH)
		return -EINVAL;
	size_t n = name_length(line, length);
	int first = -1;
	for (size_t i = 0; i < fields->count;) {
		size_t m = name_length(fields->lines[i], fields->lengths[i]);
		if (m == n && strncasecmp(fields->lines[i], line, n) == 0) {
			if (first < 0 && n < length) {
				first = (int)i;
				i++;
				continue;
			}
			remove_at(fields, i);
			continue;
		}
		i++;
	}
	if (n == length)
		return 0; /* no colon: unset */
	if (first < 0)
		return http_fields_append(fields, line, length) < 0 ? -ENOSPC : 0;
	char *copy = malloc(length + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, line, length);
	copy[length] = 0;
	free(fields->lines[first]);
	fields->lines[first] = copy;
	fields->lengths[first] = length;
	return 0;
}

char **http_fields_take(struct http_fields *fields, size_t *count)
{
	char **lines = fields->lines;
	*count = fields->count;
	free(fields->lengths);
	fields->lines = NULL;
	fields->lengths = NULL;
	fields->count = fields->capacity = 0;
	return lines;
}
