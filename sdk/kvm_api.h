/*
 * kvm_api.h: the interface between a TinyKVM program and its host (tkvm or
 * the Varnish TinyKVM VMOD). Binary-compatible with upstream's kvm_api.h:
 * same host-call numbers, structure layouts, function names and macros.
 *
 * Every host call is a three-instruction stub, `mov $NR, %eax; out %eax, $0;
 * ret`, called like an ordinary C function: the arguments sit in rdi, rsi,
 * rdx, rcx, r8, r9 and the result comes back in rax (rax:rdx for 16-byte
 * results). The `out` makes the VM exit; the host reads the registers,
 * validates everything and resumes the program (or not: see noreturn).
 *
 * Life cycle in one paragraph: main() initialises, registers handlers with
 * the set_* functions and parks in wait_for_requests() (callback model), or
 * loops on wait_for_requests_paused() (paused model). The parked program is
 * the template; every request runs in a copy of it and must end with
 * backend_response() or a streaming response. See spec/guest-abi.md.
 *
 * Works from C (gnu11 and later) and C++ (11 and later), with glibc or musl.
 */
#ifndef TKVM_SDK_KVM_API_H
#define TKVM_SDK_KVM_API_H
#pragma once

#if !defined(__x86_64__)
#error "kvm_api.h: TinyKVM programs are x86-64 Linux executables (the host calls are x86 `out` stubs)"
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Version of this header (not of the ABI, which only ever grows). */
#define TKVM_SDK_VERSION_MAJOR 1
#define TKVM_SDK_VERSION_MINOR 0
#define TKVM_SDK_VERSION       ((TKVM_SDK_VERSION_MAJOR << 16) | TKVM_SDK_VERSION_MINOR)

/* Host-call numbers (the value loaded into eax before `out`). */
#define KVM_HC_REGISTER_FUNC          0x10000
#define KVM_HC_WAIT_FOR_REQUESTS      0x10001
#define KVM_HC_WAIT_PAUSED            0x10002
#define KVM_HC_SET_CACHEABLE          0x10005
#define KVM_HC_BACKEND_RESPONSE       0x10010
#define KVM_HC_STORAGE_RETURN         0x10011
#define KVM_HC_STREAMING_RESPONSE     0x10012
#define KVM_HC_STORAGE_NORETURN       0x10013
#define KVM_HC_HTTP_APPEND            0x10020
#define KVM_HC_HTTP_SET               0x10021
#define KVM_HC_HTTP_FIND              0x10022
#define KVM_HC_HTTP_METHOD            0x10023
#define KVM_HC_REGEX_COMPILE          0x10030
#define KVM_HC_REGEX_FREE             0x10031
#define KVM_HC_REGEX_MATCH            0x10032
#define KVM_HC_REGEX_SUBST            0x10033
#define KVM_HC_REGEX_COPYTO           0x10035
#define KVM_HC_SET_BACKEND            0x10100
#define KVM_HC_ADNS_NEW               0x10200
#define KVM_HC_ADNS_FREE              0x10201
#define KVM_HC_ADNS_CONFIG            0x10202
#define KVM_HC_ADNS_GET               0x10203
#define KVM_HC_SOCKETS_WRITE          0x10500
#define KVM_HC_SHARED_MEMORY_AREA     0x10700
#define KVM_HC_MAKE_EPHEMERAL         0x10703
#define KVM_HC_IS_STORAGE             0x10706
#define KVM_HC_STORAGE_ALLOW          0x10707
#define KVM_HC_STORAGE_CALLV          0x10708
#define KVM_HC_STORAGE_TASK           0x10709
#define KVM_HC_STOP_STORAGE_TASK      0x1070A
#define KVM_HC_MULTIPROCESS           0x10710
#define KVM_HC_MULTIPROCESS_ARRAY     0x10711
#define KVM_HC_MULTIPROCESS_CLONE     0x10712
#define KVM_HC_MULTIPROCESS_WAIT      0x10713
#define KVM_HC_GET_MEMINFO            0x10A00
#define KVM_HC_FETCH                  0x20000
#define KVM_HC_REQUEST                0x20001
#define KVM_HC_LOG                    0x7F000
#define KVM_HC_IS_DEBUG               0x7FDEB
#define KVM_HC_BREAKPOINT             0x7F7F7

/* Handler slots for register_func(). */
#define KVM_HANDLER_GET               1
#define KVM_HANDLER_POST              2
#define KVM_HANDLER_REQUEST           3
#define KVM_HANDLER_STREAM_POST       4
#define KVM_HANDLER_ERROR             5
#define KVM_HANDLER_LIVE_UPDATE       6
#define KVM_HANDLER_LIVE_RESTORE      7
#define KVM_HANDLER_SOCKET_PAUSE      12
#define KVM_HANDLER_COUNT             13

