/* Fixtures from a HAR capture (HTTP Archive 1.2, as browsers' developer
 * tools, proxies and curl wrappers export it): one fixture per entry whose
 * URL goes to the program, with the entry's request, and its response's
 * status, Content-Type and body as the expectation. Fetches stay empty
 * (the capture cannot know them; `tkvm test --record` records them).
 * Secrets in request headers are redacted; hop-by-hop headers left out. */
#ifndef TKVM_CLI_HAR_IMPORT_H
#define TKVM_CLI_HAR_IMPORT_H
#include <stdbool.h>
#include <stddef.h>
#include "cli/fixture.h"
#include "runner/error.h"

struct har_import_options {
	const char *directory; /* where the fixtures go (made when missing) */
	const char *base_url;  /* only entries under it, cut off their URLs; NULL: every http(s) entry */
	bool force;            /* replace fixture files that exist */
	const struct fixture_redaction *redaction;
};

struct har_import_entry {
	size_t index;      /* in log.entries */
	char *method, *url;
	char *file;        /* the fixture written, or NULL when skipped */
	char why[200];     /* why it was skipped */
};

struct har_import_result {
	struct har_import_entry *entries;
	size_t count;
};

/* Returns 0 (entries may still have been skipped, each saying why), or a
 * negative code for a file that is not a HAR at all ("capture.har:3:
 * ..."), or that cannot be written. */
int har_import(const char *har_path, const struct har_import_options *options, struct har_import_result *result,
	       struct tkvm_error *err);
void har_import_result_free(struct har_import_result *result);

/* A file-name-safe slug of a request: "get-api-users" for GET
 * /api/users?id=1, "get-root" for GET /. At most size - 1 bytes. */
void har_fixture_slug(const char *method, const char *url, char *slug, size_t size);
#endif
