/* Unit tests of the ELF loader (runner/elf.c) and symbol table
 * (runner/elf_symbols.c): a minimal executable built in memory, then broken
 * one field at a time; real binaries when TKVM_TEST_STATIC_ELF names one. */
#include "runner/elf.h"
#include "tests/lib/tap.h"
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Layout of the test executable (offsets in the file):
 *   0x000 ELF header
 *   0x040 program headers (TEST_PHDR_SLOTS)
 *   0x180 code       -> vaddr 0x400180 (segment 0: offset 0, R+X, 0x400000..0x4001a0)
 *   0x200 data       -> vaddr 0x401200 (segment 1: 0x20 bytes in the file, memsz 0x100, R+W)
 *   0x220 .strtab
 *   0x260 .symtab    (5 symbols)
 *   0x2e0 section headers (4)
 *   0x380 spare bytes used by individual tests (an interpreter path, a dynamic table) */
#define TEST_PHDR_SLOTS 4
#define TEXT_VADDR 0x400000ull
#define CODE_OFFSET 0x180
#define CODE_SIZE 0x20
#define TEXT_FILESZ (CODE_OFFSET + CODE_SIZE)
#define ENTRY (TEXT_VADDR + CODE_OFFSET)
#define DATA_OFFSET 0x200
#define DATA_VADDR 0x401200ull
#define DATA_FILESZ 0x20
#define DATA_MEMSZ 0x100
#define STRTAB_OFFSET 0x220
#define SYMTAB_OFFSET 0x260
#define SYMBOL_COUNT 5
#define SHDR_OFFSET 0x2e0
#define SECTION_COUNT 4
#define SPARE_OFFSET 0x3e0
#define TEST_FILE_SIZE 0x480
/* Every byte past the data segment belongs to the section table or spare
 * space: truncating there still leaves a loadable file. */
#define LOADABLE_PREFIX (DATA_OFFSET + DATA_FILESZ)

struct test_elf {
	_Alignas(8) uint8_t bytes[TEST_FILE_SIZE];
	size_t size;
};

static Elf64_Ehdr *header_of(struct test_elf *elf) { return (Elf64_Ehdr *)elf->bytes; }
static Elf64_Phdr *phdr_of(struct test_elf *elf, unsigned index)
{
	return (Elf64_Phdr *)(elf->bytes + sizeof(Elf64_Ehdr)) + index;
}
static Elf64_Shdr *shdr_of(struct test_elf *elf, unsigned index) { return (Elf64_Shdr *)(elf->bytes + SHDR_OFFSET) + index; }
static Elf64_Sym *symbol_of(struct test_elf *elf, unsigned index) { return (Elf64_Sym *)(elf->bytes + SYMTAB_OFFSET) + index; }

static const char test_strings[] = "\0main\0counter\0_start\0helper\0";
enum { NAME_MAIN = 1, NAME_COUNTER = 6, NAME_START = 14, NAME_HELPER = 21 };

static void build_test_elf(struct test_elf *elf)
{
	memset(elf, 0, sizeof *elf);
	elf->size = TEST_FILE_SIZE;
	Elf64_Ehdr *h = header_of(elf);
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_EXEC;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_entry = ENTRY;
	h->e_phoff = sizeof(Elf64_Ehdr);
	h->e_shoff = SHDR_OFFSET;
	h->e_ehsize = sizeof(Elf64_Ehdr);
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = TEST_PHDR_SLOTS;
	h->e_shentsize = sizeof(Elf64_Shdr);
	h->e_shnum = SECTION_COUNT;

	*phdr_of(elf, 0) = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0,
					 .p_vaddr = TEXT_VADDR, .p_paddr = TEXT_VADDR, .p_filesz = TEXT_FILESZ,
					 .p_memsz = TEXT_FILESZ, .p_align = 0x1000};
	*phdr_of(elf, 1) = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_W, .p_offset = DATA_OFFSET,
					 .p_vaddr = DATA_VADDR, .p_paddr = DATA_VADDR, .p_filesz = DATA_FILESZ,
					 .p_memsz = DATA_MEMSZ, .p_align = 0x1000};
	*phdr_of(elf, 2) = (Elf64_Phdr){.p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W, .p_align = 16};
	*phdr_of(elf, 3) = (Elf64_Phdr){.p_type = PT_NULL};

	/* exit(0): mov $60,%eax; xor %edi,%edi; syscall */
	static const uint8_t code[] = {0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05};
	memcpy(elf->bytes + CODE_OFFSET, code, sizeof code);
	for (unsigned i = 0; i < DATA_FILESZ; i++)
		elf->bytes[DATA_OFFSET + i] = (uint8_t)(0x10 + i);

	memcpy(elf->bytes + STRTAB_OFFSET, test_strings, sizeof test_strings);
	*symbol_of(elf, 1) = (Elf64_Sym){.st_name = NAME_MAIN, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
					 .st_shndx = 1, .st_value = ENTRY + 0x10, .st_size = 0x10};
	*symbol_of(elf, 2) = (Elf64_Sym){.st_name = NAME_COUNTER, .st_info = ELF64_ST_INFO(STB_LOCAL, STT_OBJECT),
					 .st_shndx = 1, .st_value = DATA_VADDR, .st_size = 4};
	*symbol_of(elf, 3) = (Elf64_Sym){.st_name = NAME_START, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
					 .st_shndx = 1, .st_value = ENTRY, .st_size = 0};
	/* An undefined symbol: never listed. */
	*symbol_of(elf, 4) = (Elf64_Sym){.st_name = NAME_HELPER, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
					 .st_shndx = SHN_UNDEF, .st_value = 0, .st_size = 0};
	*shdr_of(elf, 1) = (Elf64_Shdr){.sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
					.sh_addr = ENTRY, .sh_offset = CODE_OFFSET, .sh_size = CODE_SIZE};
	*shdr_of(elf, 2) = (Elf64_Shdr){.sh_type = SHT_SYMTAB, .sh_offset = SYMTAB_OFFSET,
					.sh_size = SYMBOL_COUNT * sizeof(Elf64_Sym), .sh_link = 3, .sh_info = 2,
					.sh_entsize = sizeof(Elf64_Sym), .sh_addralign = 8};
	*shdr_of(elf, 3) = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = STRTAB_OFFSET, .sh_size = sizeof test_strings,
					.sh_addralign = 1};
}

