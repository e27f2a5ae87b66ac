/* The profile for people (tables on stdout, colours only on a terminal),
 * for scripts (one JSON document, also the --save format) and for other
 * tools (folded stacks). */
#include "cli/profile_report.h"
#include "cli/terminal.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOP_FUNCTIONS 20
#define TOP_LINES 10

double profile_overhead_per_request(const struct profile_result *r)
{
	if (!r->hz || !r->requests)
		return 0;
	return (r->sampled_seconds - r->unsampled_seconds) / (double)r->requests;
}

double profile_overhead_per_sample(const struct profile_result *r)
{
	if (!r->samples_taken)
		return 0;
	return (r->sampled_seconds - r->unsampled_seconds) / (double)r->samples_taken;
}

/* Sample variance from a sum and a sum of squares. */
static double variance(double sum, double squares, size_t n)
{
	if (n < 2)
		return 0;
	double v = (squares - sum * sum / (double)n) / (double)(n - 1);
	return v > 0 ? v : 0;
}

double profile_overhead_error(const struct profile_result *r)
{
	if (!r->hz || r->requests < 2)
		return 0;
	double n = (double)r->requests;
	return sqrt(variance(r->sampled_seconds, r->sampled_squares, r->requests) / n +
		    variance(r->unsampled_seconds, r->unsampled_squares, r->requests) / n);
}

const char *profile_format_seconds(double seconds, char *buf, size_t size)
{
	double magnitude = seconds < 0 ? -seconds : seconds;
	if (magnitude == 0)
		snprintf(buf, size, "0");
	else if (magnitude < 1e-6)
		snprintf(buf, size, "%.0f ns", seconds * 1e9);
	else if (magnitude < 1e-3)
		snprintf(buf, size, magnitude < 1e-5 ? "%.2f µs" : magnitude < 1e-4 ? "%.1f µs" : "%.0f µs", seconds * 1e6);
	else if (magnitude < 1)
		snprintf(buf, size, magnitude < 1e-2 ? "%.2f ms" : magnitude < 1e-1 ? "%.1f ms" : "%.0f ms", seconds * 1e3);
	else
		snprintf(buf, size, "%.2f s", seconds);
	return buf;
}

const char *profile_format_value(enum phase_unit unit, double value, char *buf, size_t size)
{
	switch (unit) {
	case PHASE_SECONDS:
		return profile_format_seconds(value, buf, size);
	case PHASE_BYTES:
		if (value >= 10 * 1024 * 1024)
			snprintf(buf, size, "%.1f MiB", value / (1024 * 1024));
		else if (value >= 10 * 1024)
			snprintf(buf, size, "%.1f KiB", value / 1024);
		else
			snprintf(buf, size, "%.0f", value);
		return buf;
	case PHASE_COUNT:
	default:
		snprintf(buf, size, value == (double)(long long)value ? "%.0f" : "%.1f", value);
		return buf;
	}
}

