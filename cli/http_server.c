/* libmicrohttpd glue for `tkvm serve` (see http_server.h).
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION).
 * A request blocks its thread while a program runs in a VM, for up to the
 * queue timeout plus max_request_time, so the handler must be free to
 * block; the runner queues requests for its pool of VMs. Idle keep-alive
 * connections cost a sleeping thread each, which is fine for a local
 * server.
 *
 * Life of a request: the URI callback creates its state (and counts it in
 * flight), the access handler is called with the headers, then with each
 * piece of the body, then once more when the body is complete; the
 * completion callback writes the access-log line and frees the state. */
#include "cli/http_server.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Per connection: headers plus the read buffer for the body. The default
 * (32 KB) caps the request line and headers at about that much; more gets
 * libmicrohttpd's own 431. */
#define CONNECTION_MEMORY_LIMIT (64 * 1024)
#define IDLE_CONNECTION_TIMEOUT_SECONDS 60
#define MAX_CONNECTIONS 512

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_options options;
	atomic_uint in_flight;
	atomic_bool quiescing;
};

struct request_state {
	struct http_server *server;
	struct timespec start;
	char remote[INET6_ADDRSTRLEN + 8];
	char *target;
	char *path; /* target up to '?' */
	const char *query;
	char *method, *version;
	bool headers_seen, replied;
	bool raw_reply; /* the 413 written by body_too_large */
	struct http_header_line *headers;
	size_t header_count;
	char *header_text;
	uint64_t declared_body_length;
	uint8_t *body;
	size_t body_length, body_capacity;
	struct http_reply reply;
	uint64_t bytes;
};

/* Set on a connection's thread when it closes the connection on purpose
 * (after its own 413), so that libmicrohttpd's complaint is not logged. */
static __thread bool closing_on_purpose;

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Reply helpers. */

void http_reply_cause(struct http_reply *reply, const char *fmt, ...)
{
	char text[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	free(reply->log.cause);
	reply->log.cause = strdup(text);
}

void http_reply_text(struct http_reply *reply, int status, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	free(reply->body);
	free(reply->content_type);
	reply->body = NULL;
	reply->body_length = 0;
	reply->status = status;
	reply->content_type = strdup("text/plain; charset=utf-8");
	if (n < 0)
		return;
	if (n == 0 || text[n - 1] != '\n') {
		char *longer = realloc(text, (size_t)n + 2);
		if (!longer) {
			free(text);
			return;
		}
		text = longer;
		text[n++] = '\n';
		text[n] = 0;
	}
	reply->body = (uint8_t *)text;
	reply->body_length = (size_t)n;
}

int http_reply_add_header(struct http_reply *reply, const char *name, const char *value)
{
	char **more = realloc(reply->headers, (reply->header_count + 1) * sizeof *more);
	if (!more)
		return -1;
	reply->headers = more;
	if (asprintf(&more[reply->header_count], "%s: %s", name, value) < 0)
		return -1;
	reply->header_count++;
	return 0;
}

void http_reply_free(struct http_reply *reply)
{
	free(reply->content_type);
	for (size_t i = 0; i < reply->header_count; i++)
		free(reply->headers[i]);
	free(reply->headers);
	free(reply->body);
	free(reply->log.cause);
	memset(reply, 0, sizeof *reply);
	reply->log.vm = -1;
}

const char *http_request_header(const struct http_request *request, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < request->header_count; i++) {
		const struct http_header_line *h = &request->headers[i];
		if (h->name_length == n && strncasecmp(h->line, name, n) == 0)
			return h->line + n + 2; /* lines are built as "Name: value" */
	}
	return NULL;
}

/* Request state. */

static void *on_uri(void *context, const char *uri, struct MHD_Connection *connection)
{
	struct http_server *server = context;
	struct request_state *st = calloc(1, sizeof *st);
	if (!st)
		return NULL;
	st->server = server;
	st->reply.log.vm = -1;
	clock_gettime(CLOCK_MONOTONIC, &st->start);
	st->target = strdup(uri ? uri : "");
	st->path = strdup(st->target ? st->target : "");
	if (st->path) {
		char *q = strchr(st->path, '?');
		if (q) {
			*q = 0;
			st->query = q + 1;
		}
	}
	strcpy(st->remote, "-");
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info && info->client_addr) {
		const struct sockaddr *sa = info->client_addr;
		socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		if (getnameinfo(sa, len, st->remote, sizeof st->remote, NULL, 0, NI_NUMERICHOST) != 0)
			strcpy(st->remote, "-");
	}
	atomic_fetch_add(&server->in_flight, 1);
	return st;
}

