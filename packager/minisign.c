/* Minisign key and signature files through libsodium (see minisign.h for
 * the formats). Every parser takes untrusted text with an explicit length:
 * lines are cut with memchr, base64 is checked character by character before
 * libsodium decodes it into a buffer of exactly the expected size. */
#include "packager/minisign.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED25519_PUBLIC_BYTES 32
#define ED25519_SECRET_BYTES 64
#define ED25519_SIGNATURE_BYTES 64
#define PREHASH_BYTES 64  /* BLAKE2b-512 of the data for "ED" signatures */
#define CHECKSUM_BYTES 32 /* BLAKE2b-256 of the secret key, to spot a wrong password */
#define SALT_BYTES crypto_pwhash_scryptsalsa208sha256_SALTBYTES

/* Byte layouts, offsets included so the code reads as the format does. */
#define PUBLIC_BLOB_BYTES (2 + MINISIGN_KEY_ID_BYTES + ED25519_PUBLIC_BYTES)
#define SIGNATURE_BLOB_BYTES (2 + MINISIGN_KEY_ID_BYTES + ED25519_SIGNATURE_BYTES)
#define SECRET_SIGNATURE_ALGORITHM 0
#define SECRET_KDF_ALGORITHM 2
#define SECRET_CHECKSUM_ALGORITHM 4
#define SECRET_SALT 6
#define SECRET_OPSLIMIT (SECRET_SALT + SALT_BYTES)
#define SECRET_MEMLIMIT (SECRET_OPSLIMIT + 8)
#define SECRET_KEY_ID (SECRET_MEMLIMIT + 8)
#define SECRET_KEY (SECRET_KEY_ID + MINISIGN_KEY_ID_BYTES)
#define SECRET_CHECKSUM (SECRET_KEY + ED25519_SECRET_BYTES)
#define SECRET_BLOB_BYTES (SECRET_CHECKSUM + CHECKSUM_BYTES)
/* What the scrypt stream covers: key id, secret key and checksum. */
#define SECRET_ENCRYPTED_BYTES (SECRET_BLOB_BYTES - SECRET_KEY_ID)

/* A hostile secret key file chooses the scrypt cost; minisign itself writes
 * opslimit 2^25 and memlimit 1 GiB, so anything beyond a little more time
 * and no more memory is refused rather than left to exhaust the machine. */
#define MAX_OPSLIMIT (4ull * crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE)
#define MAX_MEMLIMIT ((unsigned long long)crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE)

/* The stock minisign reads comment lines into fixed buffers (1 KiB for the
 * untrusted one, 8 KiB for the trusted line); staying below keeps what we
 * sign verifiable there. */
#define MAX_UNTRUSTED_COMMENT 1000
#define MAX_TRUSTED_COMMENT 8000

static const char UNTRUSTED_PREFIX[] = "untrusted comment: ";
static const char TRUSTED_PREFIX[] = "trusted comment: ";
static const uint8_t ALGORITHM_LEGACY[2] = { 'E', 'd' };
static const uint8_t ALGORITHM_PREHASHED[2] = { 'E', 'D' };
static const uint8_t KDF_SCRYPT[2] = { 'S', 'c' };
static const uint8_t KDF_NONE[2] = { 0, 0 };
static const uint8_t CHECKSUM_BLAKE2B[2] = { 'B', '2' };
/* Stands in for a NULL data pointer with size 0: libsodium reads through it. */
static const uint8_t NO_BYTES[1];

static int crypto_ready(struct tkvm_error *err)
{
	if (sodium_init() < 0)
		return tkvm_error_set(err, -EIO, "libsodium failed to initialise");
	return 0;
}

/* ---- reading text: lines, comments, base64 ---- */

struct line_reader {
	const char *text;
	size_t length, offset;
	unsigned number; /* of the line last returned, from 1 */
};

/* The next line without its '\n' and a trailing '\r' (CRLF files); false
 * once the text is used up. */
