/* tkvm profile: boot a program once, send it the same request many times
 * and show where each request's time goes: phases (p50/p90/p99, from
 * requests run without sampling), the functions (from as many requests
 * again, sampled, interleaved with the others so the overhead of sampling
 * is measured in the same run), a flame graph, speedscope and folded
 * stacks, and a regression check against a saved profile. Exit status 0,
 * 1 for a failed request or a regression, 2 for usage errors. */
#include "cli/commands.h"
#include "cli/fetch_client.h"
#include "cli/flame_graph.h"
#include "cli/profile_baseline.h"
#include "cli/profile_report.h"
#include "cli/program_options.h"
#include "cli/project_build.h"
#include "cli/request_options.h"
#include "cli/speedscope.h"
#include "cli/terminal.h"
#include "runner/tkvm.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROFILE_DEFAULT_REQUESTS 200
#define PROFILE_MAX_REQUESTS 100000
#define PROFILE_DEFAULT_HZ 500
#define PROFILE_MAX_HZ 5000
#define PROFILE_DEFAULT_THRESHOLD 0.10
/* Fewer samples in the program than this say nothing about its frames. */
#define LEAF_ONLY_MIN_SAMPLES 10

enum {
	OPTION_HZ = 600,
	OPTION_SVG,
	OPTION_SPEEDSCOPE,
	OPTION_FOLDED,
	OPTION_SAVE,
	OPTION_AGAINST,
	OPTION_THRESHOLD,
	OPTION_JSON,
};

struct profile_options {
	struct request_options request;
	unsigned long requests;
	unsigned hz;
	const char *svg_path, *speedscope_path, *folded_path, *save_path, *against_path;
	double threshold;
	bool json;
};

static void profile_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm profile [options] [PROGRAM] [METHOD] URL\n"
		"\n"
		"Boots PROGRAM once and sends it the same request -n times without sampling\n"
		"(the phase table: p50/p90/p99 of waiting for a VM, time in the guest, each\n"
		"host call and Linux syscall, exits, reset, pages restored, bytes in/out),\n"
		"then -n times again with a sampling timer on the vCPU, interleaved (the\n"
		"functions, by self and total share, file:line with DWARF). The sampling\n"
		"overhead is measured in the same run and reported. The request is given\n"
		"as to 'tkvm run'; without PROGRAM, the project's (tkvm.json), built when\n"
		"stale.\n"
		"\n"
		"request:\n"
		"  -d, --data DATA          request body; @FILE reads a file, @- standard input\n"
		"  -H, --header 'N: V'      request header (repeatable, at most 64)\n"
		"      --arg ARG            the request's arg (otherwise the URL's query string)\n"
		"\n"
		"profiling:\n"
		"  -n N                     requests in each set (default %d; 2N are run)\n"
		"      --hz HZ              samples per second (default %d, at most %d;\n"
		"                           0: phases only). Each sample costs ~100 µs here\n"
		"\n"
		"output:\n"
		"      --svg FILE           flame graph, a self-contained SVG\n"
		"      --speedscope FILE    speedscope JSON (https://www.speedscope.app)\n"
		"      --folded FILE        folded stacks, 'main;f;g 42' per line (flamegraph.pl, inferno)\n"
		"      --json               the profile as JSON on stdout instead of the tables\n"
		"      --save FILE          write the profile as JSON, a baseline for --against\n"
		"      --against FILE       compare with a saved profile; exit 1 when a phase's p50\n"
		"                           (request time included) grew beyond the threshold\n"
		"      --threshold PCT      for --against (default 10%%); growths under 25 µs (time)\n"
		"                           or 1 (counts) are noise and never fail\n"
		"\n",
		PROFILE_DEFAULT_REQUESTS, PROFILE_DEFAULT_HZ, PROFILE_MAX_HZ);
	program_options_help(out);
	fprintf(out,
		"\n"
		"examples:\n"
		"  tkvm profile ./hello GET /hello -n 2000\n"
		"  tkvm profile ./img POST /img --data @rose.jpg --svg flame.svg --speedscope prof.json\n"
		"  tkvm profile --save base.json ./hello /hello; tkvm profile --against base.json ./hello /hello\n"
		"\n"
		"Stacks come from frame pointers: build with -fno-omit-frame-pointer (tkvm build\n"
		"--profile) and -g for file:line.\n"
		"\n"
		"exit status: 0 ok, 1 a failed request, a file that could not be written or a\n"
		"regression (--against), 2 usage errors (including an unreadable --against file).\n");
}

