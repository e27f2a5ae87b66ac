/* Syscall dispatch, plus the small process, time and signal syscalls. */
#include "runner/syscalls.h"
#include "runner/layout.h"
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>

#define GUEST_PID 1
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

int guest_copy_out(struct machine *m, uint64_t address, const void *data, uint64_t length)
{
	void *target = guest_memory_user_range(&m->memory, address, length);
	if (!target)
		return -EFAULT;
	memcpy(target, data, length);
	return 0;
}

int guest_copy_in(struct machine *m, void *data, uint64_t address, uint64_t length)
{
	const void *source = guest_memory_user_range(&m->memory, address, length);
	if (!source)
		return -EFAULT;
	memcpy(data, source, length);
	return 0;
}

static int64_t syscall_exit(struct machine *m, const uint64_t *a)
{
	m->exit_status = (int)(a[0] & 0xff);
	m->stop = MACHINE_STOP_EXITED;
	return 0;
}

static int64_t syscall_getpid(struct machine *m, const uint64_t *a) { return GUEST_PID; }
static int64_t syscall_getuid(struct machine *m, const uint64_t *a) { return 0; }
static int64_t syscall_success(struct machine *m, const uint64_t *a) { return 0; }
static int64_t syscall_set_tid_address(struct machine *m, const uint64_t *a) { return GUEST_PID; }

static int64_t syscall_arch_prctl(struct machine *m, const uint64_t *a)
{
	struct kvm_sregs *sregs = vcpu_sregs(&m->vcpu);
	switch (a[0]) {
	case ARCH_SET_FS:
	case ARCH_SET_GS:
		if (a[1] >= (1ull << 47))
			return -EPERM;
		if (a[0] == ARCH_SET_FS)
			sregs->fs.base = a[1];
		else
			sregs->gs.base = a[1];
		vcpu_mark_sregs_dirty(&m->vcpu);
		return 0;
	case ARCH_GET_FS:
	case ARCH_GET_GS: {
		uint64_t base = a[0] == ARCH_GET_FS ? sregs->fs.base : sregs->gs.base;
		return guest_copy_out(m, a[1], &base, 8);
	}
	default:
		return -EINVAL;
	}
}

static int64_t syscall_uname(struct machine *m, const uint64_t *a)
{
	struct utsname name;
	memset(&name, 0, sizeof name);
	snprintf(name.sysname, sizeof name.sysname, "Linux");
	snprintf(name.nodename, sizeof name.nodename, "tinykvm");
	snprintf(name.release, sizeof name.release, "6.1.0");
	snprintf(name.version, sizeof name.version, "#1 SMP tkvm");
	snprintf(name.machine, sizeof name.machine, "x86_64");
	snprintf(name.domainname, sizeof name.domainname, "(none)");
	return guest_copy_out(m, a[0], &name, sizeof name);
}

static bool clock_allowed(uint64_t id)
{
	switch (id) {
	case CLOCK_REALTIME: case CLOCK_MONOTONIC: case CLOCK_MONOTONIC_RAW: case CLOCK_REALTIME_COARSE:
	case CLOCK_MONOTONIC_COARSE: case CLOCK_BOOTTIME: case CLOCK_PROCESS_CPUTIME_ID: case CLOCK_THREAD_CPUTIME_ID:
		return true;
	default:
		return false;
	}
}

static int64_t syscall_clock_gettime(struct machine *m, const uint64_t *a)
{
	if (!clock_allowed(a[0]))
		return -EINVAL;
	struct timespec t;
	clock_gettime((clockid_t)a[0], &t);
	return guest_copy_out(m, a[1], &t, sizeof t);
}

static int64_t syscall_clock_getres(struct machine *m, const uint64_t *a)
{
	if (!clock_allowed(a[0]))
		return -EINVAL;
	struct timespec t;
	clock_getres((clockid_t)a[0], &t);
	return a[1] ? guest_copy_out(m, a[1], &t, sizeof t) : 0;
}

