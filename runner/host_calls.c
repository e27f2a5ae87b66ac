/* The guest ABI's host calls (spec/guest-abi.md): `out %eax, $0` with the
 * call number in eax and arguments in rdi, rsi, rdx, rcx, r8, r9. Every
 * pointer and length is checked; a bad one ends the request with a message
 * naming the call, the argument and the caller. */
#include "runner/machine.h"
#include "runner/layout.h"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum host_call {
	HC_REGISTER_FUNC = 0x10000,
	HC_WAIT_FOR_REQUESTS = 0x10001,
	HC_WAIT_FOR_REQUESTS_PAUSED = 0x10002,
	HC_SET_CACHEABLE = 0x10005,
	HC_BACKEND_RESPONSE = 0x10010,
	HC_STORAGE_RETURN = 0x10011,
	HC_BEGIN_STREAMING_RESPONSE = 0x10012,
	HC_STORAGE_NORETURN = 0x10013,
	HC_HTTP_APPEND = 0x10020,
	HC_HTTP_SET = 0x10021,
	HC_HTTP_FIND = 0x10022,
	HC_HTTP_METHOD = 0x10023,
	HC_SET_BACKEND = 0x10100,
	HC_SHARED_MEMORY_AREA = 0x10700,
	HC_MAKE_EPHEMERAL = 0x10703,
	HC_IS_STORAGE = 0x10706,
	HC_GET_MEMINFO = 0x10A00,
	HC_SYS_LOG = 0x7F000,
	HC_IS_DEBUG = 0x7FDEB,
	HC_BREAKPOINT = 0x7F7F7,
	HC_FETCH = 0x20000,
	HC_REQUEST = 0x20001,
};

#define CONTENT_TYPE_MAX 4095
#define RESPONSE_EXTRA_SIZE 56
#define RESPONSE_EXTRA_MAX_HEADERS 64
#define SYS_LOG_MAX (1u << 20)

/* Profile slots: one per host call of the ABI; 0 collects the rest. */
static const uint32_t host_call_slots[] = {
	0, HC_REGISTER_FUNC, HC_WAIT_FOR_REQUESTS, HC_WAIT_FOR_REQUESTS_PAUSED, HC_SET_CACHEABLE, HC_BACKEND_RESPONSE,
	HC_STORAGE_RETURN, HC_BEGIN_STREAMING_RESPONSE, HC_STORAGE_NORETURN, HC_HTTP_APPEND, HC_HTTP_SET, HC_HTTP_FIND,
	HC_HTTP_METHOD, HC_SET_BACKEND, HC_SHARED_MEMORY_AREA, HC_MAKE_EPHEMERAL, HC_IS_STORAGE, HC_GET_MEMINFO,
	HC_SYS_LOG, HC_IS_DEBUG, HC_BREAKPOINT, HC_FETCH, HC_REQUEST,
};

unsigned host_call_slot(uint32_t number)
{
	for (unsigned i = 1; i < sizeof host_call_slots / sizeof host_call_slots[0]; i++)
		if (host_call_slots[i] == number)
			return i;
	return 0;
}

static const char *host_call_name(uint32_t number);

const char *tkvm_host_call_slot_name(unsigned slot)
{
	if (slot == 0)
		return "other host calls";
	if (slot >= sizeof host_call_slots / sizeof host_call_slots[0])
		return NULL;
	return host_call_name(host_call_slots[slot]);
}

static const char *host_call_name(uint32_t number)
{
	switch (number) {
	case HC_REGISTER_FUNC: return "register_func";
	case HC_WAIT_FOR_REQUESTS: return "wait_for_requests";
	case HC_WAIT_FOR_REQUESTS_PAUSED: return "wait_for_requests_paused";
	case HC_SET_CACHEABLE: return "set_cacheable";
	case HC_BACKEND_RESPONSE: return "backend_response";
	case HC_STORAGE_RETURN: return "storage_return";
	case HC_BEGIN_STREAMING_RESPONSE: return "begin_streaming_response";
	case HC_STORAGE_NORETURN: return "storage_noreturn";
	case HC_HTTP_APPEND: return "http_append";
	case HC_HTTP_SET: return "http_set";
	case HC_HTTP_FIND: return "http_find";
	case HC_HTTP_METHOD: return "http_method";
	case HC_SET_BACKEND: return "set_backend";
	case HC_SHARED_MEMORY_AREA: return "shared_memory_area";
	case HC_MAKE_EPHEMERAL: return "make_ephemeral";
	case HC_IS_STORAGE: return "is_storage";
	case HC_GET_MEMINFO: return "get_meminfo";
	case HC_SYS_LOG: return "sys_log";
	case HC_IS_DEBUG: return "is_debug";
	case HC_BREAKPOINT: return "breakpoint";
	case HC_FETCH: return "sys_fetch";
	case HC_REQUEST: return "sys_request";
	default: return NULL;
	}
}