/* Parses and expects failure with code and a message containing needle. */
static void check_rejected(struct test_elf *elf, int code, const char *needle)
{
	struct elf_image image;
	struct tkvm_error err = {0};
	int rc = elf_parse(elf->bytes, elf->size, &image, &err);
	CHECK_INT(rc, code);
	CHECK_INT(err.code, code);
	CHECK_CONTAINS(err.message, needle);
}

static void test_valid_file_parses(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK_STR(err.message, "");
	CHECK(!image.position_independent);
	CHECK_INT(image.entry, ENTRY);
	CHECK_INT(image.segment_count, 2);
	CHECK_INT(image.segments[0].vaddr, TEXT_VADDR);
	CHECK_INT(image.segments[0].flags, ELF_SEGMENT_READ | ELF_SEGMENT_EXEC);
	CHECK_INT(image.segments[1].vaddr, DATA_VADDR);
	CHECK_INT(image.segments[1].memsz, DATA_MEMSZ);
	CHECK_INT(image.segments[1].filesz, DATA_FILESZ);
	CHECK_INT(image.segments[1].offset, DATA_OFFSET);
	CHECK_INT(image.segments[1].flags, ELF_SEGMENT_READ | ELF_SEGMENT_WRITE);
	CHECK_INT(image.lowest_vaddr, TEXT_VADDR);
	CHECK_INT(image.highest_vaddr, 0x402000);
	CHECK_INT(image.phnum, TEST_PHDR_SLOTS);
	CHECK_INT(image.phentsize, sizeof(Elf64_Phdr));
	/* No PT_PHDR: found through the segment that loads file offset 0x40. */
	CHECK_INT(image.phdr_vaddr, TEXT_VADDR + sizeof(Elf64_Ehdr));
	CHECK(!image.executable_stack);
}

static void test_segments_sorted_by_address(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	Elf64_Phdr text = *phdr_of(&elf, 0);
	*phdr_of(&elf, 0) = *phdr_of(&elf, 1);
	*phdr_of(&elf, 1) = text;
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK_INT(image.segments[0].vaddr, TEXT_VADDR);
	CHECK_INT(image.segments[1].vaddr, DATA_VADDR);
}

static void test_every_truncation_is_rejected(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	int unexpected = 0;
	for (size_t length = 0; length < TEST_FILE_SIZE; length++) {
		struct elf_image image;
		struct tkvm_error err = {0};
		int rc = elf_parse(elf.bytes, length, &image, &err);
		bool should_load = length >= LOADABLE_PREFIX;
		if ((rc == 0) != should_load || (rc != 0 && err.message[0] == 0)) {
			if (unexpected++ < 5)
				printf("# length %zu: rc %d, message \"%s\"\n", length, rc, err.message);
		}
	}
	CHECK_INT(unexpected, 0);

	elf.size = 12;
	check_rejected(&elf, -ENOEXEC, "file is truncated (12 bytes, the ELF header needs 64)");
	elf.size = 0;
	check_rejected(&elf, -ENOEXEC, "file is empty");
	elf.size = 3;
	check_rejected(&elf, -ENOEXEC, "file is truncated (3 bytes, the ELF header needs 64)");
	elf.size = 100;
	check_rejected(&elf, -ENOEXEC, "program headers (e_phoff 0x40, 4 entries of 56 bytes) extend past the end of the file");
	elf.size = DATA_OFFSET + 4;
	check_rejected(&elf, -ENOEXEC, "segment 1 (vaddr 0x401200, memsz 0x100) extends past the end of the file (offset 0x200, filesz 0x20, file size 0x204)");
}

