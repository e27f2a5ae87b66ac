/* tkvm serve: a local HTTP server in front of one program, or of the
 * programs of a library JSON, as the Varnish VMOD runs them. This file is
 * the command: options, loading the programs, the server's life and its
 * clean stop on SIGINT/SIGTERM. HTTP is libmicrohttpd (http_server.c),
 * answering is serve_handler.c, the programs and their live-update swap
 * served_programs.c, the access log access_log.c. */
#include "cli/access_log.h"
#include "cli/commands.h"
#include "cli/http_server.h"
#include "cli/library_load.h"
#include "cli/program_options.h"
#include "cli/project_build.h"
#include "cli/project_watch.h"
#include "cli/serve_handler.h"
#include "cli/served_programs.h"
#include "cli/terminal.h"
#include "packager/library.h"
#include "runner/tkvm.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_QUEUE_TIMEOUT 10.0
#define DEFAULT_MAX_BODY_MB 64
/* Varnish's default http_req_hdr_len: a longer header line gets 431. */
#define MAX_HEADER_LINE 8192
/* After SIGINT/SIGTERM, requests still running after this long (beyond
 * their own time limits) are cut off. */
#define DRAIN_EXTRA_SECONDS 2.0

enum {
	OPTION_LISTEN = 2000,
	OPTION_LIBRARY,
	OPTION_QUEUE_TIMEOUT,
	OPTION_MAX_BODY,
	OPTION_QUIET,
	OPTION_JSON_LOG,
	OPTION_CONCURRENCY,
	OPTION_STDOUT,
	OPTION_WATCH,
	OPTION_DEBUG_ON_CRASH,
	OPTION_DEBUG_PORT,
};

struct serve {
	struct served_programs programs;
	struct access_log log;
};

