/* libFuzzer target: arbitrary bytes as what gdb sends. They go through the
 * packet parser byte by byte; every packet that completes (good checksum or
 * not, as in no-ack mode) is dispatched by the stub against a fake target
 * (64 KiB of memory, a register array, a breakpoint table), and the reply is
 * framed. Whatever the input: no crash, no undefined behaviour, no reply over
 * GDB_PACKET_MAX, no target access outside what the stub validated. The same
 * bytes also go through the XSAVE conversions. */
#include "runner/gdb_packet.h"
#include "runner/gdb_stub.h"
#include "runner/gdb_x86_64.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_BASE 0x10000u
#define MEMORY_SIZE 0x10000u

struct fake {
	uint8_t memory[MEMORY_SIZE];
	uint8_t registers[GDB_X86_64_REGISTERS_SIZE];
	uint64_t breakpoints[4];
	int breakpoint_count;
	unsigned resumes;
};

static bool in_memory(uint64_t address, size_t length)
{
	return address >= MEMORY_BASE && length <= MEMORY_SIZE && address - MEMORY_BASE <= MEMORY_SIZE - length;
}

static int read_registers(void *target, uint8_t *buf, size_t size)
{
	if (size != GDB_X86_64_REGISTERS_SIZE)
		__builtin_trap();
	memcpy(buf, ((struct fake *)target)->registers, size);
	return 0;
}

static int write_registers(void *target, const uint8_t *buf, size_t size)
{
	if (size != GDB_X86_64_REGISTERS_SIZE)
		__builtin_trap();
	memcpy(((struct fake *)target)->registers, buf, size);
	return 0;
}

static int write_register(void *target, unsigned regno, const uint8_t *buf, size_t size)
{
	const struct gdb_x86_64_register_info *r = gdb_x86_64_register(regno);
	if (!r || r->size != size)
		__builtin_trap(); /* the stub must have checked both */
	memcpy(((struct fake *)target)->registers + r->offset, buf, size);
	return 0;
}

static int read_memory(void *target, uint64_t address, uint8_t *buf, size_t length)
{
	if (length == 0 || length > GDB_PACKET_MAX / 2)
		__builtin_trap(); /* the stub caps m at what a reply can hold */
	if (!in_memory(address, length))
		return -EFAULT;
	memcpy(buf, ((struct fake *)target)->memory + (address - MEMORY_BASE), length);
	return 0;
}

static int write_memory(void *target, uint64_t address, const uint8_t *buf, size_t length)
{
	if (length == 0 || length > GDB_PACKET_MAX)
		__builtin_trap();
	if (!in_memory(address, length))
		return -EFAULT;
	memcpy(((struct fake *)target)->memory + (address - MEMORY_BASE), buf, length);
	return 0;
}

static int insert_breakpoint(void *target, uint64_t address)
{
	struct fake *f = target;
	if (!in_memory(address, 1))
		return -EFAULT;
	if (f->breakpoint_count == 4)
		return -ENOSPC;
	f->breakpoints[f->breakpoint_count++] = address;
	return 0;
}

static int remove_breakpoint(void *target, uint64_t address)
{
	struct fake *f = target;
	for (int i = 0; i < f->breakpoint_count; i++)
		if (f->breakpoints[i] == address) {
			f->breakpoints[i] = f->breakpoints[--f->breakpoint_count];
			return 0;
		}
	return -ENOENT;
}

/* Steps move rip; continues stop at a breakpoint, or with a signal, or end
 * the program, depending on how many resumes came before. */
