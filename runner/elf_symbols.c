/* Symbol table of a program, for naming guest addresses in errors, traces
 * and profiles ("handle_request+0x1c"). Read from the section headers,
 * which nothing else trusts: anything odd simply yields fewer symbols. */
#include "runner/elf.h"
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A symbol while the table is being built: rank decides which of several
 * names for the same address a trace shows. */
struct symbol_candidate {
	uint64_t address;
	uint64_t size;
	uint64_t name_offset; /* into the string table */
	int rank;             /* higher is the nicer name */
};

static bool range_inside_file(uint64_t offset, uint64_t length, size_t file_size)
{
	return offset <= file_size && length <= file_size - offset;
}

/* Reads section header index; false when the table or the entry is not
 * inside the file. */
static bool read_section_header(const uint8_t *file, size_t size, uint64_t table_offset, uint64_t count,
				uint64_t index, Elf64_Shdr *out)
{
	if (index >= count)
		return false;
	uint64_t offset = table_offset + index * sizeof(Elf64_Shdr); /* count was bounded by the file size */
	if (!range_inside_file(offset, sizeof(Elf64_Shdr), size))
		return false;
	memcpy(out, file + offset, sizeof *out);
	return true;
}

/* Finds the section header table; false when there is none worth reading. */
static bool find_section_table(const uint8_t *file, size_t size, uint64_t *table_offset, uint64_t *count)
{
	if (size < sizeof(Elf64_Ehdr) || memcmp(file, ELFMAG, SELFMAG) != 0 || file[EI_CLASS] != ELFCLASS64 ||
	    file[EI_DATA] != ELFDATA2LSB)
		return false;
	Elf64_Ehdr header;
	memcpy(&header, file, sizeof header);
	if (header.e_shoff == 0 || header.e_shentsize != sizeof(Elf64_Shdr))
		return false;
	if (!range_inside_file(header.e_shoff, sizeof(Elf64_Shdr), size))
		return false;
	uint64_t entries = header.e_shnum;
	if (entries == 0) {
		/* More than SHN_LORESERVE sections: the count is in section 0's sh_size. */
		Elf64_Shdr first;
		memcpy(&first, file + header.e_shoff, sizeof first);
		entries = first.sh_size;
	}
	if (entries == 0 || entries > (size - header.e_shoff) / sizeof(Elf64_Shdr))
		return false;
	*table_offset = header.e_shoff;
	*count = entries;
	return true;
}

/* Where the sections are, once found and checked against the file. */
struct symbol_sections {
	uint64_t table_offset, count; /* the section header table */
	Elf64_Shdr symbols;           /* .symtab, else .dynsym */
	Elf64_Shdr strings;           /* the string table it links to */
};

static bool find_symbol_sections(const uint8_t *file, size_t size, struct symbol_sections *found)
{
	uint64_t table_offset, count;
	if (!find_section_table(file, size, &table_offset, &count))
		return false;
	Elf64_Shdr *symbols = &found->symbols, *strings = &found->strings;
	found->table_offset = table_offset;
	found->count = count;
	const uint32_t wanted[] = {SHT_SYMTAB, SHT_DYNSYM};
	for (unsigned w = 0; w < sizeof wanted / sizeof wanted[0]; w++) {
		for (uint64_t i = 0; i < count; i++) {
			if (!read_section_header(file, size, table_offset, count, i, symbols) || symbols->sh_type != wanted[w])
				continue;
			if (symbols->sh_entsize != sizeof(Elf64_Sym) ||
			    !range_inside_file(symbols->sh_offset, symbols->sh_size, size))
				continue;
			if (!read_section_header(file, size, table_offset, count, symbols->sh_link, strings) ||
			    strings->sh_type != SHT_STRTAB || strings->sh_size == 0 ||
			    !range_inside_file(strings->sh_offset, strings->sh_size, size))
				continue;
			return true;
		}
	}
	return false;
}

/* glibc defines several names for many functions (__libc_malloc, __malloc,
 * malloc); show the one a programmer wrote: global before weak before
 * local, and fewer leading underscores. */
static int name_rank(const Elf64_Sym *symbol, const char *name)
{
	int rank = ELF64_ST_TYPE(symbol->st_info) == STT_NOTYPE ? -300 : 0;
	switch (ELF64_ST_BIND(symbol->st_info)) {
	case STB_GLOBAL: rank += 200; break;
	case STB_WEAK: rank += 100; break;
	default: break;
	}
	int underscores = 0;
	while (name[underscores] == '_' && underscores < 99)
		underscores++;
	return rank - underscores;
}

/* Functions and objects, plus untyped labels in code: musl's _start and
 * other hand-written assembly carry no type, and a trace that stops there
 * should still name them. Untyped symbols elsewhere are linker markers
 * (_end, __bss_start) that would only shadow real names. */
static bool wanted_symbol(const uint8_t *file, size_t size, const struct symbol_sections *sections,
			  const Elf64_Sym *symbol)
{
	if (symbol->st_name == 0 || symbol->st_shndx == SHN_UNDEF)
		return false;
	unsigned type = ELF64_ST_TYPE(symbol->st_info);
	if (type == STT_FUNC || type == STT_OBJECT)
		return true;
	if (type != STT_NOTYPE || symbol->st_value == 0 || symbol->st_shndx >= SHN_LORESERVE)
		return false;
	Elf64_Shdr section;
	return read_section_header(file, size, sections->table_offset, sections->count, symbol->st_shndx, &section) &&
	       (section.sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) == (SHF_ALLOC | SHF_EXECINSTR);
}

