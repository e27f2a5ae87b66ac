/* ELF validation and loading: turns the bytes of an x86-64 static or
 * static-pie executable into a checked struct elf_image, then copies its
 * PT_LOAD segments into guest memory. Every header field is untrusted. */
#include "runner/elf.h"
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELF_PAGE_SIZE 4096ull
/* x86-64 user space with 4-level paging ends at 2^47; nothing we load may
 * reach above it, biased or not. */
#define ELF_USER_ADDRESS_LIMIT (1ull << 47)
/* Beyond this a program's image is surely a mistake or an attack, and page
 * tables for it would cost more than any real program needs. */
#define ELF_MAX_IMAGE_SPAN (4ull << 30)

static uint64_t page_down(uint64_t address) { return address & ~(ELF_PAGE_SIZE - 1); }
/* Callers only pass addresses below ELF_USER_ADDRESS_LIMIT, so this cannot wrap. */
static uint64_t page_up(uint64_t address) { return (address + ELF_PAGE_SIZE - 1) & ~(ELF_PAGE_SIZE - 1); }

/* True when [offset, offset + length) lies inside a file of file_size bytes,
 * written so that no addition can wrap. */
static bool range_inside_file(uint64_t offset, uint64_t length, size_t file_size)
{
	return offset <= file_size && length <= file_size - offset;
}

static const char *machine_name(unsigned machine)
{
	switch (machine) {
	case EM_386: return "i386";
	case EM_ARM: return "ARM";
	case EM_AARCH64: return "AArch64";
	case EM_RISCV: return "RISC-V";
	case EM_PPC: return "PowerPC";
	case EM_PPC64: return "PowerPC64";
	case EM_S390: return "s390";
	case EM_MIPS: return "MIPS";
	case EM_SPARCV9: return "SPARC64";
	case EM_LOONGARCH: return "LoongArch";
	case EM_BPF: return "BPF";
	default: return "unknown";
	}
}

static const char *type_hint(unsigned type)
{
	switch (type) {
	case ET_NONE: return "no file type";
	case ET_REL: return "a relocatable object (.o): link it into an executable first";
	case ET_CORE: return "a core dump";
	default: return "unknown type";
	}
}

/* Fixed identity: the checks a file must pass before any offset in it means
 * anything. */
static int check_identity(const uint8_t *file, size_t size, Elf64_Ehdr *header, struct tkvm_error *err)
{
	if (size == 0)
		return tkvm_error_set(err, -ENOEXEC, "ELF: file is empty");
	if (memcmp(file, ELFMAG, size < SELFMAG ? size : SELFMAG) != 0)
		return tkvm_error_set(err, -ENOEXEC, "ELF: not an ELF file (the first bytes are not \\x7fELF)");
	if (size < EI_NIDENT)
		return tkvm_error_set(err, -ENOEXEC, "ELF: file is truncated (%zu bytes, the ELF header needs %zu)",
				      size, sizeof(Elf64_Ehdr));
	if (file[EI_CLASS] != ELFCLASS64)
		return tkvm_error_set(err, -ENOEXEC, "ELF: class is %u (%s), only 64-bit x86-64 executables are supported",
				      file[EI_CLASS], file[EI_CLASS] == ELFCLASS32 ? "32-bit" : "invalid");
	if (file[EI_DATA] != ELFDATA2LSB)
		return tkvm_error_set(err, -ENOEXEC, "ELF: byte order is %u (%s), not little-endian",
				      file[EI_DATA], file[EI_DATA] == ELFDATA2MSB ? "big-endian" : "invalid");
	if (file[EI_VERSION] != EV_CURRENT)
		return tkvm_error_set(err, -ENOEXEC, "ELF: identification version is %u, not %u (EV_CURRENT)",
				      file[EI_VERSION], EV_CURRENT);
	if (size < sizeof(Elf64_Ehdr))
		return tkvm_error_set(err, -ENOEXEC, "ELF: file is truncated (%zu bytes, the ELF header needs %zu)",
				      size, sizeof(Elf64_Ehdr));
	/* memcpy rather than a cast: the buffer need not be aligned. */
	memcpy(header, file, sizeof *header);
	if (header->e_machine != EM_X86_64)
		return tkvm_error_set(err, -ENOEXEC, "ELF: machine is 0x%x (%s), not x86-64",
				      header->e_machine, machine_name(header->e_machine));
	if (header->e_version != EV_CURRENT)
		return tkvm_error_set(err, -ENOEXEC, "ELF: e_version is %u, not %u (EV_CURRENT)", header->e_version,
				      EV_CURRENT);
	if (header->e_type != ET_EXEC && header->e_type != ET_DYN)
		return tkvm_error_set(err, -ENOEXEC, "ELF: type is %u (%s), not an executable (ET_EXEC or ET_DYN)",
				      header->e_type, type_hint(header->e_type));
	return 0;
}

