/* libFuzzer target: arbitrary bytes as a program's settings JSON, and, when
 * they look like "key\0value", as a command-line setting. Whatever the
 * input, the result is 0 or an error message, never a crash, a leak or
 * undefined behaviour; the settings then copy and free. */
#include "packager/program_settings.h"
#include "runner/error.h"
#include "runner/settings.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void count_warning(void *context, const char *message)
{
	/* Touch the message so a bad pointer or missing terminator shows. */
	size_t *total = context;
	*total += strlen(message);
}

/* Invariants every accepted settings struct keeps. */
static void check_settings(const struct tkvm_settings *s)
{
	if (s->address_space < s->max_memory || s->concurrency < 1 || s->concurrency > 255 ||
	    s->max_request_memory >= 4096 || !(s->max_request_time > 0) || !(s->max_boot_time > 0))
		__builtin_trap();
	for (size_t i = 0; i < s->allowed_path_count; i++)
		if (!s->allowed_paths[i].real || !s->allowed_paths[i].virtual_path)
			__builtin_trap();
	for (size_t i = 0; i < s->environment_count; i++)
		if (!strchr(s->environment[i], '='))
			__builtin_trap();
	struct tkvm_settings copy;
	if (tkvm_settings_copy(&copy, s) == 0)
		tkvm_settings_free(&copy);
}

static void fuzz_set(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	if (!nul)
		return;
	size_t key_length = (size_t)(nul - data), value_length = size - key_length - 1;
	char *key = strndup((const char *)data, key_length);
	char *value = malloc(value_length + 1);
	if (key && value) {
		memcpy(value, nul + 1, value_length);
		value[value_length] = 0;
		struct tkvm_settings settings;
		struct tkvm_error err = { 0 };
		tkvm_settings_init(&settings);
		/* twice: arrays append, scalars replace */
		for (int i = 0; i < 2; i++)
			if (program_settings_set(&settings, key, value, &err) < 0 && !err.message[0])
				__builtin_trap();
		check_settings(&settings);
		tkvm_settings_free(&settings);
	}
	free(key);
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tkvm_settings settings;
	struct tkvm_error err = { 0 };
	size_t warned = 0;
	tkvm_settings_init(&settings);
	int rc = program_settings_parse((const char *)data, size, "fuzz.json", &settings, count_warning, &warned, &err);
	if (rc < 0 && !err.message[0])
		__builtin_trap(); /* every error must say what was wrong */
	if (rc == 0)
		check_settings(&settings);
	tkvm_settings_free(&settings);
	fuzz_set(data, size);
	return 0;
}
