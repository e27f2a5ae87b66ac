/* SHA-256 hex digests (see digest.h). Files are hashed in chunks so that
 * a large cached program is never read whole just to be compared. */
#include "packager/digest.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <strings.h>
#include <unistd.h>

void digest_sha256_hex(const uint8_t *data, size_t size, char hex[DIGEST_SHA256_HEX_SIZE])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	int ready = sodium_init(); /* idempotent and thread-safe; picks the fastest implementations */
	(void)ready;               /* hashing works whatever it says */
	crypto_hash_sha256(digest, data, size);
	sodium_bin2hex(hex, DIGEST_SHA256_HEX_SIZE, digest, sizeof digest);
}

int digest_file_sha256_hex(const char *path, char hex[DIGEST_SHA256_HEX_SIZE])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ready = sodium_init();
	(void)ready;
	crypto_hash_sha256_state state;
	crypto_hash_sha256_init(&state);
	unsigned char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		crypto_hash_sha256_update(&state, chunk, (unsigned long long)n);
	}
	close(fd);
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(&state, digest);
	sodium_bin2hex(hex, DIGEST_SHA256_HEX_SIZE, digest, sizeof digest);
	return 0;
}

bool digest_equal(const char *a, const char *b) { return a && b && strcasecmp(a, b) == 0; }
