/* tkvm test: runs recorded HTTP fixtures (tests/NAME.json) against the
 * program in the real sandbox, answering its outbound fetches from the
 * recordings, and reports like a test runner. --record runs them with
 * live fetches and rewrites them; --import-har makes fixtures from a HAR
 * capture. Every fixture gets a freshly reset VM. Exit status 0 when all
 * pass, 1 when any fails or is broken, 2 for usage errors. */
#include "cli/commands.h"
#include "cli/fixture.h"
#include "cli/fixture_check.h"
#include "cli/fixture_replay.h"
#include "cli/fixture_report.h"
#include "cli/fixture_run.h"
#include "cli/har_import.h"
#include "cli/program_options.h"
#include "cli/terminal.h"
#include "cli/test_target.h"
#include "cli/text_buffer.h"
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PATTERNS 32
#define MAX_REDACT 32
#define NAME_WIDTH_MAX 40

struct test_options {
	bool record, json, verbose, force;
	const char *junit_path, *program_path, *har_path, *har_base;
	const char *patterns[MAX_PATTERNS];
	size_t pattern_count;
	const char *redact[MAX_REDACT];
	size_t redact_count;
};

/* One fixture file: loaded, or why not. */
struct entry {
	char *path;
	struct fixture fixture;
	bool loaded;
	char *error;
};

static void test_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm test [options] [FIXTURE.json | DIRECTORY ...]\n"
		"       tkvm test --import-har CAPTURE.har [--har-base URL] [--force]\n"
		"\n"
		"Runs recorded HTTP fixtures against the program in the KVM sandbox: each\n"
		"fixture's request, in a freshly reset VM, with the program's outbound\n"
		"fetches answered from the fixture's recordings (never the network). Inside a\n"
		"project (tkvm.json) the program is built first when stale and the fixtures\n"
		"are test.directory's *.json (default tests/).\n"
		"\n"
		"  -k PATTERN            only fixtures whose name or file name contains PATTERN (repeatable)\n"
		"      --record          run with live fetches and rewrite the fixtures from what the\n"
		"                        program answered and fetched (secrets in headers redacted)\n"
		"      --json            the results as JSON on stdout\n"
		"      --junit FILE      also write the results as JUnit XML to FILE\n"
		"  -v, --verbose         show the program's output as it runs\n"
		"      --program ELF     test ELF instead of the project's program (fixtures: ./tests)\n"
		"      --redact-header NAME  redact this header too when recording (repeatable)\n"
		"      --import-har FILE make fixtures from a HAR capture (browser or proxy export), then stop\n"
		"      --har-base URL    only HAR entries under URL, which is cut off their URLs\n"
		"      --force           --import-har: replace fixtures that exist\n"
		"\n");
	program_options_help(out);
	fprintf(out,
		"\n"
		"examples:\n"
		"  tkvm test                          # every fixture of the project\n"
		"  tkvm test -k login --junit report.xml\n"
		"  tkvm test --program ./hello --config hello.json tests/\n"
		"  tkvm record GET /hello             # a new fixture (see 'tkvm record --help')\n"
		"\n"
		"exit status: 0 when every fixture passes, 1 when one fails or is broken, 2 for usage errors.\n");
}

/* --- Finding fixtures ---------------------------------------------------- */

static int compare_paths(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

struct path_list {
	char **paths;
	size_t count, capacity;
};

static int add_path(struct path_list *list, const char *path)
{
	if (list->count == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 32;
		char **bigger = realloc(list->paths, capacity * sizeof *bigger);
		if (!bigger)
			return -1;
		list->paths = bigger;
		list->capacity = capacity;
	}
	if (!(list->paths[list->count] = strdup(path)))
		return -1;
	list->count++;
	return 0;
}

/* The *.json files of a directory (not its subdirectories: body files
 * and data can live there), sorted. */
static int add_directory(struct path_list *list, const char *directory)
{
	DIR *d = opendir(directory);
	if (!d) {
		cli_error("cannot read the fixtures directory '%s': %s", directory, strerror(errno));
		return -1;
	}
	size_t first = list->count;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n <= 5 || strcmp(e->d_name + n - 5, ".json") || e->d_name[0] == '.')
			continue;
		char *path;
		if (asprintf(&path, "%s%s%s", strcmp(directory, ".") ? directory : "", strcmp(directory, ".") ? "/" : "",
			     e->d_name) < 0 ||
		    add_path(list, path) < 0) {
			closedir(d);
			cli_error("out of memory");
			return -1;
		}
		free(path);
	}
	closedir(d);
	qsort(list->paths + first, list->count - first, sizeof *list->paths, compare_paths);
	return 0;
}

