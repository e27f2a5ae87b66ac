/* Loading a library for tkvm serve --library and tkvm run --library: the
 * library JSON read from a path or fetched from a URL, then each program
 * fetched, checked and cached as production does (packager/
 * program_source.c). Shared options: --trusted-key and --cache. */
#ifndef TKVM_CLI_LIBRARY_LOAD_H
#define TKVM_CLI_LIBRARY_LOAD_H
#include <stdbool.h>
#include <stddef.h>
#include "packager/library.h"
#include "packager/program_source.h"

enum {
	OPTION_TRUSTED_KEY = 3600,
	OPTION_CACHE_DIRECTORY,
};

#define LIBRARY_LONG_OPTIONS                                                   \
	{"trusted-key", required_argument, NULL, OPTION_TRUSTED_KEY},          \
	{"cache", required_argument, NULL, OPTION_CACHE_DIRECTORY}

#define LIBRARY_OPTIONS_HELP                                                                     \
	"      --trusted-key KEY   only load programs signed by KEY (\"RWQ...\" or a .pub\n" \
	"                          file; repeatable), on top of the library's trusted_keys\n"  \
	"      --cache DIR         cache fetched programs in DIR/NAME (default: each\n"          \
	"                          program's \"filename\", else ~/.cache/tkvm/programs/NAME)\n"

struct library_load_options {
	struct trusted_keys keys;
	const char *cache_directory;
};

/* Takes --trusted-key / --cache. Returns 1 when taken, 0 when not one of
 * them, -1 on a bad value (reported). */
int library_load_option(struct library_load_options *options, int option, const char *value);
void library_load_options_free(struct library_load_options *options);

/* Reads or fetches the library and parses it; each problem is reported
 * as a warning ending in suffix ("(not served)"). Returns 0 or -1
 * (reported). */
int library_load(const char *location, struct library *library, const char *suffix);

/* Gets one program's ELF onto disk. Returns 0, or -1 with the reason in
 * message (the caller reports it with the program's name). A line saying
 * where it came from is printed on stderr when it was fetched. */
int library_program_prepare(const struct library_program *program, const struct library_load_options *options,
			    struct program_source *source, char *message, size_t size);
#endif
