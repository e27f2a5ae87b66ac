/* vCPU creation, KVM_RUN and time limits (see vcpu.h). */
#include "runner/vcpu.h"
#include "runner/cpu_tables.h"
#include "runner/layout.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MSR_STAR 0xC0000081u
#define MSR_LSTAR 0xC0000082u
#define MSR_CSTAR 0xC0000083u
#define MSR_SYSCALL_MASK 0xC0000084u
#define MSR_KERNEL_GS_BASE 0xC0000102u
/* RFLAGS bits cleared on syscall entry: TF, IF, DF, IOPL, NT, AC. */
#define SYSCALL_FLAG_MASK 0x47700ull

/* The vCPU the calling thread runs or is about to run. The timer signal
 * goes to this thread only, so the handler knows which run to stop. */
static __thread struct vcpu *volatile running_vcpu;
static __thread timer_t thread_timer;
static __thread bool thread_timer_made;
static __thread timer_t sampling_timer;
static __thread bool sampling_timer_made;
static pthread_key_t timer_key;

static void timer_signal_handler(int signo, siginfo_t *info, void *context)
{
	(void)signo, (void)info, (void)context;
	struct vcpu *vcpu = running_vcpu;
	if (vcpu) {
		vcpu->timer_fired = 1;
		vcpu->run->immediate_exit = 1;
	}
}

static void delete_thread_timer(void *unused)
{
	(void)unused;
	if (thread_timer_made)
		timer_delete(thread_timer);
	thread_timer_made = false;
	if (sampling_timer_made)
		timer_delete(sampling_timer);
	sampling_timer_made = false;
}

static int timer_signal(void) { return SIGRTMIN + 4; }
static int sampling_signal(void) { return SIGRTMIN + 5; }

/* Interrupting KVM_RUN is all the sampling signal has to do. */
static void sampling_signal_handler(int signo) { (void)signo; }

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static void install_handler(void)
{
	struct sigaction action;
	memset(&action, 0, sizeof action);
	action.sa_sigaction = timer_signal_handler;
	action.sa_flags = SA_SIGINFO; /* no SA_RESTART: KVM_RUN must return */
	sigemptyset(&action.sa_mask);
	sigaction(timer_signal(), &action, NULL);
	pthread_key_create(&timer_key, delete_thread_timer);
	struct sigaction sampling;
	memset(&sampling, 0, sizeof sampling);
	sampling.sa_handler = sampling_signal_handler;
	sampling.sa_flags = SA_RESTART; /* host syscalls resume; KVM_RUN still returns -EINTR */
	sigemptyset(&sampling.sa_mask);
	sigaction(sampling_signal(), &sampling, NULL);
}

/* KVM_SET_MSRS for a few entries (kvm_msrs ends in a flexible array). */
static int set_msrs(struct vcpu *vcpu, const struct kvm_msr_entry *entries, unsigned count)
{
	union {
		struct kvm_msrs header;
		uint8_t bytes[sizeof(struct kvm_msrs) + 8 * sizeof(struct kvm_msr_entry)];
	} msrs;
	if (count > 8)
		return -EINVAL;
	memset(&msrs, 0, sizeof msrs);
	msrs.header.nmsrs = count;
	memcpy(msrs.header.entries, entries, count * sizeof *entries);
	return ioctl(vcpu->fd, KVM_SET_MSRS, &msrs) == (int)count ? 0 : -EINVAL;
}

int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
	struct kvm_msr_entry entry = {.index = index, .data = value};
	return set_msrs(vcpu, &entry, 1);
}

static int set_syscall_msrs(struct vcpu *vcpu)
{
	const struct kvm_msr_entry entries[] = {
		{.index = MSR_STAR, .data = ((uint64_t)GDT_USER_BASE << 48) | ((uint64_t)GDT_KERNEL_CODE << 32)},
		{.index = MSR_LSTAR, .data = LAYOUT_SYSCALL_ENTRY},
		{.index = MSR_CSTAR, .data = LAYOUT_SYSCALL_ENTRY},
		{.index = MSR_SYSCALL_MASK, .data = SYSCALL_FLAG_MASK},
		{.index = MSR_KERNEL_GS_BASE, .data = 0},
	};
	return set_msrs(vcpu, entries, sizeof entries / sizeof entries[0]);
}

int vcpu_create(struct vcpu *vcpu, int vm_fd, const struct kvm_platform *platform, uint64_t cr3, struct tkvm_error *err)
{
	memset(vcpu, 0, sizeof *vcpu);
	vcpu->fd = -1;
	vcpu->platform = platform;
	pthread_once(&handler_once, install_handler);
	vcpu->fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu->fd < 0)
		return tkvm_error_set(err, -errno, "KVM_CREATE_VCPU: %s", strerror(errno));
	vcpu->run_size = (size_t)platform->vcpu_mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return tkvm_error_set(err, -errno, "mmap of the vCPU run area: %s", strerror(errno));
	}
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, platform->cpuid) < 0)
		return tkvm_error_set(err, -errno, "KVM_SET_CPUID2: %s", strerror(errno));
	struct kvm_sregs sregs;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return tkvm_error_set(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	cpu_tables_user_sregs(&sregs, cr3, platform->has_xsave);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return tkvm_error_set(err, -errno, "KVM_SET_SREGS (long mode, CPL3): %s", strerror(errno));
	if (set_syscall_msrs(vcpu) < 0)
		return tkvm_error_set(err, -EINVAL, "KVM_SET_MSRS (STAR/LSTAR/SFMASK) was refused");
	if (platform->has_xsave && platform->has_xcrs) {
		struct kvm_xcrs xcrs;
		memset(&xcrs, 0, sizeof xcrs);
		xcrs.nr_xcrs = 1;
		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = platform->xcr0;
		if (ioctl(vcpu->fd, KVM_SET_XCRS, &xcrs) < 0)
			return tkvm_error_set(err, -errno, "KVM_SET_XCRS (XCR0=0x%llx): %s",
					      (unsigned long long)platform->xcr0, strerror(errno));
	}
	/* From here on, registers travel through kvm_run: KVM copies them out
	 * at every exit and takes back what we mark dirty. */
	vcpu->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &vcpu->run->s.regs.regs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_SREGS, &vcpu->run->s.regs.sregs) < 0)
		return tkvm_error_set(err, -errno, "reading initial registers: %s", strerror(errno));
	return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (running_vcpu == vcpu)
		running_vcpu = NULL;
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

