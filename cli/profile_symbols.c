/* Guest addresses to functions and file:line for `tkvm profile`. Function
 * names come from the runner (the ELF's symbol table, load bias applied);
 * lines from libdw on a private copy of the ELF, at the link-time address
 * (runtime address minus the load bias). Each distinct address is looked
 * up once: a profile has thousands of samples but few distinct addresses. */
#include "cli/profile_symbols.h"
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct address_entry {
	uint64_t address;
	bool used, return_address;
	uint32_t function;
	int32_t file;          /* index into files, -1 if unknown */
	int line;
};

struct profile_symbols {
	const struct tkvm_program *program;
	uint64_t load_bias;
	char *image;           /* our copy of the ELF: libelf may not take const bytes */
	Elf *elf;
	Dwarf *dwarf;          /* NULL without DWARF */
	struct profile_function *functions;
	size_t function_count, function_capacity;
	uint32_t *function_index; /* open addressing by name hash: id + 1, 0 = empty */
	size_t function_index_size;
	char **files;
	size_t file_count, file_capacity;
	struct address_entry *addresses;
	size_t address_count, address_size;
};

static uint64_t hash_bytes(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static uint64_t hash_address(uint64_t a)
{
	a ^= a >> 33;
	a *= 0xff51afd7ed558ccdull;
	a ^= a >> 33;
	return a;
}

int profile_symbols_open(const struct tkvm_program *program, struct profile_symbols **out)
{
	struct profile_symbols *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->program = program;
	size_t size = 0;
	const uint8_t *bytes = tkvm_program_elf(program, &size, &s->load_bias);
	elf_version(EV_CURRENT);
	if (bytes && size) {
		s->image = malloc(size);
		if (!s->image) {
			free(s);
			return -ENOMEM;
		}
		memcpy(s->image, bytes, size);
		s->elf = elf_memory(s->image, size);
		/* No DWARF (or a broken one) is not an error: functions only. */
		if (s->elf)
			s->dwarf = dwarf_begin_elf(s->elf, DWARF_C_READ, NULL);
	}
	*out = s;
	return 0;
}

void profile_symbols_close(struct profile_symbols *s)
{
	if (!s)
		return;
	if (s->dwarf)
		dwarf_end(s->dwarf);
	if (s->elf)
		elf_end(s->elf);
	free(s->image);
	for (size_t i = 0; i < s->function_count; i++)
		free(s->functions[i].name);
	free(s->functions);
	free(s->function_index);
	for (size_t i = 0; i < s->file_count; i++)
		free(s->files[i]);
	free(s->files);
	free(s->addresses);
	free(s);
}

bool profile_symbols_have_lines(const struct profile_symbols *s) { return s->dwarf != NULL; }
size_t profile_symbols_count(const struct profile_symbols *s) { return s->function_count; }

const struct profile_function *profile_symbols_get(const struct profile_symbols *s, uint32_t id)
{
	return id < s->function_count ? &s->functions[id] : NULL;
}

static int32_t intern_file(struct profile_symbols *s, const char *name)
{
	for (size_t i = 0; i < s->file_count; i++) /* a profile touches a handful of files */
		if (strcmp(s->files[i], name) == 0)
			return (int32_t)i;
	if (s->file_count == s->file_capacity) {
		size_t capacity = s->file_capacity ? s->file_capacity * 2 : 16;
		char **more = realloc(s->files, capacity * sizeof *more);
		if (!more)
			return -1;
		s->files = more;
		s->file_capacity = capacity;
	}
	char *copy = strdup(name);
	if (!copy)
		return -1;
	s->files[s->file_count] = copy;
	return (int32_t)s->file_count++;
}

/* The compilation unit holding pc: from .debug_aranges when present,
 * otherwise by asking each unit (GCC does not always emit aranges). */
static bool find_unit(Dwarf *dwarf, Dwarf_Addr pc, Dwarf_Die *unit)
{
	if (dwarf_addrdie(dwarf, pc, unit))
		return true;
	Dwarf_Off offset = 0, next;
	size_t header_size;
	while (dwarf_nextcu(dwarf, offset, &next, &header_size, NULL, NULL, NULL) == 0) {
		if (dwarf_offdie(dwarf, offset + header_size, unit) && dwarf_haspc(unit, pc) > 0)
			return true;
		offset = next;
	}
	return false;
}

static void lookup_line(struct profile_symbols *s, uint64_t address, int32_t *file, int *line)
{
	*file = -1;
	*line = 0;
	if (!s->dwarf || address < s->load_bias)
		return;
	Dwarf_Addr pc = address - s->load_bias;
	Dwarf_Die unit;
	if (!find_unit(s->dwarf, pc, &unit))
		return;
	Dwarf_Line *found = dwarf_getsrc_die(&unit, pc);
	const char *name = found ? dwarf_linesrc(found, NULL, NULL) : NULL;
	int number = 0;
	if (!name || dwarf_lineno(found, &number) != 0)
		return;
	*file = intern_file(s, name);
	*line = number;
}

/* Where a function is declared: DW_AT_decl_file/line of the subprogram
 * holding its entry address, else the line of that address. */
static void lookup_function(struct profile_symbols *s, uint64_t entry, int32_t *file, int *line)
{
	*file = -1;
	*line = 0;
	if (!s->dwarf || entry < s->load_bias)
		return;
	Dwarf_Addr pc = entry - s->load_bias;
	Dwarf_Die unit, *scopes = NULL;
	if (find_unit(s->dwarf, pc, &unit)) {
		int count = dwarf_getscopes(&unit, pc, &scopes);
		for (int i = 0; i < count; i++) {
			if (dwarf_tag(&scopes[i]) != DW_TAG_subprogram)
				continue;
			const char *name = dwarf_decl_file(&scopes[i]);
			int number = 0;
			if (name && dwarf_decl_line(&scopes[i], &number) == 0) {
				*file = intern_file(s, name);
				*line = number;
			}
			break;
		}
		free(scopes);
	}
	if (*file < 0)
		lookup_line(s, entry, file, line);
}

static int grow_function_index(struct profile_symbols *s)
{
	size_t size = s->function_index_size ? s->function_index_size * 2 : 256;
	uint32_t *index = calloc(size, sizeof *index);
	if (!index)
		return -ENOMEM;
	for (size_t i = 0; i < s->function_count; i++) {
		size_t slot = hash_bytes(s->functions[i].name) & (size - 1);
		while (index[slot])
			slot = (slot + 1) & (size - 1);
		index[slot] = (uint32_t)i + 1;
	}
	free(s->function_index);
	s->function_index = index;
	s->function_index_size = size;
	return 0;
}

/* The id of the function called name; entry is the address its location
 * is looked up at when it is new. */
static int64_t intern_function(struct profile_symbols *s, const char *name, uint64_t entry, bool has_entry)
{
	if ((s->function_count + 1) * 2 > s->function_index_size && grow_function_index(s) < 0)
		return -ENOMEM;
	size_t mask = s->function_index_size - 1, slot = hash_bytes(name) & mask;
	for (; s->function_index[slot]; slot = (slot + 1) & mask)
		if (strcmp(s->functions[s->function_index[slot] - 1].name, name) == 0)
			return s->function_index[slot] - 1;
	if (s->function_count == s->function_capacity) {
		size_t capacity = s->function_capacity ? s->function_capacity * 2 : 64;
		struct profile_function *more = realloc(s->functions, capacity * sizeof *more);
		if (!more)
			return -ENOMEM;
		s->functions = more;
		s->function_capacity = capacity;
	}
	struct profile_function *f = &s->functions[s->function_count];
	memset(f, 0, sizeof *f);
	f->name = strdup(name);
	if (!f->name)
		return -ENOMEM;
	if (has_entry) {
		int32_t file;
		lookup_function(s, entry, &file, &f->line);
		f->file = file >= 0 ? s->files[file] : NULL;
	}
	s->function_index[slot] = (uint32_t)s->function_count + 1;
	return (int64_t)s->function_count++;
}

static int grow_addresses(struct profile_symbols *s)
{
	size_t size = s->address_size ? s->address_size * 2 : 1024;
	struct address_entry *table = calloc(size, sizeof *table);
	if (!table)
		return -ENOMEM;
	for (size_t i = 0; i < s->address_size; i++) {
		if (!s->addresses[i].used)
			continue;
		size_t slot = hash_address(s->addresses[i].address) & (size - 1);
		while (table[slot].used)
			slot = (slot + 1) & (size - 1);
		table[slot] = s->addresses[i];
	}
	free(s->addresses);
	s->addresses = table;
	s->address_size = size;
	return 0;
}

static struct address_entry *resolve(struct profile_symbols *s, uint64_t address, bool return_address)
{
	if ((s->address_count + 1) * 2 > s->address_size && grow_addresses(s) < 0)
		return NULL;
	size_t mask = s->address_size - 1, slot = hash_address(address) & mask;
	for (; s->addresses[slot].used; slot = (slot + 1) & mask)
		if (s->addresses[slot].address == address && s->addresses[slot].return_address == return_address)
			return &s->addresses[slot];
	/* A return address points after the call; the call is what ran. Not
	 * so for the runner's stubs: a handler "returns" to the first byte of
	 * one, pushed as its return address without a call before it. */
	uint64_t offset = 0;
	const char *name = tkvm_program_symbol(s->program, address, &offset);
	uint64_t at = address;
	if (return_address && address && !(name && name[0] == '[')) {
		at = address - 1;
		name = tkvm_program_symbol(s->program, at, &offset);
	}
	int64_t id = intern_function(s, name ? name : "[unknown]", at - offset, name != NULL);
	if (id < 0)
		return NULL;
	struct address_entry *e = &s->addresses[slot];
	e->used = true;
	e->address = address;
	e->return_address = return_address;
	e->function = (uint32_t)id;
	lookup_line(s, at, &e->file, &e->line);
	s->address_count++;
	return e;
}

int64_t profile_symbols_function(struct profile_symbols *s, uint64_t address, bool return_address)
{
	struct address_entry *e = resolve(s, address, return_address);
	return e ? (int64_t)e->function : -ENOMEM;
}

bool profile_symbols_line(struct profile_symbols *s, uint64_t address, bool return_address, const char **file, int *line)
{
	struct address_entry *e = resolve(s, address, return_address);
	if (!e || e->file < 0)
		return false;
	*file = s->files[e->file];
	*line = e->line;
	return true;
}