static const char *termination_cause(enum MHD_RequestTerminationCode code)
{
	switch (code) {
	case MHD_REQUEST_TERMINATED_COMPLETED_OK: return NULL;
	case MHD_REQUEST_TERMINATED_WITH_ERROR: return "malformed request, or the answer could not be sent";
	case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "connection timed out";
	case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "server shutting down";
	case MHD_REQUEST_TERMINATED_READ_ERROR: return "read error (client closed the connection?)";
	case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client closed the connection";
	default: return "connection closed";
	}
}

static void on_completed(void *context, struct MHD_Connection *connection, void **request_context,
			 enum MHD_RequestTerminationCode code)
{
	struct http_server *server = context;
	struct request_state *st = *request_context;
	if (!st)
		return;
	*request_context = NULL;
	/* A request libmicrohttpd refused itself (oversized headers, bad
	 * chunking) never reached the handler: log the status it sent. */
	int status = st->replied ? st->reply.status : 0;
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_HTTP_STATUS);
	if (!st->replied && info && info->http_status)
		status = (int)info->http_status;
	const char *why = st->raw_reply ? NULL : termination_cause(code);
	if (!st->replied && status && code != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		why = "rejected by libmicrohttpd (malformed or oversized request)";
	if (why && !st->reply.log.cause)
		http_reply_cause(&st->reply, "%s%s", st->replied ? "after the answer: " : "", why);
	struct access_log_entry entry = {
		.remote = st->remote,
		.method = st->method,
		.target = st->target,
		.version = st->version,
		.status = status,
		.bytes = code == MHD_REQUEST_TERMINATED_COMPLETED_OK || st->raw_reply ? st->bytes : 0,
		.seconds = seconds_since(&st->start),
		.detail = &st->reply.log,
	};
	if (server->options.log)
		access_log_write(server->options.log, &entry);
	http_reply_free(&st->reply);
	free(st->target);
	free(st->path);
	free(st->method);
	free(st->version);
	free(st->headers);
	free(st->header_text);
	free(st->body);
	free(st);
	atomic_fetch_sub(&server->in_flight, 1);
}

/* Headers, collected in two passes: sizes, then one block of text. */

struct header_walk {
	struct request_state *st;
	size_t count, text_size, text_left;
	char *cursor;
};

static enum MHD_Result count_header(void *context, enum MHD_ValueKind kind, const char *key, size_t key_size,
				    const char *value, size_t value_size)
{
	struct header_walk *w = context;
	w->count++;
	w->text_size += key_size + 2 + value_size + 1;
	return MHD_YES;
}

static enum MHD_Result copy_header(void *context, enum MHD_ValueKind kind, const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	struct header_walk *w = context;
	size_t size = key_size + 2 + value_size + 1;
	if (w->st->header_count == w->count || size > w->text_left)
		return MHD_NO; /* cannot happen: the same headers were just counted */
	w->text_left -= size;
	struct http_header_line *h = &w->st->headers[w->st->header_count++];
	h->line = w->cursor;
	h->name_length = key_size;
	h->length = key_size + 2 + value_size;
	memcpy(w->cursor, key, key_size);
	memcpy(w->cursor + key_size, ": ", 2);
	if (value_size)
		memcpy(w->cursor + key_size + 2, value, value_size);
	w->cursor[h->length] = 0;
	w->cursor += h->length + 1;
	return MHD_YES;
}

static int collect_headers(struct MHD_Connection *connection, struct request_state *st)
{
	struct header_walk w = {.st = st};
	MHD_get_connection_values_n(connection, MHD_HEADER_KIND, count_header, &w);
	st->headers = calloc(w.count ? w.count : 1, sizeof *st->headers);
	st->header_text = malloc(w.text_size ? w.text_size : 1);
	if (!st->headers || !st->header_text)
		return -1;
	w.cursor = st->header_text;
	w.text_left = w.text_size;
	MHD_get_connection_values_n(connection, MHD_HEADER_KIND, copy_header, &w);
	return 0;
}

static void fill_request(const struct request_state *st, struct http_request *r, bool with_body)
{
	*r = (struct http_request){
		.method = st->method,
		.target = st->target,
		.path = st->path,
		.query = st->query,
		.version = st->version,
		.headers = st->headers,
		.header_count = st->header_count,
		.body = with_body ? (st->body ? st->body : (const uint8_t *)"") : NULL,
		.body_length = with_body ? st->body_length : 0,
		.declared_body_length = st->declared_body_length,
	};
}

