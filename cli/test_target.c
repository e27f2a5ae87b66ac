/* The program under test and its fixtures' place (see test_target.h). */
#include "cli/test_target.h"
#include "cli/project_build.h"
#include "cli/terminal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_redactions(struct test_target *t, const char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (t->redact_count == TEST_TARGET_MAX_REDACT) {
			cli_error("too many headers to redact (at most %d)", TEST_TARGET_MAX_REDACT);
			return EXIT_USAGE;
		}
		t->redact[t->redact_count++] = names[i];
	}
	t->redaction = (struct fixture_redaction){t->redact, t->redact_count};
	return 0;
}

static int open_project(struct test_target *t, bool need_program, struct program_options *options)
{
	int found = project_open(&t->project);
	if (found < 0)
		return EXIT_FAILURE_CODE;
	if (found == PROJECT_NOT_FOUND) {
		project_report_missing("tkvm test --program ./hello   (or run it inside a project: tkvm new hello)");
		return EXIT_USAGE;
	}
	t->have_project = true;
	t->fixture_directory = project_display_path(&t->project, t->project.test.directory ? t->project.test.directory : "tests");
	if (!t->fixture_directory) {
		cli_error("out of memory");
		return EXIT_FAILURE_CODE;
	}
	int rc = add_redactions(t, (const char *const *)t->project.test.redact_headers, t->project.test.redact_count);
	if (rc || !need_program)
		return rc;
	struct project_build_options build = {.report = stderr};
	if (project_build(&t->project, &build, &t->elf_path) == PROJECT_BUILD_FAILED)
		return EXIT_FAILURE_CODE;
	/* The project's settings first, then --config and the flags on top. */
	tkvm_settings_free(&options->settings);
	if (tkvm_settings_copy(&options->settings, &t->project.program) < 0) {
		cli_error("out of memory");
		return EXIT_FAILURE_CODE;
	}
	return 0;
}

int test_target_open(struct test_target *t, const char *program_path, bool need_program,
		     struct program_options *options, const char *const *redact, size_t redact_count)
{
	memset(t, 0, sizeof *t);
	int rc;
	if (program_path) {
		t->elf_path = strdup(program_path);
		t->fixture_directory = strdup("tests");
		if (!t->elf_path || !t->fixture_directory) {
			cli_error("out of memory");
			return EXIT_FAILURE_CODE;
		}
	} else if ((rc = open_project(t, need_program, options)) != 0) {
		return rc;
	}
	if ((rc = add_redactions(t, redact, redact_count)) != 0)
		return rc;
	if (!need_program)
		return 0;
	if (program_options_finish(options, t->elf_path) < 0)
		return EXIT_USAGE;
	if (read_whole_file(t->elf_path, &t->elf, &t->elf_size) < 0)
		return EXIT_FAILURE_CODE;
	return 0;
}

int test_target_boot(const struct test_target *t, const struct tkvm_settings *settings, const struct tkvm_hooks *hooks,
		     struct tkvm_program **program, struct tkvm_error *err)
{
	return tkvm_program_boot(settings, t->elf, t->elf_size, hooks, program, err);
}

void test_target_close(struct test_target *t)
{
	if (t->have_project)
		project_free(&t->project);
	free(t->elf_path);
	free(t->fixture_directory);
	free(t->elf);
	memset(t, 0, sizeof *t);
}
