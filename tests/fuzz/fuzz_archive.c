/* libFuzzer target: arbitrary bytes as a fetched program (tar.xz or raw
 * ELF). Whatever the input, reading must end in programs that obey the
 * archive rules or in a one-line error that leaves nothing behind; never a
 * crash, a leak or undefined behaviour. xz's checksums stop most mutations
 * from reaching tar, so an input starting with 'T' is a plain tar that is
 * xz-compressed here first: the fuzzer then mutates tar headers directly. */
#include "packager/archive.h"
#include "runner/error.h"

#include <archive.h>
#include <archive_entry.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct grown {
	uint8_t *bytes;
	size_t size;
};

static la_ssize_t append(struct archive *a, void *context, const void *buffer, size_t length)
{
	struct grown *out = context;
	uint8_t *bigger = realloc(out->bytes, out->size + length);
	if (!bigger)
		return -1;
	memcpy(bigger + out->size, buffer, length);
	out->bytes = bigger;
	out->size += length;
	return (la_ssize_t)length;
}

/* data as the only content of an xz stream (libarchive's raw writer). */
static int wrap_in_xz(const uint8_t *data, size_t size, struct grown *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *entry = archive_entry_new();
	int ok = a && entry && archive_write_set_format_raw(a) == ARCHIVE_OK &&
		 archive_write_add_filter_xz(a) == ARCHIVE_OK &&
		 archive_write_set_filter_option(a, "xz", "compression-level", "0") == ARCHIVE_OK &&
		 archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
		 archive_write_open(a, out, NULL, append, NULL) == ARCHIVE_OK;
	if (ok) {
		archive_entry_set_filetype(entry, AE_IFREG);
		archive_entry_set_size(entry, (la_int64_t)size);
		ok = archive_write_header(a, entry) == ARCHIVE_OK &&
		     (size == 0 || archive_write_data(a, data, size) == (la_ssize_t)size) &&
		     archive_write_close(a) == ARCHIVE_OK;
	}
	if (entry)
		archive_entry_free(entry);
	if (a)
		archive_write_free(a);
	return ok ? 0 : -1;
}

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

static void check_read(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == 'T') {
		struct grown wrapped = { 0 };
		if (wrap_in_xz(data + 1, size - 1, &wrapped) == 0)
			check_read(wrapped.bytes, wrapped.size);
		free(wrapped.bytes);
		return 0;
	}
	check_read(data, size);
	return 0;
}

static void check_read(const uint8_t *data, size_t size)
{
	struct archive_programs programs;
	struct tkvm_error err = { 0 };
	int rc = archive_read_programs(data, size, "fuzz.tar.xz", &programs, check_warning, NULL, &err);
	if (rc < 0) {
		if (!err.message[0] || strchr(err.message, '\n') || err.code >= 0)
			__builtin_trap(); /* an error says what was wrong, in one line */
		if (programs.request_elf || programs.request_name || programs.storage_elf || programs.storage_name)
			__builtin_trap(); /* and leaves nothing behind */
		return;
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
}
