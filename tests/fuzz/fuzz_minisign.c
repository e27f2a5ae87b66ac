/* libFuzzer target: arbitrary bytes as a minisign signature, public key and
 * secret key (opened without a password, so never through slow scrypt): a
 * result or a one-line error, and what parses round-trips. Seeds: seeds/minisign/. */
#include "packager/minisign.h"
#include "runner/error.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A public key to verify against (minisign 0.11's, as in the seeds). */
static const char PUBLIC_KEY[] = "RWRLh4cegRmZmCN1GyoHc+Tvj+64k+JTi1uQDSA4XMG3xBIFBMul2bkJ";

static void check_error(int rc, const struct tkvm_error *err)
{
	if (rc >= 0 || err->code != rc || err->message[0] == 0 || strchr(err->message, '\n'))
		__builtin_trap(); /* every failure says why, on one line */
}

static void check_signature(const struct minisign_signature *signature, const uint8_t *data, size_t size)
{
	if (!signature->untrusted_comment || !signature->trusted_comment ||
	    strpbrk(signature->untrusted_comment, "\n") || strpbrk(signature->trusted_comment, "\n"))
		__builtin_trap();

	/* Written back as minisign would, the text parses to the same fields. */
	uint8_t blob[2 + MINISIGN_KEY_ID_BYTES + 64];
	memcpy(blob, signature->prehashed ? "ED" : "Ed", 2);
	memcpy(blob + 2, signature->key_id, MINISIGN_KEY_ID_BYTES);
	memcpy(blob + 2 + MINISIGN_KEY_ID_BYTES, signature->signature, 64);
	char blob_text[sodium_base64_ENCODED_LEN(sizeof blob, sodium_base64_VARIANT_ORIGINAL)];
	char global_text[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(blob_text, sizeof blob_text, blob, sizeof blob, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(global_text, sizeof global_text, signature->global_signature, 64,
			  sodium_base64_VARIANT_ORIGINAL);
	char *text;
	if (asprintf(&text, "untrusted comment: %s\n%s\ntrusted comment: %s\n%s\n", signature->untrusted_comment,
		     blob_text, signature->trusted_comment, global_text) < 0)
		return;
	struct minisign_signature again;
	struct tkvm_error err = { 0 };
	if (minisign_signature_parse(text, strlen(text), &again, &err) != 0 || again.prehashed != signature->prehashed ||
	    memcmp(again.key_id, signature->key_id, MINISIGN_KEY_ID_BYTES) != 0 ||
	    memcmp(again.signature, signature->signature, 64) != 0 ||
	    memcmp(again.global_signature, signature->global_signature, 64) != 0 ||
	    strcmp(again.untrusted_comment, signature->untrusted_comment) != 0 ||
	    strcmp(again.trusted_comment, signature->trusted_comment) != 0)
		__builtin_trap();
	minisign_signature_free(&again);
	free(text);

	/* Verification of whatever was found: a result, never a crash. */
	struct minisign_public_key key;
	if (minisign_public_key_parse(PUBLIC_KEY, strlen(PUBLIC_KEY), &key, &err) != 0)
		__builtin_trap();
	int rc = minisign_verify(signature, &key, data, size, &err);
	if (rc != 0)
		check_error(rc, &err);
	memcpy(key.key_id, signature->key_id, MINISIGN_KEY_ID_BYTES);
	rc = minisign_verify_trusted_comment(signature, &key, &err);
	if (rc != 0)
		check_error(rc, &err);
}

static void check_public_key(const struct minisign_public_key *key)
{
	char line[57];
	struct minisign_public_key again;
	struct tkvm_error err = { 0 };
	if (!minisign_public_key_base64(key, line, sizeof line) ||
	    minisign_public_key_parse(line, strlen(line), &again, &err) != 0 || memcmp(&again, key, sizeof again) != 0)
		__builtin_trap();
}

static void check_secret_key(const char *text, size_t size)
{
	int encrypted = minisign_secret_key_encrypted(text, size);
	if (encrypted < -1 || encrypted > 1)
		__builtin_trap();
	struct minisign_secret_key key;
	struct tkvm_error err = { 0 };
	/* No password: an encrypted key stops before scrypt. */
	int rc = minisign_secret_key_parse(text, size, NULL, &key, &err);
	if (rc != 0)
		check_error(rc, &err);
	if ((encrypted == -1 && rc == 0) || (encrypted == 1 && rc != -EACCES))
		__builtin_trap();
	if (rc == 0) {
		/* A key that opens signs what its own public half verifies. */
		struct minisign_public_key public_key;
		memcpy(public_key.key_id, key.key_id, MINISIGN_KEY_ID_BYTES);
		memcpy(public_key.key, key.key + 32, 32);
		char *signature_text;
		struct minisign_signature signature;
		if (minisign_sign(&key, (const uint8_t *)text, size, "fuzz", NULL, &signature_text, &err) != 0 ||
		    minisign_signature_parse(signature_text, strlen(signature_text), &signature, &err) != 0 ||
		    minisign_verify(&signature, &public_key, (const uint8_t *)text, size, &err) != 0)
			__builtin_trap();
		minisign_signature_free(&signature);
		free(signature_text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct tkvm_error err = { 0 };

	struct minisign_signature signature;
	int rc = minisign_signature_parse(text, size, &signature, &err);
	if (rc == 0) {
		check_signature(&signature, data, size);
		minisign_signature_free(&signature);
	} else {
		check_error(rc, &err);
		if (signature.untrusted_comment || signature.trusted_comment)
			__builtin_trap(); /* a failed parse leaves nothing to free */
	}

	struct minisign_public_key key;
	rc = minisign_public_key_parse(text, size, &key, &err);
	if (rc == 0)
		check_public_key(&key);
	else
		check_error(rc, &err);

	check_secret_key(text, size);
	return 0;
}
