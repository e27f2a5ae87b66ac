/* Unit tests of program archives: reproducible packing, round trips,
 * archives made by the real `tar -cJf` (./ prefixes, directories, README
 * files), raw ELFs, and hostile bytes (truncated, flipped, wrong format,
 * wrong contents), each error one non-empty line. No KVM needed; real ELF
 * files (/bin/true, /bin/ls) serve as program bytes. */
#include "packager/archive.h"
#include "runner/error.h"
#include "tests/lib/tap.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REQUEST_ELF "/bin/true"
#define STORAGE_ELF "/bin/ls"

struct warnings {
	int count;
	char all[8192];
};

static void collect_warning(void *context, const char *message)
{
	struct warnings *w = context;
	w->count++;
	size_t used = strlen(w->all);
	snprintf(w->all + used, sizeof w->all - used, "%s\n", message);
	if (!message[0] || strchr(message, '\n'))
		w->count += 1000; /* a warning is one non-empty line: make the count check fail */
}

static struct warnings warned;
static struct tkvm_error err;
static char workdir[256];

/* An error is one non-empty line. */
#define CHECK_ONE_LINE(message)                                             \
	do {                                                                \
		CHECK((message)[0] != 0);                                   \
		CHECK(strchr((message), '\n') == NULL);                     \
	} while (0)

static int read_bytes(const uint8_t *data, size_t size, struct archive_programs *programs)
{
	memset(&warned, 0, sizeof warned);
	tkvm_error_clear(&err);
	return archive_read_programs(data, size, "test.tar.xz", programs, collect_warning, &warned, &err);
}

/* Whole file into memory (malloc'd; NULL when missing). */
static uint8_t *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *bytes = NULL;
	size_t used = 0, capacity = 0, n;
	uint8_t chunk[65536];
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (used + n > capacity) {
			capacity = (used + n) * 2;
			uint8_t *grown = realloc(bytes, capacity);
			if (!grown) {
				free(bytes);
				fclose(f);
				return NULL;
			}
			bytes = grown;
		}
		memcpy(bytes + used, chunk, n);
		used += n;
	}
	fclose(f);
	*size = used;
	return bytes ? bytes : calloc(1, 1);
}

static int write_file(const char *path, const void *bytes, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t written = fwrite(bytes, 1, size, f);
	return fclose(f) == 0 && written == size ? 0 : -1;
}

/* Runs a shell command inside the work directory; 0 when it succeeded. */
static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shell(const char *fmt, ...)
{
	char command[2048];
	int n = snprintf(command, sizeof command, "cd '%s' && ( ", workdir);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(command + n, sizeof command - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(command + n, sizeof command - (size_t)n, " ) >/dev/null 2>&1");
	return system(command);
}

/* Reads the file made by a shell command: "x.tar.xz" in the work dir. */
static int read_made(const char *name, struct archive_programs *programs, uint8_t **bytes, size_t *size)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", workdir, name);
	*bytes = slurp(path, size);
	if (!*bytes)
		return -999;
	return read_bytes(*bytes, *size, programs);
}

static bool same_as_file(const uint8_t *bytes, size_t size, const char *path)
{
	size_t file_size;
	uint8_t *file = slurp(path, &file_size);
	bool same = file && file_size == size && memcmp(file, bytes, size) == 0;
	free(file);
	return same;
}

static void test_request_entry_name(void)
{
	char buf[64];
	CHECK_STR(archive_request_entry_name("hello", buf, sizeof buf), "hello");
	CHECK_STR(archive_request_entry_name("cold_storage", buf, sizeof buf), "cold_storage.elf");
	CHECK_STR(archive_request_entry_name("storage", buf, sizeof buf), "storage.elf");
	CHECK_STR(archive_request_entry_name("storages", buf, sizeof buf), "storages");
}

