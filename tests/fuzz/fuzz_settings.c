/* libFuzzer target: arbitrary bytes as a program's settings JSON. Whatever
 * the input, parsing must end in 0 or an error message, never a crash, a
 * leak or undefined behaviour; the settings must then copy and free. */
#include "packager/program_settings.h"
#include "runner/error.h"
#include "runner/settings.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void ignore_warning(void *context, const char *message)
{
	/* Touch the message so a bad pointer or missing terminator shows. */
	size_t *total = context;
	*total += strlen(message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tkvm_settings settings, copy;
	struct tkvm_error err = { 0 };
	size_t warned = 0;
	tkvm_settings_init(&settings);
	int rc = program_settings_parse((const char *)data, size, "fuzz.json", &settings, ignore_warning, &warned,
					&err);
	if (rc < 0 && strlen(err.message) == 0)
		__builtin_trap(); /* every error must say what was wrong */
	if (rc == 0) {
		if (settings.address_space < settings.max_memory)
			__builtin_trap(); /* an invariant the parser promises */
		if (tkvm_settings_copy(&copy, &settings) == 0)
			tkvm_settings_free(&copy);
	}
	tkvm_settings_free(&settings);
	return 0;
}
