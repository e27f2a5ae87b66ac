/* GDB target operations over the runner's debugger (see debug_target.h). */
#include "cli/debug_target.h"
#include "runner/gdb_x86_64.h"
#include <errno.h>
#include <string.h>

void debug_target_stop(struct debug_target *t, const struct tkvm_debug_stop *from, struct gdb_stop *to)
{
	memset(to, 0, sizeof *to);
	switch (from->kind) {
	case TKVM_DEBUG_STOPPED:
		to->signal = from->signal == 2 ? GDB_SIGNAL_INT : GDB_SIGNAL_TRAP;
		to->breakpoint = from->breakpoint;
		break;
	case TKVM_DEBUG_CRASHED:
		/* host SIGBUS (7) is gdb's 10; the others share their numbers */
		to->signal = from->signal == 7 ? GDB_SIGNAL_BUS : from->signal;
		break;
	case TKVM_DEBUG_FINISHED:
		to->exited = true; /* the request is over: for gdb, the program exited */
		to->exit_status = 0;
		t->finished = true;
		break;
	}
}

static int read_registers(void *target, uint8_t *buf, size_t size)
{
	struct debug_target *t = target;
	struct tkvm_debug_registers r;
	if (size < GDB_X86_64_REGISTERS_SIZE || tkvm_debugger_registers(t->debugger, &r) < 0)
		return -EIO;
	memset(buf, 0, size);
	const uint64_t general[] = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp,
				    r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags,
				    r.cs, r.ss, r.ds, r.es, r.fs, r.gs};
	for (unsigned i = 0; i < sizeof general / sizeof general[0]; i++)
		gdb_x86_64_set(buf, GDB_X86_64_RAX + i, general[i]);
	gdb_x86_64_set(buf, GDB_X86_64_ORIG_RAX, UINT64_MAX);
	gdb_x86_64_set(buf, GDB_X86_64_FS_BASE, r.fs_base);
	gdb_x86_64_set(buf, GDB_X86_64_GS_BASE, r.gs_base);
	return gdb_x86_64_from_xsave(buf, r.xsave, sizeof r.xsave) < 0 ? -EIO : 0;
}

static int write_registers(void *target, const uint8_t *buf, size_t size)
{
	struct debug_target *t = target;
	struct tkvm_debug_registers r;
	if (size < GDB_X86_64_REGISTERS_SIZE || tkvm_debugger_registers(t->debugger, &r) < 0)
		return -EIO;
	uint64_t *general[] = {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rbp, &r.rsp,
			       &r.r8, &r.r9, &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.rip, &r.rflags};
	for (unsigned i = 0; i < sizeof general / sizeof general[0]; i++)
		*general[i] = gdb_x86_64_get(buf, GDB_X86_64_RAX + i);
	r.fs_base = gdb_x86_64_get(buf, GDB_X86_64_FS_BASE);
	r.gs_base = gdb_x86_64_get(buf, GDB_X86_64_GS_BASE);
	if (gdb_x86_64_to_xsave(buf, r.xsave, sizeof r.xsave) < 0)
		return -EIO;
	return tkvm_debugger_set_registers(t->debugger, &r);
}

static int read_memory(void *target, uint64_t address, uint8_t *buf, size_t length)
{
	struct debug_target *t = target;
	return tkvm_debugger_read_memory(t->debugger, address, buf, length);
}

static int write_memory(void *target, uint64_t address, const uint8_t *buf, size_t length)
{
	struct debug_target *t = target;
	return tkvm_debugger_write_memory(t->debugger, address, buf, length);
}

static int insert_breakpoint(void *target, uint64_t address)
{
	struct debug_target *t = target;
	return tkvm_debugger_insert_breakpoint(t->debugger, address);
}

static int remove_breakpoint(void *target, uint64_t address)
{
	struct debug_target *t = target;
	return tkvm_debugger_remove_breakpoint(t->debugger, address);
}

static void kick(void *argument) { tkvm_debugger_interrupt(argument); }

static int resume(void *target, bool step, struct gdb_interrupt *interrupt, struct gdb_stop *stop)
{
	struct debug_target *t = target;
	struct tkvm_debug_stop s;
	if (step) {
		tkvm_debugger_resume(t->debugger, true, &s);
		debug_target_stop(t, &s, stop);
		return 0;
	}
	for (;;) {
		/* A watcher thread turns gdb's Ctrl-C into an interrupt of KVM_RUN. */
		int watching = gdb_interrupt_watch(interrupt, kick, t->debugger);
		if (watching == 1) {
			memset(stop, 0, sizeof *stop);
			stop->signal = GDB_SIGNAL_INT;
			return 0;
		}
		tkvm_debugger_resume(t->debugger, false, &s);
		if (watching == 0)
			gdb_interrupt_unwatch(interrupt);
		/* Woken by a byte that was not Ctrl-C: carry on. */
		if (s.kind == TKVM_DEBUG_STOPPED && s.signal == 2 && !gdb_interrupt_requested(interrupt))
			continue;
		debug_target_stop(t, &s, stop);
		return 0;
	}
}

static int read_load_offset(void *target, uint64_t *offset)
{
	struct debug_target *t = target;
	size_t size;
	tkvm_program_elf(t->program, &size, offset);
	return 0;
}

static void detach(void *target)
{
	struct debug_target *t = target;
	t->detached = true;
	tkvm_debugger_detach(t->debugger);
}

const struct gdb_target_ops debug_target_ops = {
	.read_registers = read_registers,
	.write_registers = write_registers,
	.read_memory = read_memory,
	.write_memory = write_memory,
	.insert_breakpoint = insert_breakpoint,
	.remove_breakpoint = remove_breakpoint,
	.resume = resume,
	.read_load_offset = read_load_offset,
	.detach = detach,
};
