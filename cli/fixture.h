/* Recorded HTTP fixtures for `tkvm test`: one JSON file holding a request,
 * what to expect of the program's answer, and the outbound fetches the
 * program made (so they can be answered without the network). Loading
 * validates everything and names the file and line of any problem;
 * saving writes the file atomically with secrets in headers redacted.
 *
 * {"name": "hello",
 *  "request": {"method": "GET", "url": "/", "arg": "", "headers": ["Name: value"],
 *              "body": "text" | "body_base64": "..." | "body_file": "path"},
 *  "expect":  {"status": 200, "headers": ["Content-Type: text/plain"],
 *              "body": "exact" | "body_base64" | "body_file" | "body_contains" | "body_regex" | "body_sha256"},
 *  "fetches": [{"request": {"method", "url", "headers", "body" | "body_base64"},
 *               "response": {"status", "content_type", "headers", "body" | "body_base64" | "body_file"}}]}
 *
 * Paths are relative to the fixture's directory. */
#ifndef TKVM_CLI_FIXTURE_H
#define TKVM_CLI_FIXTURE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/error.h"
#include "runner/tkvm.h"

#define FIXTURE_MAX_HEADERS TKVM_MAX_REQUEST_HEADERS
/* Recorded bodies larger than this go to a file beside the fixture. */
#define FIXTURE_INLINE_LIMIT (64u * 1024)
/* The value secrets are replaced with; as an expected header value it
 * matches any value. */
#define FIXTURE_REDACTED "<redacted>"

enum fixture_body_form {
	FIXTURE_BODY_NONE,   /* no body given */
	FIXTURE_BODY_TEXT,   /* "body" */
	FIXTURE_BODY_BASE64, /* "body_base64" */
	FIXTURE_BODY_FILE,   /* "body_file" */
};

struct fixture_body {
	enum fixture_body_form form;
	uint8_t *data; /* NUL-terminated; length bytes */
	size_t length;
	char *file;    /* body_file as written, relative to the fixture */
};

/* How the answer's body is checked. */
enum fixture_check {
	FIXTURE_CHECK_NONE,
	FIXTURE_CHECK_EXACT,    /* body, body_base64, body_file: expect.body */
	FIXTURE_CHECK_CONTAINS, /* body_contains: expect.pattern */
	FIXTURE_CHECK_REGEX,    /* body_regex (POSIX ERE; ^ and $ at line ends, as grep -E): expect.pattern */
	FIXTURE_CHECK_SHA256,   /* body_sha256: expect.pattern, lowercase hex */
};

/* One outbound fetch and its answer (or the transport error it got). */
struct fixture_fetch {
	char *method, *url;
	char **request_headers;
	size_t request_header_count;
	struct fixture_body request_body;
	int status;
	char *content_type;
	char **response_headers;
	size_t response_header_count;
	struct fixture_body response_body;
	int curl_code;  /* a recorded failure: the CURLcode (with error); 0 for an answer */
	char *error;
	int line;       /* of the fetch in its file; 0 for a fetch made now */
};

struct fixture_expect {
	int status;     /* 0: not checked */
	char **headers; /* "Name: value" that must be among the answer's headers */
	size_t header_count;
	enum fixture_check check;
	struct fixture_body body;
	char *pattern;
};

struct fixture {
	char *path;        /* the file as named */
	char *directory;   /* where its relative paths start */
	char *name;        /* "name", or the file name without .json */
	char *description; /* kept as is when saving */
	char *method, *url;
	char *arg;         /* NULL: the URL's query string */
	char **headers;
	size_t header_count;
	struct fixture_body body;
	struct fixture_expect expect;
	struct fixture_fetch *fetches;
	size_t fetch_count;
};

/* Reads and validates a fixture file, and the body files it names.
 * Errors read "tests/x.json:7: expect.status must be ..." */
int fixture_load(const char *path, struct fixture *fixture, struct tkvm_error *err);
/* The same from text already read (path names it and locates body files). */
int fixture_parse(const char *text, size_t length, const char *path, struct fixture *fixture, struct tkvm_error *err);
void fixture_free(struct fixture *fixture);
void fixture_fetch_free(struct fixture_fetch *fetch);
void fixture_free_lines(char **lines, size_t count);
void fixture_body_free(struct fixture_body *body);
/* Replaces a body's bytes (copied): a body_file stays one, anything else
 * becomes text or base64 by what the bytes are. 0 or -ENOMEM. */
int fixture_body_set(struct fixture_body *body, const uint8_t *data, size_t length);
/* Sets fixture->path, ->directory and ->name (from the file name unless
 * given) for a fixture built in memory; 0 or -ENOMEM. */
int fixture_set_path(struct fixture *fixture, const char *path, const char *name);

/* Header names whose values are replaced by FIXTURE_REDACTED when saving. */
struct fixture_redaction {
	const char *const *names; /* on top of Authorization, Cookie, Set-Cookie, Proxy-Authorization */
	size_t count;
};
bool fixture_header_is_secret(const struct fixture_redaction *redaction, const char *line);

/* Writes the fixture to fixture->path (atomically), redacting secrets in
 * expect.headers and in the fetches (the request part is written as
 * given: redact it first with fixture_redact_request when it is new).
 * Bodies go inline as text or base64, or to their body_file; bodies over
 * FIXTURE_INLINE_LIMIT without one get a file beside the fixture. */
int fixture_save(struct fixture *fixture, const struct fixture_redaction *redaction, struct tkvm_error *err);
void fixture_redact_request(struct fixture *fixture, const struct fixture_redaction *redaction);

/* The fixture as JSON text (what fixture_save writes), malloc'd. */
char *fixture_to_text(struct fixture *fixture, const struct fixture_redaction *redaction, struct tkvm_error *err);

/* "Name: value" checks shared by the loader and the commands: a token
 * name, a colon, a value without control characters (tab allowed).
 * Returns NULL when fine, else why not. */
const char *fixture_header_problem(const char *line);
bool fixture_method_valid(const char *method);
#endif
