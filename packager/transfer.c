/* libcurl transfers for fetching and publishing (see transfer.h). One easy
 * handle per transfer, all sharing one connection, TLS session and DNS
 * cache: loading a library fetches it and then every archive (and
 * signature) from the same host, and publishing makes a dozen requests, so
 * each would otherwise pay its own TCP and TLS handshake (measured: 19 ms
 * over the local ELF for an https library with a kept cache, 8 ms on http;
 * bench/RESULTS.md). */
#include "packager/transfer.h"
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_BODY (64u << 20)
#define CONNECT_TIMEOUT_SECONDS 10L

struct receive {
	struct transfer_response *response;
	size_t capacity, limit;
	bool overflow, out_of_memory;
};

static size_t on_body(char *data, size_t size, size_t count, void *context)
{
	struct receive *r = context;
	struct transfer_response *response = r->response;
	size_t length = size * count;
	if (response->body_size + length > r->limit) {
		r->overflow = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (response->body_size + length + 1 > r->capacity) {
		size_t capacity = r->capacity ? r->capacity : 16384;
		while (capacity < response->body_size + length + 1)
			capacity *= 2;
		uint8_t *bigger = realloc(response->body, capacity);
		if (!bigger) {
			r->out_of_memory = true;
			return 0;
		}
		response->body = bigger;
		r->capacity = capacity;
	}
	memcpy(response->body + response->body_size, data, length);
	response->body_size += length;
	response->body[response->body_size] = 0;
	return length;
}

/* The value of a header line "Name: value\r\n" when its name is name,
 * malloc'd and trimmed; NULL otherwise. */
static char *header_value(const char *line, size_t length, const char *name)
{
	size_t n = strlen(name);
	if (length <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	const char *value = line + n + 1;
	const char *end = line + length;
	while (value < end && (*value == ' ' || *value == '\t'))
		value++;
	while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return strndup(value, (size_t)(end - value));
}

static void keep(char **slot, char *value)
{
	if (!value)
		return;
	free(*slot); /* the last answer's headers win (after a redirect or 100 Continue) */
	*slot = value;
}

static size_t on_header(char *data, size_t size, size_t count, void *context)
{
	struct transfer_response *response = context;
	size_t length = size * count;
	if (length >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		free(response->dav); /* a new answer (after a redirect or 100 Continue) */
		response->dav = NULL;
	}
	keep(&response->etag, header_value(data, length, "ETag"));
	/* DAV may come in several headers (Apache: "DAV: 1,2" then "DAV: <http://apache.org/dav/propset/fs/1>"):
	 * one list, as HTTP joins repeated headers. */
	char *dav = header_value(data, length, "DAV");
	if (dav && response->dav) {
		size_t joined_size = strlen(response->dav) + 2 + strlen(dav) + 1;
		char *joined = malloc(joined_size);
		if (joined)
			snprintf(joined, joined_size, "%s, %s", response->dav, dav);
		free(dav);
		dav = joined;
	}
	keep(&response->dav, dav);
	char *token = header_value(data, length, "Lock-Token");
	if (token) {
		size_t n = strlen(token);
		if (n >= 2 && token[0] == '<' && token[n - 1] == '>') {
			memmove(token, token + 1, n - 2);
			token[n - 2] = 0;
		}
		keep(&response->lock_token, token);
	}
	return length;
}

struct send {
	const struct transfer_request *request;
	size_t offset;
};

static size_t on_send(char *buffer, size_t size, size_t count, void *context)
{
	struct send *s = context;
	size_t left = s->request->body_size - s->offset;
	size_t n = size * count < left ? size * count : left;
	memcpy(buffer, s->request->body + s->offset, n);
	s->offset += n;
	return n;
}

/* A reused connection that turns out closed makes curl send the request
 * again, from the start of the body. */
static int on_seek(void *context, curl_off_t offset, int origin)
{
	struct send *s = context;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > s->request->body_size)
		return CURL_SEEKFUNC_FAIL;
	s->offset = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *context, curl_off_t download_total, curl_off_t downloaded, curl_off_t upload_total,
		       curl_off_t uploaded)
{
	const struct transfer_request *request = context;
	(void)download_total;
	(void)downloaded;
	if (upload_total > 0)
		request->progress(request->progress_context, (uint64_t)uploaded, (uint64_t)upload_total);
	return 0;
}

/* ---- the shared caches ---- */

static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static pthread_once_t share_once = PTHREAD_ONCE_INIT;

static void share_lock(CURL *curl, curl_lock_data data, curl_lock_access access, void *context)
{
	(void)curl, (void)access, (void)context;
	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *curl, curl_lock_data data, void *context)
{
	(void)curl, (void)context;
	if (data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&share_locks[data]);
}

/* At exit, when no transfer is running: closes the pooled connections. A
 * share still in use (a transfer on another thread) is left to the OS. */
static void share_cleanup(void)
{
	if (share && curl_share_cleanup(share) == CURLSHE_OK)
		share = NULL;
}

static void share_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&share_locks[i], NULL);
	share = curl_share_init();
	if (!share)
		return; /* every transfer then makes its own connections */
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	if (curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
	    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
		curl_share_cleanup(share);
		share = NULL;
		return;
	}
	atexit(share_cleanup);
}