static int check_program_header_table(const Elf64_Ehdr *header, size_t size, struct tkvm_error *err)
{
	if (header->e_phnum == 0)
		return tkvm_error_set(err, -ENOEXEC, "ELF: no program headers (e_phnum is 0), nothing to load");
	if (header->e_phentsize != sizeof(Elf64_Phdr))
		return tkvm_error_set(err, -ENOEXEC, "ELF: program header size e_phentsize is %u, expected %zu",
				      header->e_phentsize, sizeof(Elf64_Phdr));
	uint64_t table_size = (uint64_t)header->e_phnum * sizeof(Elf64_Phdr); /* at most 0xffff * 56 */
	if (!range_inside_file(header->e_phoff, table_size, size))
		return tkvm_error_set(err, -ENOEXEC,
				      "ELF: program headers (e_phoff 0x%llx, %u entries of %zu bytes) extend past the end of the file (file size 0x%zx)",
				      (unsigned long long)header->e_phoff, header->e_phnum, sizeof(Elf64_Phdr), size);
	return 0;
}

/* Only valid after check_program_header_table. */
static void read_program_header(const uint8_t *file, const Elf64_Ehdr *header, unsigned index, Elf64_Phdr *out)
{
	memcpy(out, file + header->e_phoff + (uint64_t)index * sizeof(Elf64_Phdr), sizeof *out);
}

/* Copies a PT_INTERP path into out for the message, printable bytes only:
 * the path comes from the file and ends up on a terminal. */
static void describe_interpreter(const uint8_t *file, size_t size, const Elf64_Phdr *interp, char *out, size_t out_size)
{
	size_t used = 0;
	if (range_inside_file(interp->p_offset, interp->p_filesz, size)) {
		const uint8_t *path = file + interp->p_offset;
		for (uint64_t i = 0; i < interp->p_filesz && path[i] && used + 1 < out_size; i++)
			out[used++] = (path[i] >= 0x20 && path[i] < 0x7f) ? (char)path[i] : '?';
	}
	out[used] = 0;
	if (used == 0)
		snprintf(out, out_size, "(unreadable path)");
}

/* A dynamic executable needs ld.so and shared libraries that the sandbox
 * does not provide: say so plainly instead of failing later in a way that
 * looks like a crash. */
static int reject_dynamic(const uint8_t *file, size_t size, const Elf64_Ehdr *header, struct tkvm_error *err)
{
	static const char what[] = "ELF: dynamic executables are not supported yet (link with -static or -static-pie)";
	for (unsigned i = 0; i < header->e_phnum; i++) {
		Elf64_Phdr ph;
		read_program_header(file, header, i, &ph);
		if (ph.p_type == PT_INTERP) {
			char interpreter[128];
			describe_interpreter(file, size, &ph, interpreter, sizeof interpreter);
			return tkvm_error_set(err, -ENOTSUP, "%s: program header %u is PT_INTERP %s", what, i, interpreter);
		}
	}
	for (unsigned i = 0; i < header->e_phnum; i++) {
		Elf64_Phdr ph;
		read_program_header(file, header, i, &ph);
		if (ph.p_type != PT_DYNAMIC)
			continue;
		if (!range_inside_file(ph.p_offset, ph.p_filesz, size))
			return tkvm_error_set(err, -ENOEXEC,
					      "ELF: PT_DYNAMIC (program header %u, offset 0x%llx, filesz 0x%llx) extends past the end of the file (file size 0x%zx)",
					      i, (unsigned long long)ph.p_offset, (unsigned long long)ph.p_filesz, size);
		uint64_t entries = ph.p_filesz / sizeof(Elf64_Dyn);
		for (uint64_t e = 0; e < entries; e++) {
			Elf64_Dyn dyn;
			memcpy(&dyn, file + ph.p_offset + e * sizeof dyn, sizeof dyn);
			if (dyn.d_tag == DT_NULL)
				break;
			if (dyn.d_tag == DT_NEEDED)
				return tkvm_error_set(err, -ENOTSUP,
						      "%s: PT_DYNAMIC (program header %u) lists shared libraries (DT_NEEDED)", what, i);
		}
	}
	return 0;
}

