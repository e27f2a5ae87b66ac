/* Helpers for integration tests: boot a test program built by
 * tests/lib/build-guests.sh ($GUESTS/<libc>/<name>) and send it requests
 * through libtkvm, capturing what it prints. */
#ifndef TKVM_TESTS_GUEST_RUN_H
#define TKVM_TESTS_GUEST_RUN_H
#include <stddef.h>
#include <stdint.h>
#include "runner/tkvm.h"

struct guest_output {
	char text[65536];
	size_t length;
};

extern const char *guest_libc; /* "glibc" or "musl" */
extern struct guest_output guest_output;
extern __thread struct tkvm_error guest_error; /* per thread: tests run requests from many */

/* Reads $GUESTS/<guest_libc>/<name>; exits the test run when missing. */
uint8_t *guest_read(const char *name, size_t *size);
/* Boots with the given settings (NULL = defaults); NULL on failure with guest_error set. */
struct tkvm_program *guest_boot(const char *name, const struct tkvm_settings *settings);
struct tkvm_program *guest_boot_bytes(const uint8_t *elf, size_t size, const struct tkvm_settings *settings);
/* Runs one request; returns tkvm_request_run's result. headers: NULL-terminated "Name: value" list. */
int guest_request(struct tkvm_program *program, const char *method, const char *url, const char *arg,
		  const char *content_type, const uint8_t *body, size_t body_length, const char *const *headers,
		  struct tkvm_response *response);
/* Response body as a NUL-terminated string (static buffer, truncated at 64 KiB). */
const char *guest_body(const struct tkvm_response *response);
/* The response header line with that name, or NULL. */
const char *guest_header(const struct tkvm_response *response, const char *name);
double guest_seconds(void);
#endif
