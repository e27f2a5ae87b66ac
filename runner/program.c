/* Booting a program: ELF → guest memory, page tables, CPU tables, stack,
 * then main() runs under max_boot_time until it parks in
 * wait_for_requests. The parked state is what requests start from. */
#include "runner/program.h"
#include "runner/cpu_tables.h"
#include "runner/initial_stack.h"
#include "runner/layout.h"
#include "runner/page_tables.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STACK_SIZE_MAX (8ull << 20)
#define HEAP_MIN (1ull << 20)

static uint64_t page_up(uint64_t x) { return (x + GUEST_PAGE_SIZE - 1) & ~(GUEST_PAGE_SIZE - 1); }

/* Lays out stack and arena around the program and maps everything. */
static int build_address_space(struct machine *m, const struct elf_image *image, const uint8_t *file, uint64_t bias,
			       struct tkvm_error *err)
{
	uint64_t size = m->memory.size;
	uint64_t stack_size = size / 8 < STACK_SIZE_MAX ? size / 8 : STACK_SIZE_MAX;
	uint64_t stack_top = size, stack_low = stack_top - stack_size;
	uint64_t guard = stack_low - GUEST_PAGE_SIZE;
	int r = elf_check_placement(image, bias, LAYOUT_USER_START, guard - HEAP_MIN, err);
	if (r < 0)
		return tkvm_error_prefix(err, "the program does not fit in max_memory (%u MB)", m->settings.max_memory);

	struct page_region regions[ELF_MAX_SEGMENTS];
	for (unsigned i = 0; i < image->segment_count; i++) {
		regions[i].start = (image->segments[i].vaddr + bias) & ~(GUEST_PAGE_SIZE - 1);
		regions[i].end = page_up(image->segments[i].vaddr + bias + image->segments[i].memsz);
		regions[i].flags = image->segments[i].flags;
	}
	uint64_t holes[] = {guard};
	r = page_tables_build(&m->memory, regions, image->segment_count, holes, 1, &m->cr3, err);
	if (r < 0)
		return r;
	cpu_tables_write(&m->memory);
	elf_load_segments(image, file, m->memory.host, bias);
	address_space_init(&m->space, page_up(image->highest_vaddr + bias), guard, stack_low, stack_top);
	return 0;
}

static int describe_boot_failure(struct machine *m, struct tkvm_error *err)
{
	uint64_t elapsed_ms = (machine_now_ns() - m->start_ns) / 1000000;
	switch (m->stop) {
	case MACHINE_STOP_EXITED:
		return tkvm_error_set(err, -ECHILD,
				      "program did not call wait_for_requests: it exited with status %d after %llu ms",
				      m->exit_status, (unsigned long long)elapsed_ms);
	case MACHINE_STOP_TIMEOUT:
		return tkvm_error_set(err, -ETIMEDOUT,
				      "program did not call wait_for_requests within max_boot_time (%g s): %s",
				      m->settings.max_boot_time, m->stop_message);
	case MACHINE_STOP_RETURNED:
		return tkvm_error_set(err, -EINVAL, "program returned through the handler-return stub during boot");
	default:
		return tkvm_error_set(err, -EINVAL, "program failed during boot (before wait_for_requests): %s",
				      m->stop_message);
	}
}

int program_boot_machine(struct tkvm_program *program, struct tkvm_error *err)
{
	struct machine *m = &program->machine;
	int r = machine_create(m, &program->settings, &program->hooks, err);
	if (r < 0)
		return r;
	struct elf_image image;
	r = elf_parse(program->elf, program->elf_size, &image, err);
	if (r < 0)
		return r;
	uint64_t bias = image.position_independent && image.lowest_vaddr < LAYOUT_USER_START ? LAYOUT_PIE_BASE : 0;
	r = build_address_space(m, &image, program->elf, bias, err);
	if (r < 0)
		return r;
	if (elf_symbols_load(program->elf, program->elf_size, bias, &m->symbols) < 0)
		return tkvm_error_set(err, -ENOMEM, "out of memory reading symbols");
	r = vcpu_create(&m->vcpu, m->vm_fd, m->platform, m->cr3, err);
	if (r < 0)
		return r;
	uint64_t rsp;
	r = initial_stack_build(m, &image, bias, &rsp, err);
	if (r < 0)
		return r;
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	memset(regs, 0, sizeof *regs);
	regs->rip = image.entry + bias;
	regs->rsp = rsp;
	regs->rflags = 0x2;
	vcpu_mark_regs_dirty(&m->vcpu);

	m->start_ns = machine_now_ns();
	enum machine_stop stop = machine_run(m, m->settings.max_boot_time);
	m->stats.boot_ns = machine_now_ns() - m->start_ns;
	if (stop != MACHINE_STOP_PARKED)
		return describe_boot_failure(m, err);
	program->parked_regs = *vcpu_regs(&m->vcpu);
	program->at_park = true;
	return 0;
}

int tkvm_program_boot(const struct tkvm_settings *settings, const uint8_t *elf, size_t elf_size,
		      const struct tkvm_hooks *hooks, struct tkvm_program **out, struct tkvm_error *err)
{
	*out = NULL;
	struct tkvm_program *program = calloc(1, sizeof *program);
	if (!program)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	program->elf = malloc(elf_size ? elf_size : 1);
	tkvm_settings_init(&program->settings);
	if (!program->elf || tkvm_settings_copy(&program->settings, settings) < 0) {
		tkvm_program_destroy(program);
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	memcpy(program->elf, elf, elf_size);
	program->elf_size = elf_size;
	if (hooks)
		program->hooks = *hooks;
	int r = program_boot_machine(program, err);
	if (r < 0) {
		tkvm_program_destroy(program);
		return r;
	}
	*out = program;
	return 0;
}

const struct tkvm_stats *tkvm_program_stats(const struct tkvm_program *program) { return &program->machine.stats; }

void tkvm_program_destroy(struct tkvm_program *program)
{
	if (!program)
		return;
	machine_destroy(&program->machine);
	tkvm_settings_free(&program->settings);
	free(program->elf);
	free(program);
}
