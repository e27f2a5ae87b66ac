/* Bytes in fixtures: bodies written as text, as base64 or kept in a file
 * beside the fixture, compared by SHA-256, and files replaced atomically.
 * libsodium does the base64 and the hashing. */
#ifndef TKVM_CLI_FIXTURE_BODY_H
#define TKVM_CLI_FIXTURE_BODY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "packager/file_io.h"
#include "runner/error.h"

/* Whether bytes read as text: valid UTF-8 with no NUL and no control
 * character other than tab, newline and carriage return. */
bool body_is_text(const uint8_t *data, size_t length);

/* Lowercase hexadecimal SHA-256. */
void body_sha256_hex(const uint8_t *data, size_t length, char hex[65]);

/* Standard base64 (white space ignored). Returns 0, or -1 for text that
 * is not base64. *data is malloc'd and NUL-terminated. */
int body_base64_decode(const char *text, uint8_t **data, size_t *length);
/* malloc'd, NULL when out of memory. */
char *body_base64_encode(const uint8_t *data, size_t length);

#endif
