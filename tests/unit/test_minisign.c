/* Unit tests of the minisign formats: key pairs and signatures round trip,
 * texts written by minisign 0.11 parse and verify, tampering and hostile
 * text are refused with errors that name the line, and (when /usr/bin/minisign
 * is installed) the real binary and this module accept each other's files. */
#include "packager/minisign.h"
#include "runner/error.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MINISIGN_BINARY "/usr/bin/minisign"

/* Files written by minisign 0.11 (`minisign -G -W`, then `-S` of "hello\n"
 * with -t "trusted text", and with -l). A throwaway key, kept as a test
 * vector. */
static const char REAL_PUBLIC[] = "untrusted comment: minisign public key 989919811E87874B\n"
				  "RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ\n";
static const char REAL_SECRET[] =
	"untrusted comment: minisign encrypted secret key\n"
	"RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAS4eHHoEZmZi78YhakrPBtBJ/fb3lOw0Or5dXIJWiiBp"
	"mcXhIfwv3jyN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
static const char REAL_SIGNATURE[] =
	"untrusted comment: signature from minisign secret key\n"
	"RURLh4cegRmZmK4e8GnWXg45BLAE59fPTksOJuZsqUOgfE00+LKN43hbgesTTPHq4Jgb9HMWlSDhRRijZrLkXD73MVQDR+HnTgA=\n"
	"trusted comment: trusted text\n"
	"QH4o+5tvEybf53ZqXt/EoB+N0IUQfNuX28rFNKnbqWReaIFIUnr4figC/nrhE1eLBfCD0thIzBF5Et+OFHSgBw==\n";
static const char REAL_LEGACY_SIGNATURE[] =
	"untrusted comment: signature from minisign secret key\n"
	"RWRLh4cegRmZmK7wPbFUTmNc67a987/elNyWmtNu3Y34voF9c14+t3d71WwZesEBaZI86gni5f1E1rWUs5iSFAmI23H2grC/FAo=\n"
	"trusted comment: timestamp:1795302120\tfile:f\n"
	"qp+1iFQlOXx7gho0U1pQolK979L5Fu0KMx4G9XjeQS/ZTpUYI8Uj2nBShfGA3Iwblxpo42HWpu9P/b91jpq0Ag==\n";
static const char REAL_DATA[] = "hello\n";
/* minisign's default (sensitive) cost, password "pw": the path real users'
 * keys take. */
static const char REAL_ENCRYPTED_PUBLIC[] = "RWStVRmkztF7nWsd9GZ9CjHlNwyD0eosdtZAesScJy5RXL4fvIjlzmWh";
static const char REAL_ENCRYPTED_SECRET[] =
	"untrusted comment: minisign encrypted secret key\n"
	"RWRTY0IyaUMXOy4UAUELGbPSqaVVVYLKxECXrPeyvhXQQKI94R4AAAACAAAAAAAAAEAAAAAAfoVtqwa3lQ+5afYaXu/3h7YvxWZYuX+PfpUQKopPRO4"
	"UpspQG5C2yKNP12FdWk4b8wuhH4/4/CeHN9390A7EBLGk+5dBqbQ0pIuolT5MfbNFd2PSN1IgbSpKD6lTulRwVE5Je6gYUjE=\n";

static struct tkvm_error err;

/* ---- helpers ---- */

struct key_pair {
	char *public_text, *secret_text;
	struct minisign_public_key public_key;
	struct minisign_secret_key secret_key;
};

/* A parsed key pair; password NULL for an unencrypted one. */
static int make_key_pair(const char *password, struct key_pair *pair)
{
	memset(pair, 0, sizeof *pair);
	int rc = minisign_keygen(password, MINISIGN_KDF_INTERACTIVE, &pair->public_text, &pair->secret_text, &err);
	if (rc == 0)
		rc = minisign_public_key_parse(pair->public_text, strlen(pair->public_text), &pair->public_key, &err);
	if (rc == 0)
		rc = minisign_secret_key_parse(pair->secret_text, strlen(pair->secret_text), password,
					       &pair->secret_key, &err);
	if (rc < 0)
		printf("# key pair: %s\n", err.message);
	return rc;
}

static void free_key_pair(struct key_pair *pair)
{
	free(pair->public_text);
	free(pair->secret_text);
}

static int parse_signature(const char *text, struct minisign_signature *signature)
{
	tkvm_error_clear(&err);
	return minisign_signature_parse(text, strlen(text), signature, &err);
}

/* Parses and verifies a signature text in one go. */
static int verify_text(const char *text, const struct minisign_public_key *key, const void *data, size_t size)
{
	struct minisign_signature signature;
	int rc = parse_signature(text, &signature);
	if (rc == 0)
		rc = minisign_verify(&signature, key, data, size, &err);
	minisign_signature_free(&signature);
	return rc;
}

static char *base64(const uint8_t *bytes, size_t length)
{
	size_t size = sodium_base64_ENCODED_LEN(length, sodium_base64_VARIANT_ORIGINAL);
	char *text = malloc(size);
	return sodium_bin2base64(text, size, bytes, length, sodium_base64_VARIANT_ORIGINAL);
}

/* A signature file in the legacy "Ed" format: the data signed directly. */
static char *legacy_signature_text(const struct minisign_secret_key *key, const uint8_t *data, size_t size,
				   const char *trusted_comment)
{
	uint8_t blob[2 + 8 + 64], global[64];
	memcpy(blob, "Ed", 2);
	memcpy(blob + 2, key->key_id, 8);
	crypto_sign_detached(blob + 10, NULL, data, size, key->key);
	size_t comment_length = strlen(trusted_comment);
	uint8_t *message = malloc(64 + comment_length);
	memcpy(message, blob + 10, 64);
	memcpy(message + 64, trusted_comment, comment_length);
	crypto_sign_detached(global, NULL, message, 64 + comment_length, key->key);
	free(message);
	char *blob_text = base64(blob, sizeof blob), *global_text = base64(global, sizeof global), *text;
	if (asprintf(&text, "untrusted comment: legacy\n%s\ntrusted comment: %s\n%s\n", blob_text, trusted_comment,
		     global_text) < 0)
		text = NULL;
	free(blob_text);
	free(global_text);
	return text;
}

