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
struct tkvm_debugger;
struct tkvm_debug_stop;

/* An outbound request a program made with sys_fetch (host call 0x20000)
 * or sys_request (0x20001), after the runner checked the guest's
 * structures and the program's allowed_hosts. */
struct tkvm_fetch_request {
	const char *method;       /* "GET" or "POST" */
	const char *url;          /* as the program gave it; starts with '/' for a self-request */
	const char *const *headers; /* "Name: value" lines */
	size_t header_count;
	const uint8_t *body;      /* POST body */
	size_t body_length;
	bool follow_location, dont_verify_host, tcp_fast_open, dummy_fetch;
	const char *program;      /* the program's name, for self-requests */
	const struct tkvm_settings *settings; /* for tkvm_url_allowed on redirects */
};

/* Whether settings' allowed_hosts lets a program reach url (http/https
 * only). Transports check every redirect with it. */
bool tkvm_url_allowed(const struct tkvm_settings *settings, const char *url);

/* Filled by the embedder's fetch hook; body and headers are malloc'd and
 * freed by the runner. */
struct tkvm_fetch_response {
	int status;
	char content_type[128];
	uint8_t *body;
	size_t body_length;
	char *headers;            /* "Name: value\r\n" lines */
	size_t headers_length;
	int curl_code;            /* 0, or the CURLcode the program gets back negated */
	char error[256];          /* why, when curl_code != 0 */
};

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
	/* Performs an outbound HTTP request (libcurl in the CLI, recordings in
	 * `tkvm test`). Without it every fetch fails with CURLE_COULDNT_CONNECT.
	 * Called from the thread running the request; must be thread-safe. */
	int (*fetch)(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response);
	/* A running request waits for a debugger: the program called
	 * breakpoint() with allow_debug, or crashed with
	 * remote_debug_on_exception. The embedder runs a GDB session on it
	 * (runner/tkvm_debug.h) and returns; the runner then ends the request
	 * (a detached one runs on). debugger and stop are those types. */
	void (*debug)(void *context, struct tkvm_debugger *debugger, const struct tkvm_debug_stop *stop);
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

enum tkvm_failure {
	TKVM_FAILURE_NONE,
	TKVM_FAILURE_CRASH,         /* exception, abort, deadlock */
	TKVM_FAILURE_TIMEOUT,       /* max_request_time */
	TKVM_FAILURE_OUT_OF_MEMORY, /* an allocation failed, then the program failed */
	TKVM_FAILURE_BAD_CALL,      /* a host call with bad arguments */
	TKVM_FAILURE_EXIT,          /* exit() during the request */
	TKVM_FAILURE_NO_RESPONSE,   /* the handler returned without backend_response */
};

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
	enum tkvm_failure failure; /* why, when outcome != OK */
	char error[1024]; /* the failure, when outcome != OK: cause, RIP and symbol */
	unsigned vm;      /* which request VM answered (0 .. concurrency-1) */
	double queue_seconds; /* time spent waiting for a free request VM */
	double reset_seconds; /* time the VM reset after this request took */
	uint64_t pages_reset; /* pages restored from the template after it */
};

