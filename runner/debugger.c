/* Debugging one request in its request VM (see tkvm_debug.h). The run loop
 * does the hardware part (TF steps, #DB/#BP stops, state put back after a
 * fault); this file keeps the breakpoints and the request's life. */
#include "runner/tkvm_debug.h"
#include "runner/layout.h"
#include "runner/program.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MAX_BREAKPOINTS 64
#define INT3 0xCC

struct breakpoint {
	uint64_t address;
	uint8_t saved;
};

struct tkvm_debugger {
	struct tkvm_program *program;
	struct request_vm *vm;
	struct machine *m;
	struct request_run own_run, *run;
	struct tkvm_response own_response, *response;
	bool adopted;   /* a request the pool is running (debug hook), not ours */
	bool booting;   /* still in the boot VM (tkvm_debug_boot) */
	struct machine *boot_machine;
	const struct tkvm_request_input *input;
	char boot_error[1024];
	bool detached;
	struct breakpoint breakpoints[MAX_BREAKPOINTS];
	unsigned breakpoint_count;
	bool crashed, finished;
	pthread_t thread;
	volatile bool running;
};

static struct breakpoint *find_breakpoint(struct tkvm_debugger *d, uint64_t address)
{
	for (unsigned i = 0; i < d->breakpoint_count; i++)
		if (d->breakpoints[i].address == address)
			return &d->breakpoints[i];
	return NULL;
}

static int signal_for_vector(int vector)
{
	switch (vector) {
	case 0: case 16: case 19: return 8;  /* SIGFPE */
	case 6: return 4;                    /* SIGILL */
	case 17: return 7;                   /* SIGBUS */
	case 1: case 3: return 5;            /* SIGTRAP */
	default: return 11;                  /* SIGSEGV */
	}
}

static void fill_stop(struct tkvm_debugger *d, enum tkvm_debug_stop_kind kind, int signal, struct tkvm_debug_stop *stop)
{
	memset(stop, 0, sizeof *stop);
	stop->kind = kind;
	stop->signal = signal;
	stop->address = vcpu_regs(&d->m->vcpu)->rip;
	if (kind == TKVM_DEBUG_CRASHED)
		snprintf(stop->message, sizeof stop->message, "%.500s", d->m->stop_message);
}

int tkvm_debug_request(struct tkvm_program *program, const struct tkvm_request_input *input,
		       struct tkvm_debugger **out, struct tkvm_debug_stop *stop, struct tkvm_error *err)
{
	*out = NULL;
	struct tkvm_debugger *d = calloc(1, sizeof *d);
	if (!d)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	double waited;
	d->program = program;
	d->vm = program_take_vm(program, &waited, err);
	if (!d->vm) {
		free(d);
		return err && err->code ? err->code : -EBUSY;
	}
	d->m = &d->vm->machine;
	/* Under the debugger the first stop must be the handler itself, so
	 * the FPU state is put back by KVM rather than by the entry stub. */
	if (d->m->fpu_restore_pending) {
		if (ioctl(d->m->vcpu.fd, KVM_SET_XSAVE, &program->template.xsave) < 0) {
			program_return_vm(program, d->vm, true);
			free(d);
			return tkvm_error_set(err, -errno, "KVM_SET_XSAVE: %s", strerror(errno));
		}
		d->m->fpu_restore_pending = false;
	}
	d->run = &d->own_run;
	d->response = &d->own_response;
	int r = machine_request_begin(d->m, &d->vm->parked_regs, &d->vm->at_park, input, 0, d->response, d->run, err);
	if (r < 0) {
		program_return_vm(program, d->vm, true);
		free(d);
		return r;
	}
	d->m->debugging = true;
	fill_stop(d, TKVM_DEBUG_STOPPED, 5, stop);
	*out = d;
	return 0;
}