static void test_pack_is_reproducible(void)
{
	uint8_t *first = NULL, *second = NULL, *other = NULL;
	size_t first_size = 0, second_size = 0, other_size = 0;
	CHECK_INT(archive_pack("hello", REQUEST_ELF, STORAGE_ELF, &first, &first_size, &err), 0);
	CHECK_INT(archive_pack("hello", REQUEST_ELF, STORAGE_ELF, &second, &second_size, &err), 0);
	CHECK(first_size > 6 && first_size == second_size);
	CHECK(first && second && memcmp(first, second, first_size) == 0);
	CHECK(first && memcmp(first, "\xfd" "7zXZ", 5) == 0);
	/* The name is part of the bytes, the path of the files is not. */
	CHECK_INT(archive_pack("world", REQUEST_ELF, STORAGE_ELF, &other, &other_size, &err), 0);
	CHECK(other && (other_size != first_size || memcmp(other, first, first_size) != 0));
	free(first);
	free(second);
	free(other);
}

static void test_round_trip_request_only(void)
{
	uint8_t *packed = NULL;
	size_t size = 0;
	CHECK_INT(archive_pack("hello", REQUEST_ELF, NULL, &packed, &size, &err), 0);
	struct archive_programs programs;
	CHECK_INT(read_bytes(packed, size, &programs), 0);
	CHECK(!programs.raw_elf);
	CHECK_STR(programs.request_name, "hello");
	CHECK(same_as_file(programs.request_elf, programs.request_size, REQUEST_ELF));
	CHECK(programs.storage_name == NULL && programs.storage_elf == NULL && programs.storage_size == 0);
	CHECK_INT(warned.count, 0);
	archive_programs_free(&programs);
	CHECK(programs.request_elf == NULL && programs.request_name == NULL);
	archive_programs_free(&programs); /* twice is harmless */
	free(packed);
}

static void test_round_trip_with_storage(void)
{
	uint8_t *packed = NULL;
	size_t size = 0;
	CHECK_INT(archive_pack("cold_storage", REQUEST_ELF, STORAGE_ELF, &packed, &size, &err), 0);
	struct archive_programs programs;
	CHECK_INT(read_bytes(packed, size, &programs), 0);
	CHECK_STR(programs.request_name, "cold_storage.elf");
	CHECK_STR(programs.storage_name, "cold_storage_storage");
	CHECK(same_as_file(programs.request_elf, programs.request_size, REQUEST_ELF));
	CHECK(same_as_file(programs.storage_elf, programs.storage_size, STORAGE_ELF));
	CHECK_INT(warned.count, 0);
	archive_programs_free(&programs);
	free(packed);
}

/* What we pack is what GNU tar lists: names, order, owner, mode, date. */
static void test_pack_readable_by_tar(void)
{
	uint8_t *packed = NULL;
	size_t size = 0;
	char path[512], listing_path[512];
	CHECK_INT(archive_pack("hello", REQUEST_ELF, STORAGE_ELF, &packed, &size, &err), 0);
	snprintf(path, sizeof path, "%s/packed.tar.xz", workdir);
	CHECK_INT(write_file(path, packed, size), 0);
	CHECK_INT(shell("tar --utc -tvJf packed.tar.xz > listing.txt && mkdir out && tar -xJf packed.tar.xz -C out"),
		  0);
	snprintf(listing_path, sizeof listing_path, "%s/listing.txt", workdir);
	size_t listing_size = 0;
	char *listing = (char *)slurp(listing_path, &listing_size);
	CHECK(listing != NULL);
	if (listing) {
		listing[listing_size ? listing_size - 1 : 0] = 0;
		char *newline = strchr(listing, '\n');
		CHECK(newline != NULL);
		CHECK(!strncmp(listing, "-rwxr-xr-x root/root", 20));
		CHECK_CONTAINS(listing, "1970-01-01 00:00 hello\n");
		CHECK(newline && !strncmp(newline + 1, "-rwxr-xr-x root/root", 20));
		CHECK(newline && strstr(newline, "1970-01-01 00:00 hello_storage"));
	}
	free(listing);
	snprintf(path, sizeof path, "%s/out/hello_storage", workdir);
	size_t extracted_size = 0;
	uint8_t *extracted = slurp(path, &extracted_size);
	CHECK(extracted && same_as_file(extracted, extracted_size, STORAGE_ELF));
	free(extracted);
	free(packed);
}

