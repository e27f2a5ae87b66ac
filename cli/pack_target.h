/* What tkvm pack and publish pack: the project's program (built first
 * when stale) or an ELF named on the command line, with the name,
 * version and archive path that follow from it. */
#ifndef TKVM_CLI_PACK_TARGET_H
#define TKVM_CLI_PACK_TARGET_H
#include "cli/program_pack.h"
#include "packager/project.h"
#include <stdbool.h>

struct pack_target {
	/* given */
	const char *elf_path;     /* NULL: the project's */
	const char *storage_path; /* NULL: none */
	const char *name;         /* NULL: the project's, else the ELF's file name */
	const char *output;       /* NULL: build/NAME.tar.xz (project) or NAME.tar.xz */
	/* found */
	bool has_project;
	struct project project;   /* when has_project */
	char *resolved_name;
	char *version;            /* the project's, or NULL */
	char *settings_json;      /* the project's "program" object, or NULL */
};

/* Builds when needed and packs. Returns EXIT_OK or the exit status to
 * leave with (reported). */
int pack_target_pack(struct pack_target *target, struct packed_program *packed);
void pack_target_free(struct pack_target *target);

/* Where tkvm pack puts the project's archive (build/NAME.tar.xz), malloc'd. */
char *project_archive_path(const struct project *project);
#endif
