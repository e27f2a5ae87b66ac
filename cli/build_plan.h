/* How a project is built, worked out before anything runs: the sources
 * (patterns expanded), the inputs known beforehand, the commands (C/C++:
 * one compile per source, then a link; Rust: cargo), where the output,
 * the temporary output and the stamp go, and the recipe (a hash of the
 * commands) that says whether the last build was made the same way.
 * Used by project_build.c only. */
#ifndef TKVM_CLI_BUILD_PLAN_H
#define TKVM_CLI_BUILD_PLAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cli/project_build.h"

#define BUILD_RUST_TARGET "x86_64-unknown-linux-gnu"

/* A growing list of strings, NULL-terminated (usable as argv). */
struct string_list {
	char **items;
	size_t count, capacity;
};

void string_list_free(struct string_list *s);
/* Takes ownership of item (NULL: out of memory). Returns 0 or -1. */
int string_list_take(struct string_list *s, char *item);
int string_list_add(struct string_list *s, const char *item);
bool string_list_has(const struct string_list *s, const char *item);

/* A path of the project as an absolute path (relative ones are inside it). malloc'd. */
char *build_path(const struct project *project, const char *path);

struct build_plan {
	const struct project *project;
	const struct project_build_options *options;
	bool rust, musl;
	const char *compiler;   /* gcc, g++, musl-gcc or cargo */
	char *compiler_path;    /* found in PATH (for builds) */
	char *sdk;              /* directory of kvm_api.h (C/C++) */
	struct string_list sources; /* C/C++: expanded, as written */
	struct string_list declared;/* what the build reads that we know before it runs */
	char *output;           /* as written (relative) */
	char *stamp_directory;  /* relative: <output dir>/.<name>.tkvm */
	char *temporary;        /* relative: the new output before it is checked */
	char *stamp;            /* relative */
	struct string_list objects, depfiles;
	struct string_list *commands; /* argv of each command */
	size_t command_count;
	char *rustflags;
	char *cargo_output;     /* absolute: the ELF cargo writes */
	uint64_t recipe;
	char problem[1200], hint[300];
};

/* Fills the plan (nothing runs, the compiler need not be installed).
 * Returns 0, or -1 with problem (and hint) set; build_plan_free is needed
 * either way. */
int build_plan_make(struct build_plan *p, const struct project *project, const struct project_build_options *options);
/* Finds the compiler in PATH (compiler_path), for a build. 0 or -1 with problem and hint. */
int build_plan_find_compiler(struct build_plan *p);
void build_plan_free(struct build_plan *p);

/* (Re)lists the inputs known beforehand into p->declared: tkvm.json, the
 * sources and the SDK header (C/C++), or the files under the source
 * directories and Cargo.lock (Rust). */
int build_plan_declare_inputs(struct build_plan *p);

/* The inputs a finished build read: the declared ones and what the
 * compiler reported in its dependency files. -1 only without memory. */
int build_plan_known_inputs(const struct build_plan *p, struct string_list *inputs);
/* asprintf that returns the string (NULL without memory). */
char *build_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
