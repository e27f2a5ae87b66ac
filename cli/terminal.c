/* Colours and messages (see terminal.h). */
#include "cli/terminal.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool term_colors(FILE *stream)
{
	const char *no_color = getenv("NO_COLOR");
	if (no_color && *no_color)
		return false;
	const char *term = getenv("TERM");
	if (term && (!*term || strcmp(term, "dumb") == 0))
		return false;
	return isatty(fileno(stream));
}

const char *term_style(FILE *stream, enum term_style style)
{
	static const char *const codes[] = {"\033[0m", "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m", "\033[36m"};
	return term_colors(stream) ? codes[style] : "";
}

static void message(enum term_style style, const char *label, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s%s%s%s: ", term_style(stderr, STYLE_BOLD), term_style(stderr, style), label,
		term_style(stderr, STYLE_RESET));
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message(STYLE_RED, "error", fmt, ap);
	va_end(ap);
}

void cli_warning(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message(STYLE_YELLOW, "warning", fmt, ap);
	va_end(ap);
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message(STYLE_CYAN, "hint", fmt, ap);
	va_end(ap);
}

void cli_warning_callback(void *context, const char *text)
{
	(void)context;
	cli_warning("%s", text);
}