void transfer_global_init(void) { pthread_once(&share_once, share_init); }

/* The CAs an https server's certificate must chain to: the system's, unless
 * the environment names others, read as curl(1) reads them (CURL_CA_BUNDLE,
 * else SSL_CERT_FILE; SSL_CERT_DIR for a hashed directory). A library host
 * with a private CA is then trusted the same way by tkvm and by curl. */
static const char *ca_bundle(void)
{
	const char *bundle = getenv("CURL_CA_BUNDLE");
	if (!bundle || !*bundle)
		bundle = getenv("SSL_CERT_FILE");
	return bundle && *bundle ? bundle : NULL;
}

static void set_trust(CURL *curl)
{
	const char *bundle = ca_bundle(), *dir = getenv("SSL_CERT_DIR");
	if (bundle)
		curl_easy_setopt(curl, CURLOPT_CAINFO, bundle);
	if (dir && *dir)
		curl_easy_setopt(curl, CURLOPT_CAPATH, dir);
}

/* A failed transfer in one line. curl's short text names the cause (the URL
 * already names host and port); for TLS its error buffer says what was wrong
 * with the certificate, and the message says what to do about it. */
static int transfer_failure(struct tkvm_error *err, const char *method, const char *url, CURLcode code,
			    const char *detail)
{
	const char *why = *detail ? detail : curl_easy_strerror(code);
	switch (code) {
	case CURLE_FILE_COULDNT_READ_FILE:
		return tkvm_error_set(err, -ENOENT, "%s %s: no such file", method, url);
	case CURLE_PEER_FAILED_VERIFICATION:
		return tkvm_error_set(err, -EACCES,
				      "%s %s: the server's TLS certificate is not trusted (%s); if the host uses a "
				      "private CA, set CURL_CA_BUNDLE to that CA's certificate file",
				      method, url, why);
	case CURLE_SSL_CACERT_BADFILE:
		return tkvm_error_set(err, -EACCES, "%s %s: cannot read the CA certificates %s (%s)", method, url,
				      ca_bundle() ? ca_bundle() : "of the system", why);
	case CURLE_OPERATION_TIMEDOUT:
		return tkvm_error_set(err, -ETIMEDOUT, "%s %s: timed out (%s)", method, url, why);
	case CURLE_SSL_CONNECT_ERROR:
		return tkvm_error_set(err, -EIO, "%s %s: TLS handshake failed (%s)", method, url, why);
	default:
		return tkvm_error_set(err, -EIO, "%s %s: %s", method, url, curl_easy_strerror(code));
	}
}

bool transfer_url_supported(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0 ||
	       strncasecmp(url, "file://", 7) == 0;
}

