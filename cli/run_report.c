/* Printing a response for `tkvm run` (see run_report.h). */
#include "cli/run_report.h"
#include "cli/terminal.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *http_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return "";
	}
}

static void print_head(FILE *out, const struct tkvm_response *r)
{
	fprintf(out, "HTTP/1.1 %d %s\r\n", r->status, http_reason_phrase(r->status));
	if (r->content_type && *r->content_type)
		fprintf(out, "Content-Type: %s\r\n", r->content_type);
	fprintf(out, "Content-Length: %zu\r\n", r->body_length);
	if (r->cacheable)
		fprintf(out, "Cache-Control: public, max-age=%.0f\r\n", r->ttl);
	for (size_t i = 0; i < r->header_count; i++)
		fprintf(out, "%s\r\n", r->headers[i]);
	fprintf(out, "\r\n");
}

static void print_stats(const struct tkvm_stats *s)
{
	FILE *e = stderr;
	const char *dim = term_style(e, STYLE_DIM), *reset = term_style(e, STYLE_RESET);
	fprintf(e, "%sboot%s      %.2f ms\n", dim, reset, (double)s->boot_ns / 1e6);
	fprintf(e, "%srequest%s   %.3f ms  exits %llu  syscalls %llu  host calls %llu\n", dim, reset,
		(double)s->request_ns / 1e6, (unsigned long long)s->request_exits, (unsigned long long)s->request_syscalls,
		(unsigned long long)s->request_host_calls);
	fprintf(e, "%stotal%s     exits %llu  syscalls %llu  host calls %llu\n", dim, reset, (unsigned long long)s->exits,
		(unsigned long long)s->syscalls, (unsigned long long)s->host_calls);
	fprintf(e, "%smemory%s    %.1f MiB in use, peak %.1f MiB\n", dim, reset, (double)s->memory_used / 1048576.0,
		(double)s->memory_peak / 1048576.0);
	fprintf(e, "%ssyscalls%s ", dim, reset);
	int shown = 0;
	for (unsigned i = 0; i < TKVM_SYSCALL_SLOTS; i++) {
		if (!s->syscall_counts[i])
			continue;
		fprintf(e, " %s×%llu", tkvm_syscall_name(i), (unsigned long long)s->syscall_counts[i]);
		shown++;
	}
	fprintf(e, "%s\n", shown ? "" : " none");
	if (s->unknown_syscalls) {
		fprintf(e, "%sunknown%s   %llu call(s) answered ENOSYS:", dim, reset, (unsigned long long)s->unknown_syscalls);
		for (unsigned i = 0; i < s->unknown_syscall_distinct; i++)
			fprintf(e, " %llu (%s)", (unsigned long long)s->unknown_syscall_numbers[i],
				tkvm_syscall_name((unsigned)s->unknown_syscall_numbers[i]));
		fputc('\n', e);
	}
}

static int print_json(const struct tkvm_response *r, const struct tkvm_stats *s)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "status", r->status);
	cJSON_AddStringToObject(root, "outcome", r->outcome == TKVM_OUTCOME_OK ? "ok"
						  : r->outcome == TKVM_OUTCOME_RECOVERED ? "recovered" : "failed");
	if (r->outcome != TKVM_OUTCOME_OK)
		cJSON_AddStringToObject(root, "error", r->error);
	cJSON_AddStringToObject(root, "content_type", r->content_type ? r->content_type : "");
	cJSON *headers = cJSON_AddArrayToObject(root, "headers");
	for (size_t i = 0; i < r->header_count; i++)
		cJSON_AddItemToArray(headers, cJSON_CreateString(r->headers[i]));
	/* Text bodies as a string; anything with a NUL byte is summarised. */
	bool text = !r->body_length || !memchr(r->body, 0, r->body_length);
	if (text) {
		char *copy = malloc(r->body_length + 1);
		if (copy) {
			if (r->body_length)
				memcpy(copy, r->body, r->body_length);
			copy[r->body_length] = 0;
			cJSON_AddStringToObject(root, "body", copy);
			free(copy);
		}
	}
	cJSON_AddNumberToObject(root, "body_length", (double)r->body_length);
	cJSON *stats = cJSON_AddObjectToObject(root, "stats");
	cJSON_AddNumberToObject(stats, "boot_ms", (double)s->boot_ns / 1e6);
	cJSON_AddNumberToObject(stats, "request_ms", (double)s->request_ns / 1e6);
	cJSON_AddNumberToObject(stats, "request_exits", (double)s->request_exits);
	cJSON_AddNumberToObject(stats, "request_syscalls", (double)s->request_syscalls);
	cJSON_AddNumberToObject(stats, "request_host_calls", (double)s->request_host_calls);
	cJSON_AddNumberToObject(stats, "exits", (double)s->exits);
	cJSON_AddNumberToObject(stats, "syscalls", (double)s->syscalls);
	cJSON_AddNumberToObject(stats, "unknown_syscalls", (double)s->unknown_syscalls);
	cJSON_AddNumberToObject(stats, "memory_peak", (double)s->memory_peak);
	char *printed = cJSON_Print(root);
	if (printed)
		printf("%s\n", printed);
	free(printed);
	cJSON_Delete(root);
	return 0;
}

int run_report(const struct tkvm_response *r, const struct tkvm_stats *stats, const struct run_report_options *o)
{
	int exit_status = r->status >= 200 && r->status < 400 ? EXIT_OK : EXIT_FAILURE_CODE;
	if (r->outcome != TKVM_OUTCOME_OK) {
		cli_error("%s: request failed: %s", o->program_name, r->error);
		if (r->outcome == TKVM_OUTCOME_RECOVERED)
			cli_hint("the program's on_error handler answered instead (status %d)", r->status);
		exit_status = EXIT_FAILURE_CODE;
	}
	if (o->json) {
		print_json(r, stats);
		return exit_status;
	}
	/* Without -i the status would be invisible: say it on stderr. */
	if (!o->include_headers && r->outcome == TKVM_OUTCOME_OK && exit_status != EXIT_OK)
		fprintf(stderr, "%s%s answered %d %s%s\n", term_style(stderr, STYLE_DIM), o->program_name, r->status,
			http_reason_phrase(r->status), term_style(stderr, STYLE_RESET));
	FILE *out = stdout;
	if (o->output_path) {
		out = fopen(o->output_path, "wb");
		if (!out) {
			cli_error("cannot write '%s': %s", o->output_path, strerror(errno));
			return EXIT_FAILURE_CODE;
		}
	}
	if (o->include_headers)
		print_head(stdout, r);
	if (r->body_length && fwrite(r->body, 1, r->body_length, out) != r->body_length) {
		cli_error("writing the body failed: %s", strerror(errno));
		exit_status = EXIT_FAILURE_CODE;
	}
	if (out != stdout && fclose(out) != 0) {
		cli_error("writing '%s' failed: %s", o->output_path, strerror(errno));
		exit_status = EXIT_FAILURE_CODE;
	}
	fflush(stdout);
	if (o->verbose)
		print_stats(stats);
	return exit_status;
}
