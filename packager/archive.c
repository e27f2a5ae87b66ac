/* Program archives (spec/library-and-archive.md "Program archive"): packs
 * the request and storage ELFs into a reproducible ustar + xz archive, and
 * reads programs back out of hostile bytes. libarchive does tar and xz. */
#include "packager/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORAGE_SUFFIX "storage"
/* ustar keeps a name without '/' in its 100-byte name field: packing never
 * needs the pax or GNU extensions, whose headers vary between tools. */
#define USTAR_NAME_MAX 100
#define MIB (1024u * 1024u)

static const uint8_t elf_magic[4] = { 0x7f, 'E', 'L', 'F' };
static const uint8_t xz_magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };

static bool starts_as_elf(const uint8_t *bytes, size_t size)
{
	return size >= sizeof elf_magic && memcmp(bytes, elf_magic, sizeof elf_magic) == 0;
}

static bool ends_in_storage(const char *name)
{
	size_t n = strlen(name), suffix = strlen(STORAGE_SUFFIX);
	return n >= suffix && strcmp(name + n - suffix, STORAGE_SUFFIX) == 0;
}

/* Entry names and libarchive messages come from hostile bytes: control and
 * non-ASCII bytes become \xNN so nothing can split a one-line message, and
 * long names are cut. */
static const char *printable(const char *text, char *buf, size_t size)
{
	size_t used = 0;
	if (!text)
		text = "(unknown)";
	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		char piece[8];
		if (*c >= 0x20 && *c < 0x7f)
			piece[0] = (char)*c, piece[1] = 0;
		else
			snprintf(piece, sizeof piece, "\\x%02x", *c);
		size_t n = strlen(piece);
		if (used + n + 4 > size) { /* room for "..." and the terminator */
			memcpy(buf + used, "...", 3);
			used += 3;
			break;
		}
		memcpy(buf + used, piece, n);
		used += n;
	}
	buf[used] = 0;
	return buf;
}

const char *archive_request_entry_name(const char *name, char *buf, size_t size)
{
	if (size == 0)
		return buf;
	snprintf(buf, size, "%s%s", name, ends_in_storage(name) ? ".elf" : "");
	return buf;
}

/* ---- Packing ---- */

/* Reads one program file whole, checking it is a non-empty ELF that a
 * reader of the archive will accept (same size limit). */
