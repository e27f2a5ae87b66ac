/* tkvm build: compiles the project of the current directory (tkvm.json
 * here or in a parent) into a static x86-64 ELF, only when something it
 * is made from changed. The work is project_build.c's, shared with run,
 * serve and test. */
#include "cli/commands.h"
#include "cli/project_build.h"
#include "cli/terminal.h"
#include <getopt.h>
#include <stdio.h>
#include <string.h>

enum {
	OPTION_MUSL = 3000,
	OPTION_RELEASE,
	OPTION_DEBUG,
	OPTION_PROFILE,
	OPTION_FORCE,
};

static void build_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm build [--musl] [--release | --debug] [--profile] [--force] [-v]\n"
		"\n"
		"Builds the project (tkvm.json in this directory or a parent) into a static\n"
		"x86-64 ELF at its \"build.output\" (default build/NAME), when something changed:\n"
		"a source, a header it includes, tkvm.json, the SDK header, or the options.\n"
		"The compiler's messages are shown unchanged. The result must be a static\n"
		"x86-64 executable (tkvm runs no dynamic ones); a failed build leaves the\n"
		"previous program in place.\n"
		"\n"
		"  C     gcc -static -O2 -g -Wall -I<sdk> FLAGS (musl-gcc with --musl or \"libc\": \"musl\")\n"
		"  C++   g++, the same flags\n"
		"  Rust  cargo build --release --target x86_64-unknown-linux-gnu with\n"
		"        RUSTFLAGS=\"-C target-feature=+crt-static -C relocation-model=static FLAGS\"\n"
		"\n"
		"options:\n"
		"      --musl       link with musl (musl-gcc) instead of glibc (C only)\n"
		"      --release    optimised, with debug information (the default)\n"
		"      --debug      -O0 (C/C++), cargo's dev profile (Rust)\n"
		"      --profile    keep frame pointers (for profiling)\n"
		"      --force      build even when up to date\n"
		"  -v, --verbose    say why it builds and show the commands\n"
		"\n"
		"exit status: 0 when built or up to date, 1 when the build failed, 2 for\n"
		"usage errors.\n");
}

int command_build(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"musl", no_argument, NULL, OPTION_MUSL},
		{"release", no_argument, NULL, OPTION_RELEASE},
		{"debug", no_argument, NULL, OPTION_DEBUG},
		{"profile", no_argument, NULL, OPTION_PROFILE},
		{"force", no_argument, NULL, OPTION_FORCE},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	struct project_build_options options = {.report = stdout, .report_up_to_date = true, .as_given = true};
	bool release = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hv", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': build_usage(stdout); return EXIT_OK;
		case 'v': options.verbose = true; break;
		case OPTION_MUSL: options.musl = true; break;
		case OPTION_RELEASE: release = true; break;
		case OPTION_DEBUG: options.debug = true; break;
		case OPTION_PROFILE: options.profile = true; break;
		case OPTION_FORCE: options.force = true; break;
		default:
			cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm build --help' for the options");
			return EXIT_USAGE;
		}
	}
	if (release && options.debug) {
		cli_error("--release and --debug: choose one");
		return EXIT_USAGE;
	}
	if (optind < argc) {
		cli_error("tkvm build takes no arguments, got '%s'", argv[optind]);
		cli_hint("run it in the project directory (where tkvm.json is) or below it");
		return EXIT_USAGE;
	}
	struct project project;
	int r = project_open(&project);
	if (r < 0)
		return EXIT_FAILURE_CODE;
	if (r == PROJECT_NOT_FOUND) {
		cli_error("no %s here or in a parent directory: nothing to build", PROJECT_FILE);
		cli_hint("start a project with 'tkvm new NAME' (then cd NAME)");
		return EXIT_USAGE;
	}
	enum project_build_result result = project_build(&project, &options, NULL);
	project_free(&project);
	return result == PROJECT_BUILD_FAILED ? EXIT_FAILURE_CODE : EXIT_OK;
}