#ifdef __cplusplus
#define KVM_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#define KVM_ALIGNOF(type) alignof(type)
extern "C" {
#else
#define KVM_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define KVM_ALIGNOF(type) _Alignof(type)
#endif

#define KVM_NORETURN __attribute__((noreturn))
#define KVM_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))

/* Checks the layouts below against the ABI at compile time. */
#define KVM_CHECK_SIZE(type, size) \
	KVM_STATIC_ASSERT(sizeof(type) == (size), "ABI: size of " #type)
#define KVM_CHECK_OFFSET(type, member, offset) \
	KVM_STATIC_ASSERT(offsetof(type, member) == (offset), "ABI: offset of " #type "." #member)

/* ------------------------------------------------------------------------
 * Where am I running?
 * The host always sets KVM_NAME (and KVM_TYPE, KVM_DEBUG) in the program's
 * environment; a program started from a Linux shell normally has none.
 */
#define IS_SANDBOXED_MAIN() (getenv("KVM_NAME") != NULL)
#define IS_LINUX_MAIN()     (getenv("KVM_NAME") == NULL)
#define KVM_ENV_IS(name, value) \
	(getenv(name) != NULL && __builtin_strcmp(getenv(name), value) == 0)
#define IS_STORAGE()        KVM_ENV_IS("KVM_TYPE", "storage")
#define IS_REQUEST()        KVM_ENV_IS("KVM_TYPE", "request")
#define IS_DEBUG()          KVM_ENV_IS("KVM_DEBUG", "1")

/* ------------------------------------------------------------------------
 * Requests as the host hands them over.
 */

/* One request header line, "Name: value", NUL-terminated. */
struct kvm_request_header {
	const char *field;
	uint32_t    field_colon;  /* index of the ':' in field */
	uint32_t    field_len;    /* length of the whole line */
};
KVM_CHECK_SIZE(struct kvm_request_header, 16);
KVM_CHECK_OFFSET(struct kvm_request_header, field, 0);
KVM_CHECK_OFFSET(struct kvm_request_header, field_colon, 8);
KVM_CHECK_OFFSET(struct kvm_request_header, field_len, 12);

/* Everything about one request: given to handler 3 and written by
   wait_for_requests_paused(). Strings are NUL-terminated; the _len fields
   exclude the NUL. content is NULL when there is no body. */
struct kvm_request {
	const char *method;
	const char *url;
	const char *arg;
	const char *content_type;
	uint16_t    method_len;
	uint16_t    url_len;
	uint16_t    arg_len;
	uint16_t    content_type_len;
	const uint8_t *content;
	size_t         content_len;
	struct kvm_request_header *headers;  /* not const: upstream's type */
	uint16_t    num_headers;   /* at most 64 */
	uint16_t    info_flags;    /* KVM_REQUEST_WARMUP, ... */
	uint32_t    reserved0;
	uint64_t    prng[2];       /* fresh random values for every request */
	uint64_t    reserved1[2];
};
KVM_CHECK_SIZE(struct kvm_request, 104);
KVM_CHECK_OFFSET(struct kvm_request, method, 0);
KVM_CHECK_OFFSET(struct kvm_request, url, 8);
KVM_CHECK_OFFSET(struct kvm_request, arg, 16);
KVM_CHECK_OFFSET(struct kvm_request, content_type, 24);
KVM_CHECK_OFFSET(struct kvm_request, method_len, 32);
KVM_CHECK_OFFSET(struct kvm_request, url_len, 34);
KVM_CHECK_OFFSET(struct kvm_request, arg_len, 36);
KVM_CHECK_OFFSET(struct kvm_request, content_type_len, 38);
KVM_CHECK_OFFSET(struct kvm_request, content, 40);
KVM_CHECK_OFFSET(struct kvm_request, content_len, 48);
KVM_CHECK_OFFSET(struct kvm_request, headers, 56);
KVM_CHECK_OFFSET(struct kvm_request, num_headers, 64);
KVM_CHECK_OFFSET(struct kvm_request, info_flags, 66);
KVM_CHECK_OFFSET(struct kvm_request, reserved0, 68);
KVM_CHECK_OFFSET(struct kvm_request, prng, 72);
KVM_CHECK_OFFSET(struct kvm_request, reserved1, 88);

#define KVM_REQUEST_WARMUP      0x1
#define IS_WARMUP_REQUEST(req)  (((req)->info_flags & KVM_REQUEST_WARMUP) != 0)
#define KVM_MAX_REQUEST_HEADERS 64

/* Older programs call the same structure backend_request (its first 56
   bytes are identical), so let them compile unchanged. */
#ifndef KVM_API_NO_BACKEND_REQUEST_ALIAS
#define backend_request kvm_request
#endif

/* ------------------------------------------------------------------------
 * Registering handlers (only before parking).
 * register_func(index, function): index < 13, see KVM_HANDLER_*.
 * Handler addresses are kept as 32-bit values by the host: handlers must
 * live below 4 GiB, which ordinary static executables do.
 */
extern void register_func(int index, ...);

typedef void (*kvm_get_handler)(const char *url, const char *arg);
typedef void (*kvm_post_handler)(const char *url, const char *arg,
	const char *content_type, const uint8_t *data, size_t len);
typedef void (*kvm_request_handler)(const struct kvm_request *req);
typedef long (*kvm_stream_post_handler)(const char *url, const char *arg,
	const char *content_type, const uint8_t *data, size_t len, size_t offset);
typedef void (*kvm_error_handler)(const char *url, const char *arg, const char *what);

/* GET (and HEAD) requests. */
static inline void set_backend_get(kvm_get_handler f)
{ register_func(KVM_HANDLER_GET, f); }
/* Requests with a body (POST, PUT, ...). */
static inline void set_backend_post(kvm_post_handler f)
{ register_func(KVM_HANDLER_POST, f); }
/* Every request, with all its fields and headers; wins over GET/POST. */
static inline void set_backend_request(kvm_request_handler f)
{ register_func(KVM_HANDLER_REQUEST, f); }
/* Request bodies piece by piece; the handler returns the bytes consumed. */
static inline void set_backend_stream_post(kvm_stream_post_handler f)
{ register_func(KVM_HANDLER_STREAM_POST, f); }
/* Second chance after a crash or timeout: about one second to answer with
   backend_response() instead of a bare 500. */
static inline void set_on_error(kvm_error_handler f)
{ register_func(KVM_HANDLER_ERROR, f); }
/* Storage VM: hand state to the next version of the program, and take it
   back (datalen bytes) on the other side. */
static inline void set_on_live_update(void (*f)(void))
{ register_func(KVM_HANDLER_LIVE_UPDATE, f); }
static inline void set_on_live_restore(void (*f)(size_t datalen))
{ register_func(KVM_HANDLER_LIVE_RESTORE, f); }

/* Callback model: park here at the end of main(). Requests then start in
   the registered handlers on a fresh stack; this call never returns. */
extern KVM_NORETURN void wait_for_requests(void);

/* Paused model: park here; every return is one request described in *req,
   to be answered before the next call. */
extern void wait_for_requests_paused(struct kvm_request *req);

/* ------------------------------------------------------------------------
 * Responses.
 */

/* An extra response header line, "Name: value" (field_len bytes). */
struct ResponseHeader {
	const char *field;
	size_t      field_len;
};
KVM_CHECK_SIZE(struct ResponseHeader, 16);
KVM_CHECK_OFFSET(struct ResponseHeader, field, 0);
KVM_CHECK_OFFSET(struct ResponseHeader, field_len, 8);

/* Optional part of a response: headers and caching (times in seconds). */
struct BackendResponseExtra {
	const struct ResponseHeader *headers;
	uint16_t num_headers;   /* at most 64 */
	bool     cached;
	float    ttl;
	float    grace;
	float    keep;
	uint64_t reserved[4];
};
KVM_CHECK_SIZE(struct BackendResponseExtra, 56);
KVM_CHECK_OFFSET(struct BackendResponseExtra, headers, 0);
KVM_CHECK_OFFSET(struct BackendResponseExtra, num_headers, 8);
KVM_CHECK_OFFSET(struct BackendResponseExtra, cached, 10);
KVM_CHECK_OFFSET(struct BackendResponseExtra, ttl, 12);
KVM_CHECK_OFFSET(struct BackendResponseExtra, grace, 16);
KVM_CHECK_OFFSET(struct BackendResponseExtra, keep, 20);
KVM_CHECK_OFFSET(struct BackendResponseExtra, reserved, 24);
#define KVM_MAX_RESPONSE_HEADERS 64

/* The raw host call. Status 200-599, content type shorter than 4096 bytes,
   extra may be NULL. In the callback model the request ends here; in the
   paused model a non-ephemeral program may be resumed after it (and then
   loops back into wait_for_requests_paused), which is why this one is not
   marked noreturn. */
extern void sys_backend_response(int16_t status, const void *content_type,
	size_t content_type_len, const void *content, size_t content_len,
	const struct BackendResponseExtra *extra);

/* The response helpers below never come back: the request is over. Should a
   host resume the program anyway, it stops at a trap right here rather than
   running into whatever follows. A paused-model program that expects to be
   resumed calls sys_backend_response(), or defines
   KVM_API_RESPONSE_MAY_RETURN before including this header. */
#ifdef KVM_API_RESPONSE_MAY_RETURN
#define KVM_RESPONSE_NORETURN
#define KVM_RESPONSE_END() do { } while (0)
#else
#define KVM_RESPONSE_NORETURN KVM_NORETURN
#define KVM_RESPONSE_END() __builtin_trap()
#endif

static inline KVM_RESPONSE_NORETURN void
backend_response(int16_t status, const void *content_type, size_t content_type_len,
	const void *content, size_t content_len)
{
	sys_backend_response(status, content_type, content_type_len, content, content_len, NULL);
	KVM_RESPONSE_END();
}

static inline KVM_RESPONSE_NORETURN void
backend_response_extra(int16_t status, const void *content_type, size_t content_type_len,
	const void *content, size_t content_len, const struct BackendResponseExtra *extra)
{
	sys_backend_response(status, content_type, content_type_len, content, content_len, extra);
	KVM_RESPONSE_END();
}

/* Both strings NUL-terminated. */
static inline KVM_RESPONSE_NORETURN void
backend_response_str(int16_t status, const char *content_type, const char *content)
{
	sys_backend_response(status, content_type, __builtin_strlen(content_type),
		content, __builtin_strlen(content), NULL);
	KVM_RESPONSE_END();
}

static inline KVM_RESPONSE_NORETURN void
backend_response_str_extra(int16_t status, const char *content_type, const char *content,
	const struct BackendResponseExtra *extra)
{
	sys_backend_response(status, content_type, __builtin_strlen(content_type),
		content, __builtin_strlen(content), extra);
	KVM_RESPONSE_END();
}

/* Streaming: set all headers first, then announce content_length bytes.
   The host calls content_cb(arg, max, written, total) as it needs data;
   the callback hands back between 1 and max bytes (0 means stalled, which
   fails the response). Never returns. */
struct streaming_content {
	const void *data;
	size_t      len;
};
KVM_CHECK_SIZE(struct streaming_content, 16);
typedef struct streaming_content (*content_stream_func)(void *arg, size_t max,
	size_t written, size_t total);
extern KVM_NORETURN void begin_streaming_response(int16_t status,
	const void *content_type, size_t content_type_len, size_t content_length,
	content_stream_func content_cb, const void *arg);

/* ------------------------------------------------------------------------
 * HTTP header fields. `where` selects the header set.
 */
enum {
	REQ      = 0,   /* the request (client or backend request) */
	RESP     = 1,   /* the response being built */
	REQUEST  = REQ,
	RESPONSE = RESP,
	BEREQ    = REQ,
	BERESP   = RESP,
	HTTP_FMT_SIZE = 4096  /* buffer for the formatted helpers */
};

/* Appends the line "Name: value" (len <= 0xFFFF); returns its index. */
extern long sys_http_append(int where, const char *field, size_t len);
/* "Name: value" replaces the first field of that name (case-insensitive) or
   appends; a string without ':' removes every field of that name. */
extern long sys_http_set(int where, const char *field, size_t len);
/* Copies the whole "Name: value" line into out and returns its length; 0
   if absent or if it does not fit in outlen. out == NULL: only the length. */
extern unsigned sys_http_find(int where, const char *key, size_t key_len,
	char *out, size_t outlen);
/* The request method, same convention as sys_http_find. */
extern unsigned long sys_http_method(char *out, size_t outlen);

static inline long http_append(int where, const char *field)
{ return sys_http_append(where, field, __builtin_strlen(field)); }
static inline void http_append_str(int where, const char *field)
{ sys_http_append(where, field, __builtin_strlen(field)); }

static inline long http_set(int where, const char *field)
{ return sys_http_set(where, field, __builtin_strlen(field)); }
static inline void http_set_str(int where, const char *field)
{ sys_http_set(where, field, __builtin_strlen(field)); }

static inline long http_unset(int where, const char *key, size_t len)
{ return sys_http_set(where, key, len); }
static inline long http_unset_str(int where, const char *key)
{ return sys_http_set(where, key, __builtin_strlen(key)); }

/* Formats into a stack buffer; output longer than HTTP_FMT_SIZE - 1 bytes
   is cut there. Returns the formatted length (possibly cut). */
static inline size_t kvm_vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	const int len = __builtin_vsnprintf(buf, size, fmt, ap);
	if (len < 0)
		return 0;
	return (size_t)len < size ? (size_t)len : size - 1;
}

static inline KVM_PRINTF(2, 3) long http_appendf(int where, const char *fmt, ...)
{
	char buffer[HTTP_FMT_SIZE];
	va_list ap;
	va_start(ap, fmt);
	const size_t len = kvm_vformat(buffer, sizeof(buffer), fmt, ap);
	va_end(ap);
	return sys_http_append(where, buffer, len);
}

static inline KVM_PRINTF(2, 3) long http_setf(int where, const char *fmt, ...)
{
	char buffer[HTTP_FMT_SIZE];
	va_list ap;
	va_start(ap, fmt);
	const size_t len = kvm_vformat(buffer, sizeof(buffer), fmt, ap);
	va_end(ap);
	return sys_http_set(where, buffer, len);
}

static inline unsigned http_find(int where, const char *key, char *out, size_t outlen)
{ return sys_http_find(where, key, __builtin_strlen(key), out, outlen); }
static inline unsigned http_find_str(int where, const char *key, char *out, size_t outlen)
{ return sys_http_find(where, key, __builtin_strlen(key), out, outlen); }
/* Length of the field's line, 0 when absent. */
static inline unsigned http_find_strlen(int where, const char *key)
{ return sys_http_find(where, key, __builtin_strlen(key), NULL, 0); }

/* Same as sys_http_method(): 0 when out is too small. */
static inline unsigned long http_method(char *out, size_t outlen)
{ return sys_http_method(out, outlen); }

/* Heap copies, NUL-terminated ("" when absent); the caller frees them. */
static inline const char *http_alloc_find(int where, const char *key)
{
	char buffer[HTTP_FMT_SIZE];
	const unsigned len = sys_http_find(where, key, __builtin_strlen(key),
		buffer, sizeof(buffer));
	char *copy = (char *)malloc(len + 1);
	if (copy != NULL) {
		__builtin_memcpy(copy, buffer, len);
		copy[len] = 0;
	}
	return copy;
}
static inline const char *http_alloc_method(void)
{
	char *copy = (char *)malloc(16);
	if (copy != NULL) {
		const unsigned long len = sys_http_method(copy, 15);
		copy[len <= 15 ? len : 0] = 0;
	}
	return copy;
}

/* ------------------------------------------------------------------------
 * Regular expressions evaluated by the host (PCRE-style, cached handles).
 */
/* Returns a handle >= 0, or negative on error. */
extern int  sys_regex_compile(const char *pattern, size_t len);
extern void sys_regex_free(int handle);
/* Returns > 0 on a match, 0 without one, negative on error. */
extern int  sys_regex_match(int handle, const char *subject, size_t len);
/* Substitutes into dst; flags: KVM_REGEX_SUBST_ALL for every match. */
#define KVM_REGEX_SUBST_ALL 0x1
extern long sys_regex_subst(int handle, const char *subject, const char *replacement,
	char *dst, size_t dstlen, int flags);
/* Copies the header fields matching the regex from one set to another. */
extern int  sys_regex_copyto(int handle, int from_where, int to_where);

/* ------------------------------------------------------------------------
 * Caching hints for the response being built.
 */
/* Times in milliseconds. */
extern long sys_set_cacheable(bool cached, long ttl_ms, long grace_ms, long keep_ms);
/* Times in seconds. */
static inline long set_cacheable(bool cached, float ttl, float grace, float keep)
{
	return sys_set_cacheable(cached, (long)(ttl * 1000), (long)(grace * 1000),
		(long)(keep * 1000));
}

/* ------------------------------------------------------------------------
 * Active DNS (Varnish). Not implemented by tkvm: the calls return -ENOSYS.
 */
enum adns_ipv_rule { ADNS_IPV_NONE = 0, ADNS_IPV_AUTO, ADNS_IPV_IPV4, ADNS_IPV_IPV6, ADNS_IPV_ALL };
enum adns_ttl_rule { ADNS_TTL_NONE = 0, ADNS_TTL_FORCE, ADNS_TTL_ABIDE, ADNS_TTL_MORETHAN, ADNS_TTL_LESSTHAN };
enum adns_port_rule { ADNS_PORT_NONE = 0, ADNS_PORT_ABIDE, ADNS_PORT_FORCE };
enum adns_mode_rule { ADNS_MODE_NONE = 0, ADNS_MODE_AUTO, ADNS_MODE_HOST, ADNS_MODE_DNS, ADNS_MODE_SRV };
enum adns_update_rule { ADNS_UPDATE_NONE = 0, ADNS_UPDATE_ALWAYS, ADNS_UPDATE_IGNORE_EMPTY, ADNS_UPDATE_IGNORE_ERROR };
enum adns_nsswitch_rule {
	ADNS_NSSWITCH_NONE = 0, ADNS_NSSWITCH_AUTO, ADNS_NSSWITCH_DNS_ONLY,
	ADNS_NSSWITCH_DNS_FIRST, ADNS_NSSWITCH_FILES_ONLY, ADNS_NSSWITCH_FILES_FIRST
};
union adns_rules {
	struct {
		uint8_t ipv, ttl, port, mode, update, nsswitch;
	} b;
	uint64_t reg;
};
KVM_CHECK_SIZE(union adns_rules, 8);
#define ADNS_HASH_LEN 32u
struct adns {
	uint8_t  ipv;
	uint8_t  addrlen;
	uint8_t  address[126];  /* IPv4, IPv6 or host name */
	int8_t   touched;
	uint16_t priority;
	uint16_t weight;
	uint8_t  hash[ADNS_HASH_LEN];
};
KVM_CHECK_SIZE(struct adns, 166);
KVM_CHECK_OFFSET(struct adns, touched, 128);
KVM_CHECK_OFFSET(struct adns, priority, 130);
KVM_CHECK_OFFSET(struct adns, hash, 134);
extern int sys_adns_new(uint32_t key);
extern int sys_adns_free(int index);
extern int sys_adns_config(int index, const char *host, const char *service, long ttl, uint64_t rules);
extern int sys_adns_get(int index, int entry, const struct adns *out, size_t outlen);
static inline int adns_new(uint32_t key) { return sys_adns_new(key); }
static inline int adns_config(int index, const char *host, const char *service, float ttl,
	const union adns_rules *rules)
{ return sys_adns_config(index, host, service, (long)(ttl * 1024), rules->reg); }
static inline int adns_get(int index, int entry, const struct adns *out)
{ return sys_adns_get(index, entry, out, sizeof(*out)); }
static inline int adns_get_count(int index, int entry)
{ return sys_adns_get(index, entry, NULL, 0); }

/* ------------------------------------------------------------------------
 * Storage: one long-lived VM per program whose memory is never reset.
 * Request VMs call into it one at a time with copies of their buffers;
 * the storage function answers with storage_return() (and then runs to its
 * end) or storage_noreturn() (and stops there).
 */
struct virtbuffer {
	const void *data;
	size_t      len;
};
KVM_CHECK_SIZE(struct virtbuffer, 16);
KVM_CHECK_OFFSET(struct virtbuffer, len, 8);
#define KVM_MAX_STORAGE_BUFFERS 64

/* A storage function: n buffers, and the room the caller has for the
   result (result_capacity bytes). */
typedef void (*storage_func)(size_t n, struct virtbuffer buffers[], size_t result_capacity);

/* 1 inside the storage VM, else 0. */
extern int sys_is_storage(void);
static inline int is_storage(void) { return sys_is_storage(); }

/* Calls func in storage with n (<= 64) buffers; copies the result into dst.
   Returns the bytes copied (the result length when dst is NULL), -1 on
   error. */
extern long storage_callv(storage_func func, size_t n, const struct virtbuffer buffers[],
	void *dst, size_t dstlen);
static inline long storage_call(storage_func func, const void *src, size_t len,
	void *dst, size_t dstlen)
{
	struct virtbuffer buffer[1];
	buffer[0].data = src;
	buffer[0].len = len;
	return storage_callv(func, 1, buffer, dst, dstlen);
}

/* Tasks run later in storage, with a copy of data (len <= 2 MB).
   start_ms = period_ms = 0 queues the task once; otherwise a timer is
   created and its id returned. */
typedef void (*storage_task_func)(void *data, size_t len);
extern long sys_storage_task(storage_task_func task, const void *data, size_t len,
	uint64_t start_ms, uint64_t period_ms);
static inline long storage_task(storage_task_func task, const void *data, size_t len)
{ return sys_storage_task(task, data, len, 0, 0); }
/* Times in seconds. */
static inline long schedule_storage_task(storage_task_func task, const void *data, size_t len,
	float start, float period)
{ return sys_storage_task(task, data, len, (uint64_t)(start * 1000), (uint64_t)(period * 1000)); }
extern long stop_storage_task(long task_id);

/* Hands the result to the caller, then lets the function finish. */
extern void storage_return(const void *data, size_t len);
static inline void storage_return_nothing(void) { storage_return(NULL, 0); }
/* Hands the result to the caller and stops the function here. */
extern KVM_NORETURN void storage_noreturn(const void *data, size_t len);

/* Storage VM, during init: only the allowed functions may be called from
   requests (none allowed = all allowed). */
/* In C the parameter is an unprototyped function pointer, as upstream has it,
   so any storage function can be passed without a cast. */
extern long sys_storage_allow(void (*func)());
#define STORAGE_ALLOW(func) sys_storage_allow((void (*)(void))(func))

/* ------------------------------------------------------------------------
 * Multiprocessing (extra vCPUs). Not implemented by tkvm: -ENOSYS.
 */
typedef void (*multiprocess_t)(void *arg);
typedef void (*multiprocess_array_t)(int vcpu, void *array, size_t element_size);
extern long multiprocess(size_t n, multiprocess_t func, void *arg);
extern long multiprocess_array(size_t n, multiprocess_array_t func, void *array,
	size_t element_size);
extern long multiprocess_clone(size_t n, void *stack_base, size_t stack_size);
extern long multiprocess_wait(void);
/* Read from the per-vCPU area at %gs:0 / %gs:4. */
extern int vcpuid(void) __attribute__((const));
extern int vcpureqid(void) __attribute__((const));

/* ------------------------------------------------------------------------
 * Memory.
 */
/* A region shared by all VMs of the program, returned in rax:rdx. */
struct shared_memory_info {
	uint64_t ptr;
	uint64_t end;
};
KVM_CHECK_SIZE(struct shared_memory_info, 16);
extern struct shared_memory_info shared_memory_area(void);

/* Bump allocation from the shared area; NULL when it is exhausted. */
static inline void *internal_shm_alloc(size_t size, size_t align)
{
	static struct shared_memory_info area;
	if (area.ptr == 0)
		area = shared_memory_area();
	const uint64_t p = (area.ptr + (align - 1)) & ~(uint64_t)(align - 1);
	if (p < area.ptr || p + size < p || p + size > area.end)
		return NULL;
	area.ptr = p + size;
	return (void *)(uintptr_t)p;
}
#define SHM_ALLOC_BYTES(n) internal_shm_alloc((n), 8)
#ifdef __cplusplus
#define SHM_ALLOC_TYPE(T) ((T *)internal_shm_alloc(sizeof(T), alignof(T)))
#define SHM_ALLOC(x) ((decltype(x) *)internal_shm_alloc(sizeof(x), alignof(decltype(x))))
#else
#define SHM_ALLOC_TYPE(T) ((T *)internal_shm_alloc(sizeof(T), _Alignof(T)))
#define SHM_ALLOC(x) ((__typeof__(x) *)internal_shm_alloc(sizeof(x), _Alignof(__typeof__(x))))
#endif

/* Before parking, and only when the host allows it: 0 keeps request VMs
   between requests instead of resetting them (the default is 1). */
extern int sys_make_ephemeral(int ephemeral);
static inline int make_ephemeral(int ephemeral) { return sys_make_ephemeral(ephemeral); }

/* The program's memory limits and the current request's usage, in bytes. */
struct meminfo {
	uint64_t max_memory;
	uint64_t max_reqmem;
	uint64_t reqmem_upper;
	uint64_t reqmem_current;
};
KVM_CHECK_SIZE(struct meminfo, 32);
KVM_CHECK_OFFSET(struct meminfo, max_reqmem, 8);
KVM_CHECK_OFFSET(struct meminfo, reqmem_upper, 16);
KVM_CHECK_OFFSET(struct meminfo, reqmem_current, 24);
extern void get_meminfo(struct meminfo *info);

/* ------------------------------------------------------------------------
 * Logging and debugging.
 */
extern void sys_log(const char *text, size_t len);
static inline KVM_PRINTF(1, 2) void vlogf(const char *fmt, ...)
{
	char buffer[2048];
	va_list ap;
	va_start(ap, fmt);
	const size_t len = kvm_vformat(buffer, sizeof(buffer), fmt, ap);
	va_end(ap);
	sys_log(buffer, len);
}

/* 1 when the program runs as a debug program, else 0. */
extern int sys_is_debug(void);
static inline int is_debug(void) { return sys_is_debug(); }
/* Opens the remote GDB stub when debugging is allowed; otherwise the host
   only logs it. */
extern void sys_breakpoint(void);
static inline void breakpoint(void) { sys_breakpoint(); }

/* ------------------------------------------------------------------------
 * Outbound HTTP through the host (libcurl). A url starting with '/' is a
 * request to the same server. Returns 0 or -CURLcode.
 */
struct curl_op {
	uint32_t    status;          /* out: HTTP status */
	uint32_t    post_buflen;     /* in: POST when post_buffer and post_buflen */
	const void *post_buffer;
	char       *headers;         /* in/out: response header lines are captured
	                                when headers_length >= 64 */
	uint32_t    headers_length;
	uint32_t    unused1;
	void       *content;         /* in/out: NULL = the host allocates it */
	uint32_t    content_length;
	uint32_t    ctlen;           /* out: content type length incl. the NUL */
	char        ctype[128];
};
KVM_CHECK_SIZE(struct curl_op, 176);
KVM_CHECK_OFFSET(struct curl_op, post_buflen, 4);
KVM_CHECK_OFFSET(struct curl_op, post_buffer, 8);
KVM_CHECK_OFFSET(struct curl_op, headers, 16);
KVM_CHECK_OFFSET(struct curl_op, headers_length, 24);
KVM_CHECK_OFFSET(struct curl_op, unused1, 28);
KVM_CHECK_OFFSET(struct curl_op, content, 32);
KVM_CHECK_OFFSET(struct curl_op, content_length, 40);
KVM_CHECK_OFFSET(struct curl_op, ctlen, 44);
KVM_CHECK_OFFSET(struct curl_op, ctype, 48);

/* Request header lines; the list ends at the first empty slot. */
#define CURL_FIELDS_COUNT 12u
struct curl_fields {
	const char *ptr[CURL_FIELDS_COUNT];
	uint16_t    len[CURL_FIELDS_COUNT];
};
KVM_CHECK_SIZE(struct curl_fields, 120);
KVM_CHECK_OFFSET(struct curl_fields, len, 96);
#define CURL_SETFIELD(fields, index, value) \
	do { (fields).ptr[index] = (value); (fields).len[index] = (uint16_t)__builtin_strlen(value); } while (0)

/* NULL options: follow redirects. */
struct curl_options {
	const char *interface;       /* network interface to bind to */
	const char *unused;
	int8_t      follow_location;
	int8_t      dummy_fetch;     /* fetch without keeping the content */
	int8_t      tcp_fast_open;
	int8_t      dont_verify_host;
	uint32_t    unused_opt5;
};
KVM_CHECK_SIZE(struct curl_options, 24);
KVM_CHECK_OFFSET(struct curl_options, unused, 8);
KVM_CHECK_OFFSET(struct curl_options, follow_location, 16);
KVM_CHECK_OFFSET(struct curl_options, dummy_fetch, 17);
KVM_CHECK_OFFSET(struct curl_options, tcp_fast_open, 18);
KVM_CHECK_OFFSET(struct curl_options, dont_verify_host, 19);

/* url_len <= 1024; fields and options may be NULL. */
extern long sys_fetch(const char *url, size_t url_len, struct curl_op *op,
	struct curl_fields *fields, struct curl_options *options);
/* A request to the same server (upstream's self-request call). */
extern long sys_request(const char *url, size_t url_len, struct curl_op *op,
	struct curl_fields *fields, struct curl_options *options);

/* ------------------------------------------------------------------------
 * Sockets in the paused model (VMOD only; tkvm answers -ENOSYS).
 */
enum SocketEvent {
	SOCKET_CONNECT = 0,
	SOCKET_READ,
	SOCKET_WRITABLE,
	SOCKET_DISCONNECT
};
struct kvm_socket_event {
	int            fd;
	enum SocketEvent event;
	const char    *remote;
	const char    *arg;
	const uint8_t *data;
	size_t         data_len;
};
KVM_CHECK_SIZE(struct kvm_socket_event, 40);
static inline void set_socket_prepare_for_pause(void (*f)(int))
{ register_func(KVM_HANDLER_SOCKET_PAUSE, f); }
extern int wait_for_socket_events_paused(struct kvm_socket_event *events, size_t n);
static inline void wait_for_socket_event_paused(struct kvm_socket_event *event)
{ wait_for_socket_events_paused(event, 1); }
extern void sys_sockets_write(struct kvm_socket_event *events, size_t n);

/* ------------------------------------------------------------------------
 * Utilities.
 */
/* Embeds a file: defines `char name[]` and `unsigned name_size`. */
#define EMBED_BINARY(name, filename) \
	__asm__(".pushsection .rodata\n" \
		".global " #name "\n" \
		#name ":\n" \
		".incbin " #filename "\n" \
		#name "_end:\n" \
		".int 0\n" \
		".global " #name "_size\n" \
		".type " #name "_size, @object\n" \
		".align 4\n" \
		#name "_size:\n" \
		".int " #name "_end - " #name "\n" \
		".popsection"); \
	extern char name[]; \
	extern unsigned name##_size;

/* Turns a host-provided integer address into a pointer. */
#define TRUST_ME(ptr) ((void *)(uintptr_t)(ptr))

/* ------------------------------------------------------------------------
 * The stubs. Each one is a weak function in its own COMDAT section, so any
 * number of translation units may include this header: the linker keeps one
 * copy. The .ifndef guard covers LTO, which assembles the top-level asm of
 * several units together, and lets a unit define a stub itself. Calls that
 * never return trap if the host ever resumes them.
 * Define KVM_API_ALREADY_DEFINED to leave them out (upstream's switch).
 */
#ifndef KVM_API_ALREADY_DEFINED

#define KVM_STUB_BEGIN(name) \
	".ifndef " #name "\n" \
	".pushsection .text." #name ",\"axG\",@progbits," #name ",comdat\n" \
	".weak " #name "\n" \
	".type " #name ", @function\n" \
	".p2align 4\n" \
	#name ":\n" \
	".cfi_startproc\n"
#define KVM_STUB_END(name) \
	".cfi_endproc\n" \
	".size " #name ", . - " #name "\n" \
	".popsection\n" \
	".endif\n"
#define KVM_STR_(x) #x
#define KVM_STR(x) KVM_STR_(x)
/* mov $nr, %eax; out %eax, $0; ret */
#define KVM_HOSTCALL(name, nr) \
	__asm__(KVM_STUB_BEGIN(name) \
		"mov $" KVM_STR(nr) ", %eax\n" \
		"out %eax, $0\n" \
		"ret\n" \
		KVM_STUB_END(name))
/* mov $nr, %eax; out %eax, $0; ud2 */
#define KVM_HOSTCALL_NORETURN(name, nr) \
	__asm__(KVM_STUB_BEGIN(name) \
		"mov $" KVM_STR(nr) ", %eax\n" \
		"out %eax, $0\n" \
		"ud2\n" \
		KVM_STUB_END(name))

KVM_HOSTCALL(register_func,               KVM_HC_REGISTER_FUNC);
KVM_HOSTCALL_NORETURN(wait_for_requests,  KVM_HC_WAIT_FOR_REQUESTS);
KVM_HOSTCALL(wait_for_requests_paused,    KVM_HC_WAIT_PAUSED);
KVM_HOSTCALL(wait_for_socket_events_paused, KVM_HC_WAIT_PAUSED);
KVM_HOSTCALL(sys_set_cacheable,           KVM_HC_SET_CACHEABLE);
KVM_HOSTCALL(sys_backend_response,        KVM_HC_BACKEND_RESPONSE);
KVM_HOSTCALL(storage_return,              KVM_HC_STORAGE_RETURN);
KVM_HOSTCALL_NORETURN(begin_streaming_response, KVM_HC_STREAMING_RESPONSE);
KVM_HOSTCALL_NORETURN(storage_noreturn,   KVM_HC_STORAGE_NORETURN);
KVM_HOSTCALL(sys_http_append,             KVM_HC_HTTP_APPEND);
KVM_HOSTCALL(sys_http_set,                KVM_HC_HTTP_SET);
KVM_HOSTCALL(sys_http_find,               KVM_HC_HTTP_FIND);
KVM_HOSTCALL(sys_http_method,             KVM_HC_HTTP_METHOD);
KVM_HOSTCALL(sys_regex_compile,           KVM_HC_REGEX_COMPILE);
KVM_HOSTCALL(sys_regex_free,              KVM_HC_REGEX_FREE);
KVM_HOSTCALL(sys_regex_match,             KVM_HC_REGEX_MATCH);
KVM_HOSTCALL(sys_regex_subst,             KVM_HC_REGEX_SUBST);
KVM_HOSTCALL(sys_regex_copyto,            KVM_HC_REGEX_COPYTO);
KVM_HOSTCALL(sys_adns_new,                KVM_HC_ADNS_NEW);
KVM_HOSTCALL(sys_adns_free,               KVM_HC_ADNS_FREE);
KVM_HOSTCALL(sys_adns_config,             KVM_HC_ADNS_CONFIG);
KVM_HOSTCALL(sys_adns_get,                KVM_HC_ADNS_GET);
KVM_HOSTCALL(sys_sockets_write,           KVM_HC_SOCKETS_WRITE);
KVM_HOSTCALL(shared_memory_area,          KVM_HC_SHARED_MEMORY_AREA);
KVM_HOSTCALL(sys_make_ephemeral,          KVM_HC_MAKE_EPHEMERAL);
KVM_HOSTCALL(sys_is_storage,              KVM_HC_IS_STORAGE);
KVM_HOSTCALL(sys_storage_allow,           KVM_HC_STORAGE_ALLOW);
KVM_HOSTCALL(storage_callv,               KVM_HC_STORAGE_CALLV);
KVM_HOSTCALL(sys_storage_task,            KVM_HC_STORAGE_TASK);
KVM_HOSTCALL(stop_storage_task,           KVM_HC_STOP_STORAGE_TASK);
KVM_HOSTCALL(multiprocess,                KVM_HC_MULTIPROCESS);
KVM_HOSTCALL(multiprocess_array,          KVM_HC_MULTIPROCESS_ARRAY);
KVM_HOSTCALL(multiprocess_clone,          KVM_HC_MULTIPROCESS_CLONE);
KVM_HOSTCALL(multiprocess_wait,           KVM_HC_MULTIPROCESS_WAIT);
KVM_HOSTCALL(get_meminfo,                 KVM_HC_GET_MEMINFO);
KVM_HOSTCALL(sys_fetch,                   KVM_HC_FETCH);
KVM_HOSTCALL(sys_request,                 KVM_HC_REQUEST);
KVM_HOSTCALL(sys_log,                     KVM_HC_LOG);
KVM_HOSTCALL(sys_is_debug,                KVM_HC_IS_DEBUG);
KVM_HOSTCALL(sys_breakpoint,              KVM_HC_BREAKPOINT);

__asm__(KVM_STUB_BEGIN(vcpuid)
	"mov %gs:0x0, %eax\n"
	"ret\n"
	KVM_STUB_END(vcpuid));
__asm__(KVM_STUB_BEGIN(vcpureqid)
	"mov %gs:0x4, %eax\n"
	"ret\n"
	KVM_STUB_END(vcpureqid));

#endif /* KVM_API_ALREADY_DEFINED */

#ifdef __cplusplus
}
#endif

#endif /* TKVM_SDK_KVM_API_H */
