/* tkvm run: boot a program in the KVM sandbox, send it one request, print
 * the response (curl-like: -i for headers, -o for a file). Exit status 0
 * for 2xx/3xx, 1 otherwise, 2 for usage errors. */
#include "cli/commands.h"
#include "cli/debug_session.h"
#include "cli/fetch_client.h"
#include "cli/library_load.h"
#include "cli/program_options.h"
#include "cli/project_build.h"
#include "cli/request_options.h"
#include "cli/run_report.h"
#include "cli/terminal.h"
#include "runner/tkvm.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct run_options {
	bool include_headers, verbose, strace, show_output, json;
	const char *output_path;
	int debug_port;
	struct request_options request;
};

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm run [options] PROGRAM [METHOD] URL\n"
		"       tkvm run [options] [METHOD] [URL]      (in a project)\n"
		"       tkvm run [options] --library LIBRARY NAME [METHOD] URL\n"
		"\n"
		"Boots PROGRAM (a static x86-64 ELF) in the KVM sandbox until it calls\n"
		"wait_for_requests, sends it one request and prints the response body.\n"
		"METHOD defaults to GET (POST with --data). A query string in URL becomes\n"
		"the request's arg unless --arg is given. Without PROGRAM, the project's\n"
		"(tkvm.json here or in a parent) is built when stale and run with its\n"
		"\"program\" settings; URL defaults to /. With --library (a file or an http,\n"
		"https or file URL), program NAME of that library, fetched, checked and\n"
		"cached as production loads it (see tkvm serve --help), with its settings.\n"
		"\n"
		"library:\n"
		"      --library LIBRARY    run program NAME of this library JSON\n"
		LIBRARY_OPTIONS_HELP
		"\n"
		"request:\n"
		"  -d, --data DATA          request body; @FILE reads a file, @- standard input\n"
		"  -H, --header 'N: V'      request header (repeatable, at most 64)\n"
		"      --arg ARG            the request's arg (what X-Arg carries in tkvm serve)\n"
		"\n"
		"output:\n"
		"  -i, --include            print the status line and headers before the body\n"
		"  -o, --output FILE        write the body to FILE\n"
		"      --json               print the response and statistics as JSON\n"
		"  -v, --verbose            boot and request times, exits, syscalls; the program's output\n"
		"      --strace             print every emulated syscall and host call\n"
		"      --stdout             show what the program writes to stdout/stderr\n"
		"      --debug-port N       where a request waits for gdb after breakpoint() with\n"
		"                           allow_debug, or a crash with remote_debug_on_exception\n"
		"                           (default 2159, loopback; 0 = any free port)\n"
		"\n");
	program_options_help(out);
	fprintf(out,
		"\n"
		"examples:\n"
		"  tkvm run ./hello GET /hello\n"
		"  tkvm run -i ./api POST /x --data @in.json -H 'Content-Type: application/json'\n"
		"  tkvm run ./img GET / --arg '{\"q\":1}' -o out.bin\n"
		"  tkvm run --library https://cdn.example.com/programs/library.json hello GET /\n"
		"\n"
		"exit status: 0 for a 2xx/3xx response, 1 otherwise, 2 for usage errors.\n");
}

struct output_context {
	bool show;
	struct fetch_client fetch; /* self-requests go to the same program, in-process */
	const char *program_path;  /* for a debug session's gdb command line */
	int debug_port;
};

static int on_fetch(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response)
{
	struct output_context *c = context;
	return fetch_client_perform(&c->fetch, request, response);
}

/* breakpoint() with allow_debug, or a crash with remote_debug_on_exception:
 * the request waits for gdb, as under the VMOD. */
static void on_debug(void *context, struct tkvm_debugger *debugger, const struct tkvm_debug_stop *stop)
{
	struct output_context *c = context;
	struct debug_session_options options = {"127.0.0.1", c->debug_port, c->program_path, false};
	debug_session_serve(debugger, stop, stop->kind == TKVM_DEBUG_CRASHED ? "the request (crash)" : "the request (breakpoint())",
			    &options);
}