/* One PT_LOAD against the file and the address space; index is the program
 * header's index so the message points at what readelf -l shows. */
static int check_load_segment(const Elf64_Phdr *ph, unsigned index, size_t size, struct tkvm_error *err)
{
	unsigned long long vaddr = ph->p_vaddr, memsz = ph->p_memsz, filesz = ph->p_filesz,
			   offset = ph->p_offset, align = ph->p_align;
	if (filesz > memsz)
		return tkvm_error_set(err, -ENOEXEC,
				      "ELF: segment %u (vaddr 0x%llx) has filesz 0x%llx larger than memsz 0x%llx", index,
				      vaddr, filesz, memsz);
	if (!range_inside_file(offset, filesz, size))
		return tkvm_error_set(err, -ENOEXEC,
				      "ELF: segment %u (vaddr 0x%llx, memsz 0x%llx) extends past the end of the file (offset 0x%llx, filesz 0x%llx, file size 0x%zx)",
				      index, vaddr, memsz, offset, filesz, size);
	if (vaddr >= ELF_USER_ADDRESS_LIMIT || memsz > ELF_USER_ADDRESS_LIMIT - vaddr)
		return tkvm_error_set(err, -ENOEXEC,
				      "ELF: segment %u (vaddr 0x%llx, memsz 0x%llx) reaches past the 47-bit user address space (0x%llx)",
				      index, vaddr, memsz, ELF_USER_ADDRESS_LIMIT);
	if (align > 1) {
		if (align & (align - 1))
			return tkvm_error_set(err, -ENOEXEC, "ELF: segment %u (vaddr 0x%llx) has p_align 0x%llx, not a power of two",
					      index, vaddr, align);
		if ((offset & (align - 1)) != (vaddr & (align - 1)))
			return tkvm_error_set(err, -ENOEXEC,
					      "ELF: segment %u has p_offset 0x%llx and p_vaddr 0x%llx that differ modulo p_align 0x%llx",
					      index, offset, vaddr, align);
	}
	return 0;
}

/* Insertion sort: at most ELF_MAX_SEGMENTS entries. program_header_index
 * travels with the segments so later messages can still name them. */
static void sort_segments(struct elf_image *image, unsigned *program_header_index)
{
	for (unsigned i = 1; i < image->segment_count; i++) {
		struct elf_segment segment = image->segments[i];
		unsigned index = program_header_index[i];
		unsigned j = i;
		while (j > 0 && image->segments[j - 1].vaddr > segment.vaddr) {
			image->segments[j] = image->segments[j - 1];
			program_header_index[j] = program_header_index[j - 1];
			j--;
		}
		image->segments[j] = segment;
		program_header_index[j] = index;
	}
}

static int collect_load_segments(const uint8_t *file, size_t size, const Elf64_Ehdr *header, struct elf_image *image,
				 unsigned *program_header_index, struct tkvm_error *err)
{
	for (unsigned i = 0; i < header->e_phnum; i++) {
		Elf64_Phdr ph;
		read_program_header(file, header, i, &ph);
		/* An empty PT_LOAD occupies nothing (linkers emit these
		 * occasionally), so none of its other fields matter. */
		if (ph.p_type != PT_LOAD || (ph.p_memsz == 0 && ph.p_filesz == 0))
			continue;
		int rc = check_load_segment(&ph, i, size, err);
		if (rc)
			return rc;
		if (image->segment_count == ELF_MAX_SEGMENTS)
			return tkvm_error_set(err, -ENOEXEC, "ELF: more than %d loadable segments (program header %u)",
					      ELF_MAX_SEGMENTS, i);
		struct elf_segment *segment = &image->segments[image->segment_count];
		segment->vaddr = ph.p_vaddr;
		segment->memsz = ph.p_memsz;
		segment->filesz = ph.p_filesz;
		segment->offset = ph.p_offset;
		segment->flags = ph.p_flags & (ELF_SEGMENT_EXEC | ELF_SEGMENT_WRITE | ELF_SEGMENT_READ);
		program_header_index[image->segment_count] = i;
		image->segment_count++;
	}
	if (image->segment_count == 0)
		return tkvm_error_set(err, -ENOEXEC, "ELF: no loadable segments (no PT_LOAD with a non-zero memsz)");
	return 0;
}