/* Sending. The reply's body moves into the MHD response (freed by MHD). */
static enum MHD_Result send_reply(struct MHD_Connection *connection, struct request_state *st)
{
	struct http_reply *reply = &st->reply;
	if (reply->status < 100 || reply->status > 999) {
		http_reply_cause(reply, "internal error: no answer for this request");
		http_reply_text(reply, 500, "tkvm: internal error: no answer for this request");
	}
	struct MHD_Response *response;
	if (reply->body && reply->body_length) {
		response = MHD_create_response_from_buffer_with_free_callback(reply->body_length, reply->body, free);
		if (response)
			reply->body = NULL;
	} else {
		response = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!response)
		return MHD_NO;
	if (reply->content_type && *reply->content_type)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply->content_type);
	for (size_t i = 0; i < reply->header_count; i++) {
		/* "Name: value" from the program: libmicrohttpd refuses names and
		 * values with CR/LF and headers it computes itself (Content-Length). */
		char *line = reply->headers[i];
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			continue;
		*colon = 0;
		const char *value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		MHD_add_response_header(response, line, value);
		*colon = ':';
	}
	if (atomic_load(&st->server->quiescing))
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	st->bytes = strcmp(st->method ? st->method : "", "HEAD") == 0 ? 0 : reply->body_length;
	enum MHD_Result r = MHD_queue_response(connection, (unsigned)reply->status, response);
	MHD_destroy_response(response);
	st->replied = r == MHD_YES;
	return r;
}

static bool header_limits_exceeded(struct http_server *server, struct request_state *st)
{
	struct http_reply *reply = &st->reply;
	if (st->header_count > server->options.max_headers) {
		http_reply_text(reply, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
				"tkvm: %zu request headers: a program receives at most %zu", st->header_count,
				server->options.max_headers);
		http_reply_cause(reply, "%zu request headers (at most %zu)", st->header_count, server->options.max_headers);
		return true;
	}
	for (size_t i = 0; i < st->header_count; i++) {
		const struct http_header_line *h = &st->headers[i];
		if (h->length > server->options.max_header_line) {
			http_reply_text(reply, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
					"tkvm: request header %.*s is %zu bytes long (at most %zu)", (int)(h->name_length < 64 ? h->name_length : 64),
					h->line, h->length, server->options.max_header_line);
			http_reply_cause(reply, "request header %.*s is %zu bytes long (at most %zu)",
					 (int)(h->name_length < 64 ? h->name_length : 64), h->line, h->length,
					 server->options.max_header_line);
			return true;
		}
	}
	return false;
}

/* A body over --max-body gets 413 and the connection is closed without
 * reading the rest. libmicrohttpd 0.9.75 cannot queue a response once the
 * body has started (MHD_queue_response fails) and, when it answers early,
 * closes at once, so the client's unread upload turns the close into a
 * reset that often loses the answer. So the 413 is written here, on this
 * connection's own thread (nothing else writes to its socket), followed by
 * a lingering close: stop sending, then drop what the client still sends
 * for a moment so that it reads the answer; then libmicrohttpd closes. */
#define LINGER_SECONDS 2.0
#define LINGER_MAX_BYTES (64u << 20)

static void write_all(int fd, const char *data, size_t length, const struct timespec *start)
{
	while (length && seconds_since(start) < LINGER_SECONDS) {
		ssize_t n = send(fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			data += n, length -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		poll(&p, 1, 50);
	}
}

static enum MHD_Result body_too_large(struct http_server *server, struct MHD_Connection *connection,
				      struct request_state *st, const char *size)
{
	size_t mb = server->options.max_body >> 20;
	http_reply_text(&st->reply, MHD_HTTP_CONTENT_TOO_LARGE, "tkvm: request body of %s is larger than --max-body (%zu MB)",
			size, mb);
	http_reply_cause(&st->reply, "request body of %s is larger than --max-body (%zu MB)", size, mb);
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!info)
		return MHD_NO;
	int fd = info->connect_fd;
	char head[256];
	int n = snprintf(head, sizeof head,
			 "%s 413 Content Too Large\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 st->version && strcmp(st->version, "HTTP/1.0") == 0 ? "HTTP/1.0" : "HTTP/1.1",
			 st->reply.content_type ? st->reply.content_type : "text/plain", st->reply.body_length);
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	write_all(fd, head, (size_t)n, &start);
	if (strcmp(st->method ? st->method : "", "HEAD") != 0)
		write_all(fd, (const char *)st->reply.body, st->reply.body_length, &start);
	shutdown(fd, SHUT_WR);
	st->replied = true;
	st->raw_reply = true;
	st->bytes = st->reply.body_length;
	char sink[16384];
	size_t dropped = 0;
	while (dropped < LINGER_MAX_BYTES && seconds_since(&start) < LINGER_SECONDS) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t got = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			break;
		if (got > 0)
			dropped += (size_t)got;
	}
	closing_on_purpose = true;
	return MHD_NO; /* libmicrohttpd closes the connection */
}