static int64_t syscall_gettimeofday(struct machine *m, const uint64_t *a)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	if (a[0]) {
		int64_t tv[2] = {t.tv_sec, t.tv_nsec / 1000};
		if (guest_copy_out(m, a[0], tv, sizeof tv) < 0)
			return -EFAULT;
	}
	if (a[1]) {
		int32_t tz[2] = {0, 0};
		if (guest_copy_out(m, a[1], tz, sizeof tz) < 0)
			return -EFAULT;
	}
	return 0;
}

static int64_t syscall_time(struct machine *m, const uint64_t *a)
{
	int64_t now = (int64_t)time(NULL);
	if (a[0] && guest_copy_out(m, a[0], &now, 8) < 0)
		return -EFAULT;
	return now;
}

static int64_t syscall_getrandom(struct machine *m, const uint64_t *a)
{
	uint64_t length = a[1] > (32u << 20) ? (32u << 20) : a[1];
	void *target = guest_memory_user_range(&m->memory, a[0], length);
	if (!target)
		return -EFAULT;
	ssize_t n = getrandom(target, length, 0);
	return n < 0 ? -errno : n;
}

static int64_t syscall_rt_sigaction(struct machine *m, const uint64_t *a)
{
	if (a[0] == 0 || a[0] > 64 || a[3] != 8 || ((a[0] == SIGKILL || a[0] == SIGSTOP) && a[1]))
		return -EINVAL;
	uint8_t new_action[32];
	if (a[1] && guest_copy_in(m, new_action, a[1], sizeof new_action) < 0)
		return -EFAULT;
	if (a[2] && guest_copy_out(m, a[2], m->signal_actions[a[0]], 32) < 0)
		return -EFAULT;
	if (a[1])
		memcpy(m->signal_actions[a[0]], new_action, sizeof new_action);
	return 0;
}

static int64_t syscall_rt_sigprocmask(struct machine *m, const uint64_t *a)
{
	if (a[2]) {
		uint64_t old = 0;
		if (guest_copy_out(m, a[2], &old, 8) < 0)
			return -EFAULT;
	}
	return 0;
}

static int64_t syscall_prlimit64(struct machine *m, const uint64_t *a)
{
	if (a[0] != 0 && a[0] != GUEST_PID)
		return -ESRCH;
	if (a[3]) {
		struct rlimit limit = {RLIM_INFINITY, RLIM_INFINITY};
		switch (a[1]) {
		case RLIMIT_STACK:
			limit.rlim_cur = limit.rlim_max = m->space.stack_top - m->space.stack_low;
			break;
		case RLIMIT_AS:
		case RLIMIT_DATA:
			limit.rlim_cur = limit.rlim_max = m->memory.size;
			break;
		case RLIMIT_NOFILE:
			limit.rlim_cur = limit.rlim_max = FILE_TABLE_SIZE;
			break;
		case RLIMIT_NPROC:
			limit.rlim_cur = limit.rlim_max = 1;
			break;
		default:
			if (a[1] >= RLIM_NLIMITS)
				return -EINVAL;
		}
		if (guest_copy_out(m, a[3], &limit, sizeof limit) < 0)
			return -EFAULT;
	}
	return 0; /* new limits are accepted and have no effect: the host's limits rule */
}

static int64_t syscall_getrlimit(struct machine *m, const uint64_t *a)
{
	uint64_t args[4] = {0, a[0], 0, a[1]};
	return syscall_prlimit64(m, args);
}

static int64_t syscall_sched_getaffinity(struct machine *m, const uint64_t *a)
{
	if (a[1] < 8 || (a[1] & 7))
		return -EINVAL;
	uint64_t mask = 1; /* one CPU */
	if (guest_copy_out(m, a[2], &mask, 8) < 0)
		return -EFAULT;
	return 8;
}

