/* Linux system call emulation: the table of what a static C/C++ program
 * needs, split by topic (memory, files, the rest). Handlers get the six
 * argument registers (rdi, rsi, rdx, r10, r8, r9) and return the value for
 * rax: a result or a negative errno. They may stop the machine. */
#ifndef TKVM_RUNNER_SYSCALLS_H
#define TKVM_RUNNER_SYSCALLS_H
#include <stdint.h>
#include "runner/machine.h"

typedef int64_t (*syscall_handler)(struct machine *m, const uint64_t *args);

/* Copies between host and user memory: 0 or -EFAULT. */
int guest_copy_out(struct machine *m, uint64_t address, const void *data, uint64_t length);
int guest_copy_in(struct machine *m, void *data, uint64_t address, uint64_t length);

/* syscall_memory.c */
int64_t syscall_brk(struct machine *m, const uint64_t *a);
int64_t syscall_mmap(struct machine *m, const uint64_t *a);
int64_t syscall_munmap(struct machine *m, const uint64_t *a);
int64_t syscall_mremap(struct machine *m, const uint64_t *a);
int64_t syscall_mprotect(struct machine *m, const uint64_t *a);
int64_t syscall_madvise(struct machine *m, const uint64_t *a);

/* syscall_files.c */
int64_t syscall_read(struct machine *m, const uint64_t *a);
int64_t syscall_write(struct machine *m, const uint64_t *a);
int64_t syscall_readv(struct machine *m, const uint64_t *a);
int64_t syscall_writev(struct machine *m, const uint64_t *a);
int64_t syscall_pread64(struct machine *m, const uint64_t *a);
int64_t syscall_open(struct machine *m, const uint64_t *a);
int64_t syscall_openat(struct machine *m, const uint64_t *a);
int64_t syscall_close(struct machine *m, const uint64_t *a);
int64_t syscall_lseek(struct machine *m, const uint64_t *a);
int64_t syscall_fstat(struct machine *m, const uint64_t *a);
int64_t syscall_stat(struct machine *m, const uint64_t *a);
int64_t syscall_newfstatat(struct machine *m, const uint64_t *a);
int64_t syscall_access(struct machine *m, const uint64_t *a);
int64_t syscall_faccessat(struct machine *m, const uint64_t *a);
int64_t syscall_fcntl(struct machine *m, const uint64_t *a);
int64_t syscall_dup(struct machine *m, const uint64_t *a);
int64_t syscall_getcwd(struct machine *m, const uint64_t *a);
int64_t syscall_getdents64(struct machine *m, const uint64_t *a);
int64_t syscall_readlink(struct machine *m, const uint64_t *a);
int64_t syscall_ioctl(struct machine *m, const uint64_t *a);
#endif