/* The VMOD's statistics of a program, summed over its request VMs. */
struct tkvm_counters {
	uint64_t invocations;      /* requests run */
	uint64_t resets;           /* VM resets after ephemeral requests */
	uint64_t full_resets;      /* after a failure */
	uint64_t exceptions;       /* crashes and bad calls */
	uint64_t timeouts;
	uint64_t queue_timeouts;   /* requests that found no free VM in time */
	uint64_t status_2xx, status_3xx, status_4xx, status_5xx;
	double reset_time;         /* seconds spent resetting */
	double request_cpu_time;   /* seconds spent running requests */
	double reservation_time;   /* seconds requests waited for a VM */
	double boot_time;          /* seconds main() took to park */
	unsigned request_vms;      /* request VMs created so far */
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

/* Runs one request in one of the program's request VMs (settings
 * concurrency of them, made on first use from the frozen template), then
 * resets that VM to the template when the program is ephemeral.
 * Thread-safe: it waits for a free VM up to the queue timeout.
 * Returns 0 when a response was produced (including the 500 of a failed
 * request: see response->outcome and response->error), -EBUSY when no VM
 * became free in time, -EINVAL for a malformed request, or another negative
 * code when the request could not be run at all. */
int tkvm_request_run(struct tkvm_program *program, const struct tkvm_request_input *input,
		     struct tkvm_response *response, struct tkvm_error *err);

void tkvm_response_free(struct tkvm_response *response);

/* Profiling one request: where its time went, counted by the runner only
 * when asked (tkvm_request_run itself does none of this). */
#define TKVM_PROFILE_MAX_DEPTH 64
#define TKVM_HOST_CALL_SLOTS 32

struct tkvm_sample {
	uint32_t depth;                        /* frames[0] is the RIP, then return addresses */
	uint64_t frames[TKVM_PROFILE_MAX_DEPTH];
};

struct tkvm_profile_options {
	unsigned sample_hz;                    /* 0: phases only; ~500 is a good rate */
};

struct tkvm_profile {
	double queue_seconds;                  /* waiting for a free request VM */
	double request_seconds;                /* the request, from dispatch to its stop */
	double guest_seconds;                  /* inside KVM_RUN: entries, the program, exits */
	double syscall_seconds[TKVM_SYSCALL_SLOTS];  /* host time emulating each syscall */
	uint64_t syscall_calls[TKVM_SYSCALL_SLOTS];
	double host_call_seconds[TKVM_HOST_CALL_SLOTS]; /* per host call (tkvm_host_call_slot_name) */
	uint64_t host_call_calls[TKVM_HOST_CALL_SLOTS];
	uint64_t exits;
	double reset_seconds;
	uint64_t pages_reset;
	uint64_t bytes_in, bytes_out;          /* request (url, arg, headers, body) and response body */
	struct tkvm_sample *samples;           /* malloc'd; tkvm_profile_free */
	size_t sample_count, sample_capacity;
	double sampling_seconds;               /* host time spent taking samples */
};

/* tkvm_request_run, profiled. profile is zeroed first. */
int tkvm_request_run_profiled(struct tkvm_program *program, const struct tkvm_request_input *input,
			      struct tkvm_response *response, const struct tkvm_profile_options *options,
			      struct tkvm_profile *profile, struct tkvm_error *err);
void tkvm_profile_free(struct tkvm_profile *profile);
/* Name of a host-call slot of struct tkvm_profile ("backend_response", ...), NULL if unused. */
const char *tkvm_host_call_slot_name(unsigned slot);
/* The program's symbol containing address, or NULL; *offset set. */
const char *tkvm_program_symbol(const struct tkvm_program *program, uint64_t address, uint64_t *offset);
/* The program's ELF bytes and its load bias (for DWARF lookups by the embedder). */
const uint8_t *tkvm_program_elf(const struct tkvm_program *program, size_t *size, uint64_t *load_bias);

/* Seconds a request may wait for a free request VM (default 10). */
void tkvm_program_set_queue_timeout(struct tkvm_program *program, double seconds);
void tkvm_program_counters(struct tkvm_program *program, struct tkvm_counters *counters);
/* Detailed counters of the request VM that ran the calling thread's last
 * request (boot figures before any request). Not for concurrent use. */
const struct tkvm_stats *tkvm_program_stats(const struct tkvm_program *program);
const struct tkvm_settings *tkvm_program_settings(const struct tkvm_program *program);

/* Reference counting, for swapping a program while requests still run on
 * it (live update): destroy = release; the last release frees. */
void tkvm_program_retain(struct tkvm_program *program);
void tkvm_program_release(struct tkvm_program *program);
const char *tkvm_syscall_name(unsigned number);
void tkvm_program_destroy(struct tkvm_program *program);
#endif