/* The decoded second line of a key or signature text. */
static size_t decode_line(const char *text, unsigned line, uint8_t *out, size_t size)
{
	const char *start = text;
	for (unsigned i = 1; i < line; i++)
		start = strchr(start, '\n') + 1;
	size_t length = strcspn(start, "\n"), decoded = 0;
	if (sodium_base642bin(out, size, start, length, NULL, &decoded, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return 0;
	return decoded;
}

/* A two-line text "comment\nbase64(bytes)\n" (malloc'd). */
static char *two_lines(const char *comment, const uint8_t *bytes, size_t length)
{
	char *encoded = base64(bytes, length), *text;
	if (asprintf(&text, "%s\n%s\n", comment, encoded) < 0)
		text = NULL;
	free(encoded);
	return text;
}

/* Replaces the first occurrence of from by to (same length) in text. */
static void replace(char *text, const char *from, const char *to)
{
	char *at = strstr(text, from);
	if (at)
		memcpy(at, to, strlen(to));
}

/* ---- round trips ---- */

static void test_unencrypted_round_trip(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair(NULL, &pair), 0);
	CHECK_INT(minisign_secret_key_encrypted(pair.secret_text, strlen(pair.secret_text)), 0);
	CHECK(memcmp(pair.public_key.key_id, pair.secret_key.key_id, 8) == 0);
	CHECK(memcmp(pair.public_key.key, pair.secret_key.key + 32, 32) == 0);
	CHECK(pair.public_text[strlen(pair.public_text) - 1] == '\n');
	CHECK(pair.secret_text[strlen(pair.secret_text) - 1] == '\n');

	char id[17], line[128];
	snprintf(line, sizeof line, "untrusted comment: minisign public key %s\n",
		 minisign_key_id_text(pair.public_key.key_id, id, sizeof id));
	CHECK(strncmp(pair.public_text, line, strlen(line)) == 0);

	const uint8_t data[] = "some program bytes";
	char *text = NULL;
	CHECK_INT(minisign_sign(&pair.secret_key, data, sizeof data, "file:hello\tsha256:00", "made in a test", &text,
				&err),
		  0);
	struct minisign_signature signature;
	CHECK_INT(parse_signature(text, &signature), 0);
	CHECK(signature.prehashed);
	CHECK_STR(signature.untrusted_comment, "made in a test");
	CHECK_STR(signature.trusted_comment, "file:hello\tsha256:00");
	CHECK(memcmp(signature.key_id, pair.public_key.key_id, 8) == 0);
	CHECK_INT(minisign_verify(&signature, &pair.public_key, data, sizeof data, &err), 0);
	CHECK_INT(minisign_verify_trusted_comment(&signature, &pair.public_key, &err), 0);
	minisign_signature_free(&signature);
	CHECK(signature.trusted_comment == NULL);
	minisign_signature_free(&signature); /* twice is harmless */
	free(text);
	free_key_pair(&pair);
}

static void test_encrypted_round_trip(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair("correct horse", &pair), 0);
	CHECK_INT(minisign_secret_key_encrypted(pair.secret_text, strlen(pair.secret_text)), 1);
	CHECK(strncmp(pair.secret_text, "untrusted comment: minisign encrypted secret key\n", 49) == 0);
	uint8_t blob[158];
	CHECK_INT(decode_line(pair.secret_text, 2, blob, sizeof blob), 158);
	CHECK(memcmp(blob, "EdScB2", 6) == 0);
	CHECK(memcmp(blob + 38, "\x00\x00\x08\x00\x00\x00\x00\x00", 8) == 0); /* opslimit 524288 */
	CHECK(memcmp(blob + 46, "\x00\x00\x00\x01\x00\x00\x00\x00", 8) == 0); /* memlimit 16 MiB */
	CHECK(memcmp(blob + 54, pair.public_key.key_id, 8) != 0);             /* encrypted */

	char *text = NULL;
	CHECK_INT(minisign_sign(&pair.secret_key, NULL, 0, "empty data", NULL, &text, &err), 0);
	struct minisign_signature signature;
	CHECK_INT(parse_signature(text, &signature), 0);
	CHECK_STR(signature.untrusted_comment, "signature from tkvm secret key");
	CHECK_INT(minisign_verify(&signature, &pair.public_key, NULL, 0, &err), 0);
	CHECK_INT(minisign_verify(&signature, &pair.public_key, (const uint8_t *)"x", 1, &err), -EBADMSG);
	minisign_signature_free(&signature);
	free(text);
	free_key_pair(&pair);
}

static void test_wrong_password(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair("right", &pair), 0);
	struct minisign_secret_key key;
	size_t length = strlen(pair.secret_text);
	tkvm_error_clear(&err);
	CHECK_INT(minisign_secret_key_parse(pair.secret_text, length, "wrong", &key, &err), -EACCES);
	CHECK_STR(err.message, "wrong password for the secret key");
	CHECK(sodium_is_zero((const uint8_t *)&key, sizeof key));
	CHECK_INT(minisign_secret_key_parse(pair.secret_text, length, NULL, &key, &err), -EACCES);
	CHECK_CONTAINS(err.message, "password is needed");
	CHECK_INT(minisign_secret_key_parse(pair.secret_text, length, "", &key, &err), -EACCES);
	free_key_pair(&pair);
}

/* A password-less key ignores a password, as minisign -W keys do. */
static void test_unencrypted_ignores_password(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair(NULL, &pair), 0);
	struct minisign_secret_key key;
	CHECK_INT(minisign_secret_key_parse(pair.secret_text, strlen(pair.secret_text), "anything", &key, &err), 0);
	CHECK(memcmp(&key, &pair.secret_key, sizeof key) == 0);
	free_key_pair(&pair);
}

