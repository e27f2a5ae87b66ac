/* libtkvm: the sandbox core shared by the tkvm CLI and the VMOD. A program
 * is booted once (main() runs until it parks in wait_for_requests), then
 * answers requests. This header is all a caller needs. */
#ifndef TKVM_RUNNER_TKVM_H
#define TKVM_RUNNER_TKVM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/error.h"
#include "runner/settings.h"

struct tkvm_program;

/* What the caller wants to see of the guest. Every callback is optional. */
struct tkvm_hooks {
	void *context;
	/* write()/writev() to fd 1 or 2 */
	void (*output)(void *context, int fd, const char *data, size_t length);
	/* sys_log() lines */
	void (*log)(void *context, const char *data, size_t length);
	/* one line per emulated syscall or host call, when tracing is on */
	void (*trace)(void *context, const char *line);
	bool trace_enabled;
};

/* A header line "Name: value" (not NUL-terminated in general). */
struct tkvm_header {
	const char *field;
	size_t length;
};

struct tkvm_request_input {
	const char *method;        /* "GET" */
	const char *url;           /* "/hello" (path, no query) */
	const char *arg;           /* query string or X-Arg, "" if none */
	const char *content_type;  /* "" if none */
	const struct tkvm_header *headers;
	size_t header_count;       /* at most TKVM_MAX_REQUEST_HEADERS */
	const uint8_t *body;
	size_t body_length;
};

#define TKVM_MAX_REQUEST_HEADERS 64
#define TKVM_MAX_RESPONSE_HEADERS 128

enum tkvm_outcome {
	TKVM_OUTCOME_OK,        /* the program answered */
	TKVM_OUTCOME_RECOVERED, /* it failed, and on_error answered */
	TKVM_OUTCOME_FAILED,    /* it failed; the answer is 500 with an empty body */
};

struct tkvm_response {
	int status;
	char *content_type;
	char **headers; /* "Name: value", NUL-terminated */
	size_t header_count;
	uint8_t *body;
	size_t body_length;
	bool cacheable; /* set_cacheable() or the extra struct's flag */
	double ttl, grace, keep; /* seconds */
	enum tkvm_outcome outcome;
	char error[1024]; /* the failure, when outcome != OK: cause, RIP and symbol */
};

/* Counters kept by the runner at no extra cost (no ioctls, no exits). */
#define TKVM_SYSCALL_SLOTS 512
struct tkvm_stats {
	uint64_t boot_ns;
	uint64_t request_ns;      /* last request, wall clock */
	uint64_t requests;
	uint64_t exits;           /* KVM_RUN returns */
	uint64_t syscalls;        /* emulated Linux syscalls */
	uint64_t host_calls;
	uint64_t unknown_syscalls;
	uint64_t syscall_counts[TKVM_SYSCALL_SLOTS];
	uint64_t unknown_syscall_numbers[16]; /* first distinct unknown numbers seen */
	unsigned unknown_syscall_distinct;
	uint64_t memory_used;     /* brk + mmap bytes at the last stop */
	uint64_t memory_peak;
	/* per-request deltas, filled after each request */
	uint64_t request_exits, request_syscalls, request_host_calls;
};

/* Boots a program from its ELF bytes (copied; the caller may free them).
 * The settings are copied too. On failure *program is NULL and err says why
 * (for example "program did not call wait_for_requests: it exited with
 * status 0 after 3 ms"). */
int tkvm_program_boot(const struct tkvm_settings *settings, const uint8_t *elf, size_t elf_size,
		      const struct tkvm_hooks *hooks, struct tkvm_program **program, struct tkvm_error *err);

/* Runs one request. Returns 0 when a response was produced (including the
 * 500 of a failed request: see response->outcome and response->error), or a
 * negative code when the request could not be run at all. */
int tkvm_request_run(struct tkvm_program *program, const struct tkvm_request_input *input,
		     struct tkvm_response *response, struct tkvm_error *err);

void tkvm_response_free(struct tkvm_response *response);
const struct tkvm_stats *tkvm_program_stats(const struct tkvm_program *program);
const char *tkvm_syscall_name(unsigned number);
void tkvm_program_destroy(struct tkvm_program *program);
#endif
