/* A GDB remote-serial-protocol stub for one x86-64 thread: the embedder
 * fills in struct gdb_target_ops (registers, memory, software breakpoints,
 * resume) and calls gdb_stub_serve on a connected socket. Hardware
 * breakpoints and watchpoints are refused, so gdb uses software ones. */
#ifndef TKVM_RUNNER_GDB_STUB_H
#define TKVM_RUNNER_GDB_STUB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/error.h"
#include "runner/gdb_x86_64.h"

/* gdb's own signal numbers (its enum gdb_signal), which the remote protocol
 * uses; above 6 they are not all the host's (SIGBUS is 10, not 7). */
enum {
	GDB_SIGNAL_NONE = 0,
	GDB_SIGNAL_INT = 2,   /* stopped by Ctrl-C */
	GDB_SIGNAL_ILL = 4,
	GDB_SIGNAL_TRAP = 5,  /* breakpoint, single step, initial stop */
	GDB_SIGNAL_ABRT = 6,
	GDB_SIGNAL_FPE = 8,
	GDB_SIGNAL_KILL = 9,
	GDB_SIGNAL_BUS = 10,
	GDB_SIGNAL_SEGV = 11,
	GDB_SIGNAL_SYS = 12,
	GDB_SIGNAL_ALRM = 14, /* e.g. the request's time limit */
	GDB_SIGNAL_TERM = 15,
};

/* Why the target stopped, as resume reports it. */
struct gdb_stop {
	int signal;       /* GDB_SIGNAL_* (0..255) */
	bool breakpoint;  /* hit an inserted software breakpoint: rip must already be back on
			   * the breakpoint's address (not after the int3); gdb is told "swbreak" */
	bool exited;      /* the program ended by itself with exit_status (gdb: "W") */
	int exit_status;
	bool terminated;  /* the program was ended by `signal` (gdb: "X"), e.g. a fault gdb let go on */
};

/* Handed to resume so that the target can notice gdb's Ctrl-C. */
struct gdb_interrupt;

/* Non-blocking: true once gdb asked to stop (Ctrl-C) or went away since
 * this resume began. Reads the connection, so call it only from the thread
 * that runs resume (typically the vCPU thread, between two KVM_RUNs). NULL
 * (no connection, as in tests and fuzzing) answers false. */
bool gdb_interrupt_requested(struct gdb_interrupt *interrupt);

/* The connection's fd, for embedders with their own event loop: poll() it
 * for POLLIN, never read it. -1 for NULL. */
int gdb_interrupt_fd(const struct gdb_interrupt *interrupt);

/* For a resume that blocks (in KVM_RUN) and can only be stopped from another
 * thread: starts a helper thread that calls on_input(arg) once, as soon as
 * gdb sends anything (Ctrl-C) or hangs up, e.g. to kick the vCPU out of
 * KVM_RUN. Returns 1 without starting it when gdb has already asked to stop
 * (report GDB_SIGNAL_INT without running), 0 when watching or when there is
 * nothing to watch (NULL), or a negative errno. After the run stops, call
 * gdb_interrupt_unwatch, then gdb_interrupt_requested: if that says false,
 * the wake-up was not a Ctrl-C and the target should run on. */
int gdb_interrupt_watch(struct gdb_interrupt *interrupt, void (*on_input)(void *arg), void *arg);
/* Stops and joins the helper thread (no-op when not watching). */
void gdb_interrupt_unwatch(struct gdb_interrupt *interrupt);

/* What the stub needs from the target. All functions return 0 or a negative
 * errno (gdb then gets an error reply and carries on). `target` is the
 * pointer given to gdb_stub_serve. Optional members may be NULL. */
