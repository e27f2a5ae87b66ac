/* The x86-64 register layout GDB expects from a remote stub, its target
 * description (written here from gdb's documented i386 features), and the
 * conversions to and from the XSAVE area that holds x87/SSE/AVX state. */
#include "runner/gdb_x86_64.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct register_description {
	struct gdb_x86_64_register_info info;
	const char *type;  /* a gdb predefined type or one defined in the feature */
	const char *group; /* NULL: gdb's default for the type */
};

/* Invariant: offsets are the running sum of sizes (a unit test checks). */
static const struct register_description registers[GDB_X86_64_REGISTER_COUNT] = {
	{ { "rax", 8, 0 }, "int64", NULL },
	{ { "rbx", 8, 8 }, "int64", NULL },
	{ { "rcx", 8, 16 }, "int64", NULL },
	{ { "rdx", 8, 24 }, "int64", NULL },
	{ { "rsi", 8, 32 }, "int64", NULL },
	{ { "rdi", 8, 40 }, "int64", NULL },
	{ { "rbp", 8, 48 }, "data_ptr", NULL },
	{ { "rsp", 8, 56 }, "data_ptr", NULL },
	{ { "r8", 8, 64 }, "int64", NULL },
	{ { "r9", 8, 72 }, "int64", NULL },
	{ { "r10", 8, 80 }, "int64", NULL },
	{ { "r11", 8, 88 }, "int64", NULL },
	{ { "r12", 8, 96 }, "int64", NULL },
	{ { "r13", 8, 104 }, "int64", NULL },
	{ { "r14", 8, 112 }, "int64", NULL },
	{ { "r15", 8, 120 }, "int64", NULL },
	{ { "rip", 8, 128 }, "code_ptr", NULL },
	{ { "eflags", 4, 136 }, "i386_eflags", NULL },
	{ { "cs", 4, 140 }, "int32", NULL },
	{ { "ss", 4, 144 }, "int32", NULL },
	{ { "ds", 4, 148 }, "int32", NULL },
	{ { "es", 4, 152 }, "int32", NULL },
	{ { "fs", 4, 156 }, "int32", NULL },
	{ { "gs", 4, 160 }, "int32", NULL },
	{ { "st0", 10, 164 }, "i387_ext", NULL },
	{ { "st1", 10, 174 }, "i387_ext", NULL },
	{ { "st2", 10, 184 }, "i387_ext", NULL },
	{ { "st3", 10, 194 }, "i387_ext", NULL },
	{ { "st4", 10, 204 }, "i387_ext", NULL },
	{ { "st5", 10, 214 }, "i387_ext", NULL },
	{ { "st6", 10, 224 }, "i387_ext", NULL },
	{ { "st7", 10, 234 }, "i387_ext", NULL },
	{ { "fctrl", 4, 244 }, "int", "float" },
	{ { "fstat", 4, 248 }, "int", "float" },
	{ { "ftag", 4, 252 }, "int", "float" },
	{ { "fiseg", 4, 256 }, "int", "float" },
	{ { "fioff", 4, 260 }, "int", "float" },
	{ { "foseg", 4, 264 }, "int", "float" },
	{ { "fooff", 4, 268 }, "int", "float" },
	{ { "fop", 4, 272 }, "int", "float" },
	{ { "xmm0", 16, 276 }, "vec128", NULL },
	{ { "xmm1", 16, 292 }, "vec128", NULL },
	{ { "xmm2", 16, 308 }, "vec128", NULL },
	{ { "xmm3", 16, 324 }, "vec128", NULL },
	{ { "xmm4", 16, 340 }, "vec128", NULL },
	{ { "xmm5", 16, 356 }, "vec128", NULL },
	{ { "xmm6", 16, 372 }, "vec128", NULL },
	{ { "xmm7", 16, 388 }, "vec128", NULL },
	{ { "xmm8", 16, 404 }, "vec128", NULL },
	{ { "xmm9", 16, 420 }, "vec128", NULL },
	{ { "xmm10", 16, 436 }, "vec128", NULL },
	{ { "xmm11", 16, 452 }, "vec128", NULL },
	{ { "xmm12", 16, 468 }, "vec128", NULL },
	{ { "xmm13", 16, 484 }, "vec128", NULL },
	{ { "xmm14", 16, 500 }, "vec128", NULL },
	{ { "xmm15", 16, 516 }, "vec128", NULL },
	{ { "mxcsr", 4, 532 }, "i386_mxcsr", "vector" },
	{ { "orig_rax", 8, 536 }, "int", NULL },
	{ { "fs_base", 8, 544 }, "int", NULL },
	{ { "gs_base", 8, 552 }, "int", NULL },
	{ { "ymm0h", 16, 560 }, "uint128", NULL },
	{ { "ymm1h", 16, 576 }, "uint128", NULL },
	{ { "ymm2h", 16, 592 }, "uint128", NULL },
	{ { "ymm3h", 16, 608 }, "uint128", NULL },
	{ { "ymm4h", 16, 624 }, "uint128", NULL },
	{ { "ymm5h", 16, 640 }, "uint128", NULL },
	{ { "ymm6h", 16, 656 }, "uint128", NULL },
	{ { "ymm7h", 16, 672 }, "uint128", NULL },
	{ { "ymm8h", 16, 688 }, "uint128", NULL },
	{ { "ymm9h", 16, 704 }, "uint128", NULL },
	{ { "ymm10h", 16, 720 }, "uint128", NULL },
	{ { "ymm11h", 16, 736 }, "uint128", NULL },
	{ { "ymm12h", 16, 752 }, "uint128", NULL },
	{ { "ymm13h", 16, 768 }, "uint128", NULL },
	{ { "ymm14h", 16, 784 }, "uint128", NULL },
	{ { "ymm15h", 16, 800 }, "uint128", NULL },
};

