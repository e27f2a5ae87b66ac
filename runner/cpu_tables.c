/* GDT, TSS, IDT and stub code for the guest (see cpu_tables.h). The stubs
 * are hand-assembled: a handful of bytes each, documented inline. */
#include "runner/cpu_tables.h"
#include "runner/layout.h"
#include <string.h>

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_OSXSAVE (1ull << 18)
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

bool cpu_exception_has_error_code(unsigned vector)
{
	switch (vector) {
	case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21: case 29: case 30:
		return true;
	default:
		return false;
	}
}

const char *cpu_exception_name(unsigned vector)
{
	static const char *const names[EXCEPTION_VECTORS] = {
		"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range exceeded",
		"invalid opcode", "device not available", "double fault", "coprocessor segment overrun",
		"invalid TSS", "segment not present", "stack-segment fault", "general protection fault",
		"page fault", "reserved", "x87 floating-point exception", "alignment check", "machine check",
		"SIMD floating-point exception", "virtualization exception", "control protection exception",
	};
	if (vector < EXCEPTION_VECTORS && names[vector])
		return names[vector];
	return "reserved exception";
}

static void write_gdt(uint8_t *base)
{
	uint64_t *gdt = (uint64_t *)(base + LAYOUT_GDT);
	memset(gdt, 0, GUEST_PAGE_SIZE);
	gdt[1] = 0x00AF9A000000FFFFull; /* 0x08 kernel code, 64-bit */
	gdt[2] = 0x00CF92000000FFFFull; /* 0x10 kernel data */
	gdt[3] = 0x00CFFA000000FFFFull; /* 0x18 user code, 32-bit (SYSRET order; unused) */
	gdt[4] = 0x00CFF2000000FFFFull; /* 0x20 user data */
	gdt[5] = 0x00AFFA000000FFFFull; /* 0x28 user code, 64-bit */
	uint64_t tss = LAYOUT_TSS, limit = LAYOUT_TSS_LIMIT;
	gdt[6] = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xf) << 48) |
		 (((tss >> 24) & 0xff) << 56); /* 0x30: available 64-bit TSS */
	gdt[7] = tss >> 32;
}

static void write_tss(uint8_t *base)
{
	uint8_t *tss = base + LAYOUT_TSS;
	memset(tss, 0, LAYOUT_TSS_LIMIT + 1);
	uint64_t stack = LAYOUT_EXCEPTION_STACK_TOP;
	memcpy(tss + 0x04, &stack, 8); /* RSP0 */
	memcpy(tss + 0x24, &stack, 8); /* IST1: every gate uses it, so a fault never runs on a user stack */
	uint16_t iomap = 0x68;
	memcpy(tss + 0x66, &iomap, 2);
	/* I/O bitmap: a clear bit grants the port to CPL3 (IOPL is ignored
	 * there on PVM). Only the host-call, syscall and return ports. */
	memset(tss + 0x68, 0xff, 0x2000 + 1);
	tss[0x68 + PORT_HOST_CALL / 8] &= (uint8_t) ~(0xFu << (PORT_HOST_CALL % 8)); /* ports 0..3 */
	tss[0x68 + PORT_SYSCALL / 8] &= (uint8_t) ~(1u << (PORT_SYSCALL % 8));
	tss[0x68 + PORT_HANDLER_RETURN / 8] &= (uint8_t) ~(1u << (PORT_HANDLER_RETURN % 8));
}