static void test_wrong_identity_is_rejected(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	elf.bytes[1] = 'L';
	check_rejected(&elf, -ENOEXEC, "not an ELF file");

	memcpy(elf.bytes, "#!", 2); /* a script, shorter than the magic */
	elf.size = 2;
	check_rejected(&elf, -ENOEXEC, "not an ELF file");

	build_test_elf(&elf);
	elf.bytes[EI_CLASS] = ELFCLASS32;
	check_rejected(&elf, -ENOEXEC, "class is 1 (32-bit)");

	build_test_elf(&elf);
	elf.bytes[EI_DATA] = ELFDATA2MSB;
	check_rejected(&elf, -ENOEXEC, "byte order is 2 (big-endian), not little-endian");

	build_test_elf(&elf);
	elf.bytes[EI_VERSION] = 7;
	check_rejected(&elf, -ENOEXEC, "identification version is 7");

	build_test_elf(&elf);
	header_of(&elf)->e_version = 2;
	check_rejected(&elf, -ENOEXEC, "e_version is 2");

	build_test_elf(&elf);
	header_of(&elf)->e_machine = EM_ARM;
	check_rejected(&elf, -ENOEXEC, "ELF: machine is 0x28 (ARM), not x86-64");

	build_test_elf(&elf);
	header_of(&elf)->e_machine = EM_AARCH64;
	check_rejected(&elf, -ENOEXEC, "machine is 0xb7 (AArch64)");

	build_test_elf(&elf);
	header_of(&elf)->e_type = ET_REL;
	check_rejected(&elf, -ENOEXEC, "relocatable object");

	build_test_elf(&elf);
	header_of(&elf)->e_type = ET_CORE;
	check_rejected(&elf, -ENOEXEC, "type is 4 (a core dump)");

	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(NULL, 0, &image, &err), -EINVAL);
}

static void test_program_header_table_bounds(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	header_of(&elf)->e_phoff = TEST_FILE_SIZE;
	check_rejected(&elf, -ENOEXEC, "program headers (e_phoff 0x480");

	build_test_elf(&elf);
	header_of(&elf)->e_phoff = UINT64_MAX - 8; /* offset + size wraps */
	check_rejected(&elf, -ENOEXEC, "extend past the end of the file");

	build_test_elf(&elf);
	header_of(&elf)->e_phnum = 0xffff;
	check_rejected(&elf, -ENOEXEC, "65535 entries of 56 bytes) extend past the end of the file (file size 0x480)");

	build_test_elf(&elf);
	header_of(&elf)->e_phnum = 0;
	check_rejected(&elf, -ENOEXEC, "no program headers");

	build_test_elf(&elf);
	header_of(&elf)->e_phentsize = 32;
	check_rejected(&elf, -ENOEXEC, "e_phentsize is 32, expected 56");
}

static void test_segment_fields_are_checked(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_filesz = 0x1000;
	phdr_of(&elf, 1)->p_memsz = 0x1000;
	check_rejected(&elf, -ENOEXEC, "segment 1 (vaddr 0x401200, memsz 0x1000) extends past the end of the file (offset 0x200, filesz 0x1000, file size 0x480)");

	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_offset = UINT64_MAX - 0xf; /* offset + filesz wraps to a small number */
	phdr_of(&elf, 1)->p_align = 0;
	check_rejected(&elf, -ENOEXEC, "extends past the end of the file");

	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_filesz = DATA_MEMSZ + 1;
	check_rejected(&elf, -ENOEXEC, "segment 1 (vaddr 0x401200) has filesz 0x101 larger than memsz 0x100");

	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_memsz = UINT64_MAX - 0x100; /* vaddr + memsz wraps */
	check_rejected(&elf, -ENOEXEC, "reaches past the 47-bit user address space");

	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = (1ull << 47) - 0x1000 + 0x200;
	phdr_of(&elf, 1)->p_memsz = 0x1000;
	check_rejected(&elf, -ENOEXEC, "segment 1 (vaddr 0x7ffffffff200, memsz 0x1000) reaches past the 47-bit");

	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = UINT64_MAX - 0xdff; /* same offset in the page, beyond 2^47 */
	check_rejected(&elf, -ENOEXEC, "47-bit");

	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_align = 0x1800;
	check_rejected(&elf, -ENOEXEC, "p_align 0x1800, not a power of two");

	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = DATA_VADDR + 8;
	check_rejected(&elf, -ENOEXEC, "segment 1 has p_offset 0x200 and p_vaddr 0x401208 that differ modulo p_align 0x1000");

	/* p_align 0 or 1 means no constraint. */
	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = DATA_VADDR + 8;
	phdr_of(&elf, 1)->p_align = 1;
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
}

static void test_empty_segments_are_ignored(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	*phdr_of(&elf, 3) = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R, .p_vaddr = 0x400100, .p_align = 0x1000};
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK_INT(image.segment_count, 2);

	build_test_elf(&elf);
	phdr_of(&elf, 0)->p_type = PT_NULL;
	phdr_of(&elf, 1)->p_type = PT_NULL;
	check_rejected(&elf, -ENOEXEC, "no loadable segments");
}

