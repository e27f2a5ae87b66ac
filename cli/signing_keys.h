/* Where tkvm keeps a signing key pair and how it asks for the secret
 * key's password: keygen, sign, verify and publish share this.
 * Defaults: $TKVM_KEY_DIR, else $XDG_CONFIG_HOME/tkvm, else
 * ~/.config/tkvm, holding tkvm.key (secret) and tkvm.pub (public). */
#ifndef TKVM_CLI_SIGNING_KEYS_H
#define TKVM_CLI_SIGNING_KEYS_H
#include <stdbool.h>
#include <stddef.h>
#include "packager/minisign.h"

/* The default path of the secret ("tkvm.key") or public ("tkvm.pub") key, into buf. */
const char *signing_key_default_path(const char *file_name, char *buf, size_t size);

/* Reads a password: the first line of password_file when given, else a
 * prompt on the terminal with echo off (twice, when confirm), else one
 * line of standard input (as minisign does). Returns 0 or -1 (reported).
 * The caller wipes it with sodium_memzero. */
int signing_password_read(const char *password_file, const char *prompt, bool confirm, char *password, size_t size);

/* Loads a secret key, asking for its password when it is encrypted.
 * Returns 0 or -1 (reported, with a hint for a missing key). */
int signing_secret_key_load(const char *path, const char *password_file, struct minisign_secret_key *key);

/* Loads a public key from a .pub file or a "RWQ..." line. Returns 0 or -1 (reported). */
int signing_public_key_load(const char *path_or_key, struct minisign_public_key *key);
#endif