static void serve_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm serve [options] PROGRAM\n"
		"       tkvm serve [options] --library LIBRARY.json|URL\n"
		"       tkvm serve [options] [--watch]          (in a project)\n"
		"\n"
		"Serves HTTP on the real KVM sandbox, the way the Varnish TinyKVM VMOD runs\n"
		"programs in production: every request runs in a request VM that is reset\n"
		"afterwards; a crash, a timeout or a bad host call answers that one request\n"
		"with an error and the server goes on.\n"
		"\n"
		"One PROGRAM answers every URL. With --library, each program of the library\n"
		"JSON answers where its name is either the first\n"
		"label of the Host header (Host: hello.localhost) or the first path segment\n"
		"(/hello/x reaches hello as /x). Flags below apply to every program of a library.\n"
		"The library is a file or a URL (http, https, file), loaded as production does:\n"
		"a program's \"uri\" is fetched into its \"filename\" (If-Modified-Since; 304\n"
		"keeps the cached copy; a matching \"sha256\" skips the fetch), archives are\n"
		"unpacked, \"sha256\" is checked, and when the library (a group's or program's\n"
		"\"trusted_keys\") or --trusted-key lists keys, the archive's signature\n"
		"(URI.minisig) must be good. A program that fails to load is reported with\n"
		"its cause and the others are served. An https host signed by a private CA\n"
		"is trusted with CURL_CA_BUNDLE=CA.pem (or SSL_CERT_FILE), as curl does.\n"
		"With neither, the project's program (tkvm.json here or in a parent), built when\n"
		"stale, with its \"program\" settings.\n"
		"\n"
		"How a request reaches the program (as with the VMOD): method; url = the path;\n"
		"arg = the X-Arg header, else the query string; content type; headers (at most\n"
		"64, each at most 8 KB, else 431); body. The program's status, headers and body\n"
		"come back unchanged; set_cacheable() adds Cache-Control. When the program\n"
		"fails: 504 for a timeout, 500 for anything else, with a short text body; the\n"
		"answer of its on_error handler, when it has one, is sent as it made it. 503\n"
		"when no VM became free within --queue-timeout.\n"
		"\n"
		"server:\n"
		"      --listen ADDRESS     HOST:PORT, PORT, :PORT (all interfaces) or [IPV6]:PORT\n"
		"                           (default " DEFAULT_LISTEN "; port 0 picks a free port)\n"
		"      --library FILE|URL   serve the programs of a library JSON\n"
		LIBRARY_OPTIONS_HELP
		"      --queue-timeout S    how long a request waits for a free VM before 503\n"
		"                           (default 10)\n"
		"      --max-body MB        larger request bodies get 413 (default 64)\n"
		"      --concurrency N      request VMs per program (the settings key; default 2)\n"
		"      --stdout             show what programs write to stdout/stderr\n"
		"      --debug-on-crash     a crashing request waits for gdb (remote_debug_on_exception)\n"
		"                           instead of answering 500; also breakpoint() with allow_debug\n"
		"      --debug-port N       where such a request waits for gdb (default 2159, loopback)\n"
		"      --quiet              no access log\n"
		"      --json-log           access log as one JSON object per line\n"
		"      --watch              (project) rebuild when a source changes and swap the\n"
		"                           program in; a failed build keeps the old one serving\n"
		"\n");
	program_options_help(out);
	fprintf(out,
		"\n"
		"output: the URL and status lines on stdout; the access log on stderr, one\n"
		"line per request (common log format, duration, program, VM, failure cause):\n"
		"  127.0.0.1 - - [21/Nov/2025:10:00:00 +0000] \"GET /x HTTP/1.1\" 200 23 0.412ms hello vm=0\n"
		"  ... \"GET /null HTTP/1.1\" 500 96 3.1ms crash vm=1 outcome=failed cause=\"segmentation fault: ...\"\n"
		"\n"
		"endpoints:\n"
		"  GET " SERVE_STATS_PATH "   statistics per program as JSON, with the VMOD's names\n"
		"                     (invocations, resets, exceptions, timeouts, status_2xx...)\n"
		"  X-LiveUpdate: KEY  a POST with this header is a live update: its body is a new\n"
		"                     ELF for the program named by Host (or path, or the only one);\n"
		"                     it boots with the same settings and replaces the old one\n"
		"                     when KEY is the program's \"key\" setting: 201 \"Update\n"
		"                     successful (stored)\" (written to the program's absolute\n"
		"                     \"filename\") or \"(not stored)\"; requests already running\n"
		"                     finish on the old one. 403 for a wrong key; 400 with the\n"
		"                     boot error when it does not boot (the old program stays).\n"
		"\n"
		"examples:\n"
		"  tkvm serve ./hello                               # http://127.0.0.1:8080/\n"
		"  curl http://127.0.0.1:8080/hello?name=x         # arg = \"name=x\"\n"
		"  tkvm serve --listen 0.0.0.0:9000 --library programs.json\n"
		"  tkvm serve --library https://cdn.example.com/programs/library.json\n"
		"  curl -H 'Host: hello' http://127.0.0.1:9000/     # or http://127.0.0.1:9000/hello/\n"
		"  tkvm serve --set key=s3cret --concurrency 4 ./hello\n"
		"  curl -H 'X-LiveUpdate: s3cret' --data-binary @./hello-v2 http://127.0.0.1:8080/\n"
		"  curl http://127.0.0.1:8080" SERVE_STATS_PATH "\n"
		"\n"
		"SIGINT/SIGTERM: stop accepting, let running requests finish, exit 0; a second\n"
		"signal exits at once (status 1).\n"
		"exit status: 0 after a clean stop, 1 when it cannot start, 2 for usage errors.\n");
}

/* Signals: while serving, the first SIGINT/SIGTERM asks for a clean stop
 * through a pipe (any thread may take the signal), a second one exits at
 * once. Before that (programs booting) there is nothing to drain: exit. */

static int stop_pipe[2] = {-1, -1};
static volatile sig_atomic_t stop_signals, serving;

static void on_stop_signal(int signal_number)
{
	int saved = errno;
	if (!serving || ++stop_signals > 1) {
		static const char second[] = "tkvm: second signal: exiting now\n";
		static const char starting[] = "tkvm: interrupted while starting\n";
		ssize_t ignored = write(2, serving ? second : starting, serving ? sizeof second - 1 : sizeof starting - 1);
		(void)ignored;
		_exit(EXIT_FAILURE_CODE);
	}
	unsigned char byte = (unsigned char)signal_number;
	ssize_t ignored = write(stop_pipe[1], &byte, 1);
	(void)ignored;
	errno = saved;
}

