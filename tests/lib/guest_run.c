/* Integration-test helpers (see guest_run.h). */
#include "tests/lib/guest_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *guest_libc = "glibc";
struct guest_output guest_output;
__thread struct tkvm_error guest_error;

static void capture(void *context, int fd, const char *data, size_t length)
{
	(void)context, (void)fd;
	size_t room = sizeof guest_output.text - 1 - guest_output.length;
	if (length > room)
		length = room;
	memcpy(guest_output.text + guest_output.length, data, length);
	guest_output.length += length;
	guest_output.text[guest_output.length] = 0;
}

uint8_t *guest_read(const char *name, size_t *size)
{
	const char *dir = getenv("GUESTS");
	char path[1024];
	snprintf(path, sizeof path, "%s/%s/%s", dir ? dir : "build/guests", guest_libc, name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("not ok - test program %s is missing (run make test-programs)\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *data = malloc((size_t)n);
	if (!data || fread(data, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
	*size = (size_t)n;
	return data;
}

struct tkvm_program *guest_boot_bytes(const uint8_t *elf, size_t size, const struct tkvm_settings *settings)
{
	struct tkvm_settings defaults;
	tkvm_settings_init(&defaults);
	struct tkvm_hooks hooks = {.output = capture};
	struct tkvm_program *program = NULL;
	guest_output.length = 0;
	guest_output.text[0] = 0;
	tkvm_error_clear(&guest_error);
	tkvm_program_boot(settings ? settings : &defaults, elf, size, &hooks, &program, &guest_error);
	tkvm_settings_free(&defaults);
	return program;
}

struct tkvm_program *guest_boot(const char *name, const struct tkvm_settings *settings)
{
	size_t size;
	uint8_t *elf = guest_read(name, &size);
	struct tkvm_program *program = guest_boot_bytes(elf, size, settings);
	free(elf);
	return program;
}

int guest_request(struct tkvm_program *program, const char *method, const char *url, const char *arg,
		  const char *content_type, const uint8_t *body, size_t body_length, const char *const *headers,
		  struct tkvm_response *response)
{
	struct tkvm_header list[TKVM_MAX_REQUEST_HEADERS + 8];
	size_t count = 0;
	for (; headers && headers[count] && count < sizeof list / sizeof list[0]; count++)
		list[count] = (struct tkvm_header){headers[count], strlen(headers[count])};
	struct tkvm_request_input input = {
		.method = method, .url = url, .arg = arg ? arg : "", .content_type = content_type ? content_type : "",
		.headers = list, .header_count = count, .body = body, .body_length = body_length,
	};
	tkvm_error_clear(&guest_error);
	return tkvm_request_run(program, &input, response, &guest_error);
}

const char *guest_body(const struct tkvm_response *response)
{
	static __thread char text[65536];
	size_t n = response->body_length < sizeof text - 1 ? response->body_length : sizeof text - 1;
	if (n)
		memcpy(text, response->body, n);
	text[n] = 0;
	return text;
}

const char *guest_header(const struct tkvm_response *response, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < response->header_count; i++)
		if (strncasecmp(response->headers[i], name, n) == 0 && response->headers[i][n] == ':')
			return response->headers[i];
	return NULL;
}

double guest_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
