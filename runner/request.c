/* One request: copy its inputs into guest memory as struct kvm_request
 * (spec/guest-abi.md), dispatch to the program's handler (or resume the
 * paused model), run under max_request_time, and turn the stop into a
 * response — with the on_error second chance when the program failed. */
#include "runner/program.h"
#include "runner/layout.h"
#include <pthread.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVM_REQUEST_SIZE 104
#define ON_ERROR_TIME_LIMIT 1.0


static uint64_t align8(uint64_t x) { return (x + 7) & ~7ull; }

static void put_u16(uint8_t *p, uint64_t v) { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); }
static void put_u32(uint8_t *p, uint64_t v) { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t copy_string(struct machine *m, uint64_t *cursor, const char *s, size_t length)
{
	uint64_t address = *cursor;
	memcpy(m->memory.host + address, s, length);
	m->memory.host[address + length] = 0;
	*cursor += length + 1;
	return address;
}

static int write_request(struct machine *m, const struct tkvm_request_input *in, uint16_t info_flags,
			 struct guest_request *g, struct tkvm_error *err)
{
	size_t method_length = strlen(in->method), url_length = strlen(in->url), arg_length = strlen(in->arg),
	       ct_length = strlen(in->content_type);
	if (method_length > 0xFFFF || url_length > 0xFFFF || arg_length > 0xFFFF || ct_length > 0xFFFF)
		return tkvm_error_set(err, -E2BIG, "method, url, arg and content type must each be shorter than 64 KiB");
	uint64_t total = KVM_REQUEST_SIZE + align8(in->header_count * 16) + method_length + url_length + arg_length +
			 ct_length + 4;
	for (size_t i = 0; i < in->header_count; i++)
		total += in->headers[i].length + 1;
	total = align8(total) + in->body_length;
	memset(g, 0, sizeof *g);
	g->block = address_space_map(&m->space, total);
	if (!g->block)
		return tkvm_error_set(err, -ENOMEM, "the request (%" PRIu64 " bytes) does not fit in the program's free memory",
				      total);
	g->block_length = total;
	uint64_t cursor = g->block;
	g->request = cursor;
	cursor += KVM_REQUEST_SIZE;
	g->headers = cursor;
	cursor += align8(in->header_count * 16);
	g->method = copy_string(m, &cursor, in->method, method_length);
	g->url = copy_string(m, &cursor, in->url, url_length);
	g->arg = copy_string(m, &cursor, in->arg, arg_length);
	g->content_type = copy_string(m, &cursor, in->content_type, ct_length);
	for (size_t i = 0; i < in->header_count; i++) {
		const struct tkvm_header *h = &in->headers[i];
		uint64_t field = copy_string(m, &cursor, h->field, h->length);
		const char *colon = memchr(h->field, ':', h->length);
		uint8_t *entry = m->memory.host + g->headers + i * 16;
		put_u64(entry, field);
		put_u32(entry + 8, colon ? (uint64_t)(colon - h->field) : h->length);
		put_u32(entry + 12, h->length);
	}
	cursor = align8(cursor);
	g->body = cursor;
	if (in->body_length)
		memcpy(m->memory.host + cursor, in->body, in->body_length);

	uint8_t *r = m->memory.host + g->request;
	memset(r, 0, KVM_REQUEST_SIZE);
	put_u64(r + 0, g->method);
	put_u64(r + 8, g->url);
	put_u64(r + 16, g->arg);
	put_u64(r + 24, g->content_type);
	put_u16(r + 32, method_length);
	put_u16(r + 34, url_length);
	put_u16(r + 36, arg_length);
	put_u16(r + 38, ct_length);
	put_u64(r + 40, g->body);
	put_u64(r + 48, in->body_length);
	put_u64(r + 56, g->headers);
	put_u16(r + 64, in->header_count);
	put_u16(r + 66, info_flags); /* bit 0: warm-up request */
	uint64_t prng[2];
	if (getentropy(prng, sizeof prng) < 0)
		prng[0] = machine_now_ns(), prng[1] = prng[0] * 0x9E3779B97F4A7C15ull;
	put_u64(r + 72, prng[0]);
	put_u64(r + 80, prng[1]);
	return 0;
}

static void release_request(struct machine *m, struct guest_request *g)
{
	if (!g->block)
		return;
	uint64_t start, length;
	address_space_unmap(&m->space, g->block, g->block_length, &start, &length);
	if (length)
		guest_memory_discard(&m->memory, start, length);
	g->block = 0;
}

static bool has_body(const struct tkvm_request_input *in)
{
	return in->body_length > 0 || strcmp(in->method, "POST") == 0 || strcmp(in->method, "PUT") == 0;
}

/* Points the vCPU at the right entry for this request. */
static int dispatch(struct machine *m, const struct kvm_regs *parked, const struct tkvm_request_input *in,
		    const struct guest_request *g, struct tkvm_error *err)
{
	uint64_t stack = parked->rsp;
	if (m->handlers[HANDLER_REQUEST]) {
		uint64_t args[] = {g->request};
		machine_prepare_call(m, m->handlers[HANDLER_REQUEST], stack, args, 1);
		machine_enter_request(m);
		return 0;
	}
	if (m->model == MODEL_PAUSED) {
		uint8_t *target = guest_memory_user_range(&m->memory, m->paused_request_address, KVM_REQUEST_SIZE);
		if (!target)
			return tkvm_error_set(err, -EFAULT, "the paused program's struct kvm_request pointer is not writable");
		memcpy(target, m->memory.host + g->request, KVM_REQUEST_SIZE);
		struct kvm_regs *regs = vcpu_regs(&m->vcpu);
		*regs = *parked;
		regs->rax = 0;
		vcpu_mark_regs_dirty(&m->vcpu);
		machine_enter_request(m);
		return 0;
	}
	if (has_body(in) && m->handlers[HANDLER_POST]) {
		uint64_t args[] = {g->url, g->arg, g->content_type, g->body, in->body_length};
		machine_prepare_call(m, m->handlers[HANDLER_POST], stack, args, 5);
		machine_enter_request(m);
		return 0;
	}
	if (!has_body(in) && m->handlers[HANDLER_GET]) {
		uint64_t args[] = {g->url, g->arg};
		machine_prepare_call(m, m->handlers[HANDLER_GET], stack, args, 2);
		machine_enter_request(m);
		return 0;
	}
	return tkvm_error_set(err, -ENOENT, "the program has no handler for %s requests (it did not call %s)", in->method,
			      has_body(in) ? "set_backend_post or set_backend_request" : "set_backend_get or set_backend_request");
}

static enum tkvm_failure failure_of(const struct machine *m)
{
	switch (m->stop) {
	case MACHINE_STOP_RETURNED: return TKVM_FAILURE_NO_RESPONSE;
	case MACHINE_STOP_EXITED: return TKVM_FAILURE_EXIT;
	case MACHINE_STOP_TIMEOUT: return TKVM_FAILURE_TIMEOUT;
	default: break;
	}
	switch (m->failure) {
	case FAILURE_OUT_OF_MEMORY: return TKVM_FAILURE_OUT_OF_MEMORY;
	case FAILURE_BAD_CALL: return TKVM_FAILURE_BAD_CALL;
	case FAILURE_TIMEOUT: return TKVM_FAILURE_TIMEOUT;
	default: return TKVM_FAILURE_CRASH;
	}
}

/* Why a run that did not respond failed, in one line. */
static void describe_failure(struct machine *m, char *out, size_t size)
{
	const char *prefix = "";
	char oom[200] = "";
	if (m->space.failed_request && m->failure == FAILURE_CRASH) {
		bool request_limit = m->space.failed_on_limit;
		snprintf(oom, sizeof oom, "out of memory (%s %u MB; an allocation of %" PRIu64 " bytes failed), then ",
			 request_limit ? "max_request_memory" : "max_memory",
			 request_limit ? m->settings.max_request_memory : m->settings.max_memory, m->space.failed_request);
		m->failure = FAILURE_OUT_OF_MEMORY;
	}
	switch (m->stop) {
	case MACHINE_STOP_RETURNED:
		snprintf(out, size, "response not set: the handler returned without calling backend_response");
		return;
	case MACHINE_STOP_EXITED:
		snprintf(out, size, "the program exited with status %d during the request", m->exit_status);
		return;
	case MACHINE_STOP_TIMEOUT:
		prefix = "request ";
		break;
	default:
		break;
	}
	snprintf(out, size, "%s%s%.800s", oom, prefix, m->stop_message);
}

/* The on_error second chance: handler 5 (url, arg, what) with 1 s. */
static bool second_chance(struct machine *m, const struct kvm_regs *parked, const struct guest_request *g, const char *what)
{
	uint32_t handler = m->handlers[HANDLER_ERROR];
	if (!handler || !g->block)
		return false;
	size_t length = strlen(what);
	m->space.limit = UINT64_MAX; /* the program gets to answer even when out of request memory */
	uint64_t text = address_space_map(&m->space, length + 1);
	if (!text)
		return false;
	memcpy(m->memory.host + text, what, length + 1);
	http_fields_clear(&m->response_fields);
	uint64_t args[] = {g->url, g->arg, text};
	machine_prepare_call(m, handler, parked->rsp, args, 3);
	return machine_run(m, ON_ERROR_TIME_LIMIT) == MACHINE_STOP_RESPONDED;
}

/* A paused-model program that answered sits inside backend_response: let
 * it loop back to wait_for_requests_paused before its next request. */
static int return_to_park(struct machine *m, struct kvm_regs *parked, bool *at_park, struct tkvm_error *err)
{
	m->in_request = false;
	enum machine_stop stop = machine_run(m, m->settings.max_request_time);
	if (stop != MACHINE_STOP_PARKED)
		return tkvm_error_set(err, -EIO, "the paused program did not return to wait_for_requests_paused: %s",
				      m->stop_message[0] ? m->stop_message : "it stopped elsewhere");
	*parked = *vcpu_regs(&m->vcpu);
	*at_park = true;
	return 0;
}

static int validate_input(const struct tkvm_request_input *in, struct tkvm_error *err)
{
	if (!in->method || !*in->method || !in->url || !in->arg || !in->content_type)
		return tkvm_error_set(err, -EINVAL, "request needs a method, url, arg and content type (empty strings allowed)");
	if (in->header_count > TKVM_MAX_REQUEST_HEADERS)
		return tkvm_error_set(err, -EINVAL, "%zu request headers (at most %d)", in->header_count, TKVM_MAX_REQUEST_HEADERS);
	for (size_t i = 0; i < in->header_count; i++)
		if (in->headers[i].length > HTTP_FIELD_MAX_LENGTH)
			return tkvm_error_set(err, -EINVAL, "request header %zu is longer than %d bytes", i, HTTP_FIELD_MAX_LENGTH);
	return 0;
}

int machine_request_begin(struct machine *m, struct kvm_regs *parked, bool *at_park, const struct tkvm_request_input *in,
			  uint16_t info_flags, struct tkvm_response *response, struct request_run *run, struct tkvm_error *err)
{
	memset(response, 0, sizeof *response);
	memset(run, 0, sizeof *run);
	int r = validate_input(in, err);
	if (r < 0)
		return r;
	if (!*at_park && (r = return_to_park(m, parked, at_park, err)) < 0)
		return r;
	run->parked = parked;
	run->exits = m->stats.exits, run->syscalls = m->stats.syscalls, run->host_calls = m->stats.host_calls;
	m->start_ns = machine_now_ns();
	m->space.failed_request = 0;
	http_fields_clear(&m->request_fields);
	http_fields_clear(&m->response_fields);
	for (size_t i = 0; i < in->header_count; i++)
		http_fields_append(&m->request_fields, in->headers[i].field, in->headers[i].length);
	r = write_request(m, in, info_flags, &run->g, err);
	if (r == 0)
		r = dispatch(m, parked, in, &run->g, err);
	if (r < 0) {
		release_request(m, &run->g);
		return r;
	}
	m->in_request = true;
	m->input = in;
	m->response = response;
	m->response_set = false;
	*at_park = m->model != MODEL_PAUSED;
	return 0;
}

void machine_request_end(struct machine *m, struct request_run *run, struct tkvm_response *response)
{
	if (m->stop != MACHINE_STOP_RESPONDED) {
		describe_failure(m, response->error, sizeof response->error);
		response->failure = failure_of(m);
		free(response->content_type), free(response->body);
		response->content_type = NULL, response->body = NULL;
		response->body_length = 0;
		response->cacheable = false;
		if (second_chance(m, run->parked, &run->g, response->error)) {
			response->outcome = TKVM_OUTCOME_RECOVERED;
		} else {
			if (m->handlers[HANDLER_ERROR] && m->stop != MACHINE_STOP_RESPONDED) {
				size_t used = strlen(response->error);
				snprintf(response->error + used, sizeof response->error - used, "; on_error failed too: %.300s",
					 m->stop == MACHINE_STOP_RETURNED ? "it returned without a response" : m->stop_message);
			}
			free(response->content_type), free(response->body);
			response->content_type = NULL, response->body = NULL;
			response->body_length = 0;
			response->status = 500;
			response->outcome = TKVM_OUTCOME_FAILED;
			http_fields_clear(&m->response_fields);
		}
	}
	response->headers = http_fields_take(&m->response_fields, &response->header_count);
	http_fields_init(&m->response_fields, TKVM_MAX_RESPONSE_HEADERS);
	/* An ephemeral VM is reset wholesale; otherwise free what we took. */
	if (response->outcome == TKVM_OUTCOME_OK && !m->ephemeral)
		release_request(m, &run->g);
	m->in_request = false;
	m->input = NULL;
	m->response = NULL;
	m->stats.requests++;
	m->stats.request_ns = machine_now_ns() - m->start_ns;
	m->stats.request_exits = m->stats.exits - run->exits;
	m->stats.request_syscalls = m->stats.syscalls - run->syscalls;
	m->stats.request_host_calls = m->stats.host_calls - run->host_calls;
}

int machine_request(struct machine *m, struct kvm_regs *parked, bool *at_park, const struct tkvm_request_input *in,
		    uint16_t info_flags, struct tkvm_response *response, struct tkvm_error *err)
{
	struct request_run run;
	int r = machine_request_begin(m, parked, at_park, in, info_flags, response, &run, err);
	if (r < 0)
		return r;
	machine_run(m, m->settings.max_request_time);
	machine_request_end(m, &run, response);
	return 0;
}

/* Takes a free request VM, making one when fewer than `concurrency`
 * exist; waits up to the queue timeout. Called with the lock held. */
static struct request_vm *acquire_vm(struct tkvm_program *p, double *waited, struct tkvm_error *err)
{
	uint64_t start = machine_now_ns();
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	double timeout = p->queue_timeout;
	deadline.tv_sec += (time_t)timeout;
	deadline.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (deadline.tv_nsec >= 1000000000L)
		deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
	for (;;) {
		struct request_vm *fresh = NULL;
		for (unsigned i = 0; i < p->vm_count; i++) {
			struct request_vm *vm = &p->vms[i];
			if (vm->busy)
				continue;
			if (vm->created) {
				vm->busy = true;
				*waited = (double)(machine_now_ns() - start) / 1e9;
				return vm;
			}
			if (!fresh)
				fresh = vm;
		}
		if (fresh) {
			fresh->busy = true;
			*waited = (double)(machine_now_ns() - start) / 1e9;
			return fresh;
		}
		if (pthread_cond_timedwait(&p->vm_free, &p->lock, &deadline) == ETIMEDOUT) {
			p->counters.queue_timeouts++;
			tkvm_error_set(err, -EBUSY, "no free request VM within the queue timeout (%g s; concurrency %u)", timeout,
				       p->vm_count);
			return NULL;
		}
	}
}

static void count_response(struct tkvm_counters *c, const struct tkvm_response *r)
{
	c->invocations++;
	if (r->status >= 500)
		c->status_5xx++;
	else if (r->status >= 400)
		c->status_4xx++;
	else if (r->status >= 300)
		c->status_3xx++;
	else
		c->status_2xx++;
	if (r->outcome != TKVM_OUTCOME_OK) {
		if (r->failure == TKVM_FAILURE_TIMEOUT)
			c->timeouts++;
		else
			c->exceptions++;
	}
}

struct request_vm *program_take_vm(struct tkvm_program *p, double *waited, struct tkvm_error *err)
{
	pthread_mutex_lock(&p->lock);
	struct request_vm *vm = acquire_vm(p, waited, err);
	if (vm)
		p->counters.reservation_time += *waited;
	pthread_mutex_unlock(&p->lock);
	if (!vm || vm->created)
		return vm;
	struct machine *m = &vm->machine;
	int r = template_instantiate(&p->template, m, &p->settings, &p->hooks, &p->symbols, err);
	if (r < 0) {
		machine_destroy(m);
		pthread_mutex_lock(&p->lock);
		vm->busy = false;
		pthread_cond_signal(&p->vm_free);
		pthread_mutex_unlock(&p->lock);
		tkvm_error_prefix(err, "creating request VM %u", vm->index);
		return NULL;
	}
	vm->created = true;
	vm->parked_regs = p->template.regs;
	vm->at_park = true;
	pthread_mutex_lock(&p->lock);
	p->counters.request_vms++;
	pthread_mutex_unlock(&p->lock);
	return vm;
}

void program_return_vm(struct tkvm_program *p, struct request_vm *vm, bool full_reset)
{
	struct machine *m = &vm->machine;
	int64_t pages = template_reset(&p->template, m, full_reset);
	vm->parked_regs = p->template.regs;
	vm->at_park = true;
	pthread_mutex_lock(&p->lock);
	if (pages < 0) {
		machine_destroy(m);
		vm->created = false;
	}
	vm->busy = false;
	pthread_cond_signal(&p->vm_free);
	pthread_mutex_unlock(&p->lock);
}

static int run_request(struct tkvm_program *p, const struct tkvm_request_input *in, struct tkvm_response *response,
		       const struct tkvm_profile_options *options, struct tkvm_profile *profile, struct tkvm_error *err)
{
	memset(response, 0, sizeof *response);
	int r = validate_input(in, err);
	if (r < 0)
		return r;
	double waited = 0;
	struct request_vm *vm = program_take_vm(p, &waited, err);
	if (!vm)
		return err && err->code == -EBUSY ? -EBUSY : (err && err->code ? err->code : -EBUSY);
	struct machine *m = &vm->machine;
	m->profile = profile;
	m->sample_hz = profile && options ? options->sample_hz : 0;
	uint64_t request_start = machine_now_ns();
	struct request_run run;
	r = machine_request_begin(m, &vm->parked_regs, &vm->at_park, in, 0, response, &run, err);
	if (r == 0) {
		/* With a debug hook and remote_debug_on_exception, faults keep the
		 * program's state so that gdb can look at it. */
		m->debugging = m->hooks.debug && m->settings.remote_debug_on_exception;
		double limit = m->settings.max_request_time;
		for (;;) {
			machine_run(m, limit);
			if (!debugger_wants_hook(m))
				break;
			if (debugger_run_hook(p, vm, &run, response) || m->stop != MACHINE_STOP_DEBUG)
				break;
			limit = 0; /* detached: it runs on, without the time it spent stopped counted against it */
			m->debugging = m->hooks.debug && m->settings.remote_debug_on_exception;
		}
		m->debugging = false;
		machine_request_end(m, &run, response);
	}
	if (profile) {
		profile->request_seconds = (double)(machine_now_ns() - request_start) / 1e9;
		profile->queue_seconds = waited;
		profile->bytes_in = strlen(in->url) + strlen(in->arg) + in->body_length;
		for (size_t i = 0; i < in->header_count; i++)
			profile->bytes_in += in->headers[i].length;
		profile->bytes_out = response->body_length;
	}
	m->profile = NULL;
	m->sample_hz = 0;
	response->vm = vm->index;
	response->queue_seconds = waited;
	bool failed = r < 0 || response->outcome != TKVM_OUTCOME_OK;
	int64_t pages = 0;
	uint64_t reset_start = machine_now_ns();
	if (failed || m->ephemeral) {
		/* Ephemeral: back to the template's pages, registers and FPU.
		 * After a failure always, and giving the pages back (full reset). */
		pages = template_reset(&p->template, m, failed);
		vm->parked_regs = p->template.regs;
		vm->at_park = true;
	}
	double reset_seconds = (double)(machine_now_ns() - reset_start) / 1e9;
	response->reset_seconds = reset_seconds;
	response->pages_reset = pages > 0 ? (uint64_t)pages : 0;
	if (profile) {
		profile->reset_seconds = reset_seconds;
		profile->pages_reset = response->pages_reset;
	}
	pthread_mutex_lock(&p->lock);
	if (r == 0)
		count_response(&p->counters, response);
	p->counters.request_cpu_time += (double)m->stats.request_ns / 1e9;
	if (failed || m->ephemeral) {
		p->counters.reset_time += reset_seconds;
		if (failed)
			p->counters.full_resets++;
		else
			p->counters.resets++;
	}
	program_combine_stats(p, &m->stats);
	if (pages < 0) {
		/* The VM could not be reset: never hand it out again as it is. */
		machine_destroy(m);
		vm->created = false;
	}
	vm->busy = false;
	pthread_cond_signal(&p->vm_free);
	pthread_mutex_unlock(&p->lock);
	return r;
}

int tkvm_request_run(struct tkvm_program *p, const struct tkvm_request_input *in, struct tkvm_response *response,
		     struct tkvm_error *err)
{
	return run_request(p, in, response, NULL, NULL, err);
}

int tkvm_request_run_profiled(struct tkvm_program *p, const struct tkvm_request_input *in, struct tkvm_response *response,
			      const struct tkvm_profile_options *options, struct tkvm_profile *profile, struct tkvm_error *err)
{
	memset(profile, 0, sizeof *profile);
	return run_request(p, in, response, options, profile, err);
}

void tkvm_profile_free(struct tkvm_profile *profile)
{
	free(profile->samples);
	memset(profile, 0, sizeof *profile);
}

void tkvm_response_free(struct tkvm_response *response)
{
	free(response->content_type);
	free(response->body);
	for (size_t i = 0; i < response->header_count; i++)
		free(response->headers[i]);
	free(response->headers);
	memset(response, 0, sizeof *response);
}
