/* The access log of `tkvm serve`: one line per request on stderr, in the
 * common log format plus duration, program, VM and failure cause, or one
 * JSON object per line (--json-log). Lines from concurrent requests never
 * interleave. */
#ifndef TKVM_CLI_ACCESS_LOG_H
#define TKVM_CLI_ACCESS_LOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum access_log_format { ACCESS_LOG_COMMON, ACCESS_LOG_JSON };

struct access_log {
	FILE *out;
	enum access_log_format format;
	bool colors;
};

/* What the request handler adds to the line. */
struct access_log_detail {
	const char *program; /* NULL: no program was involved */
	int vm;              /* request VM that answered, -1 for none */
	double queue_seconds;
	const char *outcome; /* "ok", "recovered", "failed", "busy", ...; NULL for none */
	char *cause;         /* owned; why the request failed, NULL when it did not */
};

struct access_log_entry {
	const char *remote; /* client address */
	const char *method, *target, *version; /* NULL when the request line was not read */
	int status;         /* 0 when the server closed the connection without an answer */
	uint64_t bytes;     /* body bytes sent */
	double seconds;     /* from the request line to the last byte sent */
	const struct access_log_detail *detail;
};

void access_log_init(struct access_log *log, FILE *out, enum access_log_format format);
void access_log_write(struct access_log *log, const struct access_log_entry *entry);
/* A message in the log's format: "SOURCE: TEXT" (a program's output, a
 * library's complaint), or a JSON
 * object {"time", "source", "message"}. */
void access_log_message(struct access_log *log, const char *source, const char *text);
#endif