/* Ends the run because of a bad host call, naming the caller (the return
 * address the stub will use) rather than the stub itself. */
static void bad_call(struct machine *m, const char *call, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad_call(struct machine *m, const char *call, const char *fmt, ...)
{
	char what[512], caller[160] = "unknown";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	const uint64_t *ret = guest_memory_user_range(&m->memory, vcpu_regs(&m->vcpu)->rsp, 8);
	if (ret)
		machine_describe_address(m, *ret, caller, sizeof caller);
	machine_fail(m, FAILURE_BAD_CALL, "bad host call %s: %s (called from %s)", call, what, caller);
}

static void bad_call_plain(struct machine *m, const char *call, const char *what)
{
	bad_call(m, call, "%s", what);
}

static struct http_fields *fields_for(struct machine *m, uint64_t where, const char *call)
{
	/* 0/1 today; some upstream headers numbered them 4 (BEREQ) and 5 (BERESP). */
	if (where == 0 || where == 4)
		return &m->request_fields;
	if (where == 1 || where == 5)
		return &m->response_fields;
	bad_call(m, call, "header set %" PRIu64 " does not exist (0 = request, 1 = response)", where);
	return NULL;
}

static bool require_request(struct machine *m, const char *call)
{
	if (m->in_request)
		return true;
	bad_call(m, call, "only allowed while handling a request");
	return false;
}

static const void *user_range(struct machine *m, const char *call, const char *what, uint64_t address, uint64_t length)
{
	const void *p = guest_memory_user_range(&m->memory, address, length);
	if (!p)
		bad_call(m, call, "%s (0x%" PRIx64 ", %" PRIu64 " bytes) is outside guest memory", what, address, length);
	return p;
}

static int64_t call_register_func(struct machine *m, const uint64_t *a)
{
	if (m->parked) {
		bad_call(m, "register_func", "handlers can only be registered before wait_for_requests");
		return -1;
	}
	if (a[0] == 0 || a[0] >= HANDLER_SLOTS) {
		bad_call(m, "register_func", "handler index %" PRIu64 " is out of range (1..%d)", a[0], HANDLER_SLOTS - 1);
		return -1;
	}
	if (a[1] && (a[1] >= (1ull << 32) || !guest_memory_user_range(&m->memory, a[1], 1))) {
		bad_call(m, "register_func", "handler address 0x%" PRIx64 " is not in guest memory below 4 GiB", a[1]);
		return -1;
	}
	m->handlers[a[0]] = (uint32_t)a[1];
	return 0;
}

static int64_t call_wait_for_requests(struct machine *m, const uint64_t *a)
{
	if (m->parked) {
		bad_call(m, "wait_for_requests", "called a second time");
		return -1;
	}
	m->model = MODEL_CALLBACK;
	m->parked = true;
	m->stop = MACHINE_STOP_PARKED;
	return 0;
}

static int64_t call_wait_for_requests_paused(struct machine *m, const uint64_t *a)
{
	if (m->in_request) {
		if (m->model == MODEL_PAUSED)
			machine_fail(m, FAILURE_BAD_CALL,
				     "response not set: the program asked for the next request before calling backend_response");
		else
			bad_call(m, "wait_for_requests_paused", "called during a request of a callback-model program");
		return -1;
	}
	if (m->parked && m->model != MODEL_PAUSED) {
		bad_call(m, "wait_for_requests_paused", "the program already parked with wait_for_requests");
		return -1;
	}
	if (!user_range(m, "wait_for_requests_paused", "struct kvm_request", a[0], 104))
		return -1;
	m->model = MODEL_PAUSED;
	m->parked = true;
	m->paused_request_address = a[0];
	m->stop = MACHINE_STOP_PARKED;
	return 0;
}

static int64_t call_set_cacheable(struct machine *m, const uint64_t *a)
{
	if (!require_request(m, "set_cacheable"))
		return -1;
	m->response->cacheable = a[0] != 0;
	m->response->ttl = (double)(int64_t)a[1] / 1000.0;
	m->response->grace = (double)(int64_t)a[2] / 1000.0;
	m->response->keep = (double)(int64_t)a[3] / 1000.0;
	return 0;
}

/* struct BackendResponseExtra: headers@0, u16 num_headers@8, bool cached@10,
 * float ttl@12, grace@16, keep@20. */
static bool apply_response_extra(struct machine *m, uint64_t address)
{
	const uint8_t *extra = user_range(m, "backend_response", "struct BackendResponseExtra", address, RESPONSE_EXTRA_SIZE);
	if (!extra)
		return false;
	uint64_t headers;
	uint16_t count;
	float ttl, grace, keep;
	memcpy(&headers, extra, 8);
	memcpy(&count, extra + 8, 2);
	memcpy(&ttl, extra + 12, 4), memcpy(&grace, extra + 16, 4), memcpy(&keep, extra + 20, 4);
	if (count > RESPONSE_EXTRA_MAX_HEADERS) {
		bad_call(m, "backend_response", "the extra struct lists %u headers (at most %d)", count, RESPONSE_EXTRA_MAX_HEADERS);
		return false;
	}
	const uint64_t *list = count ? user_range(m, "backend_response", "extra headers array", headers, (uint64_t)count * 16) : NULL;
	if (count && !list)
		return false;
	for (unsigned i = 0; i < count; i++) {
		uint64_t field = list[2 * i], length = list[2 * i + 1];
		if (length > HTTP_FIELD_MAX_LENGTH) {
			bad_call(m, "backend_response", "extra header %u is %" PRIu64 " bytes long (at most %d)", i, length, HTTP_FIELD_MAX_LENGTH);
			return false;
		}
		const char *text = user_range(m, "backend_response", "extra header", field, length);
		if (!text)
			return false;
		if (http_fields_append(&m->response_fields, text, length) < 0) {
			bad_call(m, "backend_response", "too many response headers (at most %d)", TKVM_MAX_RESPONSE_HEADERS);
			return false;
		}
	}
	if (extra[10]) {
		m->response->cacheable = true;
		m->response->ttl = ttl, m->response->grace = grace, m->response->keep = keep;
	}
	return true;
}

static int64_t call_backend_response(struct machine *m, const uint64_t *a)
{
	const char *call = "backend_response";
	if (!require_request(m, call))
		return -1;
	int64_t status = (int64_t)a[0];
	uint64_t ct = a[1], ct_length = a[2], body = a[3], body_length = a[4], extra = a[5];
	if (status < 200 || status > 599) {
		bad_call(m, call, "status %" PRId64 " is not between 200 and 599", status);
		return -1;
	}
	if (ct_length > CONTENT_TYPE_MAX) {
		bad_call(m, call, "content type is %" PRIu64 " bytes long (at most %d)", ct_length, CONTENT_TYPE_MAX);
		return -1;
	}
	const char *ct_text = user_range(m, call, "content type", ct, ct_length);
	const uint8_t *body_bytes = ct_text ? user_range(m, call, "body", body, body_length) : NULL;
	if (!ct_text || !body_bytes)
		return -1;
	if (extra && !apply_response_extra(m, extra))
		return -1;
	struct tkvm_response *r = m->response;
	r->status = (int)status;
	r->content_type = strndup(ct_text, ct_length);
	r->body = malloc(body_length ? body_length : 1);
	if (!r->content_type || !r->body) {
		machine_fail(m, FAILURE_OUT_OF_MEMORY, "host out of memory copying a %" PRIu64 "-byte response", body_length);
		return -1;
	}
	memcpy(r->body, body_bytes, body_length);
	r->body_length = body_length;
	m->response_set = true;
	m->stop = MACHINE_STOP_RESPONDED;
	return 0;
}

static int64_t call_http_append(struct machine *m, const uint64_t *a)
{
	struct http_fields *fields = fields_for(m, a[0], "http_append");
	if (!fields)
		return -1;
	if (a[2] > HTTP_FIELD_MAX_LENGTH) {
		bad_call(m, "http_append", "field is %" PRIu64 " bytes long (at most %d)", a[2], HTTP_FIELD_MAX_LENGTH);
		return -1;
	}
	const char *text = user_range(m, "http_append", "field", a[1], a[2]);
	if (!text)
		return -1;
	int index = http_fields_append(fields, text, a[2]);
	return index < 0 ? -1 : index;
}

static int64_t call_http_set(struct machine *m, const uint64_t *a)
{
	struct http_fields *fields = fields_for(m, a[0], "http_set");
	if (!fields)
		return -1;
	if (a[2] > HTTP_FIELD_MAX_LENGTH) {
		bad_call(m, "http_set", "field is %" PRIu64 " bytes long (at most %d)", a[2], HTTP_FIELD_MAX_LENGTH);
		return -1;
	}
	const char *text = user_range(m, "http_set", "field", a[1], a[2]);
	if (!text)
		return -1;
	return http_fields_set(fields, text, a[2]) < 0 ? -1 : 0;
}

/* Shared convention of http_find and http_method: out == NULL asks for the
 * length; a buffer too small gets 0; otherwise the text is copied (with a
 * terminating NUL when it fits) and its length returned. */
static int64_t copy_out_text(struct machine *m, const char *call, const char *text, size_t length, uint64_t out,
			     uint64_t out_length)
{
	if (!out)
		return (int64_t)length;
	if (out_length < length)
		return 0;
	uint8_t *target = (uint8_t *)user_range(m, call, "output buffer", out, out_length);
	if (!target)
		return -1;
	memcpy(target, text, length);
	if (out_length > length)
		target[length] = 0;
	return (int64_t)length;
}

static int64_t call_http_find(struct machine *m, const uint64_t *a)
{
	struct http_fields *fields = fields_for(m, a[0], "http_find");
	if (!fields)
		return -1;
	if (a[2] > HTTP_FIELD_MAX_LENGTH) {
		bad_call(m, "http_find", "key is %" PRIu64 " bytes long (at most %d)", a[2], HTTP_FIELD_MAX_LENGTH);
		return -1;
	}
	const char *key = user_range(m, "http_find", "key", a[1], a[2]);
	if (!key)
		return -1;
	int index = http_fields_find(fields, key, a[2]);
	if (index < 0)
		return 0;
	return copy_out_text(m, "http_find", fields->lines[index], fields->lengths[index], a[3], a[4]);
}

static int64_t call_http_method(struct machine *m, const uint64_t *a)
{
	if (!require_request(m, "http_method"))
		return -1;
	const char *method = m->input->method;
	return copy_out_text(m, "http_method", method, strlen(method), a[0], a[1]);
}

static int64_t call_make_ephemeral(struct machine *m, const uint64_t *a)
{
	if (!m->settings.control_ephemeral) {
		bad_call(m, "make_ephemeral", "needs \"control_ephemeral\": true in the program settings");
		return -1;
	}
	if (m->parked) {
		bad_call(m, "make_ephemeral", "only allowed before wait_for_requests");
		return -1;
	}
	m->ephemeral = a[0] != 0;
	return 0;
}

static int64_t call_get_meminfo(struct machine *m, const uint64_t *a)
{
	uint64_t info[4] = {
		m->memory.size,
		(uint64_t)m->settings.max_request_memory << 20,
		(uint64_t)m->settings.max_request_memory << 20,
		address_space_used(&m->space),
	};
	void *target = (void *)user_range(m, "get_meminfo", "struct meminfo", a[0], sizeof info);
	if (!target)
		return -1;
	memcpy(target, info, sizeof info);
	return 0;
}

static int64_t call_sys_log(struct machine *m, const uint64_t *a)
{
	if (a[1] > SYS_LOG_MAX) {
		bad_call(m, "sys_log", "length %" PRIu64 " is larger than %u bytes", a[1], SYS_LOG_MAX);
		return -1;
	}
	const char *text = user_range(m, "sys_log", "buffer", a[0], a[1]);
	if (!text)
		return -1;
	if (m->hooks.log)
		m->hooks.log(m->hooks.context, text, a[1]);
	return (int64_t)a[1];
}

static int64_t call_breakpoint(struct machine *m, const uint64_t *a)
{
	/* With allow_debug and a debugger at hand, the request stops here
	 * and waits for gdb, as the VMOD does. */
	if ((m->settings.allow_debug && m->hooks.debug && m->in_request) || m->debugging) {
		m->stop = MACHINE_STOP_DEBUG;
		m->debug_signal = 5;
		return 0;
	}
	static const char message[] = "breakpoint() ignored: debugging is not enabled (allow_debug)";
	if (m->hooks.log)
		m->hooks.log(m->hooks.context, message, sizeof message - 1);
	return 0;
}

static int64_t call_unsupported(struct machine *m, const char *name)
{
	bad_call(m, name, "not supported by tkvm yet");
	return -1;
}

void host_call_dispatch(struct machine *m)
{
	struct kvm_regs *regs = vcpu_regs(&m->vcpu);
	uint32_t number = (uint32_t)regs->rax;
	const uint64_t a[6] = {regs->rdi, regs->rsi, regs->rdx, regs->rcx, regs->r8, regs->r9};
	int64_t result;
	uint64_t second = regs->rdx;
	switch (number) {
	case HC_REGISTER_FUNC: result = call_register_func(m, a); break;
	case HC_WAIT_FOR_REQUESTS: result = call_wait_for_requests(m, a); break;
	case HC_WAIT_FOR_REQUESTS_PAUSED: result = call_wait_for_requests_paused(m, a); break;
	case HC_SET_CACHEABLE: result = call_set_cacheable(m, a); break;
	case HC_BACKEND_RESPONSE: result = call_backend_response(m, a); break;
	case HC_HTTP_APPEND: result = call_http_append(m, a); break;
	case HC_HTTP_SET: result = call_http_set(m, a); break;
	case HC_HTTP_FIND: result = call_http_find(m, a); break;
	case HC_HTTP_METHOD: result = call_http_method(m, a); break;
	case HC_SET_BACKEND: result = 0; break;
	case HC_SHARED_MEMORY_AREA: result = 0, second = 0; break; /* no shared memory configured */
	case HC_MAKE_EPHEMERAL: result = call_make_ephemeral(m, a); break;
	case HC_IS_STORAGE: result = 0; break;
	case HC_GET_MEMINFO: result = call_get_meminfo(m, a); break;
	case HC_SYS_LOG: result = call_sys_log(m, a); break;
	case HC_IS_DEBUG: result = 0; break;
	case HC_BREAKPOINT: result = call_breakpoint(m, a); break;
	case HC_FETCH: result = host_call_fetch(m, a, false, bad_call_plain); break;
	case HC_REQUEST: result = host_call_fetch(m, a, true, bad_call_plain); break;
	case HC_BEGIN_STREAMING_RESPONSE: result = call_unsupported(m, "begin_streaming_response"); break;
	case HC_STORAGE_RETURN: result = call_unsupported(m, "storage_return"); break;
	case HC_STORAGE_NORETURN: result = call_unsupported(m, "storage_noreturn"); break;
	default: result = -ENOSYS; break;
	}
	if (m->hooks.trace_enabled) {
		const char *name = host_call_name(number);
		char label[32];
		if (!name)
			snprintf(label, sizeof label, "host_call_0x%x", number), name = label;
		char args[160];
		size_t used = 0;
		for (unsigned i = 0; i < 4; i++)
			used += (size_t)snprintf(args + used, sizeof args - used, a[i] < 4096 ? "%s%" PRIu64 : "%s0x%" PRIx64,
						 i ? ", " : "", a[i]);
		machine_trace(m, "[host] %s(%s) = %" PRId64, name, args, result);
	}
	regs->rax = (uint64_t)result;
	regs->rdx = second;
	vcpu_mark_regs_dirty(&m->vcpu);
}
