/* JSON text as people write it: comments allowed (replaced by spaces so
 * positions and line numbers stay true), parse errors reported with line and
 * column, and the line of a member found again for messages. cJSON does the
 * parsing. */
#ifndef TKVM_PACKAGER_JSON_TEXT_H
#define TKVM_PACKAGER_JSON_TEXT_H
#include <stddef.h>
#include "runner/error.h"

struct cJSON;

/* Parses text; on error sets "SOURCE:LINE:COLUMN: invalid JSON: <what> near '<snippet>'"
 * (a trailing comma is named as such). Returns NULL on error. */
struct cJSON *json_text_parse(const char *text, size_t length, const char *source, struct tkvm_error *err);

/* A string as it can appear in a one-line message: in double quotes,
 * printable ASCII as is, the rest escaped, long strings cut. Returns buf. */
const char *json_text_quote(const char *s, char *buf, size_t size);

/* Edit distance (case-insensitive, transpositions count one) between two
 * names of at most 64 bytes, SIZE_MAX otherwise: for "did you mean". */
size_t json_text_edit_distance(const char *a, const char *b);

/* What a JSON value is, for messages: "a string", "an array", "null", ... */
const char *json_text_kind(const struct cJSON *value);

/* 1-based line of the first occurrence of "key" as an object key in text, 0 if not found. */
int json_text_key_line(const char *text, const char *key);

/* Walking NUL-terminated text (comments allowed) to a value, so a message
 * can give the line of a member that cJSON parsed. Each returns NULL when
 * the text does not have the expected shape there. */
/* The first value of the text. */
const char *json_text_root(const char *text);
/* The value of the nth (0-based) member named key of the object at
 * object_at; *key_at, when given, receives the position of its key. */
const char *json_text_member(const char *object_at, const char *key, size_t nth, const char **key_at);
/* Members in order, in one pass: at is the object's position, then what
 * the previous call returned; fills *key_at and *value_at of the next
 * member. NULL after the last one. */
const char *json_text_next_member(const char *at, const char **key_at, const char **value_at);
/* The position just after the value at value_at (blanks and comments
 * before it skipped; strings, comments and nesting inside it too): with
 * value_at, the span of a value's text, for editing it in place. NULL when
 * no whole value is there. */
const char *json_text_value_end(const char *value_at);
/* Element index (0-based) of the array at array_at. */
const char *json_text_element(const char *array_at, size_t index);
/* 1-based line of position at in text, 0 when at is NULL. */
int json_text_line_at(const char *text, const char *at);
#endif