static int64_t syscall_futex(struct machine *m, const uint64_t *a)
{
	int op = (int)(a[1] & FUTEX_CMD_MASK);
	switch (op) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET: {
		uint32_t value;
		if (guest_copy_in(m, &value, a[0], 4) < 0)
			return -EFAULT;
		if (value != (uint32_t)a[2])
			return -EAGAIN;
		if (a[3])
			return -ETIMEDOUT; /* nobody else can change it: the wait would time out */
		machine_fail(m, FAILURE_CRASH, "deadlock: futex wait on 0x%" PRIx64 " with no other thread to wake it", a[0]);
		return -EDEADLK;
	}
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET:
		return 0;
	default:
		return -ENOSYS;
	}
}

static int64_t syscall_kill_self(struct machine *m, uint64_t pid, uint64_t signal)
{
	if (pid != GUEST_PID && pid != 0)
		return -ESRCH;
	if (signal == 0)
		return 0;
	if (signal >= 65)
		return -EINVAL;
	const char *name = sigabbrev_np((int)signal);
	machine_fail(m, FAILURE_CRASH, "killed by SIG%s%s", name ? name : "?",
		     signal == SIGABRT ? " (abort() was called)" : "");
	return 0;
}

static int64_t syscall_kill(struct machine *m, const uint64_t *a) { return syscall_kill_self(m, a[0], a[1]); }
static int64_t syscall_tkill(struct machine *m, const uint64_t *a) { return syscall_kill_self(m, a[0], a[1]); }
static int64_t syscall_tgkill(struct machine *m, const uint64_t *a) { return syscall_kill_self(m, a[1], a[2]); }

static int64_t syscall_sysinfo(struct machine *m, const uint64_t *a)
{
	uint8_t info[112];
	memset(info, 0, sizeof info);
	uint64_t total = m->memory.size, used = address_space_used(&m->space);
	uint64_t free_bytes = total > used ? total - used : 0;
	uint32_t unit = 1;
	uint16_t procs = 1;
	memcpy(info + 32, &total, 8);      /* totalram */
	memcpy(info + 40, &free_bytes, 8); /* freeram */
	memcpy(info + 80, &procs, 2);
	memcpy(info + 104, &unit, 4);      /* mem_unit */
	return guest_copy_out(m, a[0], info, sizeof info);
}

static int64_t syscall_nanosleep(struct machine *m, const uint64_t *a)
{
	/* Sleeping inside a request only burns its time budget; tkvm returns
	 * at once, as if the sleep had ended. */
	return 0;
}

/* poll/ppoll: nothing a program can wait for ever becomes ready later (no
 * sockets, no pipes), so they never block. Open descriptors (the standard
 * streams and the program's read-only files) are ready for what was asked,
 * others get POLLNVAL, as on Linux. Rust's start-up polls fds 0-2 and
 * aborts when poll fails; upstream TinyKVM answers it the same way. */
static int64_t syscall_poll(struct machine *m, const uint64_t *a)
{
	struct guest_pollfd {
		int32_t fd;
		int16_t events, revents;
	} entry;
	if (a[1] > FILE_TABLE_SIZE) /* RLIMIT_NOFILE, as prlimit64 reports it */
		return -EINVAL;
	int64_t ready = 0;
	for (uint64_t i = 0; i < a[1]; i++) {
		uint64_t at = a[0] + i * sizeof entry;
		if (guest_copy_in(m, &entry, at, sizeof entry) < 0)
			return -EFAULT;
		bool open = entry.fd >= 0 && entry.fd <= 2 ? true : entry.fd >= 0 && file_table_get(&m->files, entry.fd) >= 0;
		entry.revents = entry.fd < 0 ? 0 : open ? (int16_t)(entry.events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)) : POLLNVAL;
		if (entry.revents)
			ready++;
		if (guest_copy_out(m, at, &entry, sizeof entry) < 0)
			return -EFAULT;
	}
	return ready;
}