struct gdb_target_ops {
	/* All registers in gdb's x86-64 order (gdb_x86_64.h), size ==
	 * GDB_X86_64_REGISTERS_SIZE. Registers the target cannot supply read as
	 * zero. FPU/SSE/AVX: see gdb_x86_64_from_xsave / gdb_x86_64_to_xsave. */
	int (*read_registers)(void *target, uint8_t *buf, size_t size);
	int (*write_registers)(void *target, const uint8_t *buf, size_t size);
	/* Optional: one register (regno < GDB_X86_64_REGISTER_COUNT, size is its
	 * size from gdb_x86_64_register). NULL: done through the two above. */
	int (*read_register)(void *target, unsigned regno, uint8_t *buf, size_t size);
	int (*write_register)(void *target, unsigned regno, const uint8_t *buf, size_t size);
	/* Guest-virtual memory, all or nothing: -EFAULT when any byte is not
	 * mapped (the stub then retries page by page to return what is). Reads
	 * must show the original bytes under inserted breakpoints, and writes
	 * over a breakpoint must update the saved byte, not remove the int3. */
	int (*read_memory)(void *target, uint64_t address, uint8_t *buf, size_t length);
	int (*write_memory)(void *target, uint64_t address, const uint8_t *buf, size_t length);
	/* Optional: software breakpoints (Z0/z0; x86 kind 1: an int3). Insert
	 * twice at one address must be harmless; -ENOSPC when the table is
	 * full. NULL: gdb is told Z0 is unsupported and writes int3 itself. */
	int (*insert_breakpoint)(void *target, uint64_t address);
	int (*remove_breakpoint)(void *target, uint64_t address);
	/* Runs the target: one instruction (step) or until something stops it,
	 * and fills *stop (preset to GDB_SIGNAL_TRAP). A continue must stop
	 * with GDB_SIGNAL_INT when gdb asks: poll gdb_interrupt_requested()
	 * between runs, or have gdb_interrupt_watch() wake the run. A negative
	 * return means the target could not run: gdb gets an error reply and
	 * takes it as stopped. */
	int (*resume)(void *target, bool step, struct gdb_interrupt *interrupt, struct gdb_stop *stop);
	/* Optional: the program's load offset (static-pie), answered to qOffsets. */
	int (*read_load_offset)(void *target, uint64_t *offset);
	/* Optional: gdb asked to kill the program (k, vKill); the session ends. */
	void (*kill)(void *target);
	/* Optional: gdb detaches (D); remove any breakpoints still inserted and
	 * let the program go on. The session ends. */
	void (*detach)(void *target);
};

/* Serves one gdb connection on fd (not closed here) until gdb detaches,
 * kills the program, or closes the connection after the program ended:
 * then 0. -ECONNRESET when gdb vanished while the program was alive (what
 * becomes of the program is the embedder's choice), -EPROTO when gdb kept
 * rejecting our packets, another negative errno for I/O errors; err says
 * which. `initial` is the stop gdb is told about first (NULL: SIGTRAP).
 * Memory use is fixed (about 300 KiB), whatever gdb sends. */
int gdb_stub_serve(int fd, const struct gdb_target_ops *ops, void *target, const struct gdb_stop *initial, struct tkvm_error *err);

/* Listens on host:port (host NULL: 127.0.0.1; port 0: any free port, see
 * *bound_port, which may be NULL). Only loopback unless host says otherwise:
 * the stub gives full control of the program to whoever connects. */
int gdb_stub_listen(const char *host, int port, int *listen_fd, int *bound_port, struct tkvm_error *err);

/* Accepts one connection (timeout_ms < 0: wait forever; -ETIMEDOUT after),
 * with TCP_NODELAY: the protocol is many tiny request/reply packets. */
int gdb_stub_accept(int listen_fd, int timeout_ms, int *fd, struct tkvm_error *err);

/* The protocol without the transport, for tests, fuzzing and embedders with
 * their own framing: one unframed packet in, one unframed reply out. */
struct gdb_stub;

enum gdb_stub_next {
	GDB_STUB_REPLY,             /* send the reply (it may be empty: "unsupported") */
	GDB_STUB_REPLY_THEN_NO_ACK, /* send it, then stop acknowledging (QStartNoAckMode) */
	GDB_STUB_REPLY_THEN_END,    /* send it, then end the session (D, vKill) */
	GDB_STUB_END,               /* end the session without a reply (k) */
};

int gdb_stub_create(struct gdb_stub **stub, const struct gdb_target_ops *ops, void *target,
		    const struct gdb_stop *initial, struct tkvm_error *err);
void gdb_stub_destroy(struct gdb_stub *stub);

/* Handles one packet payload (any bytes, length <= GDB_PACKET_MAX). The
 * reply stays valid until the next call; it is never longer than
 * GDB_PACKET_MAX. Resume gets a NULL interrupt here. */
enum gdb_stub_next gdb_stub_handle(struct gdb_stub *stub, const char *packet, size_t length,
				   const char **reply, size_t *reply_length);
#endif