static void test_key_id_text(void)
{
	const uint8_t id[8] = { 0x4b, 0x87, 0x87, 0x1e, 0x81, 0x19, 0x99, 0x98 };
	char buf[17];
	CHECK_STR(minisign_key_id_text(id, buf, sizeof buf), "989919811E87874B");
	char small[5];
	CHECK_STR(minisign_key_id_text(id, small, sizeof small), "9899");
}

static void test_public_key_forms(void)
{
	struct minisign_public_key file_key, key;
	CHECK_INT(minisign_public_key_parse(REAL_PUBLIC, strlen(REAL_PUBLIC), &file_key, &err), 0);
	char buf[57], id[17];
	CHECK_STR(minisign_public_key_base64(&file_key, buf, sizeof buf),
		  "RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ");
	CHECK_STR(minisign_key_id_text(file_key.key_id, id, sizeof id), "989919811E87874B");
	CHECK(minisign_public_key_base64(&file_key, buf, 56) == NULL);
	CHECK_STR(buf, "");

	const char *forms[] = {
		"RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ",
		"  RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ\n\n",
		"untrusted comment: minisign public key 989919811E87874B\r\n"
		"RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ\r\n",
		"\nuntrusted comment: anything at all\nRWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ",
	};
	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		int rc = minisign_public_key_parse(forms[i], strlen(forms[i]), &key, &err);
		CHECK_INT(rc, 0);
		if (rc < 0)
			printf("# form %zu: %s\n", i, err.message);
		CHECK(memcmp(&key, &file_key, sizeof key) == 0);
	}
	/* The length is what counts, not a terminator. */
	char unterminated[56];
	memcpy(unterminated, forms[0], 56);
	CHECK_INT(minisign_public_key_parse(unterminated, 56, &key, &err), 0);
}

/* ---- what minisign 0.11 wrote ---- */

static void test_real_signatures(void)
{
	struct minisign_public_key key;
	CHECK_INT(minisign_public_key_parse(REAL_PUBLIC, strlen(REAL_PUBLIC), &key, &err), 0);
	struct minisign_signature signature;
	CHECK_INT(parse_signature(REAL_SIGNATURE, &signature), 0);
	CHECK(signature.prehashed);
	CHECK_STR(signature.trusted_comment, "trusted text");
	CHECK_STR(signature.untrusted_comment, "signature from minisign secret key");
	CHECK_INT(minisign_verify(&signature, &key, (const uint8_t *)REAL_DATA, strlen(REAL_DATA), &err), 0);
	minisign_signature_free(&signature);

	CHECK_INT(parse_signature(REAL_LEGACY_SIGNATURE, &signature), 0);
	CHECK(!signature.prehashed);
	CHECK_STR(signature.trusted_comment, "timestamp:1795302120\tfile:f");
	CHECK_INT(minisign_verify(&signature, &key, (const uint8_t *)REAL_DATA, strlen(REAL_DATA), &err), 0);
	CHECK_INT(minisign_verify(&signature, &key, (const uint8_t *)"hellO\n", 6, &err), -EBADMSG);
	minisign_signature_free(&signature);
}

/* minisign 0.11 writes -W keys with a zero checksum; they must load, and
 * our signatures with them must verify against its public key. */
static void test_real_unencrypted_secret_key(void)
{
	struct minisign_public_key public_key;
	struct minisign_secret_key key;
	CHECK_INT(minisign_public_key_parse(REAL_PUBLIC, strlen(REAL_PUBLIC), &public_key, &err), 0);
	CHECK_INT(minisign_secret_key_encrypted(REAL_SECRET, strlen(REAL_SECRET)), 0);
	CHECK_INT(minisign_secret_key_parse(REAL_SECRET, strlen(REAL_SECRET), NULL, &key, &err), 0);
	CHECK(memcmp(key.key_id, public_key.key_id, 8) == 0);
	char *text = NULL;
	CHECK_INT(minisign_sign(&key, (const uint8_t *)"x", 1, "t", NULL, &text, &err), 0);
	CHECK_INT(verify_text(text, &public_key, "x", 1), 0);
	free(text);
}

static void test_real_encrypted_secret_key(void)
{
	struct minisign_public_key public_key;
	struct minisign_secret_key key;
	size_t length = strlen(REAL_ENCRYPTED_SECRET);
	CHECK_INT(minisign_public_key_parse(REAL_ENCRYPTED_PUBLIC, strlen(REAL_ENCRYPTED_PUBLIC), &public_key, &err), 0);
	CHECK_INT(minisign_secret_key_encrypted(REAL_ENCRYPTED_SECRET, length), 1);
	int rc = minisign_secret_key_parse(REAL_ENCRYPTED_SECRET, length, "pw", &key, &err);
	CHECK_INT(rc, 0);
	if (rc < 0)
		printf("# %s\n", err.message);
	CHECK(memcmp(key.key_id, public_key.key_id, 8) == 0);
	CHECK(memcmp(key.key + 32, public_key.key, 32) == 0);
}

/* ---- tampering ---- */

static void test_tampered_data(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair(NULL, &pair), 0);
	uint8_t data[300];
	randombytes_buf(data, sizeof data);
	char *text = NULL;
	CHECK_INT(minisign_sign(&pair.secret_key, data, sizeof data, "t", NULL, &text, &err), 0);
	CHECK_INT(verify_text(text, &pair.public_key, data, sizeof data), 0);
	data[123] ^= 0x10;
	tkvm_error_clear(&err);
	CHECK_INT(verify_text(text, &pair.public_key, data, sizeof data), -EBADMSG);
	CHECK_STR(err.message, "signature does not match the data");
	data[123] ^= 0x10;
	CHECK_INT(verify_text(text, &pair.public_key, data, sizeof data - 1), -EBADMSG);
	free(text);
	free_key_pair(&pair);
}