struct syscall_entry {
	syscall_handler handler;
	unsigned char argument_count;
};

static const struct syscall_entry syscall_table[TKVM_SYSCALL_SLOTS] = {
	[0] = {syscall_read, 3},
	[1] = {syscall_write, 3},
	[2] = {syscall_open, 3},
	[3] = {syscall_close, 1},
	[4] = {syscall_stat, 2},
	[5] = {syscall_fstat, 2},
	[6] = {syscall_stat, 2},
	[7] = {syscall_poll, 3},
	[8] = {syscall_lseek, 3},
	[9] = {syscall_mmap, 6},
	[10] = {syscall_mprotect, 3},
	[11] = {syscall_munmap, 2},
	[12] = {syscall_brk, 1},
	[13] = {syscall_rt_sigaction, 4},
	[14] = {syscall_rt_sigprocmask, 4},
	[16] = {syscall_ioctl, 3},
	[17] = {syscall_pread64, 4},
	[19] = {syscall_readv, 3},
	[20] = {syscall_writev, 3},
	[21] = {syscall_access, 2},
	[24] = {syscall_success, 0},   /* sched_yield */
	[25] = {syscall_mremap, 5},
	[28] = {syscall_madvise, 3},
	[32] = {syscall_dup, 1},
	[35] = {syscall_nanosleep, 2},
	[39] = {syscall_getpid, 0},
	[60] = {syscall_exit, 1},
	[62] = {syscall_kill, 2},
	[63] = {syscall_uname, 1},
	[72] = {syscall_fcntl, 3},
	[79] = {syscall_getcwd, 2},
	[89] = {syscall_readlink, 3},
	[96] = {syscall_gettimeofday, 2},
	[97] = {syscall_getrlimit, 2},
	[99] = {syscall_sysinfo, 1},
	[102] = {syscall_getuid, 0},
	[104] = {syscall_getuid, 0},  /* getgid */
	[107] = {syscall_getuid, 0},  /* geteuid */
	[108] = {syscall_getuid, 0},  /* getegid */
	[110] = {syscall_getpid, 0},  /* getppid */
	[131] = {syscall_success, 2}, /* sigaltstack */
	[158] = {syscall_arch_prctl, 2},
	[186] = {syscall_getpid, 0},  /* gettid */
	[200] = {syscall_tkill, 2},
	[201] = {syscall_time, 1},
	[202] = {syscall_futex, 6},
	[204] = {syscall_sched_getaffinity, 3},
	[217] = {syscall_getdents64, 3},
	[218] = {syscall_set_tid_address, 1},
	[228] = {syscall_clock_gettime, 2},
	[229] = {syscall_clock_getres, 2},
	[230] = {syscall_nanosleep, 4}, /* clock_nanosleep */
	[231] = {syscall_exit, 1},      /* exit_group */
	[234] = {syscall_tgkill, 3},
	[257] = {syscall_openat, 4},
	[262] = {syscall_newfstatat, 4},
	[267] = {syscall_readlink, 4},  /* readlinkat: same answer */
	[269] = {syscall_faccessat, 3},
	[271] = {syscall_poll, 4},      /* ppoll: same answer, never waits */
	[273] = {syscall_success, 2},   /* set_robust_list */
	[302] = {syscall_prlimit64, 4},
	[318] = {syscall_getrandom, 3},
	[439] = {syscall_faccessat, 4}, /* faccessat2 */
};

static void count_unknown(struct machine *m, uint64_t number)
{
	m->stats.unknown_syscalls++;
	for (unsigned i = 0; i < m->stats.unknown_syscall_distinct; i++)
		if (m->stats.unknown_syscall_numbers[i] == number)
			return;
	if (m->stats.unknown_syscall_distinct < 16)
		m->stats.unknown_syscall_numbers[m->stats.unknown_syscall_distinct++] = number;
}