static int install_signals(void)
{
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	struct sigaction action;
	memset(&action, 0, sizeof action);
	action.sa_handler = on_stop_signal;
	action.sa_flags = SA_RESTART;
	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static double now_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Blocks until the first signal; returns its number. */
static int wait_for_stop(void)
{
	struct pollfd fd = {.fd = stop_pipe[0], .events = POLLIN};
	for (;;) {
		if (poll(&fd, 1, -1) > 0) {
			unsigned char byte = 0;
			if (read(stop_pipe[0], &byte, 1) == 1)
				return byte;
		}
	}
}

static void wait_for_requests_to_finish(struct http_server *server, double seconds)
{
	double deadline = now_seconds() + seconds;
	while (http_server_in_flight(server) && now_seconds() < deadline) {
		struct timespec pause = {0, 20 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	unsigned left = http_server_in_flight(server);
	if (left)
		printf("tkvm: %u request%s still running after %.1f s: closing their connections\n", left,
		       left == 1 ? "" : "s", seconds);
}

/* Setting up the programs. */

static int parse_positive(const char *text, const char *option, double *out)
{
	char *end;
	errno = 0;
	double value = strtod(text, &end);
	if (errno || end == text || *end || !(value > 0) || value > 1e6) {
		cli_error("%s wants a positive number, got '%s'", option, text);
		return -1;
	}
	*out = value;
	return 0;
}

/* The same flags override every program of a library. */
static int apply_overrides(struct tkvm_settings *settings, const struct program_options *options)
{
	for (size_t i = 0; i < options->override_count; i++) {
		const char *key = options->overrides[i].key;
		if (strcmp(key, "name") == 0)
			continue;
		struct tkvm_error err = {0};
		if (program_settings_set(settings, key, options->overrides[i].value, &err) < 0) {
			cli_error("%s", err.message);
			return -1;
		}
	}
	return 0;
}

static int load_library(struct serve *s, const char *location, const struct program_options *options,
			const struct library_load_options *load_options, double queue_timeout)
{
	struct library library;
	if (library_load(location, &library, "(not served)") < 0)
		return -1;
	int r = 0;
	for (size_t i = 0; i < library.program_count && r == 0; i++) {
		struct library_program *lp = &library.programs[i];
		const char *name = lp->name;
		if (strchr(name, '/') || strchr(name, '.') || !*name) {
			cli_warning("%s: a program name with '/' or '.' cannot be routed (not served)", name);
			continue;
		}
		if (apply_overrides(&lp->settings, options) < 0) {
			r = -1;
			break;
		}
		struct program_source source;
		char message[1200];
		if (library_program_prepare(lp, load_options, &source, message, sizeof message) < 0) {
			cli_warning("%s: %s (not served)", name, message);
			continue;
		}
		if (served_programs_add(&s->programs, name, &lp->settings, source.elf_path, queue_timeout, &s->log) < 0) {
			cli_error("out of memory");
			r = -1;
		}
		program_source_free(&source);
	}
	library_free(&library);
	if (r == 0 && s->programs.count == 0) {
		cli_error("%s: no program to serve", location);
		cli_hint("each program needs a \"filename\" naming a local ELF or a \"uri\" to fetch, e.g. {\"hello\": {\"filename\": \"$PWD/hello\"}}");
		return -1;
	}
	return r;
}

/* Programs with "start" (and the single program) boot now; the others on
 * their first request. A single program that cannot boot is an error. */
static int start_programs(struct serve *s)
{
	for (size_t i = 0; i < s->programs.count; i++) {
		struct served_program *p = s->programs.programs[i];
		if (s->programs.library && !p->settings.start)
			continue;
		char message[1200];
		if (served_program_start(p, message, sizeof message) < 0) {
			cli_error("%s: %s", p->name, message);
			if (strstr(message, "dynamic executables"))
				cli_hint("rebuild with: gcc -static (or -static-pie) ...");
			if (!s->programs.library)
				return -1;
		}
	}
	return 0;
}

static void print_banner(struct serve *s, const char *url, const char *library_path)
{
	if (!s->programs.library) {
		printf("tkvm: serving %s on %s\n", s->programs.programs[0]->name, url);
	} else {
		printf("tkvm: serving %zu program%s of %s on %s\n", s->programs.count, s->programs.count == 1 ? "" : "s",
		       library_path, url);
		for (size_t i = 0; i < s->programs.count; i++) {
			struct served_program *p = s->programs.programs[i];
			printf("tkvm:   %s: %s%s/ or Host: %s%s\n", p->name, url, p->name, p->name,
			       p->state == SERVED_RUNNING ? "" : p->state == SERVED_FAILED ? " (failed to start)" : " (starts on its first request)");
		}
	}
	printf("tkvm: statistics at %s%s; Ctrl-C stops\n", url, SERVE_STATS_PATH + 1);
	fflush(stdout);
}

int command_serve(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"listen", required_argument, NULL, OPTION_LISTEN},
		{"library", required_argument, NULL, OPTION_LIBRARY},
		{"queue-timeout", required_argument, NULL, OPTION_QUEUE_TIMEOUT},
		{"max-body", required_argument, NULL, OPTION_MAX_BODY},
		{"quiet", no_argument, NULL, OPTION_QUIET},
		{"json-log", no_argument, NULL, OPTION_JSON_LOG},
		{"concurrency", required_argument, NULL, OPTION_CONCURRENCY},
		{"stdout", no_argument, NULL, OPTION_STDOUT},
		{"debug-on-crash", no_argument, NULL, OPTION_DEBUG_ON_CRASH},
		{"debug-port", required_argument, NULL, OPTION_DEBUG_PORT},
		{"watch", no_argument, NULL, OPTION_WATCH},
		PROGRAM_LONG_OPTIONS,
		LIBRARY_LONG_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct program_options p;
	program_options_init(&p);
	struct library_load_options load_options = {0};
	struct serve s;
	memset(&s, 0, sizeof s);
	const char *listen_address = DEFAULT_LISTEN, *library_path = NULL;
	int debug_port = DEBUG_SESSION_DEFAULT_PORT;
	double queue_timeout = DEFAULT_QUEUE_TIMEOUT, max_body_mb = DEFAULT_MAX_BODY_MB;
	bool quiet = false, json_log = false;
	/* No PROGRAM and no --library: the project's program (--watch: rebuilt on changes). */
	bool watch = false;
	char *project_elf = NULL;
	struct project_watch *watcher = NULL;
	int status = EXIT_USAGE, c;
	char concurrency[64];
	optind = 1;
	while ((c = getopt_long(argc, argv, "hc:", long_options, NULL)) != -1) {
		int taken = program_options_take(&p, c, optarg);
		if (!taken)
			taken = library_load_option(&load_options, c, optarg);
		if (taken < 0)
			goto out;
		if (taken)
			continue;
		switch (c) {
		case 'h': serve_usage(stdout); status = EXIT_OK; goto out;
		case OPTION_LISTEN: listen_address = optarg; break;
		case OPTION_LIBRARY: library_path = optarg; break;
		case OPTION_QUEUE_TIMEOUT:
			if (parse_positive(optarg, "--queue-timeout", &queue_timeout) < 0)
				goto out;
			break;
		case OPTION_MAX_BODY:
			if (parse_positive(optarg, "--max-body", &max_body_mb) < 0)
				goto out;
			if (max_body_mb > 4096) {
				cli_error("--max-body %s: at most 4096 MB", optarg);
				goto out;
			}
			break;
		case OPTION_QUIET: quiet = true; break;
		case OPTION_JSON_LOG: json_log = true; break;
		case OPTION_CONCURRENCY:
			snprintf(concurrency, sizeof concurrency, "concurrency=%s", optarg);
			if (program_options_take(&p, OPTION_SET, concurrency) < 0)
				goto out;
			break;
		case OPTION_WATCH: watch = true; break;
		case OPTION_STDOUT:
			if (program_options_take(&p, OPTION_SET, "stdout=true") < 0)
				goto out;
			break;
		case OPTION_DEBUG_ON_CRASH:
			if (program_options_take(&p, OPTION_SET, "remote_debug_on_exception=true") < 0)
				goto out;
			break;
		case OPTION_DEBUG_PORT: {
			char *end;
			long value = strtol(optarg, &end, 10);
			if (*end || value < 0 || value > 65535) {
				cli_error("--debug-port wants a port number (0..65535), got '%s'", optarg);
				goto out;
			}
			debug_port = (int)value;
			break;
		}
		default:
			cli_hint("run 'tkvm serve --help' for the options");
			goto out;
		}
	}
	const char *program_path = optind < argc ? argv[optind] : NULL;
	if (argc - optind > 1 || (program_path && library_path)) {
		if (argc - optind > 1)
			cli_error("expected one PROGRAM, got %d arguments", argc - optind);
		else
			cli_error("give either a PROGRAM or --library, not both");
		cli_hint("tkvm serve ./hello   or   tkvm serve --library programs.json   (see 'tkvm serve --help')");
		goto out;
	}
	if (watch && (program_path || library_path)) {
		cli_error("--watch rebuilds a project's program: give no PROGRAM or --library");
		cli_hint("run 'tkvm serve --watch' where tkvm.json is (or below it)");
		goto out;
	}
	if (library_path && p.config_path) {
		cli_error("--config sets one program's settings; with --library, settings come from the library");
		goto out;
	}
	char url[128], message[512];
	int listen_fd = -1;
	int r = http_server_listen(listen_address, &listen_fd, url, sizeof url, message, sizeof message);
	if (r < 0) {
		cli_error("--listen %s: %s", listen_address, message);
		if (r == -2 && strstr(message, "in use"))
			cli_hint("another server uses that port: pick another one, or port 0 for any free port");
		if (r == -1)
			goto out;
		status = EXIT_FAILURE_CODE;
		goto out;
	}
	status = EXIT_FAILURE_CODE;
	/* Self-requests (a fetch of "/path") come back to this server. */
	char self_url[sizeof url];
	snprintf(self_url, sizeof self_url, "%s", url);
	if (*self_url && self_url[strlen(self_url) - 1] == '/')
		self_url[strlen(self_url) - 1] = 0;
	s.programs.fetch.self_base_url = self_url;
	s.programs.debug = (struct debug_session_options){"127.0.0.1", debug_port, NULL, false};
	fetch_client_global_init();
	access_log_init(&s.log, stderr, json_log ? ACCESS_LOG_JSON : ACCESS_LOG_COMMON);
	if (install_signals() < 0) {
		cli_error("pipe: %s", strerror(errno));
		goto close_listen;
	}
	if (library_path) {
		s.programs.library = true;
		if (load_library(&s, library_path, &p, &load_options, queue_timeout) < 0)
			goto free_programs;
	} else {
		if (!program_path) {
			status = project_program_prepare(&p, "tkvm serve ./hello   or   tkvm serve --library programs.json   "
							 "(see 'tkvm serve --help')", &project_elf);
			if (status != EXIT_OK)
				goto free_programs;
			status = EXIT_FAILURE_CODE;
			program_path = project_elf;
		}
		if (program_options_finish(&p, program_path) < 0) {
			status = EXIT_USAGE;
			goto free_programs;
		}
		if (served_programs_add(&s.programs, p.settings.name, &p.settings, program_path, queue_timeout, &s.log) < 0) {
			cli_error("out of memory");
			goto free_programs;
		}
	}
	if (start_programs(&s) < 0)
		goto free_programs;
	if (watch && !(watcher = project_watch_start(s.programs.programs[0])))
		goto free_programs;

	struct http_server_options options = {
		.listen_fd = listen_fd,
		.max_body = (size_t)(max_body_mb * 1024 * 1024),
		.max_headers = TKVM_MAX_REQUEST_HEADERS,
		.max_header_line = MAX_HEADER_LINE,
		.on_headers = serve_on_headers,
		.on_request = serve_on_request,
		.context = &s.programs,
		.log = quiet ? NULL : &s.log,
	};
	/* Connection threads never take SIGINT/SIGTERM: they inherit this mask. */
	sigset_t stop_set, previous;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_set, &previous);
	const char *failure = NULL;
	struct http_server *server = http_server_start(&options, &failure);
	pthread_sigmask(SIG_SETMASK, &previous, NULL);
	if (!server) {
		cli_error("cannot serve on %s: %s", url, failure);
		goto free_programs;
	}
	serving = 1;
	print_banner(&s, url, library_path);

	int signal_number = wait_for_stop();
	unsigned running = http_server_in_flight(server);
	printf("tkvm: %s: stopping (%u request%s in flight; a second signal exits at once)\n",
	       signal_number == SIGINT ? "SIGINT" : "SIGTERM", running, running == 1 ? "" : "s");
	fflush(stdout);
	http_server_quiesce(server);
	double longest = 0;
	for (size_t i = 0; i < s.programs.count; i++)
		if (s.programs.programs[i]->settings.max_request_time > longest)
			longest = s.programs.programs[i]->settings.max_request_time;
	wait_for_requests_to_finish(server, queue_timeout + longest + DRAIN_EXTRA_SECONDS);
	http_server_stop(server);
	printf("tkvm: stopped\n");
	fflush(stdout);
	status = EXIT_OK;
free_programs:
	project_watch_stop(watcher);
	served_programs_free(&s.programs);
close_listen:
	close(listen_fd);
out:
	free(project_elf);
	program_options_free(&p);
	library_load_options_free(&load_options);
	return status;
}
