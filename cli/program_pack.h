/* Packing a program into its archive file, for tkvm pack and publish:
 * the tar.xz (archive.h) written atomically, a sha256sum-style file
 * beside it, and the hashes a signature's trusted comment binds. */
#ifndef TKVM_CLI_PROGRAM_PACK_H
#define TKVM_CLI_PROGRAM_PACK_H
#include <stddef.h>
#include <stdint.h>
#include "packager/digest.h"

struct packed_program {
	char *archive_path;
	uint8_t *archive;
	size_t archive_size;
	char archive_sha256[DIGEST_SHA256_HEX_SIZE];
	char elf_sha256[DIGEST_SHA256_HEX_SIZE];
	char storage_sha256[DIGEST_SHA256_HEX_SIZE]; /* "" without a storage ELF */
};

/* Packs elf_path (and storage_path when not NULL) as program name into
 * out_path and out_path.sha256. Returns 0 or -1 (reported). */
int program_pack(const char *name, const char *elf_path, const char *storage_path, const char *out_path,
		 struct packed_program *packed);
/* Reads an existing archive (or raw ELF) and its hashes. Returns 0 or -1 (reported). */
int program_pack_load(const char *archive_path, struct packed_program *packed, char **request_name);
void packed_program_free(struct packed_program *packed);
#endif
