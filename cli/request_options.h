/* The request a command sends a program, as `tkvm run` takes it:
 * PROGRAM [METHOD] URL, --data, -H, --arg. Shared by run and profile. */
#ifndef TKVM_CLI_REQUEST_OPTIONS_H
#define TKVM_CLI_REQUEST_OPTIONS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/tkvm.h"

#define REQUEST_MAX_HEADERS TKVM_MAX_REQUEST_HEADERS

/* getopt values: -d, -H and --arg (a long option with no short form). */
enum { REQUEST_OPTION_DATA = 'd', REQUEST_OPTION_HEADER = 'H', REQUEST_OPTION_ARG = 'A' };

#define REQUEST_LONG_OPTIONS                                   \
	{"data", required_argument, NULL, REQUEST_OPTION_DATA},     \
	{"header", required_argument, NULL, REQUEST_OPTION_HEADER}, \
	{"arg", required_argument, NULL, REQUEST_OPTION_ARG}

struct request_options {
	const char *data;      /* --data: text, @FILE or @- */
	const char *arg;
	const char *headers[REQUEST_MAX_HEADERS];
	size_t header_count;
	/* From the positional arguments. */
	const char *program_path, *method, *url;
};

/* Takes one parsed option. Returns 1 when it was a request option, 0 when
 * not, -1 on a bad value (already reported). */
int request_options_take(struct request_options *options, int option, const char *value);

/* PROGRAM [METHOD] URL from argv[first..argc): fills program_path, method
 * (GET, or POST with --data) and url, checked. Returns 0 or -1 (reported;
 * a usage error); command names the command in the hint. */
int request_options_positional(struct request_options *options, int argc, char **argv, int first, const char *command);

bool request_is_method(const char *s);

/* The request as the runner takes it, with what it points into. */
struct built_request {
	struct tkvm_request_input input;
	struct tkvm_header headers[REQUEST_MAX_HEADERS];
	char *path;            /* the URL without its query string */
	uint8_t *body;
	size_t body_length;
};

/* Reads the body (--data @FILE), splits the query string off as the arg
 * (unless --arg) and finds the content type. Returns 0 or -1 (reported). */
int request_build(const struct request_options *options, struct built_request *request);
void request_free(struct built_request *request);
#endif
