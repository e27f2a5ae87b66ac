/* A GDB session on a stopped request (see debug_session.h). */
#include "cli/debug_session.h"
#include "cli/debug_target.h"
#include "cli/terminal.h"
#include "runner/gdb_stub.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t start_gdb(const char *program_path, int port)
{
	char target[64];
	snprintf(target, sizeof target, "target remote 127.0.0.1:%d", port);
	pid_t pid = fork();
	if (pid == 0) {
		execlp("gdb", "gdb", "-q", program_path, "-ex", target, (char *)NULL);
		fprintf(stderr, "tkvm: cannot start gdb: %s (apt-get install gdb)\n", strerror(errno));
		_exit(127);
	}
	return pid;
}

int debug_session_serve(struct tkvm_debugger *debugger, const struct tkvm_debug_stop *stop, const char *what,
			const struct debug_session_options *o)
{
	struct tkvm_error err = {0};
	int listen_fd = -1, fd = -1, bound_port = o->port;
	if (gdb_stub_listen(o->host, o->port, &listen_fd, &bound_port, &err) < 0) {
		cli_error("%s", err.message);
		if (err.code == -EADDRINUSE)
			cli_hint("another debugger uses port %d: pick one with --port (0 = any free port)", o->port);
		return err.code ? err.code : -EIO;
	}
	struct tkvm_program *program = tkvm_debugger_program(debugger);
	uint64_t offset = 0;
	const char *symbol = tkvm_program_symbol(program, stop->address, &offset);
	fprintf(stderr, "tkvm: %s stopped at %s+0x%llx%s%s; waiting for gdb on %s:%d\n", what, symbol ? symbol : "?",
		(unsigned long long)offset, stop->kind == TKVM_DEBUG_CRASHED ? ": " : "",
		stop->kind == TKVM_DEBUG_CRASHED ? stop->message : "", o->host, bound_port);
	pid_t gdb = -1;
	if (o->start_gdb)
		gdb = start_gdb(o->program_path, bound_port);
	else
		fprintf(stderr, "      gdb %s -ex 'target remote %s:%d'\n", o->program_path ? o->program_path : "PROGRAM",
			o->host, bound_port);
	fflush(stderr);
	int r = gdb_stub_accept(listen_fd, -1, &fd, &err);
	close(listen_fd);
	if (r < 0) {
		cli_error("%s", err.message);
		return r;
	}
	struct debug_target target = {.debugger = debugger, .program = program};
	struct gdb_stop initial;
	debug_target_stop(&target, stop, &initial);
	r = gdb_stub_serve(fd, &debug_target_ops, &target, &initial, &err);
	close(fd);
	if (r < 0 && !target.finished)
		cli_warning("gdb went away (%s): the request is ended", err.message);
	if (gdb > 0)
		waitpid(gdb, NULL, 0);
	return 0;
}
