/* libFuzzer target: arbitrary bytes as a fixture file (tkvm test), and as
 * a recorded fetch body matched against another (the JSON comparison).
 * Whatever the input: loaded or an error naming the file, never a crash, a
 * leak or undefined behaviour; a loaded fixture writes out and reads back
 * the same. */
#include "cli/fixture.h"
#include "cli/fixture_match.h"
#include "runner/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fixture f;
	struct tkvm_error err = {0};
	/* Body files are looked up under a directory that has none. */
	if (fixture_parse((const char *)data, size, "/nonexistent/fuzz.json", &f, &err) == 0) {
		char *text = fixture_to_text(&f, NULL, &err);
		if (text) {
			struct fixture again;
			bool has_files = strstr(text, "\"body_file\"") != NULL;
			if (!has_files && fixture_parse(text, strlen(text), "/nonexistent/fuzz.json", &again, &err) != 0)
				__builtin_trap(); /* what we write, we read */
			if (!has_files)
				fixture_free(&again);
			free(text);
		}
		fixture_free(&f);
	} else if (!err.message[0]) {
		__builtin_trap(); /* every refusal says why */
	}
	size_t half = size / 2;
	(void)fixture_bodies_match(data, half, data + half, size - half);
	return 0;
}
