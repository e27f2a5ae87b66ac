/* One vCPU: creation in 64-bit user mode, registers through sync regs (no
 * per-call register ioctls), KVM_RUN, and the per-thread POSIX timer whose
 * signal sets immediate_exit to enforce time limits. */
#ifndef TKVM_RUNNER_VCPU_H
#define TKVM_RUNNER_VCPU_H
#include <linux/kvm.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "runner/error.h"
#include "runner/kvm_platform.h"

struct vcpu {
	int fd;
	struct kvm_run *run;
	size_t run_size;
	const struct kvm_platform *platform;
	volatile sig_atomic_t timer_fired;
};

/* Creates the vCPU with supported CPUID, user-mode special registers for
 * the given page tables, the syscall MSRs and XCR0. */
int vcpu_create(struct vcpu *vcpu, int vm_fd, const struct kvm_platform *platform, uint64_t cr3, struct tkvm_error *err);
void vcpu_destroy(struct vcpu *vcpu);

/* Registers as synced by the last exit; write them and call vcpu_mark_regs_dirty(). */
static inline struct kvm_regs *vcpu_regs(struct vcpu *vcpu) { return &vcpu->run->s.regs.regs; }
static inline struct kvm_sregs *vcpu_sregs(struct vcpu *vcpu) { return &vcpu->run->s.regs.sregs; }
static inline void vcpu_mark_regs_dirty(struct vcpu *vcpu) { vcpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS; }
static inline void vcpu_mark_sregs_dirty(struct vcpu *vcpu) { vcpu->run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS; }

/* One KVM_RUN. Returns 0 with run->exit_reason set, -EINTR when a signal
 * (the timer, or another) interrupted it, or another negative errno. */
int vcpu_run(struct vcpu *vcpu);

/* Starts the time limit for what follows, on the calling thread's timer
 * (one per thread, made on first use: any thread may run any vCPU); 0 or
 * negative seconds disarm. */
int vcpu_timer_arm(struct vcpu *vcpu, double seconds, struct tkvm_error *err);
void vcpu_timer_disarm(struct vcpu *vcpu);

/* Sampling for the profiler: a periodic signal to the calling thread that
 * only interrupts KVM_RUN (-EINTR, registers valid), the first one at a
 * random point of the first period; hz 0 stops it. */
int vcpu_sampling(unsigned hz, struct tkvm_error *err);

/* Rare paths only (each is a ~7 µs ioctl on PVM). */
int vcpu_get_events(struct vcpu *vcpu, struct kvm_vcpu_events *events);
int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value);
#endif