static int parse_count(const char *text, unsigned long low, unsigned long high, unsigned long *value)
{
	char *end;
	errno = 0;
	if (!text[0] || text[0] == '-' || text[0] == '+')
		return -1;
	unsigned long parsed = strtoul(text, &end, 10);
	if (errno || *end || parsed < low || parsed > high)
		return -1;
	*value = parsed;
	return 0;
}

/* "10%", "10" or "2.5%" */
static int parse_threshold(const char *text, double *value)
{
	char *end;
	errno = 0;
	double parsed = strtod(text, &end);
	if (end == text || errno)
		return -1;
	if (*end == '%')
		end++;
	if (*end || !(parsed > 0) || parsed > 10000)
		return -1;
	*value = parsed / 100;
	return 0;
}

static int take_option(struct profile_options *o, int c, const char *value)
{
	unsigned long number;
	switch (c) {
	case 'n':
		if (parse_count(value, 1, PROFILE_MAX_REQUESTS, &number) < 0) {
			cli_error("-n wants a number of requests from 1 to %d, got '%s'", PROFILE_MAX_REQUESTS, value);
			return -1;
		}
		o->requests = number;
		return 1;
	case OPTION_HZ:
		if (parse_count(value, 0, PROFILE_MAX_HZ, &number) < 0) {
			cli_error("--hz wants a sampling rate from 1 to %d per second (0: phases only), got '%s'",
				  PROFILE_MAX_HZ, value);
			return -1;
		}
		o->hz = (unsigned)number;
		return 1;
	case OPTION_THRESHOLD:
		if (parse_threshold(value, &o->threshold) < 0) {
			cli_error("--threshold wants a percentage above 0, such as 10%%, got '%s'", value);
			return -1;
		}
		return 1;
	case OPTION_SVG: o->svg_path = value; return 1;
	case OPTION_SPEEDSCOPE: o->speedscope_path = value; return 1;
	case OPTION_FOLDED: o->folded_path = value; return 1;
	case OPTION_SAVE: o->save_path = value; return 1;
	case OPTION_AGAINST: o->against_path = value; return 1;
	case OPTION_JSON: o->json = true; return 1;
	default: return 0;
	}
}

struct hooks_context {
	bool show_output;
	struct fetch_client fetch; /* self-requests go to the same program, in-process */
};

static int on_fetch(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response)
{
	struct hooks_context *c = context;
	return fetch_client_perform(&c->fetch, request, response);
}

static void on_output(void *context, int fd, const char *data, size_t length)
{
	struct hooks_context *c = context;
	if (c->show_output)
		fwrite(data, 1, length, stderr);
}

/* Progress on a terminal only: "profiling: 120/400 requests", at most ten
 * updates a second, erased at the end. */
struct progress {
	bool shown;
	size_t total;
	struct timespec last;
};

static void progress_update(struct progress *p, size_t done)
{
	if (!p->shown)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double since = (double)(now.tv_sec - p->last.tv_sec) + (double)(now.tv_nsec - p->last.tv_nsec) / 1e9;
	if (since < 0.1 && done < p->total)
		return;
	p->last = now;
	fprintf(stderr, "\rprofiling: %zu/%zu requests", done, p->total);
	fflush(stderr);
}

static void progress_end(struct progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r%40s\r", "");
}

static void count_status(struct profile_result *r, int status)
{
	for (size_t i = 0; i < PROFILE_MAX_STATUSES; i++) {
		if (r->statuses[i] == status || r->statuses[i] == 0) {
			r->statuses[i] = status;
			r->status_counts[i]++;
			return;
		}
	}
	r->status_counts[PROFILE_MAX_STATUSES]++;
}

