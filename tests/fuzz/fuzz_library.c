/* libFuzzer target: arbitrary bytes as a library JSON. Whatever the input,
 * parsing must end in 0 (programs and problems) or an error message, never
 * a crash, a leak or undefined behaviour; every program found must be
 * findable by name, and everything must free. */
#include "packager/library.h"
#include "runner/error.h"
#include "runner/settings.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void count_warning(void *context, const char *message)
{
	/* Touch the message so a bad pointer or missing terminator shows. */
	size_t *total = context;
	*total += strlen(message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct library library;
	struct tkvm_error err = { 0 };
	size_t warned = 0;
	int rc = library_parse((const char *)data, size, "fuzz.json", &library, count_warning, &warned, &err);
	if (rc < 0) {
		if (strlen(err.message) == 0 || library.program_count || library.problem_count)
			__builtin_trap(); /* an error says what was wrong and leaves nothing behind */
	} else {
		for (size_t i = 0; i < library.program_count; i++) {
			const struct library_program *p = &library.programs[i];
			if (!p->name || !p->settings.name || strcmp(p->name, p->settings.name))
				__builtin_trap();
			if (!p->settings.uri && !p->settings.filename)
				__builtin_trap(); /* a program always has somewhere to come from */
			if (p->settings.address_space < p->settings.max_memory)
				__builtin_trap();
			const struct library_program *found = library_find(&library, p->name);
			if (!found || strcmp(found->name, p->name))
				__builtin_trap();
		}
		for (size_t i = 0; i < library.problem_count; i++)
			if (!library.problems[i].name || !library.problems[i].message[0] ||
			    strchr(library.problems[i].message, '\n'))
				__builtin_trap(); /* one line per problem */
	}
	library_free(&library);
	return 0;
}
