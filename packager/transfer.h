/* One transfer through libcurl, for everything tkvm moves to and from a
 * library host: fetching a library JSON and its archives (http, https,
 * file), and publishing (HTTP PUT and the WebDAV methods nginx's dav
 * modules serve: OPTIONS, LOCK, UNLOCK, MKCOL). Bodies stay in memory,
 * capped; the headers publishing needs are picked out of the answer.
 * Failures name the method, the URL and what curl said. */
#ifndef TKVM_PACKAGER_TRANSFER_H
#define TKVM_PACKAGER_TRANSFER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "runner/error.h"

/* Called while a body is sent: bytes sent so far of total. */
typedef void (*transfer_progress_fn)(void *context, uint64_t sent, uint64_t total);

struct transfer_request {
	const char *method;          /* "GET" when NULL */
	const char *url;
	const uint8_t *body;         /* sent when send_body (PUT, LOCK) */
	size_t body_size;
	bool send_body;
	const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
	time_t if_modified_since;    /* 0: unconditional */
	size_t max_body;             /* larger answers fail; 0 = 64 MiB */
	long timeout_seconds;        /* whole transfer; 0 = none (uploads of any size) */
	long max_send_speed;         /* bytes per second; 0 = unlimited */
	transfer_progress_fn progress;
	void *progress_context;
};

struct transfer_response {
	long status;          /* HTTP status; file:// gives 200, or 304 when not modified */
	uint8_t *body;        /* NUL-terminated (not counted in body_size) */
	size_t body_size;
	char *etag;           /* ETag, as sent (quotes kept), or NULL */
	char *lock_token;     /* Lock-Token without the angle brackets, or NULL */
	char *dav;            /* DAV header ("1, 2"), or NULL */
	time_t last_modified; /* Last-Modified (file:// : mtime), -1 when unknown */
};

/* Sets up libcurl and the connection cache transfers share; safe to call
 * more than once and from any thread (transfer_perform calls it too). */
void transfer_global_init(void);

/* Performs the request. Returns 0 when an answer came (any status), or a
 * negative code when none did: "GET http://x/library.json: Couldn't
 * connect to server (Connection refused)". */
int transfer_perform(const struct transfer_request *request, struct transfer_response *response,
		     struct tkvm_error *err);
void transfer_response_free(struct transfer_response *response);

/* "404 Not Found" for a status, for messages; 401 says where credentials come
 * from. buf holds TRANSFER_STATUS_TEXT_SIZE bytes. */
#define TRANSFER_STATUS_TEXT_SIZE 160
const char *transfer_status_text(long status, char *buf, size_t size);

/* Whether url is one transfer_perform takes (http://, https://, file://). */
bool transfer_url_supported(const char *url);
#endif
