/* The project of the current directory, and building it when it is stale:
 * what `tkvm build` does, and what run, serve and test do first when they
 * are given no program. Compiler output passes through unchanged (on
 * stderr); the result is checked (static x86-64 ELF) before it replaces
 * the previous build, so a failed build never leaves a broken program.
 *
 * Staleness is exact, not "newer than": a stamp beside the output records
 * the size and modification time of every input (sources, the headers the
 * compiler reported, tkvm.json, the SDK header) as they were when the
 * build started, the commands used, and the output's own size and time.
 * Any difference rebuilds: a touched or edited file (even during a build),
 * a new source, other flags, --musl/--debug/--profile, a replaced output. */
#ifndef TKVM_CLI_PROJECT_BUILD_H
#define TKVM_CLI_PROJECT_BUILD_H
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "cli/program_options.h"
#include "packager/project.h"

struct project_build_options {
	bool musl;      /* --musl: musl-gcc whatever build.libc says (C only) */
	bool debug;     /* --debug: -O0 (C/C++), cargo's dev profile (Rust) */
	bool profile;   /* --profile: keep frame pointers, for tkvm profile */
	bool force;     /* build even when up to date */
	/* tkvm build: exactly these options. Otherwise (run, serve, test) the
	 * --musl/--debug/--profile of the previous build are kept, so that
	 * what tkvm build made is what runs, and is rebuilt the same way. */
	bool as_given;
	bool verbose;   /* print why and the commands, on stderr */
	FILE *report;   /* where "built build/hello (...)" goes; NULL = nowhere */
	bool report_up_to_date; /* and "build/hello is up to date" */
	/* For tkvm serve --watch: the compiler's pid while it runs (0 otherwise),
	 * so that stopping the server can stop it. */
	volatile pid_t *running;
};

enum {
	PROJECT_NOT_FOUND = 0,
	PROJECT_LOADED = 1,
};

/* Finds tkvm.json in the current directory or its parents and loads it
 * (warnings printed). Returns PROJECT_LOADED, PROJECT_NOT_FOUND (nothing
 * printed), or -1 when the file is broken (reported). */
int project_open(struct project *project);

/* Reloads the project file at project->path into *fresh (watch mode).
 * Returns 0 or -1 (reported). */
int project_reload(const struct project *project, struct project *fresh);

/* "error: no program given and no tkvm.json here or in a parent directory"
 * with the hints, for commands that need a program. */
void project_report_missing(const char *usage_example);

/* For run (and profile): whether the positional arguments name no program
 * (nothing, a METHOD, a /URL or METHOD /URL), so that the project's is
 * meant. */
bool project_arguments_name_no_program(int count, char *const *arguments);

/* Those arguments with elf_path first and a URL when they had none, for
 * the usual PROGRAM [METHOD] URL parsing. out holds at least 4 entries;
 * returns how many were set (NULL-terminated). */
int project_arguments_with_program(int count, char *const *arguments, char *elf_path, char **out);

/* A path inside the project as the user should read it: relative to the
 * current directory when it is inside the project ("build/hello",
 * "../build/hello"), else absolute. malloc'd. */
char *project_display_path(const struct project *project, const char *relative);

/* Returns 1 when a build is needed, with the first reason in why ("src/main.c
 * changed", "never built", ...), 0 when up to date. */
int project_build_stale(const struct project *project, const struct project_build_options *options, char *why,
			size_t size);

enum project_build_result {
	PROJECT_BUILD_FAILED = -1,     /* reported, the previous output untouched */
	PROJECT_BUILD_UP_TO_DATE = 0,
	PROJECT_BUILD_DONE = 1,
};

/* Builds the project when stale. *elf_path (may be NULL) receives the
 * absolute path of the output (malloc'd) unless it failed. */
enum project_build_result project_build(const struct project *project, const struct project_build_options *options,
					char **elf_path);

/* The directories holding what the build reads (sources, the headers the
 * compiler reported, tkvm.json, the SDK header, source directories): what
 * tkvm serve --watch watches. A malloc'd NULL-terminated array of malloc'd
 * absolute paths, or NULL without memory. */
char **project_build_watch_directories(const struct project *project, const struct project_build_options *options);

/* For run and serve without a PROGRAM: the project of the current
 * directory, built when stale (messages on stderr), its "program" settings
 * copied into options before --config and the flags apply. Returns 0 with
 * *elf_path set, EXIT_USAGE when there is no project (reported with
 * usage_example), EXIT_FAILURE_CODE when it is broken or does not build. */
int project_program_prepare(struct program_options *options, const char *usage_example, char **elf_path);

struct request_options;

/* PROGRAM [METHOD] URL for run, profile and debug: arguments that name no
 * program mean the project's (built when stale; *project_elf is then its
 * malloc'd path). Returns EXIT_OK, or the exit status to leave with
 * (already reported). */
int project_request_positional(struct program_options *options, struct request_options *request, int argc,
			       char **argv, int first, const char *command, char **project_elf);
#endif
