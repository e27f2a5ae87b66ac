/* The x86-64 structures the CPU needs for long mode at CPL3: GDT (kernel and
 * user segments in SYSCALL/SYSRET order), TSS (exception stack and the I/O
 * bitmap that grants our exit ports to CPL3), IDT whose gates point at
 * one-instruction exception stubs, and the user stub page (syscall entry,
 * handler return). Written once into the low system area. */
#ifndef TKVM_RUNNER_CPU_TABLES_H
#define TKVM_RUNNER_CPU_TABLES_H
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include "runner/guest_memory.h"

/* xcr0: the state components the request-entry stub restores. */
void cpu_tables_write(struct guest_memory *memory, uint64_t xcr0);

/* Special registers for user mode (CPL3) in long mode with our tables. */
void cpu_tables_user_sregs(struct kvm_sregs *sregs, uint64_t cr3, bool xsave);

/* Vectors for which the CPU pushes an error code. */
bool cpu_exception_has_error_code(unsigned vector);
const char *cpu_exception_name(unsigned vector);
#endif