static int read_program_file(const char *path, const char *role, uint8_t **out, size_t *out_size,
			     struct tkvm_error *err)
{
	*out = NULL;
	*out_size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tkvm_error_set(err, -errno, "cannot open the %s %s: %s", role, path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int rc = tkvm_error_set(err, -errno, "cannot stat the %s %s: %s", role, path, strerror(errno));
		close(fd);
		return rc;
	}
	int rc = 0;
	if (!S_ISREG(st.st_mode))
		rc = tkvm_error_set(err, -EINVAL, "the %s %s is not a regular file", role, path);
	else if (st.st_size == 0)
		rc = tkvm_error_set(err, -EINVAL, "the %s %s is empty (0 bytes); expected an ELF executable", role, path);
	else if ((uint64_t)st.st_size > ARCHIVE_MAX_ELF_BYTES)
		rc = tkvm_error_set(err, -EFBIG, "the %s %s is %lld bytes; an archive takes at most %u MiB per ELF", role,
				    path, (long long)st.st_size, ARCHIVE_MAX_ELF_BYTES / MIB);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	size_t size = (size_t)st.st_size, done = 0;
	uint8_t *bytes = malloc(size);
	if (!bytes) {
		close(fd);
		return tkvm_error_set(err, -ENOMEM, "out of memory reading the %s %s (%zu bytes)", role, path, size);
	}
	while (done < size) {
		ssize_t n = read(fd, bytes + done, size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = tkvm_error_set(err, -errno, "cannot read the %s %s: %s", role, path, strerror(errno));
			break;
		}
		if (n == 0) {
			rc = tkvm_error_set(err, -EIO, "the %s %s shrank while being read (%zu of %zu bytes)", role, path,
					    done, size);
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	if (rc == 0 && !starts_as_elf(bytes, size))
		rc = tkvm_error_set(err, -ENOEXEC, "the %s %s is not an ELF executable (no \\x7fELF header)", role, path);
	if (rc < 0) {
		free(bytes);
		return rc;
	}
	*out = bytes;
	*out_size = size;
	return 0;
}

/* Program names become entry names: one path component of plain ASCII, so
 * the archive reads the same in every locale and with every tar. */
static int check_program_name(const char *name, struct tkvm_error *err)
{
	size_t limit = USTAR_NAME_MAX - strlen("_" STORAGE_SUFFIX);
	char shown[128];
	if (!name || !*name)
		return tkvm_error_set(err, -EINVAL, "the program name is empty");
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return tkvm_error_set(err, -EINVAL, "\"%s\" cannot be a program name", name);
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || *c == '/' || *c == '\\')
			return tkvm_error_set(err, -EINVAL,
					      "program name \"%s\" has a space, '/', '\\' or a non-ASCII byte; "
					      "it becomes an entry name in the archive",
					      printable(name, shown, sizeof shown));
	if (strlen(name) > limit)
		return tkvm_error_set(err, -ENAMETOOLONG, "program name \"%s\" is longer than %zu characters",
				      printable(name, shown, sizeof shown), limit);
	return 0;
}

/* The archive grows in memory; libarchive hands it over block by block. */
struct memory_sink {
	uint8_t *bytes;
	size_t size, capacity;
};

static la_ssize_t sink_write(struct archive *a, void *context, const void *buffer, size_t length)
{
	struct memory_sink *sink = context;
	if (length > sink->capacity - sink->size) {
		size_t capacity = sink->capacity ? sink->capacity : 64 * 1024;
		while (capacity - sink->size < length)
			capacity *= 2;
		uint8_t *grown = realloc(sink->bytes, capacity);
		if (!grown) {
			archive_set_error(a, ENOMEM, "out of memory (archive of %zu bytes)", sink->size + length);
			return -1;
		}
		sink->bytes = grown;
		sink->capacity = capacity;
	}
	memcpy(sink->bytes + sink->size, buffer, length);
	sink->size += length;
	return (la_ssize_t)length;
}

static int libarchive_failed(struct archive *a, const char *what, struct tkvm_error *err)
{
	char shown[512];
	int code = archive_errno(a) > 0 ? -archive_errno(a) : -EIO;
	return tkvm_error_set(err, code, "%s: %s", what, printable(archive_error_string(a), shown, sizeof shown));
}

/* Everything that could vary between runs is fixed here: the owner, the
 * times, the mode; ustar stores no atime or ctime. */
static int write_program_entry(struct archive *a, const char *entry_name, const uint8_t *bytes, size_t size,
			       struct tkvm_error *err)
{
	char what[160];
	snprintf(what, sizeof what, "writing entry %s", entry_name);
	struct archive_entry *entry = archive_entry_new();
	if (!entry)
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", what);
	archive_entry_set_pathname(entry, entry_name);
	archive_entry_set_filetype(entry, AE_IFREG);
	archive_entry_set_perm(entry, 0755);
	archive_entry_set_size(entry, (la_int64_t)size);
	archive_entry_set_mtime(entry, 0, 0);
	archive_entry_set_uid(entry, 0);
	archive_entry_set_gid(entry, 0);
	archive_entry_set_uname(entry, "root");
	archive_entry_set_gname(entry, "root");
	int rc = 0;
	if (archive_write_header(a, entry) != ARCHIVE_OK)
		rc = libarchive_failed(a, what, err);
	for (size_t done = 0; rc == 0 && done < size;) {
		la_ssize_t n = archive_write_data(a, bytes + done, size - done);
		if (n <= 0)
			rc = libarchive_failed(a, what, err);
		else
			done += (size_t)n;
	}
	archive_entry_free(entry);
	return rc;
}

/* xz level 6 (xz's default: an 8 MiB dictionary, so decoding needs little
 * memory) on one thread, since threaded xz splits blocks differently. */
static int open_writer(struct archive *a, struct memory_sink *sink, struct tkvm_error *err)
{
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK || archive_write_add_filter_xz(a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "xz", "compression-level", "6") != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "xz", "threads", "1") != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 10240) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
		return libarchive_failed(a, "setting up tar.xz", err);
	if (archive_write_open(a, sink, NULL, sink_write, NULL) != ARCHIVE_OK)
		return libarchive_failed(a, "starting the archive", err);
	return 0;
}

