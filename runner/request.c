/* One request: copy its inputs into guest memory as struct kvm_request
 * (spec/guest-abi.md), dispatch to the program's handler (or resume the
 * paused model), run under max_request_time, and turn the stop into a
 * response — with the on_error second chance when the program failed. */
#include "runner/program.h"
#include "runner/layout.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVM_REQUEST_SIZE 104
#define ON_ERROR_TIME_LIMIT 1.0

/* Guest addresses of the request's pieces. */
struct guest_request {
	uint64_t block, block_length; /* the allocation holding everything below */
	uint64_t request;             /* struct kvm_request (ours, unless paused model) */
	uint64_t method, url, arg, content_type, headers, body;
};

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

static int write_request(struct machine *m, const struct tkvm_request_input *in, struct guest_request *g,
			 struct tkvm_error *err)
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
	put_u16(r + 66, 0); /* info_flags: not a warm-up request */
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
static int dispatch(struct tkvm_program *program, const struct tkvm_request_input *in, const struct guest_request *g,
		    struct tkvm_error *err)
{
	struct machine *m = &program->machine;
	uint64_t stack = program->parked_regs.rsp;
	if (m->handlers[HANDLER_REQUEST]) {
		uint64_t args[] = {g->request};
		machine_prepare_call(m, m->handlers[HANDLER_REQUEST], stack, args, 1);
		return 0;
	}
	if (m->model == MODEL_PAUSED) {
		uint8_t *target = guest_memory_user_range(&m->memory, m->paused_request_address, KVM_REQUEST_SIZE);
		if (!target)
			return tkvm_error_set(err, -EFAULT, "the paused program's struct kvm_request pointer is not writable");
		memcpy(target, m->memory.host + g->request, KVM_REQUEST_SIZE);
		struct kvm_regs *regs = vcpu_regs(&m->vcpu);
		*regs = program->parked_regs;
		regs->rax = 0;
		vcpu_mark_regs_dirty(&m->vcpu);
		return 0;
	}
	if (has_body(in) && m->handlers[HANDLER_POST]) {
		uint64_t args[] = {g->url, g->arg, g->content_type, g->body, in->body_length};
		machine_prepare_call(m, m->handlers[HANDLER_POST], stack, args, 5);
		return 0;
	}
	if (!has_body(in) && m->handlers[HANDLER_GET]) {
		uint64_t args[] = {g->url, g->arg};
		machine_prepare_call(m, m->handlers[HANDLER_GET], stack, args, 2);
		return 0;
	}
	return tkvm_error_set(err, -ENOENT, "the program has no handler for %s requests (it did not call %s)", in->method,
			      has_body(in) ? "set_backend_post or set_backend_request" : "set_backend_get or set_backend_request");
}

