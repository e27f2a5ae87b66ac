/* The GDB stub's target operations (runner/gdb_stub.h) over a request
 * under the runner's debugger (runner/tkvm_debug.h): gdb's register layout
 * to and from the program's registers and XSAVE state, memory, software
 * breakpoints, and resume with Ctrl-C. */
#ifndef TKVM_CLI_DEBUG_TARGET_H
#define TKVM_CLI_DEBUG_TARGET_H
#include "runner/gdb_stub.h"
#include "runner/tkvm_debug.h"

struct debug_target {
	struct tkvm_debugger *debugger;
	struct tkvm_program *program;
	bool finished;      /* the request ended (gdb was told "exited") */
	bool detached;      /* gdb detached: the request runs on by itself */
};

extern const struct gdb_target_ops debug_target_ops;

/* The stop gdb is told about, from the runner's. */
void debug_target_stop(struct debug_target *t, const struct tkvm_debug_stop *from, struct gdb_stop *to);
#endif
