/* What `tkvm test` and `tkvm record` run fixtures against: the project's
 * program (tkvm.json here or in a parent directory, built first when
 * stale) with its "program" settings, or any ELF given with --program and
 * the usual settings flags; where its fixtures live; which headers are
 * secrets when recording. */
#ifndef TKVM_CLI_TEST_TARGET_H
#define TKVM_CLI_TEST_TARGET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cli/fixture.h"
#include "cli/program_options.h"
#include "packager/project.h"
#include "runner/tkvm.h"

#define TEST_TARGET_MAX_REDACT 64

struct test_target {
	bool have_project;
	struct project project;
	char *elf_path;
	char *fixture_directory; /* as the user reads it: relative to the current directory when inside it */
	const char *redact[TEST_TARGET_MAX_REDACT + 1];
	size_t redact_count;
	struct fixture_redaction redaction;
	uint8_t *elf;
	size_t elf_size;
};

/* program_path: --program, or NULL for the project. need_program: also
 * build and read the program (not for importing). redact: --redact-header
 * names. Returns 0, or the command's exit status (reported). */
int test_target_open(struct test_target *target, const char *program_path, bool need_program,
		     struct program_options *options, const char *const *redact, size_t redact_count);
/* Boots the program with the settings in options (a fresh one per call). */
int test_target_boot(const struct test_target *target, const struct tkvm_settings *settings,
		     const struct tkvm_hooks *hooks, struct tkvm_program **program, struct tkvm_error *err);
void test_target_close(struct test_target *target);
#endif