/* First call: the headers are in, nothing of the body has been read. */
static enum MHD_Result on_headers(struct http_server *server, struct MHD_Connection *connection,
				  struct request_state *st, const char *method, const char *version)
{
	st->headers_seen = true;
	st->method = strdup(method);
	st->version = strdup(version);
	if (!st->method || !st->version || !st->path || !st->target || collect_headers(connection, st) < 0)
		return MHD_NO;
	if (header_limits_exceeded(server, st))
		return send_reply(connection, st);
	if (strcmp(st->version, MHD_HTTP_VERSION_1_1) == 0 &&
	    !MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST)) {
		/* RFC 9112 3.2: a server must answer 400 to an HTTP/1.1 request without Host. */
		http_reply_text(&st->reply, 400, "tkvm: an HTTP/1.1 request needs a Host header");
		http_reply_cause(&st->reply, "HTTP/1.1 request without Host");
		return send_reply(connection, st);
	}

	const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(length, &end, 10);
		if (errno == 0 && *end == 0)
			st->declared_body_length = n;
		if (st->declared_body_length > server->options.max_body) {
			char size[48];
			snprintf(size, sizeof size, "%llu bytes", (unsigned long long)st->declared_body_length);
			return body_too_large(server, connection, st, size);
		}
	}
	struct http_request request;
	fill_request(st, &request, false);
	server->options.on_headers(server->options.context, &request, &st->reply);
	if (st->reply.status)
		return send_reply(connection, st);
	if (st->declared_body_length) {
		st->body = malloc(st->declared_body_length);
		if (!st->body) {
			http_reply_text(&st->reply, 503, "tkvm: out of memory for a %llu-byte body",
					(unsigned long long)st->declared_body_length);
			http_reply_cause(&st->reply, "out of memory for the body");
			return send_reply(connection, st);
		}
		st->body_capacity = st->declared_body_length;
	}
	return MHD_YES;
}

static enum MHD_Result take_body(struct http_server *server, struct MHD_Connection *connection,
				 struct request_state *st, const char *data, size_t *size)
{
	size_t n = *size;
	*size = 0;
	if (n > server->options.max_body - st->body_length) {
		/* A chunked body (or one longer than its Content-Length) that
		 * grew past the limit: answer now, read no more of it. */
		char text[48];
		snprintf(text, sizeof text, "more than %zu bytes", server->options.max_body);
		free(st->body);
		st->body = NULL;
		return body_too_large(server, connection, st, text);
	}
	if (st->body_length + n > st->body_capacity) {
		size_t capacity = st->body_capacity ? st->body_capacity : 65536;
		while (capacity < st->body_length + n)
			capacity *= 2;
		if (capacity > server->options.max_body)
			capacity = server->options.max_body;
		uint8_t *bigger = realloc(st->body, capacity);
		if (!bigger) {
			http_reply_cause(&st->reply, "out of memory for the body");
			return MHD_NO;
		}
		st->body = bigger;
		st->body_capacity = capacity;
	}
	memcpy(st->body + st->body_length, data, n);
	st->body_length += n;
	return MHD_YES;
}

static enum MHD_Result on_access(void *context, struct MHD_Connection *connection, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **request_context)
{
	struct http_server *server = context;
	struct request_state *st = *request_context;
	if (!st)
		return MHD_NO; /* out of memory in on_uri */
	if (st->replied) {
		*upload_data_size = 0; /* answered early: the rest of the body is dropped */
		return MHD_YES;
	}
	if (!st->headers_seen)
		return on_headers(server, connection, st, method, version);
	if (*upload_data_size)
		return take_body(server, connection, st, upload_data, upload_data_size);

	struct http_request request;
	fill_request(st, &request, true);
	server->options.on_request(server->options.context, &request, &st->reply);
	free(st->body); /* the program has seen it; the reply is what remains */
	st->body = NULL;
	return send_reply(connection, st);
}