static void test_overlapping_segments_are_rejected(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = TEXT_VADDR + 0x100; /* inside the text bytes */
	phdr_of(&elf, 1)->p_align = 0;
	check_rejected(&elf, -ENOEXEC, "segment 0 (vaddr 0x400000, memsz 0x1a0) overlaps segment 1 (vaddr 0x400100, memsz 0x100)");

	/* Identical segments overlap too. */
	build_test_elf(&elf);
	*phdr_of(&elf, 3) = *phdr_of(&elf, 1);
	check_rejected(&elf, -ENOEXEC, "overlaps segment 3");

	/* Sharing a boundary page is fine: data starts where text ends. */
	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = TEXT_VADDR + DATA_OFFSET;
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK_STR(err.message, "");
	CHECK_INT(image.lowest_vaddr, TEXT_VADDR);
	CHECK_INT(image.highest_vaddr, TEXT_VADDR + 0x1000);
	CHECK_INT(elf_check_placement(&image, 0, 0x200000, 0x10000000, &err), 0);

	/* Even exactly adjacent segments (end == next start). */
	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = TEXT_VADDR + TEXT_FILESZ;
	phdr_of(&elf, 1)->p_align = 0;
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
}

static void test_too_many_segments(void)
{
	/* 40 one-page segments, all empty in the file. */
	enum { COUNT = 40 };
	size_t size = sizeof(Elf64_Ehdr) + COUNT * sizeof(Elf64_Phdr);
	uint8_t *bytes = calloc(1, size);
	struct test_elf elf;
	build_test_elf(&elf);
	Elf64_Ehdr header = *header_of(&elf);
	header.e_phnum = COUNT;
	header.e_shoff = 0;
	header.e_shnum = 0;
	memcpy(bytes, &header, sizeof header);
	for (unsigned i = 0; i < COUNT; i++) {
		Elf64_Phdr ph = {.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_vaddr = TEXT_VADDR + i * 0x1000ull,
				 .p_memsz = 0x1000, .p_align = 0x1000};
		memcpy(bytes + sizeof header + i * sizeof ph, &ph, sizeof ph);
	}
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(bytes, size, &image, &err), -ENOEXEC);
	CHECK_CONTAINS(err.message, "more than 32 loadable segments (program header 32)");
	free(bytes);
}

static void test_image_span_is_capped(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	phdr_of(&elf, 1)->p_vaddr = DATA_VADDR + (5ull << 30);
	check_rejected(&elf, -ENOEXEC, "more than the 4 GiB limit");
}

static void test_entry_point_is_checked(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	header_of(&elf)->e_entry = 0x500000;
	check_rejected(&elf, -ENOEXEC, "ELF: entry point 0x500000 is outside every loadable segment");

	build_test_elf(&elf);
	header_of(&elf)->e_entry = TEXT_VADDR + TEXT_FILESZ; /* one past the end */
	check_rejected(&elf, -ENOEXEC, "outside every loadable segment");

	build_test_elf(&elf);
	header_of(&elf)->e_entry = DATA_VADDR + 4;
	check_rejected(&elf, -ENOEXEC, "entry point 0x401204 is in segment 1 (vaddr 0x401200, memsz 0x100), which is not executable");
}

static void test_dynamic_executables_are_rejected(void)
{
	static const char interpreter[] = "/lib64/ld-linux-x86-64.so.2";
	struct test_elf elf;
	build_test_elf(&elf);
	memcpy(elf.bytes + SPARE_OFFSET, interpreter, sizeof interpreter);
	*phdr_of(&elf, 3) = (Elf64_Phdr){.p_type = PT_INTERP, .p_flags = PF_R, .p_offset = SPARE_OFFSET,
					 .p_filesz = sizeof interpreter, .p_memsz = sizeof interpreter, .p_align = 1};
	check_rejected(&elf, -ENOTSUP, "dynamic executables are not supported yet (link with -static or -static-pie)");
	check_rejected(&elf, -ENOTSUP, "PT_INTERP /lib64/ld-linux-x86-64.so.2");

	/* Even a PT_INTERP pointing nowhere says "dynamic", not something obscure. */
	phdr_of(&elf, 3)->p_offset = UINT64_MAX;
	check_rejected(&elf, -ENOTSUP, "dynamic executables are not supported yet");

	/* No interpreter but shared libraries needed. */
	build_test_elf(&elf);
	Elf64_Dyn dynamic[] = {{.d_tag = DT_DEBUG}, {.d_tag = DT_NEEDED, .d_un.d_val = 1}, {.d_tag = DT_NULL}};
	memcpy(elf.bytes + SPARE_OFFSET, dynamic, sizeof dynamic);
	*phdr_of(&elf, 3) = (Elf64_Phdr){.p_type = PT_DYNAMIC, .p_flags = PF_R | PF_W, .p_offset = SPARE_OFFSET,
					 .p_filesz = sizeof dynamic, .p_align = 8};
	check_rejected(&elf, -ENOTSUP, "dynamic executables are not supported yet (link with -static or -static-pie)");
	check_rejected(&elf, -ENOTSUP, "DT_NEEDED");

	/* DT_NEEDED after DT_NULL does not count. */
	dynamic[1].d_tag = DT_NULL;
	dynamic[2].d_tag = DT_NEEDED;
	memcpy(elf.bytes + SPARE_OFFSET, dynamic, sizeof dynamic);
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);

	phdr_of(&elf, 3)->p_filesz = 0x10000;
	check_rejected(&elf, -ENOEXEC, "PT_DYNAMIC (program header 3, offset 0x3e0, filesz 0x10000) extends past the end of the file");
}

