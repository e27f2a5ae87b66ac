/* One VM running one program: guest memory, vCPU, address space, open
 * files, the program's registered handlers and the request in flight. The
 * run loop turns exits into syscall emulation, host calls and stops. This
 * header is internal to runner/. */
#ifndef TKVM_RUNNER_MACHINE_H
#define TKVM_RUNNER_MACHINE_H
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include "runner/address_space.h"
#include "runner/elf.h"
#include "runner/file_table.h"
#include "runner/guest_memory.h"
#include "runner/http_fields.h"
#include "runner/kvm_platform.h"
#include "runner/tkvm.h"
#include "runner/vcpu.h"

#define HANDLER_SLOTS 13
enum handler_index {
	HANDLER_GET = 1,
	HANDLER_POST = 2,
	HANDLER_REQUEST = 3,
	HANDLER_STREAM_POST = 4,
	HANDLER_ERROR = 5,
	HANDLER_LIVE_UPDATE = 6,
	HANDLER_LIVE_RESTORE = 7,
};

enum machine_stop {
	MACHINE_RUNNING = 0,
	MACHINE_STOP_PARKED,    /* wait_for_requests(_paused) */
	MACHINE_STOP_RESPONDED, /* backend_response ended the request */
	MACHINE_STOP_RETURNED,  /* a function the host called returned */
	MACHINE_STOP_EXITED,    /* exit / exit_group */
	MACHINE_STOP_FAILED,    /* crash, bad host call, ... (stop_message) */
	MACHINE_STOP_TIMEOUT,
	MACHINE_STOP_DEBUG,     /* breakpoint, finished step or interrupt while debugging */
};

enum program_model { MODEL_NONE, MODEL_CALLBACK, MODEL_PAUSED };

enum failure_kind {
	FAILURE_NONE,
	FAILURE_CRASH,
	FAILURE_BAD_CALL,
	FAILURE_OUT_OF_MEMORY,
	FAILURE_TIMEOUT,
	FAILURE_EXIT,
};

struct machine {
	const struct kvm_platform *platform;
	int vm_fd;
	struct guest_memory memory;
	struct vcpu vcpu;
	uint64_t cr3;
	struct address_space space;
	const struct elf_symbols *symbols; /* the program's, shared by its VMs */
	struct tkvm_settings settings;
	struct tkvm_hooks hooks;
	struct tkvm_stats stats;
	struct file_table files;
	uint8_t signal_actions[65][32]; /* kernel struct sigaction per signal: kept, never delivered */

	/* the program */
	uint32_t handlers[HANDLER_SLOTS];
	enum program_model model;
	bool parked;
	bool ephemeral;
	uint64_t paused_request_address;
	uint64_t start_ns; /* of the current boot or request */
	/* debugging (debugger.c): exceptions keep the program's state, TF steps */
	bool debugging, stepping;
	volatile sig_atomic_t interrupt;
	int debug_signal;          /* for MACHINE_STOP_DEBUG: 5 SIGTRAP, 2 SIGINT */
	int exception_vector;      /* of the last exception, -1 if none */
	struct tkvm_profile *profile; /* non-NULL while a profiled request runs */
	unsigned sample_hz;
	bool fpu_restore_pending; /* enter the next request through LAYOUT_REQUEST_ENTRY */
	uint64_t request_memory_limit; /* brk + mmap bytes a request VM may use (template + max_request_memory) */

	/* the request in flight */
	bool in_request;
	const struct tkvm_request_input *input;
	struct tkvm_response *response;
	bool response_set;
	struct http_fields request_fields, response_fields;

	/* why the last run stopped */
	enum machine_stop stop;
	enum failure_kind failure;
	int exit_status;
	char stop_message[1024];
};

/* A VM with its memory: new (template_memory NULL) or a private view of a
 * frozen template's memory. The vCPU is created by the caller. */
int machine_create(struct machine *m, const struct tkvm_settings *settings, const struct tkvm_hooks *hooks,
		   const struct guest_memory *template_memory, struct tkvm_error *err);
void machine_destroy(struct machine *m);

/* Runs the vCPU until something stops it, under a time limit in seconds. */
enum machine_stop machine_run(struct machine *m, double time_limit);

/* Ends the run with a failure; the message gets the guest location
 * appended ("at 0x401136 (deref_null+0x6)"). Returns -1 for convenience. */
int machine_fail(struct machine *m, enum failure_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "0x401136 (deref_null+0x6)" or "0x401136" without symbols. */
void machine_describe_address(const struct machine *m, uint64_t address, char *out, size_t size);

/* Calls a guest function at CPL3 with up to 6 integer arguments: it runs on
 * the stack below `stack`, and returning stops the machine with RETURNED. */
void machine_prepare_call(struct machine *m, uint64_t function, uint64_t stack, const uint64_t *args, unsigned count);

/* When a reset left the FPU state to restore, sends the vCPU (already
 * pointed at its target) through the request-entry stub first. */
void machine_enter_request(struct machine *m);

/* Emits a trace line when tracing is on (printf-style). */
void machine_trace(struct machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline uint64_t machine_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Implemented in syscalls.c and host_calls.c. */
void syscall_dispatch(struct machine *m);
void host_call_dispatch(struct machine *m);
/* host_calls.c: the tkvm_profile slot of a host call number. */
unsigned host_call_slot(uint32_t number);
/* host_fetch.c: sys_fetch / sys_request; bad reports a bad call. */
int64_t host_call_fetch(struct machine *m, const uint64_t *a, bool self_request,
			void (*bad)(struct machine *m, const char *call, const char *what));
#endif
