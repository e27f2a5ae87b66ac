/* The VM and its run loop (see machine.h): every exit is either a Linux
 * syscall to emulate, a host call of the guest ABI, a function return, an
 * exception, or the time limit. */
#include "runner/machine.h"
#include "runner/cpu_tables.h"
#include "runner/layout.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* User-controlled RFLAGS bits restored after an emulated syscall: CF PF AF
 * ZF SF DF OF AC ID. Never IF, IOPL, TF, NT or RF. */
#define RFLAGS_USER_MASK 0x240CD5ull

int machine_create(struct machine *m, const struct tkvm_settings *settings, const struct tkvm_hooks *hooks,
		   const struct guest_memory *template_memory, struct tkvm_error *err)
{
	memset(m, 0, sizeof *m);
	m->vm_fd = -1;
	m->vcpu.fd = -1;
	m->memory.memfd = -1;
	file_table_init(&m->files);
	http_fields_init(&m->request_fields, TKVM_MAX_REQUEST_HEADERS);
	http_fields_init(&m->response_fields, TKVM_MAX_RESPONSE_HEADERS);
	if (hooks)
		m->hooks = *hooks;
	tkvm_settings_init(&m->settings);
	if (tkvm_settings_copy(&m->settings, settings) < 0)
		return tkvm_error_set(err, -ENOMEM, "out of memory copying settings");
	m->ephemeral = m->settings.ephemeral;
	int r = kvm_platform_get(&m->platform, err);
	if (r < 0)
		return r;
	m->vm_fd = ioctl(m->platform->kvm_fd, KVM_CREATE_VM, 0);
	if (m->vm_fd < 0)
		return tkvm_error_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	uint64_t size = (uint64_t)m->settings.max_memory << 20;
	size = (size + GUEST_HUGE_PAGE_SIZE - 1) & ~(GUEST_HUGE_PAGE_SIZE - 1);
	if (size < (8ull << 20))
		return tkvm_error_set(err, -EINVAL, "max_memory of %u MB is too small (tkvm needs at least 8 MB)",
				      m->settings.max_memory);
	if (template_memory)
		r = guest_memory_map_private(&m->memory, template_memory, err);
	else
		r = guest_memory_create(&m->memory, size, m->settings.name ? m->settings.name : "tkvm-guest", err);
	if (r < 0)
		return r;
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = m->memory.size,
		.userspace_addr = (uint64_t)(uintptr_t)m->memory.host,
	};
	if (ioctl(m->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return tkvm_error_set(err, -errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	return 0;
}

void machine_destroy(struct machine *m)
{
	vcpu_destroy(&m->vcpu);
	if (m->vm_fd >= 0)
		close(m->vm_fd);
	m->vm_fd = -1;
	guest_memory_destroy(&m->memory);
	file_table_close_all(&m->files);
	http_fields_free(&m->request_fields);
	http_fields_free(&m->response_fields);
	tkvm_settings_free(&m->settings);
}

void machine_describe_address(const struct machine *m, uint64_t address, char *out, size_t size)
{
	uint64_t offset = 0;
	const char *name = m->symbols ? elf_symbols_lookup(m->symbols, address, &offset) : NULL;
	if (name)
		snprintf(out, size, "0x%llx (%s+0x%llx)", (unsigned long long)address, name, (unsigned long long)offset);
	else
		snprintf(out, size, "0x%llx", (unsigned long long)address);
}

int machine_fail(struct machine *m, enum failure_kind kind, const char *fmt, ...)
{
	if (m->stop == MACHINE_STOP_FAILED || m->stop == MACHINE_STOP_TIMEOUT)
		return -1; /* keep the first cause */
	char what[768], where[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	machine_describe_address(m, vcpu_regs(&m->vcpu)->rip, where, sizeof where);
	snprintf(m->stop_message, sizeof m->stop_message, "%s, at %s", what, where);
	m->stop = kind == FAILURE_TIMEOUT ? MACHINE_STOP_TIMEOUT : MACHINE_STOP_FAILED;
	m->failure = kind;
	return -1;
}

void machine_trace(struct machine *m, const char *fmt, ...)
{
	if (!m->hooks.trace_enabled || !m->hooks.trace)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	m->hooks.trace(m->hooks.context, line);
}

/* Back to CPL3 segments when the vCPU is not there (after an exception,
 * or after `syscall` on VMX/SVM), keeping the thread pointer (FS/GS). */
static void restore_user_mode(struct machine *m)
{
	struct kvm_sregs *sregs = vcpu_sregs(&m->vcpu);
	if ((sregs->cs.selector & 3) == 3)
		return;
	uint64_t fs = sregs->fs.base, gs = sregs->gs.base;
	cpu_tables_user_sregs(sregs, m->cr3, m->platform->has_xsave);
	sregs->fs.base = fs;
	sregs->gs.base = gs;
	vcpu_mark_sregs_dirty(&m->vcpu);
}

void machine_prepare_call(struct machine *m, uint64_t function, uint64_t stack, const uint64_t *args, unsigned count)
{
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	/* Below the red zone of whatever was on that stack, 16-byte aligned at
	 * the call, with our return stub as the return address. */
	uint64_t sp = ((stack - 256) & ~15ull) - 8;
	uint64_t *slot = guest_memory_user_range(&m->memory, sp, 8);
	if (slot)
		*slot = LAYOUT_HANDLER_RETURN;
	memset(regs, 0, sizeof *regs);
	regs->rip = function;
	regs->rsp = sp;
	regs->rflags = 0x2;
	__u64 *targets[6] = {&regs->rdi, &regs->rsi, &regs->rdx, &regs->rcx, &regs->r8, &regs->r9};
	for (unsigned i = 0; i < count && i < 6; i++)
		*targets[i] = args[i];
	vcpu_mark_regs_dirty(&m->vcpu);
	/* A previous fault may have left the vCPU at CPL0 in an exception stub. */
	restore_user_mode(m);
}

void machine_enter_request(struct machine *m)
{
	if (!m->fpu_restore_pending)
		return;
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	regs->r11 = regs->rip;
	regs->r10 = regs->rdx;
	regs->rip = LAYOUT_REQUEST_ENTRY;
	vcpu_mark_regs_dirty(&m->vcpu);
	m->fpu_restore_pending = false;
}

/* The return half of an emulated syscall. On PVM `syscall` stays at CPL3;
 * on VMX/SVM it enters CPL0 (our stub is on a user page, SMEP is off), so
 * the host also puts back the user segments: the one per-platform branch. */
static void finish_syscall(struct machine *m)
{
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	regs->rip = regs->rcx;
	regs->rflags = (regs->r11 & RFLAGS_USER_MASK) | 0x2;
	vcpu_mark_regs_dirty(&m->vcpu);
	restore_user_mode(m); /* the one per-platform branch: a no-op on PVM */
}

static void handle_exception(struct machine *m)
{
	const struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	const uint64_t *frame = guest_memory_range(&m->memory, regs->rsp, 7 * 8);
	if (!frame) {
		machine_fail(m, FAILURE_CRASH, "exception with an unreadable exception frame");
		return;
	}
	unsigned vector = (unsigned)frame[0];
	uint64_t error_code = frame[1], rip = frame[2], rsp = frame[5];
	uint64_t cr2 = vcpu_sregs(&m->vcpu)->cr2;
	m->exception_vector = (int)vector;
	/* Report the faulting instruction, not the stub. */
	struct kvm_regs *live = vcpu_regs(&m->vcpu);
	live->rip = rip;
	live->rsp = rsp;
	if (m->debugging) {
		/* Put the program's own state back, as at the faulting or
		 * trapping instruction, so a debugger sees (and may resume) it. */
		live->rflags = frame[4] & ~0x100ull;
		vcpu_mark_regs_dirty(&m->vcpu);
		restore_user_mode(m);
		if (vector == 1 || vector == 3) {
			m->stop = MACHINE_STOP_DEBUG;
			m->debug_signal = 5;
			return;
		}
	}
	char where[160];
	machine_describe_address(m, cr2, where, sizeof where);
	if (vector == 14) {
		const char *access = (error_code & 0x10) ? "executing" : (error_code & 2) ? "writing" : "reading";
		const struct address_space *s = &m->space;
		if (cr2 < LAYOUT_USER_START)
			machine_fail(m, FAILURE_CRASH, "segmentation fault: NULL pointer dereference (%s address 0x%llx)", access,
				     (unsigned long long)cr2);
		else if (cr2 >= s->stack_low - GUEST_PAGE_SIZE && cr2 < s->stack_low)
			machine_fail(m, FAILURE_CRASH, "stack overflow: the %llu KiB stack is exhausted (%s 0x%llx)",
				     (unsigned long long)((s->stack_top - s->stack_low) >> 10), access, (unsigned long long)cr2);
		else if (cr2 >= m->memory.size)
			machine_fail(m, FAILURE_CRASH, "segmentation fault: %s 0x%llx, beyond the %llu MiB of guest memory", access,
				     (unsigned long long)cr2, (unsigned long long)(m->memory.size >> 20));
		else
			machine_fail(m, FAILURE_CRASH, "segmentation fault: %s %s%s", access, where,
				     (error_code & 1) ? " (protection violation)" : "");
	} else if (vector == 3) {
		machine_fail(m, FAILURE_CRASH, "breakpoint instruction (int3) hit with no debugger attached");
	} else {
		machine_fail(m, FAILURE_CRASH, "%s (exception %u, error code 0x%llx)", cpu_exception_name(vector), vector,
			     (unsigned long long)error_code);
	}
}

static void handle_shutdown(struct machine *m)
{
	struct kvm_vcpu_events events;
	memset(&events, 0, sizeof events);
	if (vcpu_get_events(&m->vcpu, &events) == 0 && events.exception.injected)
		machine_fail(m, FAILURE_CRASH, "the VM shut down on %s (exception %u)",
			     cpu_exception_name(events.exception.nr), events.exception.nr);
	else
		machine_fail(m, FAILURE_CRASH, "the VM shut down (triple fault)");
}

/* On an `out` exit KVM may report RIP at the instruction (it skips it on
 * the next entry unless we move RIP) or already past it. Moving RIP
 * ourselves is correct in both cases. */
static void skip_out_instruction(struct machine *m)
{
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	const uint8_t *code = guest_memory_range(&m->memory, regs->rip, 2);
	if (code && (code[0] == 0xE6 || code[0] == 0xE7) && code[1] == PORT_HOST_CALL) {
		regs->rip += 2;
		vcpu_mark_regs_dirty(&m->vcpu);
	}
}

static double seconds_since(uint64_t start) { return (double)(machine_now_ns() - start) / 1e9; }

/* One profiler sample: the RIP and the frame-pointer chain, each frame
 * read through the bounds checks (a program built without frame pointers
 * gives its leaf only). */
static void take_sample(struct machine *m)
{
	struct tkvm_profile *p = m->profile;
	uint64_t start = machine_now_ns();
	if (p->sample_count == p->sample_capacity) {
		size_t capacity = p->sample_capacity ? p->sample_capacity * 2 : 256;
		struct tkvm_sample *more = realloc(p->samples, capacity * sizeof *more);
		if (!more)
			return;
		p->samples = more;
		p->sample_capacity = capacity;
	}
	struct tkvm_sample *s = &p->samples[p->sample_count++];
	const struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	s->depth = 0;
	s->frames[s->depth++] = regs->rip;
	uint64_t frame = regs->rbp;
	while (s->depth < TKVM_PROFILE_MAX_DEPTH && frame && !(frame & 7)) {
		const uint64_t *pair = guest_memory_user_range(&m->memory, frame, 16);
		if (!pair || !pair[1])
			break;
		s->frames[s->depth++] = pair[1];
		if (pair[0] <= frame) /* callers live higher up the stack */
			break;
		frame = pair[0];
	}
	p->sampling_seconds += seconds_since(start);
}

static void handle_io(struct machine *m)
{
	struct kvm_run *run = m->vcpu.run;
	if (run->io.direction != KVM_EXIT_IO_OUT) {
		machine_fail(m, FAILURE_CRASH, "the program read I/O port 0x%x", run->io.port);
		return;
	}
	switch (run->io.port) {
	case PORT_SYSCALL: {
		m->stats.syscalls++;
		uint64_t number = vcpu_regs(&m->vcpu)->rax, start = m->profile ? machine_now_ns() : 0;
		syscall_dispatch(m);
		if (m->stop == MACHINE_RUNNING)
			finish_syscall(m);
		if (m->profile && number < TKVM_SYSCALL_SLOTS) {
			m->profile->syscall_seconds[number] += seconds_since(start);
			m->profile->syscall_calls[number]++;
		}
		if (m->stepping && m->stop == MACHINE_RUNNING)
			m->stop = MACHINE_STOP_DEBUG, m->debug_signal = 5; /* stepped over the syscall */
		break;
	}
	case PORT_HOST_CALL: {
		m->stats.host_calls++;
		uint32_t number = (uint32_t)vcpu_regs(&m->vcpu)->rax;
		uint64_t start = m->profile ? machine_now_ns() : 0;
		skip_out_instruction(m);
		host_call_dispatch(m);
		if (m->profile) {
			unsigned slot = host_call_slot(number);
			m->profile->host_call_seconds[slot] += seconds_since(start);
			m->profile->host_call_calls[slot]++;
		}
		if (m->stepping && m->stop == MACHINE_RUNNING)
			m->stop = MACHINE_STOP_DEBUG, m->debug_signal = 5; /* the step ended on the host call */
		break;
	}
	case PORT_HANDLER_RETURN:
		m->stop = MACHINE_STOP_RETURNED;
		break;
	case PORT_EXCEPTION:
		handle_exception(m);
		break;
	default:
		machine_fail(m, FAILURE_CRASH, "the program wrote to I/O port 0x%x", run->io.port);
	}
}

enum machine_stop machine_run(struct machine *m, double time_limit)
{
	struct tkvm_error err;
	m->stop = MACHINE_RUNNING;
	m->failure = FAILURE_NONE;
	m->stop_message[0] = 0;
	if (vcpu_timer_arm(&m->vcpu, time_limit, &err) < 0) {
		snprintf(m->stop_message, sizeof m->stop_message, "%s", err.message);
		m->stop = MACHINE_STOP_FAILED;
		return m->stop;
	}
	if (m->profile && m->sample_hz && vcpu_sampling(m->sample_hz, &err) < 0)
		m->sample_hz = 0;
	m->exception_vector = -1;
	while (m->stop == MACHINE_RUNNING) {
		if (m->debugging) {
			/* TF steps one instruction (spec/kvm-host.md); never left set otherwise. */
			struct kvm_regs *regs = vcpu_regs(&m->vcpu);
			uint64_t flags = m->stepping ? regs->rflags | 0x100 : regs->rflags & ~0x100ull;
			if (flags != regs->rflags) {
				regs->rflags = flags;
				vcpu_mark_regs_dirty(&m->vcpu);
			}
		}
		uint64_t entered = m->profile ? machine_now_ns() : 0;
		int r = vcpu_run(&m->vcpu);
		m->stats.exits++;
		if (m->profile) {
			m->profile->guest_seconds += seconds_since(entered);
			m->profile->exits++;
		}
		if (r == -EINTR) {
			if (m->debugging && m->interrupt) {
				m->interrupt = 0;
				m->stop = MACHINE_STOP_DEBUG;
				m->debug_signal = 2; /* SIGINT: gdb's Ctrl-C */
			} else if (m->vcpu.timer_fired)
				machine_fail(m, FAILURE_TIMEOUT, "timed out after %.3g s", time_limit);
			else if (m->profile && m->sample_hz)
				take_sample(m);
			continue;
		}
		if (r < 0) {
			machine_fail(m, FAILURE_CRASH, "KVM_RUN failed: %s", strerror(-r));
			break;
		}
		struct kvm_run *run = m->vcpu.run;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(m);
			break;
		case KVM_EXIT_SHUTDOWN:
			handle_shutdown(m);
			break;
		case KVM_EXIT_HLT:
			machine_fail(m, FAILURE_CRASH, "the program halted the CPU");
			break;
		case KVM_EXIT_MMIO:
			machine_fail(m, FAILURE_CRASH, "access to unbacked guest-physical address 0x%llx",
				     (unsigned long long)run->mmio.phys_addr);
			break;
		case KVM_EXIT_FAIL_ENTRY:
			machine_fail(m, FAILURE_CRASH, "KVM could not enter the guest (hardware reason 0x%llx)",
				     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			machine_fail(m, FAILURE_CRASH, "KVM internal error (suberror %u)", run->internal.suberror);
			break;
		default:
			machine_fail(m, FAILURE_CRASH, "unexpected KVM exit %u", run->exit_reason);
		}
	}
	if (m->profile && m->sample_hz)
		vcpu_sampling(0, &err);
	vcpu_timer_disarm(&m->vcpu);
	m->stats.memory_used = address_space_used(&m->space);
	if (m->space.peak_bytes > m->stats.memory_peak)
		m->stats.memory_peak = m->space.peak_bytes;
	return m->stop;
}