static void test_static_pie_is_detected(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	header_of(&elf)->e_type = ET_DYN;
	/* A static-pie has a PT_DYNAMIC with its own relocations, no DT_NEEDED. */
	Elf64_Dyn dynamic[] = {{.d_tag = DT_RELA, .d_un.d_ptr = 0x1000}, {.d_tag = DT_FLAGS_1, .d_un.d_val = DF_1_PIE},
			       {.d_tag = DT_NULL}};
	memcpy(elf.bytes + SPARE_OFFSET, dynamic, sizeof dynamic);
	*phdr_of(&elf, 3) = (Elf64_Phdr){.p_type = PT_DYNAMIC, .p_flags = PF_R | PF_W, .p_offset = SPARE_OFFSET,
					 .p_filesz = sizeof dynamic, .p_align = 8};
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK(image.position_independent);

	build_test_elf(&elf);
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK(!image.position_independent);
}

static void test_program_header_address(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	*phdr_of(&elf, 3) = (Elf64_Phdr){.p_type = PT_PHDR, .p_flags = PF_R, .p_offset = sizeof(Elf64_Ehdr),
					 .p_vaddr = TEXT_VADDR + sizeof(Elf64_Ehdr),
					 .p_filesz = TEST_PHDR_SLOTS * sizeof(Elf64_Phdr), .p_align = 8};
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK_INT(image.phdr_vaddr, TEXT_VADDR + sizeof(Elf64_Ehdr));

	phdr_of(&elf, 3)->p_vaddr = 0x900000;
	check_rejected(&elf, -ENOEXEC, "PT_PHDR (program header 3, vaddr 0x900000) does not lie inside a loadable segment");

	/* Without PT_PHDR and with the headers outside every segment: 0. */
	build_test_elf(&elf);
	phdr_of(&elf, 0)->p_offset = CODE_OFFSET;
	phdr_of(&elf, 0)->p_vaddr = ENTRY;
	phdr_of(&elf, 0)->p_filesz = CODE_SIZE;
	phdr_of(&elf, 0)->p_memsz = CODE_SIZE;
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK_INT(image.phdr_vaddr, 0);
}

static void test_informational_headers(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	phdr_of(&elf, 2)->p_flags |= PF_X;
	*phdr_of(&elf, 3) = (Elf64_Phdr){.p_type = PT_TLS, .p_flags = PF_R, .p_offset = DATA_OFFSET, .p_vaddr = DATA_VADDR,
					 .p_filesz = 8, .p_memsz = 0x18, .p_align = 8};
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK(image.executable_stack);
	CHECK_INT(image.tls_vaddr, DATA_VADDR);
	CHECK_INT(image.tls_memsz, 0x18);
	CHECK_INT(image.tls_align, 8);
}

static void test_placement_is_checked(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	CHECK_INT(elf_check_placement(&image, 0, 0x200000, 0x10000000, &err), 0);
	CHECK_INT(elf_check_placement(&image, 0, TEXT_VADDR, 0x402000, &err), 0);

	CHECK_INT(elf_check_placement(&image, 0, 0x500000, 0x10000000, &err), -ERANGE);
	CHECK_CONTAINS(err.message, "segment at vaddr 0x400000 (memsz 0x1a0) would occupy guest memory 0x400000-0x401000, outside the usable range 0x500000-0x10000000");

	CHECK_INT(elf_check_placement(&image, 0, 0x200000, 0x401fff, &err), -ERANGE);
	CHECK_CONTAINS(err.message, "segment at vaddr 0x401200 (memsz 0x100) would occupy guest memory 0x401000-0x402000");

	CHECK_INT(elf_check_placement(&image, 0x10000000, 0x200000, 0x10000000, &err), -ERANGE);
	CHECK_CONTAINS(err.message, "0x10400000-0x10401000");

	CHECK_INT(elf_check_placement(&image, UINT64_MAX - 0x1000, 0, UINT64_MAX, &err), -ERANGE);
	CHECK_CONTAINS(err.message, "overflows the address space with load bias");

	struct elf_image empty = {0};
	CHECK_INT(elf_check_placement(&empty, 0, 0, UINT64_MAX, &err), -EINVAL);
}

