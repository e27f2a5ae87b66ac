/* Symbolization for `tkvm profile`: guest addresses to functions (the
 * program's ELF symbols, through the runner) and to file:line where the
 * ELF carries DWARF (elfutils' libdw on an in-memory copy of the ELF). */
#ifndef TKVM_CLI_PROFILE_SYMBOLS_H
#define TKVM_CLI_PROFILE_SYMBOLS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/tkvm.h"

struct profile_symbols;

struct profile_function {
	char *name;            /* the ELF symbol, "[tkvm request]" for our stubs, "[unknown]" */
	const char *file;      /* where it is declared, NULL without DWARF */
	int line;              /* 0 when unknown */
};

/* Never fails for want of DWARF (functions only then); -ENOMEM otherwise. */
int profile_symbols_open(const struct tkvm_program *program, struct profile_symbols **symbols);
void profile_symbols_close(struct profile_symbols *symbols);
/* Whether the ELF has DWARF line tables (built with -g). */
bool profile_symbols_have_lines(const struct profile_symbols *symbols);

/* The function containing address, as a small id (one per name).
 * return_address: a frame above the leaf (looked up at address - 1, the
 * call instruction). Returns the id, or -ENOMEM. */
int64_t profile_symbols_function(struct profile_symbols *symbols, uint64_t address, bool return_address);
/* file:line of an address (same return_address rule); false when unknown.
 * *file stays valid until close. */
bool profile_symbols_line(struct profile_symbols *symbols, uint64_t address, bool return_address,
			  const char **file, int *line);

const struct profile_function *profile_symbols_get(const struct profile_symbols *symbols, uint32_t id);
size_t profile_symbols_count(const struct profile_symbols *symbols);
#endif
