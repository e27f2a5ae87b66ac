/* Booting a program: ELF → guest memory, page tables, CPU tables, stack,
 * then main() runs under max_boot_time until it parks in
 * wait_for_requests. Warm-up requests run, then the parked VM is frozen
 * into the template that every request VM starts from. */
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
#define DEFAULT_QUEUE_TIMEOUT 10.0
#define INFO_FLAG_WARMUP 1

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

	struct mapped_region regions[ELF_MAX_SEGMENTS];
	for (unsigned i = 0; i < image->segment_count; i++) {
		regions[i].start = (image->segments[i].vaddr + bias) & ~(GUEST_PAGE_SIZE - 1);
		regions[i].end = page_up(image->segments[i].vaddr + bias + image->segments[i].memsz);
		regions[i].flags = image->segments[i].flags;
	}
	uint64_t holes[] = {guard};
	r = page_tables_build(&m->memory, regions, image->segment_count, holes, 1, &m->cr3, err);
	if (r < 0)
		return r;
	cpu_tables_write(&m->memory, m->platform->xcr0);
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

/* Warm-up requests (the "warmup" key) run on the booting VM, so what they
 * warm (caches, lazy initialisation) is in the template. */
static int run_warmup(struct tkvm_program *program, struct machine *m, struct kvm_regs *parked, struct tkvm_error *err)
{
	const struct tkvm_warmup *w = &program->settings.warmup;
	if (!w->enabled || w->num_requests <= 0)
		return 0;
	struct tkvm_header headers[TKVM_MAX_REQUEST_HEADERS];
	size_t count = 0;
	for (; count < w->header_count && count < TKVM_MAX_REQUEST_HEADERS; count++)
		headers[count] = (struct tkvm_header){w->headers[count], strlen(w->headers[count])};
	struct tkvm_request_input input = {
		.method = w->method ? w->method : "GET", .url = w->url ? w->url : "/", .arg = "", .content_type = "",
		.headers = headers, .header_count = count,
	};
	bool at_park = true;
	for (int i = 0; i < w->num_requests; i++) {
		struct tkvm_response response;
		int r = machine_request(m, parked, &at_park, &input, INFO_FLAG_WARMUP, &response, err);
		if (r == 0 && response.outcome != TKVM_OUTCOME_OK)
			r = tkvm_error_set(err, -EIO, "warm-up request %d of %d failed: %s", i + 1, w->num_requests, response.error);
		tkvm_response_free(&response);
		if (r < 0)
			return r;
	}
	/* A callback program parks where it was; a paused one must get back
	 * to wait_for_requests_paused before the template is taken. */
	if (!at_park)
		return tkvm_error_set(err, -EIO, "the program did not return to wait_for_requests_paused after warm-up");
	return 0;
}

int program_boot_prepare(struct tkvm_program *program, struct machine *m, struct tkvm_error *err)
{
	int r = machine_create(m, &program->settings, &program->hooks, NULL, err);
	struct elf_image image;
	if (r == 0)
		r = elf_parse(program->elf, program->elf_size, &image, err);
	uint64_t bias = 0;
	if (r == 0) {
		bias = image.position_independent && image.lowest_vaddr < LAYOUT_USER_START ? LAYOUT_PIE_BASE : 0;
		r = build_address_space(m, &image, program->elf, bias, err);
	}
	program->load_bias = bias;
	if (r == 0 && elf_symbols_load(program->elf, program->elf_size, bias, &program->symbols) < 0)
		r = tkvm_error_set(err, -ENOMEM, "out of memory reading symbols");
	m->symbols = &program->symbols;
	if (r == 0)
		r = vcpu_create(&m->vcpu, m->vm_fd, m->platform, m->cr3, err);
	uint64_t rsp;
	if (r == 0)
		r = initial_stack_build(m, &image, bias, &rsp, err);
	if (r < 0) {
		machine_destroy(m);
		return r;
	}
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	memset(regs, 0, sizeof *regs);
	regs->rip = image.entry + bias;
	regs->rsp = rsp;
	regs->rflags = 0x2;
	vcpu_mark_regs_dirty(&m->vcpu);
	m->start_ns = machine_now_ns();
	return 0;
}

int program_boot_complete(struct tkvm_program *program, struct machine *m, struct tkvm_error *err)
{
	m->stats.boot_ns = machine_now_ns() - m->start_ns;
	if (m->stop != MACHINE_STOP_PARKED) {
		int r = describe_boot_failure(m, err);
		machine_destroy(m);
		return r;
	}
	struct kvm_regs parked = *vcpu_regs(&m->vcpu);
	int r = run_warmup(program, m, &parked, err);
	if (r == 0)
		r = template_capture(&program->template, m, &parked, err);
	program->boot_stats = m->stats;
	program->last_stats = m->stats;
	program->counters.boot_time = (double)m->stats.boot_ns / 1e9;
	machine_destroy(m);
	return r;
}

static int boot_template(struct tkvm_program *program, struct tkvm_error *err)
{
	struct machine boot;
	int r = program_boot_prepare(program, &boot, err);
	if (r < 0)
		return r;
	machine_run(&boot, boot.settings.max_boot_time);
	return program_boot_complete(program, &boot, err);
}

