/* Errors of the sandbox core: functions return 0 or a negative errno-style
 * code and fill a struct tkvm_error with a human message that names what was
 * wrong and where. Nothing in runner/ exits or aborts on bad input. */
#ifndef TKVM_RUNNER_ERROR_H
#define TKVM_RUNNER_ERROR_H

struct tkvm_error {
	int code;           /* negative errno-style code, 0 when unset */
	char message[1024]; /* one line, no trailing newline */
};

/* Sets the error (printf-style) and returns -abs(code) so callers can write
 * `return tkvm_error_set(err, -EINVAL, "...")`. err may be NULL. */
int tkvm_error_set(struct tkvm_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with context ("loading hello: ..."). */
int tkvm_error_prefix(struct tkvm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void tkvm_error_clear(struct tkvm_error *err);
#endif
