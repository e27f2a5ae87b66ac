/* A library JSON (spec/library-and-archive.md): an object of groups and
 * programs. A member is a program when it has "group", "uri" or "filename";
 * it copies its group's settings (default group "test") and applies its own
 * keys on top; groups do not inherit from groups. One broken program never
 * stops the others: its error is recorded and the rest load. */
#ifndef TKVM_PACKAGER_LIBRARY_H
#define TKVM_PACKAGER_LIBRARY_H
#include <stddef.h>
#include "packager/program_settings.h"
#include "runner/error.h"
#include "runner/settings.h"

struct library_program {
	char *name;                   /* the member's key */
	struct tkvm_settings settings; /* name set to the member's key */
};

struct library_problem {
	char *name;    /* the program (or group) it concerns */
	char *message; /* "library.json:12: program "x" has neither "uri" nor "filename"" */
};

struct library {
	struct library_program *programs;
	size_t program_count;
	struct library_problem *problems; /* programs that could not be loaded */
	size_t problem_count;
};

/* Parses a whole library. Returns 0 (possibly with problems listed), or a
 * negative code when the text itself is unusable (not JSON, not an object). */
int library_parse(const char *text, size_t length, const char *source, struct library *library,
		  settings_warning_fn warn, void *warn_context, struct tkvm_error *err);
const struct library_program *library_find(const struct library *library, const char *name);
void library_free(struct library *library);
#endif