static void on_output(void *context, int fd, const char *data, size_t length)
{
	struct output_context *c = context;
	if (c->show)
		fwrite(data, 1, length, stderr);
}

static void on_log(void *context, const char *data, size_t length)
{
	fprintf(stderr, "%slog:%s %.*s%s", term_style(stderr, STYLE_DIM), term_style(stderr, STYLE_RESET), (int)length, data,
		length && data[length - 1] == '\n' ? "" : "\n");
}

static void on_trace(void *context, const char *line)
{
	fprintf(stderr, "%s%s%s\n", term_style(stderr, STYLE_DIM), line, term_style(stderr, STYLE_RESET));
}

/* For --json: the failure to start as JSON too, so scripts always get JSON. */
static void print_boot_failure_json(const char *message)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "status", 0);
	cJSON_AddStringToObject(root, "outcome", "boot_failed");
	cJSON_AddStringToObject(root, "error", message);
	char *text = cJSON_Print(root);
	if (text)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(root);
}

/* --library LIBRARY NAME: the program fetched and checked, its library
 * settings copied into options before --config and the flags apply. */
static int library_program(const char *location, const struct library_load_options *load_options,
			   struct program_options *options, int argc, char **argv, int first, struct program_source *source)
{
	if (first >= argc) {
		cli_error("--library %s: which program? give its NAME first", location);
		cli_hint("tkvm run --library %s NAME GET /", location);
		return EXIT_USAGE;
	}
	const char *name = argv[first];
	struct library library;
	if (library_load(location, &library, "") < 0)
		return EXIT_FAILURE_CODE;
	int status = EXIT_OK;
	const struct library_program *program = library_find(&library, name);
	char message[1200];
	if (!program) {
		char names[600] = "";
		size_t used = 0;
		for (size_t i = 0; i < library.program_count && used < sizeof names; i++)
			used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", library.programs[i].name);
		cli_error("%s: no program named \"%s\"", location, name);
		cli_hint("its programs: %s", library.program_count ? names : "none");
		status = EXIT_USAGE;
	} else if (library_program_prepare(program, load_options, source, message, sizeof message) < 0) {
		cli_error("%s: %s", name, message);
		status = EXIT_FAILURE_CODE;
	} else {
		tkvm_settings_free(&options->settings);
		if (tkvm_settings_copy(&options->settings, &program->settings) < 0) {
			tkvm_settings_init(&options->settings);
			cli_error("out of memory");
			status = EXIT_FAILURE_CODE;
		}
	}
	library_free(&library);
	return status;
}

