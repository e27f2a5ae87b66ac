/* A tkvm project: the tkvm.json file that `tkvm new` writes and every
 * project command finds in the current directory or its parents. It names
 * the program, says how to build it, and holds its settings under
 * "program" with exactly the library-JSON keys. Errors name the key and
 * the line. */
#ifndef TKVM_PACKAGER_PROJECT_H
#define TKVM_PACKAGER_PROJECT_H
#include <stdbool.h>
#include <stddef.h>
#include "packager/program_settings.h"
#include "runner/error.h"
#include "runner/settings.h"

#define PROJECT_FILE "tkvm.json"

struct project_build {
	char *language;          /* "c", "cpp" or "rust" */
	char **sources;          /* relative to the project directory */
	size_t source_count;
	char **flags;            /* extra compiler flags (C/C++) */
	size_t flag_count;
	char *output;            /* relative path of the ELF, e.g. "build/hello" */
	char *libc;              /* "glibc" (default) or "musl" (C only) */
};

struct project_test {
	char *directory;         /* fixtures, relative; default "tests" */
	char **redact_headers;   /* header names whose values are redacted when recording,
	                            on top of Authorization, Cookie, Set-Cookie, Proxy-Authorization */
	size_t redact_count;
};

struct project {
	char *directory;         /* absolute directory holding tkvm.json */
	char *path;              /* absolute path of tkvm.json */
	char *name;
	char *version;
	struct project_build build;
	struct project_test test;
	struct tkvm_settings program; /* "program": library-JSON keys; name = project name */
};

/* Looks for tkvm.json in start_directory and its parents. Fills path
 * (absolute) and returns 0, or -ENOENT. */
int project_find(const char *start_directory, char *path, size_t size);

/* Reads and validates a project file. Unknown keys are warnings; wrong
 * types, missing name/language/sources and bad values are errors naming
 * the key and the line ("tkvm.json:7: \"build.sources\" must be ..."). */
int project_load(const char *path, struct project *project, settings_warning_fn warn, void *warn_context,
		 struct tkvm_error *err);

/* Absolute path of the built ELF (directory + build.output), malloc'd. */
char *project_output_path(const struct project *project);

void project_free(struct project *project);
#endif
