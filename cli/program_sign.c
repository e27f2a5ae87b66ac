/* Signing packed programs (see program_sign.h). */
#include "cli/program_sign.h"
#include "cli/terminal.h"
#include "packager/file_io.h"
#include "packager/program_signature.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int program_sign(const struct packed_program *packed, const char *name, const char *version,
		 const struct minisign_secret_key *key, char **signature_text)
{
	*signature_text = NULL;
	struct program_binding binding = {.timestamp = (long long)time(NULL)};
	const char *base = strrchr(packed->archive_path, '/') ? strrchr(packed->archive_path, '/') + 1 : packed->archive_path;
	snprintf(binding.file, sizeof binding.file, "%s", base);
	snprintf(binding.program, sizeof binding.program, "%s", name);
	snprintf(binding.version, sizeof binding.version, "%s", version ? version : "");
	memcpy(binding.sha256, packed->archive_sha256, sizeof binding.sha256);
	memcpy(binding.elf_sha256, packed->elf_sha256, sizeof binding.elf_sha256);
	memcpy(binding.storage_sha256, packed->storage_sha256, sizeof binding.storage_sha256);
	char comment[1024];
	struct tkvm_error err = {0};
	char key_id[20], untrusted[96];
	snprintf(untrusted, sizeof untrusted, "signature from tkvm secret key %s",
		 minisign_key_id_text(key->key_id, key_id, sizeof key_id));
	if (program_binding_format(&binding, comment, sizeof comment, &err) < 0 ||
	    minisign_sign(key, packed->archive, packed->archive_size, comment, untrusted, signature_text, &err) < 0) {
		cli_error("%s", err.message);
		return -1;
	}
	char path[4200];
	snprintf(path, sizeof path, "%s%s", packed->archive_path, PROGRAM_SIGNATURE_SUFFIX);
	if (file_write_atomic(path, *signature_text, strlen(*signature_text), &err) < 0) {
		cli_error("%s", err.message);
		free(*signature_text);
		*signature_text = NULL;
		return -1;
	}
	return 0;
}