int tkvm_debug_boot(const struct tkvm_settings *settings, const uint8_t *elf, size_t elf_size,
		    const struct tkvm_hooks *hooks, const struct tkvm_request_input *input,
		    struct tkvm_program **program_out, struct tkvm_debugger **out, struct tkvm_debug_stop *stop,
		    struct tkvm_error *err)
{
	*out = NULL;
	*program_out = NULL;
	struct tkvm_program *program;
	int r = program_create(settings, elf, elf_size, hooks, &program, err);
	if (r < 0)
		return r;
	struct tkvm_debugger *d = calloc(1, sizeof *d);
	struct machine *m = calloc(1, sizeof *m);
	if (!d || !m || (r = program_boot_prepare(program, m, err)) < 0) {
		free(d), free(m);
		tkvm_program_release(program);
		return r < 0 ? r : tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	d->program = program, d->m = m, d->boot_machine = m, d->booting = true, d->input = input;
	d->run = &d->own_run;
	d->response = &d->own_response;
	m->debugging = true;
	/* Stop before main() runs: its first instruction, after the C
	 * library's start-up (or the ELF entry when there is no main). */
	uint64_t main_address = elf_symbols_find(&program->symbols, "main");
	if (main_address && tkvm_debugger_insert_breakpoint(d, main_address) == 0) {
		struct tkvm_debug_stop first;
		tkvm_debugger_resume(d, false, &first);
		tkvm_debugger_remove_breakpoint(d, main_address);
		if (first.kind != TKVM_DEBUG_STOPPED) {
			struct tkvm_response response;
			tkvm_debugger_finish(d, &response);
			tkvm_error_set(err, -EIO, "the program did not reach main(): %s", response.error);
			tkvm_response_free(&response);
			tkvm_program_release(program);
			return -EIO;
		}
	}
	fill_stop(d, TKVM_DEBUG_STOPPED, 5, stop);
	*program_out = program;
	*out = d;
	return 0;
}

int tkvm_debugger_read_memory(struct tkvm_debugger *d, uint64_t address, uint8_t *buffer, size_t length)
{
	const uint8_t *source = guest_memory_range(&d->m->memory, address, length);
	if (!source)
		return -EFAULT;
	memcpy(buffer, source, length);
	/* Our int3 bytes are not the program's: show what they replaced. */
	for (unsigned i = 0; i < d->breakpoint_count; i++)
		if (d->breakpoints[i].address >= address && d->breakpoints[i].address < address + length)
			buffer[d->breakpoints[i].address - address] = d->breakpoints[i].saved;
	return 0;
}

int tkvm_debugger_write_memory(struct tkvm_debugger *d, uint64_t address, const uint8_t *buffer, size_t length)
{
	uint8_t *target = guest_memory_user_range(&d->m->memory, address, length);
	if (!target)
		return -EFAULT;
	for (size_t i = 0; i < length; i++) {
		struct breakpoint *b = find_breakpoint(d, address + i);
		if (b)
			b->saved = buffer[i]; /* the breakpoint stays in place */
		else
			target[i] = buffer[i];
	}
	return 0;
}

int tkvm_debugger_insert_breakpoint(struct tkvm_debugger *d, uint64_t address)
{
	if (find_breakpoint(d, address))
		return 0;
	if (d->breakpoint_count == MAX_BREAKPOINTS)
		return -ENOSPC;
	uint8_t *code = guest_memory_user_range(&d->m->memory, address, 1);
	if (!code)
		return -EFAULT;
	d->breakpoints[d->breakpoint_count++] = (struct breakpoint){address, *code};
	*code = INT3; /* a private page of this VM: the template is untouched */
	return 0;
}

int tkvm_debugger_remove_breakpoint(struct tkvm_debugger *d, uint64_t address)
{
	struct breakpoint *b = find_breakpoint(d, address);
	if (!b)
		return 0;
	uint8_t *code = guest_memory_user_range(&d->m->memory, address, 1);
	if (code)
		*code = b->saved;
	*b = d->breakpoints[--d->breakpoint_count];
	return 0;
}

int tkvm_debugger_registers(struct tkvm_debugger *d, struct tkvm_debug_registers *out)
{
	const struct kvm_regs *r = vcpu_regs(&d->m->vcpu);
	const struct kvm_sregs *s = vcpu_sregs(&d->m->vcpu);
	memset(out, 0, sizeof *out);
	out->rax = r->rax, out->rbx = r->rbx, out->rcx = r->rcx, out->rdx = r->rdx;
	out->rsi = r->rsi, out->rdi = r->rdi, out->rbp = r->rbp, out->rsp = r->rsp;
	out->r8 = r->r8, out->r9 = r->r9, out->r10 = r->r10, out->r11 = r->r11;
	out->r12 = r->r12, out->r13 = r->r13, out->r14 = r->r14, out->r15 = r->r15;
	out->rip = r->rip, out->rflags = r->rflags & ~0x100ull; /* our TF is not the program's */
	out->cs = s->cs.selector, out->ss = s->ss.selector, out->ds = s->ds.selector;
	out->es = s->es.selector, out->fs = s->fs.selector, out->gs = s->gs.selector;
	out->fs_base = s->fs.base, out->gs_base = s->gs.base;
	struct kvm_xsave xsave;
	if (ioctl(d->m->vcpu.fd, KVM_GET_XSAVE, &xsave) < 0)
		return -errno;
	memcpy(out->xsave, &xsave, sizeof out->xsave);
	return 0;
}

int tkvm_debugger_set_registers(struct tkvm_debugger *d, const struct tkvm_debug_registers *in)
{
	struct kvm_regs *r = vcpu_regs(&d->m->vcpu);
	r->rax = in->rax, r->rbx = in->rbx, r->rcx = in->rcx, r->rdx = in->rdx;
	r->rsi = in->rsi, r->rdi = in->rdi, r->rbp = in->rbp, r->rsp = in->rsp;
	r->r8 = in->r8, r->r9 = in->r9, r->r10 = in->r10, r->r11 = in->r11;
	r->r12 = in->r12, r->r13 = in->r13, r->r14 = in->r14, r->r15 = in->r15;
	r->rip = in->rip;
	/* Only the flags a program may set (no IF, IOPL, TF, NT, VM). */
	r->rflags = (in->rflags & 0x240CD5ull) | 0x2;
	vcpu_mark_regs_dirty(&d->m->vcpu);
	struct kvm_sregs *s = vcpu_sregs(&d->m->vcpu);
	if (s->fs.base != in->fs_base || s->gs.base != in->gs_base) {
		if (in->fs_base >= (1ull << 47) || in->gs_base >= (1ull << 47))
			return -EINVAL;
		s->fs.base = in->fs_base;
		s->gs.base = in->gs_base;
		vcpu_mark_sregs_dirty(&d->m->vcpu);
	}
	struct kvm_xsave xsave;
	memcpy(&xsave, in->xsave, sizeof xsave);
	if (ioctl(d->m->vcpu.fd, KVM_SET_XSAVE, &xsave) < 0)
		return -errno;
	return 0;
}

static void finish_request(struct tkvm_debugger *d)
{
	if (d->finished)
		return;
	d->m->debugging = false;
	d->m->stepping = false;
	d->finished = true;
	if (d->adopted)
		return; /* the pool's request loop ends it */
	machine_request_end(d->m, d->run, d->response);
}

static void finish_request(struct tkvm_debugger *d);

/* The boot VM stopped for good without parking: say why, destroy it. */
static void end_boot(struct tkvm_debugger *d)
{
	struct tkvm_error err = {0};
	d->m->debugging = false;
	program_boot_complete(d->program, d->m, &err); /* describes the failure, destroys the VM */
	free(d->boot_machine);
	d->boot_machine = NULL;
	snprintf(d->boot_error, sizeof d->boot_error, "%s", err.message);
	d->booting = false;
	d->finished = true;
}

/* From the parked boot VM to the request: remove the breakpoints (their
 * bytes must not reach the template), take the template, dispatch the
 * request in a request VM and put the breakpoints back there. */
static int enter_request(struct tkvm_debugger *d)
{
	uint64_t addresses[MAX_BREAKPOINTS];
	unsigned count = d->breakpoint_count;
	for (unsigned i = 0; i < count; i++)
		addresses[i] = d->breakpoints[i].address;
	for (unsigned i = count; i-- > 0;)
		tkvm_debugger_remove_breakpoint(d, addresses[i]);
	struct tkvm_error err = {0};
	d->m->debugging = false;
	int r = program_boot_complete(d->program, d->m, &err);
	free(d->boot_machine);
	d->boot_machine = NULL;
	d->booting = false;
	double waited;
	if (r == 0)
		d->vm = program_take_vm(d->program, &waited, &err);
	if (r < 0 || !d->vm) {
		snprintf(d->boot_error, sizeof d->boot_error, "%s", err.message);
		d->finished = true;
		return -1;
	}
	d->m = &d->vm->machine;
	if (d->m->fpu_restore_pending && ioctl(d->m->vcpu.fd, KVM_SET_XSAVE, &d->program->template.xsave) == 0)
		d->m->fpu_restore_pending = false;
	d->run = &d->own_run;
	d->response = &d->own_response;
	if (machine_request_begin(d->m, &d->vm->parked_regs, &d->vm->at_park, d->input, 0, d->response, d->run, &err) < 0) {
		snprintf(d->boot_error, sizeof d->boot_error, "%s", err.message);
		program_return_vm(d->program, d->vm, true);
		d->vm = NULL;
		d->finished = true;
		return -1;
	}
	d->m->debugging = true;
	for (unsigned i = 0; i < count; i++)
		tkvm_debugger_insert_breakpoint(d, addresses[i]);
	return 0;
}

int tkvm_debugger_resume(struct tkvm_debugger *d, bool step, struct tkvm_debug_stop *stop)
{
	if (d->finished) {
		fill_stop(d, TKVM_DEBUG_FINISHED, 0, stop);
		return 0;
	}
	if (d->crashed && d->booting) { /* going on after a fault in boot ends the boot */
		end_boot(d);
		fill_stop(d, TKVM_DEBUG_FINISHED, 0, stop);
		return 0;
	}
	if (d->crashed) { /* going on after a fault ends the request as failed */
		finish_request(d);
		fill_stop(d, TKVM_DEBUG_FINISHED, 0, stop);
		return 0;
	}
	d->thread = pthread_self();
	d->running = true;
	d->m->stepping = step;
	enum machine_stop result = machine_run(d->m, 0); /* no time limit while debugging */
	d->running = false;
	d->m->stepping = false;
	if (d->booting && result == MACHINE_STOP_PARKED) {
		/* main() parked: the template is taken and the session goes on
		 * into the request, in its request VM, as if nothing happened. */
		if (enter_request(d) < 0) {
			fill_stop(d, TKVM_DEBUG_FINISHED, 0, stop);
			return 0;
		}
		if (step) {
			fill_stop(d, TKVM_DEBUG_STOPPED, 5, stop);
			return 0;
		}
		return tkvm_debugger_resume(d, false, stop);
	}
	if (d->booting && result != MACHINE_STOP_DEBUG && !(result == MACHINE_STOP_FAILED && d->m->exception_vector >= 0)) {
		end_boot(d); /* exit or timeout before parking: nothing left to debug */
		fill_stop(d, TKVM_DEBUG_FINISHED, 0, stop);
		return 0;
	}
	if (result == MACHINE_STOP_DEBUG) {
		struct kvm_regs *regs = vcpu_regs(&d->m->vcpu);
		/* int3 reports the address after it: stop at our breakpoint. */
		bool at_breakpoint = d->m->exception_vector == 3 && find_breakpoint(d, regs->rip - 1);
		if (at_breakpoint) {
			regs->rip -= 1;
			vcpu_mark_regs_dirty(&d->m->vcpu);
		}
		fill_stop(d, TKVM_DEBUG_STOPPED, d->m->debug_signal, stop);
		stop->breakpoint = at_breakpoint;
		return 0;
	}
	if (result == MACHINE_STOP_FAILED && d->m->exception_vector >= 0) {
		d->crashed = true;
		fill_stop(d, TKVM_DEBUG_CRASHED, signal_for_vector(d->m->exception_vector), stop);
		return 0;
	}
	finish_request(d);
	fill_stop(d, TKVM_DEBUG_FINISHED, 0, stop);
	return 0;
}

void tkvm_debugger_interrupt(struct tkvm_debugger *d)
{
	d->m->interrupt = 1;
	if (d->running) {
		d->m->vcpu.run->immediate_exit = 1; /* in case KVM_RUN is about to start */
		pthread_kill(d->thread, SIGRTMIN + 5);
	}
}

void tkvm_debugger_finish(struct tkvm_debugger *d, struct tkvm_response *response)
{
	if (d->booting || !d->vm) {
		/* Ended before a request existed: the boot's failure, as a 500. */
		if (d->boot_machine) {
			machine_destroy(d->boot_machine);
			free(d->boot_machine);
		}
		memset(response, 0, sizeof *response);
		response->status = 500;
		response->outcome = TKVM_OUTCOME_FAILED;
		response->failure = TKVM_FAILURE_CRASH;
		snprintf(response->error, sizeof response->error, "%s",
			 d->boot_error[0] ? d->boot_error : "the program's boot was ended by the debugger");
		free(d);
		return;
	}
	for (unsigned i = d->breakpoint_count; i-- > 0;)
		tkvm_debugger_remove_breakpoint(d, d->breakpoints[i].address);
	if (!d->finished) {
		if (!d->crashed)
			machine_fail(d->m, FAILURE_CRASH, "the request was ended by the debugger");
		finish_request(d);
	}
	*response = *d->response;
	program_return_vm(d->program, d->vm, true);
	free(d);
}

void tkvm_debugger_detach(struct tkvm_debugger *d) { d->detached = true; }
bool tkvm_debugger_detached(const struct tkvm_debugger *d) { return d->detached; }
bool tkvm_debugger_finished(const struct tkvm_debugger *d) { return d->finished; }
struct tkvm_program *tkvm_debugger_program(struct tkvm_debugger *d) { return d->program; }

bool debugger_wants_hook(const struct machine *m)
{
	if (!m->hooks.debug)
		return false;
	if (m->stop == MACHINE_STOP_DEBUG)
		return true;
	return m->stop == MACHINE_STOP_FAILED && m->exception_vector >= 0 && m->settings.remote_debug_on_exception;
}

/* The debug hook on a request the pool is running: wrap it, hand it to the
 * embedder, then take it back. Returns true when the request ended inside
 * the session (its response is set); false when it should run on (gdb
 * detached). Either way the machine is no longer in debug mode. */
bool debugger_run_hook(struct tkvm_program *p, struct request_vm *vm, struct request_run *run,
		       struct tkvm_response *response)
{
	struct tkvm_debugger d;
	memset(&d, 0, sizeof d);
	d.program = p, d.vm = vm, d.m = &vm->machine, d.run = run, d.response = response, d.adopted = true;
	struct tkvm_debug_stop stop;
	if (d.m->stop == MACHINE_STOP_DEBUG) {
		fill_stop(&d, TKVM_DEBUG_STOPPED, d.m->debug_signal, &stop);
	} else {
		d.crashed = true;
		fill_stop(&d, TKVM_DEBUG_CRASHED, signal_for_vector(d.m->exception_vector), &stop);
	}
	d.m->debugging = true;
	d.m->hooks.debug(d.m->hooks.context, &d, &stop);
	for (unsigned i = d.breakpoint_count; i-- > 0;)
		tkvm_debugger_remove_breakpoint(&d, d.breakpoints[i].address);
	d.m->debugging = false;
	d.m->stepping = false;
	if (d.finished)
		return true;
	if (d.detached && !d.crashed)
		return false; /* the caller runs it on */
	if (!d.crashed)
		machine_fail(d.m, FAILURE_CRASH, "the request was ended by the debugger");
	return false;
}
