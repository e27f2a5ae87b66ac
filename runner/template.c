/* Template capture, request VM creation and reset (see template.h). */
#include "runner/template.h"
#include "runner/layout.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int template_capture(struct template *t, struct machine *booted, const struct kvm_regs *parked, struct tkvm_error *err)
{
	memset(t, 0, sizeof *t);
	t->memory.memfd = -1;
	for (int i = 0; i < FILE_TABLE_SIZE; i++)
		t->files[i] = -1;
	if (ioctl(booted->vcpu.fd, KVM_GET_XSAVE, &t->xsave) < 0)
		return tkvm_error_set(err, -errno, "KVM_GET_XSAVE: %s", strerror(errno));
	t->cr3 = booted->cr3;
	t->regs = *parked;
	t->sregs = *vcpu_sregs(&booted->vcpu);
	t->space = booted->space;
	memcpy(t->handlers, booted->handlers, sizeof t->handlers);
	t->model = booted->model;
	t->paused_request_address = booted->paused_request_address;
	t->ephemeral = booted->ephemeral;
	memcpy(t->signal_actions, booted->signal_actions, sizeof t->signal_actions);
	/* Files open at the park belong to the template now; request VMs
	 * reopen them (their own offsets) and seek to where they were. */
	for (int i = 0; i < FILE_TABLE_SIZE; i++) {
		t->files[i] = booted->files.host_fds[i];
		booted->files.host_fds[i] = -1;
		t->file_offsets[i] = t->files[i] >= 0 ? lseek(t->files[i], 0, SEEK_CUR) : 0;
	}
	t->boot_ns = booted->stats.boot_ns;
	/* The FPU image request VMs restore from, inside the guest. */
	memcpy(booted->memory.host + LAYOUT_FPU_IMAGE, &t->xsave, GUEST_PAGE_SIZE);
	/* The VM goes; its memory becomes the sealed template. */
	vcpu_destroy(&booted->vcpu);
	close(booted->vm_fd);
	booted->vm_fd = -1;
	t->memory = booted->memory;
	booted->memory.host = NULL;
	booted->memory.memfd = -1;
	return guest_memory_freeze(&t->memory, err);
}

static int reopen_files(const struct template *t, struct machine *m)
{
	for (int i = 0; i < FILE_TABLE_SIZE; i++) {
		if (t->files[i] < 0)
			continue;
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", t->files[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		lseek(fd, t->file_offsets[i], SEEK_SET);
		m->files.host_fds[i] = fd;
	}
	return 0;
}

/* Host-side state of the program, as at the park. */
static void restore_host_state(const struct template *t, struct machine *m)
{
	m->space = t->space;
	memcpy(m->handlers, t->handlers, sizeof m->handlers);
	m->model = t->model;
	m->paused_request_address = t->paused_request_address;
	m->ephemeral = t->ephemeral;
	m->parked = true;
	memcpy(m->signal_actions, t->signal_actions, sizeof m->signal_actions);
	http_fields_clear(&m->request_fields);
	http_fields_clear(&m->response_fields);
}

static int restore_cpu_state(const struct template *t, struct machine *m, bool force_sregs)
{
	*vcpu_regs(&m->vcpu) = t->regs;
	vcpu_mark_regs_dirty(&m->vcpu);
	/* Special registers rarely change in a request (a TLS switch, or a
	 * fault at CPL0): write them only then. */
	if (force_sregs || memcmp(vcpu_sregs(&m->vcpu), &t->sregs, sizeof t->sregs) != 0) {
		*vcpu_sregs(&m->vcpu) = t->sregs;
		vcpu_mark_sregs_dirty(&m->vcpu);
	}
	/* FPU/SSE/AVX: with XSAVE, by the guest itself on its way into the
	 * next request (an xrstor costs far less than a vCPU ioctl);
	 * otherwise through KVM. */
	if (m->platform->has_xsave) {
		m->fpu_restore_pending = true;
		return 0;
	}
	if (ioctl(m->vcpu.fd, KVM_SET_XSAVE, &t->xsave) < 0)
		return -errno;
	return 0;
}

int template_instantiate(const struct template *t, struct machine *m, const struct tkvm_settings *settings,
			 const struct tkvm_hooks *hooks, const struct elf_symbols *symbols, struct tkvm_error *err)
{
	int r = machine_create(m, settings, hooks, &t->memory, err);
	if (r < 0)
		return r;
	m->symbols = symbols;
	m->cr3 = t->cr3;
	r = vcpu_create(&m->vcpu, m->vm_fd, m->platform, t->cr3, err);
	if (r < 0)
		return r;
	restore_host_state(t, m);
	r = reopen_files(t, m);
	if (r < 0)
		return tkvm_error_set(err, r, "reopening the program's files: %s", strerror(-r));
	r = restore_cpu_state(t, m, true);
	if (r < 0)
		return tkvm_error_set(err, r, "KVM_SET_XSAVE: %s", strerror(-r));
	/* What one request may allocate beyond what the template holds. */
	m->request_memory_limit = address_space_used(&t->space) + ((uint64_t)settings->max_request_memory << 20);
	m->space.limit = m->request_memory_limit;
	m->stats.boot_ns = t->boot_ns;
	return 0;
}

int64_t template_reset(const struct template *t, struct machine *m, bool full)
{
	uint64_t give_back_after = UINT64_MAX;
	if (full)
		give_back_after = 0;
	else if (m->settings.limit_workmem_after_req)
		give_back_after = ((uint64_t)m->settings.limit_workmem_after_req << 20) / GUEST_PAGE_SIZE;
	int64_t pages = guest_memory_reset(&m->memory, &t->memory, give_back_after);
	if (pages < 0)
		return pages;
	restore_host_state(t, m);
	m->space.limit = m->request_memory_limit;
	for (int i = 0; i < FILE_TABLE_SIZE; i++) {
		if (t->files[i] >= 0)
			lseek(m->files.host_fds[i], t->file_offsets[i], SEEK_SET);
		else if (m->files.host_fds[i] >= 0)
			file_table_close(&m->files, i);
	}
	int r = restore_cpu_state(t, m, full);
	return r < 0 ? r : pages;
}

void template_destroy(struct template *t)
{
	guest_memory_destroy(&t->memory);
	for (int i = 0; i < FILE_TABLE_SIZE; i++)
		if (t->files[i] >= 0)
			close(t->files[i]);
}
