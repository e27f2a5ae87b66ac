/* struct tkvm_error helpers (see error.h). */
#include "runner/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tkvm_error_set(struct tkvm_error *err, int code, const char *fmt, ...)
{
	if (code > 0)
		code = -code;
	if (code == 0)
		code = -1;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof err->message, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int tkvm_error_prefix(struct tkvm_error *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char prefix[256], old[sizeof err->message];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof old);
	size_t n = strlen(prefix);
	if (n > sizeof err->message - 3)
		n = sizeof err->message - 3;
	memcpy(err->message, prefix, n);
	memcpy(err->message + n, ": ", 2);
	size_t rest = sizeof err->message - n - 3, old_length = strnlen(old, sizeof old);
	if (old_length > rest)
		old_length = rest;
	memcpy(err->message + n + 2, old, old_length);
	err->message[n + 2 + old_length] = 0;
	return err->code ? err->code : -1;
}

void tkvm_error_clear(struct tkvm_error *err)
{
	if (err) {
		err->code = 0;
		err->message[0] = 0;
	}
}
