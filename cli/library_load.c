/* Library loading for the CLI (see library_load.h). */
#include "cli/library_load.h"
#include "cli/program_options.h"
#include "cli/terminal.h"
#include "packager/transfer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int library_load_option(struct library_load_options *options, int option, const char *value)
{
	struct tkvm_error err = {0};
	switch (option) {
	case OPTION_TRUSTED_KEY:
		if (trusted_keys_add(&options->keys, value, &err) < 0) {
			cli_error("--trusted-key: %s", err.message);
			return -1;
		}
		return 1;
	case OPTION_CACHE_DIRECTORY:
		options->cache_directory = value;
		return 1;
	default:
		return 0;
	}
}

void library_load_options_free(struct library_load_options *options) { trusted_keys_free(&options->keys); }

int library_load(const char *location, struct library *library, const char *suffix)
{
	memset(library, 0, sizeof *library);
	transfer_global_init();
	char *text = NULL;
	size_t length = 0;
	struct tkvm_error err = {0};
	if (!strstr(location, "://")) {
		if (read_whole_file(location, (uint8_t **)&text, &length) < 0)
			return -1;
	} else if (library_text_fetch(location, &text, &length, &err) < 0) {
		cli_error("library %s", err.message);
		if (err.code == -ENOENT && strstr(location, "://"))
			cli_hint("is the URL right? publish to it with 'tkvm publish URL' (the library is URL/library.json)");
		return -1;
	}
	int rc = library_parse(text, length, location, library, cli_warning_callback, NULL, &err);
	free(text);
	if (rc < 0) {
		cli_error("%s", err.message);
		return -1;
	}
	for (size_t i = 0; i < library->problem_count; i++)
		cli_warning("%s %s", library->problems[i].message, suffix);
	return 0;
}

/* When "filename" lies in a directory this user cannot write (the
 * production path /var/cache/tkvm, run without root), cache in the
 * user's directory instead, and say so. */
static bool filename_writable(const char *filename)
{
	char directory[4096];
	snprintf(directory, sizeof directory, "%s", filename);
	char *slash = strrchr(directory, '/');
	if (!slash)
		return access(".", W_OK) == 0;
	*slash = 0;
	while (directory[0]) {
		if (access(directory, F_OK) == 0)
			return access(directory, W_OK) == 0;
		slash = strrchr(directory, '/');
		if (!slash)
			break;
		*slash = 0;
	}
	return access("/", W_OK) == 0;
}

static void warn(void *context, const char *message)
{
	(void)context;
	cli_warning("%s", message);
}

int library_program_prepare(const struct library_program *program, const struct library_load_options *options,
			    struct program_source *source, char *message, size_t size)
{
	struct program_source_options source_options = {
		.extra_keys = &options->keys,
		.cache_directory = options->cache_directory,
		.warn = warn,
	};
	memset(source, 0, sizeof *source);
	if (!program->settings.uri && !program->settings.sha256 && !program->settings.trusted_key_count &&
	    !options->keys.count) {
		/* A local program with nothing to check: read when it boots, so a
		 * missing file answers 503 with the reason, as a failed boot does. */
		if (!(source->elf_path = strdup(program->settings.filename))) {
			snprintf(message, size, "out of memory");
			return -1;
		}
		return 0;
	}
	struct tkvm_settings settings;
	if (tkvm_settings_copy(&settings, &program->settings) < 0) {
		snprintf(message, size, "out of memory");
		return -1;
	}
	if (settings.uri && settings.filename && !options->cache_directory && !filename_writable(settings.filename)) {
		cli_warning("%s: cannot write its cache file %s: caching it in ~/.cache/tkvm/programs instead (--cache DIR chooses)",
			    program->name, settings.filename);
		free(settings.filename);
		settings.filename = NULL;
	}
	struct tkvm_error err = {0};
	int rc = program_source_prepare(&settings, &source_options, source, &err);
	tkvm_settings_free(&settings);
	if (rc < 0) {
		snprintf(message, size, "%s", err.message);
		return -1;
	}
	if (program->settings.uri)
		fprintf(stderr, "tkvm: %s: %s%s%s\n", program->name, source->how, source->signer[0] ? ", signature by key " : "",
			source->signer);
	return 0;
}
