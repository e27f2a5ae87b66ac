/* ELF parsing and loading for x86-64 static and static-pie executables.
 * Every field of the file is untrusted: elf_parse validates the headers and
 * segments against the file and the guest layout before anything is copied,
 * and names what was wrong and where. */
#ifndef TKVM_RUNNER_ELF_H
#define TKVM_RUNNER_ELF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runner/error.h"

#define ELF_MAX_SEGMENTS 32

/* Segment flags (same bits as PF_X/PF_W/PF_R). */
#define ELF_SEGMENT_EXEC  1u
#define ELF_SEGMENT_WRITE 2u
#define ELF_SEGMENT_READ  4u

struct elf_segment {
	uint64_t vaddr;  /* unrelocated p_vaddr */
	uint64_t memsz;
	uint64_t filesz;
	uint64_t offset; /* p_offset in the file */
	uint32_t flags;  /* ELF_SEGMENT_* */
};

struct elf_image {
	bool position_independent; /* ET_DYN (static-pie): needs a load bias */
	uint64_t entry;            /* unrelocated e_entry */
	uint64_t phdr_vaddr;       /* unrelocated address of the program headers in memory (for AT_PHDR), 0 if not loaded */
	uint16_t phnum;
	uint16_t phentsize;
	uint64_t lowest_vaddr;  /* page-aligned down, unrelocated */
	uint64_t highest_vaddr; /* page-aligned up end of the last PT_LOAD, unrelocated */
	struct elf_segment segments[ELF_MAX_SEGMENTS]; /* PT_LOAD only, sorted by vaddr */
	unsigned segment_count;
	uint64_t tls_vaddr, tls_memsz, tls_align; /* PT_TLS, informational */
	bool executable_stack; /* PT_GNU_STACK has PF_X */
};

/* Validates an ELF file held in memory: magic, class (64-bit), byte order
 * (little), machine (x86-64), type (ET_EXEC or ET_DYN), version, header and
 * program-header bounds, PT_LOAD segments (inside the file, filesz <= memsz,
 * no address overflow, p_offset % align == p_vaddr % align, not overlapping
 * each other, non-empty total, at most 4 GiB from lowest to highest page),
 * entry inside an executable segment. Two segments may share a boundary
 * page (one ends and the next begins inside the same 4 KiB page, as linkers
 * produce): only their bytes must be disjoint, so whoever maps pages must
 * merge the flags of such a shared page. A PT_INTERP or PT_DYNAMIC with DT_NEEDED means a dynamic
 * executable: error "dynamic executables are not supported yet (link with
 * -static or -static-pie)". Returns 0 or a negative code with err set. */
int elf_parse(const uint8_t *file, size_t size, struct elf_image *image, struct tkvm_error *err);

/* Checks that [lowest_vaddr + bias, highest_vaddr + bias) lies inside
 * [allowed_low, allowed_high) of guest memory; error names the segment. */
int elf_check_placement(const struct elf_image *image, uint64_t bias, uint64_t allowed_low,
			uint64_t allowed_high, struct tkvm_error *err);

/* Copies the PT_LOAD segments into guest memory (guest address X is at
 * guest_memory + X) and zeroes each segment's bss tail. The caller has
 * validated placement with elf_check_placement. Bytes between segments
 * (the rest of their first and last pages) are left as they were. */
void elf_load_segments(const struct elf_image *image, const uint8_t *file, uint8_t *guest_memory, uint64_t bias);

/* Function and object symbols for naming guest addresses in errors and
 * traces ("handle_request+0x1c"). Built from .symtab (or .dynsym) when the
 * section headers are sane; a stripped or odd file simply has no symbols. */
struct elf_symbol {
	uint64_t address; /* relocated */
	uint64_t size;
	const char *name; /* points into the struct's own string copy */
};
struct elf_symbols {
	struct elf_symbol *symbols; /* sorted by address */
	size_t count;
	char *strings; /* owned copy of the names */
};

/* Never fails on a bad section table: it returns 0 with whatever it could
 * read (possibly nothing). Returns -ENOMEM only on allocation failure. */
int elf_symbols_load(const uint8_t *file, size_t size, uint64_t bias, struct elf_symbols *symbols);
/* Name of the symbol containing address (or the closest one below it when
 * sizes are zero), with *offset set; NULL when nothing matches. */
const char *elf_symbols_lookup(const struct elf_symbols *symbols, uint64_t address, uint64_t *offset);
/* Address of a symbol by name, 0 if absent. */
uint64_t elf_symbols_find(const struct elf_symbols *symbols, const char *name);
void elf_symbols_free(struct elf_symbols *symbols);
#endif