static bool next_line(struct line_reader *reader, const char **line, size_t *length)
{
	if (reader->offset >= reader->length)
		return false;
	const char *start = reader->text + reader->offset;
	size_t rest = reader->length - reader->offset;
	const char *newline = memchr(start, '\n', rest);
	size_t n = newline ? (size_t)(newline - start) : rest;
	reader->offset += newline ? n + 1 : n;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	reader->number++;
	*line = start;
	*length = n;
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void trim(const char **text, size_t *length)
{
	while (*length && is_blank(**text))
		(*text)++, (*length)--;
	while (*length && is_blank((*text)[*length - 1]))
		(*length)--;
}

/* Only blank lines may follow the last line of a file. */
static int expect_end(struct line_reader *reader, const char *what, const char *last, struct tkvm_error *err)
{
	const char *line;
	size_t length;
	while (next_line(reader, &line, &length)) {
		trim(&line, &length);
		if (length)
			return tkvm_error_set(err, -EINVAL, "%s line %u: unexpected text after the %s", what,
					      reader->number, last);
	}
	return 0;
}

/* A comment line "<prefix><comment>"; the comment is returned in place. */
static int read_comment(struct line_reader *reader, const char *what, const char *prefix, const char **comment,
			size_t *comment_length, struct tkvm_error *err)
{
	const char *line;
	size_t length, prefix_length = strlen(prefix);
	if (!next_line(reader, &line, &length))
		return tkvm_error_set(err, -EINVAL, "%s line %u: missing, expected \"%s...\"", what,
				      reader->number + 1, prefix);
	if (length < prefix_length || memcmp(line, prefix, prefix_length) != 0)
		return tkvm_error_set(err, -EINVAL, "%s line %u: expected a line starting with \"%s\"", what,
				      reader->number, prefix);
	if (memchr(line, 0, length))
		return tkvm_error_set(err, -EINVAL, "%s line %u: the comment contains a NUL byte", what,
				      reader->number);
	/* A CR left after the CRLF one would not survive being written back. */
	if (memchr(line, '\r', length))
		return tkvm_error_set(err, -EINVAL, "%s line %u: the comment contains a carriage return", what,
				      reader->number);
	*comment = line + prefix_length;
	*comment_length = length - prefix_length;
	return 0;
}

static bool is_base64_character(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
	       c == '=';
}

/* Decodes a line holding exactly `expected` bytes of padded base64. The
 * checks before libsodium give the precise complaint; libsodium then
 * rejects misplaced padding and non-zero trailing bits. */
static int decode_base64(const char *what, unsigned line_number, const char *line, size_t length, uint8_t *out,
			 size_t expected, struct tkvm_error *err)
{
	trim(&line, &length);
	if (length == 0)
		return tkvm_error_set(err, -EINVAL, "%s line %u: empty, expected base64", what, line_number);
	for (size_t i = 0; i < length; i++)
		if (!is_base64_character(line[i]))
			return tkvm_error_set(err, -EINVAL, "%s line %u: not base64", what, line_number);
	size_t expected_characters = sodium_base64_ENCODED_LEN(expected, sodium_base64_VARIANT_ORIGINAL) - 1;
	if (length != expected_characters)
		return tkvm_error_set(err, -EINVAL, "%s line %u: %zu base64 characters where %zu were expected", what,
				      line_number, length, expected_characters);
	size_t decoded = 0;
	if (sodium_base642bin(out, expected, line, length, NULL, &decoded, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    decoded != expected) {
		sodium_memzero(out, expected);
		return tkvm_error_set(err, -EINVAL, "%s line %u: not base64", what, line_number);
	}
	return 0;
}

static void encode_base64(char *out, size_t size, const uint8_t *bytes, size_t length)
{
	/* Callers size out with sodium_base64_ENCODED_LEN: libsodium aborts
	 * on a short buffer, which must never depend on input. */
	sodium_bin2base64(out, size, bytes, length, sodium_base64_VARIANT_ORIGINAL);
}

static bool has_line_break(const char *text)
{
	return strpbrk(text, "\r\n") != NULL;
}

static char *copy_text(const char *text, size_t length)
{
	char *copy = malloc(length + 1);
	if (copy) {
		memcpy(copy, text, length);
		copy[length] = 0;
	}
	return copy;
}

static uint64_t load_le64(const uint8_t *bytes)
{
	uint64_t value = 0;
	for (int i = 7; i >= 0; i--)
		value = value << 8 | bytes[i];
	return value;
}

static void store_le64(uint8_t *bytes, uint64_t value)
{
	for (int i = 0; i < 8; i++, value >>= 8)
		bytes[i] = (uint8_t)value;
}

const char *minisign_key_id_text(const uint8_t key_id[MINISIGN_KEY_ID_BYTES], char *buf, size_t size)
{
	snprintf(buf, size, "%016llX", (unsigned long long)load_le64(key_id));
	return buf;
}

/* ---- public keys ---- */

int minisign_public_key_parse(const char *text, size_t length, struct minisign_public_key *key,
			      struct tkvm_error *err)
{
	static const char what[] = "public key";
	memset(key, 0, sizeof *key);
	int rc = crypto_ready(err);
	if (rc < 0)
		return rc;
	trim(&text, &length);
	if (length == 0)
		return tkvm_error_set(err, -EINVAL, "public key: empty text");
	struct line_reader reader = { .text = text, .length = length };
	const char *line, *comment;
	size_t line_length, comment_length;
	/* A .pub file starts with its comment; a bare key is the base64 line. */
	if (length >= strlen(UNTRUSTED_PREFIX) && memcmp(text, UNTRUSTED_PREFIX, strlen(UNTRUSTED_PREFIX)) == 0) {
		rc = read_comment(&reader, what, UNTRUSTED_PREFIX, &comment, &comment_length, err);
		if (rc < 0)
			return rc;
	}
	if (!next_line(&reader, &line, &line_length))
		return tkvm_error_set(err, -EINVAL, "public key line %u: missing, expected the base64 key",
				      reader.number + 1);
	uint8_t blob[PUBLIC_BLOB_BYTES];
	rc = decode_base64(what, reader.number, line, line_length, blob, sizeof blob, err);
	if (rc < 0)
		return rc;
	if (memcmp(blob, ALGORITHM_LEGACY, 2) != 0)
		return tkvm_error_set(err, -EINVAL, "public key line %u: unsupported signature algorithm",
				      reader.number);
	rc = expect_end(&reader, what, "key", err);
	if (rc < 0)
		return rc;
	memcpy(key->key_id, blob + 2, MINISIGN_KEY_ID_BYTES);
	memcpy(key->key, blob + 2 + MINISIGN_KEY_ID_BYTES, ED25519_PUBLIC_BYTES);
	return 0;
}

const char *minisign_public_key_base64(const struct minisign_public_key *key, char *buf, size_t size)
{
	size_t needed = sodium_base64_ENCODED_LEN(PUBLIC_BLOB_BYTES, sodium_base64_VARIANT_ORIGINAL);
	if (size < needed) {
		if (size)
			buf[0] = 0;
		return NULL;
	}
	uint8_t blob[PUBLIC_BLOB_BYTES];
	memcpy(blob, ALGORITHM_LEGACY, 2);
	memcpy(blob + 2, key->key_id, MINISIGN_KEY_ID_BYTES);
	memcpy(blob + 2 + MINISIGN_KEY_ID_BYTES, key->key, ED25519_PUBLIC_BYTES);
	encode_base64(buf, size, blob, sizeof blob);
	return buf;
}

/* ---- secret keys ---- */

/* The decoded secret key file, algorithms checked, still encrypted. */
static int secret_key_decode(const char *text, size_t length, uint8_t blob[SECRET_BLOB_BYTES], bool *encrypted,
			     struct tkvm_error *err)
{
	static const char what[] = "secret key";
	struct line_reader reader = { .text = text, .length = length };
	const char *comment, *line;
	size_t comment_length, line_length;
	int rc = read_comment(&reader, what, UNTRUSTED_PREFIX, &comment, &comment_length, err);
	if (rc < 0)
		return rc;
	if (!next_line(&reader, &line, &line_length))
		return tkvm_error_set(err, -EINVAL, "secret key line %u: missing, expected the base64 key",
				      reader.number + 1);
	rc = decode_base64(what, reader.number, line, line_length, blob, SECRET_BLOB_BYTES, err);
	if (rc < 0)
		return rc;
	if (memcmp(blob + SECRET_SIGNATURE_ALGORITHM, ALGORITHM_LEGACY, 2) != 0)
		rc = tkvm_error_set(err, -EINVAL, "secret key line 2: unsupported signature algorithm");
	else if (memcmp(blob + SECRET_KDF_ALGORITHM, KDF_SCRYPT, 2) != 0 &&
		 memcmp(blob + SECRET_KDF_ALGORITHM, KDF_NONE, 2) != 0)
		rc = tkvm_error_set(err, -EINVAL, "secret key line 2: unsupported key derivation algorithm");
	else if (memcmp(blob + SECRET_CHECKSUM_ALGORITHM, CHECKSUM_BLAKE2B, 2) != 0)
		rc = tkvm_error_set(err, -EINVAL, "secret key line 2: unsupported checksum algorithm");
	else
		rc = expect_end(&reader, what, "key", err);
	if (rc < 0) {
		sodium_memzero(blob, SECRET_BLOB_BYTES);
		return rc;
	}
	*encrypted = memcmp(blob + SECRET_KDF_ALGORITHM, KDF_SCRYPT, 2) == 0;
	return 0;
}

int minisign_secret_key_encrypted(const char *text, size_t length)
{
	uint8_t blob[SECRET_BLOB_BYTES];
	bool encrypted;
	if (crypto_ready(NULL) < 0 || secret_key_decode(text, length, blob, &encrypted, NULL) < 0)
		return -1;
	sodium_memzero(blob, sizeof blob);
	return encrypted;
}

/* BLAKE2b-256 of signature algorithm | key id | secret key. */
static void secret_key_checksum(const uint8_t blob[SECRET_BLOB_BYTES], uint8_t checksum[CHECKSUM_BYTES])
{
	crypto_generichash_state state;
	crypto_generichash_init(&state, NULL, 0, CHECKSUM_BYTES);
	crypto_generichash_update(&state, blob + SECRET_SIGNATURE_ALGORITHM, 2);
	crypto_generichash_update(&state, blob + SECRET_KEY_ID, MINISIGN_KEY_ID_BYTES + ED25519_SECRET_BYTES);
	crypto_generichash_final(&state, checksum, CHECKSUM_BYTES);
	sodium_memzero(&state, sizeof state);
}

/* XORs key id, secret key and checksum with the scrypt stream of the
 * password: the same operation encrypts and decrypts. */
static int secret_key_crypt(uint8_t blob[SECRET_BLOB_BYTES], const char *password, struct tkvm_error *err)
{
	uint8_t stream[SECRET_ENCRYPTED_BYTES];
	if (crypto_pwhash_scryptsalsa208sha256(stream, sizeof stream, password, strlen(password), blob + SECRET_SALT,
					       load_le64(blob + SECRET_OPSLIMIT),
					       (size_t)load_le64(blob + SECRET_MEMLIMIT)) != 0)
		return tkvm_error_set(err, -ENOMEM, "secret key: password key derivation failed (out of memory?)");
	for (size_t i = 0; i < sizeof stream; i++)
		blob[SECRET_KEY_ID + i] ^= stream[i];
	sodium_memzero(stream, sizeof stream);
	return 0;
}

static bool is_all_zero(const uint8_t *bytes, size_t length)
{
	return sodium_is_zero(bytes, length) == 1;
}

/* Decrypts and checks the blob in place. */
static int secret_key_open(uint8_t blob[SECRET_BLOB_BYTES], bool encrypted, const char *password,
			   struct tkvm_error *err)
{
	if (encrypted) {
		if (!password || !*password)
			return tkvm_error_set(err, -EACCES, "the secret key is encrypted: a password is needed");
		unsigned long long opslimit = load_le64(blob + SECRET_OPSLIMIT);
		unsigned long long memlimit = load_le64(blob + SECRET_MEMLIMIT);
		if (opslimit > MAX_OPSLIMIT || memlimit > MAX_MEMLIMIT)
			return tkvm_error_set(err, -EINVAL,
					      "secret key line 2: key derivation cost too high (opslimit %llu, memlimit "
					      "%llu; at most %llu and %llu)",
					      opslimit, memlimit, MAX_OPSLIMIT, MAX_MEMLIMIT);
		int rc = secret_key_crypt(blob, password, err);
		if (rc < 0)
			return rc;
	}
	uint8_t checksum[CHECKSUM_BYTES];
	secret_key_checksum(blob, checksum);
	bool checksum_ok = crypto_verify_32(checksum, blob + SECRET_CHECKSUM) == 0;
	sodium_memzero(checksum, sizeof checksum);
	if (!checksum_ok && encrypted)
		return tkvm_error_set(err, -EACCES, "wrong password for the secret key");
	/* minisign 0.11 leaves the checksum zero in keys written with -W. */
	if (!checksum_ok && !is_all_zero(blob + SECRET_CHECKSUM, CHECKSUM_BYTES))
		return tkvm_error_set(err, -EINVAL, "secret key line 2: checksum does not match the key");
	/* The key's second half is its public key; a mismatch would make
	 * signatures that nobody can verify. */
	uint8_t public_key[ED25519_PUBLIC_BYTES], expanded[ED25519_SECRET_BYTES];
	crypto_sign_seed_keypair(public_key, expanded, blob + SECRET_KEY);
	bool consistent = sodium_memcmp(public_key, blob + SECRET_KEY + 32, ED25519_PUBLIC_BYTES) == 0;
	sodium_memzero(expanded, sizeof expanded);
	if (!consistent)
		return tkvm_error_set(err, -EINVAL, "secret key line 2: the public half does not match the secret key");
	return 0;
}

int minisign_secret_key_parse(const char *text, size_t length, const char *password,
			      struct minisign_secret_key *key, struct tkvm_error *err)
{
	sodium_memzero(key, sizeof *key);
	int rc = crypto_ready(err);
	if (rc < 0)
		return rc;
	uint8_t blob[SECRET_BLOB_BYTES];
	bool encrypted;
	rc = secret_key_decode(text, length, blob, &encrypted, err);
	if (rc < 0)
		return rc;
	rc = secret_key_open(blob, encrypted, password, err);
	if (rc == 0) {
		memcpy(key->key_id, blob + SECRET_KEY_ID, MINISIGN_KEY_ID_BYTES);
		memcpy(key->key, blob + SECRET_KEY, ED25519_SECRET_BYTES);
	}
	sodium_memzero(blob, sizeof blob);
	return rc;
}

/* ---- key generation ---- */

static char *format_file(const char *comment, const uint8_t *blob, size_t length)
{
	size_t encoded = sodium_base64_ENCODED_LEN(length, sodium_base64_VARIANT_ORIGINAL);
	size_t size = strlen(comment) + encoded + 2;
	char *text = malloc(size);
	if (!text)
		return NULL;
	size_t used = (size_t)snprintf(text, size, "%s\n", comment);
	encode_base64(text + used, size - used, blob, length);
	strcat(text + used, "\n");
	return text;
}

int minisign_keygen(const char *password, enum minisign_kdf_cost cost, char **public_text, char **secret_text,
		    struct tkvm_error *err)
{
	*public_text = *secret_text = NULL;
	int rc = crypto_ready(err);
	if (rc < 0)
		return rc;
	bool encrypted = password && *password;
	uint8_t public_blob[PUBLIC_BLOB_BYTES], secret_blob[SECRET_BLOB_BYTES] = { 0 };
	memcpy(public_blob, ALGORITHM_LEGACY, 2);
	randombytes_buf(public_blob + 2, MINISIGN_KEY_ID_BYTES);
	crypto_sign_keypair(public_blob + 2 + MINISIGN_KEY_ID_BYTES, secret_blob + SECRET_KEY);

	memcpy(secret_blob + SECRET_SIGNATURE_ALGORITHM, ALGORITHM_LEGACY, 2);
	memcpy(secret_blob + SECRET_KDF_ALGORITHM, encrypted ? KDF_SCRYPT : KDF_NONE, 2);
	memcpy(secret_blob + SECRET_CHECKSUM_ALGORITHM, CHECKSUM_BLAKE2B, 2);
	memcpy(secret_blob + SECRET_KEY_ID, public_blob + 2, MINISIGN_KEY_ID_BYTES);
	/* Salt and limits stay zero without a password, as minisign -W does. */
	if (encrypted) {
		bool sensitive = cost == MINISIGN_KDF_SENSITIVE;
		randombytes_buf(secret_blob + SECRET_SALT, SALT_BYTES);
		store_le64(secret_blob + SECRET_OPSLIMIT, sensitive ? crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE
								    : crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE);
		store_le64(secret_blob + SECRET_MEMLIMIT, sensitive ? crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE
								    : crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE);
	}
	secret_key_checksum(secret_blob, secret_blob + SECRET_CHECKSUM);
	if (encrypted)
		rc = secret_key_crypt(secret_blob, password, err);

	if (rc == 0) {
		char comment[80], id[17];
		snprintf(comment, sizeof comment, "%sminisign public key %s", UNTRUSTED_PREFIX,
			 minisign_key_id_text(public_blob + 2, id, sizeof id));
		*public_text = format_file(comment, public_blob, sizeof public_blob);
		snprintf(comment, sizeof comment, "%sminisign %s secret key", UNTRUSTED_PREFIX,
			 encrypted ? "encrypted" : "unencrypted");
		*secret_text = format_file(comment, secret_blob, sizeof secret_blob);
		if (!*public_text || !*secret_text) {
			free(*public_text);
			free(*secret_text);
			*public_text = *secret_text = NULL;
			rc = tkvm_error_set(err, -ENOMEM, "out of memory writing the key pair");
		}
	}
	sodium_memzero(secret_blob, sizeof secret_blob);
	return rc;
}

/* ---- signatures ---- */

/* What the global signature covers: signature | trusted comment. */
static uint8_t *global_message(const uint8_t signature[ED25519_SIGNATURE_BYTES], const char *comment, size_t *length)
{
	size_t comment_length = strlen(comment);
	uint8_t *message = malloc(ED25519_SIGNATURE_BYTES + comment_length);
	if (message) {
		memcpy(message, signature, ED25519_SIGNATURE_BYTES);
		memcpy(message + ED25519_SIGNATURE_BYTES, comment, comment_length);
		*length = ED25519_SIGNATURE_BYTES + comment_length;
	}
	return message;
}

int minisign_sign(const struct minisign_secret_key *key, const uint8_t *data, size_t size,
		  const char *trusted_comment, const char *untrusted_comment, char **signature_text,
		  struct tkvm_error *err)
{
	*signature_text = NULL;
	int rc = crypto_ready(err);
	if (rc < 0)
		return rc;
	if (!untrusted_comment)
		untrusted_comment = "signature from tkvm secret key";
	if (!trusted_comment)
		trusted_comment = "";
	if (has_line_break(untrusted_comment) || has_line_break(trusted_comment))
		return tkvm_error_set(err, -EINVAL, "a signature comment must be a single line");
	if (strlen(untrusted_comment) > MAX_UNTRUSTED_COMMENT || strlen(trusted_comment) > MAX_TRUSTED_COMMENT)
		return tkvm_error_set(err, -E2BIG, "signature comment too long (at most %d bytes untrusted, %d trusted)",
				      MAX_UNTRUSTED_COMMENT, MAX_TRUSTED_COMMENT);

	uint8_t hash[PREHASH_BYTES], blob[SIGNATURE_BLOB_BYTES], global[ED25519_SIGNATURE_BYTES];
	crypto_generichash(hash, sizeof hash, size ? data : NO_BYTES, size, NULL, 0);
	memcpy(blob, ALGORITHM_PREHASHED, 2);
	memcpy(blob + 2, key->key_id, MINISIGN_KEY_ID_BYTES);
	uint8_t *signature = blob + 2 + MINISIGN_KEY_ID_BYTES;
	crypto_sign_detached(signature, NULL, hash, sizeof hash, key->key);
	size_t message_length;
	uint8_t *message = global_message(signature, trusted_comment, &message_length);
	if (!message)
		return tkvm_error_set(err, -ENOMEM, "out of memory signing");
	crypto_sign_detached(global, NULL, message, message_length, key->key);
	free(message);

	char blob_text[sodium_base64_ENCODED_LEN(SIGNATURE_BLOB_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	char global_text[sodium_base64_ENCODED_LEN(ED25519_SIGNATURE_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	encode_base64(blob_text, sizeof blob_text, blob, sizeof blob);
	encode_base64(global_text, sizeof global_text, global, sizeof global);
	if (asprintf(signature_text, "%s%s\n%s\n%s%s\n%s\n", UNTRUSTED_PREFIX, untrusted_comment, blob_text,
		     TRUSTED_PREFIX, trusted_comment, global_text) < 0) {
		*signature_text = NULL;
		return tkvm_error_set(err, -ENOMEM, "out of memory signing");
	}
	return 0;
}

static int signature_parse(struct line_reader *reader, struct minisign_signature *signature, struct tkvm_error *err)
{
	static const char what[] = "signature";
	const char *comment, *line;
	size_t comment_length, line_length;
	int rc = read_comment(reader, what, UNTRUSTED_PREFIX, &comment, &comment_length, err);
	if (rc < 0)
		return rc;
	if (!(signature->untrusted_comment = copy_text(comment, comment_length)))
		return tkvm_error_set(err, -ENOMEM, "out of memory reading a signature");
	if (!next_line(reader, &line, &line_length))
		return tkvm_error_set(err, -EINVAL, "signature line %u: missing, expected the base64 signature",
				      reader->number + 1);
	uint8_t blob[SIGNATURE_BLOB_BYTES];
	rc = decode_base64(what, reader->number, line, line_length, blob, sizeof blob, err);
	if (rc < 0)
		return rc;
	if (memcmp(blob, ALGORITHM_PREHASHED, 2) == 0)
		signature->prehashed = true;
	else if (memcmp(blob, ALGORITHM_LEGACY, 2) != 0)
		return tkvm_error_set(err, -EINVAL, "signature line %u: unsupported signature algorithm", reader->number);
	memcpy(signature->key_id, blob + 2, MINISIGN_KEY_ID_BYTES);
	memcpy(signature->signature, blob + 2 + MINISIGN_KEY_ID_BYTES, ED25519_SIGNATURE_BYTES);

	rc = read_comment(reader, what, TRUSTED_PREFIX, &comment, &comment_length, err);
	if (rc < 0)
		return rc;
	if (!(signature->trusted_comment = copy_text(comment, comment_length)))
		return tkvm_error_set(err, -ENOMEM, "out of memory reading a signature");
	if (!next_line(reader, &line, &line_length))
		return tkvm_error_set(err, -EINVAL, "signature line %u: missing, expected the base64 global signature",
				      reader->number + 1);
	rc = decode_base64(what, reader->number, line, line_length, signature->global_signature,
			   ED25519_SIGNATURE_BYTES, err);
	if (rc < 0)
		return rc;
	return expect_end(reader, what, "global signature", err);
}

int minisign_signature_parse(const char *text, size_t length, struct minisign_signature *signature,
			     struct tkvm_error *err)
{
	memset(signature, 0, sizeof *signature);
	int rc = crypto_ready(err);
	if (rc < 0)
		return rc;
	struct line_reader reader = { .text = text, .length = length };
	rc = signature_parse(&reader, signature, err);
	if (rc < 0)
		minisign_signature_free(signature);
	return rc;
}

void minisign_signature_free(struct minisign_signature *signature)
{
	if (!signature)
		return;
	free(signature->untrusted_comment);
	free(signature->trusted_comment);
	memset(signature, 0, sizeof *signature);
}

static int check_key_id(const struct minisign_signature *signature, const struct minisign_public_key *key,
			struct tkvm_error *err)
{
	if (memcmp(signature->key_id, key->key_id, MINISIGN_KEY_ID_BYTES) == 0)
		return 0;
	char signed_by[17], expected[17];
	return tkvm_error_set(err, -ENOKEY, "signed by key %s, not by key %s",
			      minisign_key_id_text(signature->key_id, signed_by, sizeof signed_by),
			      minisign_key_id_text(key->key_id, expected, sizeof expected));
}

static int check_global_signature(const struct minisign_signature *signature,
				  const struct minisign_public_key *key, struct tkvm_error *err)
{
	size_t length;
	uint8_t *message = global_message(signature->signature, signature->trusted_comment ? signature->trusted_comment : "",
					  &length);
	if (!message)
		return tkvm_error_set(err, -ENOMEM, "out of memory verifying a signature");
	int valid = crypto_sign_verify_detached(signature->global_signature, message, length, key->key) == 0;
	free(message);
	return valid ? 0 : tkvm_error_set(err, -EBADMSG, "trusted comment was altered");
}

int minisign_verify(const struct minisign_signature *signature, const struct minisign_public_key *key,
		    const uint8_t *data, size_t size, struct tkvm_error *err)
{
	int rc = crypto_ready(err);
	if (rc < 0 || (rc = check_key_id(signature, key, err)) < 0)
		return rc;
	if (!size)
		data = NO_BYTES;
	int valid;
	if (signature->prehashed) {
		uint8_t hash[PREHASH_BYTES];
		crypto_generichash(hash, sizeof hash, data, size, NULL, 0);
		valid = crypto_sign_verify_detached(signature->signature, hash, sizeof hash, key->key) == 0;
	} else {
		valid = crypto_sign_verify_detached(signature->signature, data, size, key->key) == 0;
	}
	if (!valid)
		return tkvm_error_set(err, -EBADMSG, "signature does not match the data");
	return check_global_signature(signature, key, err);
}

int minisign_verify_trusted_comment(const struct minisign_signature *signature,
				    const struct minisign_public_key *key, struct tkvm_error *err)
{
	int rc = crypto_ready(err);
	if (rc < 0 || (rc = check_key_id(signature, key, err)) < 0)
		return rc;
	return check_global_signature(signature, key, err);
}
