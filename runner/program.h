/* A booted program (struct tkvm_program of tkvm.h): its ELF, settings,
 * symbols, the frozen template, and the pool of request VMs made from it.
 * Internal to runner/. */
#ifndef TKVM_RUNNER_PROGRAM_H
#define TKVM_RUNNER_PROGRAM_H
#include <pthread.h>
#include "runner/template.h"

struct request_vm {
	struct machine machine;
	struct kvm_regs parked_regs; /* where the next request starts */
	bool at_park;   /* false after a paused-model answer of a non-ephemeral program */
	bool created;
	bool busy;
	unsigned index;
};

struct tkvm_program {
	struct tkvm_settings settings;
	struct tkvm_hooks hooks;
	uint8_t *elf;
	size_t elf_size;
	struct elf_symbols symbols;
	uint64_t load_bias; /* where a static-pie program was placed */
	struct template template;

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t vm_free;
	struct request_vm *vms; /* settings.concurrency of them */
	unsigned vm_count;
	double queue_timeout;
	struct tkvm_counters counters;
	struct tkvm_stats boot_stats; /* of the VM that booted the template */
	struct tkvm_stats last_stats; /* boot_stats plus the last request VM's */
	int references;
};

/* last_stats = what booting counted plus what request VM `vm` counted. */
void program_combine_stats(struct tkvm_program *program, const struct tkvm_stats *vm);

/* Guest addresses of the request's pieces. */
struct guest_request {
	uint64_t block, block_length; /* the allocation holding everything below */
	uint64_t request;             /* struct kvm_request (ours, unless paused model) */
	uint64_t method, url, arg, content_type, headers, body;
};

/* A request between its dispatch and its end (request.c). */
struct request_run {
	struct guest_request g;
	struct kvm_regs *parked;
	uint64_t exits, syscalls, host_calls;
};

/* Writes the request into guest memory and points the vCPU at its entry;
 * machine_request_end turns the machine's stop into the response. */
int machine_request_begin(struct machine *m, struct kvm_regs *parked, bool *at_park, const struct tkvm_request_input *in,
			  uint16_t info_flags, struct tkvm_response *response, struct request_run *run, struct tkvm_error *err);
void machine_request_end(struct machine *m, struct request_run *run, struct tkvm_response *response);

/* A free request VM (made from the template on first use), waiting up to
 * the queue timeout; NULL with err set (-EBUSY when none became free). */
struct request_vm *program_take_vm(struct tkvm_program *p, double *waited, struct tkvm_error *err);
/* Resets the VM to the template (every written page dropped when
 * full_reset) and gives it back to the pool. */
void program_return_vm(struct tkvm_program *p, struct request_vm *vm, bool full_reset);

/* Booting in three steps, so a debugger can drive the middle one:
 * program_create (no VM yet), program_boot_prepare (the boot VM at the
 * ELF entry), machine_run until it parks, program_boot_complete (warm-up,
 * template; the boot VM is destroyed). */
int program_create(const struct tkvm_settings *settings, const uint8_t *elf, size_t elf_size,
		   const struct tkvm_hooks *hooks, struct tkvm_program **program, struct tkvm_error *err);
int program_boot_prepare(struct tkvm_program *program, struct machine *m, struct tkvm_error *err);
int program_boot_complete(struct tkvm_program *program, struct machine *m, struct tkvm_error *err);

/* debugger.c: whether the machine's stop is one the debug hook takes
 * (breakpoint() with allow_debug, or a fault with remote_debug_on_exception),
 * and the hook's session on the running request; true = it ended there. */
bool debugger_wants_hook(const struct machine *m);
bool debugger_run_hook(struct tkvm_program *p, struct request_vm *vm, struct request_run *run,
		       struct tkvm_response *response);

/* Runs one request on a machine that sits at its park (request.c): used
 * for warm-up requests on the booting VM and for request VMs. Returns 0
 * with the response filled in (failed or not), or a negative code. */
int machine_request(struct machine *m, struct kvm_regs *parked, bool *at_park, const struct tkvm_request_input *input,
		    uint16_t info_flags, struct tkvm_response *response, struct tkvm_error *err);
#endif