static int collect(struct path_list *list, char **arguments, int count, const char *default_directory)
{
	if (count == 0) {
		struct stat st;
		if (stat(default_directory, &st) < 0 || !S_ISDIR(st.st_mode)) {
			cli_error("no fixtures: '%s' is not a directory", default_directory);
			cli_hint("record one with: tkvm record GET /   (or give fixture files: tkvm test FILE.json)");
			return -1;
		}
		return add_directory(list, default_directory);
	}
	for (int i = 0; i < count; i++) {
		struct stat st;
		if (stat(arguments[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			char *directory = strdup(arguments[i]);
			size_t n = directory ? strlen(directory) : 0;
			while (n > 1 && directory[n - 1] == '/')
				directory[--n] = 0;
			int rc = directory ? add_directory(list, directory) : -1;
			free(directory);
			if (rc < 0)
				return -1;
		} else if (add_path(list, arguments[i]) < 0) { /* a missing file is reported as broken */
			cli_error("out of memory");
			return -1;
		}
	}
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static bool selected(const struct test_options *o, const struct entry *e)
{
	if (!o->pattern_count)
		return true;
	for (size_t i = 0; i < o->pattern_count; i++) {
		if (strstr(base_name(e->path), o->patterns[i]))
			return true;
		if (e->loaded && strstr(e->fixture.name, o->patterns[i]))
			return true;
	}
	return false;
}

static const char *display_name(const struct entry *e)
{
	return e->loaded ? e->fixture.name : base_name(e->path);
}

/* --- Running ---------------------------------------------------------------- */

struct run_state {
	const struct test_options *options;
	struct test_target *target;
	const struct tkvm_settings *settings;
	struct replay_session session;
	struct tkvm_hooks hooks;
	struct tkvm_program *program; /* booted once when ephemeral */
};

static char *copy_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

static void result_of_broken(struct fixture_result *x, const struct entry *e)
{
	*x = (struct fixture_result){.name = strdup(display_name(e)), .file = strdup(e->path), .verdict = FIXTURE_BROKEN,
				     .message = strdup(e->error ? e->error : "unusable fixture")};
}

static struct tkvm_program *program_for(struct run_state *s, struct tkvm_error *err)
{
	if (s->program)
		return s->program;
	struct tkvm_program *program = NULL;
	if (test_target_boot(s->target, s->settings, &s->hooks, &program, err) < 0)
		return NULL;
	if (s->settings->ephemeral)
		s->program = program;
	if (s->session.mode == REPLAY_RECORD_LIVE)
		s->session.live.program = program; /* self-requests run in-process */
	return program;
}

/* Runs one fixture, then checks (or records) its answer. */
static void run_fixture(struct run_state *s, struct entry *e, struct fixture_result *x)
{
	struct fixture *f = &e->fixture;
	*x = (struct fixture_result){.name = strdup(f->name), .file = strdup(e->path), .verdict = FIXTURE_FAILED};
	struct tkvm_error err = {0};
	/* Booting first: what main() prints belongs to no fixture, unless it fails. */
	struct tkvm_program *program = program_for(s, &err);
	if (!program) {
		if (asprintf(&x->message, "the program did not boot: %s", err.message) < 0)
			x->message = NULL;
		x->output = copy_or_null(text_buffer_str(&s->session.output));
		replay_session_begin(&s->session, NULL);
		return;
	}
	if (replay_session_begin(&s->session, f) < 0) {
		x->message = strdup("out of memory");
		if (program != s->program)
			tkvm_program_destroy(program);
		return;
	}
	struct tkvm_response response;
	int rc = fixture_run(program, f, &response, &x->milliseconds, &err);
	struct text_buffer details = {0};
	char message[1200] = "";
	if (rc < 0) {
		snprintf(message, sizeof message, "the request could not run: %s", err.message);
	} else if (s->options->record) {
		if (response.outcome == TKVM_OUTCOME_FAILED) {
			snprintf(message, sizeof message, "the request failed, nothing recorded: %s", response.error);
		} else if (fixture_record_answer(f, &response, &s->session, false) < 0 ||
			   fixture_save(f, &s->target->redaction, &err) < 0) {
			snprintf(message, sizeof message, "%s", err.message[0] ? err.message : "out of memory");
		} else {
			x->verdict = FIXTURE_RECORDED;
			snprintf(message, sizeof message, "%d, %zu bytes, %zu fetch%s", response.status, response.body_length,
				 f->fetch_count, f->fetch_count == 1 ? "" : "es");
		}
	} else {
		/* A fetch without a recording comes first: it is why the rest differs. */
		replay_describe_misses(&s->session, FIXTURE_REPORT_INDENT, &details);
		bool passed = fixture_check(f, &response, FIXTURE_REPORT_INDENT, message, sizeof message, &details);
		if (s->session.miss_count)
			snprintf(message, sizeof message, "fetch not recorded: %s %.300s", s->session.misses[0].fetch.method,
				 s->session.misses[0].fetch.url);
		if (passed && !s->session.miss_count)
			x->verdict = FIXTURE_PASSED;
	}
	if (rc == 0)
		tkvm_response_free(&response);
	if (x->verdict != FIXTURE_PASSED || *message)
		x->message = copy_or_null(message);
	x->details = text_buffer_take(&details);
	if (x->verdict == FIXTURE_FAILED)
		x->output = copy_or_null(text_buffer_str(&s->session.output));
	if (program != s->program) {
		s->session.live.program = NULL;
		tkvm_program_destroy(program);
	}
}

static int run_all(const struct test_options *o, struct test_target *target, const struct tkvm_settings *settings,
		   struct entry *entries, size_t count)
{
	int width = 4;
	for (size_t i = 0; i < count; i++) {
		int n = (int)strlen(display_name(&entries[i]));
		if (n > width)
			width = n < NAME_WIDTH_MAX ? n : NAME_WIDTH_MAX;
	}
	struct run_state s = {.options = o, .target = target, .settings = settings};
	replay_session_init(&s.session, o->record ? REPLAY_RECORD_LIVE : REPLAY_RECORDINGS);
	s.session.echo_output = o->verbose;
	s.hooks = replay_session_hooks(&s.session);
	if (o->record)
		fetch_client_global_init();
	struct fixture_report report;
	fixture_report_init(&report, stdout, o->json, width);
	for (size_t i = 0; i < count; i++) {
		struct fixture_result x;
		if (entries[i].loaded)
			run_fixture(&s, &entries[i], &x);
		else
			result_of_broken(&x, &entries[i]);
		fixture_report_add(&report, &x);
	}
	fixture_report_finish(&report);
	int status = report.failed ? EXIT_FAILURE_CODE : EXIT_OK;
	struct tkvm_error err = {0};
	if (o->junit_path && fixture_report_write_junit(&report, o->junit_path, &err) < 0) {
		cli_error("%s", err.message);
		status = EXIT_FAILURE_CODE;
	}
	fixture_report_free(&report);
	if (s.program)
		tkvm_program_destroy(s.program);
	replay_session_free(&s.session);
	return status;
}

/* --- Importing ------------------------------------------------------------ */

static int import_har(const struct test_options *o, struct test_target *target, char **arguments, int count)
{
	const char *directory = count == 1 ? arguments[0] : target->fixture_directory;
	if (count > 1) {
		cli_error("--import-har takes one fixtures directory at most");
		return EXIT_USAGE;
	}
	struct har_import_options options = {
		.directory = directory, .base_url = o->har_base, .force = o->force, .redaction = &target->redaction};
	struct har_import_result result = {0};
	struct tkvm_error err = {0};
	if (har_import(o->har_path, &options, &result, &err) < 0) {
		cli_error("%s", err.message);
		har_import_result_free(&result);
		return EXIT_FAILURE_CODE;
	}
	size_t created = 0;
	for (size_t i = 0; i < result.count; i++) {
		const struct har_import_entry *e = &result.entries[i];
		if (e->file) {
			printf("created %s\n", e->file);
			created++;
		} else {
			printf("skipped entry %zu (%s %.200s): %s\n", e->index, e->method ? e->method : "?", e->url ? e->url : "?",
			       e->why);
		}
	}
	printf("%zu fixture%s imported into %s, %zu entr%s skipped\n", created, created == 1 ? "" : "s", directory,
	       result.count - created, result.count - created == 1 ? "y" : "ies");
	if (created)
		cli_hint("run 'tkvm test' to replay them (their fetches are empty: 'tkvm test --record' records them)");
	int status = created || result.count == 0 ? EXIT_OK : EXIT_FAILURE_CODE;
	har_import_result_free(&result);
	return status;
}

/* --- The command ---------------------------------------------------------- */

enum {
	OPTION_RECORD = 2000,
	OPTION_JSON,
	OPTION_JUNIT,
	OPTION_PROGRAM,
	OPTION_REDACT,
	OPTION_IMPORT_HAR,
	OPTION_HAR_BASE,
	OPTION_FORCE,
};

static int parse_options(int argc, char **argv, struct test_options *o, struct program_options *p)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"record", no_argument, NULL, OPTION_RECORD},
		{"json", no_argument, NULL, OPTION_JSON},
		{"junit", required_argument, NULL, OPTION_JUNIT},
		{"verbose", no_argument, NULL, 'v'},
		{"program", required_argument, NULL, OPTION_PROGRAM},
		{"redact-header", required_argument, NULL, OPTION_REDACT},
		{"import-har", required_argument, NULL, OPTION_IMPORT_HAR},
		{"har-base", required_argument, NULL, OPTION_HAR_BASE},
		{"force", no_argument, NULL, OPTION_FORCE},
		PROGRAM_LONG_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hk:vc:", long_options, NULL)) != -1) {
		int taken = program_options_take(p, c, optarg);
		if (taken < 0)
			return EXIT_USAGE;
		if (taken)
			continue;
		switch (c) {
		case 'h': test_usage(stdout); return -1;
		case 'k':
			if (o->pattern_count == MAX_PATTERNS) {
				cli_error("too many -k patterns (at most %d)", MAX_PATTERNS);
				return EXIT_USAGE;
			}
			o->patterns[o->pattern_count++] = optarg;
			break;
		case 'v': o->verbose = true; break;
		case OPTION_RECORD: o->record = true; break;
		case OPTION_JSON: o->json = true; break;
		case OPTION_JUNIT: o->junit_path = optarg; break;
		case OPTION_PROGRAM: o->program_path = optarg; break;
		case OPTION_IMPORT_HAR: o->har_path = optarg; break;
		case OPTION_HAR_BASE: o->har_base = optarg; break;
		case OPTION_FORCE: o->force = true; break;
		case OPTION_REDACT:
			if (o->redact_count == MAX_REDACT) {
				cli_error("too many --redact-header names (at most %d)", MAX_REDACT);
				return EXIT_USAGE;
			}
			if (!*optarg || strpbrk(optarg, ": \t\r\n")) {
				cli_error("--redact-header wants a header name, like X-Api-Key; got '%s'", optarg);
				return EXIT_USAGE;
			}
			o->redact[o->redact_count++] = optarg;
			break;
		case '?':
			if (optopt && optopt < 128 && strchr("kc", optopt))
				cli_error("option -%c needs a value", optopt);
			else if (optopt >= OPTION_SETTING_FIRST)
				cli_error("option '%s' needs a value", argv[optind - 1]);
			else
				cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm test --help' for the options");
			return EXIT_USAGE;
		default:
			cli_hint("run 'tkvm test --help' for the options");
			return EXIT_USAGE;
		}
	}
	if (o->har_path && o->record) {
		cli_error("--import-har and --record do not go together");
		cli_hint("import first, then run 'tkvm test --record' to record the fetches");
		return EXIT_USAGE;
	}
	if ((o->har_base || o->force) && !o->har_path) {
		cli_error("%s only goes with --import-har", o->har_base ? "--har-base" : "--force");
		return EXIT_USAGE;
	}
	return 0;
}