const char *transfer_status_text(long status, char *buf, size_t size)
{
	static const struct {
		long status;
		const char *text;
	} texts[] = {
		{200, "OK"}, {201, "Created"}, {204, "No Content"}, {207, "Multi-Status"}, {304, "Not Modified"},
		{400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
		{405, "Method Not Allowed"}, {409, "Conflict"}, {412, "Precondition Failed"},
		{413, "Content Too Large"}, {423, "Locked"}, {500, "Internal Server Error"}, {502, "Bad Gateway"},
		{503, "Service Unavailable"}, {504, "Gateway Timeout"}, {507, "Insufficient Storage"},
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (texts[i].status == status) {
			/* Credentials only ever come from ~/.netrc: say so where they are missing. */
			snprintf(buf, size, "%ld %s%s", status, texts[i].text,
				 status == 401 ? " (tkvm logs in with this host's entry in ~/.netrc: there is none, "
						 "or it is wrong)"
					       : "");
			return buf;
		}
	snprintf(buf, size, "status %ld", status);
	return buf;
}

int transfer_perform(const struct transfer_request *request, struct transfer_response *response,
		     struct tkvm_error *err)
{
	memset(response, 0, sizeof *response);
	response->last_modified = -1;
	const char *method = request->method ? request->method : "GET";
	if (!transfer_url_supported(request->url))
		return tkvm_error_set(err, -EPROTONOSUPPORT, "%s: only http://, https:// and file:// URLs are supported",
				      request->url);
	transfer_global_init();
	CURL *curl = curl_easy_init();
	if (!curl)
		return tkvm_error_set(err, -ENOMEM, "%s %s: cannot start libcurl", method, request->url);

	struct receive receive = {.response = response, .limit = request->max_body ? request->max_body : DEFAULT_MAX_BODY};
	struct send send = {.request = request};
	struct curl_slist *headers = NULL;
	bool headers_ok = true;
	for (size_t i = 0; request->headers && request->headers[i]; i++) {
		struct curl_slist *more = curl_slist_append(headers, request->headers[i]);
		if (!more)
			headers_ok = false;
		else
			headers = more;
	}
	if (request->send_body) {
		/* No "Expect: 100-continue" round trip: nginx answers at once anyway. */
		struct curl_slist *more = curl_slist_append(headers, "Expect:");
		if (more)
			headers = more;
	}
	char detail[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
	if (share)
		curl_easy_setopt(curl, CURLOPT_SHARE, share);
	curl_easy_setopt(curl, CURLOPT_URL, request->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
	set_trust(curl);
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, strcmp(method, "GET") == 0 ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	/* Publishing credentials from ~/.netrc, never from the command line. */
	curl_easy_setopt(curl, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECONDS);
	if (request->timeout_seconds > 0)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, request->timeout_seconds);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "tkvm/" "0.1");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &receive);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, response);
	curl_easy_setopt(curl, CURLOPT_FILETIME, 1L);
	if (headers)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (request->if_modified_since > 0) {
		curl_easy_setopt(curl, CURLOPT_TIMECONDITION, (long)CURL_TIMECOND_IFMODSINCE);
		curl_easy_setopt(curl, CURLOPT_TIMEVALUE_LARGE, (curl_off_t)request->if_modified_since);
	}
	if (request->send_body) {
		if (strcmp(method, "PUT") == 0) {
			curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)request->body_size);
			curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_send);
			curl_easy_setopt(curl, CURLOPT_READDATA, &send);
			curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
			curl_easy_setopt(curl, CURLOPT_SEEKDATA, &send);
		} else {
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)request->body);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_size);
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
		}
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}
	if (request->max_send_speed > 0)
		curl_easy_setopt(curl, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)request->max_send_speed);
	if (request->progress) {
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)request);
	}

	int rc = 0;
	CURLcode code = headers_ok ? curl_easy_perform(curl) : CURLE_OUT_OF_MEMORY;
	if (code != CURLE_OK) {
		if (receive.overflow)
			rc = tkvm_error_set(err, -EFBIG, "%s %s: the answer is larger than %zu bytes", method, request->url,
					    receive.limit);
		else if (receive.out_of_memory)
			rc = tkvm_error_set(err, -ENOMEM, "%s %s: out of memory for the answer", method, request->url);
		else
			rc = transfer_failure(err, method, request->url, code, detail);
	} else {
		long status = 0, unmet = 0;
		curl_off_t filetime = -1;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(curl, CURLINFO_CONDITION_UNMET, &unmet);
		curl_easy_getinfo(curl, CURLINFO_FILETIME_T, &filetime);
		bool is_file = strncasecmp(request->url, "file://", 7) == 0;
		if (is_file)
			status = unmet ? 304 : 200;
		else if (unmet && status == 200)
			status = 304; /* curl's own check when the server ignored the condition */
		response->status = status;
		response->last_modified = filetime >= 0 ? (time_t)filetime : -1;
		if (!response->body) {
			response->body = calloc(1, 1);
			if (!response->body)
				rc = tkvm_error_set(err, -ENOMEM, "%s %s: out of memory", method, request->url);
		}
	}
	if (rc < 0)
		transfer_response_free(response);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return rc;
}

void transfer_response_free(struct transfer_response *response)
{
	free(response->body);
	free(response->etag);
	free(response->lock_token);
	free(response->dav);
	memset(response, 0, sizeof *response);
	response->last_modified = -1;
}