static void on_library_message(void *context, const char *fmt, va_list ap)
{
	struct http_server *server = context;
	char text[512];
	vsnprintf(text, sizeof text, fmt, ap);
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		text[--n] = 0;
	/* Its error pages are HTML: the log only needs the status. */
	char *html = strstr(text, " ('<html>");
	char *html_end = html ? strstr(html, "</html>')") : NULL;
	if (html && html_end)
		memmove(html, html_end + 9, strlen(html_end + 9) + 1);
	if (closing_on_purpose && strstr(text, "Application reported internal error")) {
		closing_on_purpose = false;
		return;
	}
	if (server->options.log)
		access_log_message(server->options.log, "libmicrohttpd", text);
}

struct http_server *http_server_start(const struct http_server_options *options, const char **message)
{
	struct http_server *server = calloc(1, sizeof *server);
	if (!server) {
		*message = "out of memory";
		return NULL;
	}
	server->options = *options;
	atomic_init(&server->in_flight, 0);
	atomic_init(&server->quiescing, false);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;
	server->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_access, server,
		MHD_OPTION_EXTERNAL_LOGGER, on_library_message, server, /* first, to catch every message */
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)options->listen_fd,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, server,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_CONNECTION_TIMEOUT_SECONDS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
		MHD_OPTION_END);
	if (!server->daemon) {
		*message = "libmicrohttpd could not start";
		free(server);
		return NULL;
	}
	return server;
}

void http_server_quiesce(struct http_server *server)
{
	atomic_store(&server->quiescing, true);
	/* The listening socket is ours: it is closed after MHD_stop_daemon. */
	MHD_quiesce_daemon(server->daemon);
}

unsigned http_server_in_flight(struct http_server *server)
{
	return atomic_load(&server->in_flight);
}

void http_server_stop(struct http_server *server)
{
	if (!server)
		return;
	MHD_stop_daemon(server->daemon);
	free(server);
}

int http_server_listen(const char *address, int *fd, char *url, size_t url_size, char *message, size_t message_size)
{
	/* "PORT", ":PORT" (every interface), "HOST:PORT", "[IPV6]:PORT". */
	char host[256] = "127.0.0.1", port[16];
	const char *colon = strrchr(address, ':');
	const char *port_text = colon ? colon + 1 : address;
	if (colon) {
		size_t n = (size_t)(colon - address);
		if (n >= 2 && address[0] == '[' && address[n - 1] == ']')
			address++, n -= 2;
		else if (n && memchr(address, ':', n)) {
			snprintf(message, message_size, "'%s': write an IPv6 address as [ADDRESS]:PORT", address);
			return -1;
		}
		if (n >= sizeof host) {
			snprintf(message, message_size, "'%s': host name too long", address);
			return -1;
		}
		memcpy(host, address, n);
		host[n] = 0;
		if (n == 0)
			strcpy(host, "0.0.0.0");
	}
	char *end;
	errno = 0;
	unsigned long number = strtoul(port_text, &end, 10);
	if (!*port_text || *end || errno || number > 65535) {
		snprintf(message, message_size, "'%s' is not a port number (0-65535)", port_text);
		return -1;
	}
	snprintf(port, sizeof port, "%lu", number);

	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *found = NULL;
	int r = getaddrinfo(host, port, &hints, &found);
	if (r != 0) {
		snprintf(message, message_size, "cannot resolve '%s': %s", host, gai_strerror(r));
		return -1;
	}
	int s = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
	int one = 1;
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(s, found->ai_addr, found->ai_addrlen) < 0 || listen(s, 128) < 0) {
		snprintf(message, message_size, "cannot listen on %s:%s: %s", host, port, strerror(errno));
		if (s >= 0)
			close(s);
		freeaddrinfo(found);
		return -2;
	}
	freeaddrinfo(found);
	/* The URL names the port actually bound (port 0 picks a free one). */
	struct sockaddr_storage bound;
	socklen_t length = sizeof bound;
	char numeric[INET6_ADDRSTRLEN], bound_port[16];
	if (getsockname(s, (struct sockaddr *)&bound, &length) < 0 ||
	    getnameinfo((struct sockaddr *)&bound, length, numeric, sizeof numeric, bound_port, sizeof bound_port,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(message, message_size, "getsockname: %s", strerror(errno));
		close(s);
		return -2;
	}
	bool v6 = bound.ss_family == AF_INET6;
	snprintf(url, url_size, "http://%s%s%s:%s/", v6 ? "[" : "", numeric, v6 ? "]" : "", bound_port);
	*fd = s;
	return 0;
}