static void test_tampered_trusted_comment(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair(NULL, &pair), 0);
	char *text = NULL;
	CHECK_INT(minisign_sign(&pair.secret_key, (const uint8_t *)"data", 4, "sha256:aaaa", "u", &text, &err), 0);
	replace(text, "sha256:aaaa", "sha256:aaab");
	tkvm_error_clear(&err);
	CHECK_INT(verify_text(text, &pair.public_key, "data", 4), -EBADMSG);
	CHECK_STR(err.message, "trusted comment was altered");
	struct minisign_signature signature;
	CHECK_INT(parse_signature(text, &signature), 0);
	CHECK_INT(minisign_verify_trusted_comment(&signature, &pair.public_key, &err), -EBADMSG);
	minisign_signature_free(&signature);
	/* The untrusted comment is not covered: changing it is allowed. */
	replace(text, "sha256:aaab", "sha256:aaaa");
	replace(text, "comment: u", "comment: v");
	CHECK_INT(verify_text(text, &pair.public_key, "data", 4), 0);
	free(text);
	free_key_pair(&pair);
}

static void test_wrong_key(void)
{
	struct key_pair signer, other;
	CHECK_INT(make_key_pair(NULL, &signer), 0);
	CHECK_INT(make_key_pair(NULL, &other), 0);
	char *text = NULL;
	CHECK_INT(minisign_sign(&signer.secret_key, (const uint8_t *)"data", 4, "t", NULL, &text, &err), 0);
	tkvm_error_clear(&err);
	CHECK_INT(verify_text(text, &other.public_key, "data", 4), -ENOKEY);
	char signed_by[17], expected[17], message[128];
	snprintf(message, sizeof message, "signed by key %s, not by key %s",
		 minisign_key_id_text(signer.public_key.key_id, signed_by, sizeof signed_by),
		 minisign_key_id_text(other.public_key.key_id, expected, sizeof expected));
	CHECK_STR(err.message, message);
	struct minisign_signature signature;
	CHECK_INT(parse_signature(text, &signature), 0);
	CHECK_INT(minisign_verify_trusted_comment(&signature, &other.public_key, &err), -ENOKEY);
	/* Same id, different key: the id is no proof. */
	memcpy(other.public_key.key_id, signer.public_key.key_id, 8);
	CHECK_INT(minisign_verify(&signature, &other.public_key, (const uint8_t *)"data", 4, &err), -EBADMSG);
	CHECK_INT(minisign_verify_trusted_comment(&signature, &other.public_key, &err), -EBADMSG);
	minisign_signature_free(&signature);
	free(text);
	free_key_pair(&signer);
	free_key_pair(&other);
}

static void test_legacy_signature(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair(NULL, &pair), 0);
	const uint8_t data[] = "legacy data";
	char *text = legacy_signature_text(&pair.secret_key, data, sizeof data, "old style");
	struct minisign_signature signature;
	CHECK_INT(parse_signature(text, &signature), 0);
	CHECK(!signature.prehashed);
	CHECK_STR(signature.trusted_comment, "old style");
	CHECK_INT(minisign_verify(&signature, &pair.public_key, data, sizeof data, &err), 0);
	CHECK_INT(minisign_verify(&signature, &pair.public_key, data, sizeof data - 1, &err), -EBADMSG);
	/* Relabelled as prehashed, the same signature must not verify. */
	signature.prehashed = true;
	CHECK_INT(minisign_verify(&signature, &pair.public_key, data, sizeof data, &err), -EBADMSG);
	minisign_signature_free(&signature);
	free(text);
	free_key_pair(&pair);
}

static void test_sign_comment_rules(void)
{
	struct key_pair pair;
	CHECK_INT(make_key_pair(NULL, &pair), 0);
	char *text = (char *)1;
	CHECK_INT(minisign_sign(&pair.secret_key, (const uint8_t *)"d", 1, "two\nlines", NULL, &text, &err), -EINVAL);
	CHECK(text == NULL);
	CHECK_INT(minisign_sign(&pair.secret_key, (const uint8_t *)"d", 1, "t", "carriage\rreturn", &text, &err),
		  -EINVAL);
	char long_comment[8002];
	memset(long_comment, 'a', sizeof long_comment - 1);
	long_comment[sizeof long_comment - 1] = 0;
	CHECK_INT(minisign_sign(&pair.secret_key, (const uint8_t *)"d", 1, long_comment, NULL, &text, &err), -E2BIG);
	long_comment[8000] = 0;
	CHECK_INT(minisign_sign(&pair.secret_key, (const uint8_t *)"d", 1, long_comment, NULL, &text, &err), 0);
	CHECK_INT(verify_text(text, &pair.public_key, "d", 1), 0);
	free(text);
	CHECK_INT(minisign_sign(&pair.secret_key, (const uint8_t *)"d", 1, NULL, "", &text, &err), 0);
	CHECK(text && strncmp(text, "untrusted comment: \n", 20) == 0);
	CHECK_INT(verify_text(text, &pair.public_key, "d", 1), 0);
	free(text);
	free_key_pair(&pair);
}

/* ---- hostile text ---- */

struct bad_case {
	const char *text;
	const char *message; /* expected in the error */
};