static void test_read_tar_cJf(void)
{
	CHECK_INT(shell("mkdir flat && cd flat && cp " REQUEST_ELF " hello && cp " STORAGE_ELF " hello_storage && "
			"tar -cJf ../flat.tar.xz hello hello_storage"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK_INT(read_made("flat.tar.xz", &programs, &bytes, &size), 0);
	CHECK_STR(programs.request_name, "hello");
	CHECK_STR(programs.storage_name, "hello_storage");
	CHECK(same_as_file(programs.request_elf, programs.request_size, REQUEST_ELF));
	CHECK(same_as_file(programs.storage_elf, programs.storage_size, STORAGE_ELF));
	CHECK_INT(warned.count, 0);
	archive_programs_free(&programs);
	free(bytes);
}

/* `tar -cJf x.tar.xz ./dir/`: "./" prefixes, a directory entry, a README
 * that is warned about, storage named by its base name. */
static void test_read_directory_with_readme(void)
{
	CHECK_INT(shell("mkdir -p prog/sub && cp " REQUEST_ELF " prog/sub/hello && cp " STORAGE_ELF
			" prog/my_storage && echo 'how to use' > prog/README.md && "
			"tar -cJf dir.tar.xz ./prog/"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK_INT(read_made("dir.tar.xz", &programs, &bytes, &size), 0);
	CHECK_STR(programs.request_name, "hello");
	CHECK_STR(programs.storage_name, "my_storage");
	CHECK(same_as_file(programs.request_elf, programs.request_size, REQUEST_ELF));
	CHECK(same_as_file(programs.storage_elf, programs.storage_size, STORAGE_ELF));
	CHECK_INT(warned.count, 1);
	CHECK_CONTAINS(warned.all, "./prog/README.md is not an ELF");
	archive_programs_free(&programs);
	free(bytes);
}

/* The storage test looks at the base name only: a request program inside
 * a directory called "..._storage" is still the request program. */
static void test_storage_by_base_name(void)
{
	CHECK_INT(shell("mkdir -p base/data_storage && cp " REQUEST_ELF " base/data_storage/run && "
			"tar -cJf base.tar.xz -C base data_storage"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK_INT(read_made("base.tar.xz", &programs, &bytes, &size), 0);
	CHECK_STR(programs.request_name, "run");
	CHECK(programs.storage_elf == NULL);
	archive_programs_free(&programs);
	free(bytes);
}

/* pax headers and GNU long names (over 100 bytes) both read. */
static void test_read_pax_and_long_names(void)
{
	char long_name[160];
	memset(long_name, 'a', 120);
	strcpy(long_name + 120, "_storage");
	CHECK_INT(shell("mkdir tools && cp " REQUEST_ELF " tools/hello && cp " STORAGE_ELF " tools/%s && "
			"tar --format=pax -cJf pax.tar.xz -C tools . && tar --format=gnu -cJf gnu.tar.xz -C tools .",
			long_name),
		  0);
	const char *made[] = { "pax.tar.xz", "gnu.tar.xz" };
	for (int i = 0; i < 2; i++) {
		struct archive_programs programs;
		uint8_t *bytes = NULL;
		size_t size = 0;
		CHECK_INT(read_made(made[i], &programs, &bytes, &size), 0);
		CHECK_STR(programs.request_name, "hello");
		CHECK_STR(programs.storage_name, long_name);
		CHECK(same_as_file(programs.storage_elf, programs.storage_size, STORAGE_ELF));
		archive_programs_free(&programs);
		free(bytes);
	}
}

static void test_raw_elf(void)
{
	size_t size = 0;
	uint8_t *elf = slurp(REQUEST_ELF, &size);
	CHECK(elf != NULL);
	struct archive_programs programs;
	CHECK_INT(read_bytes(elf, size, &programs), 0);
	CHECK(programs.raw_elf);
	CHECK(programs.request_name == NULL);
	CHECK(programs.request_size == size && memcmp(programs.request_elf, elf, size) == 0);
	CHECK(programs.request_elf != elf);
	CHECK(programs.storage_elf == NULL);
	archive_programs_free(&programs);
	free(elf);
}

/* Runs read_bytes expecting an error, which must be one line and leave
 * nothing in programs. */
static void check_refused(const uint8_t *data, size_t size, const char *expected)
{
	struct archive_programs programs;
	CHECK(read_bytes(data, size, &programs) < 0);
	CHECK_ONE_LINE(err.message);
	CHECK(err.code < 0);
	if (expected)
		CHECK_CONTAINS(err.message, expected);
	CHECK(programs.request_elf == NULL && programs.request_name == NULL && programs.storage_elf == NULL &&
	      programs.storage_name == NULL);
}

static void test_empty_and_random_bytes(void)
{
	check_refused((const uint8_t *)"", 0, "test.tar.xz: empty");
	struct archive_programs programs;
	CHECK(archive_read_programs((const uint8_t *)"x", 1, "https://host/a\nb", &programs, NULL, NULL, &err) < 0);
	CHECK_CONTAINS(err.message, "https://host/a\\x0ab: not a tar.xz");
	CHECK_ONE_LINE(err.message);
	uint8_t random_bytes[4096];
	srandom(42);
	for (size_t i = 0; i < sizeof random_bytes; i++)
		random_bytes[i] = (uint8_t)random();
	random_bytes[0] = 'x';
	check_refused(random_bytes, sizeof random_bytes, "not a tar.xz archive or an ELF");
	check_refused(random_bytes, 1, "not a tar.xz archive or an ELF");
	check_refused((const uint8_t *)"\x7f" "EL", 3, "not a tar.xz archive or an ELF");
	check_refused((const uint8_t *)"\xfd" "7z", 3, "test.tar.xz: truncated xz data");
	/* xz magic followed by garbage */
	memcpy(random_bytes, "\xfd" "7zXZ\0", 6);
	check_refused(random_bytes, sizeof random_bytes, "test.tar.xz");
}

/* Every cut of a valid archive is refused: the tar part and xz's index and
 * footer are all checked. */
static void test_truncated(void)
{
	uint8_t *packed = NULL;
	size_t size = 0;
	CHECK_INT(archive_pack("hello", REQUEST_ELF, STORAGE_ELF, &packed, &size, &err), 0);
	int accepted = 0;
	size_t step = size / 120 + 1; /* every byte at both ends, about 120 cuts between */
	for (size_t cut = 1; cut < size; cut += (cut + 80 >= size || cut < 64) ? 1 : step) {
		struct archive_programs programs;
		if (read_bytes(packed, cut, &programs) == 0) {
			printf("# cut at %zu of %zu bytes was accepted\n", cut, size);
			accepted++;
			archive_programs_free(&programs);
		} else if (!err.message[0] || strchr(err.message, '\n') || !strstr(err.message, "test.tar.xz")) {
			printf("# cut at %zu: bad message \"%s\"\n", cut, err.message);
			accepted++;
		}
	}
	CHECK_INT(accepted, 0);
	free(packed);
}

static void test_flipped_bit(void)
{
	uint8_t *packed = NULL;
	size_t size = 0;
	CHECK_INT(archive_pack("hello", REQUEST_ELF, NULL, &packed, &size, &err), 0);
	size_t positions[] = { size / 2, size / 3, size / 2 + 17, size - 40 };
	for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			packed[positions[i]] ^= (uint8_t)(1u << bit);
			check_refused(packed, size, "test.tar.xz: ");
			packed[positions[i]] ^= (uint8_t)(1u << bit);
		}
	}
	struct archive_programs programs;
	CHECK_INT(read_bytes(packed, size, &programs), 0); /* restored, it reads again */
	archive_programs_free(&programs);
	free(packed);
}

/* GNU tar pads to 10240-byte records, and libarchive's tar reader stops
 * at the end-of-archive blocks: sized so that libarchive's 64 KiB xz
 * output chunk ends inside that padding, this archive's last xz checks
 * (block CRC, index, footer) only run because archive.c decodes the whole
 * stream first. The program is incompressible, so a flipped bit inside it
 * changes its bytes without upsetting the decoder: only the CRC sees it. */
static void test_corruption_caught_by_xz_checks(void)
{
	size_t program_size = 131072 - 512 - 1024 - 2048; /* tar header, end blocks; 2 KiB before 128 KiB */
	uint8_t *program = malloc(program_size);
	CHECK(program != NULL);
	if (!program)
		return;
	srandom(7);
	for (size_t i = 0; i < program_size; i++)
		program[i] = (uint8_t)random();
	memcpy(program, "\x7f" "ELF", 4);
	char path[512];
	snprintf(path, sizeof path, "%s/padded", workdir);
	CHECK_INT(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/padded/hello", workdir);
	CHECK_INT(write_file(path, program, program_size), 0);
	CHECK_INT(shell("tar --format=gnu -cJf padded.tar.xz -C padded hello"), 0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK_INT(read_made("padded.tar.xz", &programs, &bytes, &size), 0);
	CHECK(programs.request_size == program_size && !memcmp(programs.request_elf, program, program_size));
	archive_programs_free(&programs);
	int accepted = 0;
	for (size_t at = size / 4; bytes && at < size * 3 / 4; at += size / 40) {
		bytes[at] ^= 0x10;
		if (read_bytes(bytes, size, &programs) == 0) {
			printf("# flipped bit at %zu of %zu was accepted\n", at, size);
			accepted++;
			archive_programs_free(&programs);
		}
		bytes[at] ^= 0x10;
	}
	for (size_t cut = 1; bytes && cut <= 64; cut++) {
		if (read_bytes(bytes, size - cut, &programs) == 0) {
			printf("# cutting %zu bytes of %zu was accepted\n", cut, size);
			accepted++;
			archive_programs_free(&programs);
		}
	}
	CHECK_INT(accepted, 0);
	free(bytes);
	free(program);
}

/* Junk after the xz stream is refused (xz itself refuses it); the zero
 * padding the xz format allows between and after streams is not. */
static void test_trailing_bytes(void)
{
	uint8_t *packed = NULL;
	size_t size = 0;
	CHECK_INT(archive_pack("hello", REQUEST_ELF, NULL, &packed, &size, &err), 0);
	uint8_t *longer = packed ? malloc(size + 8) : NULL;
	CHECK(longer != NULL);
	if (!longer) {
		free(packed);
		return;
	}
	memcpy(longer, packed, size);
	memcpy(longer + size, "junk!!!\n", 8);
	check_refused(longer, size + 8, "test.tar.xz: ");
	memset(longer + size, 0, 8);
	struct archive_programs programs;
	CHECK_INT(read_bytes(longer, size + 8, &programs), 0);
	CHECK_STR(programs.request_name, "hello");
	archive_programs_free(&programs);
	free(longer);
	free(packed);
}

static void test_other_formats_refused(void)
{
	CHECK_INT(shell("mkdir other && cp " REQUEST_ELF " other/hello && tar -czf other.tar.gz -C other hello && "
			"tar -cf other.tar -C other hello && xz -k other/hello && tar -cjf other.tar.bz2 -C other hello"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK(read_made("other.tar.gz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "not a tar.xz archive or an ELF (it is gzip-compressed data");
	CHECK_ONE_LINE(err.message);
	free(bytes);
	CHECK(read_made("other.tar", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "not a tar.xz archive or an ELF (it is an uncompressed tar");
	free(bytes);
	CHECK(read_made("other.tar.bz2", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "bzip2");
	free(bytes);
	/* xz around a bare ELF is xz, but not a tar */
	CHECK(read_made("other/hello.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "test.tar.xz: not a valid tar.xz archive");
	CHECK_ONE_LINE(err.message);
	free(bytes);
	/* tar.xz inside xz: one xz layer only */
	CHECK_INT(shell("tar -cJf - -C other hello | xz > double.tar.xz.xz"), 0);
	CHECK(read_made("double.tar.xz.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "test.tar.xz: not a tar.xz archive (compressed more than once)");
	free(bytes);
}

static void test_two_requests(void)
{
	CHECK_INT(shell("mkdir two && cp " REQUEST_ELF " two/a && cp " STORAGE_ELF " two/b && cp " REQUEST_ELF
			" two/c && tar -cJf two.tar.xz -C two a b && tar -cJf three.tar.xz -C two a b c"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK(read_made("two.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_STR(err.message, "test.tar.xz: 2 request programs (a, b); an archive holds exactly one");
	CHECK(programs.request_elf == NULL);
	free(bytes);
	CHECK(read_made("three.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_STR(err.message, "test.tar.xz: 3 request programs (a, b, ...); an archive holds exactly one");
	free(bytes);
}

static void test_two_storages(void)
{
	CHECK_INT(shell("mkdir twos && cp " REQUEST_ELF " twos/hello && cp " STORAGE_ELF " twos/x_storage && cp "
			STORAGE_ELF " twos/y_storage && tar -cJf twos.tar.xz -C twos hello x_storage y_storage"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK(read_made("twos.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_STR(err.message,
		  "test.tar.xz: 2 storage programs (x_storage, y_storage); an archive holds at most one");
	free(bytes);
}

static void test_only_storage(void)
{
	CHECK_INT(shell("mkdir only && cp " STORAGE_ELF " only/hello_storage && echo hi > only/notes.txt && "
			"tar -cJf only.tar.xz -C only hello_storage notes.txt"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK(read_made("only.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "test.tar.xz: no request program, only the storage program hello_storage");
	CHECK_ONE_LINE(err.message);
	CHECK(programs.storage_elf == NULL && programs.storage_name == NULL);
	free(bytes);
	/* no ELF at all, and nothing at all */
	CHECK_INT(shell("mkdir none && echo hi > none/notes.txt && tar -cJf none.tar.xz -C none notes.txt && "
			"mkdir empty && tar -cJf empty.tar.xz -C empty ."),
		  0);
	CHECK(read_made("none.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "no request program: none of the 1 entries is an ELF");
	free(bytes);
	CHECK(read_made("empty.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "none of the 1 entries is an ELF"); /* the "./" directory */
	free(bytes);
	CHECK_INT(shell("tar -cJf nothing.tar.xz -T /dev/null"), 0);
	CHECK(read_made("nothing.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "test.tar.xz: the archive is empty");
	free(bytes);
}

static void test_empty_request_file(void)
{
	CHECK_INT(shell("mkdir hollow && : > hollow/hello && cp " STORAGE_ELF " hollow/hello_storage && "
			"tar -cJf hollow.tar.xz -C hollow hello hello_storage"),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK(read_made("hollow.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_STR(err.message, "test.tar.xz: no request program: hello is empty (0 bytes), not an ELF");
	free(bytes);
}

/* A hostile entry name cannot split a warning or an error into lines. */
static void test_hostile_names(void)
{
	CHECK_INT(shell("mkdir odd && cp " REQUEST_ELF " \"odd/$(printf 'a\\nb')\" && cp " REQUEST_ELF
			" \"odd/$(printf 'c\\033d')\" && printf text > \"odd/$(printf 'e\\rf')\" && "
			"tar -cJf odd.tar.xz -C odd ."),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK(read_made("odd.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "2 request programs");
	CHECK_CONTAINS(err.message, "\\x0a");
	CHECK_ONE_LINE(err.message);
	CHECK_INT(warned.count, 1);
	CHECK_CONTAINS(warned.all, "e\\x0df is not an ELF");
	free(bytes);
}

static void test_entry_limit(void)
{
	CHECK_INT(shell("mkdir many && cp " REQUEST_ELF " many/hello && cd many && seq -f d%%g %d | xargs mkdir && "
			"tar -cJf ../many.tar.xz .",
			ARCHIVE_MAX_ENTRIES),
		  0);
	struct archive_programs programs;
	uint8_t *bytes = NULL;
	size_t size = 0;
	CHECK(read_made("many.tar.xz", &programs, &bytes, &size) < 0);
	CHECK_CONTAINS(err.message, "test.tar.xz: more than 4096 entries");
	free(bytes);
}

static void check_pack_refused(const char *name, const char *request, const char *storage, const char *expected)
{
	uint8_t *packed = (uint8_t *)"unchanged";
	size_t size = 1;
	tkvm_error_clear(&err);
	CHECK(archive_pack(name, request, storage, &packed, &size, &err) < 0);
	CHECK(packed == NULL && size == 0);
	CHECK_ONE_LINE(err.message);
	CHECK_CONTAINS(err.message, expected);
}

static void test_pack_bad_inputs(void)
{
	char text[512], empty[512], missing[512];
	snprintf(text, sizeof text, "%s/script.sh", workdir);
	snprintf(empty, sizeof empty, "%s/empty.elf", workdir);
	snprintf(missing, sizeof missing, "%s/no/such/file", workdir);
	CHECK_INT(write_file(text, "#!/bin/sh\necho hi\n", 18), 0);
	CHECK_INT(write_file(empty, "", 0), 0);
	char expected[600];
	snprintf(expected, sizeof expected, "the request program %s is not an ELF", text);
	check_pack_refused("hello", text, NULL, expected);
	snprintf(expected, sizeof expected, "the storage program %s is not an ELF", text);
	check_pack_refused("hello", REQUEST_ELF, text, expected);
	snprintf(expected, sizeof expected, "the request program %s is empty", empty);
	check_pack_refused("hello", empty, NULL, expected);
	snprintf(expected, sizeof expected, "cannot open the storage program %s: No such file", missing);
	check_pack_refused("hello", REQUEST_ELF, missing, expected);
	check_pack_refused("hello", missing, NULL, missing);
	check_pack_refused("hello", workdir, NULL, "is not a regular file");
	check_pack_refused("", REQUEST_ELF, NULL, "the program name is empty");
	check_pack_refused("a/b", REQUEST_ELF, NULL, "program name \"a/b\"");
	check_pack_refused("..", REQUEST_ELF, NULL, "cannot be a program name");
	check_pack_refused("a\nb", REQUEST_ELF, NULL, "\"a\\x0ab\"");
	char long_name[200];
	memset(long_name, 'n', 93);
	long_name[93] = 0;
	check_pack_refused(long_name, REQUEST_ELF, NULL, "longer than 92 characters");
	long_name[92] = 0; /* the longest that fits, with "_storage" */
	uint8_t *packed = NULL;
	size_t size = 0;
	CHECK_INT(archive_pack(long_name, REQUEST_ELF, STORAGE_ELF, &packed, &size, &err), 0);
	struct archive_programs programs;
	CHECK_INT(read_bytes(packed, size, &programs), 0);
	CHECK_STR(programs.request_name, long_name);
	archive_programs_free(&programs);
	free(packed);
}

int main(void)
{
	const char *tmp = getenv("TMP");
	snprintf(workdir, sizeof workdir, "%s/tkvm-archive-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(workdir)) {
		printf("not ok - mkdtemp %s\n", workdir);
		return 1;
	}
	TEST(test_request_entry_name);
	TEST(test_pack_is_reproducible);
	TEST(test_round_trip_request_only);
	TEST(test_round_trip_with_storage);
	TEST(test_pack_readable_by_tar);
	TEST(test_read_tar_cJf);
	TEST(test_read_directory_with_readme);
	TEST(test_storage_by_base_name);
	TEST(test_read_pax_and_long_names);
	TEST(test_raw_elf);
	TEST(test_empty_and_random_bytes);
	TEST(test_truncated);
	TEST(test_flipped_bit);
	TEST(test_corruption_caught_by_xz_checks);
	TEST(test_trailing_bytes);
	TEST(test_other_formats_refused);
	TEST(test_two_requests);
	TEST(test_two_storages);
	TEST(test_only_storage);
	TEST(test_empty_request_file);
	TEST(test_hostile_names);
	TEST(test_entry_limit);
	TEST(test_pack_bad_inputs);
	char command[512];
	snprintf(command, sizeof command, "rm -rf '%s'", workdir);
	if (system(command) != 0)
		printf("# could not remove %s\n", workdir);
	return tap_exit_code();
}
