/* argv/envp/auxv for the program's entry point (see initial_stack.h). */
#include "runner/initial_stack.h"
#include "runner/layout.h"
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

struct stack_writer {
	struct machine *m;
	uint64_t top;   /* next free byte is below this */
	uint64_t floor; /* lowest usable address */
	bool overflow;
};

static uint64_t push_bytes(struct stack_writer *w, const void *data, size_t length, size_t align)
{
	uint64_t address = (w->top - length) & ~((uint64_t)align - 1);
	if (address < w->floor || address > w->top) {
		w->overflow = true;
		return 0;
	}
	memcpy(w->m->memory.host + address, data, length);
	w->top = address;
	return address;
}

static uint64_t push_string(struct stack_writer *w, const char *s) { return push_bytes(w, s, strlen(s) + 1, 1); }

#define MAX_STRINGS 1024

int initial_stack_build(struct machine *m, const struct elf_image *image, uint64_t bias, uint64_t *rsp,
			struct tkvm_error *err)
{
	const struct tkvm_settings *s = &m->settings;
	struct stack_writer w = {m, m->space.stack_top, m->space.stack_low, false};
	const char *name = s->name ? s->name : "program";
	uint64_t argv[MAX_STRINGS], envp[MAX_STRINGS];
	size_t argc = 0, envc = 0;

	uint8_t random_bytes[16];
	if (getrandom(random_bytes, sizeof random_bytes, 0) != sizeof random_bytes)
		return tkvm_error_set(err, -EIO, "getrandom failed while building AT_RANDOM");
	uint64_t at_random = push_bytes(&w, random_bytes, sizeof random_bytes, 16);
	uint64_t at_platform = push_string(&w, "x86_64");
	uint64_t at_execfn = push_string(&w, name);

	if (s->main_argument_count + 1 >= MAX_STRINGS || s->environment_count + 16 >= MAX_STRINGS)
		return tkvm_error_set(err, -E2BIG, "too many main_arguments or environment entries (at most %d)", MAX_STRINGS - 16);
	argv[argc++] = at_execfn;
	for (size_t i = 0; i < s->main_argument_count; i++)
		argv[argc++] = push_string(&w, s->main_arguments[i]);

	char line[4096];
	envp[envc++] = push_string(&w, "LC_TYPE=C");
	envp[envc++] = push_string(&w, "LC_ALL=C");
	envp[envc++] = push_string(&w, "USER=root");
	for (size_t i = 0; i < s->environment_count; i++)
		envp[envc++] = push_string(&w, s->environment[i]);
	snprintf(line, sizeof line, "KVM_NAME=%s", name);
	envp[envc++] = push_string(&w, line);
	snprintf(line, sizeof line, "KVM_GROUP=%s", s->group ? s->group : "test");
	envp[envc++] = push_string(&w, line);
	envp[envc++] = push_string(&w, "KVM_TYPE=request");
	if (s->filename)
		snprintf(line, sizeof line, "KVM_STATE=%s.state", s->filename);
	else
		snprintf(line, sizeof line, "KVM_STATE=state");
	envp[envc++] = push_string(&w, line);
	envp[envc++] = push_string(&w, s->allow_debug ? "KVM_DEBUG=1" : "KVM_DEBUG=0");

	/* 0 when the headers are not inside a loaded segment: the C libraries
	 * then find them through __ehdr_start. */
	uint64_t at_phdr = image->phdr_vaddr ? image->phdr_vaddr + bias : 0;

	uint64_t auxv[][2] = {
		{AT_PHDR, at_phdr},
		{AT_PHENT, image->phentsize},
		{AT_PHNUM, image->phnum},
		{AT_PAGESZ, GUEST_PAGE_SIZE},
		{AT_BASE, 0},
		{AT_FLAGS, 0},
		{AT_ENTRY, image->entry + bias},
		{AT_UID, 0},
		{AT_EUID, 0},
		{AT_GID, 0},
		{AT_EGID, 0},
		{AT_SECURE, 0},
		{AT_RANDOM, at_random},
		{AT_HWCAP, m->platform->hwcap},
		{AT_HWCAP2, 0},
		{AT_PLATFORM, at_platform},
		{AT_CLKTCK, 100},
		{AT_EXECFN, at_execfn},
		{AT_NULL, 0},
	};
	size_t auxv_words = sizeof auxv / sizeof(uint64_t);
	size_t words = 1 + argc + 1 + envc + 1 + auxv_words;
	/* argc must sit at a 16-byte aligned address. */
	w.top &= ~15ull;
	if ((words & 1))
		w.top -= 8;
	uint64_t base = w.top - words * 8;
	if (w.overflow || base < w.floor)
		return tkvm_error_set(err, -E2BIG, "arguments and environment do not fit on the %llu KiB stack",
				      (unsigned long long)((m->space.stack_top - m->space.stack_low) >> 10));
	uint64_t *out = (uint64_t *)(m->memory.host + base);
	size_t k = 0;
	out[k++] = argc;
	for (size_t i = 0; i < argc; i++)
		out[k++] = argv[i];
	out[k++] = 0;
	for (size_t i = 0; i < envc; i++)
		out[k++] = envp[i];
	out[k++] = 0;
	memcpy(out + k, auxv, sizeof auxv);
	*rsp = base;
	return 0;
}
