/* Publishing a program to a library host: upload its archive and
 * signature, then add or replace its member in the library JSON there,
 * leaving every other member, group and comment as it was.
 *
 * http(s): HTTP PUT, as nginx's dav module serves it. The library is
 * read-modified-written under a WebDAV LOCK when the server offers class
 * 2 (OPTIONS says "DAV: 1, 2"), and the PUT is conditional (If-Match on
 * the ETag read, If-None-Match: * when there was no library), so that
 * servers honouring either make concurrent publishers retry instead of
 * losing each other's entries; a 412 or 423 means read again and retry.
 * After writing, the library is read back to check the entry is there.
 * file://: a directory; the same read-modify-write under an exclusive
 * flock on LIBRARY.lock (released by the kernel if the publisher dies),
 * every file replaced by an atomic rename. Either way a publisher killed
 * at any point leaves the old library or the new one, never a torn one. */
#ifndef TKVM_PACKAGER_PUBLISH_H
#define TKVM_PACKAGER_PUBLISH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "packager/transfer.h"
#include "runner/error.h"

#define PUBLISH_LIBRARY_NAME "library.json"

struct publish_file {
	const char *name;    /* file name under the base URL ("hello.tar.xz") */
	const uint8_t *data;
	size_t size;
};

struct publish_options {
	const char *base_url;      /* "https://host/programs/" or "file:///srv/programs/" */
	const char *library_name;  /* NULL = "library.json" */
	const char *program;       /* the member's name */
	const struct publish_file *files; /* uploaded in order before the library */
	size_t file_count;
	const char *archive_name;  /* which file the entry's "uri" names */
	const char *settings_json; /* the program's settings (tkvm.json "program"), an object, or NULL */
	const char *elf_sha256;    /* "sha256" of the entry */
	const char *filename;      /* "filename" of the entry when it has none yet; NULL = none */
	bool dry_run;              /* read the library, change nothing */
	long max_send_speed;       /* bytes per second for uploads, 0 = unlimited */
	transfer_progress_fn progress; /* upload progress (the archive) */
	void *progress_context;
	void (*say)(void *context, const char *line); /* one line per step done */
	void *say_context;
};

struct publish_result {
	char *library_url;
	char *old_member; /* the member's value before (NULL when new) */
	char *new_member; /* its value after */
	bool library_created;
	int attempts;     /* read-modify-write rounds (> 1 after a conflict) */
};

int publish_program(const struct publish_options *options, struct publish_result *result, struct tkvm_error *err);
void publish_result_free(struct publish_result *result);

/* The member's value for the library: "uri", "filename" (kept from the
 * existing member when it has one), "sha256", then the settings. Exposed
 * for tests. existing_member is the current value text or NULL. */
int publish_member_json(const struct publish_options *options, const char *uri, const char *existing_member,
			char **out, struct tkvm_error *err);
#endif
