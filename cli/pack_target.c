/* Resolving what to pack, and packing it (see pack_target.h). */
#include "cli/pack_target.h"
#include "cli/project_build.h"
#include "cli/terminal.h"
#include "packager/file_io.h"
#include "packager/json_text.h"
#include <cjson/cJSON.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "program" object of tkvm.json as compact JSON text, or NULL. */
static char *program_settings_text(const char *project_path)
{
	uint8_t *text;
	size_t length;
	struct tkvm_error err = {0};
	if (file_read_whole(project_path, &text, &length, &err) < 0)
		return NULL;
	cJSON *root = json_text_parse((const char *)text, length, project_path, &err);
	free(text);
	const cJSON *program = root ? cJSON_GetObjectItemCaseSensitive(root, "program") : NULL;
	char *out = cJSON_IsObject(program) ? cJSON_PrintUnformatted(program) : NULL;
	cJSON_Delete(root);
	return out;
}

static char *default_output(const struct pack_target *t, const char *elf_path)
{
	char *copy = strdup(elf_path);
	if (!copy)
		return NULL;
	/* Beside the project's ELF (build/), or in the current directory. */
	const char *directory = t->has_project ? dirname(copy) : ".";
	size_t n = strlen(directory) + strlen(t->resolved_name) + 16;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "%s/%s.tar.xz", directory, t->resolved_name);
	free(copy);
	return out;
}

char *project_archive_path(const struct project *project)
{
	char *elf = project_output_path(project);
	if (!elf)
		return NULL;
	struct pack_target t = {.has_project = true, .resolved_name = project->name};
	char *out = default_output(&t, elf);
	free(elf);
	return out;
}

int pack_target_pack(struct pack_target *t, struct packed_program *packed)
{
	memset(packed, 0, sizeof *packed);
	char *elf = NULL;
	if (!t->elf_path) {
		int r = project_open(&t->project);
		if (r < 0)
			return EXIT_FAILURE_CODE;
		if (r == PROJECT_NOT_FOUND) {
			cli_error("no ELF given and no %s here or in a parent directory", PROJECT_FILE);
			cli_hint("run it in a project (tkvm new NAME), or name the program: tkvm pack ./hello");
			return EXIT_USAGE;
		}
		t->has_project = true;
		struct project_build_options options = {.report = stderr};
		if (project_build(&t->project, &options, &elf) == PROJECT_BUILD_FAILED)
			return EXIT_FAILURE_CODE;
		t->version = t->project.version ? strdup(t->project.version) : NULL;
		t->settings_json = program_settings_text(t->project.path);
	} else if (!(elf = strdup(t->elf_path))) {
		cli_error("out of memory");
		return EXIT_FAILURE_CODE;
	}
	const char *name = t->name;
	if (!name)
		name = t->has_project ? t->project.name : (strrchr(elf, '/') ? strrchr(elf, '/') + 1 : elf);
	t->resolved_name = strdup(name);
	if (!t->resolved_name || !*name || strchr(name, '/')) {
		cli_error("the program's name \"%s\" cannot name an archive", name);
		free(elf);
		return EXIT_USAGE;
	}
	char *output = t->output ? strdup(t->output) : default_output(t, elf);
	int rc = output ? program_pack(t->resolved_name, elf, t->storage_path, output, packed) : -1;
	free(output);
	free(elf);
	return rc < 0 ? EXIT_FAILURE_CODE : EXIT_OK;
}

void pack_target_free(struct pack_target *t)
{
	if (t->has_project)
		project_free(&t->project);
	free(t->resolved_name);
	free(t->version);
	free(t->settings_json);
	t->has_project = false;
	t->resolved_name = t->version = t->settings_json = NULL;
}