/* Segments may share a boundary page (linkers do that), but no byte may
 * belong to two segments: which one would win depends on load order. */
static int check_layout(struct elf_image *image, const unsigned *program_header_index, struct tkvm_error *err)
{
	for (unsigned i = 1; i < image->segment_count; i++) {
		const struct elf_segment *previous = &image->segments[i - 1], *current = &image->segments[i];
		if (previous->vaddr + previous->memsz > current->vaddr)
			return tkvm_error_set(err, -ENOEXEC,
					      "ELF: segment %u (vaddr 0x%llx, memsz 0x%llx) overlaps segment %u (vaddr 0x%llx, memsz 0x%llx)",
					      program_header_index[i - 1], (unsigned long long)previous->vaddr,
					      (unsigned long long)previous->memsz, program_header_index[i],
					      (unsigned long long)current->vaddr, (unsigned long long)current->memsz);
	}
	/* Sorted and disjoint, so the last segment ends highest. */
	const struct elf_segment *last = &image->segments[image->segment_count - 1];
	image->lowest_vaddr = page_down(image->segments[0].vaddr);
	image->highest_vaddr = page_up(last->vaddr + last->memsz);
	if (image->highest_vaddr - image->lowest_vaddr > ELF_MAX_IMAGE_SPAN)
		return tkvm_error_set(err, -ENOEXEC,
				      "ELF: loadable segments span 0x%llx bytes (0x%llx to 0x%llx), more than the 4 GiB limit",
				      (unsigned long long)(image->highest_vaddr - image->lowest_vaddr),
				      (unsigned long long)image->lowest_vaddr, (unsigned long long)image->highest_vaddr);
	return 0;
}

static int check_entry(const struct elf_image *image, const unsigned *program_header_index, struct tkvm_error *err)
{
	for (unsigned i = 0; i < image->segment_count; i++) {
		const struct elf_segment *segment = &image->segments[i];
		if (image->entry < segment->vaddr || image->entry - segment->vaddr >= segment->memsz)
			continue;
		if (!(segment->flags & ELF_SEGMENT_EXEC))
			return tkvm_error_set(err, -ENOEXEC,
					      "ELF: entry point 0x%llx is in segment %u (vaddr 0x%llx, memsz 0x%llx), which is not executable",
					      (unsigned long long)image->entry, program_header_index[i],
					      (unsigned long long)segment->vaddr, (unsigned long long)segment->memsz);
		return 0;
	}
	return tkvm_error_set(err, -ENOEXEC, "ELF: entry point 0x%llx is outside every loadable segment",
			      (unsigned long long)image->entry);
}

static bool range_inside_segments(const struct elf_image *image, uint64_t vaddr, uint64_t length)
{
	for (unsigned i = 0; i < image->segment_count; i++) {
		const struct elf_segment *segment = &image->segments[i];
		if (vaddr >= segment->vaddr && vaddr - segment->vaddr <= segment->memsz &&
		    length <= segment->memsz - (vaddr - segment->vaddr))
			return true;
	}
	return false;
}

/* AT_PHDR for the guest: start-up code (glibc static-pie in particular)
 * derives its load bias from it, so a wrong value breaks the program in
 * ways that are hard to trace. A PT_PHDR that points outside the loaded
 * image is therefore an error rather than something to pass along. */
static int find_program_headers_in_memory(const uint8_t *file, const Elf64_Ehdr *header, struct elf_image *image,
					  struct tkvm_error *err)
{
	uint64_t table_size = (uint64_t)header->e_phnum * sizeof(Elf64_Phdr);
	for (unsigned i = 0; i < header->e_phnum; i++) {
		Elf64_Phdr ph;
		read_program_header(file, header, i, &ph);
		if (ph.p_type != PT_PHDR)
			continue;
		if (!range_inside_segments(image, ph.p_vaddr, table_size))
			return tkvm_error_set(err, -ENOEXEC,
					      "ELF: PT_PHDR (program header %u, vaddr 0x%llx) does not lie inside a loadable segment",
					      i, (unsigned long long)ph.p_vaddr);
		image->phdr_vaddr = ph.p_vaddr;
		return 0;
	}
	/* No PT_PHDR: the table is in memory when a segment loads the file
	 * bytes that hold it (what the Linux kernel computes too). */
	for (unsigned i = 0; i < image->segment_count; i++) {
		const struct elf_segment *segment = &image->segments[i];
		if (header->e_phoff >= segment->offset && header->e_phoff - segment->offset <= segment->filesz &&
		    table_size <= segment->filesz - (header->e_phoff - segment->offset)) {
			image->phdr_vaddr = segment->vaddr + (header->e_phoff - segment->offset);
			return 0;
		}
	}
	image->phdr_vaddr = 0;
	return 0;
}

