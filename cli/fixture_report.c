/* Test output (see fixture_report.h): text for people, JSON and JUnit XML
 * for machines. */
#include "cli/fixture_report.h"
#include "cli/fixture_body.h"
#include "cli/terminal.h"
#include "cli/text_buffer.h"
#include "cli/text_diff.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_LINES_SHOWN 20

void fixture_report_init(struct fixture_report *r, FILE *out, bool json, int name_width)
{
	memset(r, 0, sizeof *r);
	r->out = out;
	r->json = json;
	r->name_width = name_width;
}

static void format_time(char *buf, size_t size, double ms)
{
	if (ms < 1000)
		snprintf(buf, size, "%.1f ms", ms);
	else
		snprintf(buf, size, "%.2f s", ms / 1000);
}

/* Diff lines coloured by their first character after the indent. */
static void print_details(FILE *out, const char *details)
{
	const char *red = term_style(out, STYLE_RED), *green = term_style(out, STYLE_GREEN),
		   *cyan = term_style(out, STYLE_CYAN), *reset = term_style(out, STYLE_RESET);
	size_t indent = strlen(FIXTURE_REPORT_INDENT);
	for (const char *line = details; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		const char *text = line;
		while ((size_t)(text - line) < n && *text == ' ')
			text++;
		const char *style = "";
		if ((size_t)(text - line) > indent) {
			if (*text == '-')
				style = red;
			else if (*text == '+')
				style = green;
			else if (*text == '@')
				style = cyan;
		}
		fprintf(out, "%s%.*s%s\n", style, (int)n, line, *style ? reset : "");
		line = end ? end + 1 : line + n;
	}
}

/* The last lines of the program's output, dimmed. */
static void print_output(FILE *out, const char *output)
{
	size_t lines = 0;
	for (const char *c = output; *c; c++)
		lines += *c == '\n' || !c[1];
	const char *start = output;
	for (size_t skip = lines > OUTPUT_LINES_SHOWN ? lines - OUTPUT_LINES_SHOWN : 0; skip; skip--)
		start = strchr(start, '\n') + 1;
	const char *dim = term_style(out, STYLE_DIM), *reset = term_style(out, STYLE_RESET);
	fprintf(out, "%sprogram output%s:\n", FIXTURE_REPORT_INDENT, start > output ? " (last lines)" : "");
	for (const char *line = start; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		struct text_buffer safe = {0};
		text_diff_escaped(&safe, line, n, 400);
		fprintf(out, "%s  %s| %s%s\n", FIXTURE_REPORT_INDENT, dim, text_buffer_str(&safe), reset);
		text_buffer_free(&safe);
		line = end ? end + 1 : line + n;
	}
}

static void print_line(struct fixture_report *r, const struct fixture_result *x)
{
	FILE *out = r->out;
	static const char *const words[] = {"ok", "FAIL", "ERROR", "rec"};
	static const enum term_style styles[] = {STYLE_GREEN, STYLE_RED, STYLE_RED, STYLE_CYAN};
	char time[32] = "";
	if (x->verdict != FIXTURE_BROKEN)
		format_time(time, sizeof time, x->milliseconds);
	fprintf(out, "%s%s%-5s%s %-*s %s", term_style(out, STYLE_BOLD), term_style(out, styles[x->verdict]),
		words[x->verdict], term_style(out, STYLE_RESET), r->name_width, x->name, time);
	if (x->verdict == FIXTURE_BROKEN || x->verdict == FIXTURE_RECORDED)
		fprintf(out, "%s%s", *time ? "  " : "", x->message ? x->message : "");
	fputc('\n', out);
	if (x->verdict == FIXTURE_FAILED) {
		if (x->details && *x->details)
			print_details(out, x->details);
		else if (x->message)
			fprintf(out, "%s%s\n", FIXTURE_REPORT_INDENT, x->message);
		if (x->output && *x->output)
			print_output(out, x->output);
	}
	fflush(out);
}

void fixture_report_add(struct fixture_report *r, struct fixture_result *x)
{
	if (r->count == r->capacity) {
		size_t capacity = r->capacity ? r->capacity * 2 : 16;
		struct fixture_result *bigger = realloc(r->results, capacity * sizeof *bigger);
		if (!bigger) {
			free(x->name), free(x->file), free(x->message), free(x->details), free(x->output);
			return;
		}
		r->results = bigger;
		r->capacity = capacity;
	}
	r->results[r->count++] = *x;
	if (x->verdict == FIXTURE_PASSED)
		r->passed++;
	else if (x->verdict == FIXTURE_RECORDED)
		r->recorded++;
	else
		r->failed++;
	r->milliseconds += x->milliseconds;
	if (!r->json)
		print_line(r, x);
	memset(x, 0, sizeof *x);
}

static void print_json(const struct fixture_report *r)
{
	static const char *const verdicts[] = {"passed", "failed", "error", "recorded"};
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "passed", (double)r->passed);
	cJSON_AddNumberToObject(root, "failed", (double)r->failed);
	if (r->recorded)
		cJSON_AddNumberToObject(root, "recorded", (double)r->recorded);
	cJSON *fixtures = cJSON_AddArrayToObject(root, "fixtures");
	for (size_t i = 0; i < r->count; i++) {
		const struct fixture_result *x = &r->results[i];
		cJSON *item = cJSON_CreateObject();
		cJSON_AddItemToArray(fixtures, item);
		cJSON_AddStringToObject(item, "name", x->name);
		cJSON_AddStringToObject(item, "file", x->file);
		cJSON_AddStringToObject(item, "result", verdicts[x->verdict]);
		char time[32];
		snprintf(time, sizeof time, "%.3f", x->milliseconds);
		cJSON_AddRawToObject(item, "time_ms", time);
		if (x->message)
			cJSON_AddStringToObject(item, "message", x->message);
		if (x->details && x->verdict != FIXTURE_PASSED)
			cJSON_AddStringToObject(item, "details", x->details);
		if (x->output && x->verdict != FIXTURE_PASSED)
			cJSON_AddStringToObject(item, "output", x->output);
	}
	char *text = cJSON_Print(root);
	if (text)
		fprintf(r->out, "%s\n", text);
	free(text);
	cJSON_Delete(root);
}

