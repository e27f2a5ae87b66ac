/* The HTTP side of `tkvm serve`: libmicrohttpd glue that knows nothing of
 * programs. It parses requests (HTTP/1.1, keep-alive, chunked bodies),
 * enforces the size limits, hands each complete request to a handler and
 * sends the handler's reply, then writes one access-log line. */
#ifndef TKVM_CLI_HTTP_SERVER_H
#define TKVM_CLI_HTTP_SERVER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "cli/access_log.h"

/* A request header as the program receives it: "Name: value". */
struct http_header_line {
	const char *line;
	size_t length;
	size_t name_length; /* the part before the colon */
};

struct http_request {
	const char *method;
	const char *target;  /* the raw request target, "/path?query" */
	const char *path;    /* the raw path, percent escapes kept */
	const char *query;   /* after '?', or NULL when there is none */
	const char *version; /* "HTTP/1.1" */
	const struct http_header_line *headers;
	size_t header_count;
	const uint8_t *body; /* NULL until the whole body has arrived */
	size_t body_length;
	uint64_t declared_body_length; /* Content-Length, or 0 */
};

/* What the handler answers. Every pointer is owned (malloc) and freed by
 * the server after sending; the log fields say what happened. */
struct http_reply {
	int status; /* 0 = no reply yet */
	char *content_type;
	char **headers; /* "Name: value" */
	size_t header_count;
	uint8_t *body;
	size_t body_length;
	struct access_log_detail log;
};

/* Called twice per request, from the connection's thread (several run at
 * once): first with the headers only (request->body NULL), where a reply
 * ends the request before its body is read (unknown program, wrong key);
 * then, unless that happened, with the whole body. */
typedef void (*http_handler_fn)(void *context, const struct http_request *request, struct http_reply *reply);

struct http_server_options {
	int listen_fd;          /* bound and listening */
	size_t max_body;        /* bytes; larger bodies get 413 */
	size_t max_headers;     /* more get 431 */
	size_t max_header_line; /* a longer "Name: value" gets 431 */
	http_handler_fn on_headers, on_request;
	void *context;
	struct access_log *log; /* NULL: no access log */
};

struct http_server;

/* Opens the listening socket for ADDRESS ("PORT", ":PORT" for every
 * interface, "HOST:PORT", "[IPV6]:PORT"; port 0 picks a free port) and
 * writes the URL it serves ("http://127.0.0.1:8080/"). Returns 0, -1 for a
 * malformed address, -2 when it cannot listen; message says why. */
int http_server_listen(const char *address, int *fd, char *url, size_t url_size, char *message, size_t message_size);

/* Starts serving in background threads (one per connection). Returns NULL
 * with *message set on failure. */
struct http_server *http_server_start(const struct http_server_options *options, const char **message);

/* Stops accepting connections; requests on open connections still run and
 * are answered with "Connection: close". */
void http_server_quiesce(struct http_server *server);

/* Requests received and not yet fully answered. */
unsigned http_server_in_flight(struct http_server *server);

/* Closes every connection and joins every thread; then frees the server. */
void http_server_stop(struct http_server *server);

/* Reply helpers: a short text body ("...\n" added when missing). */
void http_reply_text(struct http_reply *reply, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets reply->log.cause (copied), like printf. */
void http_reply_cause(struct http_reply *reply, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a header line "Name: value" to the reply; returns 0 or -1 (no memory). */
int http_reply_add_header(struct http_reply *reply, const char *name, const char *value);
void http_reply_free(struct http_reply *reply);

/* The value of a request header (case-insensitive name, first of that
 * name), NUL-terminated, or NULL when absent. */
const char *http_request_header(const struct http_request *request, const char *name);
#endif
