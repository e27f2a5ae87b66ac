/* tkvm: dispatches `tkvm COMMAND ...` to cli/COMMAND.c, like git builtins. */
#include "cli/commands.h"
#include "cli/terminal.h"
#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"new", command_new, "create a project (C, C++ or Rust) from a template"},
	{"build", command_build, "build the project into a static x86-64 ELF, when it changed"},
	{"run", command_run, "boot a program in the KVM sandbox and send it one request"},
	{"serve", command_serve, "serve HTTP on the sandbox: one program, or a library of programs"},
	{"profile", command_profile, "send a request many times: phases p50/p90/p99, functions, flame graph"},
	{"test", command_test, "replay recorded HTTP fixtures (tests/NAME.json) against the program"},
	{"record", command_record, "send one request with live fetches and save it as a test fixture"},
	{"debug", command_debug, "run one request under gdb, inside the real sandbox"},
	{"pack", command_pack, "pack the program into a reproducible tar.xz archive, as production loads it"},
	{"keygen", command_keygen, "make a minisign-compatible key pair for signing programs"},
	{"sign", command_sign, "sign a program archive (ARCHIVE.minisig)"},
	{"verify", command_verify, "check an archive's signature and what it binds"},
	{"publish", command_publish, "upload the program and update the library JSON at a URL"},
	{"doctor", command_doctor, "check KVM access, the platform (PVM/VMX/SVM), CPU features and tools"},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm [--version] [--help] COMMAND [ARGS]\n"
		"\n"
		"tkvm runs TinyKVM programs (static x86-64 Linux executables that answer HTTP\n"
		"requests) in the same KVM sandbox as the Varnish TinyKVM VMOD.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'tkvm COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		if (argc > 2 && strcmp(name, "help") == 0) {
			for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
				if (!strcmp(commands[i].name, argv[2])) {
					char *help_argv[] = {argv[2], "--help", NULL};
					return commands[i].run(2, help_argv);
				}
			}
		}
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(name, "--version") || !strcmp(name, "version")) {
		printf("tkvm %s\n", TKVM_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].run(argc - 1, argv + 1);
	cli_error("'%s' is not a tkvm command", name);
	cli_hint("run 'tkvm --help' for the list of commands");
	return EXIT_USAGE;
}