/* One request; a failure ends the profile (profiling a crash is not what
 * anyone wants, and its timings would mislead). */
static int run_one(struct tkvm_program *program, const struct tkvm_request_input *input, unsigned hz,
		   struct tkvm_profile *profile, const char *name, size_t index)
{
	struct tkvm_response response;
	struct tkvm_error err = {0};
	struct tkvm_profile_options options = {.sample_hz = hz};
	char which[48];
	if (index)
		snprintf(which, sizeof which, "request %zu", index);
	else
		snprintf(which, sizeof which, "the warm-up request");
	if (tkvm_request_run_profiled(program, input, &response, &options, profile, &err) < 0) {
		cli_error("%s: %s: %s", name, which, err.message);
		tkvm_profile_free(profile);
		return -1;
	}
	int status = response.status;
	if (response.outcome != TKVM_OUTCOME_OK) {
		cli_error("%s: %s failed: %s", name, which, response.error);
		cli_hint("'tkvm run' with the same arguments shows the failure; profile a request that succeeds");
		tkvm_response_free(&response);
		tkvm_profile_free(profile);
		return -1;
	}
	tkvm_response_free(&response);
	return status;
}

static int collect(struct tkvm_program *program, const struct tkvm_request_input *input, const struct profile_options *o,
		   struct profile_result *r)
{
	struct progress progress = {.shown = isatty(STDERR_FILENO), .total = o->requests * (o->hz ? 2 : 1)};
	clock_gettime(CLOCK_MONOTONIC, &progress.last);
	struct tkvm_profile profile;
	/* A warm-up request, not counted: the first one touches pages the
	 * others find ready. */
	int status = run_one(program, input, 0, &profile, r->program, 0);
	tkvm_profile_free(&profile);
	if (status < 0)
		return -1;
	size_t done = 0;
	for (size_t i = 0; i < o->requests; i++) {
		/* Alternate which set goes first, so neither always follows the other. */
		for (int turn = 0; turn < (o->hz ? 2 : 1); turn++) {
			bool sampled = o->hz && (turn == 0) == (i % 2 == 0);
			status = run_one(program, input, sampled ? o->hz : 0, &profile, r->program, i + 1);
			if (status < 0)
				return -1;
			int stored = 0;
			if (sampled) {
				r->sampled_seconds += profile.request_seconds;
				r->sampled_squares += profile.request_seconds * profile.request_seconds;
				r->sampling_host_seconds += profile.sampling_seconds;
				r->samples_taken += profile.sample_count;
				stored = sample_stacks_add(&r->stacks, r->symbols, &profile);
			} else {
				r->unsampled_seconds += profile.request_seconds;
				r->unsampled_squares += profile.request_seconds * profile.request_seconds;
				count_status(r, status);
				stored = phase_table_add(&r->phases, &profile);
			}
			tkvm_profile_free(&profile);
			if (stored < 0) {
				cli_error("out of memory after %zu requests", done);
				return -1;
			}
			progress_update(&progress, ++done);
		}
	}
	progress_end(&progress);
	phase_table_finish(&r->phases);
	if (o->hz && sample_stacks_finish(&r->stacks, r->symbols) < 0) {
		cli_error("out of memory");
		return -1;
	}
	return 0;
}