int command_run(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"include", no_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'},
		REQUEST_LONG_OPTIONS,
		{"verbose", no_argument, NULL, 'v'},
		{"strace", no_argument, NULL, 'S'},
		{"stdout", no_argument, NULL, 'O'},
		{"json", no_argument, NULL, 'J'},
		{"debug-port", required_argument, NULL, 'G'},
		PROGRAM_LONG_OPTIONS,
		LIBRARY_LONG_OPTIONS,
		{"library", required_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	struct run_options o = {0};
	struct library_load_options load_options = {0};
	const char *library_location = NULL;
	struct program_source library_source = {0};
	o.debug_port = DEBUG_SESSION_DEFAULT_PORT;
	char *project_elf = NULL; /* tkvm run [METHOD] URL: the project's program */
	struct program_options p;
	program_options_init(&p);
	int status = EXIT_USAGE, c;
	optind = 1;
	opterr = 0; /* our own messages, with "error:" and a hint */
	while ((c = getopt_long(argc, argv, "hio:d:H:vc:", long_options, NULL)) != -1) {
		int taken = program_options_take(&p, c, optarg);
		if (!taken)
			taken = request_options_take(&o.request, c, optarg);
		if (!taken)
			taken = library_load_option(&load_options, c, optarg);
		if (taken < 0)
			goto out;
		if (taken)
			continue;
		switch (c) {
		case 'h': run_usage(stdout); status = EXIT_OK; goto out;
		case 'i': o.include_headers = true; break;
		case 'o': o.output_path = optarg; break;
		case 'v': o.verbose = true; break;
		case 'S': o.strace = true; break;
		case 'O': o.show_output = true; break;
		case 'J': o.json = true; break;
		case 'L': library_location = optarg; break;
		case 'G': {
			char *end;
			long value = strtol(optarg, &end, 10);
			if (*end || value < 0 || value > 65535) {
				cli_error("--debug-port wants a port number (0..65535), got '%s'", optarg);
				goto out;
			}
			o.debug_port = (int)value;
			break;
		}
		case '?':
			if (optopt && strchr("odHc", optopt))
				cli_error("option -%c needs a value", optopt);
			else if (optopt >= OPTION_SETTING_FIRST || (optopt && optopt < 128 && strchr("A", optopt)))
				cli_error("option '%s' needs a value", argv[optind - 1]);
			else
				cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm run --help' for the options");
			goto out;
		default:
			cli_hint("run 'tkvm run --help' for the options");
			goto out;
		}
	}
	if (library_location) {
		status = library_program(library_location, &load_options, &p, argc, argv, optind, &library_source);
		if (status != EXIT_OK)
			goto out;
		argv[optind] = library_source.elf_path;
	}
	/* No PROGRAM (nothing, a METHOD or a /URL first): the project's. */
	status = project_request_positional(&p, &o.request, argc, argv, optind, "run", &project_elf);
	if (status != EXIT_OK)
		goto out;
	const char *program_path = o.request.program_path;
	status = EXIT_FAILURE_CODE;
	if (program_options_finish(&p, program_path) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	if (o.strace)
		p.settings.verbose_syscalls = true;

	uint8_t *elf = NULL;
	size_t elf_size = 0;
	struct built_request request = {0};
	if (read_whole_file(program_path, &elf, &elf_size) < 0)
		goto out;
	if (request_build(&o.request, &request) < 0) {
		free(elf);
		goto out;
	}

	struct output_context output = {o.verbose || o.show_output || p.settings.stdout_enabled, {NULL, NULL}, program_path, o.debug_port};
	fetch_client_global_init();
	struct tkvm_hooks hooks = {
		.context = &output,
		.output = on_output,
		.log = on_log,
		.trace = on_trace,
		.trace_enabled = o.strace || p.settings.verbose_syscalls,
		.fetch = on_fetch,
		.debug = on_debug,
	};
	output.program_path = program_path;
	struct tkvm_error err = {0};
	struct tkvm_program *program = NULL;
	if (tkvm_program_boot(&p.settings, elf, elf_size, &hooks, &program, &err) < 0) {
		cli_error("%s: %s", p.settings.name, err.message);
		if (o.json)
			print_boot_failure_json(err.message);
		if (strstr(err.message, "dynamic executables"))
			cli_hint("rebuild with: gcc -static (or -static-pie) ...");
		goto free_inputs;
	}
	output.fetch.program = program;
	struct tkvm_response response;
	if (tkvm_request_run(program, &request.input, &response, &err) < 0) {
		cli_error("%s: %s", p.settings.name, err.message);
		tkvm_program_destroy(program);
		goto free_inputs;
	}
	status = run_report(&response, tkvm_program_stats(program), &(struct run_report_options){
		.include_headers = o.include_headers, .verbose = o.verbose, .json = o.json,
		.output_path = o.output_path, .program_name = p.settings.name});
	tkvm_response_free(&response);
	tkvm_program_destroy(program);
free_inputs:
	request_free(&request);
	free(elf);
out:
	free(project_elf);
	program_options_free(&p);
	program_source_free(&library_source);
	library_load_options_free(&load_options);
	return status;
}
