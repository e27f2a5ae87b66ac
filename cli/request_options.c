/* PROGRAM [METHOD] URL, --data, -H and --arg, checked as Varnish would
 * deliver them, and turned into a struct tkvm_request_input. */
#include "cli/request_options.h"
#include "cli/program_options.h"
#include "cli/terminal.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool request_is_method(const char *s)
{
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PURGE"};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(s, methods[i]) == 0)
			return true;
	return false;
}

/* A header line Varnish could deliver: a token name, a colon, and a value
 * without CR, LF or other control bytes (tab allowed). */
static bool valid_header(const char *line, const char **why)
{
	const char *colon = strchr(line, ':');
	if (!colon) {
		*why = "has no colon (use -H 'Name: value')";
		return false;
	}
	if (colon == line) {
		*why = "has an empty name";
		return false;
	}
	for (const char *c = line; c < colon; c++)
		if (!strchr("!#$%&'*+-.^_`|~", *c) && !((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
			*why = "has a character that is not allowed in a header name";
			return false;
		}
	for (const char *c = colon + 1; *c; c++)
		if ((unsigned char)*c < 32 && *c != '\t') {
			*why = "has a control character (CR, LF, ...) in its value";
			return false;
		}
	return true;
}

static bool valid_url(const char *url)
{
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 32 || *c == 127)
			return false;
	return true;
}

int request_options_take(struct request_options *o, int option, const char *value)
{
	switch (option) {
	case REQUEST_OPTION_DATA:
		o->data = value;
		return 1;
	case REQUEST_OPTION_ARG:
		o->arg = value;
		return 1;
	case REQUEST_OPTION_HEADER: {
		if (o->header_count == REQUEST_MAX_HEADERS) {
			cli_error("too many -H headers (at most %d)", REQUEST_MAX_HEADERS);
			return -1;
		}
		const char *why;
		if (!valid_header(value, &why)) {
			cli_error("header '%s' %s", value, why);
			return -1;
		}
		o->headers[o->header_count++] = value;
		return 1;
	}
	default:
		return 0;
	}
}

int request_options_positional(struct request_options *o, int argc, char **argv, int first, const char *command)
{
	int positional = argc - first;
	const char *method = NULL;
	if (positional == 3) {
		o->program_path = argv[first], method = argv[first + 1], o->url = argv[first + 2];
	} else if (positional == 2 && !request_is_method(argv[first])) {
		o->program_path = argv[first], o->url = argv[first + 1];
	} else if (positional == 1 && argv[first][0] != '/') {
		o->program_path = argv[first], o->url = "/";
	} else {
		cli_error(positional == 0 ? "no program given" : "expected PROGRAM [METHOD] URL");
		cli_hint("tkvm %s ./hello GET /hello   (see 'tkvm %s --help')", command, command);
		return -1;
	}
	if (!method)
		method = o->data ? "POST" : "GET";
	if (!request_is_method(method)) {
		cli_error("'%s' is not an HTTP method", method);
		return -1;
	}
	o->method = method;
	if (o->url[0] != '/') {
		cli_error("URL '%s' must start with '/'", o->url);
		return -1;
	}
	if (!valid_url(o->url)) {
		cli_error("URL has spaces or control characters; percent-encode them (%%20, %%0A, ...)");
		return -1;
	}
	return 0;
}

static const char *find_header(const struct request_options *o, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < o->header_count; i++)
		if (strncasecmp(o->headers[i], name, n) == 0 && o->headers[i][n] == ':') {
			const char *v = o->headers[i] + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	return NULL;
}

int request_build(const struct request_options *o, struct built_request *request)
{
	memset(request, 0, sizeof *request);
	if (o->data) {
		if (o->data[0] == '@') {
			if (read_whole_file(o->data + 1, &request->body, &request->body_length) < 0)
				return -1;
		} else {
			request->body_length = strlen(o->data);
			request->body = (uint8_t *)strdup(o->data);
		}
	}
	/* The URL's query string is the arg, as the VMOD passes it. */
	request->path = strdup(o->url);
	if ((o->data && !request->body) || !request->path) {
		cli_error("out of memory");
		request_free(request);
		return -1;
	}
	char *query = strchr(request->path, '?');
	if (query)
		*query++ = 0;
	const char *content_type = find_header(o, "Content-Type");
	if (!content_type)
		content_type = o->data ? "application/octet-stream" : "";
	for (size_t i = 0; i < o->header_count; i++)
		request->headers[i] = (struct tkvm_header){o->headers[i], strlen(o->headers[i])};
	request->input = (struct tkvm_request_input){
		.method = o->method, .url = request->path, .arg = o->arg ? o->arg : query ? query : "",
		.content_type = content_type, .headers = request->headers, .header_count = o->header_count,
		.body = request->body, .body_length = request->body_length,
	};
	return 0;
}

void request_free(struct built_request *request)
{
	free(request->path);
	free(request->body);
	memset(request, 0, sizeof *request);
}