/* Writes one output file through writer(out, ...). Returns 0 or -1 (reported). */
static int write_file(const char *path, const char *what, int (*writer)(FILE *, const struct profile_result *, const void *),
		      const struct profile_result *r, const void *extra)
{
	FILE *out = fopen(path, "w");
	if (!out) {
		cli_error("cannot write %s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	int status = writer(out, r, extra);
	if (fclose(out) != 0 && status == 0)
		status = -EIO;
	if (status < 0) {
		cli_error("cannot write %s '%s': %s", what, path, strerror(status == -EIO ? EIO : -status));
		return -1;
	}
	return 0;
}

static void title_of(const struct profile_result *r, char *buf, size_t size)
{
	snprintf(buf, size, "%s %s %s", r->program, r->method, r->url);
}

static int write_svg(FILE *out, const struct profile_result *r, const void *extra)
{
	(void)extra;
	char title[512], subtitle[256];
	title_of(r, title, sizeof title);
	snprintf(subtitle, sizeof subtitle, "%zu samples at %u Hz in %zu requests (guest time; tkvm profile)",
		 r->stacks.sample_count, r->hz, r->requests);
	return flame_graph_write(out, &r->stacks, r->symbols, &(struct flame_graph_options){title, subtitle});
}

static int write_speedscope(FILE *out, const struct profile_result *r, const void *extra)
{
	(void)extra;
	char title[512];
	title_of(r, title, sizeof title);
	return speedscope_write(out, &r->stacks, r->symbols, title, 1000.0 / r->hz);
}

static int write_folded(FILE *out, const struct profile_result *r, const void *extra)
{
	(void)extra;
	return profile_report_folded(out, r);
}

static int write_json(FILE *out, const struct profile_result *r, const void *extra)
{
	(void)r;
	char *text = cJSON_Print((const cJSON *)extra);
	if (!text)
		return -ENOMEM;
	fprintf(out, "%s\n", text);
	free(text);
	return ferror(out) ? -EIO : 0;
}

/* The profile's outputs; returns the exit status. */
static int report(const struct profile_options *o, struct profile_result *r, const struct profile_baseline *baseline)
{
	int status = EXIT_OK;
	if (!o->json)
		profile_report_print(stdout, r);
	fflush(stdout); /* the report first, then what to make of it */
	if (o->hz && r->stacks.in_program >= LEAF_ONLY_MIN_SAMPLES && r->stacks.leaf_only * 2 > r->stacks.in_program) {
		cli_warning("%zu of %zu samples have no callers: the code they hit has no frame pointers "
			    "(the program's, or its C library's)", r->stacks.leaf_only, r->stacks.in_program);
		cli_hint("build with -fno-omit-frame-pointer (tkvm build --profile); the self shares are right either way");
	}
	if (o->hz && !profile_symbols_have_lines(r->symbols) && !o->json)
		cli_hint("no DWARF line tables in the program: build with -g for file:line");
	cJSON *document = profile_report_json(r);
	if (!document) {
		cli_error("out of memory");
		return EXIT_FAILURE_CODE;
	}
	if (o->save_path && write_file(o->save_path, "the profile", write_json, r, document) < 0)
		status = EXIT_FAILURE_CODE;
	if (o->svg_path && write_file(o->svg_path, "the flame graph", write_svg, r, NULL) < 0)
		status = EXIT_FAILURE_CODE;
	if (o->speedscope_path && write_file(o->speedscope_path, "the speedscope profile", write_speedscope, r, NULL) < 0)
		status = EXIT_FAILURE_CODE;
	if (o->folded_path && write_file(o->folded_path, "the folded stacks", write_folded, r, NULL) < 0)
		status = EXIT_FAILURE_CODE;
	if (baseline && profile_baseline_compare(baseline, r, o->threshold, o->json ? NULL : stdout, document) > 0)
		status = EXIT_FAILURE_CODE;
	if (o->json) {
		write_json(stdout, r, document);
		fflush(stdout);
	}
	cJSON_Delete(document);
	return status;
}

int command_profile(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		REQUEST_LONG_OPTIONS,
		{"hz", required_argument, NULL, OPTION_HZ},
		{"svg", required_argument, NULL, OPTION_SVG},
		{"speedscope", required_argument, NULL, OPTION_SPEEDSCOPE},
		{"folded", required_argument, NULL, OPTION_FOLDED},
		{"save", required_argument, NULL, OPTION_SAVE},
		{"against", required_argument, NULL, OPTION_AGAINST},
		{"threshold", required_argument, NULL, OPTION_THRESHOLD},
		{"json", no_argument, NULL, OPTION_JSON},
		PROGRAM_LONG_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct profile_options o = {.requests = PROFILE_DEFAULT_REQUESTS, .hz = PROFILE_DEFAULT_HZ,
				    .threshold = PROFILE_DEFAULT_THRESHOLD};
	struct program_options p;
	program_options_init(&p);
	struct profile_baseline baseline = {0};
	char *project_elf = NULL; /* tkvm profile [METHOD] URL: the project's program */
	int status = EXIT_USAGE, c;
	optind = 1;
	opterr = 0; /* our own messages, with "error:" and a hint */
	while ((c = getopt_long(argc, argv, "hd:H:n:c:", long_options, NULL)) != -1) {
		int taken = program_options_take(&p, c, optarg);
		if (!taken)
			taken = request_options_take(&o.request, c, optarg);
		if (!taken)
			taken = take_option(&o, c, optarg);
		if (taken < 0)
			goto out;
		if (taken)
			continue;
		switch (c) {
		case 'h': profile_usage(stdout); status = EXIT_OK; goto out;
		case '?':
			if (optopt && strchr("dHnc", optopt))
				cli_error("option -%c needs a value", optopt);
			else if (optopt >= OPTION_SETTING_FIRST || optopt == REQUEST_OPTION_ARG ||
				 (optopt >= OPTION_HZ && optopt < OPTION_JSON))
				cli_error("option '%s' needs a value", argv[optind - 1]);
			else
				cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm profile --help' for the options");
			goto out;
		default:
			cli_hint("run 'tkvm profile --help' for the options");
			goto out;
		}
	}
	/* No PROGRAM (nothing, a METHOD or a /URL first): the project's. */
	status = project_request_positional(&p, &o.request, argc, argv, optind, "profile", &project_elf);
	if (status != EXIT_OK)
		goto out;
	status = EXIT_USAGE;
	if (!o.hz && (o.svg_path || o.speedscope_path || o.folded_path)) {
		cli_error("--svg, --speedscope and --folded need samples, and --hz 0 takes none");
		goto out;
	}
	/* A baseline that cannot be read is a mistake in the command line: say
	 * so before spending time on the requests. */
	if (o.against_path && profile_baseline_load(o.against_path, &baseline) < 0)
		goto out;
	if (program_options_finish(&p, o.request.program_path) < 0)
		goto out;

	status = EXIT_FAILURE_CODE;
	uint8_t *elf = NULL;
	size_t elf_size = 0;
	struct built_request request = {0};
	if (read_whole_file(o.request.program_path, &elf, &elf_size) < 0)
		goto out;
	if (request_build(&o.request, &request) < 0) {
		free(elf);
		goto out;
	}
	struct hooks_context context = {p.settings.stdout_enabled, {NULL, NULL}};
	fetch_client_global_init();
	struct tkvm_hooks hooks = {.context = &context, .output = on_output, .fetch = on_fetch};
	struct tkvm_error err = {0};
	struct tkvm_program *program = NULL;
	if (tkvm_program_boot(&p.settings, elf, elf_size, &hooks, &program, &err) < 0) {
		cli_error("%s: %s", p.settings.name, err.message);
		if (strstr(err.message, "dynamic executables"))
			cli_hint("rebuild with: gcc -static (or -static-pie) ...");
		goto free_inputs;
	}
	context.fetch.program = program;

	struct profile_result result = {
		.program = p.settings.name, .method = o.request.method, .url = o.request.url,
		.requests = o.requests, .hz = o.hz,
	};
	sample_stacks_init(&result.stacks);
	if (phase_table_init(&result.phases, o.requests) < 0 || profile_symbols_open(program, &result.symbols) < 0) {
		cli_error("out of memory");
	} else if (collect(program, &request.input, &o, &result) == 0) {
		status = report(&o, &result, o.against_path ? &baseline : NULL);
	}
	profile_symbols_close(result.symbols);
	sample_stacks_free(&result.stacks);
	phase_table_free(&result.phases);
	tkvm_program_destroy(program);
free_inputs:
	request_free(&request);
	free(elf);
out:
	free(project_elf);
	profile_baseline_free(&baseline);
	program_options_free(&p);
	return status;
}