_Static_assert(sizeof registers / sizeof registers[0] == GDB_X86_64_REGISTER_COUNT, "one entry per register");
_Static_assert(GDB_X86_64_REGISTER_COUNT == 76, "gdbserver's amd64-avx-linux numbering");

const struct gdb_x86_64_register_info *gdb_x86_64_register(unsigned regno)
{
	return regno < GDB_X86_64_REGISTER_COUNT ? &registers[regno].info : NULL;
}

/* Bounded appending for the XML text: after an overflow every append fails. */
struct text {
	char *buf;
	size_t size, length;
	bool overflow;
};

static void append(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(struct text *t, const char *fmt, ...)
{
	if (t->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->length, t->size - t->length, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->size - t->length)
		t->overflow = true;
	else
		t->length += (size_t)n;
}

static void append_registers(struct text *t, unsigned first, unsigned end)
{
	for (unsigned i = first; i < end; i++) {
		const struct register_description *r = &registers[i];
		append(t, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%u\"", r->info.name, r->info.size * 8, r->type, i);
		if (r->group)
			append(t, " group=\"%s\"", r->group);
		append(t, "/>\n");
	}
}

/* Named bits of EFLAGS and MXCSR, as gdb prints them ("[ IF ZF ]"). */
struct flag_field {
	const char *name;
	unsigned bit;
};

static const struct flag_field eflags_fields[] = {
	{ "CF", 0 }, { "PF", 2 }, { "AF", 4 }, { "ZF", 6 }, { "SF", 7 }, { "TF", 8 },
	{ "IF", 9 }, { "DF", 10 }, { "OF", 11 }, { "NT", 14 }, { "RF", 16 }, { "VM", 17 },
	{ "AC", 18 }, { "VIF", 19 }, { "VIP", 20 }, { "ID", 21 },
};

static const struct flag_field mxcsr_fields[] = {
	{ "IE", 0 }, { "DE", 1 }, { "ZE", 2 }, { "OE", 3 }, { "UE", 4 }, { "PE", 5 }, { "DAZ", 6 },
	{ "IM", 7 }, { "DM", 8 }, { "ZM", 9 }, { "OM", 10 }, { "UM", 11 }, { "PM", 12 }, { "FZ", 15 },
};

static void append_flags(struct text *t, const char *id, const struct flag_field *fields, size_t count)
{
	append(t, "<flags id=\"%s\" size=\"4\">\n", id);
	for (size_t i = 0; i < count; i++)
		append(t, "<field name=\"%s\" start=\"%u\" end=\"%u\"/>\n", fields[i].name, fields[i].bit, fields[i].bit);
	append(t, "</flags>\n");
}

int gdb_x86_64_target_xml(char *buf, size_t size)
{
	struct text t = { buf, size, 0, size == 0 };
	append(&t, "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
		   "<architecture>i386:x86-64</architecture>\n<osabi>GNU/Linux</osabi>\n");

	append(&t, "<feature name=\"org.gnu.gdb.i386.core\">\n");
	append_flags(&t, "i386_eflags", eflags_fields, sizeof eflags_fields / sizeof eflags_fields[0]);
	append_registers(&t, GDB_X86_64_RAX, GDB_X86_64_XMM0);
	append(&t, "</feature>\n");

	/* vec128 without gdb 12's bfloat16/half members, so older gdbs parse it too. */
	append(&t, "<feature name=\"org.gnu.gdb.i386.sse\">\n"
		   "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
		   "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
		   "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
		   "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
		   "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
		   "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
		   "<union id=\"vec128\">\n"
		   "<field name=\"v4_float\" type=\"v4f\"/>\n"
		   "<field name=\"v2_double\" type=\"v2d\"/>\n"
		   "<field name=\"v16_int8\" type=\"v16i8\"/>\n"
		   "<field name=\"v8_int16\" type=\"v8i16\"/>\n"
		   "<field name=\"v4_int32\" type=\"v4i32\"/>\n"
		   "<field name=\"v2_int64\" type=\"v2i64\"/>\n"
		   "<field name=\"uint128\" type=\"uint128\"/>\n"
		   "</union>\n");
	append_flags(&t, "i386_mxcsr", mxcsr_fields, sizeof mxcsr_fields / sizeof mxcsr_fields[0]);
	append_registers(&t, GDB_X86_64_XMM0, GDB_X86_64_ORIG_RAX);
	append(&t, "</feature>\n");

	append(&t, "<feature name=\"org.gnu.gdb.i386.linux\">\n");
	append_registers(&t, GDB_X86_64_ORIG_RAX, GDB_X86_64_FS_BASE);
	append(&t, "</feature>\n<feature name=\"org.gnu.gdb.i386.segments\">\n");
	append_registers(&t, GDB_X86_64_FS_BASE, GDB_X86_64_YMM0H);
	append(&t, "</feature>\n<feature name=\"org.gnu.gdb.i386.avx\">\n");
	append_registers(&t, GDB_X86_64_YMM0H, GDB_X86_64_REGISTER_COUNT);
	append(&t, "</feature>\n</target>\n");
	if (t.overflow)
		return -ENOSPC;
	return (int)t.length;
}

/* Little-endian loads and stores of 1..8 bytes. */
static uint64_t load(const uint8_t *p, unsigned size)
{
	uint64_t value = 0;
	for (unsigned i = size; i-- > 0;)
		value = value << 8 | p[i];
	return value;
}

static void store(uint8_t *p, unsigned size, uint64_t value)
{
	for (unsigned i = 0; i < size; i++, value >>= 8)
		p[i] = (uint8_t)value;
}

uint64_t gdb_x86_64_get(const uint8_t *buffer, unsigned regno)
{
	const struct gdb_x86_64_register_info *r = gdb_x86_64_register(regno);
	if (!r || r->size > 8)
		return 0;
	return load(buffer + r->offset, r->size);
}

void gdb_x86_64_set(uint8_t *buffer, unsigned regno, uint64_t value)
{
	const struct gdb_x86_64_register_info *r = gdb_x86_64_register(regno);
	if (r && r->size <= 8)
		store(buffer + r->offset, r->size, value);
}

/* The XSAVE legacy region (FXSAVE64 layout) and header. */
enum {
	XSAVE_FCW = 0, XSAVE_FSW = 2, XSAVE_FTW = 4, XSAVE_FOP = 6,
	XSAVE_FIP = 8, XSAVE_FDP = 16, XSAVE_MXCSR = 24, XSAVE_MXCSR_MASK = 28,
	XSAVE_ST0 = 32, XSAVE_XMM0 = 160, XSAVE_XSTATE_BV = 512, XSAVE_YMM_HI = 576,
};
enum { XFEATURE_X87 = 1, XFEATURE_SSE = 2, XFEATURE_AVX = 4 };
/* MXCSR bits every SSE CPU accepts, for an area whose MXCSR_MASK is 0. */
#define DEFAULT_MXCSR_MASK 0xFFBFu

_Static_assert(GDB_X86_64_XSAVE_MIN_SIZE == XSAVE_YMM_HI + 16 * 16, "the area must reach the last AVX half");

/* gdb's tag for one x87 register whose abridged tag says "not empty":
 * 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unnormal). */
static unsigned x87_tag(const uint8_t *value)
{
	unsigned exponent = (unsigned)(value[9] & 0x7f) << 8 | value[8];
	bool integer_bit = value[7] & 0x80;
	if (exponent == 0x7fff)
		return 2;
	if (exponent == 0) {
		bool fraction_zero = !integer_bit && load(value, 8) == 0;
		return fraction_zero ? 1 : 2;
	}
	return integer_bit ? 0 : 2;
}

int gdb_x86_64_from_xsave(uint8_t *buffer, const uint8_t *xsave, size_t xsave_size)
{
	if (!buffer || !xsave || xsave_size < GDB_X86_64_XSAVE_MIN_SIZE)
		return -EINVAL;
	uint64_t present = load(xsave + XSAVE_XSTATE_BV, 8);

	/* x87: absent means FNINIT's state (control word 0x37f, all empty). */
	uint8_t x87[XSAVE_XMM0];
	memset(x87, 0, sizeof x87);
	if (present & XFEATURE_X87)
		memcpy(x87, xsave, sizeof x87);
	else
		store(x87 + XSAVE_FCW, 2, 0x037f);
	for (unsigned i = 0; i < 8; i++)
		memcpy(buffer + registers[GDB_X86_64_ST0 + i].info.offset, x87 + XSAVE_ST0 + 16 * i, 10);
	uint64_t status = load(x87 + XSAVE_FSW, 2);
	unsigned top = (unsigned)(status >> 11) & 7, abridged = x87[XSAVE_FTW], full_tag = 0;
	for (unsigned physical = 0; physical < 8; physical++) {
		unsigned tag = 3; /* empty */
		if (abridged & (1u << physical))
			tag = x87_tag(x87 + XSAVE_ST0 + 16 * ((physical - top) & 7));
		full_tag |= tag << (2 * physical);
	}
	gdb_x86_64_set(buffer, GDB_X86_64_FCTRL, load(x87 + XSAVE_FCW, 2));
	gdb_x86_64_set(buffer, GDB_X86_64_FSTAT, status);
	gdb_x86_64_set(buffer, GDB_X86_64_FTAG, full_tag);
	/* In 64-bit mode FIP/FDP are 64-bit: gdb shows their high halves as the "segments". */
	gdb_x86_64_set(buffer, GDB_X86_64_FIOFF, load(x87 + XSAVE_FIP, 4));
	gdb_x86_64_set(buffer, GDB_X86_64_FISEG, load(x87 + XSAVE_FIP + 4, 4));
	gdb_x86_64_set(buffer, GDB_X86_64_FOOFF, load(x87 + XSAVE_FDP, 4));
	gdb_x86_64_set(buffer, GDB_X86_64_FOSEG, load(x87 + XSAVE_FDP + 4, 4));
	gdb_x86_64_set(buffer, GDB_X86_64_FOP, load(x87 + XSAVE_FOP, 2) & 0x7ff);

	/* MXCSR is saved whenever SSE or AVX is requested, present or not. */
	gdb_x86_64_set(buffer, GDB_X86_64_MXCSR, load(xsave + XSAVE_MXCSR, 4));
	for (unsigned i = 0; i < 16; i++) {
		uint8_t *xmm = buffer + registers[GDB_X86_64_XMM0 + i].info.offset;
		uint8_t *ymmh = buffer + registers[GDB_X86_64_YMM0H + i].info.offset;
		if (present & XFEATURE_SSE)
			memcpy(xmm, xsave + XSAVE_XMM0 + 16 * i, 16);
		else
			memset(xmm, 0, 16);
		if (present & XFEATURE_AVX)
			memcpy(ymmh, xsave + XSAVE_YMM_HI + 16 * i, 16);
		else
			memset(ymmh, 0, 16);
	}
	return 0;
}

int gdb_x86_64_to_xsave(const uint8_t *buffer, uint8_t *xsave, size_t xsave_size)
{
	if (!buffer || !xsave || xsave_size < GDB_X86_64_XSAVE_MIN_SIZE)
		return -EINVAL;
	uint64_t present = load(xsave + XSAVE_XSTATE_BV, 8);
	if (!(present & XFEATURE_X87))
		memset(xsave, 0, XSAVE_MXCSR); /* bytes of an absent component are stale */

	for (unsigned i = 0; i < 8; i++) {
		memcpy(xsave + XSAVE_ST0 + 16 * i, buffer + registers[GDB_X86_64_ST0 + i].info.offset, 10);
		memset(xsave + XSAVE_ST0 + 16 * i + 10, 0, 6);
	}
	uint64_t full_tag = gdb_x86_64_get(buffer, GDB_X86_64_FTAG);
	unsigned abridged = 0;
	for (unsigned physical = 0; physical < 8; physical++)
		if (((full_tag >> (2 * physical)) & 3) != 3)
			abridged |= 1u << physical;
	store(xsave + XSAVE_FCW, 2, gdb_x86_64_get(buffer, GDB_X86_64_FCTRL));
	store(xsave + XSAVE_FSW, 2, gdb_x86_64_get(buffer, GDB_X86_64_FSTAT));
	xsave[XSAVE_FTW] = (uint8_t)abridged;
	store(xsave + XSAVE_FOP, 2, gdb_x86_64_get(buffer, GDB_X86_64_FOP) & 0x7ff);
	store(xsave + XSAVE_FIP, 4, gdb_x86_64_get(buffer, GDB_X86_64_FIOFF));
	store(xsave + XSAVE_FIP + 4, 4, gdb_x86_64_get(buffer, GDB_X86_64_FISEG));
	store(xsave + XSAVE_FDP, 4, gdb_x86_64_get(buffer, GDB_X86_64_FOOFF));
	store(xsave + XSAVE_FDP + 4, 4, gdb_x86_64_get(buffer, GDB_X86_64_FOSEG));

	uint32_t mask = (uint32_t)load(xsave + XSAVE_MXCSR_MASK, 4);
	if (mask == 0)
		mask = DEFAULT_MXCSR_MASK;
	store(xsave + XSAVE_MXCSR, 4, gdb_x86_64_get(buffer, GDB_X86_64_MXCSR) & mask);

	bool avx_used = false;
	for (unsigned i = 0; i < 16; i++) {
		const uint8_t *ymmh = buffer + registers[GDB_X86_64_YMM0H + i].info.offset;
		memcpy(xsave + XSAVE_XMM0 + 16 * i, buffer + registers[GDB_X86_64_XMM0 + i].info.offset, 16);
		for (unsigned j = 0; j < 16; j++)
			avx_used |= ymmh[j] != 0;
	}
	if ((present & XFEATURE_AVX) || avx_used) {
		for (unsigned i = 0; i < 16; i++)
			memcpy(xsave + XSAVE_YMM_HI + 16 * i, buffer + registers[GDB_X86_64_YMM0H + i].info.offset, 16);
		present |= XFEATURE_AVX;
	}
	present |= XFEATURE_X87 | XFEATURE_SSE;
	store(xsave + XSAVE_XSTATE_BV, 8, present);
	return 0;
}
