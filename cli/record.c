/* tkvm record: sends one request to the program in the sandbox with live
 * outbound fetches, and writes what happened as a new fixture
 * (tests/NAME.json): the request, the answer as the expectation, the
 * fetches with their answers; secrets in headers redacted. `tkvm test`
 * then replays it offline. */
#include "cli/commands.h"
#include "cli/fixture.h"
#include "cli/fixture_replay.h"
#include "cli/fixture_run.h"
#include "cli/har_import.h"
#include "cli/program_options.h"
#include "cli/terminal.h"
#include "cli/test_target.h"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_REDACT 32

struct record_options {
	const char *name, *data, *arg, *program_path, *directory;
	const char *headers[FIXTURE_MAX_HEADERS];
	size_t header_count;
	const char *redact[MAX_REDACT];
	size_t redact_count;
	bool force, verbose;
};

static void record_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm record [options] [METHOD] URL\n"
		"\n"
		"Sends one request to the program in the KVM sandbox, with its outbound fetches\n"
		"going out for real, and writes a fixture for 'tkvm test': the request, the\n"
		"answer (status, headers, body) as what to expect, and every fetch with its\n"
		"answer, so the test replays without the network. Secrets in headers\n"
		"(Authorization, Cookie, Set-Cookie, Proxy-Authorization, test.redact_headers)\n"
		"are written as \"<redacted>\". METHOD defaults to GET (POST with --data).\n"
		"\n"
		"  -n, --name NAME           the fixture's name (default: from METHOD and URL, e.g. get-hello)\n"
		"  -d, --data DATA           request body; @FILE reads a file, @- standard input\n"
		"  -H, --header 'N: V'       request header (repeatable, at most 64)\n"
		"      --arg ARG             the request's arg (otherwise the URL's query string)\n"
		"      --directory DIR       where the fixture goes (default: the project's test.directory, or tests)\n"
		"      --force               replace a fixture that exists\n"
		"      --program ELF         record against ELF instead of the project's program\n"
		"      --redact-header NAME  redact this header too (repeatable)\n"
		"  -v, --verbose             show the program's output\n"
		"\n");
	program_options_help(out);
	fprintf(out,
		"\n"
		"examples:\n"
		"  tkvm record GET /hello\n"
		"  tkvm record --name login POST /login --data '{\"user\":\"ann\"}' -H 'Content-Type: application/json'\n"
		"  tkvm record --program ./fetcher --allow-host api.example.com GET /weather\n"
		"\n"
		"exit status: 0 when the fixture was written, 1 when not, 2 for usage errors.\n");
}

