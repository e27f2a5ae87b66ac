/* A list of HTTP header lines ("Name: value") owned by the host: the
 * request headers the program may read and change (where = 0) and the
 * response headers it builds (where = 1). */
#ifndef TKVM_RUNNER_HTTP_FIELDS_H
#define TKVM_RUNNER_HTTP_FIELDS_H
#include <stddef.h>
#include <stdint.h>

#define HTTP_FIELD_MAX_LENGTH 0xFFFF

struct http_fields {
	char **lines; /* NUL-terminated copies */
	size_t *lengths;
	size_t count, capacity, limit;
};

void http_fields_init(struct http_fields *fields, size_t limit);
void http_fields_clear(struct http_fields *fields);
void http_fields_free(struct http_fields *fields);

/* Appends a line; returns its index, -ENOSPC when the list is full,
 * -EINVAL when the line is too long, -ENOMEM. */
int http_fields_append(struct http_fields *fields, const char *line, size_t length);

/* "Name: value" replaces the first line with that name (case-insensitive)
 * and drops other lines of that name, or appends; a string without a colon
 * removes every line with that name. Returns 0 or a negative code. */
int http_fields_set(struct http_fields *fields, const char *line, size_t length);

/* Index of the first line whose name equals key (case-insensitive), or -1. */
int http_fields_find(const struct http_fields *fields, const char *key, size_t key_length);

/* Moves the lines out (for a response); the list is left empty. */
char **http_fields_take(struct http_fields *fields, size_t *count);
#endif