int archive_pack(const char *name, const char *request_elf_path, const char *storage_elf_path, uint8_t **out,
		 size_t *out_size, struct tkvm_error *err)
{
	*out = NULL;
	*out_size = 0;
	int rc = check_program_name(name, err);
	if (rc < 0)
		return rc;
	uint8_t *request = NULL, *storage = NULL;
	size_t request_size = 0, storage_size = 0;
	rc = read_program_file(request_elf_path, "request program", &request, &request_size, err);
	if (rc == 0 && storage_elf_path)
		rc = read_program_file(storage_elf_path, "storage program", &storage, &storage_size, err);
	if (rc < 0) {
		free(request);
		return rc;
	}

	struct memory_sink sink = { 0 };
	struct archive *a = archive_write_new();
	if (!a)
		rc = tkvm_error_set(err, -ENOMEM, "out of memory starting an archive");
	else
		rc = open_writer(a, &sink, err);
	char entry_name[USTAR_NAME_MAX + 8];
	if (rc == 0)
		rc = write_program_entry(a, archive_request_entry_name(name, entry_name, sizeof entry_name), request,
					 request_size, err);
	if (rc == 0 && storage) {
		snprintf(entry_name, sizeof entry_name, "%s_%s", name, STORAGE_SUFFIX);
		rc = write_program_entry(a, entry_name, storage, storage_size, err);
	}
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = libarchive_failed(a, "finishing the archive", err);
	if (a)
		archive_write_free(a);
	free(request);
	free(storage);
	if (rc < 0) {
		free(sink.bytes);
		return tkvm_error_prefix(err, "packing %s", name);
	}
	*out = sink.bytes;
	*out_size = sink.size;
	return 0;
}

/* ---- Reading ---- */

enum entry_kind { ENTRY_EMPTY, ENTRY_NOT_ELF, ENTRY_ELF };

/* Names of the first two programs of one role, and how many there were:
 * enough for "3 request programs (a, b, ...)". */
struct role_count {
	unsigned count;
	char first[128], second[128];
};

struct reader {
	struct archive *archive;
	const char *source;
	settings_warning_fn warn;
	void *warn_context;
	struct tkvm_error *err;
	struct archive_programs *out;
	size_t total_bytes; /* entry data decompressed so far, counted as read */
	unsigned entries;
	struct role_count requests, storages;
	char first_empty[128]; /* an empty file, named when no request ELF turns up */
};

static void reader_warn(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reader_warn(struct reader *r, const char *fmt, ...)
{
	if (!r->warn)
		return;
	char message[1024];
	int n = snprintf(message, sizeof message, "%s: ", r->source);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message + n, sizeof message - (size_t)n, fmt, ap);
	va_end(ap);
	r->warn(r->warn_context, message);
}

/* "source: what: libarchive's reason", for whichever pass failed. */
static int reader_libarchive_failed(struct reader *r, struct archive *a, const char *what)
{
	char shown[512];
	return tkvm_error_set(r->err, -EINVAL, "%s: %s: %s", r->source, what,
			      printable(archive_error_string(a), shown, sizeof shown));
}