int vcpu_run(struct vcpu *vcpu)
{
	int r = ioctl(vcpu->fd, KVM_RUN, 0);
	int saved = errno;
	vcpu->run->kvm_dirty_regs = 0;
	if (r < 0) {
		vcpu->run->immediate_exit = 0;
		return -saved;
	}
	if (vcpu->run->exit_reason == KVM_EXIT_INTR) {
		vcpu->run->immediate_exit = 0;
		return -EINTR;
	}
	return 0;
}

int vcpu_timer_arm(struct vcpu *vcpu, double seconds, struct tkvm_error *err)
{
	if (!thread_timer_made) {
		struct sigevent event;
		memset(&event, 0, sizeof event);
		event.sigev_notify = SIGEV_THREAD_ID;
		event.sigev_signo = timer_signal();
		event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		if (timer_create(CLOCK_MONOTONIC, &event, &thread_timer) < 0)
			return tkvm_error_set(err, -errno, "timer_create: %s", strerror(errno));
		thread_timer_made = true;
		pthread_setspecific(timer_key, &thread_timer); /* deletes it when the thread ends */
	}
	running_vcpu = vcpu;
	vcpu->timer_fired = 0;
	vcpu->run->immediate_exit = 0;
	struct itimerspec spec;
	memset(&spec, 0, sizeof spec);
	if (seconds > 0) {
		spec.it_value.tv_sec = (time_t)seconds;
		spec.it_value.tv_nsec = (long)((seconds - (double)spec.it_value.tv_sec) * 1e9);
		if (!spec.it_value.tv_sec && !spec.it_value.tv_nsec)
			spec.it_value.tv_nsec = 1;
	}
	if (timer_settime(thread_timer, 0, &spec, NULL) < 0)
		return tkvm_error_set(err, -errno, "timer_settime: %s", strerror(errno));
	return 0;
}

/* xorshift64*, per thread, seeded from the clock and the thread id: the
 * sampling phase needs to be spread, not unpredictable. */
static uint64_t sampling_random(void)
{
	static __thread uint64_t state;
	if (!state) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		state = ((uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec) ^
			((uint64_t)syscall(SYS_gettid) << 32) ^ 0x9e3779b97f4a7c15ull;
		if (!state)
			state = 1;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545f4914f6cdd1dull;
}

int vcpu_sampling(unsigned hz, struct tkvm_error *err)
{
	pthread_once(&handler_once, install_handler);
	if (!sampling_timer_made) {
		if (!hz)
			return 0;
		struct sigevent event;
		memset(&event, 0, sizeof event);
		event.sigev_notify = SIGEV_THREAD_ID;
		event.sigev_signo = sampling_signal();
		event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		if (timer_create(CLOCK_MONOTONIC, &event, &sampling_timer) < 0)
			return tkvm_error_set(err, -errno, "timer_create (sampling): %s", strerror(errno));
		sampling_timer_made = true;
	}
	struct itimerspec spec;
	memset(&spec, 0, sizeof spec);
	if (hz) {
		long period = hz > 1000000000u ? 1 : 1000000000L / (long)hz;
		spec.it_interval.tv_sec = period / 1000000000L;
		spec.it_interval.tv_nsec = period % 1000000000L;
		/* The first sample at a random point of the first period: a timer
		 * started in step with every request would sample a deterministic
		 * request at the same offsets each time (all in one function), and
		 * never a request shorter than the period. */
		long first = 1 + (long)(sampling_random() % (uint64_t)period);
		spec.it_value.tv_sec = first / 1000000000L;
		spec.it_value.tv_nsec = first % 1000000000L;
	}
	if (timer_settime(sampling_timer, 0, &spec, NULL) < 0)
		return tkvm_error_set(err, -errno, "timer_settime (sampling): %s", strerror(errno));
	return 0;
}

void vcpu_timer_disarm(struct vcpu *vcpu)
{
	if (thread_timer_made) {
		struct itimerspec off;
		memset(&off, 0, sizeof off);
		timer_settime(thread_timer, 0, &off, NULL);
	}
	running_vcpu = NULL;
	vcpu->run->immediate_exit = 0;
}

int vcpu_get_events(struct vcpu *vcpu, struct kvm_vcpu_events *events)
{
	return ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, events) < 0 ? -errno : 0;
}