static int resume(void *target, bool step, struct gdb_interrupt *interrupt, struct gdb_stop *stop)
{
	struct fake *f = target;
	if (gdb_interrupt_requested(interrupt) || gdb_interrupt_fd(interrupt) != -1)
		__builtin_trap(); /* no connection here */
	uint64_t rip = gdb_x86_64_get(f->registers, GDB_X86_64_RIP);
	f->resumes++;
	if (step) {
		gdb_x86_64_set(f->registers, GDB_X86_64_RIP, rip + 1);
		stop->signal = GDB_SIGNAL_TRAP;
	} else if (f->breakpoint_count > 0) {
		gdb_x86_64_set(f->registers, GDB_X86_64_RIP, f->breakpoints[0]);
		stop->signal = GDB_SIGNAL_TRAP;
		stop->breakpoint = true;
	} else if (f->resumes % 5 == 1) {
		stop->signal = GDB_SIGNAL_SEGV;
	} else if (f->resumes % 5 == 2) {
		return -EIO;
	} else if (f->resumes % 5 == 3) {
		stop->terminated = true;
		stop->signal = 0x1234; /* out of range: the stub must mask it */
	} else {
		stop->exited = true;
		stop->exit_status = -1;
	}
	return 0;
}

static int read_load_offset(void *target, uint64_t *offset)
{
	(void)target;
	*offset = 0x555555554000ull;
	return 0;
}

static void kill_or_detach(void *target)
{
	(void)target;
}

static const struct gdb_target_ops ops = {
	.read_registers = read_registers,
	.write_registers = write_registers,
	.write_register = write_register, /* read_register left NULL: the fallback is fuzzed too */
	.read_memory = read_memory,
	.write_memory = write_memory,
	.insert_breakpoint = insert_breakpoint,
	.remove_breakpoint = remove_breakpoint,
	.resume = resume,
	.read_load_offset = read_load_offset,
	.kill = kill_or_detach,
	.detach = kill_or_detach,
};

static struct fake fake;
static struct gdb_packet_parser parser;
static char frame[GDB_PACKET_MAX + 4];

static void fuzz_xsave(const uint8_t *data, size_t size)
{
	static uint8_t xsave[4096], registers[GDB_X86_64_REGISTERS_SIZE];
	if (size > sizeof xsave)
		size = sizeof xsave;
	memset(xsave, 0, sizeof xsave);
	memcpy(xsave, data, size);
	if (gdb_x86_64_from_xsave(registers, xsave, size) != (size < GDB_X86_64_XSAVE_MIN_SIZE ? -EINVAL : 0))
		__builtin_trap();
	if (size >= GDB_X86_64_XSAVE_MIN_SIZE && gdb_x86_64_to_xsave(registers, xsave, size) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pattern[MEMORY_SIZE];
	static bool pattern_made;
	if (!pattern_made) { /* once: an instrumented loop per input would dominate the run time */
		for (unsigned i = 0; i < MEMORY_SIZE; i++)
			pattern[i] = (uint8_t)i;
		pattern_made = true;
	}
	memset(&fake, 0, sizeof fake);
	memcpy(fake.memory, pattern, sizeof pattern);
	gdb_x86_64_set(fake.registers, GDB_X86_64_RIP, MEMORY_BASE);

	struct gdb_stub *stub;
	if (gdb_stub_create(&stub, &ops, &fake, NULL, NULL) != 0)
		__builtin_trap();
	gdb_packet_parser_init(&parser);
	bool ended = false;
	for (size_t i = 0; i < size && !ended; i++) {
		if (gdb_packet_parser_feed(&parser, data[i]) != GDB_PACKET_COMPLETE)
			continue;
		if (parser.length > GDB_PACKET_MAX || parser.data[parser.length] != 0)
			__builtin_trap();
		const char *reply;
		size_t reply_length;
		enum gdb_stub_next next;
		if (parser.too_long) {
			reply = "E01";
			reply_length = 3;
			next = GDB_STUB_REPLY;
		} else {
			next = gdb_stub_handle(stub, parser.data, parser.length, &reply, &reply_length);
		}
		if (reply_length > GDB_PACKET_MAX || strlen(reply) != reply_length)
			__builtin_trap();
		if (gdb_packet_frame(reply, reply_length, frame, sizeof frame) != (int)reply_length + 4)
			__builtin_trap();
		ended = next == GDB_STUB_END || next == GDB_STUB_REPLY_THEN_END;
	}
	gdb_stub_destroy(stub);
	fuzz_xsave(data, size);
	return 0;
}