/* The fixture's file name from its name: lowercase letters, digits and dashes. */
static void file_slug(const char *name, char *slug, size_t size)
{
	size_t n = 0;
	bool dash = false;
	for (const char *c = name; *c && n + 2 < size; c++) {
		char lower = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		if ((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '_' || lower == '.') {
			if (dash && n)
				slug[n++] = '-';
			slug[n++] = lower;
			dash = false;
		} else {
			dash = true;
		}
	}
	if (!n || slug[0] == '.')
		snprintf(slug, size, "fixture");
	else
		slug[n] = 0;
}

enum { OPTION_ARG = 3000, OPTION_DIRECTORY, OPTION_FORCE, OPTION_PROGRAM, OPTION_REDACT };

static int parse_options(int argc, char **argv, struct record_options *o, struct program_options *p)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"name", required_argument, NULL, 'n'},
		{"data", required_argument, NULL, 'd'},
		{"header", required_argument, NULL, 'H'},
		{"arg", required_argument, NULL, OPTION_ARG},
		{"directory", required_argument, NULL, OPTION_DIRECTORY},
		{"force", no_argument, NULL, OPTION_FORCE},
		{"program", required_argument, NULL, OPTION_PROGRAM},
		{"redact-header", required_argument, NULL, OPTION_REDACT},
		{"verbose", no_argument, NULL, 'v'},
		PROGRAM_LONG_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hn:d:H:vc:", long_options, NULL)) != -1) {
		int taken = program_options_take(p, c, optarg);
		if (taken < 0)
			return EXIT_USAGE;
		if (taken)
			continue;
		const char *problem;
		switch (c) {
		case 'h': record_usage(stdout); return -1;
		case 'n':
			if (!*optarg || strpbrk(optarg, "\r\n")) {
				cli_error("--name wants a name on one line");
				return EXIT_USAGE;
			}
			o->name = optarg;
			break;
		case 'd': o->data = optarg; break;
		case 'H':
			if (o->header_count == FIXTURE_MAX_HEADERS) {
				cli_error("too many -H headers (at most %d)", FIXTURE_MAX_HEADERS);
				return EXIT_USAGE;
			}
			if ((problem = fixture_header_problem(optarg))) {
				cli_error("header '%s' %s", optarg, problem);
				return EXIT_USAGE;
			}
			o->headers[o->header_count++] = optarg;
			break;
		case 'v': o->verbose = true; break;
		case OPTION_ARG: o->arg = optarg; break;
		case OPTION_DIRECTORY: o->directory = optarg; break;
		case OPTION_FORCE: o->force = true; break;
		case OPTION_PROGRAM: o->program_path = optarg; break;
		case OPTION_REDACT:
			if (o->redact_count == MAX_REDACT || !*optarg || strpbrk(optarg, ": \t\r\n")) {
				cli_error("--redact-header wants a header name, like X-Api-Key (at most %d)", MAX_REDACT);
				return EXIT_USAGE;
			}
			o->redact[o->redact_count++] = optarg;
			break;
		case '?':
			if (optopt && optopt < 128 && strchr("ndHc", optopt))
				cli_error("option -%c needs a value", optopt);
			else if (optopt >= OPTION_SETTING_FIRST)
				cli_error("option '%s' needs a value", argv[optind - 1]);
			else
				cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm record --help' for the options");
			return EXIT_USAGE;
		default:
			cli_hint("run 'tkvm record --help' for the options");
			return EXIT_USAGE;
		}
	}
	return 0;
}

/* The request from the command line into f. Returns 0 or an exit status (reported). */
static int build_request(const struct record_options *o, int argc, char **argv, struct fixture *f)
{
	const char *method = NULL, *url = NULL;
	if (argc == 2)
		method = argv[0], url = argv[1];
	else if (argc == 1)
		url = argv[0];
	if (!url) {
		cli_error(argc ? "expected [METHOD] URL" : "no URL given");
		cli_hint("tkvm record GET /hello   (see 'tkvm record --help')");
		return EXIT_USAGE;
	}
	if (!method)
		method = o->data ? "POST" : "GET";
	if (!fixture_method_valid(method)) {
		cli_error("'%s' is not an HTTP method", method);
		return EXIT_USAGE;
	}
	if (url[0] != '/') {
		cli_error("URL '%s' must start with '/' (the path the program sees)", url);
		return EXIT_USAGE;
	}
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 32 || *c == 127) {
			cli_error("URL has spaces or control characters; percent-encode them (%%20, %%0A, ...)");
			return EXIT_USAGE;
		}
	f->method = strdup(method);
	f->url = strdup(url);
	f->arg = o->arg ? strdup(o->arg) : NULL;
	if (o->header_count && (f->headers = calloc(o->header_count, sizeof *f->headers)))
		for (size_t i = 0; i < o->header_count; i++)
			if ((f->headers[i] = strdup(o->headers[i])))
				f->header_count = i + 1;
	if (!f->method || !f->url || (o->arg && !f->arg) || f->header_count != o->header_count) {
		cli_error("out of memory");
		return EXIT_FAILURE_CODE;
	}
	if (o->data) {
		uint8_t *data = NULL;
		size_t length = 0;
		if (o->data[0] == '@') {
			if (read_whole_file(o->data + 1, &data, &length) < 0)
				return EXIT_FAILURE_CODE;
		} else {
			length = strlen(o->data);
		}
		int rc = fixture_body_set(&f->body, data ? data : (const uint8_t *)o->data, length);
		free(data);
		if (rc < 0) {
			cli_error("out of memory");
			return EXIT_FAILURE_CODE;
		}
	}
	return 0;
}