static void test_load_copies_and_zeroes_bss(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	header_of(&elf)->e_type = ET_DYN;
	struct elf_image image;
	struct tkvm_error err = {0};
	CHECK_INT(elf_parse(elf.bytes, elf.size, &image, &err), 0);
	const uint64_t bias = 0x100000, memory_size = 0x600000;
	CHECK_INT(elf_check_placement(&image, bias, 0x200000, memory_size, &err), 0);
	uint8_t *memory = malloc(memory_size);
	if (!memory) {
		CHECK(memory != NULL);
		return;
	}
	memset(memory, 0xaa, memory_size);
	elf_load_segments(&image, elf.bytes, memory, bias);

	CHECK(memcmp(memory + TEXT_VADDR + bias, elf.bytes, TEXT_FILESZ) == 0);
	CHECK_INT(memory[TEXT_VADDR + bias + TEXT_FILESZ], 0xaa); /* text has no bss: untouched */
	CHECK(memcmp(memory + DATA_VADDR + bias, elf.bytes + DATA_OFFSET, DATA_FILESZ) == 0);
	int nonzero_bss = 0;
	for (uint64_t i = DATA_FILESZ; i < DATA_MEMSZ; i++)
		nonzero_bss += memory[DATA_VADDR + bias + i] != 0;
	CHECK_INT(nonzero_bss, 0);
	/* Exactly the bss: the rest of the page may belong to a neighbour. */
	CHECK_INT(memory[DATA_VADDR + bias + DATA_MEMSZ], 0xaa);
	CHECK_INT(memory[DATA_VADDR + bias - 1], 0xaa);
	free(memory);
}

/* Every byte of the headers set to a few hostile values: the parser either
 * accepts a still-sane file or says why not; loading what it accepts stays
 * inside the placement it checked (ASan watches). */
static void test_single_byte_corruptions(void)
{
	const size_t memory_size = 64ull << 20;
	uint8_t *memory = mmap(NULL, memory_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (memory == MAP_FAILED) {
		CHECK(memory != MAP_FAILED);
		return;
	}
	static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	int silent_failures = 0, accepted = 0;
	for (size_t offset = 0; offset < sizeof(Elf64_Ehdr) + TEST_PHDR_SLOTS * sizeof(Elf64_Phdr); offset++) {
		for (unsigned v = 0; v < sizeof values; v++) {
			struct test_elf elf;
			build_test_elf(&elf);
			elf.bytes[offset] = values[v];
			struct elf_image image;
			struct tkvm_error err = {0};
			if (elf_parse(elf.bytes, elf.size, &image, &err) != 0) {
				silent_failures += err.message[0] == 0;
				continue;
			}
			accepted++;
			uint64_t bias = image.position_independent ? 0x200000 : 0;
			if (elf_check_placement(&image, bias, 0x200000, memory_size, &err) == 0)
				elf_load_segments(&image, elf.bytes, memory, bias);
		}
	}
	CHECK_INT(silent_failures, 0);
	CHECK(accepted > 0);
	munmap(memory, memory_size);
}

static void test_symbols_of_test_file(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	struct elf_symbols symbols;
	CHECK_INT(elf_symbols_load(elf.bytes, elf.size, 0, &symbols), 0);
	CHECK_INT(symbols.count, 3);
	CHECK_INT(elf_symbols_find(&symbols, "main"), ENTRY + 0x10);
	CHECK_INT(elf_symbols_find(&symbols, "counter"), DATA_VADDR);
	CHECK_INT(elf_symbols_find(&symbols, "helper"), 0); /* undefined */
	CHECK_INT(elf_symbols_find(&symbols, "missing"), 0);

	uint64_t offset = 99;
	CHECK_STR(elf_symbols_lookup(&symbols, ENTRY + 0x14, &offset), "main");
	CHECK_INT(offset, 4);
	CHECK_STR(elf_symbols_lookup(&symbols, ENTRY + 3, &offset), "_start"); /* size 0: closest below */
	CHECK_INT(offset, 3);
	CHECK_STR(elf_symbols_lookup(&symbols, DATA_VADDR + 3, &offset), "counter");
	CHECK(elf_symbols_lookup(&symbols, DATA_VADDR + 4, &offset) == NULL); /* past counter's 4 bytes */
	CHECK(elf_symbols_lookup(&symbols, ENTRY - 1, &offset) == NULL);
	CHECK(elf_symbols_lookup(&symbols, 0, NULL) == NULL);
	/* Names are copies: the file may go away. */
	memset(elf.bytes, 0, sizeof elf.bytes);
	CHECK_STR(elf_symbols_lookup(&symbols, ENTRY + 0x10, NULL), "main");
	elf_symbols_free(&symbols);
	CHECK_INT(symbols.count, 0);
	CHECK(elf_symbols_lookup(&symbols, ENTRY, NULL) == NULL);

	build_test_elf(&elf);
	CHECK_INT(elf_symbols_load(elf.bytes, elf.size, 0x1000, &symbols), 0);
	CHECK_INT(elf_symbols_find(&symbols, "main"), ENTRY + 0x10 + 0x1000);
	elf_symbols_free(&symbols);
}

static void test_untyped_code_labels(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	/* A label inside main: main still names the addresses it contains. */
	*symbol_of(&elf, 4) = (Elf64_Sym){.st_name = NAME_HELPER, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_NOTYPE),
					  .st_shndx = 1, .st_value = ENTRY + 0x18};
	struct elf_symbols symbols;
	CHECK_INT(elf_symbols_load(elf.bytes, elf.size, 0, &symbols), 0);
	CHECK_INT(symbols.count, 4);
	uint64_t offset = 0;
	CHECK_STR(elf_symbols_lookup(&symbols, ENTRY + 0x1a, &offset), "main");
	CHECK_INT(offset, 0xa);
	elf_symbols_free(&symbols);

	/* A label after every sized symbol names what follows it. */
	symbol_of(&elf, 4)->st_value = ENTRY + 0x30;
	CHECK_INT(elf_symbols_load(elf.bytes, elf.size, 0, &symbols), 0);
	CHECK_STR(elf_symbols_lookup(&symbols, ENTRY + 0x31, &offset), "helper");
	CHECK_INT(offset, 1);
	elf_symbols_free(&symbols);

	/* Untyped symbols outside code (linker markers such as _end) are not listed. */
	symbol_of(&elf, 4)->st_shndx = 2;
	CHECK_INT(elf_symbols_load(elf.bytes, elf.size, 0, &symbols), 0);
	CHECK_INT(symbols.count, 3);
	elf_symbols_free(&symbols);
	symbol_of(&elf, 4)->st_shndx = 77;
	CHECK_INT(elf_symbols_load(elf.bytes, elf.size, 0, &symbols), 0);
	CHECK_INT(symbols.count, 3);
	elf_symbols_free(&symbols);
}

