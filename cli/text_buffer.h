/* A growing, always NUL-terminated byte buffer (git's strbuf, smaller):
 * what the test reporter builds its diffs and messages in. Out of memory
 * is remembered, never fatal: the text just stops growing. */
#ifndef TKVM_CLI_TEXT_BUFFER_H
#define TKVM_CLI_TEXT_BUFFER_H
#include <stdbool.h>
#include <stddef.h>

struct text_buffer {
	char *data;      /* NULL until something is added; text_buffer_str gives "" then */
	size_t length, capacity;
	bool out_of_memory;
};

void text_buffer_add(struct text_buffer *b, const void *data, size_t length);
void text_buffer_printf(struct text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *text_buffer_str(const struct text_buffer *b);
/* Hands the text over (malloc'd, possibly NULL) and empties the buffer. */
char *text_buffer_take(struct text_buffer *b);
void text_buffer_free(struct text_buffer *b);
#endif
