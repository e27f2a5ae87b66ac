/* libFuzzer target for the ELF loader and symbol table: whatever the bytes,
 * parsing, placement, loading and symbol lookup must stay inside the memory
 * they were given. Seeds: tests/fuzz/seeds/elf/. */
#include "runner/elf.h"
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* The production defaults: a 256 MiB guest whose low 2 MiB hold the host's
 * own structures (page tables, GDT, stacks). */
#define GUEST_MEMORY_SIZE (256ull << 20)
#define GUEST_RESERVED_LOW (2ull << 20)
/* Where a static-pie goes: the runner picks a bias like this one. */
#define PIE_LOAD_BIAS (4ull << 20)

static uint8_t *guest_memory(void)
{
	/* Allocated once: NORESERVE keeps untouched pages free, and reusing
	 * it keeps each run cheap. */
	static uint8_t *memory;
	if (!memory) {
		void *mapped = mmap(NULL, GUEST_MEMORY_SIZE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		memory = mapped == MAP_FAILED ? NULL : mapped;
	}
	return memory;
}

/* Checks the parser's promises, so a broken promise is a finding rather
 * than a silent wrong answer. */
static void check_image(const struct elf_image *image, size_t size)
{
	if (image->segment_count == 0 || image->segment_count > ELF_MAX_SEGMENTS)
		__builtin_trap();
	for (unsigned i = 0; i < image->segment_count; i++) {
		const struct elf_segment *segment = &image->segments[i];
		if (segment->filesz > segment->memsz || segment->offset > size || segment->filesz > size - segment->offset ||
		    segment->vaddr + segment->memsz > (1ull << 47))
			__builtin_trap();
		if (i > 0 && image->segments[i - 1].vaddr + image->segments[i - 1].memsz > segment->vaddr)
			__builtin_trap();
	}
	if (image->highest_vaddr <= image->lowest_vaddr || image->highest_vaddr - image->lowest_vaddr > (4ull << 30))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_image image;
	struct tkvm_error err;
	if (elf_parse(data, size, &image, &err) == 0) {
		check_image(&image, size);
		uint64_t bias = image.position_independent ? PIE_LOAD_BIAS : 0;
		uint8_t *memory = guest_memory();
		if (memory && elf_check_placement(&image, bias, GUEST_RESERVED_LOW, GUEST_MEMORY_SIZE, &err) == 0)
			elf_load_segments(&image, data, memory, bias);
	} else if (err.message[0] == 0 || err.code >= 0) {
		__builtin_trap(); /* every failure must say why */
	}

	struct elf_symbols symbols;
	if (elf_symbols_load(data, size, PIE_LOAD_BIAS, &symbols) == 0) {
		uint64_t offset;
		for (size_t i = 0; i < symbols.count; i++) {
			const struct elf_symbol *symbol = &symbols.symbols[i];
			if (i > 0 && symbols.symbols[i - 1].address > symbol->address)
				__builtin_trap();
			/* Names must be NUL-terminated inside the owned copy. */
			(void)strlen(symbol->name);
			elf_symbols_lookup(&symbols, symbol->address + symbol->size / 2, &offset);
		}
		elf_symbols_lookup(&symbols, 0, &offset);
		elf_symbols_lookup(&symbols, UINT64_MAX, &offset);
		if (symbols.count)
			elf_symbols_find(&symbols, symbols.symbols[symbols.count - 1].name);
		elf_symbols_free(&symbols);
	}
	return 0;
}