/* Which argument of a syscall is a path (to show as a string), or -1. */
static int path_argument(uint64_t number)
{
	switch (number) {
	case 2: case 4: case 6: case 21: case 89: return 0; /* open stat lstat access readlink */
	case 257: case 262: case 267: case 269: case 439: return 1; /* *at */
	default: return -1;
	}
}

/* A guest string or buffer for a trace line: printable, escaped, cut short. */
static void quote_guest(struct machine *m, uint64_t address, uint64_t length, bool nul_terminated, char *out, size_t size)
{
	size_t n = 0;
	if (nul_terminated)
		guest_memory_string(&m->memory, address, 4096, &n);
	else
		n = guest_memory_user_range(&m->memory, address, length) ? length : 0;
	const char *text = n || nul_terminated ? guest_memory_user_range(&m->memory, address, n) : NULL;
	if (!text) {
		snprintf(out, size, "0x%" PRIx64, address);
		return;
	}
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < n && o + 8 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n')
			out[o++] = '\\', out[o++] = 'n';
		else if (c == '"' || c == '\\')
			out[o++] = '\\', out[o++] = (char)c;
		else if (c >= 32 && c < 127)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		if (i + 1 < n && o + 8 >= size)
			out[o++] = '.', out[o++] = '.', out[o++] = '.';
	}
	out[o++] = '"';
	out[o] = 0;
}

static void trace_syscall(struct machine *m, uint64_t number, const uint64_t *a, unsigned count, int64_t result)
{
	char args[320] = "", quoted[96];
	size_t used = 0;
	int path = path_argument(number);
	for (unsigned i = 0; i < count && used < sizeof args; i++) {
		const char *sep = i ? ", " : "";
		if ((int)i == path || (number == 1 && i == 1)) {
			quote_guest(m, a[i], a[2], number != 1, quoted, sizeof quoted);
			used += (size_t)snprintf(args + used, sizeof args - used, "%s%s", sep, quoted);
		} else if (a[i] < 4096) {
			used += (size_t)snprintf(args + used, sizeof args - used, "%s%" PRIu64, sep, a[i]);
		} else {
			used += (size_t)snprintf(args + used, sizeof args - used, "%s0x%" PRIx64, sep, a[i]);
		}
	}
	char outcome[96];
	if (result < 0 && result > -4096) {
		const char *name = strerrorname_np((int)-result);
		snprintf(outcome, sizeof outcome, "-1 %s (%s)", name ? name : "?", strerror((int)-result));
	} else {
		snprintf(outcome, sizeof outcome, result < 4096 ? "%" PRIu64 : "0x%" PRIx64, (uint64_t)result);
	}
	machine_trace(m, "%s(%s) = %s", tkvm_syscall_name((unsigned)number), args, outcome);
}

void syscall_dispatch(struct machine *m)
{
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	uint64_t number = regs->rax;
	const uint64_t args[6] = {regs->rdi, regs->rsi, regs->rdx, regs->r10, regs->r8, regs->r9};
	/* Until finish_syscall sets it, RIP names the `syscall` instruction
	 * (RCX is the address after it), so failures point at the caller. */
	regs->rip = regs->rcx - 2;
	int64_t result;
	unsigned count = 6;
	if (number < TKVM_SYSCALL_SLOTS && syscall_table[number].handler) {
		m->stats.syscall_counts[number]++;
		count = syscall_table[number].argument_count;
		result = syscall_table[number].handler(m, args);
	} else {
		if (number < TKVM_SYSCALL_SLOTS)
			m->stats.syscall_counts[number]++;
		count_unknown(m, number);
		result = -ENOSYS;
	}
	if (m->hooks.trace_enabled)
		trace_syscall(m, number, args, count, result);
	regs->rax = (uint64_t)result;
	vcpu_mark_regs_dirty(&m->vcpu);
}