/* Sorted by address, then size, then rank, so that the last entry at or
 * below an address is the widest and nicest one starting there. */
static int compare_candidates(const void *a, const void *b)
{
	const struct symbol_candidate *left = a, *right = b;
	if (left->address != right->address)
		return left->address < right->address ? -1 : 1;
	if (left->size != right->size)
		return left->size < right->size ? -1 : 1;
	if (left->rank != right->rank)
		return left->rank < right->rank ? -1 : 1;
	return left->name_offset < right->name_offset ? -1 : left->name_offset > right->name_offset;
}

int elf_symbols_load(const uint8_t *file, size_t size, uint64_t bias, struct elf_symbols *symbols)
{
	memset(symbols, 0, sizeof *symbols);
	struct symbol_sections sections;
	if (!file || !find_symbol_sections(file, size, &sections))
		return 0;
	const Elf64_Shdr symbol_section = sections.symbols, string_section = sections.strings;
	const char *string_table = (const char *)file + string_section.sh_offset;
	uint64_t string_table_size = string_section.sh_size;
	uint64_t symbol_count = symbol_section.sh_size / sizeof(Elf64_Sym); /* bounded by the file size */

	struct symbol_candidate *candidates = calloc(symbol_count ? symbol_count : 1, sizeof *candidates);
	if (!candidates)
		return -ENOMEM;
	size_t kept = 0;
	uint64_t strings_needed = 0; /* the copy ends after the last name used */
	for (uint64_t i = 1; i < symbol_count; i++) { /* entry 0 is the null symbol */
		Elf64_Sym symbol;
		memcpy(&symbol, file + symbol_section.sh_offset + i * sizeof symbol, sizeof symbol);
		if (!wanted_symbol(file, size, &sections, &symbol) || symbol.st_name >= string_table_size)
			continue;
		const char *name = string_table + symbol.st_name;
		const char *end = memchr(name, 0, string_table_size - symbol.st_name);
		if (!end || bias > UINT64_MAX - symbol.st_value)
			continue;
		candidates[kept] = (struct symbol_candidate){
			.address = symbol.st_value + bias,
			.size = symbol.st_size,
			.name_offset = symbol.st_name,
			.rank = name_rank(&symbol, name),
		};
		kept++;
		uint64_t name_end = (uint64_t)(end - string_table) + 1;
		if (name_end > strings_needed)
			strings_needed = name_end;
	}
	if (kept == 0) {
		free(candidates);
		return 0;
	}
	qsort(candidates, kept, sizeof *candidates, compare_candidates);

	/* One copy of the string table (up to the last name used) rather than
	 * one per name: aliases and suffix-sharing names point into the same
	 * bytes, so this is bounded by the file size whatever the table says. */
	symbols->strings = malloc(strings_needed);
	symbols->symbols = malloc(kept * sizeof *symbols->symbols);
	if (!symbols->strings || !symbols->symbols) {
		free(candidates);
		elf_symbols_free(symbols);
		return -ENOMEM;
	}
	memcpy(symbols->strings, string_table, strings_needed);
	for (size_t i = 0; i < kept; i++) {
		symbols->symbols[i] = (struct elf_symbol){
			.address = candidates[i].address,
			.size = candidates[i].size,
			.name = symbols->strings + candidates[i].name_offset,
		};
	}
	symbols->count = kept;
	free(candidates);
	return 0;
}

static bool symbol_contains(const struct elf_symbol *symbol, uint64_t address)
{
	return address >= symbol->address && address - symbol->address < symbol->size;
}

/* How far back lookup looks for a wider symbol enclosing the address when
 * the nearest one below has ended: nested objects are rare and shallow, and
 * a bound keeps a hostile table from making each lookup linear. */
#define ELF_SYMBOLS_ENCLOSING_SEARCH 8

const char *elf_symbols_lookup(const struct elf_symbols *symbols, uint64_t address, uint64_t *offset)
{
	if (!symbols || symbols->count == 0)
		return NULL;
	/* Index of the last symbol with symbol address <= address. */
	size_t low = 0, high = symbols->count;
	while (low < high) {
		size_t middle = low + (high - low) / 2;
		if (symbols->symbols[middle].address <= address)
			low = middle + 1;
		else
			high = middle;
	}
	if (low == 0)
		return NULL;
	/* A sized symbol that contains the address beats a size-less label
	 * that merely precedes it (a label inside a function). */
	const struct elf_symbol *nearest = &symbols->symbols[low - 1];
	const struct elf_symbol *found = NULL;
	for (size_t back = 0; back < ELF_SYMBOLS_ENCLOSING_SEARCH && back < low; back++) {
		const struct elf_symbol *candidate = &symbols->symbols[low - 1 - back];
		if (symbol_contains(candidate, address)) {
			found = candidate;
			break;
		}
	}
	if (!found && nearest->size == 0)
		found = nearest;
	if (!found)
		return NULL;
	if (offset)
		*offset = address - found->address;
	return found->name;
}

uint64_t elf_symbols_find(const struct elf_symbols *symbols, const char *name)
{
	if (!symbols || !name)
		return 0;
	for (size_t i = 0; i < symbols->count; i++)
		if (strcmp(symbols->symbols[i].name, name) == 0)
			return symbols->symbols[i].address;
	return 0;
}

void elf_symbols_free(struct elf_symbols *symbols)
{
	if (!symbols)
		return;
	free(symbols->symbols);
	free(symbols->strings);
	memset(symbols, 0, sizeof *symbols);
}
