/* Program archives on disk (see program_pack.h). */
#include "cli/program_pack.h"
#include "cli/terminal.h"
#include "packager/archive.h"
#include "packager/file_io.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hash_contents(const char *source, struct packed_program *packed, char **request_name)
{
	struct archive_programs programs = {0};
	struct tkvm_error err = {0};
	if (archive_read_programs(packed->archive, packed->archive_size, source, &programs, cli_warning_callback, NULL,
				  &err) < 0) {
		cli_error("%s", err.message);
		archive_programs_free(&programs);
		return -1;
	}
	digest_sha256_hex(programs.request_elf, programs.request_size, packed->elf_sha256);
	if (programs.storage_elf)
		digest_sha256_hex(programs.storage_elf, programs.storage_size, packed->storage_sha256);
	if (request_name && programs.request_name)
		*request_name = strdup(programs.request_name);
	archive_programs_free(&programs);
	return 0;
}

int program_pack(const char *name, const char *elf_path, const char *storage_path, const char *out_path,
		 struct packed_program *packed)
{
	memset(packed, 0, sizeof *packed);
	struct tkvm_error err = {0};
	if (archive_pack(name, elf_path, storage_path, &packed->archive, &packed->archive_size, &err) < 0) {
		cli_error("%s", err.message);
		return -1;
	}
	digest_sha256_hex(packed->archive, packed->archive_size, packed->archive_sha256);
	if (hash_contents(out_path, packed, NULL) < 0 ||
	    file_write_atomic(out_path, packed->archive, packed->archive_size, &err) < 0) {
		if (err.message[0])
			cli_error("%s", err.message);
		packed_program_free(packed);
		return -1;
	}
	/* "HASH  NAME" as sha256sum writes it, so `sha256sum -c` checks it. */
	const char *base = strrchr(out_path, '/') ? strrchr(out_path, '/') + 1 : out_path;
	char line[600], sum_path[4200];
	int n = snprintf(line, sizeof line, "%s  %s\n", packed->archive_sha256, base);
	snprintf(sum_path, sizeof sum_path, "%s.sha256", out_path);
	if (file_write_atomic(sum_path, line, (size_t)n, &err) < 0 || !(packed->archive_path = strdup(out_path))) {
		cli_error("%s", err.message[0] ? err.message : "out of memory");
		packed_program_free(packed);
		return -1;
	}
	return 0;
}

int program_pack_load(const char *archive_path, struct packed_program *packed, char **request_name)
{
	memset(packed, 0, sizeof *packed);
	struct tkvm_error err = {0};
	if (file_read_whole(archive_path, &packed->archive, &packed->archive_size, &err) < 0) {
		cli_error("%s", err.message);
		return -1;
	}
	digest_sha256_hex(packed->archive, packed->archive_size, packed->archive_sha256);
	if (hash_contents(archive_path, packed, request_name) < 0 || !(packed->archive_path = strdup(archive_path))) {
		packed_program_free(packed);
		return -1;
	}
	return 0;
}

void packed_program_free(struct packed_program *packed)
{
	free(packed->archive_path);
	free(packed->archive);
	memset(packed, 0, sizeof *packed);
}
