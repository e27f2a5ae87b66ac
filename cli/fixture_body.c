/* Fixture bytes: base64, SHA-256, text detection, atomic writes (see fixture_body.h). */
#include "cli/fixture_body.h"
#include "packager/digest.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


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

void body_sha256_hex(const uint8_t *data, size_t length, char hex[65]) { digest_sha256_hex(data, length, hex); }

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

