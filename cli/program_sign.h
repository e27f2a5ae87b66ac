/* Signing a packed program (tkvm sign and publish): the trusted comment
 * binds name, version and hashes (program_signature.h), and the
 * signature is written to ARCHIVE.minisig atomically. */
#ifndef TKVM_CLI_PROGRAM_SIGN_H
#define TKVM_CLI_PROGRAM_SIGN_H
#include "cli/program_pack.h"
#include "packager/minisign.h"

/* Returns 0 with *signature_text (malloc'd) written beside the archive,
 * or -1 (reported). version may be NULL. */
int program_sign(const struct packed_program *packed, const char *name, const char *version,
		 const struct minisign_secret_key *key, char **signature_text);
#endif