static int take_raw_elf(const uint8_t *data, size_t size, const char *source, struct archive_programs *out,
			struct tkvm_error *err)
{
	if (size > ARCHIVE_MAX_ELF_BYTES)
		return tkvm_error_set(err, -EFBIG, "%s: the ELF is %zu bytes; at most %u MiB are accepted", source, size,
				      ARCHIVE_MAX_ELF_BYTES / MIB);
	out->request_elf = malloc(size);
	if (!out->request_elf)
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory (%zu bytes)", source, size);
	memcpy(out->request_elf, data, size);
	out->request_size = size;
	out->raw_elf = true;
	return 0;
}

/* What the bytes look like when they are not tar.xz, for the message. */
static const char *format_hint(const uint8_t *data, size_t size)
{
	static const struct {
		const char *magic;
		size_t length;
		const char *what;
	} kinds[] = {
		{ "\x1f\x8b", 2, "gzip-compressed data" },
		{ "BZh", 3, "bzip2-compressed data" },
		{ "\x28\xb5\x2f\xfd", 4, "zstd-compressed data" },
		{ "PK\x03\x04", 4, "a zip archive" },
		{ "LZIP", 4, "lzip-compressed data" },
		{ "\x5d\x00\x00", 3, "lzma-compressed data" },
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (size >= kinds[i].length && !memcmp(data, kinds[i].magic, kinds[i].length))
			return kinds[i].what;
	if (size >= 262 && !memcmp(data + 257, "ustar", 5))
		return "an uncompressed tar";
	return NULL;
}

static int not_tar_xz(struct reader *r, const uint8_t *data, size_t size)
{
	if (size < sizeof xz_magic && !memcmp(data, xz_magic, size))
		return tkvm_error_set(r->err, -EINVAL, "%s: truncated xz data (%zu bytes, not even the header)", r->source,
				      size);
	const char *hint = format_hint(data, size);
	if (hint)
		return tkvm_error_set(r->err, -EINVAL, "%s: not a tar.xz archive or an ELF (it is %s; programs are "
				      "fetched as tar.xz or a raw ELF)", r->source, hint);
	return tkvm_error_set(r->err, -EINVAL, "%s: not a tar.xz archive or an ELF", r->source);
}

/* Accepts exactly one xz layer over the raw bytes, as the VMOD does. */
static bool filters_are_xz(struct archive *a)
{
	return archive_filter_count(a) == 2 && archive_filter_code(a, 0) == ARCHIVE_FILTER_XZ &&
	       archive_filter_code(a, 1) == ARCHIVE_FILTER_NONE;
}

static int append_bytes(uint8_t **bytes, size_t *size, size_t *capacity, const uint8_t *chunk, size_t n)
{
	if (n > *capacity - *size) {
		size_t grown_capacity = *capacity ? *capacity : 64 * 1024;
		while (grown_capacity - *size < n)
			grown_capacity *= 2;
		uint8_t *grown = realloc(*bytes, grown_capacity);
		if (!grown)
			return -ENOMEM;
		*bytes = grown;
		*capacity = grown_capacity;
	}
	memcpy(*bytes + *size, chunk, n);
	*size += n;
	return 0;
}

/* Reads the current entry's data, keeping it only while it can still be an
 * ELF. Every entry's data is read and counted (never the header's size,
 * which sparse entries and liars make meaningless), so the total limit
 * also bounds the work spent on entries that are skipped. */
static int read_entry_data(struct reader *r, const char *shown_path, bool keep, enum entry_kind *kind,
			   uint8_t **out, size_t *out_size)
{
	uint8_t chunk[16 * 1024];
	uint8_t *bytes = NULL;
	size_t size = 0, capacity = 0, seen = 0;
	bool not_elf = false;
	int rc = 0;
	*out = NULL;
	*out_size = 0;
	for (;;) {
		la_ssize_t n = archive_read_data(r->archive, chunk, sizeof chunk);
		if (n == 0)
			break;
		if (n < 0) {
			char what[256];
			snprintf(what, sizeof what, "reading %s", shown_path);
			rc = reader_libarchive_failed(r, r->archive, what);
			break;
		}
		if ((size_t)n > ARCHIVE_MAX_TOTAL_BYTES - r->total_bytes) {
			rc = tkvm_error_set(r->err, -EFBIG, "%s: more than %u MiB of contents; an archive holds at most that",
					    r->source, ARCHIVE_MAX_TOTAL_BYTES / MIB);
			break;
		}
		r->total_bytes += (size_t)n;
		seen += (size_t)n;
		if (!keep || not_elf)
			continue;
		if (size + (size_t)n > ARCHIVE_MAX_ELF_BYTES) {
			rc = tkvm_error_set(r->err, -EFBIG, "%s: %s is larger than %u MiB, the limit for one program",
					    r->source, shown_path, ARCHIVE_MAX_ELF_BYTES / MIB);
			break;
		}
		if (append_bytes(&bytes, &size, &capacity, chunk, (size_t)n) < 0) {
			rc = tkvm_error_set(r->err, -ENOMEM, "%s: out of memory reading %s (%zu bytes)", r->source,
					    shown_path, size + (size_t)n);
			break;
		}
		if (size >= sizeof elf_magic && !starts_as_elf(bytes, size)) {
			not_elf = true; /* read on for the count, keep nothing */
			free(bytes);
			bytes = NULL;
			size = capacity = 0;
		}
	}
	if (rc < 0 || !keep) {
		free(bytes);
		*kind = ENTRY_NOT_ELF;
		return rc;
	}
	if (seen == 0)
		*kind = ENTRY_EMPTY;
	else if (not_elf || !starts_as_elf(bytes, size))
		*kind = ENTRY_NOT_ELF;
	else
		*kind = ENTRY_ELF;
	if (*kind != ENTRY_ELF) {
		free(bytes);
		return 0;
	}
	*out = bytes;
	*out_size = size;
	return 0;
}

static void count_role(struct role_count *role, const char *shown_path)
{
	if (role->count == 0)
		snprintf(role->first, sizeof role->first, "%s", shown_path);
	else if (role->count == 1)
		snprintf(role->second, sizeof role->second, "%s", shown_path);
	role->count++;
}

/* Files into out: the first ELF of each role is kept, later ones are only
 * counted for the error message. */
static int take_program(struct reader *r, const char *base, const char *shown_path, uint8_t *bytes, size_t size)
{
	bool storage = ends_in_storage(base);
	struct role_count *role = storage ? &r->storages : &r->requests;
	char **name = storage ? &r->out->storage_name : &r->out->request_name;
	uint8_t **elf = storage ? &r->out->storage_elf : &r->out->request_elf;
	size_t *elf_size = storage ? &r->out->storage_size : &r->out->request_size;
	count_role(role, shown_path);
	if (role->count > 1) {
		free(bytes);
		return 0;
	}
	*name = strdup(base);
	if (!*name) {
		free(bytes);
		return tkvm_error_set(r->err, -ENOMEM, "%s: out of memory", r->source);
	}
	*elf = bytes;
	*elf_size = size;
	return 0;
}

static int read_one_entry(struct reader *r, struct archive_entry *entry)
{
	const char *path = archive_entry_pathname(entry);
	if (!path)
		path = archive_entry_pathname_utf8(entry);
	if (!path)
		path = "";
	char shown_path[128];
	printable(path, shown_path, sizeof shown_path);
	/* Hard links carry no data of their own in tar: nothing to load. */
	bool regular = archive_entry_filetype(entry) == AE_IFREG && !archive_entry_hardlink(entry);
	enum entry_kind kind;
	uint8_t *bytes;
	size_t size;
	int rc = read_entry_data(r, shown_path, regular, &kind, &bytes, &size);
	if (rc < 0 || !regular)
		return rc;
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (!*base) { /* "" or "dir/": no name to tell request from storage */
		free(bytes);
		reader_warn(r, "entry \"%s\" has no file name (skipped)", shown_path);
		return 0;
	}
	if (kind == ENTRY_ELF)
		return take_program(r, base, shown_path, bytes, size);
	if (kind == ENTRY_EMPTY) {
		if (!r->first_empty[0] && !ends_in_storage(base))
			snprintf(r->first_empty, sizeof r->first_empty, "%s", shown_path);
		reader_warn(r, "%s is empty, not an ELF (skipped)", shown_path);
	} else {
		reader_warn(r, "%s is not an ELF (skipped)", shown_path);
	}
	return 0;
}

static int too_many(struct reader *r, const struct role_count *role, const char *what, const char *rule)
{
	return tkvm_error_set(r->err, -EINVAL, "%s: %u %s programs (%s, %s%s); %s", r->source, role->count, what,
			      role->first, role->second, role->count > 2 ? ", ..." : "", rule);
}

/* The rules of spec "Program archive", checked once every entry is read so
 * the message can count what was there. */
static int check_roles(struct reader *r)
{
	if (r->requests.count > 1)
		return too_many(r, &r->requests, "request", "an archive holds exactly one");
	if (r->storages.count > 1)
		return too_many(r, &r->storages, "storage", "an archive holds at most one");
	if (r->requests.count == 1)
		return 0;
	if (r->first_empty[0])
		return tkvm_error_set(r->err, -EINVAL, "%s: no request program: %s is empty (0 bytes), not an ELF",
				      r->source, r->first_empty);
	if (r->storages.count)
		return tkvm_error_set(r->err, -EINVAL,
				      "%s: no request program, only the storage program %s (names ending in \"%s\" "
				      "are storage programs)",
				      r->source, r->storages.first, STORAGE_SUFFIX);
	if (r->entries == 0)
		return tkvm_error_set(r->err, -EINVAL, "%s: the archive is empty; it must hold a request program (an ELF)",
				      r->source);
	return tkvm_error_set(r->err, -EINVAL, "%s: no request program: none of the %u entries is an ELF", r->source,
			      r->entries);
}

/* libarchive's tar reader stops at the end-of-archive blocks, and may do
 * so before xz has checked the last block's CRC, its index and footer: a
 * flipped bit in a program, or a cut in tar's padding, would pass. So a
 * first pass decodes the whole xz stream as one raw blob, discarding it,
 * which runs every check and bounds the decompressed size before the tar
 * pass reads anything. */
static int verify_xz_stream(struct reader *r, const uint8_t *data, size_t size)
{
	struct archive *a = archive_read_new();
	if (!a)
		return tkvm_error_set(r->err, -ENOMEM, "%s: out of memory", r->source);
	struct archive_entry *entry;
	uint8_t chunk[16 * 1024];
	size_t total = 0;
	int rc = 0;
	if (size < sizeof xz_magic || memcmp(data, xz_magic, sizeof xz_magic) != 0)
		rc = not_tar_xz(r, data, size);
	else if (archive_read_support_filter_xz(a) != ARCHIVE_OK || archive_read_support_format_raw(a) != ARCHIVE_OK)
		rc = reader_libarchive_failed(r, a, "setting up xz reading");
	else if (archive_read_open_memory(a, data, size) != ARCHIVE_OK ||
		 archive_read_next_header(a, &entry) != ARCHIVE_OK)
		rc = reader_libarchive_failed(r, a, "corrupt or truncated xz data");
	else if (!filters_are_xz(a))
		rc = tkvm_error_set(r->err, -EINVAL, "%s: not a tar.xz archive (compressed more than once); the VMOD "
				    "reads tar inside one layer of xz", r->source);
	while (rc == 0) {
		la_ssize_t n = archive_read_data(a, chunk, sizeof chunk);
		if (n == 0)
			break;
		if (n < 0)
			rc = reader_libarchive_failed(r, a, "corrupt or truncated xz data");
		else if ((size_t)n > ARCHIVE_MAX_TOTAL_BYTES - total)
			rc = tkvm_error_set(r->err, -EFBIG, "%s: decompresses to more than %u MiB; an archive holds at "
					    "most that", r->source, ARCHIVE_MAX_TOTAL_BYTES / MIB);
		else
			total += (size_t)n;
	}
	archive_read_free(a);
	return rc;
}

static int read_entries(struct reader *r, const uint8_t *data, size_t size)
{
	int rc = verify_xz_stream(r, data, size);
	if (rc < 0)
		return rc;
	struct archive *a = r->archive;
	if (archive_read_support_filter_xz(a) != ARCHIVE_OK || archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_format_gnutar(a) != ARCHIVE_OK)
		return reader_libarchive_failed(r, a, "setting up tar.xz reading");
	/* The xz stream is sound: failing from here on means it holds no tar
	 * (libarchive looks for the format while opening). */
	if (archive_read_open_memory(a, data, size) != ARCHIVE_OK)
		return reader_libarchive_failed(r, a, "not a valid tar.xz archive");
	if (!filters_are_xz(a)) /* the first pass saw one xz layer: never here */
		return tkvm_error_set(r->err, -EINVAL, "%s: not a tar.xz archive", r->source);
	for (;;) {
		struct archive_entry *entry;
		int status = archive_read_next_header(a, &entry);
		if (status == ARCHIVE_EOF)
			break;
		if (status == ARCHIVE_WARN) {
			char shown[512];
			reader_warn(r, "%s", printable(archive_error_string(a), shown, sizeof shown));
		} else if (status != ARCHIVE_OK) {
			char what[160];
			snprintf(what, sizeof what, r->entries ? "corrupt or truncated archive after %u entries"
							       : "not a valid tar.xz archive", r->entries);
			return reader_libarchive_failed(r, a, what);
		}
		if (++r->entries > ARCHIVE_MAX_ENTRIES)
			return tkvm_error_set(r->err, -EFBIG, "%s: more than %u entries; an archive holds at most that",
					      r->source, ARCHIVE_MAX_ENTRIES);
		rc = read_one_entry(r, entry);
		if (rc < 0)
			return rc;
	}
	return check_roles(r);
}

int archive_read_programs(const uint8_t *data, size_t size, const char *source, struct archive_programs *out,
			  settings_warning_fn warn, void *warn_context, struct tkvm_error *err)
{
	memset(out, 0, sizeof *out);
	char shown_source[256]; /* a URL from a library JSON may hold anything */
	source = printable(source ? source : "archive", shown_source, sizeof shown_source);
	if (size == 0 || !data)
		return tkvm_error_set(err, -EINVAL, "%s: empty (0 bytes); expected a tar.xz archive or an ELF", source);
	if (starts_as_elf(data, size)) {
		int rc = take_raw_elf(data, size, source, out, err);
		if (rc < 0)
			archive_programs_free(out);
		return rc;
	}
	struct reader r = {
		.source = source, .warn = warn, .warn_context = warn_context, .err = err, .out = out,
	};
	r.archive = archive_read_new();
	if (!r.archive)
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", source);
	int rc = read_entries(&r, data, size);
	archive_read_free(r.archive);
	if (rc < 0)
		archive_programs_free(out);
	return rc;
}

void archive_programs_free(struct archive_programs *programs)
{
	if (!programs)
		return;
	free(programs->request_name);
	free(programs->request_elf);
	free(programs->storage_name);
	free(programs->storage_elf);
	memset(programs, 0, sizeof *programs);
}
