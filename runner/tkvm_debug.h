/* Debugging a request inside its real request VM (tkvm debug): the
 * program's registers and memory, software breakpoints and single steps
 * (all KVM offers for CPL3 code on PVM: spec/kvm-host.md), driven by a GDB
 * stub in the embedder. Part of libtkvm's public API, next to tkvm.h. */
#ifndef TKVM_RUNNER_TKVM_DEBUG_H
#define TKVM_RUNNER_TKVM_DEBUG_H
#include <stdbool.h>
#include <stdint.h>
#include "runner/tkvm.h"

struct tkvm_debugger;

enum tkvm_debug_stop_kind {
	TKVM_DEBUG_STOPPED,  /* at a breakpoint, after a step, or interrupted */
	TKVM_DEBUG_CRASHED,  /* a fault: the state is the faulting instruction's */
	TKVM_DEBUG_FINISHED, /* the request ended: tkvm_debugger_finish has the response */
};

struct tkvm_debug_stop {
	enum tkvm_debug_stop_kind kind;
	int signal;        /* 5 SIGTRAP, 2 SIGINT, 11 SIGSEGV, 4 SIGILL, 8 SIGFPE, 7 SIGBUS */
	uint64_t address;  /* RIP */
	bool breakpoint;   /* stopped on one of the debugger's breakpoints */
	char message[512]; /* what happened, for crashes */
};

/* The program's registers; xsave is the standard XSAVE layout (x87 at 0,
 * MXCSR at 24, XMM at 160, YMM upper halves at 576). */
struct tkvm_debug_registers {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	uint64_t cs, ss, ds, es, fs, gs, fs_base, gs_base;
	uint8_t xsave[4096];
};

/* Takes a request VM, dispatches the request and stops before the first
 * instruction of the handler (the stop is filled in). No time limit
 * applies while debugging. */
int tkvm_debug_request(struct tkvm_program *program, const struct tkvm_request_input *input,
		       struct tkvm_debugger **debugger, struct tkvm_debug_stop *stop, struct tkvm_error *err);

/* Boots the program under the debugger, stopping before main() runs (at
 * the ELF entry when there is no "main" symbol). When main() parks, the
 * template is taken and the same session goes on into the request (input
 * must stay valid until tkvm_debugger_finish). *program is the booted
 * program, to release after tkvm_debugger_finish. */
int tkvm_debug_boot(const struct tkvm_settings *settings, const uint8_t *elf, size_t elf_size,
		    const struct tkvm_hooks *hooks, const struct tkvm_request_input *input,
		    struct tkvm_program **program, struct tkvm_debugger **debugger, struct tkvm_debug_stop *stop,
		    struct tkvm_error *err);

int tkvm_debugger_read_memory(struct tkvm_debugger *d, uint64_t address, uint8_t *buffer, size_t length);
int tkvm_debugger_write_memory(struct tkvm_debugger *d, uint64_t address, const uint8_t *buffer, size_t length);
int tkvm_debugger_registers(struct tkvm_debugger *d, struct tkvm_debug_registers *registers);
int tkvm_debugger_set_registers(struct tkvm_debugger *d, const struct tkvm_debug_registers *registers);
/* Software breakpoints (int3), invisible to memory reads. */
int tkvm_debugger_insert_breakpoint(struct tkvm_debugger *d, uint64_t address);
int tkvm_debugger_remove_breakpoint(struct tkvm_debugger *d, uint64_t address);
/* Runs until the next stop. Resuming a crashed request ends it (500, or
 * on_error's answer). */
int tkvm_debugger_resume(struct tkvm_debugger *d, bool step, struct tkvm_debug_stop *stop);
/* From another thread: stops a running resume with SIGINT. */
void tkvm_debugger_interrupt(struct tkvm_debugger *d);
/* Tells the runner gdb detached: the request will run on by itself. */
void tkvm_debugger_detach(struct tkvm_debugger *d);
bool tkvm_debugger_detached(const struct tkvm_debugger *d);
bool tkvm_debugger_finished(const struct tkvm_debugger *d);
/* The program being debugged (for symbols). */
struct tkvm_program *tkvm_debugger_program(struct tkvm_debugger *d);

/* Ends the request (a 500 "ended by the debugger" if it had not finished),
 * moves its response out, resets the VM and frees the debugger. */
void tkvm_debugger_finish(struct tkvm_debugger *d, struct tkvm_response *response);
#endif
