/* Whether a program's answer is what a fixture expects: the status, each
 * expected header (by name, any case; a value of "<redacted>" only asks
 * that the header be there), and the body exactly, by substring, by POSIX
 * extended regular expression or by SHA-256. When not, how it differs:
 * text bodies as a line diff, binary ones as sizes and hashes. */
#ifndef TKVM_CLI_FIXTURE_CHECK_H
#define TKVM_CLI_FIXTURE_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include "cli/fixture.h"
#include "cli/text_buffer.h"
#include "runner/tkvm.h"

/* The answer's headers as a client of the VMOD sees them, each
 * "Name: value": Content-Type, Cache-Control when cacheable, then the
 * program's own. Returns the count, or -ENOMEM (*lines then NULL). */
long fixture_response_headers(const struct tkvm_response *response, char ***lines);

/* True when the answer passes. Otherwise message gets one line (the first
 * difference) and details every difference, lines starting with indent. */
bool fixture_check(const struct fixture *fixture, const struct tkvm_response *response, const char *indent,
		   char *message, size_t message_size, struct text_buffer *details);
#endif
