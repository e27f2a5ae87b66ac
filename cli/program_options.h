/* Options every command that runs a program shares: where its settings
 * come from (--config FILE with library-JSON keys, then flags that
 * override single keys) and how it is loaded. */
#ifndef TKVM_CLI_PROGRAM_OPTIONS_H
#define TKVM_CLI_PROGRAM_OPTIONS_H
#include <getopt.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/settings.h"

#define PROGRAM_OPTION_MAX_OVERRIDES 128

enum {
	OPTION_SETTING_FIRST = 1000,
	OPTION_MAX_BOOT_TIME = OPTION_SETTING_FIRST,
	OPTION_MAX_REQUEST_TIME,
	OPTION_MAX_MEMORY,
	OPTION_MAX_REQUEST_MEMORY,
	OPTION_ADDRESS_SPACE,
	OPTION_ALLOW,
	OPTION_ENV,
	OPTION_MAIN_ARGUMENT,
	OPTION_NAME,
	OPTION_SET,
	OPTION_ALLOW_HOST,
	OPTION_SETTING_LAST,
};

#define PROGRAM_LONG_OPTIONS                                                     \
	{"config", required_argument, NULL, 'c'},                                \
	{"max-boot-time", required_argument, NULL, OPTION_MAX_BOOT_TIME},        \
	{"max-request-time", required_argument, NULL, OPTION_MAX_REQUEST_TIME},  \
	{"max-memory", required_argument, NULL, OPTION_MAX_MEMORY},              \
	{"max-request-memory", required_argument, NULL, OPTION_MAX_REQUEST_MEMORY}, \
	{"address-space", required_argument, NULL, OPTION_ADDRESS_SPACE},        \
	{"allow", required_argument, NULL, OPTION_ALLOW},                        \
	{"env", required_argument, NULL, OPTION_ENV},                            \
	{"main-arg", required_argument, NULL, OPTION_MAIN_ARGUMENT},             \
	{"name", required_argument, NULL, OPTION_NAME},                          \
	{"set", required_argument, NULL, OPTION_SET},                            \
	{"allow-host", required_argument, NULL, OPTION_ALLOW_HOST}

struct program_options {
	struct tkvm_settings settings;
	const char *config_path;
	struct {
		const char *key;
		const char *value;
		char *owned; /* the copy key and/or value point into */
	} overrides[PROGRAM_OPTION_MAX_OVERRIDES];
	size_t override_count;
};

void program_options_init(struct program_options *options);
void program_options_free(struct program_options *options);

/* Takes one parsed option. Returns 1 when it was a program option, 0 when
 * not, -1 on a bad value (already reported). */
int program_options_take(struct program_options *options, int option, const char *value);

/* Reads --config, then applies the flags in order. The program's name
 * defaults to the file name of program_path. Returns 0 or -1 (reported). */
int program_options_finish(struct program_options *options, const char *program_path);

void program_options_help(FILE *out);

/* Reads a whole file (the program's ELF, a request body). Returns 0 or -1
 * with the error reported, naming the path. */
int read_whole_file(const char *path, uint8_t **data, size_t *size);
#endif