/* Loads symbols from a broken file and expects no symbols (and no crash). */
static void check_no_symbols(struct test_elf *elf, const char *what)
{
	struct elf_symbols symbols;
	int rc = elf_symbols_load(elf->bytes, elf->size, 0, &symbols);
	if (rc != 0 || symbols.count != 0)
		printf("# %s: rc %d, %zu symbols\n", what, rc, symbols.count);
	CHECK_INT(rc, 0);
	CHECK_INT(symbols.count, 0);
	elf_symbols_free(&symbols);
}

static void test_broken_section_tables_give_no_symbols(void)
{
	struct test_elf elf;
	build_test_elf(&elf);
	header_of(&elf)->e_shoff = TEST_FILE_SIZE - 8;
	check_no_symbols(&elf, "section table past the end");

	build_test_elf(&elf);
	header_of(&elf)->e_shoff = UINT64_MAX - 0x20;
	check_no_symbols(&elf, "section table offset wraps");

	build_test_elf(&elf);
	header_of(&elf)->e_shnum = 0xffff;
	check_no_symbols(&elf, "too many sections");

	build_test_elf(&elf);
	header_of(&elf)->e_shentsize = 40;
	check_no_symbols(&elf, "wrong section header size");

	build_test_elf(&elf);
	shdr_of(&elf, 2)->sh_link = 9;
	check_no_symbols(&elf, "sh_link out of range");

	build_test_elf(&elf);
	shdr_of(&elf, 2)->sh_link = 1;
	check_no_symbols(&elf, "sh_link to a non-string table");

	build_test_elf(&elf);
	shdr_of(&elf, 2)->sh_offset = TEST_FILE_SIZE;
	check_no_symbols(&elf, "symbols past the end");

	build_test_elf(&elf);
	shdr_of(&elf, 2)->sh_size = UINT64_MAX - 0x100;
	check_no_symbols(&elf, "symbol table size wraps");

	build_test_elf(&elf);
	shdr_of(&elf, 2)->sh_entsize = 16;
	check_no_symbols(&elf, "wrong symbol size");

	build_test_elf(&elf);
	shdr_of(&elf, 3)->sh_offset = UINT64_MAX;
	check_no_symbols(&elf, "strings past the end");

	build_test_elf(&elf);
	for (unsigned i = 1; i < SYMBOL_COUNT; i++)
		symbol_of(&elf, i)->st_name = 0x1000;
	check_no_symbols(&elf, "names outside the string table");

	/* A string table cut before the last NUL: names running off its end are dropped. */
	build_test_elf(&elf);
	shdr_of(&elf, 3)->sh_size = NAME_COUNTER + 3;
	struct elf_symbols symbols;
	CHECK_INT(elf_symbols_load(elf.bytes, elf.size, 0, &symbols), 0);
	CHECK_INT(symbols.count, 1);
	CHECK_INT(elf_symbols_find(&symbols, "main"), ENTRY + 0x10);
	elf_symbols_free(&symbols);

	build_test_elf(&elf);
	elf.size = 20;
	check_no_symbols(&elf, "truncated header");
	CHECK_INT(elf_symbols_load(NULL, 0, 0, &symbols), 0);
	CHECK_INT(symbols.count, 0);
}

static uint8_t *read_whole_file(const char *path, size_t *size)
{
	FILE *file = fopen(path, "rb");
	if (!file)
		return NULL;
	uint8_t *bytes = NULL;
	if (fseek(file, 0, SEEK_END) == 0) {
		long length = ftell(file);
		if (length > 0 && fseek(file, 0, SEEK_SET) == 0 && (bytes = malloc((size_t)length)) != NULL) {
			if (fread(bytes, 1, (size_t)length, file) != (size_t)length) {
				free(bytes);
				bytes = NULL;
			}
			*size = (size_t)length;
		}
	}
	fclose(file);
	return bytes;
}