/* Where the fixture goes; fails when it exists (unless --force). */
static int choose_path(const struct record_options *o, const struct test_target *t, struct fixture *f)
{
	const char *directory = o->directory ? o->directory : t->fixture_directory;
	char slug[80], *path;
	if (o->name)
		file_slug(o->name, slug, sizeof slug);
	else
		har_fixture_slug(f->method, f->url, slug, sizeof slug);
	struct stat st;
	if (stat(directory, &st) < 0 && mkdir(directory, 0777) < 0) {
		cli_error("cannot make the fixtures directory '%s': %s", directory, strerror(errno));
		return EXIT_FAILURE_CODE;
	}
	if (asprintf(&path, "%s/%s.json", directory, slug) < 0 || fixture_set_path(f, path, o->name ? o->name : slug) < 0) {
		cli_error("out of memory");
		return EXIT_FAILURE_CODE;
	}
	free(path);
	if (!o->force && stat(f->path, &st) == 0) {
		cli_error("%s exists", f->path);
		cli_hint("re-record it with 'tkvm test --record -k %s', replace it with --force, or pick another --name", f->name);
		return EXIT_FAILURE_CODE;
	}
	return 0;
}

int command_record(int argc, char **argv)
{
	struct record_options o = {0};
	struct program_options p;
	program_options_init(&p);
	struct test_target target = {0};
	struct fixture f = {0};
	struct replay_session session;
	replay_session_init(&session, REPLAY_RECORD_LIVE);
	struct tkvm_program *program = NULL;
	int status = parse_options(argc, argv, &o, &p);
	if (status) {
		status = status < 0 ? EXIT_OK : status;
		goto out;
	}
	if ((status = build_request(&o, argc - optind, argv + optind, &f)) ||
	    (status = test_target_open(&target, o.program_path, true, &p, o.redact, o.redact_count)) ||
	    (status = choose_path(&o, &target, &f)))
		goto out;
	status = EXIT_FAILURE_CODE;
	fetch_client_global_init();
	session.echo_output = o.verbose;
	struct tkvm_hooks hooks = replay_session_hooks(&session);
	struct tkvm_error err = {0};
	if (test_target_boot(&target, &p.settings, &hooks, &program, &err) < 0) {
		cli_error("%s: %s", p.settings.name, err.message);
		goto out;
	}
	session.live.program = program; /* self-requests run in-process */
	replay_session_begin(&session, &f);
	struct tkvm_response response;
	double milliseconds;
	if (fixture_run(program, &f, &response, &milliseconds, &err) < 0) {
		cli_error("%s: %s", p.settings.name, err.message);
		goto out;
	}
	if (response.outcome == TKVM_OUTCOME_FAILED) {
		cli_error("%s: request failed, nothing recorded: %s", p.settings.name, response.error);
		if (!o.verbose && session.output.length)
			fprintf(stderr, "%s", text_buffer_str(&session.output));
		tkvm_response_free(&response);
		goto out;
	}
	int rc = fixture_record_answer(&f, &response, &session, true);
	fixture_redact_request(&f, &target.redaction);
	if (rc < 0 || fixture_save(&f, &target.redaction, &err) < 0) {
		cli_error("%s", rc < 0 ? "out of memory" : err.message);
		tkvm_response_free(&response);
		goto out;
	}
	printf("recorded %s in %s: %d, %zu bytes, %zu fetch%s (%.1f ms)\n", f.name, f.path, response.status,
	       response.body_length, f.fetch_count, f.fetch_count == 1 ? "" : "es", milliseconds);
	tkvm_response_free(&response);
	status = EXIT_OK;
out:
	if (program)
		tkvm_program_destroy(program);
	replay_session_free(&session);
	fixture_free(&f);
	test_target_close(&target);
	program_options_free(&p);
	return status;
}
