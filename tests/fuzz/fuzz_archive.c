/* libFuzzer target: arbitrary bytes as a fetched program (tar.xz or raw
 * ELF). Whatever the input, reading must end in programs that obey the
 * archive rules or in a one-line error that leaves nothing behind; never a
 * crash, a leak or undefined behaviour. */
#include "packager/archive.h"
#include "runner/error.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void check_warning(void *context, const char *message)
{
	(void)context;
	if (!message[0] || strchr(message, '\n'))
		__builtin_trap(); /* a warning is one line */
}

static bool ends_in_storage(const char *name)
{
	size_t n = strlen(name);
	return n >= 7 && !strcmp(name + n - 7, "storage");
}

static bool is_elf(const uint8_t *bytes, size_t size)
{
	return bytes && size >= 4 && !memcmp(bytes, "\x7f" "ELF", 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct archive_programs programs;
	struct tkvm_error err = { 0 };
	int rc = archive_read_programs(data, size, "fuzz.tar.xz", &programs, check_warning, NULL, &err);
	if (rc < 0) {
		if (!err.message[0] || strchr(err.message, '\n') || err.code >= 0)
			__builtin_trap(); /* an error says what was wrong, in one line */
		if (programs.request_elf || programs.request_name || programs.storage_elf || programs.storage_name)
			__builtin_trap(); /* and leaves nothing behind */
		return 0;
	}
	if (!is_elf(programs.request_elf, programs.request_size) || programs.request_size > ARCHIVE_MAX_ELF_BYTES)
		__builtin_trap();
	if (programs.raw_elf) {
		if (programs.request_name || programs.storage_elf || programs.request_size != size ||
		    memcmp(programs.request_elf, data, size))
			__builtin_trap(); /* a raw ELF is the input itself */
	} else {
		if (!programs.request_name || ends_in_storage(programs.request_name) || strchr(programs.request_name, '/'))
			__builtin_trap(); /* the request program's base name never ends in "storage" */
		if (!programs.storage_elf != !programs.storage_name)
			__builtin_trap();
		if (programs.storage_elf &&
		    (!is_elf(programs.storage_elf, programs.storage_size) || !ends_in_storage(programs.storage_name)))
			__builtin_trap();
	}
	archive_programs_free(&programs);
	if (programs.request_elf || programs.storage_elf)
		__builtin_trap();
	return 0;
}
