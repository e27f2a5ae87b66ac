/* Which recording answers an outbound fetch: the same method, the same
 * URL and the same body, where two JSON bodies (objects or arrays) are the
 * same when they parse to the same value, whatever the key order and
 * white space. When none matches: the closest recording, and how the
 * fetch differs from it. */
#ifndef TKVM_CLI_FIXTURE_MATCH_H
#define TKVM_CLI_FIXTURE_MATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cli/fixture.h"
#include "cli/text_buffer.h"

/* Equal bytes, or both JSON objects/arrays with the same value. */
bool fixture_bodies_match(const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length);

/* Whether recorded answers request (method, url and request_body are used). */
bool fixture_fetch_matches(const struct fixture_fetch *recorded, const struct fixture_fetch *request);

/* Index of the recording most like request, or -1 when count is 0. */
long fixture_closest_fetch(const struct fixture_fetch *recorded, size_t count, const struct fixture_fetch *request);

/* Lines saying how request differs from recorded (method, URL with a
 * caret under the first difference, body: JSON paths, a line diff or
 * sizes and hashes), each starting with indent. */
void fixture_describe_difference(const struct fixture_fetch *recorded, const struct fixture_fetch *request,
				 const char *indent, struct text_buffer *out);
#endif
