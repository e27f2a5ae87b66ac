/* Minisign-compatible Ed25519 keys and signatures through libsodium: the
 * stock `minisign -V` verifies what minisign_sign writes, and
 * minisign_verify accepts what `minisign -S` writes (prehashed "ED" and
 * legacy "Ed"). File formats are minisign's: a public key is
 * base64("Ed" | key id (8) | key (32)); a secret key is base64("Ed" | kdf
 * "Sc" or 0 0 | "B2" | salt (32) | opslimit (8, LE) | memlimit (8, LE) |
 * [key id (8) | secret key (64) | blake2b-256 checksum (32)] XORed with a
 * scrypt stream when encrypted); a signature file has an untrusted
 * comment, base64(algorithm | key id | signature (64)), a trusted comment
 * and base64(global signature over signature | trusted comment). */
#ifndef TKVM_PACKAGER_MINISIGN_H
#define TKVM_PACKAGER_MINISIGN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/error.h"

#define MINISIGN_KEY_ID_BYTES 8

struct minisign_public_key {
	uint8_t key_id[MINISIGN_KEY_ID_BYTES];
	uint8_t key[32];
};

struct minisign_secret_key {
	uint8_t key_id[MINISIGN_KEY_ID_BYTES];
	uint8_t key[64]; /* libsodium's Ed25519 secret key (seed | public key) */
};

struct minisign_signature {
	bool prehashed; /* "ED": the signature covers BLAKE2b-512 of the data; "Ed": the data */
	uint8_t key_id[MINISIGN_KEY_ID_BYTES];
	uint8_t signature[64];
	char *untrusted_comment; /* without the "untrusted comment: " prefix */
	char *trusted_comment;   /* without the "trusted comment: " prefix */
	uint8_t global_signature[64];
};

/* Key derivation cost for an encrypted secret key: minisign's own
 * (scrypt, opslimit 33554432, memlimit 1 GiB) or a cheaper one for tests
 * and small machines (opslimit 524288, memlimit 16 MiB). Both are read
 * back from the file, so `minisign` accepts either. */
enum minisign_kdf_cost { MINISIGN_KDF_SENSITIVE, MINISIGN_KDF_INTERACTIVE };

/* A new key pair as the texts of the two files (*public_text and
 * *secret_text malloc'd, each ending in a newline). password NULL or
 * empty writes an unencrypted secret key (as `minisign -W`, but with its
 * checksum filled in; cost is then unused). */
int minisign_keygen(const char *password, enum minisign_kdf_cost cost, char **public_text, char **secret_text,
		    struct tkvm_error *err);

/* A public key from a .pub file's text (a line starting "untrusted
 * comment: " + the base64 line) or the bare base64 line ("RWQ..."),
 * surrounding white space and CRLF line ends ignored, nothing else after. */
int minisign_public_key_parse(const char *text, size_t length, struct minisign_public_key *key,
			      struct tkvm_error *err);
/* The base64 line of a public key ("RWQ..."), written into buf (>= 57
 * bytes); returns buf, or NULL (and "" in buf) when buf is too small. */
const char *minisign_public_key_base64(const struct minisign_public_key *key, char *buf, size_t size);

/* Whether a secret key file's text is password-protected: 1 or 0, or -1
 * when it is not a minisign secret key. Runs no key derivation. */
int minisign_secret_key_encrypted(const char *text, size_t length);
/* A secret key from its file's text; password is used when encrypted. A
 * wrong password is detected by the checksum: "wrong password for the
 * secret key" (code -EACCES); no password for an encrypted key is -EACCES
 * too. Unencrypted keys may carry a zero checksum (minisign 0.11 writes
 * them so with -W); the key's public half must match its seed either way.
 * Key derivation costs above minisign's own memory (1 GiB) or 4x its
 * opslimit are refused before scrypt runs. *key is zeroed on failure. */
int minisign_secret_key_parse(const char *text, size_t length, const char *password,
			      struct minisign_secret_key *key, struct tkvm_error *err);

/* Signs data (prehashed "ED", as minisign 0.10+ does by default) and
 * returns the .minisig text (malloc'd). The comments must be one line
 * each (no CR/LF, else -EINVAL) and at most 1000 (untrusted) and 8000
 * (trusted) bytes so the stock minisign can read them back (else -E2BIG);
 * untrusted_comment NULL gives "signature from tkvm secret key",
 * trusted_comment NULL an empty one. data may be NULL when size is 0. */
int minisign_sign(const struct minisign_secret_key *key, const uint8_t *data, size_t size,
		  const char *trusted_comment, const char *untrusted_comment, char **signature_text,
		  struct tkvm_error *err);

/* Parses a .minisig text; errors name the line that is wrong ("signature
 * line 2: not base64"). Exactly four lines (CRLF tolerated, blank lines
 * after), the comment lines with their exact prefixes and no NUL or CR.
 * On failure *signature holds nothing to free. */
int minisign_signature_parse(const char *text, size_t length, struct minisign_signature *signature,
			     struct tkvm_error *err);
void minisign_signature_free(struct minisign_signature *signature);

/* Checks the key id, the signature over data and the global signature
 * over the trusted comment. Errors: "signed by key XXXXXXXXXXXXXXXX, not
 * by key YYYYYYYYYYYYYYYY" (-ENOKEY), "signature does not match the data"
 * (-EBADMSG), "trusted comment was altered" (-EBADMSG). */
int minisign_verify(const struct minisign_signature *signature, const struct minisign_public_key *key,
		    const uint8_t *data, size_t size, struct tkvm_error *err);
/* Only the key id and the global signature: authenticates the trusted
 * comment without the data (used to trust a cached program through the
 * hashes its trusted comment names). */
int minisign_verify_trusted_comment(const struct minisign_signature *signature,
				    const struct minisign_public_key *key, struct tkvm_error *err);

/* Key id as minisign prints it: 16 upper-case hex digits of the id read as
 * a little-endian 64-bit number. Writes into buf (>= 17 bytes, truncated
 * like snprintf when smaller); returns buf. */
const char *minisign_key_id_text(const uint8_t key_id[MINISIGN_KEY_ID_BYTES], char *buf, size_t size);
#endif