static void test_signature_garbage(void)
{
	/* Pieces of a valid signature to recombine. */
	const char *l1 = "untrusted comment: signature from minisign secret key\n";
	const char *l2 = "RURLh4cegRmZmK4e8GnWXg45BLAE59fPTksOJuZsqUOgfE00+LKN43hbgesTTPHq4Jgb9HMWlSDhRRijZrLkXD73MVQDR+HnTgA=\n";
	const char *l3 = "trusted comment: trusted text\n";
	const char *l4 = "QH4o+5tvEybf53ZqXt/EoB+N0IUQfNuX28rFNKnbqWReaIFIUnr4figC/nrhE1eLBfCD0thIzBF5Et+OFHSgBw==\n";
	char texts[16][1024];
	struct bad_case cases[16];
	size_t n = 0;
#define CASE(expected, ...) \
	(snprintf(texts[n], sizeof texts[n], __VA_ARGS__), cases[n].text = texts[n], cases[n++].message = (expected))
	CASE("signature line 1: missing", "%s", "");
	CASE("signature line 1: expected a line starting with \"untrusted comment: \"", "hello\n%s%s%s", l2, l3, l4);
	CASE("signature line 2: missing", "%s", l1);
	CASE("signature line 2: not base64", "%s%s%s%s", l1, "RURLh4cegRmZmK4e8GnWXg45BLAE59fPTksOJuZsqUOgfE00+LKN43hbgesTTPHq4Jgb9HMWlSDhRRijZrLkXD73MVQDR+Hn*gA=\n", l3, l4);
	CASE("signature line 2: 96 base64 characters where 100 were expected", "%s%s%s%s", l1, "RURLh4cegRmZmK4e8GnWXg45BLAE59fPTksOJuZsqUOgfE00+LKN43hbgesTTPHq4Jgb9HMWlSDhRRijZrLkXD73MVQDR+Hn\n", l3, l4);
	CASE("signature line 2: not base64", "%s%s%s%s", l1, "RURLh4cegRmZmK4e8GnWXg45BLAE59fPTksOJuZsqUOgfE00+LKN43hbgesTTPHq4Jgb9HMWlSDhRRijZrLkXD73MVQDR+HnTgB=\n", l3, l4); /* non-zero trailing bits */
	CASE("signature line 2: unsupported signature algorithm", "%s%s%s%s", l1, "RUBLh4cegRmZmK4e8GnWXg45BLAE59fPTksOJuZsqUOgfE00+LKN43hbgesTTPHq4Jgb9HMWlSDhRRijZrLkXD73MVQDR+HnTgA=\n", l3, l4);
	CASE("signature line 3: missing", "%s%s", l1, l2);
	CASE("signature line 3: expected a line starting with \"trusted comment: \"", "%s%s%s%s", l1, l2, "trusted comment:x\n", l4);
	CASE("signature line 4: missing", "%s%s%s", l1, l2, l3);
	CASE("signature line 4: 4 base64 characters where 88 were expected", "%s%s%s%s", l1, l2, l3, "QH4o\n");
	CASE("signature line 4: empty", "%s%s%s\n", l1, l2, l3);
	CASE("signature line 7: unexpected text after the global signature", "%s%s%s%s\n  \ntrailing\n", l1, l2, l3, l4);
	CASE("signature line 2: empty", "%s\n%s%s%s", l1, l2, l3, l4);
#undef CASE
	for (size_t i = 0; i < n; i++) {
		struct minisign_signature signature;
		tkvm_error_clear(&err);
		CHECK_INT(parse_signature(cases[i].text, &signature), -EINVAL);
		CHECK_CONTAINS(err.message, cases[i].message);
		CHECK(signature.untrusted_comment == NULL && signature.trusted_comment == NULL);
	}

	/* NUL bytes in comments are refused, in either comment. */
	char with_nul[1024];
	size_t length = (size_t)snprintf(with_nul, sizeof with_nul, "%s%s%s%s", l1, l2, l3, l4);
	struct minisign_signature signature;
	CHECK_INT(minisign_signature_parse(with_nul, length, &signature, &err), 0);
	minisign_signature_free(&signature);
	with_nul[strlen(l1) + strlen(l2) + 20] = 0;
	CHECK_INT(minisign_signature_parse(with_nul, length, &signature, &err), -EINVAL);
	CHECK_STR(err.message, "signature line 3: the comment contains a NUL byte");
	with_nul[strlen(l1) + strlen(l2) + 20] = 'x';
	with_nul[25] = 0;
	CHECK_INT(minisign_signature_parse(with_nul, length, &signature, &err), -EINVAL);
	CHECK_STR(err.message, "signature line 1: the comment contains a NUL byte");
	with_nul[25] = '\r';
	CHECK_INT(minisign_signature_parse(with_nul, length, &signature, &err), -EINVAL);
	CHECK_STR(err.message, "signature line 1: the comment contains a carriage return");

	/* CRLF line endings and trailing blank lines are fine. */
	char lf[1024], crlf[1024];
	snprintf(lf, sizeof lf, "%s%s%s%s\n", l1, l2, l3, l4);
	size_t out = 0;
	for (const char *p = lf; *p; p++) {
		if (*p == '\n')
			crlf[out++] = '\r';
		crlf[out++] = *p;
	}
	crlf[out] = 0;
	struct minisign_public_key key;
	CHECK_INT(minisign_public_key_parse(REAL_PUBLIC, strlen(REAL_PUBLIC), &key, &err), 0);
	CHECK_INT(verify_text(crlf, &key, REAL_DATA, strlen(REAL_DATA)), 0);
	CHECK(strstr(crlf, "text\r\n") != NULL);
}

