/* tkvm's use of minisign signatures for programs: the trusted comment
 * binds the program's name, version and the archive's hash (and the
 * extracted ELFs' hashes, so that a cached program can be trusted again
 * without its archive), and checking a signature picks the trusted key
 * by its id. Signatures made by plain `minisign -S` (no binding fields)
 * are accepted on the signature alone. */
#ifndef TKVM_PACKAGER_PROGRAM_SIGNATURE_H
#define TKVM_PACKAGER_PROGRAM_SIGNATURE_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "packager/minisign.h"
#include "runner/error.h"

#define PROGRAM_SIGNATURE_SUFFIX ".minisig"

/* What a trusted comment says: empty strings for absent fields. */
struct program_binding {
	char program[256];
	char version[128];
	char file[256];
	char sha256[65];         /* of the signed file (the archive) */
	char elf_sha256[65];     /* of the request ELF inside it */
	char storage_sha256[65]; /* of the storage ELF, when there is one */
	long long timestamp;
};

/* The trusted comment for a signature: tab-separated name:value fields
 * ("timestamp:...\tfile:hello.tar.xz\tprogram:hello\tversion:0.1.0\t
 * sha256:...\telf_sha256:..."), the first two as minisign writes them.
 * Empty fields are left out. Returns 0, or -EINVAL when a value holds a
 * tab, a newline or a non-printable byte. */
int program_binding_format(const struct program_binding *binding, char *buf, size_t size, struct tkvm_error *err);
/* Reads the fields a trusted comment has (others ignored). */
void program_binding_parse(const char *comment, struct program_binding *binding);

/* Parsed trusted public keys (from a library's "trusted_keys" or the
 * command line). */
struct trusted_keys {
	struct minisign_public_key *keys;
	size_t count;
};
/* Adds a key given as its base64 line ("RWQ...") or the path of a .pub
 * file. Errors name the key. */
int trusted_keys_add(struct trusted_keys *keys, const char *key_or_path, struct tkvm_error *err);
void trusted_keys_free(struct trusted_keys *keys);

/* Checks signature_text over data against one of the trusted keys, then
 * the binding: a "program" field must equal expected_program (when given)
 * and a "sha256" field the data's hash. Fills *binding. Errors are one
 * line: "signed by key 1A2B..., which is not a trusted key (trusted:
 * 3C4D...)", "signature does not match the data (the archive was altered
 * or the signature is for another file)", "signed for program \"other\",
 * not \"hello\"". */
int program_signature_check(const char *signature_text, size_t signature_length, const uint8_t *data, size_t size,
			    const struct trusted_keys *keys, const char *expected_program,
			    struct program_binding *binding, struct tkvm_error *err);
/* Checks only the trusted comment's signature (no data) against the
 * trusted keys, and the binding's program name; fills *binding. The
 * caller then compares the ELF hashes it names with the cached files. */
int program_signature_check_comment(const char *signature_text, size_t signature_length,
				    const struct trusted_keys *keys, const char *expected_program,
				    struct program_binding *binding, struct tkvm_error *err);
#endif