int command_test(int argc, char **argv)
{
	struct test_options o = {0};
	struct program_options p;
	program_options_init(&p);
	struct test_target target = {0};
	struct path_list list = {0};
	struct entry *entries = NULL;
	size_t count = 0;
	int status = parse_options(argc, argv, &o, &p);
	if (status) {
		status = status < 0 ? EXIT_OK : status;
		goto out;
	}
	status = test_target_open(&target, o.program_path, !o.har_path, &p, o.redact, o.redact_count);
	if (status)
		goto out;
	if (o.har_path) {
		status = import_har(&o, &target, argv + optind, argc - optind);
		goto out;
	}
	status = EXIT_FAILURE_CODE;
	if (collect(&list, argv + optind, argc - optind, target.fixture_directory) < 0)
		goto out;
	entries = calloc(list.count ? list.count : 1, sizeof *entries);
	if (!entries)
		goto out;
	for (size_t i = 0; i < list.count; i++) {
		struct entry *e = &entries[count];
		struct tkvm_error err = {0};
		e->path = list.paths[i];
		list.paths[i] = NULL;
		e->loaded = fixture_load(e->path, &e->fixture, &err) == 0;
		if (!e->loaded)
			e->error = strdup(err.message);
		if (selected(&o, e))
			count++;
		else {
			if (e->loaded)
				fixture_free(&e->fixture);
			free(e->error);
			free(e->path);
			memset(e, 0, sizeof *e);
		}
	}
	if (!count) {
		if (o.pattern_count)
			cli_error("no fixture matches -k '%s'%s", o.patterns[0], o.pattern_count > 1 ? " (or the other -k patterns)" : "");
		else
			cli_error("no fixtures (*.json) found");
		cli_hint("record one with: tkvm record GET /");
		goto out;
	}
	status = run_all(&o, &target, &p.settings, entries, count);
out:
	for (size_t i = 0; i < count; i++) {
		if (entries[i].loaded)
			fixture_free(&entries[i].fixture);
		free(entries[i].error);
		free(entries[i].path);
	}
	free(entries);
	for (size_t i = 0; i < list.count; i++)
		free(list.paths[i]);
	free(list.paths);
	test_target_close(&target);
	program_options_free(&p);
	return status;
}
