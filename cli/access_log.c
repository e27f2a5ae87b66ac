/* Access-log lines (see access_log.h). Each line is formatted in full and
 * then written with one fwrite under the stream's lock. */
#include "cli/access_log.h"
#include "cli/terminal.h"
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 8192

void access_log_init(struct access_log *log, FILE *out, enum access_log_format format)
{
	log->out = out;
	log->format = format;
	log->colors = format == ACCESS_LOG_COMMON && term_colors(out);
}

struct line {
	char text[LINE_MAX_BYTES];
	size_t length;
};

static void add(struct line *line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct line *line, const char *fmt, ...)
{
	if (line->length >= sizeof line->text - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line->text + line->length, sizeof line->text - line->length, fmt, ap);
	va_end(ap);
	if (n > 0)
		line->length += (size_t)n < sizeof line->text - line->length ? (size_t)n : sizeof line->text - line->length - 1;
}

/* Request lines and causes come from clients and programs: quotes,
 * backslashes and control bytes are escaped so that a line stays one line. */
static void add_escaped(struct line *line, const char *text, size_t limit)
{
	for (size_t i = 0; text[i] && i < limit; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '"' || c == '\\')
			add(line, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			add(line, "\\x%02x", c);
		else
			add(line, "%c", c);
	}
}

static const char *status_style(const struct access_log *log, int status)
{
	if (!log->colors)
		return "";
	if (status >= 500 || status == 0)
		return term_style(log->out, STYLE_RED);
	if (status >= 400)
		return term_style(log->out, STYLE_YELLOW);
	return term_style(log->out, STYLE_GREEN);
}

static void format_common(struct access_log *log, const struct access_log_entry *e, struct line *line)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof date, "%d/%b/%Y:%H:%M:%S %z", &tm);
	add(line, "%s - - [%s] \"", e->remote ? e->remote : "-", date);
	if (e->method) {
		add_escaped(line, e->method, 64);
		add(line, " ");
		add_escaped(line, e->target ? e->target : "", 2048);
		add(line, " ");
		add_escaped(line, e->version ? e->version : "", 16);
	} else {
		add(line, "-");
	}
	add(line, "\" %s", status_style(log, e->status));
	if (e->status)
		add(line, "%d", e->status);
	else
		add(line, "-");
	add(line, "%s %llu %.3fms", log->colors ? term_style(log->out, STYLE_RESET) : "", (unsigned long long)e->bytes,
	    e->seconds * 1e3);
	const struct access_log_detail *d = e->detail;
	add(line, " %s", d && d->program ? d->program : "-");
	if (d && d->vm >= 0)
		add(line, " vm=%d", d->vm);
	else
		add(line, " vm=-");
	if (d && d->queue_seconds >= 0.0005)
		add(line, " queue=%.1fms", d->queue_seconds * 1e3);
	if (d && d->outcome && strcmp(d->outcome, "ok") != 0)
		add(line, " outcome=%s", d->outcome);
	if (d && d->cause) {
		add(line, " cause=\"");
		add_escaped(line, d->cause, 2048);
		add(line, "\"");
	}
	add(line, "\n");
}

static void utc_now(char *date, size_t size)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(date, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(date + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void add_json(struct line *line, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text) {
		add(line, "%s\n", text);
		free(text);
	}
}

static void format_json(const struct access_log_entry *e, struct line *line)
{
	char date[64];
	utc_now(date, sizeof date);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "time", date);
	cJSON_AddStringToObject(o, "remote", e->remote ? e->remote : "");
	if (e->method) {
		cJSON_AddStringToObject(o, "method", e->method);
		cJSON_AddStringToObject(o, "target", e->target ? e->target : "");
		cJSON_AddStringToObject(o, "protocol", e->version ? e->version : "");
	}
	if (e->status)
		cJSON_AddNumberToObject(o, "status", e->status);
	else
		cJSON_AddNullToObject(o, "status");
	cJSON_AddNumberToObject(o, "bytes", (double)e->bytes);
	cJSON_AddNumberToObject(o, "duration_ms", (double)(long long)(e->seconds * 1e6) / 1e3);
	const struct access_log_detail *d = e->detail;
	if (d && d->program)
		cJSON_AddStringToObject(o, "program", d->program);
	if (d && d->vm >= 0)
		cJSON_AddNumberToObject(o, "vm", d->vm);
	if (d && d->program)
		cJSON_AddNumberToObject(o, "queue_ms", (double)(long long)(d->queue_seconds * 1e6) / 1e3);
	if (d && d->outcome)
		cJSON_AddStringToObject(o, "outcome", d->outcome);
	if (d && d->cause)
		cJSON_AddStringToObject(o, "cause", d->cause);
	add_json(line, o);
}

static void write_line(struct access_log *log, struct line *line)
{
	if (line->length && line->text[line->length - 1] != '\n')
		line->text[line->length - 1] = '\n'; /* truncated: still one line */
	flockfile(log->out);
	fwrite(line->text, 1, line->length, log->out);
	fflush(log->out);
	funlockfile(log->out);
}

void access_log_write(struct access_log *log, const struct access_log_entry *entry)
{
	if (!log || !log->out)
		return;
	struct line *line = malloc(sizeof *line);
	if (!line)
		return;
	line->length = 0;
	if (log->format == ACCESS_LOG_JSON)
		format_json(entry, line);
	else
		format_common(log, entry, line);
	write_line(log, line);
	free(line);
}

void access_log_message(struct access_log *log, const char *source, const char *text)
{
	if (!log || !log->out)
		return;
	struct line *line = malloc(sizeof *line);
	if (!line)
		return;
	line->length = 0;
	if (log->format == ACCESS_LOG_JSON) {
		char date[64];
		utc_now(date, sizeof date);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "time", date);
		cJSON_AddStringToObject(o, "source", source);
		cJSON_AddStringToObject(o, "message", text);
		add_json(line, o);
	} else {
		add(line, "%s: ", source);
		add_escaped(line, text, 2048);
		add(line, "\n");
	}
	write_line(log, line);
	free(line);
}
