/* Program signatures: the binding carried by the trusted comment and the
 * checks that pick the trusted key by id (see program_signature.h). */
#include "packager/program_signature.h"
#include "packager/digest.h"
#include "packager/file_io.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool field_value_ok(const char *value)
{
	for (const unsigned char *c = (const unsigned char *)value; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

int program_binding_format(const struct program_binding *b, char *buf, size_t size, struct tkvm_error *err)
{
	const struct {
		const char *name, *value;
	} fields[] = {
		{"file", b->file}, {"program", b->program}, {"version", b->version},
		{"sha256", b->sha256}, {"elf_sha256", b->elf_sha256}, {"storage_sha256", b->storage_sha256},
	};
	size_t used = (size_t)snprintf(buf, size, "timestamp:%lld", b->timestamp);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (!fields[i].value[0])
			continue;
		if (!field_value_ok(fields[i].value))
			return tkvm_error_set(err, -EINVAL, "the %s for the signature holds a control character",
					      fields[i].name);
		if (used < size)
			used += (size_t)snprintf(buf + used, size - used, "\t%s:%s", fields[i].name, fields[i].value);
	}
	if (used >= size)
		return tkvm_error_set(err, -ENAMETOOLONG, "the trusted comment would be longer than %zu bytes", size - 1);
	return 0;
}

static void copy_field(const char *comment, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);
	for (const char *at = comment; at && *at;) {
		const char *end = strchr(at, '\t');
		size_t length = end ? (size_t)(end - at) : strlen(at);
		if (length > n && strncmp(at, name, n) == 0 && at[n] == ':') {
			size_t value_length = length - n - 1;
			if (value_length >= size)
				value_length = size - 1;
			memcpy(out, at + n + 1, value_length);
			out[value_length] = 0;
			return;
		}
		at = end ? end + 1 : NULL;
	}
	out[0] = 0;
}

void program_binding_parse(const char *comment, struct program_binding *b)
{
	memset(b, 0, sizeof *b);
	char timestamp[32];
	copy_field(comment, "timestamp", timestamp, sizeof timestamp);
	b->timestamp = strtoll(timestamp, NULL, 10);
	copy_field(comment, "program", b->program, sizeof b->program);
	copy_field(comment, "version", b->version, sizeof b->version);
	copy_field(comment, "file", b->file, sizeof b->file);
	copy_field(comment, "sha256", b->sha256, sizeof b->sha256);
	copy_field(comment, "elf_sha256", b->elf_sha256, sizeof b->elf_sha256);
	copy_field(comment, "storage_sha256", b->storage_sha256, sizeof b->storage_sha256);
}

int trusted_keys_add(struct trusted_keys *keys, const char *key_or_path, struct tkvm_error *err)
{
	struct minisign_public_key key;
	struct tkvm_error inner = {0};
	int rc;
	/* A key's base64 may hold '/': try it as a key first, then as a file. */
	rc = minisign_public_key_parse(key_or_path, strlen(key_or_path), &key, &inner);
	if (rc < 0) {
		uint8_t *text;
		size_t length;
		struct tkvm_error file_err = {0};
		if (file_read_whole(key_or_path, &text, &length, &file_err) < 0) {
			char shown[80];
			snprintf(shown, sizeof shown, "%.60s%s", key_or_path, strlen(key_or_path) > 60 ? "..." : "");
			return tkvm_error_set(err, rc, "\"%s\" is neither a public key (%s) nor a readable key file (%s)",
					      shown, inner.message, strerror(-file_err.code));
		}
		rc = minisign_public_key_parse((const char *)text, length, &key, &inner);
		free(text);
		if (rc < 0)
			return tkvm_error_set(err, rc, "%s: %s", key_or_path, inner.message);
	}
	struct minisign_public_key *bigger = realloc(keys->keys, (keys->count + 1) * sizeof *bigger);
	if (!bigger)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	keys->keys = bigger;
	keys->keys[keys->count++] = key;
	return 0;
}

void trusted_keys_free(struct trusted_keys *keys)
{
	free(keys->keys);
	keys->keys = NULL;
	keys->count = 0;
}

/* The trusted key that made the signature, or an error listing them. */
static const struct minisign_public_key *find_key(const struct trusted_keys *keys,
						  const struct minisign_signature *signature, struct tkvm_error *err)
{
	for (size_t i = 0; i < keys->count; i++)
		if (memcmp(keys->keys[i].key_id, signature->key_id, MINISIGN_KEY_ID_BYTES) == 0)
			return &keys->keys[i];
	char id[20], list[200] = "";
	size_t used = 0;
	for (size_t i = 0; i < keys->count && used < sizeof list; i++) {
		char other[20];
		used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
					 minisign_key_id_text(keys->keys[i].key_id, other, sizeof other));
	}
	tkvm_error_set(err, -ENOKEY, "signed by key %s, which is not a trusted key (trusted: %s)",
		       minisign_key_id_text(signature->key_id, id, sizeof id), keys->count ? list : "none");
	return NULL;
}

static int check_binding(const struct minisign_signature *signature, const char *expected_program,
			 struct program_binding *binding, struct tkvm_error *err)
{
	program_binding_parse(signature->trusted_comment ? signature->trusted_comment : "", binding);
	if (expected_program && binding->program[0] && strcmp(binding->program, expected_program) != 0)
		return tkvm_error_set(err, -EBADMSG, "signed for program \"%s\", not \"%s\"", binding->program,
				      expected_program);
	return 0;
}

static int check(const char *text, size_t length, const uint8_t *data, size_t size, bool with_data,
		 const struct trusted_keys *keys, const char *expected_program, struct program_binding *binding,
		 struct tkvm_error *err)
{
	memset(binding, 0, sizeof *binding);
	struct minisign_signature signature;
	int rc = minisign_signature_parse(text, length, &signature, err);
	if (rc < 0)
		return rc;
	const struct minisign_public_key *key = find_key(keys, &signature, err);
	if (!key)
		rc = -ENOKEY;
	else if (with_data)
		rc = minisign_verify(&signature, key, data, size, err);
	else
		rc = minisign_verify_trusted_comment(&signature, key, err);
	if (rc == 0)
		rc = check_binding(&signature, expected_program, binding, err);
	if (rc == 0 && with_data && binding->sha256[0]) {
		char hash[DIGEST_SHA256_HEX_SIZE];
		digest_sha256_hex(data, size, hash);
		if (!digest_equal(hash, binding->sha256))
			rc = tkvm_error_set(err, -EBADMSG, "the trusted comment names sha256 %.12s..., the file has %.12s...",
					    binding->sha256, hash);
	}
	minisign_signature_free(&signature);
	return rc;
}

int program_signature_check(const char *signature_text, size_t signature_length, const uint8_t *data, size_t size,
			    const struct trusted_keys *keys, const char *expected_program,
			    struct program_binding *binding, struct tkvm_error *err)
{
	return check(signature_text, signature_length, data, size, true, keys, expected_program, binding, err);
}

int program_signature_check_comment(const char *signature_text, size_t signature_length,
				    const struct trusted_keys *keys, const char *expected_program,
				    struct program_binding *binding, struct tkvm_error *err)
{
	return check(signature_text, signature_length, NULL, 0, false, keys, expected_program, binding, err);
}