static void write_idt_and_stubs(uint8_t *base, uint64_t xcr0)
{
	uint64_t *idt = (uint64_t *)(base + LAYOUT_IDT);
	uint8_t *isr = base + LAYOUT_ISR;
	memset(idt, 0, GUEST_PAGE_SIZE);
	memset(isr, 0xCC, GUEST_PAGE_SIZE);
	for (unsigned vector = 0; vector < EXCEPTION_VECTORS; vector++) {
		uint8_t *stub = isr + vector * 16;
		unsigned n = 0;
		if (!cpu_exception_has_error_code(vector)) {
			stub[n++] = 0x6A; /* push $0: a uniform frame */
			stub[n++] = 0x00;
		}
		stub[n++] = 0x6A; /* push $vector */
		stub[n++] = (uint8_t)vector;
		stub[n++] = 0xE6; /* out %al, $PORT_EXCEPTION */
		stub[n++] = PORT_EXCEPTION;
		stub[n++] = 0xEB; /* jmp . (the host never resumes here) */
		stub[n++] = 0xFE;
		uint64_t handler = LAYOUT_ISR + vector * 16;
		/* 64-bit interrupt gate, DPL 0, IST 1, kernel code selector. */
		idt[vector * 2] = (handler & 0xffff) | ((uint64_t)GDT_KERNEL_CODE << 16) | (1ull << 32) | (0x8Eull << 40) |
				  (((handler >> 16) & 0xffff) << 48);
		idt[vector * 2 + 1] = handler >> 32;
	}
	uint8_t *user = base + LAYOUT_USER_STUBS;
	memset(user, 0xCC, GUEST_PAGE_SIZE);
	/* LSTAR target: exit with every register intact; the host emulates the
	 * syscall and returns to RCX itself. Touches no stack (red zone). */
	uint8_t *entry = base + LAYOUT_SYSCALL_ENTRY;
	entry[0] = 0xE6, entry[1] = PORT_SYSCALL, entry[2] = 0xEB, entry[3] = 0xFE;
	/* Return address of functions the host calls (request handlers). */
	uint8_t *ret = base + LAYOUT_HANDLER_RETURN;
	ret[0] = 0xE6, ret[1] = PORT_HANDLER_RETURN, ret[2] = 0xEB, ret[3] = 0xFE;
	/* Request entry after a reset: restore the template's FPU/SSE/AVX
	 * state in the guest (no KVM_SET_XSAVE ioctl per request), then go
	 * where the host wanted: r11 = target, r10 = the rdx it wanted.
	 *   mov $xcr0_lo, %eax; mov $xcr0_hi, %edx; xrstor64 LAYOUT_FPU_IMAGE;
	 *   xor %eax, %eax; mov %r10, %rdx; jmp *%r11 */
	uint8_t *e = base + LAYOUT_REQUEST_ENTRY;
	uint32_t lo = (uint32_t)xcr0, hi = (uint32_t)(xcr0 >> 32), image = (uint32_t)LAYOUT_FPU_IMAGE;
	unsigned n = 0;
	e[n++] = 0xB8, memcpy(e + n, &lo, 4), n += 4;
	e[n++] = 0xBA, memcpy(e + n, &hi, 4), n += 4;
	e[n++] = 0x48, e[n++] = 0x0F, e[n++] = 0xAE, e[n++] = 0x2C, e[n++] = 0x25, memcpy(e + n, &image, 4), n += 4;
	e[n++] = 0x31, e[n++] = 0xC0;
	e[n++] = 0x4C, e[n++] = 0x89, e[n++] = 0xD2;
	e[n++] = 0x41, e[n++] = 0xFF, e[n++] = 0xE3;
}

void cpu_tables_write(struct guest_memory *memory, uint64_t xcr0)
{
	write_gdt(memory->host);
	write_tss(memory->host);
	write_idt_and_stubs(memory->host, xcr0);
}

static void segment(struct kvm_segment *s, uint16_t selector, int code, int dpl)
{
	memset(s, 0, sizeof *s);
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = selector;
	s->present = 1;
	s->dpl = (uint8_t)dpl;
	s->s = 1;
	s->g = 1;
	if (code) {
		s->type = 11; /* execute/read, accessed */
		s->l = 1;
	} else {
		s->type = 3; /* read/write, accessed */
		s->db = 1;
	}
}

void cpu_tables_user_sregs(struct kvm_sregs *sregs, uint64_t cr3, bool xsave)
{
	segment(&sregs->cs, GDT_USER_CODE, 1, 3);
	segment(&sregs->ds, GDT_USER_DATA, 0, 3);
	sregs->es = sregs->fs = sregs->gs = sregs->ss = sregs->ds;
	memset(&sregs->tr, 0, sizeof sregs->tr);
	sregs->tr.base = LAYOUT_TSS;
	sregs->tr.limit = LAYOUT_TSS_LIMIT;
	sregs->tr.type = 11; /* busy 64-bit TSS */
	sregs->tr.present = 1;
	sregs->tr.selector = GDT_TSS;
	memset(&sregs->ldt, 0, sizeof sregs->ldt);
	sregs->ldt.type = 2;
	sregs->ldt.present = 1;
	sregs->ldt.unusable = 1;
	sregs->gdt.base = LAYOUT_GDT;
	sregs->gdt.limit = 8 * 8 - 1;
	sregs->idt.base = LAYOUT_IDT;
	sregs->idt.limit = EXCEPTION_VECTORS * 16 - 1;
	sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs->cr3 = cr3;
	sregs->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | (xsave ? CR4_OSXSAVE : 0);
	sregs->efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
}