int program_create(const struct tkvm_settings *settings, const uint8_t *elf, size_t elf_size,
		   const struct tkvm_hooks *hooks, struct tkvm_program **out, struct tkvm_error *err)
{
	*out = NULL;
	struct tkvm_program *program = calloc(1, sizeof *program);
	if (!program)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&program->lock, NULL);
	pthread_cond_init(&program->vm_free, NULL);
	program->references = 1;
	program->queue_timeout = DEFAULT_QUEUE_TIMEOUT;
	program->template.memory.memfd = -1;
	for (int i = 0; i < FILE_TABLE_SIZE; i++)
		program->template.files[i] = -1;
	tkvm_settings_init(&program->settings);
	program->elf = malloc(elf_size ? elf_size : 1);
	if (!program->elf || tkvm_settings_copy(&program->settings, settings) < 0) {
		tkvm_program_release(program);
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	unsigned concurrency = program->settings.concurrency > 0 ? (unsigned)program->settings.concurrency : 1;
	program->vms = calloc(concurrency, sizeof *program->vms);
	if (!program->vms) {
		tkvm_program_release(program);
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	program->vm_count = concurrency;
	for (unsigned i = 0; i < concurrency; i++)
		program->vms[i].index = i;
	memcpy(program->elf, elf, elf_size);
	program->elf_size = elf_size;
	if (hooks)
		program->hooks = *hooks;
	*out = program;
	return 0;
}

int tkvm_program_boot(const struct tkvm_settings *settings, const uint8_t *elf, size_t elf_size,
		      const struct tkvm_hooks *hooks, struct tkvm_program **out, struct tkvm_error *err)
{
	struct tkvm_program *program;
	int r = program_create(settings, elf, elf_size, hooks, &program, err);
	if (r < 0)
		return r;
	r = boot_template(program, err);
	if (r < 0) {
		tkvm_program_release(program);
		return r;
	}
	*out = program;
	return 0;
}

void program_combine_stats(struct tkvm_program *program, const struct tkvm_stats *vm)
{
	const struct tkvm_stats *boot = &program->boot_stats;
	struct tkvm_stats *out = &program->last_stats;
	*out = *vm;
	out->boot_ns = boot->boot_ns;
	out->exits += boot->exits;
	out->syscalls += boot->syscalls;
	out->host_calls += boot->host_calls;
	out->unknown_syscalls += boot->unknown_syscalls;
	for (unsigned i = 0; i < TKVM_SYSCALL_SLOTS; i++)
		out->syscall_counts[i] += boot->syscall_counts[i];
	for (unsigned i = 0; i < boot->unknown_syscall_distinct; i++) {
		bool seen = false;
		for (unsigned k = 0; k < out->unknown_syscall_distinct; k++)
			seen |= out->unknown_syscall_numbers[k] == boot->unknown_syscall_numbers[i];
		if (!seen && out->unknown_syscall_distinct < 16)
			out->unknown_syscall_numbers[out->unknown_syscall_distinct++] = boot->unknown_syscall_numbers[i];
	}
	if (boot->memory_peak > out->memory_peak)
		out->memory_peak = boot->memory_peak;
}

const struct tkvm_stats *tkvm_program_stats(const struct tkvm_program *program) { return &program->last_stats; }

const char *tkvm_program_symbol(const struct tkvm_program *program, uint64_t address, uint64_t *offset)
{
	/* Our own stubs: the bottom of every request's stack. */
	if (address >= LAYOUT_USER_STUBS && address < LAYOUT_USER_STUBS + GUEST_PAGE_SIZE) {
		*offset = 0;
		if (address >= LAYOUT_REQUEST_ENTRY)
			return "[tkvm request entry]";
		if (address >= LAYOUT_HANDLER_RETURN)
			return "[tkvm request]";
		return "[tkvm syscall]";
	}
	return elf_symbols_lookup(&program->symbols, address, offset);
}

const uint8_t *tkvm_program_elf(const struct tkvm_program *program, size_t *size, uint64_t *load_bias)
{
	*size = program->elf_size;
	*load_bias = program->load_bias;
	return program->elf;
}
const struct tkvm_settings *tkvm_program_settings(const struct tkvm_program *program) { return &program->settings; }

void tkvm_program_set_queue_timeout(struct tkvm_program *program, double seconds)
{
	pthread_mutex_lock(&program->lock);
	program->queue_timeout = seconds;
	pthread_mutex_unlock(&program->lock);
}

void tkvm_program_counters(struct tkvm_program *program, struct tkvm_counters *counters)
{
	pthread_mutex_lock(&program->lock);
	*counters = program->counters;
	pthread_mutex_unlock(&program->lock);
}

void tkvm_program_retain(struct tkvm_program *program)
{
	pthread_mutex_lock(&program->lock);
	program->references++;
	pthread_mutex_unlock(&program->lock);
}

void tkvm_program_release(struct tkvm_program *program)
{
	if (!program)
		return;
	pthread_mutex_lock(&program->lock);
	int left = --program->references;
	pthread_mutex_unlock(&program->lock);
	if (left > 0)
		return;
	for (unsigned i = 0; program->vms && i < program->vm_count; i++)
		if (program->vms[i].created)
			machine_destroy(&program->vms[i].machine);
	free(program->vms);
	template_destroy(&program->template);
	elf_symbols_free(&program->symbols);
	tkvm_settings_free(&program->settings);
	pthread_mutex_destroy(&program->lock);
	pthread_cond_destroy(&program->vm_free);
	free(program->elf);
	free(program);
}

void tkvm_program_destroy(struct tkvm_program *program) { tkvm_program_release(program); }