/* strlen in characters, for UTF-8 labels ("µs" is two bytes, one column). */
static int columns(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* Right-aligns s in width columns. */
static void print_right(FILE *out, const char *s, int width)
{
	for (int pad = width - columns(s); pad > 0; pad--)
		fputc(' ', out);
	fputs(s, out);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void print_phases(FILE *out, const struct profile_result *r)
{
	const char *bold = term_style(out, STYLE_BOLD), *dim = term_style(out, STYLE_DIM), *reset = term_style(out, STYLE_RESET);
	fprintf(out, "%s%-44s %9s %10s %10s %10s%s\n", bold, "phase (per request)", "calls", "p50", "p90", "p99", reset);
	for (size_t i = 0; i < r->phases.count; i++) {
		const struct phase *p = &r->phases.phases[i];
		char label[80], calls[32] = "", v50[32], v90[32], v99[32];
		snprintf(label, sizeof label, "%*s%s", (int)p->indent * 2, "", p->label);
		if (p->group == PHASE_GROUP_HOST_CALL || p->group == PHASE_GROUP_SYSCALL) {
			double per_request = r->phases.filled ? (double)p->calls / (double)r->phases.filled : 0;
			snprintf(calls, sizeof calls, per_request == (double)(long long)per_request ? "%.0f" : "%.1f", per_request);
		}
		bool detail = p->indent > 0;
		fprintf(out, "%s", detail ? "" : bold);
		fputs(label, out);
		for (int pad = 44 - columns(label); pad > 0; pad--)
			fputc(' ', out);
		fprintf(out, "%s ", detail ? "" : reset);
		fprintf(out, "%s", dim);
		print_right(out, calls, 9);
		fprintf(out, "%s ", reset);
		print_right(out, profile_format_value(p->unit, p->p50, v50, sizeof v50), 10);
		fputc(' ', out);
		print_right(out, profile_format_value(p->unit, p->p90, v90, sizeof v90), 10);
		fputc(' ', out);
		print_right(out, profile_format_value(p->unit, p->p99, v99, sizeof v99), 10);
		fputc('\n', out);
	}
	fprintf(out, "%s(calls: per request; time in the guest includes VM entries and exits, which\n"
		" cannot be told apart from the program there; the host rows are measured on the host)%s\n",
		dim, reset);
}

struct ranked_function {
	uint32_t id;
	uint64_t self, total;
};

static int compare_ranked(const void *a, const void *b)
{
	const struct ranked_function *x = a, *y = b;
	if (x->self != y->self)
		return x->self < y->self ? 1 : -1;
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Functions by self samples, then total; *count of them. */
static struct ranked_function *rank_functions(const struct profile_result *r, size_t *count)
{
	const struct sample_stacks *s = &r->stacks;
	struct ranked_function *ranked = calloc(s->function_count ? s->function_count : 1, sizeof *ranked);
	if (!ranked)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < s->function_count; i++)
		if (s->functions[i].total)
			ranked[n++] = (struct ranked_function){(uint32_t)i, s->functions[i].self, s->functions[i].total};
	qsort(ranked, n, sizeof *ranked, compare_ranked);
	*count = n;
	return ranked;
}

static void print_functions(FILE *out, const struct profile_result *r)
{
	const struct sample_stacks *s = &r->stacks;
	const char *bold = term_style(out, STYLE_BOLD), *dim = term_style(out, STYLE_DIM), *reset = term_style(out, STYLE_RESET);
	double per_request = r->requests ? (double)r->samples_taken / (double)r->requests : 0;
	fprintf(out, "\n%ssamples:%s %zu in %zu requests at %u Hz (%.1f per request; they see the guest only)\n",
		bold, reset, s->sample_count, r->requests, r->hz, per_request);
	if (!s->sample_count) {
		fprintf(out, "%s(no samples: the requests are shorter than the sampling period; raise --hz or -n)%s\n", dim, reset);
		return;
	}
	size_t count = 0;
	struct ranked_function *ranked = rank_functions(r, &count);
	if (!ranked)
		return;
	fprintf(out, "%s%7s %7s  %-32s %s%s\n", bold, "self", "total", "function", "where", reset);
	double total = (double)s->sample_count;
	for (size_t i = 0; i < count && i < TOP_FUNCTIONS; i++) {
		const struct profile_function *f = profile_symbols_get(r->symbols, ranked[i].id);
		char where[300] = "";
		if (f->file)
			snprintf(where, sizeof where, "%s:%d", base_name(f->file), f->line);
		fprintf(out, "%6.1f%% %6.1f%%  %-32s %s%s%s\n", 100.0 * (double)ranked[i].self / total,
			100.0 * (double)ranked[i].total / total, f->name, dim, where, reset);
	}
	if (count > TOP_FUNCTIONS)
		fprintf(out, "%s(%zu more functions: --json, --folded or --svg have them all)%s\n", dim,
			count - TOP_FUNCTIONS, reset);
	free(ranked);
	if (s->line_count) {
		fprintf(out, "\n%s%7s  %-32s %s%s\n", bold, "self", "hot line", "function", reset);
		for (size_t i = 0; i < s->line_count && i < TOP_LINES; i++) {
			char where[300];
			snprintf(where, sizeof where, "%s:%d", base_name(s->lines[i].file), s->lines[i].line);
			fprintf(out, "%6.1f%%  %-32s %s\n", 100.0 * (double)s->lines[i].samples / total, where,
				profile_symbols_get(r->symbols, s->lines[i].function)->name);
		}
	}
}

/* Fewer samples than this and the cost of one is lost in the noise. */
#define OVERHEAD_MIN_SAMPLES 20

static void print_overhead(FILE *out, const struct profile_result *r)
{
	if (!r->hz || !r->requests)
		return;
	char per_request[32], error[32], per_sample[32], sample_error[32], unsampled[32], sampled[32], host[32];
	double mean_unsampled = r->unsampled_seconds / (double)r->requests;
	double mean_sampled = r->sampled_seconds / (double)r->requests;
	double overhead = profile_overhead_per_request(r);
	fprintf(out, "\n%ssampling overhead:%s %s%s ± %s per request (%+.1f%%)", term_style(out, STYLE_BOLD),
		term_style(out, STYLE_RESET), overhead >= 0 ? "+" : "",
		profile_format_seconds(overhead, per_request, sizeof per_request),
		profile_format_seconds(profile_overhead_error(r), error, sizeof error),
		mean_unsampled > 0 ? 100.0 * overhead / mean_unsampled : 0.0);
	if (r->samples_taken >= OVERHEAD_MIN_SAMPLES)
		fprintf(out, ", %s ± %s per sample (%s of it on the host taking the sample)",
			profile_format_seconds(profile_overhead_per_sample(r), per_sample, sizeof per_sample),
			profile_format_seconds(profile_overhead_error(r) * (double)r->requests / (double)r->samples_taken,
					       sample_error, sizeof sample_error),
			profile_format_seconds(r->sampling_host_seconds / (double)r->samples_taken, host, sizeof host));
	else
		fprintf(out, ", too few samples to price one");
	fprintf(out, "\n%s(mean request %s without sampling, %s with; %zu requests each, interleaved, this run)%s\n",
		term_style(out, STYLE_DIM), profile_format_seconds(mean_unsampled, unsampled, sizeof unsampled),
		profile_format_seconds(mean_sampled, sampled, sizeof sampled), r->requests, term_style(out, STYLE_RESET));
}

static void print_statuses(FILE *out, const struct profile_result *r)
{
	size_t kinds = 0;
	for (size_t i = 0; i < PROFILE_MAX_STATUSES && r->statuses[i]; i++)
		kinds++;
	fprintf(out, "responses:");
	for (size_t i = 0; i < kinds; i++)
		fprintf(out, "%s %d ×%zu", i ? "," : "", r->statuses[i], r->status_counts[i]);
	if (r->status_counts[PROFILE_MAX_STATUSES])
		fprintf(out, ", other ×%zu", r->status_counts[PROFILE_MAX_STATUSES]);
	fputc('\n', out);
}

void profile_report_print(FILE *out, const struct profile_result *r)
{
	fprintf(out, "%s%s %s %s%s: %zu requests", term_style(out, STYLE_BOLD), r->program, r->method, r->url,
		term_style(out, STYLE_RESET), r->requests);
	if (r->hz)
		fprintf(out, " for the phases, %zu more sampled at %u Hz (interleaved)", r->requests, r->hz);
	fputc('\n', out);
	print_statuses(out, r);
	fputc('\n', out);
	print_phases(out, r);
	if (r->hz) {
		print_functions(out, r);
		print_overhead(out, r);
	}
}

static cJSON *phase_json(const struct phase *p, size_t requests)
{
	static const char *const units[] = {"seconds", "count", "bytes"};
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "label", p->label);
	cJSON_AddStringToObject(o, "unit", units[p->unit]);
	cJSON_AddNumberToObject(o, "p50", p->p50);
	cJSON_AddNumberToObject(o, "p90", p->p90);
	cJSON_AddNumberToObject(o, "p99", p->p99);
	cJSON_AddNumberToObject(o, "mean", p->mean);
	if (p->group == PHASE_GROUP_HOST_CALL || p->group == PHASE_GROUP_SYSCALL)
		cJSON_AddNumberToObject(o, "calls_per_request", requests ? (double)p->calls / (double)requests : 0);
	cJSON_AddBoolToObject(o, "gated", p->gated);
	return o;
}

cJSON *profile_report_json(const struct profile_result *r)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddNumberToObject(root, "tkvm_profile", PROFILE_FORMAT_VERSION);
	cJSON_AddStringToObject(root, "program", r->program);
	cJSON_AddStringToObject(root, "method", r->method);
	cJSON_AddStringToObject(root, "url", r->url);
	cJSON_AddNumberToObject(root, "requests", (double)r->requests);
	cJSON_AddNumberToObject(root, "sample_hz", r->hz);
	cJSON *statuses = cJSON_AddObjectToObject(root, "responses");
	for (size_t i = 0; statuses && i < PROFILE_MAX_STATUSES && r->statuses[i]; i++) {
		char code[16];
		snprintf(code, sizeof code, "%d", r->statuses[i]);
		cJSON_AddNumberToObject(statuses, code, (double)r->status_counts[i]);
	}
	if (statuses && r->status_counts[PROFILE_MAX_STATUSES])
		cJSON_AddNumberToObject(statuses, "other", (double)r->status_counts[PROFILE_MAX_STATUSES]);
	cJSON *phases = cJSON_AddObjectToObject(root, "phases");
	for (size_t i = 0; phases && i < r->phases.count; i++)
		cJSON_AddItemToObject(phases, r->phases.phases[i].key, phase_json(&r->phases.phases[i], r->phases.filled));
	if (r->hz) {
		const struct sample_stacks *s = &r->stacks;
		cJSON *sampling = cJSON_AddObjectToObject(root, "sampling");
		if (sampling) {
			cJSON_AddNumberToObject(sampling, "samples", (double)s->sample_count);
			cJSON_AddNumberToObject(sampling, "in_program", (double)s->in_program);
			cJSON_AddNumberToObject(sampling, "leaf_only", (double)s->leaf_only);
			cJSON_AddBoolToObject(sampling, "lines", profile_symbols_have_lines(r->symbols));
			cJSON_AddNumberToObject(sampling, "mean_request_seconds_unsampled",
						r->requests ? r->unsampled_seconds / (double)r->requests : 0);
			cJSON_AddNumberToObject(sampling, "mean_request_seconds_sampled",
						r->requests ? r->sampled_seconds / (double)r->requests : 0);
			cJSON_AddNumberToObject(sampling, "overhead_seconds_per_request", profile_overhead_per_request(r));
			cJSON_AddNumberToObject(sampling, "overhead_standard_error", profile_overhead_error(r));
			cJSON_AddNumberToObject(sampling, "overhead_seconds_per_sample", profile_overhead_per_sample(r));
			cJSON_AddNumberToObject(sampling, "host_seconds_per_sample",
						r->samples_taken ? r->sampling_host_seconds / (double)r->samples_taken : 0);
		}
		size_t count = 0;
		struct ranked_function *ranked = rank_functions(r, &count);
		cJSON *functions = cJSON_AddArrayToObject(root, "functions");
		for (size_t i = 0; ranked && functions && i < count; i++) {
			const struct profile_function *f = profile_symbols_get(r->symbols, ranked[i].id);
			cJSON *o = cJSON_CreateObject();
			if (!o)
				break;
			cJSON_AddStringToObject(o, "name", f->name);
			cJSON_AddNumberToObject(o, "self", (double)ranked[i].self / (double)s->sample_count);
			cJSON_AddNumberToObject(o, "total", (double)ranked[i].total / (double)s->sample_count);
			if (f->file) {
				cJSON_AddStringToObject(o, "file", f->file);
				cJSON_AddNumberToObject(o, "line", f->line);
			}
			cJSON_AddItemToArray(functions, o);
		}
		free(ranked);
		cJSON *lines = cJSON_AddArrayToObject(root, "hot_lines");
		for (size_t i = 0; lines && i < s->line_count && i < 50; i++) {
			cJSON *o = cJSON_CreateObject();
			if (!o)
				break;
			cJSON_AddStringToObject(o, "file", s->lines[i].file);
			cJSON_AddNumberToObject(o, "line", s->lines[i].line);
			cJSON_AddStringToObject(o, "function", profile_symbols_get(r->symbols, s->lines[i].function)->name);
			cJSON_AddNumberToObject(o, "self", (double)s->lines[i].samples / (double)s->sample_count);
			cJSON_AddItemToArray(lines, o);
		}
	}
	return root;
}

/* Folded-stack frames may hold neither ';' (the separator) nor line breaks. */
static void write_folded_name(FILE *out, const char *name)
{
	for (; *name; name++)
		fputc(*name == ';' ? ':' : (*name == '\n' || *name == '\r') ? ' ' : *name, out);
}

int profile_report_folded(FILE *out, const struct profile_result *r)
{
	struct unique_stack *unique;
	size_t count;
	if (sample_stacks_unique(&r->stacks, r->symbols, &unique, &count) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		for (size_t k = 0; k < unique[i].depth; k++) {
			if (k)
				fputc(';', out);
			write_folded_name(out, profile_symbols_get(r->symbols, unique[i].frames[k])->name);
		}
		fprintf(out, " %llu\n", (unsigned long long)unique[i].count);
	}
	free(unique);
	return ferror(out) ? -EIO : 0;
}