/* One or more real binaries (colon-separated): parse, place, load and
 * resolve main, the way the runner will. */
static void test_real_static_binaries(void)
{
	const char *list = getenv("TKVM_TEST_STATIC_ELF");
	if (!list || !*list) {
		SKIP("test_real_static_binaries", "TKVM_TEST_STATIC_ELF is not set");
		return;
	}
	char *paths = strdup(list), *saveptr = NULL;
	const uint64_t memory_size = 256ull << 20, reserved_low = 2ull << 20;
	uint8_t *memory = mmap(NULL, memory_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(memory != MAP_FAILED);
	for (char *path = strtok_r(paths, ":", &saveptr); path && memory != MAP_FAILED; path = strtok_r(NULL, ":", &saveptr)) {
		size_t size = 0;
		uint8_t *bytes = read_whole_file(path, &size);
		if (!bytes) {
			printf("# cannot read %s\n", path);
			CHECK(bytes != NULL);
			continue;
		}
		struct elf_image image;
		struct tkvm_error err = {0};
		int rc = elf_parse(bytes, size, &image, &err);
		if (rc)
			printf("# %s: %s\n", path, err.message);
		CHECK_INT(rc, 0);
		if (rc == 0) {
			uint64_t bias = image.position_independent ? 0x400000 : 0;
			rc = elf_check_placement(&image, bias, reserved_low, memory_size, &err);
			if (rc)
				printf("# %s: %s\n", path, err.message);
			CHECK_INT(rc, 0);
			CHECK(image.phdr_vaddr != 0);
			if (rc == 0) {
				elf_load_segments(&image, bytes, memory, bias);
				/* The loaded program headers are the file's. */
				CHECK(memcmp(memory + image.phdr_vaddr + bias, bytes + ((Elf64_Ehdr *)bytes)->e_phoff,
					     (size_t)image.phnum * image.phentsize) == 0);
			}
			struct elf_symbols symbols;
			CHECK_INT(elf_symbols_load(bytes, size, bias, &symbols), 0);
			uint64_t main_address = elf_symbols_find(&symbols, "main");
			if (!main_address)
				printf("# %s: no symbol main among %zu symbols\n", path, symbols.count);
			CHECK(main_address != 0);
			uint64_t offset = 1;
			CHECK_STR(elf_symbols_lookup(&symbols, main_address, &offset), "main");
			CHECK_INT(offset, 0);
			CHECK(elf_symbols_lookup(&symbols, image.entry + bias, &offset) != NULL);
			printf("# %s: %s, %u segments, %zu symbols, main at 0x%llx\n", path,
			       image.position_independent ? "static-pie" : "static", image.segment_count, symbols.count,
			       (unsigned long long)main_address);
			elf_symbols_free(&symbols);
		}
		free(bytes);
	}
	if (memory != MAP_FAILED)
		munmap(memory, memory_size);
	free(paths);
}

/* Binaries built the default (dynamic) way: the error must say so. */
static void test_real_dynamic_binaries(void)
{
	const char *list = getenv("TKVM_TEST_DYNAMIC_ELF");
	if (!list || !*list) {
		SKIP("test_real_dynamic_binaries", "TKVM_TEST_DYNAMIC_ELF is not set");
		return;
	}
	char *paths = strdup(list), *saveptr = NULL;
	for (char *path = strtok_r(paths, ":", &saveptr); path; path = strtok_r(NULL, ":", &saveptr)) {
		size_t size = 0;
		uint8_t *bytes = read_whole_file(path, &size);
		CHECK(bytes != NULL);
		if (!bytes)
			continue;
		struct elf_image image;
		struct tkvm_error err = {0};
		CHECK_INT(elf_parse(bytes, size, &image, &err), -ENOTSUP);
		CHECK_CONTAINS(err.message, "dynamic executables are not supported yet (link with -static or -static-pie)");
		printf("# %s: %s\n", path, err.message);
		free(bytes);
	}
	free(paths);
}

int main(void)
{
	TEST(test_valid_file_parses);
	TEST(test_segments_sorted_by_address);
	TEST(test_every_truncation_is_rejected);
	TEST(test_wrong_identity_is_rejected);
	TEST(test_program_header_table_bounds);
	TEST(test_segment_fields_are_checked);
	TEST(test_empty_segments_are_ignored);
	TEST(test_overlapping_segments_are_rejected);
	TEST(test_too_many_segments);
	TEST(test_image_span_is_capped);
	TEST(test_entry_point_is_checked);
	TEST(test_dynamic_executables_are_rejected);
	TEST(test_static_pie_is_detected);
	TEST(test_program_header_address);
	TEST(test_informational_headers);
	TEST(test_placement_is_checked);
	TEST(test_load_copies_and_zeroes_bss);
	TEST(test_single_byte_corruptions);
	TEST(test_symbols_of_test_file);
	TEST(test_untyped_code_labels);
	TEST(test_broken_section_tables_give_no_symbols);
	TEST(test_real_static_binaries);
	TEST(test_real_dynamic_binaries);
	return tap_exit_code();
}