/* PT_TLS and PT_GNU_STACK are recorded for the loader and for messages. */
static void read_informational_headers(const uint8_t *file, const Elf64_Ehdr *header, struct elf_image *image)
{
	bool have_tls = false;
	for (unsigned i = 0; i < header->e_phnum; i++) {
		Elf64_Phdr ph;
		read_program_header(file, header, i, &ph);
		if (ph.p_type == PT_TLS && !have_tls) {
			image->tls_vaddr = ph.p_vaddr;
			image->tls_memsz = ph.p_memsz;
			image->tls_align = ph.p_align;
			have_tls = true;
		} else if (ph.p_type == PT_GNU_STACK) {
			image->executable_stack = (ph.p_flags & PF_X) != 0;
		}
	}
}

int elf_parse(const uint8_t *file, size_t size, struct elf_image *image, struct tkvm_error *err)
{
	memset(image, 0, sizeof *image);
	if (!file)
		return tkvm_error_set(err, -EINVAL, "ELF: no file contents");
	Elf64_Ehdr header;
	int rc = check_identity(file, size, &header, err);
	if (!rc)
		rc = check_program_header_table(&header, size, err);
	if (!rc)
		rc = reject_dynamic(file, size, &header, err);
	if (rc)
		return rc;

	image->position_independent = header.e_type == ET_DYN;
	image->entry = header.e_entry;
	image->phnum = header.e_phnum;
	image->phentsize = header.e_phentsize;

	unsigned program_header_index[ELF_MAX_SEGMENTS];
	rc = collect_load_segments(file, size, &header, image, program_header_index, err);
	if (rc)
		return rc;
	sort_segments(image, program_header_index);
	rc = check_layout(image, program_header_index, err);
	if (!rc)
		rc = check_entry(image, program_header_index, err);
	if (!rc)
		rc = find_program_headers_in_memory(file, &header, image, err);
	if (rc)
		return rc;
	read_informational_headers(file, &header, image);
	return 0;
}

int elf_check_placement(const struct elf_image *image, uint64_t bias, uint64_t allowed_low, uint64_t allowed_high,
			struct tkvm_error *err)
{
	if (image->segment_count == 0)
		return tkvm_error_set(err, -EINVAL, "ELF: image has no loadable segments to place");
	for (unsigned i = 0; i < image->segment_count; i++) {
		const struct elf_segment *segment = &image->segments[i];
		/* elf_parse guaranteed vaddr + memsz <= 2^47; the bias is the
		 * caller's and may be anything. */
		uint64_t start = page_down(segment->vaddr), end = page_up(segment->vaddr + segment->memsz);
		if (bias > UINT64_MAX - end)
			return tkvm_error_set(err, -ERANGE,
					      "ELF: segment at vaddr 0x%llx (memsz 0x%llx) overflows the address space with load bias 0x%llx",
					      (unsigned long long)segment->vaddr, (unsigned long long)segment->memsz,
					      (unsigned long long)bias);
		if (start + bias < allowed_low || end + bias > allowed_high)
			return tkvm_error_set(err, -ERANGE,
					      "ELF: segment at vaddr 0x%llx (memsz 0x%llx) would occupy guest memory 0x%llx-0x%llx, outside the usable range 0x%llx-0x%llx",
					      (unsigned long long)segment->vaddr, (unsigned long long)segment->memsz,
					      (unsigned long long)(start + bias), (unsigned long long)(end + bias),
					      (unsigned long long)allowed_low, (unsigned long long)allowed_high);
	}
	return 0;
}

void elf_load_segments(const struct elf_image *image, const uint8_t *file, uint8_t *guest_memory, uint64_t bias)
{
	for (unsigned i = 0; i < image->segment_count; i++) {
		const struct elf_segment *segment = &image->segments[i];
		uint8_t *destination = guest_memory + segment->vaddr + bias;
		memcpy(destination, file + segment->offset, segment->filesz);
		/* Only the bss tail itself: a neighbouring segment may start in
		 * the same page right after it. */
		memset(destination + segment->filesz, 0, segment->memsz - segment->filesz);
	}
}
