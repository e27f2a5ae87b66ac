/* A booted program (struct tkvm_program of tkvm.h): its ELF, settings and
 * the machine parked in wait_for_requests. Internal to runner/. */
#ifndef TKVM_RUNNER_PROGRAM_H
#define TKVM_RUNNER_PROGRAM_H
#include "runner/machine.h"

struct tkvm_program {
	struct machine machine;
	struct tkvm_settings settings;
	struct tkvm_hooks hooks;
	uint8_t *elf;
	size_t elf_size;
	struct kvm_regs parked_regs; /* registers at the park, after the host call returned */
	bool at_park;  /* the vCPU sits at the park (false after a paused-model response) */
	bool broken;   /* a failure left the VM unusable: boot again before the next request */
};

/* (Re)creates the machine and runs main() until it parks. */
int program_boot_machine(struct tkvm_program *program, struct tkvm_error *err);
#endif
