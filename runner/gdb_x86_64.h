/* The x86-64 target as GDB sees it over the remote protocol: the register
 * numbers, sizes and byte offsets of the `g` packet, the target.xml that
 * announces them (gdb's i386 core/sse/linux/segments/avx features), and
 * conversions between that layout and the XSAVE area KVM_GET_XSAVE returns. */
#ifndef TKVM_RUNNER_GDB_X86_64_H
#define TKVM_RUNNER_GDB_X86_64_H
#include <stddef.h>
#include <stdint.h>

/* Register numbers: the order of target.xml, which is the order of the `g`
 * packet and the numbers of `p`/`P`. Same numbering as gdbserver's
 * amd64-avx-linux description. */
enum gdb_x86_64_register {
	GDB_X86_64_RAX, GDB_X86_64_RBX, GDB_X86_64_RCX, GDB_X86_64_RDX,
	GDB_X86_64_RSI, GDB_X86_64_RDI, GDB_X86_64_RBP, GDB_X86_64_RSP,
	GDB_X86_64_R8, GDB_X86_64_R9, GDB_X86_64_R10, GDB_X86_64_R11,
	GDB_X86_64_R12, GDB_X86_64_R13, GDB_X86_64_R14, GDB_X86_64_R15,
	GDB_X86_64_RIP,     /* 16 */
	GDB_X86_64_EFLAGS,  /* 32 bits */
	GDB_X86_64_CS, GDB_X86_64_SS, GDB_X86_64_DS, GDB_X86_64_ES, GDB_X86_64_FS, GDB_X86_64_GS, /* 32 bits each */
	GDB_X86_64_ST0,     /* 24..31: st0..st7, 80-bit extended, in stack order (ST(i), as FXSAVE stores them) */
	GDB_X86_64_FCTRL = GDB_X86_64_ST0 + 8, /* 32 */
	GDB_X86_64_FSTAT, GDB_X86_64_FTAG, /* FTAG is the full 16-bit tag word, not FXSAVE's abridged byte */
	GDB_X86_64_FISEG, GDB_X86_64_FIOFF, GDB_X86_64_FOSEG, GDB_X86_64_FOOFF, GDB_X86_64_FOP,
	GDB_X86_64_XMM0,    /* 40..55: xmm0..xmm15 */
	GDB_X86_64_MXCSR = GDB_X86_64_XMM0 + 16, /* 56 */
	GDB_X86_64_ORIG_RAX, /* 57: Linux's orig_rax (-1 outside a syscall) */
	GDB_X86_64_FS_BASE, GDB_X86_64_GS_BASE,
	GDB_X86_64_YMM0H,   /* 60..75: upper halves of ymm0..ymm15 */
	GDB_X86_64_REGISTER_COUNT = GDB_X86_64_YMM0H + 16
};

/* Size in bytes of all registers in `g` order (little-endian, packed). */
#define GDB_X86_64_REGISTERS_SIZE 816
/* No single register is larger than this. */
#define GDB_X86_64_REGISTER_MAX_SIZE 16

struct gdb_x86_64_register_info {
	const char *name;
	unsigned size;   /* bytes */
	unsigned offset; /* in the `g` buffer */
};

/* Name, size and offset of a register; NULL when regno is out of range. */
const struct gdb_x86_64_register_info *gdb_x86_64_register(unsigned regno);

/* The target description. Writes it (NUL-terminated) into buf when it fits
 * and returns its length; returns -ENOSPC when size is too small (8 KiB is
 * always enough). */
int gdb_x86_64_target_xml(char *buf, size_t size);

/* A register of at most 8 bytes as an integer (zero-extended), and back
 * (truncated to the register's size). Out of range or wider registers:
 * get returns 0 and set does nothing. For the general registers, whose
 * order differs from struct kvm_regs (rbp before rsp). */
uint64_t gdb_x86_64_get(const uint8_t *registers, unsigned regno);
void gdb_x86_64_set(uint8_t *registers, unsigned regno, uint64_t value);

/* The XSAVE area in the standard (non-compacted) format, as KVM_GET_XSAVE
 * returns it (struct kvm_xsave.region): legacy region at 0 (FXSAVE64
 * layout), XSTATE_BV at 512, AVX upper halves at 576. */
#define GDB_X86_64_XSAVE_MIN_SIZE 832

/* Fills the x87 (st0-7, fctrl..fop), SSE (xmm0-15, mxcsr) and AVX (ymm0h-15h)
 * registers of a `g` buffer from an XSAVE area, honouring XSTATE_BV (a
 * component in its init state reads as its init values) and expanding the
 * abridged tag byte into gdb's full tag word. Other registers are left as
 * they are. -EINVAL when xsave_size < GDB_X86_64_XSAVE_MIN_SIZE. */
int gdb_x86_64_from_xsave(uint8_t *registers, const uint8_t *xsave, size_t xsave_size);

/* The reverse, editing an XSAVE area in place (read it with KVM_GET_XSAVE
 * first, write it back with KVM_SET_XSAVE): x87 and SSE are marked present
 * in XSTATE_BV, AVX only when it already was or an upper half is non-zero
 * (a guest without AVX in XCR0 must not get the bit). MXCSR is masked with
 * the area's MXCSR_MASK so that whatever gdb writes, KVM_SET_XSAVE does not
 * refuse it. -EINVAL when xsave_size < GDB_X86_64_XSAVE_MIN_SIZE. */
int gdb_x86_64_to_xsave(const uint8_t *registers, uint8_t *xsave, size_t xsave_size);
#endif
