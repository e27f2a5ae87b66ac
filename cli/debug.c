/* tkvm debug: one request under stock GDB, inside its real request VM.
 * The request stops before its handler's first instruction and waits for
 * gdb on loopback; when it ends, gdb sees the program exit and the
 * response is printed as `tkvm run` prints it. */
#include "cli/commands.h"
#include "cli/debug_session.h"
#include "cli/fetch_client.h"
#include "cli/program_options.h"
#include "cli/project_build.h"
#include "cli/request_options.h"
#include "cli/run_report.h"
#include "cli/terminal.h"
#include "runner/gdb_stub.h"
#include "runner/tkvm_debug.h"
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_DEBUG_PORT 2159

enum { OPTION_PORT = 2000, OPTION_LISTEN_HOST, OPTION_START_GDB, OPTION_INCLUDE, OPTION_BREAK_MAIN };

static void debug_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm debug [options] PROGRAM [METHOD] URL\n"
		"       tkvm debug [options] [METHOD] [URL]      (in a project)\n"
		"\n"
		"Runs one request in the KVM sandbox under GDB: the request stops before the\n"
		"first instruction of its handler and waits for gdb. Breakpoints, stepping\n"
		"(over syscalls and host calls too), backtraces, finish, globals and locals\n"
		"work; when the request ends gdb sees the program exit and the response is\n"
		"printed. Hardware breakpoints and watchpoints are not available (gdb uses\n"
		"software watchpoints). Build with -g (tkvm build does).\n"
		"\n"
		"  --port N          port gdb connects to (default %d; 0 = any free port)\n"
		"  --listen HOST     address to listen on (default 127.0.0.1: loopback only)\n"
		"  --gdb             start gdb here, attached, with the program's symbols\n"
		"  --break-main      stop before main() runs instead (main() runs in the boot VM;\n"
		"                    when it parks, the same session goes on into the request)\n"
		"  -i, --include     print the status line and headers before the body\n"
		"  -d, --data DATA   request body (@FILE, @-); -H 'Name: value'; --arg ARG\n"
		"\n",
		DEFAULT_DEBUG_PORT);
	program_options_help(out);
	fprintf(out,
		"\n"
		"examples:\n"
		"  tkvm debug ./hello GET /hello\n"
		"  gdb ./hello -ex 'target remote :%d'\n"
		"  tkvm debug --gdb GET /hello\n",
		DEFAULT_DEBUG_PORT);
}

static void on_log(void *context, const char *data, size_t length)
{
	fprintf(stderr, "log: %.*s%s", (int)length, data, length && data[length - 1] == '\n' ? "" : "\n");
}

static void on_output(void *context, int fd, const char *data, size_t length) { fwrite(data, 1, length, stderr); }

/* gdb went away: a detached request runs on to its end (breakpoints
 * were removed by gdb); otherwise tkvm_debugger_finish ends it. */
static void run_to_end(struct tkvm_debugger *d)
{
	if (!tkvm_debugger_detached(d) || tkvm_debugger_finished(d))
		return;
	struct tkvm_debug_stop stop;
	do
		tkvm_debugger_resume(d, false, &stop);
	while (stop.kind != TKVM_DEBUG_FINISHED);
}

int command_debug(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"port", required_argument, NULL, OPTION_PORT},
		{"listen", required_argument, NULL, OPTION_LISTEN_HOST},
		{"gdb", no_argument, NULL, OPTION_START_GDB},
		{"break-main", no_argument, NULL, OPTION_BREAK_MAIN},
		{"include", no_argument, NULL, 'i'},
		REQUEST_LONG_OPTIONS,
		PROGRAM_LONG_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct request_options request_options = {0};
	struct program_options p;
	program_options_init(&p);
	const char *host = "127.0.0.1";
	int port = DEFAULT_DEBUG_PORT, status = EXIT_USAGE, c;
	bool start_gdb_here = false, include_headers = false, break_main = false;
	char *project_elf = NULL;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hid:H:c:", long_options, NULL)) != -1) {
		int taken = program_options_take(&p, c, optarg);
		if (!taken)
			taken = request_options_take(&request_options, c, optarg);
		if (taken < 0)
			goto out;
		if (taken)
			continue;
		switch (c) {
		case 'h': debug_usage(stdout); status = EXIT_OK; goto out;
		case 'i': include_headers = true; break;
		case OPTION_LISTEN_HOST: host = optarg; break;
		case OPTION_START_GDB: start_gdb_here = true; break;
		case OPTION_BREAK_MAIN: break_main = true; break;
		case OPTION_PORT: {
			char *end;
			long value = strtol(optarg, &end, 10);
			if (*end || value < 0 || value > 65535) {
				cli_error("--port wants a port number (0..65535), got '%s'", optarg);
				goto out;
			}
			port = (int)value;
			break;
		}
		default:
			cli_error("unknown option or missing value: '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm debug --help' for the options");
			goto out;
		}
	}
	/* No PROGRAM (nothing, a METHOD or a /URL first): the project's. */
	status = project_request_positional(&p, &request_options, argc, argv, optind, "debug", &project_elf);
	if (status != EXIT_OK)
		goto out;
	status = EXIT_USAGE;
	const char *program_path = request_options.program_path;
	if (program_options_finish(&p, program_path) < 0)
		goto out;
	status = EXIT_FAILURE_CODE;
	p.settings.allow_debug = true;

	uint8_t *elf = NULL;
	size_t elf_size = 0;
	struct built_request request = {0};
	if (read_whole_file(program_path, &elf, &elf_size) < 0 || request_build(&request_options, &request) < 0) {
		free(elf);
		goto out;
	}
	fetch_client_global_init();
	struct fetch_client fetch = {NULL, NULL};
	struct tkvm_hooks hooks = {.context = &fetch, .output = on_output, .log = on_log};
	struct tkvm_error err = {0};
	struct tkvm_program *program = NULL;
	struct tkvm_debugger *debugger = NULL;
	struct tkvm_debug_stop first;
	char what[256];
	if (break_main) {
		if (tkvm_debug_boot(&p.settings, elf, elf_size, &hooks, &request.input, &program, &debugger, &first, &err) < 0) {
			cli_error("%s: %s", p.settings.name, err.message);
			goto free_request;
		}
		snprintf(what, sizeof what, "%s (booting, before main)", p.settings.name);
	} else {
		if (tkvm_program_boot(&p.settings, elf, elf_size, &hooks, &program, &err) < 0) {
			cli_error("%s: %s", p.settings.name, err.message);
			goto free_request;
		}
		if (tkvm_debug_request(program, &request.input, &debugger, &first, &err) < 0) {
			cli_error("%s: %s", p.settings.name, err.message);
			goto release;
		}
		snprintf(what, sizeof what, "%s %s", request.input.method, request.input.url);
	}
	struct debug_session_options session = {host, port, program_path, start_gdb_here};
	if (debug_session_serve(debugger, &first, what, &session) == 0)
		run_to_end(debugger);
	struct tkvm_response response;
	tkvm_debugger_finish(debugger, &response);
	status = run_report(&response, tkvm_program_stats(program),
			    &(struct run_report_options){.include_headers = include_headers, .program_name = p.settings.name});
	tkvm_response_free(&response);
release:
	tkvm_program_release(program);
free_request:
	request_free(&request);
	free(elf);
out:
	free(project_elf);
	program_options_free(&p);
	return status;
}