/* Why a run that did not respond failed, in one line. */
static void describe_failure(struct machine *m, char *out, size_t size)
{
	const char *prefix = "";
	char oom[160] = "";
	if (m->space.failed_request && m->failure == FAILURE_CRASH) {
		snprintf(oom, sizeof oom, "out of memory (max_memory %u MB; an allocation of %" PRIu64 " bytes failed), then ",
			 m->settings.max_memory, m->space.failed_request);
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
static bool second_chance(struct tkvm_program *program, const struct guest_request *g, const char *what)
{
	struct machine *m = &program->machine;
	uint32_t handler = m->handlers[HANDLER_ERROR];
	if (!handler || !g->block)
		return false;
	size_t length = strlen(what);
	uint64_t text = address_space_map(&m->space, length + 1);
	if (!text)
		return false;
	memcpy(m->memory.host + text, what, length + 1);
	http_fields_clear(&m->response_fields);
	uint64_t args[] = {g->url, g->arg, text};
	machine_prepare_call(m, handler, program->parked_regs.rsp, args, 3);
	enum machine_stop stop = machine_run(m, ON_ERROR_TIME_LIMIT);
	uint64_t start, discard_length;
	address_space_unmap(&m->space, text, length + 1, &start, &discard_length);
	return stop == MACHINE_STOP_RESPONDED;
}

/* A paused-model program that answered sits inside backend_response: let
 * it loop back to wait_for_requests_paused before the next request. */
static int return_to_park(struct tkvm_program *program, struct tkvm_error *err)
{
	struct machine *m = &program->machine;
	m->in_request = false;
	enum machine_stop stop = machine_run(m, m->settings.max_request_time);
	if (stop != MACHINE_STOP_PARKED) {
		program->broken = true;
		return tkvm_error_set(err, -EIO, "the paused program did not return to wait_for_requests_paused: %s",
				      m->stop_message[0] ? m->stop_message : "it stopped elsewhere");
	}
	program->parked_regs = *vcpu_regs(&m->vcpu);
	program->at_park = true;
	return 0;
}

static void finish_response(struct machine *m, struct tkvm_response *response)
{
	response->headers = http_fields_take(&m->response_fields, &response->header_count);
	http_fields_init(&m->response_fields, TKVM_MAX_RESPONSE_HEADERS);
}

int tkvm_request_run(struct tkvm_program *program, const struct tkvm_request_input *in,
		     struct tkvm_response *response, struct tkvm_error *err)
{
	memset(response, 0, sizeof *response);
	if (!in->method || !*in->method || !in->url || !in->arg || !in->content_type)
		return tkvm_error_set(err, -EINVAL, "request needs a method, url, arg and content type (empty strings allowed)");
	if (in->header_count > TKVM_MAX_REQUEST_HEADERS)
		return tkvm_error_set(err, -E2BIG, "%zu request headers (at most %d)", in->header_count, TKVM_MAX_REQUEST_HEADERS);
	for (size_t i = 0; i < in->header_count; i++)
		if (in->headers[i].length > HTTP_FIELD_MAX_LENGTH)
			return tkvm_error_set(err, -E2BIG, "request header %zu is longer than %d bytes", i, HTTP_FIELD_MAX_LENGTH);
	if (program->broken) {
		/* Full reset after a failure: a fresh VM booted from the ELF. */
		machine_destroy(&program->machine);
		program->broken = false;
		int r = program_boot_machine(program, err);
		if (r < 0) {
			program->broken = true;
			return tkvm_error_prefix(err, "rebooting after the previous failure");
		}
	}
	struct machine *m = &program->machine;
	int r = 0;
	if (!program->at_park && (r = return_to_park(program, err)) < 0)
		return r;

	uint64_t exits = m->stats.exits, syscalls = m->stats.syscalls, host_calls = m->stats.host_calls;
	m->start_ns = machine_now_ns();
	m->space.failed_request = 0;
	http_fields_clear(&m->request_fields);
	http_fields_clear(&m->response_fields);
	for (size_t i = 0; i < in->header_count; i++)
		http_fields_append(&m->request_fields, in->headers[i].field, in->headers[i].length);
	struct guest_request g;
	r = write_request(m, in, &g, err);
	if (r < 0)
		return r;
	r = dispatch(program, in, &g, err);
	if (r < 0) {
		release_request(m, &g);
		return r;
	}
	m->in_request = true;
	m->input = in;
	m->response = response;
	m->response_set = false;
	program->at_park = m->model != MODEL_PAUSED;
	enum machine_stop stop = machine_run(m, m->settings.max_request_time);
	if (stop != MACHINE_STOP_RESPONDED) {
		describe_failure(m, response->error, sizeof response->error);
		free(response->content_type), free(response->body);
		response->content_type = NULL, response->body = NULL;
		response->body_length = 0;
		response->cacheable = false;
		if (second_chance(program, &g, response->error)) {
			response->outcome = TKVM_OUTCOME_RECOVERED;
		} else {
			free(response->content_type), free(response->body);
			response->content_type = NULL, response->body = NULL;
			response->body_length = 0;
			response->status = 500;
			response->outcome = TKVM_OUTCOME_FAILED;
			http_fields_clear(&m->response_fields);
		}
		program->broken = true;
	}
	finish_response(m, response);
	if (!program->broken)
		release_request(m, &g);
	m->in_request = false;
	m->input = NULL;
	m->response = NULL;
	m->stats.requests++;
	m->stats.request_ns = machine_now_ns() - m->start_ns;
	m->stats.request_exits = m->stats.exits - exits;
	m->stats.request_syscalls = m->stats.syscalls - syscalls;
	m->stats.request_host_calls = m->stats.host_calls - host_calls;
	return 0;
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
