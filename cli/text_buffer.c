/* Growing text (see text_buffer.h). */
#include "cli/text_buffer.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct text_buffer *b, size_t extra)
{
	if (b->out_of_memory || extra >= (size_t)-1 / 2 - b->length)
		return b->out_of_memory = true, false;
	if (b->length + extra + 1 <= b->capacity)
		return true;
	size_t capacity = b->capacity ? b->capacity : 256;
	while (capacity < b->length + extra + 1)
		capacity *= 2;
	char *bigger = realloc(b->data, capacity);
	if (!bigger)
		return b->out_of_memory = true, false;
	b->data = bigger;
	b->capacity = capacity;
	return true;
}

void text_buffer_add(struct text_buffer *b, const void *data, size_t length)
{
	if (!reserve(b, length))
		return;
	if (length)
		memcpy(b->data + b->length, data, length);
	b->length += length;
	b->data[b->length] = 0;
}

void text_buffer_printf(struct text_buffer *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		text_buffer_add(b, small, (size_t)n);
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->length, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->length += (size_t)n;
}

const char *text_buffer_str(const struct text_buffer *b) { return b->data ? b->data : ""; }

char *text_buffer_take(struct text_buffer *b)
{
	char *data = b->data;
	*b = (struct text_buffer){0};
	return data;
}

void text_buffer_free(struct text_buffer *b)
{
	free(b->data);
	*b = (struct text_buffer){0};
}