static void test_public_key_garbage(void)
{
	static const struct bad_case cases[] = {
		{ "", "public key: empty text" },
		{ "   \n\t\n", "public key: empty text" },
		{ "untrusted comment: only a comment\n", "public key line 2: missing" },
		{ "RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bk", "public key line 1: 55 base64 characters where 56" },
		{ "RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bk!", "public key line 1: not base64" },
		{ "untrusted comment: x\nRURLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ",
		  "public key line 2: unsupported signature algorithm" },
		{ "untrusted comment: x\nRWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ\nmore",
		  "public key line 3: unexpected text after the key" },
		{ "untrusted comment:x\nRWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ", "public key line 1: not base64" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct minisign_public_key key;
		tkvm_error_clear(&err);
		CHECK_INT(minisign_public_key_parse(cases[i].text, strlen(cases[i].text), &key, &err), -EINVAL);
		CHECK_CONTAINS(err.message, cases[i].message);
	}
	char with_nul[] = "untrusted comment: a\0b\nRWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ";
	struct minisign_public_key key;
	CHECK_INT(minisign_public_key_parse(with_nul, sizeof with_nul - 1, &key, &err), -EINVAL);
	CHECK_STR(err.message, "public key line 1: the comment contains a NUL byte");
}

/* Rebuilds a secret key text after changing its decoded bytes. */
static char *edited_secret(const char *text, void (*edit)(uint8_t blob[158]))
{
	uint8_t blob[158];
	if (decode_line(text, 2, blob, sizeof blob) != 158)
		return NULL;
	edit(blob);
	return two_lines("untrusted comment: edited", blob, sizeof blob);
}

static void edit_signature_algorithm(uint8_t blob[158]) { blob[1] = 'D'; }
static void edit_kdf_algorithm(uint8_t blob[158]) { memcpy(blob + 2, "Ar", 2); }
static void edit_checksum_algorithm(uint8_t blob[158]) { blob[5] = '3'; }
static void edit_checksum(uint8_t blob[158]) { blob[157] ^= 1; }
static void edit_public_half(uint8_t blob[158]) { blob[62 + 40] ^= 1; }
static void edit_opslimit(uint8_t blob[158]) { memset(blob + 38, 0xff, 8); }
static void edit_memlimit(uint8_t blob[158]) { memcpy(blob + 46, "\x00\x00\x00\x00\x01\x00\x00\x00", 8); }
/* What minisign 0.11 -W writes in place of the checksum. */
static void edit_zero_checksum(uint8_t blob[158]) { memset(blob + 126, 0, 32); }

static void test_secret_key_garbage(void)
{
	struct key_pair plain, locked;
	CHECK_INT(make_key_pair(NULL, &plain), 0);
	CHECK_INT(make_key_pair("pw", &locked), 0);
	struct {
		const char *source;
		void (*edit)(uint8_t blob[158]);
		const char *password;
		int code;
		const char *message;
	} cases[] = {
		{ plain.secret_text, edit_signature_algorithm, NULL, -EINVAL, "secret key line 2: unsupported signature algorithm" },
		{ plain.secret_text, edit_kdf_algorithm, NULL, -EINVAL, "secret key line 2: unsupported key derivation algorithm" },
		{ plain.secret_text, edit_checksum_algorithm, NULL, -EINVAL, "secret key line 2: unsupported checksum algorithm" },
		{ plain.secret_text, edit_checksum, NULL, -EINVAL, "secret key line 2: checksum does not match the key" },
		{ plain.secret_text, edit_public_half, NULL, -EINVAL, "checksum does not match the key" },
		{ locked.secret_text, edit_opslimit, "pw", -EINVAL, "key derivation cost too high" },
		{ locked.secret_text, edit_memlimit, "pw", -EINVAL, "key derivation cost too high" },
		{ locked.secret_text, edit_checksum, "pw", -EACCES, "wrong password for the secret key" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *text = edited_secret(cases[i].source, cases[i].edit);
		struct minisign_secret_key key;
		tkvm_error_clear(&err);
		CHECK_INT(minisign_secret_key_parse(text, strlen(text), cases[i].password, &key, &err), cases[i].code);
		CHECK_CONTAINS(err.message, cases[i].message);
		free(text);
	}

	/* A zero checksum (minisign 0.11 -W) is accepted when not encrypted,
	 * but then a public half that does not belong to the seed is caught. */
	char *text = edited_secret(plain.secret_text, edit_zero_checksum);
	struct minisign_secret_key key;
	CHECK_INT(minisign_secret_key_parse(text, strlen(text), NULL, &key, &err), 0);
	free(text);
	uint8_t blob[158];
	CHECK_INT(decode_line(plain.secret_text, 2, blob, sizeof blob), 158);
	edit_public_half(blob);
	edit_zero_checksum(blob);
	text = two_lines("untrusted comment: edited", blob, sizeof blob);
	CHECK_INT(minisign_secret_key_parse(text, strlen(text), NULL, &key, &err), -EINVAL);
	CHECK_STR(err.message, "secret key line 2: the public half does not match the secret key");
	free(text);

	static const struct bad_case texts[] = {
		{ "", "secret key line 1: missing" },
		{ "RWQAAEIy", "secret key line 1: expected a line starting with \"untrusted comment: \"" },
		{ "untrusted comment: x\n", "secret key line 2: missing" },
		{ "untrusted comment: x\nRWQAAEIy\n", "secret key line 2: 8 base64 characters where 212 were expected" },
		{ "untrusted comment: x\n???\n", "secret key line 2: not base64" },
	};
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		tkvm_error_clear(&err);
		CHECK_INT(minisign_secret_key_parse(texts[i].text, strlen(texts[i].text), NULL, &key, &err), -EINVAL);
		CHECK_CONTAINS(err.message, texts[i].message);
		CHECK_INT(minisign_secret_key_encrypted(texts[i].text, strlen(texts[i].text)), -1);
	}
	CHECK_INT(minisign_secret_key_encrypted(REAL_PUBLIC, strlen(REAL_PUBLIC)), -1);
	CHECK_INT(minisign_secret_key_encrypted(REAL_SIGNATURE, strlen(REAL_SIGNATURE)), -1);
	size_t length = strlen(plain.secret_text);
	char *extra = malloc(length + 8);
	memcpy(extra, plain.secret_text, length);
	memcpy(extra + length, "\r\nmore\n", 8);
	CHECK_INT(minisign_secret_key_parse(extra, length + 7, NULL, &key, &err), -EINVAL);
	CHECK_STR(err.message, "secret key line 4: unexpected text after the key");
	CHECK_INT(minisign_secret_key_parse(extra, length + 2, NULL, &key, &err), 0);
	free(extra);
	free_key_pair(&plain);
	free_key_pair(&locked);
}

/* ---- interoperation with the minisign binary ---- */

static char scratch[] = "/tmp/tkvm-minisign-XXXXXX";

static char *path_of(const char *name)
{
	static char paths[4][512];
	static int next;
	char *path = paths[next++ % 4];
	snprintf(path, sizeof paths[0], "%s/%s", scratch, name);
	return path;
}

static int write_file(const char *name, const void *data, size_t size)
{
	FILE *file = fopen(path_of(name), "wb");
	if (!file)
		return -1;
	size_t written = fwrite(data, 1, size, file);
	return fclose(file) == 0 && written == size ? 0 : -1;
}

static char *read_file(const char *name, size_t *size)
{
	FILE *file = fopen(path_of(name), "rb");
	if (!file)
		return NULL;
	char *data = NULL;
	size_t length = 0, capacity = 0, n;
	char chunk[4096];
	while ((n = fread(chunk, 1, sizeof chunk, file)) > 0) {
		if (length + n + 1 > capacity) {
			capacity = (length + n + 1) * 2;
			data = realloc(data, capacity);
		}
		memcpy(data + length, chunk, n);
		length += n;
	}
	fclose(file);
	if (!data)
		data = calloc(1, 1);
	data[length] = 0;
	*size = length;
	return data;
}

/* Runs a shell command in the scratch directory; its output (stdout and
 * stderr) goes into output. Returns the exit status, -1 when it did not
 * exit normally. */
static int run(char *output, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *output, size_t size, const char *fmt, ...)
{
	char command[1024];
	int used = snprintf(command, sizeof command, "cd '%s' && ( ", scratch);
	va_list ap;
	va_start(ap, fmt);
	used += vsnprintf(command + used, sizeof command - (size_t)used, fmt, ap);
	va_end(ap);
	snprintf(command + used, sizeof command - (size_t)used, " ) 2>&1");
	FILE *pipe = popen(command, "r");
	if (!pipe)
		return -1;
	size_t length = fread(output, 1, size - 1, pipe);
	output[length] = 0;
	while (fgetc(pipe) != EOF) {
	}
	int status = pclose(pipe);
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (rc != 0) {
		/* Every line as a TAP comment, so the output cannot pass for a result. */
		printf("# `%s` exited %d:\n", command, rc);
		for (const char *line = output; *line;) {
			size_t n = strcspn(line, "\n");
			printf("#   %.*s\n", (int)n, line);
			line += n + (line[n] == '\n');
		}
	}
	return rc;
}

static bool have_minisign(void)
{
	return access(MINISIGN_BINARY, X_OK) == 0;
}

/* Their keys (-W) and signature; our parser and verifier; then their
 * secret key loaded by us signs something their verifier accepts. */
static void test_interop_their_keys(void)
{
	char output[4096];
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -G -W -p a.pub -s a.key"), 0);
	CHECK_INT(write_file("file", "their data\n", 11), 0);
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -S -s a.key -m file -t 'trusted text'"), 0);
	size_t pub_size, key_size, sig_size;
	char *pub = read_file("a.pub", &pub_size), *key = read_file("a.key", &key_size);
	char *sig = read_file("file.minisig", &sig_size);
	CHECK(pub && key && sig);
	if (!pub || !key || !sig)
		goto out;
	struct minisign_public_key public_key;
	struct minisign_secret_key secret_key;
	struct minisign_signature signature;
	CHECK_INT(minisign_public_key_parse(pub, pub_size, &public_key, &err), 0);
	CHECK_INT(minisign_signature_parse(sig, sig_size, &signature, &err), 0);
	CHECK(signature.prehashed);
	CHECK_STR(signature.trusted_comment, "trusted text");
	CHECK_INT(minisign_verify(&signature, &public_key, (const uint8_t *)"their data\n", 11, &err), 0);
	CHECK_INT(minisign_verify(&signature, &public_key, (const uint8_t *)"their data!", 11, &err), -EBADMSG);
	minisign_signature_free(&signature);

	/* Legacy signatures from the binary (-l) too. */
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -S -l -s a.key -m file -x legacy.minisig -t legacy"), 0);
	free(sig);
	sig = read_file("legacy.minisig", &sig_size);
	CHECK_INT(minisign_signature_parse(sig, sig_size, &signature, &err), 0);
	CHECK(!signature.prehashed);
	CHECK_INT(minisign_verify(&signature, &public_key, (const uint8_t *)"their data\n", 11, &err), 0);
	minisign_signature_free(&signature);

	CHECK_INT(minisign_secret_key_encrypted(key, key_size), 0);
	CHECK_INT(minisign_secret_key_parse(key, key_size, NULL, &secret_key, &err), 0);
	free(sig);
	sig = NULL;
	CHECK_INT(minisign_sign(&secret_key, (const uint8_t *)"their data\n", 11, "signed by tkvm", NULL, &sig, &err), 0);
	CHECK_INT(write_file("file.minisig", sig, strlen(sig)), 0);
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -Vm file -p a.pub"), 0);
	CHECK_CONTAINS(output, "Trusted comment: signed by tkvm");
	sodium_memzero(&secret_key, sizeof secret_key);
out:
	free(pub);
	free(key);
	free(sig);
}

/* Our encrypted key pair: the binary signs with our secret key (password
 * on stdin, which minisign reads as a line when it is not a terminal) and
 * verifies our own signatures with our public key. */
static void test_interop_our_keys(void)
{
	char *public_text = NULL, *secret_text = NULL, output[4096];
	CHECK_INT(minisign_keygen("tkvm password", MINISIGN_KDF_INTERACTIVE, &public_text, &secret_text, &err), 0);
	if (!public_text)
		return;
	CHECK_INT(write_file("b.pub", public_text, strlen(public_text)), 0);
	CHECK_INT(write_file("b.key", secret_text, strlen(secret_text)), 0);
	uint8_t data[5000];
	randombytes_buf(data, sizeof data);
	CHECK_INT(write_file("data.bin", data, sizeof data), 0);

	CHECK_INT(run(output, sizeof output,
		      "echo 'tkvm password' | " MINISIGN_BINARY " -S -s b.key -m data.bin -x theirs.minisig -t 'from minisign'"),
		  0);
	size_t size;
	char *sig = read_file("theirs.minisig", &size);
	struct minisign_public_key public_key;
	struct minisign_signature signature;
	CHECK_INT(minisign_public_key_parse(public_text, strlen(public_text), &public_key, &err), 0);
	CHECK_INT(minisign_signature_parse(sig ? sig : "", sig ? size : 0, &signature, &err), 0);
	CHECK_INT(minisign_verify(&signature, &public_key, data, sizeof data, &err), 0);
	CHECK_STR(signature.trusted_comment, "from minisign");
	minisign_signature_free(&signature);
	free(sig);

	/* A wrong password is refused by the binary too. */
	printf("# minisign must refuse the wrong password:\n");
	CHECK(run(output, sizeof output, "echo 'not it' | " MINISIGN_BINARY " -S -s b.key -m data.bin -x x.minisig") != 0);

	struct minisign_secret_key secret_key;
	CHECK_INT(minisign_secret_key_parse(secret_text, strlen(secret_text), "tkvm password", &secret_key, &err), 0);
	sig = NULL;
	CHECK_INT(minisign_sign(&secret_key, data, sizeof data, "our trusted\tcomment", "ours", &sig, &err), 0);
	CHECK_INT(write_file("data.bin.minisig", sig, strlen(sig)), 0);
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -Vm data.bin -p b.pub"), 0);
	CHECK_CONTAINS(output, "Trusted comment: our trusted\tcomment");
	/* -H demands prehashed signatures: ours are. */
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -V -H -m data.bin -p b.pub"), 0);
	free(sig);

	/* The longest comments we write still verify there. */
	char comment[8001], untrusted[1001];
	memset(comment, 'c', 8000);
	comment[8000] = 0;
	memset(untrusted, 'u', 1000);
	untrusted[1000] = 0;
	sig = NULL;
	CHECK_INT(minisign_sign(&secret_key, data, sizeof data, comment, untrusted, &sig, &err), 0);
	CHECK_INT(write_file("data.bin.minisig", sig, strlen(sig)), 0);
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -Vm data.bin -p b.pub -q"), 0);
	free(sig);
	sodium_memzero(&secret_key, sizeof secret_key);
	free(public_text);
	free(secret_text);
}

/* Our unencrypted secret key (with its real checksum) works in the binary. */
static void test_interop_our_unencrypted_key(void)
{
	char *public_text = NULL, *secret_text = NULL, output[4096];
	CHECK_INT(minisign_keygen(NULL, MINISIGN_KDF_INTERACTIVE, &public_text, &secret_text, &err), 0);
	if (!public_text)
		return;
	CHECK_INT(write_file("c.pub", public_text, strlen(public_text)), 0);
	CHECK_INT(write_file("c.key", secret_text, strlen(secret_text)), 0);
	CHECK_INT(write_file("small", "x", 1), 0);
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -S -W -s c.key -m small -t plain < /dev/null"), 0);
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -Vm small -p c.pub"), 0);
	CHECK_CONTAINS(output, "Trusted comment: plain");
	free(public_text);
	free(secret_text);
}

/* The binary rejects our signature once one bit of the data changes. */
static void test_interop_tampered(void)
{
	struct key_pair pair;
	char output[4096];
	CHECK_INT(make_key_pair(NULL, &pair), 0);
	uint8_t data[1000];
	randombytes_buf(data, sizeof data);
	char *sig = NULL;
	CHECK_INT(minisign_sign(&pair.secret_key, data, sizeof data, "t", NULL, &sig, &err), 0);
	CHECK_INT(write_file("d.pub", pair.public_text, strlen(pair.public_text)), 0);
	CHECK_INT(write_file("tampered", data, sizeof data), 0);
	CHECK_INT(write_file("tampered.minisig", sig, strlen(sig)), 0);
	CHECK_INT(run(output, sizeof output, MINISIGN_BINARY " -Vm tampered -p d.pub -q"), 0);
	data[500] ^= 0x04;
	CHECK_INT(write_file("tampered", data, sizeof data), 0);
	printf("# minisign must refuse the tampered file:\n");
	CHECK(run(output, sizeof output, MINISIGN_BINARY " -Vm tampered -p d.pub") != 0);
	CHECK_CONTAINS(output, "verification failed");
	free(sig);
	free_key_pair(&pair);
}

int main(void)
{
	if (sodium_init() < 0) {
		printf("not ok - sodium_init\n");
		return 1;
	}
	TEST(test_unencrypted_round_trip);
	TEST(test_encrypted_round_trip);
	TEST(test_wrong_password);
	TEST(test_unencrypted_ignores_password);
	TEST(test_key_id_text);
	TEST(test_public_key_forms);
	TEST(test_real_signatures);
	TEST(test_real_unencrypted_secret_key);
	TEST(test_real_encrypted_secret_key);
	TEST(test_tampered_data);
	TEST(test_tampered_trusted_comment);
	TEST(test_wrong_key);
	TEST(test_legacy_signature);
	TEST(test_sign_comment_rules);
	TEST(test_signature_garbage);
	TEST(test_public_key_garbage);
	TEST(test_secret_key_garbage);

	if (!have_minisign()) {
		SKIP("interop", MINISIGN_BINARY " is not installed (apt-get install minisign)");
	} else if (!mkdtemp(scratch)) {
		printf("not ok - mkdtemp %s\n", scratch);
		tap_failures++;
	} else {
		TEST(test_interop_their_keys);
		TEST(test_interop_our_keys);
		TEST(test_interop_our_unencrypted_key);
		TEST(test_interop_tampered);
		char output[256];
		run(output, sizeof output, "rm -rf '%s'", scratch);
	}
	return tap_exit_code();
}
