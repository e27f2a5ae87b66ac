/* The process entry stack a static Linux program expects: argc, argv,
 * envp and the auxiliary vector (spec/guest-abi.md "argv, envp, auxv"). */
#ifndef TKVM_RUNNER_INITIAL_STACK_H
#define TKVM_RUNNER_INITIAL_STACK_H
#include <stdint.h>
#include "runner/elf.h"
#include "runner/machine.h"

/* Writes the stack below m->space.stack_top and returns the entry RSP
 * (pointing at argc, 16-byte aligned) in *rsp. */
int initial_stack_build(struct machine *m, const struct elf_image *image, uint64_t bias, uint64_t *rsp,
			struct tkvm_error *err);
#endif
