/* syscalls: the Linux system calls libc start-up and ordinary programs use. GET -> 200 text/plain, one
 * "name=value" line per check, identical on every run and C library (list in README; e.g.
 * "uname.sysname=Linux", "ioctl=ENOTTY", "getrandom=16", "clock_monotonic=ok"); natively prints the same. */
#define _GNU_SOURCE
#include "sdk/kvm_api.h"
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char body[4096];
static size_t body_len;

static KVM_PRINTF(1, 2) void line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	body_len += kvm_vformat(body + body_len, sizeof(body) - body_len, fmt, ap);
	va_end(ap);
}

static const char *ok(int good) { return good ? "ok" : "bad"; }

static void on_usr1(int signal) { (void)signal; }

static const char *errno_name(int error)
{
	switch (error) {
	case 0: return "0";
	case ENOTTY: return "ENOTTY";
	case EBADF: return "EBADF";
	case ENOSYS: return "ENOSYS";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	default: return "other";
	}
}

static void run_checks(void)
{
	body_len = 0;

	struct timespec mono1, mono2, real;
	const int mono_rc1 = clock_gettime(CLOCK_MONOTONIC, &mono1);
	const int mono_rc2 = clock_gettime(CLOCK_MONOTONIC, &mono2);
	line("clock_monotonic=%s\n", ok(mono_rc1 == 0 && mono_rc2 == 0 &&
		(mono1.tv_sec > 0 || mono1.tv_nsec > 0) &&
		(mono2.tv_sec > mono1.tv_sec || (mono2.tv_sec == mono1.tv_sec && mono2.tv_nsec >= mono1.tv_nsec))));
	const int real_rc = clock_gettime(CLOCK_REALTIME, &real);
	line("clock_realtime=%s\n", ok(real_rc == 0 && real.tv_sec > 1577836800 /* 2020 */ &&
		real.tv_nsec >= 0 && real.tv_nsec < 1000000000));

	struct timeval tv;
	const int tv_rc = gettimeofday(&tv, NULL);
	line("gettimeofday=%s\n", ok(tv_rc == 0 && tv.tv_sec >= real.tv_sec - 5 && tv.tv_sec <= real.tv_sec + 5 &&
		tv.tv_usec >= 0 && tv.tv_usec < 1000000));
	const time_t now = time(NULL);
	line("time=%s\n", ok(now >= real.tv_sec - 5 && now <= real.tv_sec + 5));

	unsigned char random_bytes[16];
	const ssize_t got = getrandom(random_bytes, sizeof(random_bytes), 0);
	line("getrandom=%zd\n", got);

	struct utsname uts;
	if (uname(&uts) == 0) {
		line("uname.sysname=%s\n", uts.sysname);
		line("uname.machine=%s\n", uts.machine);
	} else {
		line("uname=%s\n", errno_name(errno));
	}

	const pid_t pid = getpid();
	line("getpid=%s\n", ok(pid > 0));
	line("gettid=%s\n", ok(gettid() > 0));

	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	const int affinity_rc = sched_getaffinity(0, sizeof(cpus), &cpus);
	line("sched_getaffinity=%s\n", ok(affinity_rc == 0 && CPU_COUNT(&cpus) >= 1));

	struct rlimit stack;
	const int prlimit_rc = prlimit(0, RLIMIT_STACK, NULL, &stack);
	line("prlimit=%s\n", ok(prlimit_rc == 0 && stack.rlim_cur > 0 &&
		(stack.rlim_max == RLIM_INFINITY || stack.rlim_cur <= stack.rlim_max)));

	struct termios tio;
	errno = 0;
	const int ioctl_rc = ioctl(1, TCGETS, &tio);
	line("ioctl=%s\n", ioctl_rc == 0 ? "tty" : errno_name(errno));

	struct sigaction action, previous, current;
	memset(&action, 0, sizeof(action));
	action.sa_handler = on_usr1;
	sigemptyset(&action.sa_mask);
	const int set_rc = sigaction(SIGUSR1, &action, &previous);
	const int get_rc = sigaction(SIGUSR1, NULL, &current);
	line("rt_sigaction=%s\n", ok(set_rc == 0 && get_rc == 0 && current.sa_handler == on_usr1));
	sigaction(SIGUSR1, &previous, NULL);

	static const char out_line[] = "syscalls: a line on stdout\n";
	static const char err_line[] = "syscalls: a line on stderr\n";
	line("stdout=%s\n", ok(write(1, out_line, sizeof(out_line) - 1) == (ssize_t)sizeof(out_line) - 1));
	line("stderr=%s\n", ok(write(2, err_line, sizeof(err_line) - 1) == (ssize_t)sizeof(err_line) - 1));
}

static void on_get(const char *url, const char *arg)
{
	(void)url; (void)arg;
	run_checks();
	backend_response(200, "text/plain", 10, body, body_len);
}

int main(void)
{
	if (IS_LINUX_MAIN()) {  /* natively: print the report */
		run_checks();
		fwrite(body, 1, body_len, stdout);
		return 0;
	}
	set_backend_get(on_get);
	wait_for_requests();
}
