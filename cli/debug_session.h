/* One GDB session on a stopped request: listen (loopback unless told
 * otherwise), say where it stopped and how to attach, accept gdb, serve it
 * until it detaches, kills or the request ends. Used by tkvm debug, and as
 * the runner's debug hook by run and serve (breakpoint() with allow_debug,
 * crashes with remote_debug_on_exception / --debug-on-crash). */
#ifndef TKVM_CLI_DEBUG_SESSION_H
#define TKVM_CLI_DEBUG_SESSION_H
#include <stdbool.h>
#include "runner/tkvm_debug.h"

#define DEBUG_SESSION_DEFAULT_PORT 2159

struct debug_session_options {
	const char *host;          /* "127.0.0.1" */
	int port;                  /* 0: any free port */
	const char *program_path;  /* for the gdb command line shown */
	bool start_gdb;            /* run gdb here, attached */
};

/* Returns 0 when gdb came and went (detached: the runner is told), or a
 * negative errno (reported) when no session could be held. */
int debug_session_serve(struct tkvm_debugger *debugger, const struct tkvm_debug_stop *stop, const char *what,
			const struct debug_session_options *options);
#endif
