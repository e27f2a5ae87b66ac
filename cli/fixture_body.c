/* Fixture bytes: base64, SHA-256, text detection, atomic writes (see fixture_body.h). */
#include "cli/fixture_body.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_LIMIT (1ull << 30)

bool body_is_text(const uint8_t *data, size_t length)
{
	size_t i = 0;
	while (i < length) {
		uint8_t c = data[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		/* The length of the sequence, and the smallest code point it may
		 * hold (so overlong forms are refused). */
		size_t n;
		uint32_t code, minimum;
		if ((c & 0xe0) == 0xc0)
			n = 2, code = c & 0x1f, minimum = 0x80;
		else if ((c & 0xf0) == 0xe0)
			n = 3, code = c & 0x0f, minimum = 0x800;
		else if ((c & 0xf8) == 0xf0)
			n = 4, code = c & 0x07, minimum = 0x10000;
		else
			return false;
		if (i + n > length)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((data[i + k] & 0xc0) != 0x80)
				return false;
			code = code << 6 | (data[i + k] & 0x3f);
		}
		if (code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

void body_sha256_hex(const uint8_t *data, size_t length, char hex[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	int ready = sodium_init(); /* idempotent and thread-safe; picks the fastest implementations */
	(void)ready;               /* hashing works whatever it says */
	crypto_hash_sha256(digest, data, length);
	sodium_bin2hex(hex, 65, digest, sizeof digest);
}

int body_base64_decode(const char *text, uint8_t **data, size_t *length)
{
	size_t text_length = strlen(text);
	uint8_t *out = malloc(text_length / 4 * 3 + 4);
	if (!out)
		return -1;
	size_t n = 0;
	const char *end = NULL;
	if (sodium_base642bin(out, text_length / 4 * 3 + 3, text, text_length, " \t\r\n", &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || (end && *end)) {
		free(out);
		return -1;
	}
	out[n] = 0;
	*data = out;
	*length = n;
	return 0;
}

char *body_base64_encode(const uint8_t *data, size_t length)
{
	size_t size = sodium_base64_ENCODED_LEN(length, sodium_base64_VARIANT_ORIGINAL);
	char *text = malloc(size);
	if (text)
		sodium_bin2base64(text, size, data, length, sodium_base64_VARIANT_ORIGINAL);
	return text;
}

int body_read_file(const char *path, uint8_t **data, size_t *length, struct tkvm_error *err)
{
	*data = NULL;
	*length = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tkvm_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > READ_LIMIT) {
		int code = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		close(fd);
		return tkvm_error_set(err, code, "%s: %s", path,
				      S_ISDIR(st.st_mode) ? "is a directory, not a file"
				      : (uint64_t)st.st_size > READ_LIMIT ? "larger than 1 GiB" : "not a regular file");
	}
	size_t size = (size_t)st.st_size, got = 0;
	uint8_t *buffer = malloc(size + 1);
	if (!buffer) {
		close(fd);
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", path);
	}
	while (got < size) {
		ssize_t n = read(fd, buffer + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int code = n < 0 ? errno : EIO;
			free(buffer);
			close(fd);
			return tkvm_error_set(err, -code, "cannot read %s: %s", path, n < 0 ? strerror(code) : "file shrank");
		}
		got += (size_t)n;
	}
	close(fd);
	buffer[size] = 0;
	*data = buffer;
	*length = size;
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t length, struct tkvm_error *err)
{
	size_t n = strlen(path);
	char *temporary = malloc(n + 32);
	if (!temporary)
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", path);
	snprintf(temporary, n + 32, "%s.tmp-XXXXXX", path);
	int fd = mkostemp(temporary, O_CLOEXEC);
	if (fd < 0) {
		int code = errno;
		free(temporary);
		return tkvm_error_set(err, -code, "cannot write %s: %s", path, strerror(code));
	}
	const uint8_t *p = data;
	size_t left = length;
	int code = 0;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			code = w < 0 ? errno : EIO;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	/* Files are read by people and tools: the usual mode, not mkostemp's 0600. */
	mode_t mask = umask(0);
	umask(mask);
	if (!code && fchmod(fd, 0666 & ~mask) < 0)
		code = errno;
	if (!code && fsync(fd) < 0 && errno != EINVAL)
		code = errno;
	if (close(fd) < 0 && !code)
		code = errno;
	if (!code && rename(temporary, path) < 0)
		code = errno;
	if (code) {
		unlink(temporary);
		free(temporary);
		return tkvm_error_set(err, -code, "cannot write %s: %s", path, strerror(code));
	}
	free(temporary);
	return 0;
}
