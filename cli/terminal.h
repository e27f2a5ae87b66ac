/* Terminal output for the CLI: colours only on a terminal and never with
 * NO_COLOR, and one way to print errors, warnings and hints. */
#ifndef TKVM_CLI_TERMINAL_H
#define TKVM_CLI_TERMINAL_H
#include <stdbool.h>
#include <stdio.h>

enum term_style { STYLE_RESET, STYLE_BOLD, STYLE_DIM, STYLE_RED, STYLE_GREEN, STYLE_YELLOW, STYLE_CYAN };

bool term_colors(FILE *stream);
const char *term_style(FILE *stream, enum term_style style);

void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For settings warnings (matches settings_warning_fn). */
void cli_warning_callback(void *context, const char *message);

/* Exit codes: 0 ok, 1 failure, 2 usage. */
enum { EXIT_OK = 0, EXIT_FAILURE_CODE = 1, EXIT_USAGE = 2 };
#endif
