/* SHA-256 as the library JSON and the signatures write it: 64 lower-case
 * hex digits (libsodium does the hashing). */
#ifndef TKVM_PACKAGER_DIGEST_H
#define TKVM_PACKAGER_DIGEST_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_HEX_SIZE 65

void digest_sha256_hex(const uint8_t *data, size_t size, char hex[DIGEST_SHA256_HEX_SIZE]);
/* Of a whole file; returns 0 or a negative errno code (file missing...). */
int digest_file_sha256_hex(const char *path, char hex[DIGEST_SHA256_HEX_SIZE]);
/* Case-insensitive comparison of two hex digests. */
bool digest_equal(const char *a, const char *b);
#endif
