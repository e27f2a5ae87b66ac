/* The frozen template of a program and the request VMs made from it
 * (spec/kvm-host.md "Fork and reset"). After main() parks, the booted VM's
 * memory is sealed and its registers, FPU state and host-side state are
 * kept; each request VM maps that memory privately (host copy-on-write) and
 * starts from the same registers. Resetting a request VM puts back exactly
 * the pages it wrote, its registers, FPU state and host-side state. */
#ifndef TKVM_RUNNER_TEMPLATE_H
#define TKVM_RUNNER_TEMPLATE_H
#include <linux/kvm.h>
#include "runner/machine.h"

struct template {
	struct guest_memory memory; /* frozen: a read-only view of the sealed memfd */
	uint64_t cr3;
	struct kvm_regs regs;       /* at the park, after the host call returned */
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;     /* x87/SSE/AVX state at the park */
	struct address_space space;
	uint32_t handlers[HANDLER_SLOTS];
	enum program_model model;
	uint64_t paused_request_address;
	bool ephemeral;
	uint8_t signal_actions[65][32];
	int files[FILE_TABLE_SIZE];  /* host fds the program had open at the park, -1 = none */
	int64_t file_offsets[FILE_TABLE_SIZE];
	uint64_t boot_ns;
};

/* Takes the parked machine's state and freezes its memory into the
 * template; the machine's VM is destroyed (its memory lives on in the
 * template). parked are the registers at the park. */
int template_capture(struct template *t, struct machine *booted, const struct kvm_regs *parked, struct tkvm_error *err);

/* Creates a request VM from the template. */
int template_instantiate(const struct template *t, struct machine *m, const struct tkvm_settings *settings,
			 const struct tkvm_hooks *hooks, const struct elf_symbols *symbols, struct tkvm_error *err);

/* Puts the request VM back to the template. full = after a failure: every
 * written page is given back to the host rather than copied. Returns the
 * number of pages restored or a negative errno. */
int64_t template_reset(const struct template *t, struct machine *m, bool full);

void template_destroy(struct template *t);
#endif