void fixture_report_finish(struct fixture_report *r)
{
	if (r->json) {
		print_json(r);
		return;
	}
	FILE *out = r->out;
	const char *style = term_style(out, r->failed ? STYLE_RED : STYLE_GREEN), *reset = term_style(out, STYLE_RESET);
	char time[32];
	format_time(time, sizeof time, r->milliseconds);
	if (r->recorded)
		fprintf(out, "%s%zu recorded, %zu failed%s (%s)\n", style, r->recorded, r->failed, reset, time);
	else
		fprintf(out, "%s%zu passed, %zu failed%s (%s)\n", style, r->passed, r->failed, reset, time);
}

/* --- JUnit XML ----------------------------------------------------------- */

/* Text as XML character data or attribute value: the five entities, and
 * what XML 1.0 cannot hold (control characters, broken UTF-8) as '?'. */
static void xml_text(struct text_buffer *out, const char *s)
{
	while (*s) {
		unsigned char c = (unsigned char)*s;
		size_t n = 1;
		if (c >= 0x80) {
			n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
			for (size_t k = 1; k < n; k++)
				if (((unsigned char)s[k] & 0xc0) != 0x80)
					n = 0;
			if (n && body_is_text((const uint8_t *)s, n)) {
				text_buffer_add(out, s, n);
				s += n;
			} else {
				text_buffer_add(out, "?", 1);
				s++;
			}
			continue;
		}
		switch (c) {
		case '&': text_buffer_add(out, "&amp;", 5); break;
		case '<': text_buffer_add(out, "&lt;", 4); break;
		case '>': text_buffer_add(out, "&gt;", 4); break;
		case '"': text_buffer_add(out, "&quot;", 6); break;
		case '\n': case '\t': text_buffer_add(out, s, 1); break;
		default: text_buffer_add(out, c < 0x20 || c == 0x7f ? "?" : s, 1); break;
		}
		s++;
	}
}

int fixture_report_write_junit(const struct fixture_report *r, const char *path, struct tkvm_error *err)
{
	size_t broken = 0;
	for (size_t i = 0; i < r->count; i++)
		broken += r->results[i].verdict == FIXTURE_BROKEN;
	struct text_buffer x = {0};
	text_buffer_printf(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	text_buffer_printf(&x, "<testsuites name=\"tkvm test\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" time=\"%.6f\">\n",
			   r->count, r->failed - broken, broken, r->milliseconds / 1000);
	text_buffer_printf(&x, "  <testsuite name=\"tkvm\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\" time=\"%.6f\">\n",
			   r->count, r->failed - broken, broken, r->milliseconds / 1000);
	for (size_t i = 0; i < r->count; i++) {
		const struct fixture_result *t = &r->results[i];
		char *classname = strdup(t->file ? t->file : "");
		if (classname) {
			size_t n = strlen(classname);
			if (n > 5 && !strcmp(classname + n - 5, ".json"))
				classname[n - 5] = 0;
			for (char *c = classname; *c; c++)
				if (*c == '/')
					*c = '.';
		}
		text_buffer_printf(&x, "    <testcase name=\"");
		xml_text(&x, t->name);
		text_buffer_printf(&x, "\" classname=\"");
		xml_text(&x, classname ? classname : "");
		text_buffer_printf(&x, "\" file=\"");
		xml_text(&x, t->file ? t->file : "");
		text_buffer_printf(&x, "\" time=\"%.6f\"", t->milliseconds / 1000);
		free(classname);
		if (t->verdict == FIXTURE_PASSED || t->verdict == FIXTURE_RECORDED) {
			text_buffer_printf(&x, "/>\n");
			continue;
		}
		const char *element = t->verdict == FIXTURE_BROKEN ? "error" : "failure";
		text_buffer_printf(&x, ">\n      <%s message=\"", element);
		xml_text(&x, t->message ? t->message : "");
		text_buffer_printf(&x, "\" type=\"%s\">", t->verdict == FIXTURE_BROKEN ? "fixture" : "mismatch");
		xml_text(&x, t->details ? t->details : t->message ? t->message : "");
		text_buffer_printf(&x, "</%s>\n", element);
		if (t->output && *t->output) {
			text_buffer_printf(&x, "      <system-out>");
			xml_text(&x, t->output);
			text_buffer_printf(&x, "</system-out>\n");
		}
		text_buffer_printf(&x, "    </testcase>\n");
	}
	text_buffer_printf(&x, "  </testsuite>\n</testsuites>\n");
	if (x.out_of_memory) {
		text_buffer_free(&x);
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", path);
	}
	int rc = file_write_atomic(path, text_buffer_str(&x), x.length, err);
	text_buffer_free(&x);
	return rc;
}

void fixture_report_free(struct fixture_report *r)
{
	for (size_t i = 0; i < r->count; i++) {
		struct fixture_result *x = &r->results[i];
		free(x->name), free(x->file), free(x->message), free(x->details), free(x->output);
	}
	free(r->results);
	memset(r, 0, sizeof *r);
}
