/* One program's settings object (library-JSON keys) applied to struct
 * tkvm_settings: one table row per key, typed and range-checked handlers,
 * errors that name the key and its line, and warnings for unknown keys.
 * Semantics follow the production VMOD (shared/spec/library-and-archive.md). */
#include "packager/program_settings.h"

#include "packager/json_text.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum setting_kind {
	KIND_STRING,
	KIND_SHA256,
	KIND_BOOL,
	KIND_COUNT,     /* whole number between min and max */
	KIND_SECONDS,   /* more than 0, at most MAX_SECONDS */
	KIND_MEGABYTES, /* whole number of MB between min and max */
	KIND_ARGUMENTS,
	KIND_ENVIRONMENT,
	KIND_ALLOWED_PATHS,
	KIND_REMAPPING,
	KIND_WARMUP,
	KIND_IGNORED, /* a VMOD key that has no effect in tkvm (yet) */
};

enum setting_flag {
	FLAG_NONEMPTY = 1 << 0,
	FLAG_EXPAND = 1 << 1,   /* $HOME and $PWD */
	FLAG_ABSOLUTE = 1 << 2, /* a path starting with '/' */
	FLAG_HUGEPAGE_MULTIPLE = 1 << 3,
	FLAG_ENABLES_HUGEPAGES = 1 << 4,
	FLAG_IMPLIES_EPHEMERAL = 1 << 5,
	FLAG_ADDRESS_SPACE = 1 << 6,
};

struct setting_key {
	const char *name;
	enum setting_kind kind;
	size_t offset;  /* the field in struct tkvm_settings */
	size_t offset2; /* its count, or the remapping size */
	uint32_t min, max;
	unsigned flags;
};

#define MAX_SECONDS 3600.0
#define MAX_MEGABYTES 65536u
#define HUGEPAGE_MEGABYTES 2u
/* Below this the VMOD refuses a remapping (its own low memory lives there). */
#define REMAPPING_MIN_ADDRESS 0x20000ull
/* Canonical user half of the x86-64 address space. */
#define ADDRESS_LIMIT (1ull << 47)
#define PAGE_SIZE_BYTES 4096ull
#define DEFAULT_WARMUP_REQUESTS 20 /* the VMOD's default */
#define MAX_WARNINGS 32 /* per object */

#define FIELD(f) offsetof(struct tkvm_settings, f)

static const struct setting_key setting_keys[] = {
	{ "group", KIND_STRING, FIELD(group), 0, 0, 0, FLAG_NONEMPTY },
	{ "uri", KIND_STRING, FIELD(uri), 0, 0, 0, FLAG_NONEMPTY },
	{ "filename", KIND_STRING, FIELD(filename), 0, 0, 0, FLAG_NONEMPTY | FLAG_EXPAND },
	{ "sha256", KIND_SHA256, FIELD(sha256), 0, 0, 0, 0 },
	{ "key", KIND_STRING, FIELD(key), 0, 0, 0, 0 },
	{ "start", KIND_BOOL, FIELD(start), 0, 0, 0, 0 },
	{ "concurrency", KIND_COUNT, FIELD(concurrency), 0, 1, 255, 0 },
	{ "max_boot_time", KIND_SECONDS, FIELD(max_boot_time), 0, 0, 0, 0 },
	{ "max_request_time", KIND_SECONDS, FIELD(max_request_time), 0, 0, 0, 0 },
	{ "max_memory", KIND_MEGABYTES, FIELD(max_memory), 0, 1, MAX_MEGABYTES, 0 },
	{ "address_space", KIND_MEGABYTES, FIELD(address_space), 0, 1, MAX_MEGABYTES, FLAG_ADDRESS_SPACE },
	{ "max_request_memory", KIND_MEGABYTES, FIELD(max_request_memory), 0, 1, 4095, 0 },
	{ "limit_workmem_after_req", KIND_MEGABYTES, FIELD(limit_workmem_after_req), 0, 0, MAX_MEGABYTES, 0 },
	/* The VMOD's current name for the same limit. */
	{ "req_mem_limit_after_reset", KIND_MEGABYTES, FIELD(limit_workmem_after_req), 0, 0, MAX_MEGABYTES, 0 },
	{ "shared_memory", KIND_MEGABYTES, FIELD(shared_memory), 0, 0, MAX_MEGABYTES, 0 },
	{ "storage", KIND_BOOL, FIELD(storage), 0, 0, 0, 0 },
	{ "ephemeral", KIND_BOOL, FIELD(ephemeral), 0, 0, 0, 0 },
	/* As in the VMOD, keeping working memory implies being ephemeral. */
	{ "ephemeral_keep_working_memory", KIND_BOOL, FIELD(ephemeral_keep_working_memory), 0, 0, 0,
	  FLAG_IMPLIES_EPHEMERAL },
	{ "control_ephemeral", KIND_BOOL, FIELD(control_ephemeral), 0, 0, 0, 0 },
	{ "hugepages", KIND_BOOL, FIELD(hugepages), 0, 0, 0, 0 },
	{ "hugepage_arena_size", KIND_MEGABYTES, FIELD(hugepage_arena_size), 0, 0, MAX_MEGABYTES,
	  FLAG_HUGEPAGE_MULTIPLE | FLAG_ENABLES_HUGEPAGES },
	{ "request_hugepage_arena_size", KIND_MEGABYTES, FIELD(request_hugepage_arena_size), 0, 0, MAX_MEGABYTES,
	  FLAG_HUGEPAGE_MULTIPLE },
	{ "request_hugepages", KIND_MEGABYTES, FIELD(request_hugepage_arena_size), 0, 0, MAX_MEGABYTES,
	  FLAG_HUGEPAGE_MULTIPLE },
	{ "split_hugepages", KIND_BOOL, FIELD(split_hugepages), 0, 0, 0, 0 },
	{ "transparent_hugepages", KIND_BOOL, FIELD(transparent_hugepages), 0, 0, 0, 0 },
	{ "allow_debug", KIND_BOOL, FIELD(allow_debug), 0, 0, 0, 0 },
	{ "remote_debug_on_exception", KIND_BOOL, FIELD(remote_debug_on_exception), 0, 0, 0, 0 },
	{ "main_arguments", KIND_ARGUMENTS, FIELD(main_arguments), FIELD(main_argument_count), 0, 0, FLAG_EXPAND },
	{ "environment", KIND_ENVIRONMENT, FIELD(environment), FIELD(environment_count), 0, 0, FLAG_EXPAND },
	{ "allowed_paths", KIND_ALLOWED_PATHS, FIELD(allowed_paths), FIELD(allowed_path_count), 0, 0, FLAG_EXPAND },
	{ "current_working_directory", KIND_STRING, FIELD(current_working_directory), 0, 0, 0,
	  FLAG_NONEMPTY | FLAG_EXPAND | FLAG_ABSOLUTE },
	{ "remapping", KIND_REMAPPING, FIELD(remapping_address), FIELD(remapping_size), 1, MAX_MEGABYTES, 0 },
	{ "executable_remapping", KIND_REMAPPING, FIELD(executable_remapping_address),
	  FIELD(executable_remapping_size), 1, MAX_MEGABYTES, 0 },
	{ "allowed_hosts", KIND_ARGUMENTS, FIELD(allowed_hosts), FIELD(allowed_host_count), 0, 0, 0 },
	{ "trusted_keys", KIND_ARGUMENTS, FIELD(trusted_keys), FIELD(trusted_key_count), 0, 0, 0 },
	{ "stdout", KIND_BOOL, FIELD(stdout_enabled), 0, 0, 0, 0 },
	{ "verbose", KIND_BOOL, FIELD(verbose), 0, 0, 0, 0 },
	{ "verbose_syscalls", KIND_BOOL, FIELD(verbose_syscalls), 0, 0, 0, 0 },
	{ "warmup", KIND_WARMUP, FIELD(warmup), 0, 0, 0, 0 },
	/* Keys the production VMOD knows that do nothing in tkvm yet: accepted
	 * quietly so that a library made for production loads without noise. */
	{ "storage_filename", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "default", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "max_storage_time", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "max_storage_memory", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "storage_memory", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "storage_arguments", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "storage_1_to_1", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "storage_serialized", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "double_buffered", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "cold_start_file", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "dylink_address_hint", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "storage_dylink_address_hint", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "heap_address_hint", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "executable_heap", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "blackout_area", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "smp", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "verbose_pagetables", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "profiling", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "server", KIND_IGNORED, 0, 0, 0, 0, 0 },
	{ "websocket_server", KIND_IGNORED, 0, 0, 0, 0, 0 },
};

static const char *const allowed_path_keys[] = { "real", "virtual", "prefix", "writable", "symlink" };
static const char *const warmup_keys[] = { "num_requests", "url", "method", "headers" };

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Where we are, for messages: the text (when known) and the member being
 * applied, so that a problem, nested ones included, gets its own line. The
 * members' positions come from one walk in step with cJSON; positions
 * inside a value are looked up on the error path only, so valid settings
 * cost one pass over the text, however long the arrays. */
struct place {
	const char *source;   /* file name, or NULL */
	const char *text;     /* NUL-terminated JSON text, or NULL */
	const char *name;     /* the member's key */
	const char *key_at;   /* its key in text, or NULL */
	const char *value_at; /* its value in text, or NULL */
	int line;             /* a line given outright, 0 when not */
	settings_warning_fn warn;
	void *warn_context;
	int *warnings; /* warnings given so far for this object */
	bool strict; /* unknown nested keys are errors (no one to warn) */
	bool append; /* arrays grow instead of being replaced (program_settings_set) */
	struct tkvm_error *err;
};

static int key_line(const struct place *at)
{
	if (at->line || !at->text || !at->name)
		return at->line;
	if (at->key_at)
		return json_text_line_at(at->text, at->key_at);
	return json_text_key_line(at->text, at->name);
}

/* The line of a position in text, or the key's when it is not known. */
static int line_of(const struct place *at, const char *position)
{
	int line = position ? json_text_line_at(at->text, position) : 0;
	return line ? line : key_line(at);
}

static int element_line(const struct place *at, size_t index)
{
	return line_of(at, json_text_element(at->value_at, index));
}

/* The line of member key of element index (or of the value itself when
 * index is SIZE_MAX). */
static int nested_key_line(const struct place *at, size_t index, const char *key)
{
	const char *value_at = at->value_at, *key_at = NULL;
	const char *item_at = index == SIZE_MAX ? value_at : json_text_element(value_at, index);
	json_text_member(item_at, key, 0, &key_at);
	return line_of(at, key_at ? key_at : item_at);
}

/* "SOURCE:LINE: ", "SOURCE: ", "line N: " or "", as much as we know. */
static void location(char *buf, size_t size, const char *source, int line)
{
	if (source && line > 0)
		snprintf(buf, size, "%s:%d: ", source, line);
	else if (source)
		snprintf(buf, size, "%s: ", source);
	else if (line > 0)
		snprintf(buf, size, "line %d: ", line);
	else
		buf[0] = 0;
}

static int fail_at(const struct place *at, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(const struct place *at, int line, const char *fmt, ...)
{
	char where[300], what[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	location(where, sizeof where, at->source, line ? line : key_line(at));
	return tkvm_error_set(at->err, -EINVAL, "%s%s", where, what);
}

#define fail(at, ...) fail_at(at, 0, __VA_ARGS__)

static int out_of_memory(const struct place *at)
{
	return tkvm_error_set(at->err, -ENOMEM, "out of memory applying settings");
}


/* What a wrong value was, for "got ...". */
static const char *describe(const cJSON *v, char *buf, size_t size)
{
	if (cJSON_IsString(v))
		return json_text_quote(v->valuestring ? v->valuestring : "", buf, size);
	if (cJSON_IsNumber(v)) {
		snprintf(buf, size, "%.17g", v->valuedouble);
		/* Prefer the short form when it is exact. */
		char shorter[64];
		snprintf(shorter, sizeof shorter, "%g", v->valuedouble);
		if (strtod(shorter, NULL) == v->valuedouble)
			snprintf(buf, size, "%s", shorter);
		return buf;
	}
	return json_text_kind(v); /* true, false, null, an array, an object */
}

/* Optimal string alignment distance (edits, with swaps of neighbours
 * counting one: "memroy" is one step from "memory"), ignoring case. Only
 * called for short names. */

static bool close_enough(const char *name, const char *known, size_t *best)
{
	size_t ln = strlen(name), lk = strlen(known);
	if (ln > lk + 2 || lk > ln + 2)
		return false;
	size_t distance = json_text_edit_distance(name, known);
	if (distance > 2 || distance >= *best)
		return false;
	*best = distance;
	return true;
}

static const char *suggest_key(const char *name)
{
	const char *found = NULL;
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < COUNT_OF(setting_keys); i++)
		if (close_enough(name, setting_keys[i].name, &best))
			found = setting_keys[i].name;
	return found;
}

static const char *suggest_from(const char *name, const char *const *known, size_t count)
{
	const char *found = NULL;
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < count; i++)
		if (close_enough(name, known[i], &best))
			found = known[i];
	return found;
}

/* An unknown key: a warning (or, for program_settings_set, an error),
 * never silently dropped and never used. within is NULL for a key of the
 * object itself (known keys: the table), else it names the value holding
 * the key, which sits in element index of the member's value (SIZE_MAX:
 * in the value itself), with known listing that value's keys. Line and
 * suggestion are worked out only for what is reported, so a text full of
 * unknown keys stays linear. */
static int unknown_key(const struct place *at, const char *name, const char *within, size_t index,
		       const char *const *known, size_t known_count)
{
	if (!at->strict) {
		if (at->warnings && ++*at->warnings > MAX_WARNINGS) {
			/* Past a few dozen, more lines help no one. */
			if (*at->warnings == MAX_WARNINGS + 1 && at->warn) {
				char where[300], message[400];
				location(where, sizeof where, at->source, 0);
				snprintf(message, sizeof message, "%smore unknown keys not reported", where);
				at->warn(at->warn_context, message);
			}
			return 0;
		}
		if (!at->warn)
			return 0;
	}
	int line = within ? nested_key_line(at, index, name) : key_line(at);
	const char *suggestion = known ? suggest_from(name, known, known_count) : suggest_key(name);
	char quoted[128], hint[128] = "", in[64] = "";
	json_text_quote(name, quoted, sizeof quoted);
	if (suggestion)
		snprintf(hint, sizeof hint, "; did you mean \"%s\"?", suggestion);
	if (within)
		snprintf(in, sizeof in, " in \"%s\"", within);
	if (at->strict)
		return fail_at(at, line, "unknown key %s%s%s", quoted, in, hint);
	char where[300], message[800];
	location(where, sizeof where, at->source, line);
	snprintf(message, sizeof message, "%sunknown key %s%s (ignored%s)", where, quoted, in, hint);
	at->warn(at->warn_context, message);
	return 0;
}

static const struct setting_key *find_key(const char *name)
{
	for (size_t i = 0; i < COUNT_OF(setting_keys); i++)
		if (!strcmp(setting_keys[i].name, name))
			return &setting_keys[i];
	return NULL;
}

/* $HOME and $PWD replaced, every occurrence; as in the VMOD a variable
 * that cannot be resolved is left as written. Returns NULL without memory. */
static char *expand_variables(const char *in)
{
	const char *home = getenv("HOME");
	char cwd[PATH_MAX];
	const char *pwd = strstr(in, "$PWD") && getcwd(cwd, sizeof cwd) ? cwd : NULL;
	size_t home_len = home ? strlen(home) : 0, pwd_len = pwd ? strlen(pwd) : 0;
	size_t length = 0;
	for (const char *p = in; *p;) {
		if (home && !strncmp(p, "$HOME", 5)) {
			length += home_len;
			p += 5;
		} else if (pwd && !strncmp(p, "$PWD", 4)) {
			length += pwd_len;
			p += 4;
		} else {
			length++;
			p++;
		}
	}
	char *out = malloc(length + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = in; *p;) {
		if (home && !strncmp(p, "$HOME", 5)) {
			memcpy(o, home, home_len);
			o += home_len;
			p += 5;
		} else if (pwd && !strncmp(p, "$PWD", 4)) {
			memcpy(o, pwd, pwd_len);
			o += pwd_len;
			p += 4;
		} else {
			*o++ = *p++;
		}
	}
	*o = 0;
	return out;
}

static char *copy_text(const char *in, unsigned flags)
{
	return flags & FLAG_EXPAND ? expand_variables(in) : strdup(in);
}

static void free_strings(char **strings, size_t count)
{
	if (!strings)
		return;
	for (size_t i = 0; i < count; i++)
		free(strings[i]);
	free(strings);
}

static void free_allowed_paths(struct tkvm_allowed_path *paths, size_t count)
{
	if (!paths)
		return;
	for (size_t i = 0; i < count; i++) {
		free(paths[i].real);
		free(paths[i].virtual_path);
	}
	free(paths);
}

/* --- One handler per kind ---------------------------------------------- */

static int apply_string(const struct setting_key *k, const cJSON *v, const struct place *at, struct tkvm_settings *s)
{
	char got[128];
	if (!cJSON_IsString(v) || !v->valuestring)
		return fail(at, "\"%s\" must be a string, got %s", k->name, describe(v, got, sizeof got));
	if ((k->flags & FLAG_NONEMPTY) && !v->valuestring[0])
		return fail(at, "\"%s\" must not be empty", k->name);
	char *value = copy_text(v->valuestring, k->flags);
	if (!value)
		return out_of_memory(at);
	if ((k->flags & FLAG_ABSOLUTE) && value[0] != '/') {
		free(value);
		return fail(at, "\"%s\" must be an absolute path, got %s", k->name, describe(v, got, sizeof got));
	}
	char **field = (char **)((char *)s + k->offset);
	free(*field);
	*field = value;
	return 0;
}

static int apply_sha256(const struct setting_key *k, const cJSON *v, const struct place *at, struct tkvm_settings *s)
{
	char got[128];
	const char *hex = cJSON_IsString(v) ? v->valuestring : NULL;
	bool valid = hex && strlen(hex) == 64;
	for (size_t i = 0; valid && i < 64; i++)
		valid = isxdigit((unsigned char)hex[i]);
	if (!valid)
		return fail(at, "\"%s\" must be 64 hexadecimal digits (a SHA-256 hash), got %s", k->name,
			    describe(v, got, sizeof got));
	char *value = strdup(hex);
	if (!value)
		return out_of_memory(at);
	/* Lower case, so that comparing with a computed hash is strcmp. */
	for (char *c = value; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	free(s->sha256);
	s->sha256 = value;
	return 0;
}

static int apply_bool(const struct setting_key *k, const cJSON *v, const struct place *at, struct tkvm_settings *s)
{
	char got[128];
	if (!cJSON_IsBool(v))
		return fail(at, "\"%s\" must be true or false, got %s", k->name, describe(v, got, sizeof got));
	bool value = cJSON_IsTrue(v);
	*(bool *)((char *)s + k->offset) = value;
	if ((k->flags & FLAG_IMPLIES_EPHEMERAL) && value)
		s->ephemeral = true;
	return 0;
}

/* Without floor(): the build links no libm. Every range we check is far
 * inside what a long long holds. */
static bool is_whole(double d)
{
	return d > -9e15 && d < 9e15 && d == (double)(long long)d;
}

static int apply_count(const struct setting_key *k, const cJSON *v, const struct place *at, struct tkvm_settings *s)
{
	char got[128];
	if (!cJSON_IsNumber(v) || !is_whole(v->valuedouble) || v->valuedouble < k->min || v->valuedouble > k->max)
		return fail(at, "\"%s\" must be a whole number from %u to %u, got %s", k->name, k->min, k->max,
			    describe(v, got, sizeof got));
	*(int *)((char *)s + k->offset) = (int)v->valuedouble;
	return 0;
}

static int apply_seconds(const struct setting_key *k, const cJSON *v, const struct place *at, struct tkvm_settings *s)
{
	char got[128];
	if (!cJSON_IsNumber(v))
		return fail(at, "\"%s\" must be a number of seconds, got %s", k->name, describe(v, got, sizeof got));
	if (!(v->valuedouble > 0 && v->valuedouble <= MAX_SECONDS))
		return fail(at, "\"%s\" must be more than 0 and at most %g seconds, got %s", k->name, MAX_SECONDS,
			    describe(v, got, sizeof got));
	*(double *)((char *)s + k->offset) = v->valuedouble;
	return 0;
}

/* A whole number of megabytes within [min, max]; shared by the memory keys
 * and the remapping size. */
static int read_megabytes(const char *name, const cJSON *v, uint32_t min, uint32_t max, unsigned flags,
			  const struct place *at, int line, uint32_t *out)
{
	char got[128];
	if (!cJSON_IsNumber(v))
		return fail_at(at, line, "\"%s\" must be a number of megabytes, got %s", name,
			       describe(v, got, sizeof got));
	if (!is_whole(v->valuedouble))
		return fail_at(at, line, "\"%s\" must be a whole number of megabytes, got %s", name,
			       describe(v, got, sizeof got));
	if (v->valuedouble < min || v->valuedouble > max)
		return fail_at(at, line, "\"%s\" must be from %u to %u megabytes, got %s", name, min, max,
			       describe(v, got, sizeof got));
	uint32_t value = (uint32_t)v->valuedouble;
	if ((flags & FLAG_HUGEPAGE_MULTIPLE) && value % HUGEPAGE_MEGABYTES)
		return fail_at(at, line, "\"%s\" must be a multiple of %u megabytes (one hugepage), got %s", name,
			       HUGEPAGE_MEGABYTES, describe(v, got, sizeof got));
	*out = value;
	return 0;
}

static int apply_megabytes(const struct setting_key *k, const cJSON *v, const struct place *at,
			   struct tkvm_settings *s)
{
	uint32_t value;
	int rc = read_megabytes(k->name, v, k->min, k->max, k->flags, at, 0, &value);
	if (rc < 0)
		return rc;
	*(uint32_t *)((char *)s + k->offset) = value;
	if (k->flags & FLAG_ENABLES_HUGEPAGES)
		s->hugepages = value != 0;
	return 0;
}

/* Reads an array of strings into a new array; environment entries must
 * look like NAME=value. Nothing is kept on error. */
static int read_strings(const struct setting_key *k, const cJSON *v, const struct place *at, char ***out,
			size_t *out_count)
{
	char got[128];
	bool environment = k->kind == KIND_ENVIRONMENT;
	if (!cJSON_IsArray(v))
		return fail(at, "\"%s\" must be an array of %s, got %s", k->name,
			    environment ? "\"NAME=value\" strings" : "strings", describe(v, got, sizeof got));
	size_t count = (size_t)cJSON_GetArraySize(v), n = 0;
	char **strings = count ? calloc(count, sizeof *strings) : NULL;
	if (count && !strings)
		return out_of_memory(at);
	int rc = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, v) {
		if (!cJSON_IsString(item) || !item->valuestring) {
			rc = fail_at(at, element_line(at, n), "\"%s\"[%zu] must be a string, got %s", k->name, n,
				     describe(item, got, sizeof got));
			break;
		}
		const char *equals = strchr(item->valuestring, '=');
		if (environment && (!equals || equals == item->valuestring)) {
			rc = fail_at(at, element_line(at, n), "\"%s\"[%zu] must look like NAME=value, got %s", k->name, n,
				     describe(item, got, sizeof got));
			break;
		}
		strings[n] = copy_text(item->valuestring, k->flags);
		if (!strings[n]) {
			rc = out_of_memory(at);
			break;
		}
		n++;
	}
	if (rc < 0) {
		free_strings(strings, n);
		return rc;
	}
	*out = strings;
	*out_count = n;
	return 0;
}

/* The VMOD replaces main_arguments and appends to environment (a program
 * adds to its group's); program_settings_set appends to both. */
static int apply_strings(const struct setting_key *k, const cJSON *v, const struct place *at,
			 struct tkvm_settings *s)
{
	char **strings = NULL;
	size_t count = 0;
	int rc = read_strings(k, v, at, &strings, &count);
	if (rc < 0)
		return rc;
	char ***field = (char ***)((char *)s + k->offset);
	size_t *field_count = (size_t *)((char *)s + k->offset2);
	if (k->kind == KIND_ARGUMENTS && !at->append) {
		free_strings(*field, *field_count);
		*field = strings;
		*field_count = count;
		return 0;
	}
	if (count == 0) {
		free(strings);
		return 0;
	}
	char **grown = realloc(*field, (*field_count + count) * sizeof *grown);
	if (!grown) {
		free_strings(strings, count);
		return out_of_memory(at);
	}
	memcpy(grown + *field_count, strings, count * sizeof *strings);
	free(strings);
	*field = grown;
	*field_count += count;
	return 0;
}

static int read_path_string(const char *name, size_t index, const char *member, const cJSON *v,
			    const struct place *at, char **out)
{
	char got[128];
	if (!cJSON_IsString(v) || !v->valuestring)
		return fail_at(at, nested_key_line(at, index, member), "\"%s\"[%zu].%s must be a path string, got %s", name, index, member,
			       describe(v, got, sizeof got));
	*out = expand_variables(v->valuestring);
	return *out ? 0 : out_of_memory(at);
}

static int read_path_flag(const char *name, size_t index, const char *member, const cJSON *v,
			  const struct place *at, bool *out)
{
	char got[128];
	if (!cJSON_IsBool(v))
		return fail_at(at, nested_key_line(at, index, member), "\"%s\"[%zu].%s must be true or false, got %s", name, index, member,
			       describe(v, got, sizeof got));
	*out = cJSON_IsTrue(v);
	return 0;
}

/* One allowed_paths entry: "path", or {real, virtual, prefix, writable,
 * symlink}. virtual_path is always filled (a copy of real when absent), so
 * readers need no fallback. */
static int read_allowed_path(const char *name, size_t index, const cJSON *item, const struct place *at,
			     struct tkvm_allowed_path *path)
{
	char got[128];
	memset(path, 0, sizeof *path);
	if (cJSON_IsString(item) && item->valuestring) {
		if (!item->valuestring[0])
			return fail_at(at, element_line(at, index), "\"%s\"[%zu] must not be empty", name, index);
		path->real = expand_variables(item->valuestring);
		path->virtual_path = path->real ? strdup(path->real) : NULL;
		return path->virtual_path ? 0 : out_of_memory(at);
	}
	if (!cJSON_IsObject(item))
		return fail_at(at, element_line(at, index),
			       "\"%s\"[%zu] must be a path string or an object with \"real\", got %s", name,
			       index, describe(item, got, sizeof got));
	const cJSON *real = cJSON_GetObjectItemCaseSensitive(item, "real");
	if (!real)
		return fail_at(at, element_line(at, index), "\"%s\"[%zu] has no \"real\" path", name, index);
	const cJSON *member;
	cJSON_ArrayForEach(member, item) {
		const char *key = member->string ? member->string : "";
		int rc = 0;
		if (!strcmp(key, "real")) {
			free(path->real);
			path->real = NULL;
			rc = read_path_string(name, index, key, member, at, &path->real);
			if (rc == 0 && !path->real[0])
				rc = fail_at(at, nested_key_line(at, index, key), "\"%s\"[%zu].real must not be empty",
					     name, index);
		} else if (!strcmp(key, "virtual")) {
			free(path->virtual_path);
			path->virtual_path = NULL;
			rc = read_path_string(name, index, key, member, at, &path->virtual_path);
		} else if (!strcmp(key, "prefix")) {
			rc = read_path_flag(name, index, key, member, at, &path->prefix);
		} else if (!strcmp(key, "writable")) {
			rc = read_path_flag(name, index, key, member, at, &path->writable);
		} else if (!strcmp(key, "symlink")) {
			rc = read_path_flag(name, index, key, member, at, &path->symlink);
		} else {
			char within[64];
			snprintf(within, sizeof within, "%s[%zu]", name, index);
			rc = unknown_key(at, key, within, index, allowed_path_keys, COUNT_OF(allowed_path_keys));
		}
		if (rc < 0)
			return rc;
	}
	/* An empty virtual path means "the same as real", as in the VMOD. */
	if (path->virtual_path && !path->virtual_path[0]) {
		free(path->virtual_path);
		path->virtual_path = NULL;
	}
	if (path->symlink && !path->virtual_path)
		return fail_at(at, element_line(at, index), "\"%s\"[%zu] is a symlink and needs a \"virtual\" path", name, index);
	if (path->symlink && !strcmp(path->real, path->virtual_path))
		return fail_at(at, element_line(at, index),
			       "\"%s\"[%zu] is a symlink and needs a \"virtual\" path different from \"real\"",
			       name, index);
	if (!path->virtual_path) {
		path->virtual_path = strdup(path->real);
		if (!path->virtual_path)
			return out_of_memory(at);
	}
	return 0;
}

/* Entries are appended, as the VMOD does: a program adds to its group's. */
static int apply_allowed_paths(const struct setting_key *k, const cJSON *v, const struct place *at,
			       struct tkvm_settings *s)
{
	char got[128];
	if (!cJSON_IsArray(v))
		return fail(at, "\"%s\" must be an array of path strings or objects, got %s", k->name,
			    describe(v, got, sizeof got));
	size_t count = (size_t)cJSON_GetArraySize(v), n = 0;
	if (count == 0)
		return 0;
	struct tkvm_allowed_path *paths = calloc(count, sizeof *paths);
	if (!paths)
		return out_of_memory(at);
	int rc = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, v) {
		rc = read_allowed_path(k->name, n, item, at, &paths[n]);
		n++; /* the failed entry too: it may hold half its strings */
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		free_allowed_paths(paths, n);
		return rc;
	}
	struct tkvm_allowed_path *grown = realloc(s->allowed_paths, (s->allowed_path_count + n) * sizeof *grown);
	if (!grown) {
		free_allowed_paths(paths, n);
		return out_of_memory(at);
	}
	memcpy(grown + s->allowed_path_count, paths, n * sizeof *paths);
	free(paths);
	s->allowed_paths = grown;
	s->allowed_path_count += n;
	return 0;
}

/* "0x..." (the prefix optional, as strtoull base 16 reads it in the VMOD),
 * hexadecimal digits only. */
static bool read_hex_address(const char *text, uint64_t *out)
{
	if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
		text += 2;
	if (!*text || strlen(text) > 16)
		return false;
	uint64_t value = 0;
	for (; *text; text++) {
		if (!isxdigit((unsigned char)*text))
			return false;
		int c = tolower((unsigned char)*text);
		value = value * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	*out = value;
	return true;
}

/* ["0xADDRESS", megabytes] or, as the VMOD also reads it, ["0xADDRESS",
 * "0xEND"]. The VMOD also takes an object of several such ranges; tkvm
 * keeps one range of each kind, so an object must hold exactly one. */
static int apply_remapping(const struct setting_key *k, const cJSON *v, const struct place *at,
			   struct tkvm_settings *s)
{
	char got[128];
	int line = 0;
	if (cJSON_IsObject(v)) {
		if (cJSON_GetArraySize(v) != 1)
			return fail(at, "\"%s\" as an object must hold exactly one range (tkvm supports one), got %d",
				    k->name, cJSON_GetArraySize(v));
		v = v->child;
		if (at->text)
			line = nested_key_line(at, SIZE_MAX, v->string ? v->string : "");
	}
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
		return fail_at(at, line, "\"%s\" must be [\"0xADDRESS\", megabytes], got %s", k->name,
			       describe(v, got, sizeof got));
	const cJSON *address_item = cJSON_GetArrayItem(v, 0), *size_item = cJSON_GetArrayItem(v, 1);
	uint64_t address;
	if (!cJSON_IsString(address_item) || !read_hex_address(address_item->valuestring, &address))
		return fail_at(at, line, "\"%s\" address must be a hexadecimal string like \"0x40000000\", got %s",
			       k->name, describe(address_item, got, sizeof got));
	if (address < REMAPPING_MIN_ADDRESS || address % PAGE_SIZE_BYTES || address >= ADDRESS_LIMIT)
		return fail_at(at, line,
			       "\"%s\" address must be 4 KiB aligned, at least 0x%llx and below 0x%llx, got %s",
			       k->name, REMAPPING_MIN_ADDRESS, ADDRESS_LIMIT, describe(address_item, got, sizeof got));
	uint32_t megabytes;
	if (cJSON_IsString(size_item)) {
		uint64_t end;
		if (!read_hex_address(size_item->valuestring, &end) || end <= address ||
		    (end - address) >> 20 < 1 || (end - address) >> 20 > MAX_MEGABYTES)
			return fail_at(at, line,
				       "\"%s\" end must be a hexadecimal address 1 to %u MB above the start, got %s",
				       k->name, MAX_MEGABYTES, describe(size_item, got, sizeof got));
		megabytes = (uint32_t)((end - address) >> 20);
	} else {
		int rc = read_megabytes(k->name, size_item, k->min, k->max, 0, at, line, &megabytes);
		if (rc < 0)
			return rc;
	}
	if (address + ((uint64_t)megabytes << 20) > ADDRESS_LIMIT)
		return fail_at(at, line, "\"%s\" range ends beyond the 47-bit address space", k->name);
	*(uint64_t *)((char *)s + k->offset) = address;
	*(uint32_t *)((char *)s + k->offset2) = megabytes;
	return 0;
}

static int warmup_string(const cJSON *v, const struct place *at, const char *member, char **out)
{
	char got[128];
	if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0])
		return fail_at(at, nested_key_line(at, SIZE_MAX, member), "\"warmup\".%s must be a non-empty string, got %s", member,
			       describe(v, got, sizeof got));
	char *copy = strdup(v->valuestring);
	if (!copy)
		return out_of_memory(at);
	free(*out);
	*out = copy;
	return 0;
}

static int warmup_headers(const cJSON *v, const struct place *at, struct tkvm_warmup *w)
{
	char got[128];
	if (!cJSON_IsArray(v))
		return fail_at(at, nested_key_line(at, SIZE_MAX, "headers"), "\"warmup\".headers must be an array of \"Name: value\" strings, got %s",
			       describe(v, got, sizeof got));
	free_strings(w->headers, w->header_count);
	w->headers = NULL;
	w->header_count = 0;
	size_t count = (size_t)cJSON_GetArraySize(v);
	if (count == 0)
		return 0;
	w->headers = calloc(count, sizeof *w->headers);
	if (!w->headers)
		return out_of_memory(at);
	const cJSON *item;
	cJSON_ArrayForEach(item, v) {
		size_t n = w->header_count;
		const char *colon = cJSON_IsString(item) && item->valuestring ? strchr(item->valuestring, ':') : NULL;
		if (!colon || colon == item->valuestring)
			return fail_at(at, line_of(at, json_text_element(json_text_member(at->value_at,
									       "headers", 0, NULL), n)),
				       "\"warmup\".headers[%zu] must look like \"Name: value\", got %s", n,
				       describe(item, got, sizeof got));
		w->headers[n] = strdup(item->valuestring);
		if (!w->headers[n])
			return out_of_memory(at);
		w->header_count = n + 1;
	}
	return 0;
}

/* {num_requests, url, method, headers}, with the VMOD's defaults (20
 * requests of GET /). A new warmup replaces the group's whole. */
static int apply_warmup(const struct setting_key *k, const cJSON *v, const struct place *at, struct tkvm_settings *s)
{
	char got[128];
	if (!cJSON_IsObject(v))
		return fail(at, "\"%s\" must be an object {num_requests, url, method, headers}, got %s", k->name,
			    describe(v, got, sizeof got));
	struct tkvm_warmup w = { .enabled = true, .num_requests = DEFAULT_WARMUP_REQUESTS };
	int rc = 0;
	const cJSON *member;
	cJSON_ArrayForEach(member, v) {
		const char *key = member->string ? member->string : "";
		if (!strcmp(key, "num_requests")) {
			if (!cJSON_IsNumber(member) || !is_whole(member->valuedouble) || member->valuedouble < 0 ||
			    member->valuedouble > 1000000)
				rc = fail_at(at, nested_key_line(at, SIZE_MAX, key), "\"warmup\".num_requests must be a whole number from 0 to 1000000, got %s",
					     describe(member, got, sizeof got));
			else
				w.num_requests = (int)member->valuedouble;
		} else if (!strcmp(key, "url")) {
			rc = warmup_string(member, at, key, &w.url);
			if (rc == 0 && w.url[0] != '/')
				rc = fail_at(at, nested_key_line(at, SIZE_MAX, key), "\"warmup\".url must be a path starting with '/', got %s",
					     describe(member, got, sizeof got));
		} else if (!strcmp(key, "method")) {
			rc = warmup_string(member, at, key, &w.method);
		} else if (!strcmp(key, "headers")) {
			rc = warmup_headers(member, at, &w);
		} else {
			rc = unknown_key(at, key, "warmup", SIZE_MAX, warmup_keys, COUNT_OF(warmup_keys));
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && !w.url && !(w.url = strdup("/")))
		rc = out_of_memory(at);
	if (rc == 0 && !w.method && !(w.method = strdup("GET")))
		rc = out_of_memory(at);
	if (rc < 0) {
		free(w.url);
		free(w.method);
		free_strings(w.headers, w.header_count);
		return rc;
	}
	free(s->warmup.url);
	free(s->warmup.method);
	free_strings(s->warmup.headers, s->warmup.header_count);
	s->warmup = w;
	return 0;
}

static int apply_value(const struct setting_key *k, const cJSON *v, const struct place *at, struct tkvm_settings *s)
{
	switch (k->kind) {
	case KIND_STRING:
		return apply_string(k, v, at, s);
	case KIND_SHA256:
		return apply_sha256(k, v, at, s);
	case KIND_BOOL:
		return apply_bool(k, v, at, s);
	case KIND_COUNT:
		return apply_count(k, v, at, s);
	case KIND_SECONDS:
		return apply_seconds(k, v, at, s);
	case KIND_MEGABYTES:
		return apply_megabytes(k, v, at, s);
	case KIND_ARGUMENTS:
	case KIND_ENVIRONMENT:
		return apply_strings(k, v, at, s);
	case KIND_ALLOWED_PATHS:
		return apply_allowed_paths(k, v, at, s);
	case KIND_REMAPPING:
		return apply_remapping(k, v, at, s);
	case KIND_WARMUP:
		return apply_warmup(k, v, at, s);
	case KIND_IGNORED:
		return 0;
	}
	return fail(at, "\"%s\": unhandled kind of setting", k->name);
}

/* Rules between keys, checked once all keys of one object are in. As in
 * the VMOD, max_memory raises address_space to itself; but an
 * address_space set in the same breath below max_memory is a mistake. */
static int check_together(struct tkvm_settings *s, bool address_space_given, const struct place *at)
{
	if (s->address_space >= s->max_memory)
		return 0;
	if (address_space_given)
		return fail(at, "\"address_space\" (%u MB) must be at least \"max_memory\" (%u MB)", s->address_space,
			    s->max_memory);
	s->address_space = s->max_memory;
	return 0;
}

/* Whether the key written at quote (its opening quote) is name. A key
 * written with escapes cannot be compared raw; the walk's order vouches
 * for it. */
static bool same_key(const char *quote, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = quote + 1; *p && *p != '"'; p++)
		if (*p == '\\')
			return true;
	return !strncmp(quote + 1, name, n) && quote[1 + n] == '"';
}

/* Where the object sits in text: the root itself, or, for a member of a
 * library (cJSON gives members their name), that member of the root. */
static const char *locate_object(const cJSON *object, const char *text)
{
	const char *root = json_text_root(text);
	if (!root || !object->string)
		return root;
	return json_text_member(root, object->string, 0, NULL);
}

int program_settings_apply(const struct cJSON *object, const char *text, const char *source,
			   struct tkvm_settings *settings, settings_warning_fn warn, void *warn_context,
			   struct tkvm_error *err)
{
	struct place at = { .source = source, .text = text, .warn = warn, .warn_context = warn_context, .err = err };
	char got[128];
	if (!settings)
		return tkvm_error_set(err, -EINVAL, "program_settings_apply: no settings");
	if (!cJSON_IsObject(object)) {
		at.line = json_text_line_at(text, json_text_root(text));
		return fail(&at, "program settings must be a JSON object, got %s",
			    object ? describe(object, got, sizeof got) : "nothing");
	}
	int warnings = 0;
	at.warnings = &warnings;
	/* cJSON keeps members in text order, so one cursor walks the text in
	 * step. A key that differs raw (escapes) still is the same member; a
	 * text that is not the object's source just loses the lines. */
	const char *cursor = text ? locate_object(object, text) : NULL;
	const char *address_space_at = NULL, *address_space_value = NULL;
	bool address_space_given = false;
	const cJSON *member;
	cJSON_ArrayForEach(member, object) {
		const char *name = member->string ? member->string : "";
		at.name = name;
		at.key_at = at.value_at = NULL;
		cursor = json_text_next_member(cursor, &at.key_at, &at.value_at);
		if (cursor && !same_key(at.key_at, name)) {
			cursor = NULL;
			at.key_at = at.value_at = NULL;
		}
		const struct setting_key *k = find_key(name);
		int rc = k ? apply_value(k, member, &at, settings)
			   : unknown_key(&at, name, NULL, 0, NULL, 0);
		if (rc < 0)
			return rc;
		if (k && (k->flags & FLAG_ADDRESS_SPACE)) {
			address_space_given = true;
			address_space_at = at.key_at;
			address_space_value = at.value_at;
		}
	}
	at.name = "address_space";
	at.key_at = address_space_at;
	at.value_at = address_space_value;
	return check_together(settings, address_space_given, &at);
}

int program_settings_parse(const char *text, size_t length, const char *source, struct tkvm_settings *settings,
			   settings_warning_fn warn, void *warn_context, struct tkvm_error *err)
{
	if (!settings)
		return tkvm_error_set(err, -EINVAL, "program_settings_parse: no settings");
	cJSON *json = json_text_parse(text, length, source, err);
	if (!json)
		return err && err->code ? err->code : -EINVAL;
	/* The line finders need a terminated copy; json_text_parse has
	 * already refused embedded NULs. */
	char *terminated = malloc(length + 1);
	if (!terminated) {
		cJSON_Delete(json);
		return tkvm_error_set(err, -ENOMEM, "out of memory reading settings");
	}
	memcpy(terminated, text, length);
	terminated[length] = 0;
	int rc = program_settings_apply(json, terminated, source, settings, warn, warn_context, err);
	free(terminated);
	cJSON_Delete(json);
	return rc;
}

/* "true/false/1/0/yes/no" (any case); NULL when it is none of them. */
static cJSON *parse_bool_text(const char *value)
{
	static const char *const yes[] = { "true", "1", "yes", "on" }, *const no[] = { "false", "0", "no", "off" };
	for (size_t i = 0; i < COUNT_OF(yes); i++) {
		if (!strcasecmp(value, yes[i]))
			return cJSON_CreateTrue();
		if (!strcasecmp(value, no[i]))
			return cJSON_CreateFalse();
	}
	return NULL;
}

static cJSON *parse_number_text(const char *value)
{
	char *end = NULL;
	errno = 0;
	double d = strtod(value, &end);
	while (end && isspace((unsigned char)*end))
		end++;
	/* strtod also reads "inf", "nan" and hexadecimal: not numbers here. */
	bool plain = strspn(value, " \t+-0123456789.eE") == strlen(value);
	if (end == value || *end || !plain || !isfinite(d))
		return NULL;
	return cJSON_CreateNumber(d);
}

/* The text of a flag turned into the JSON value the key takes, so that a
 * flag goes through exactly the checks of the same key in a file. A value
 * that is not of the right type becomes a JSON string, which the handler
 * then refuses with the usual "must be ..., got "text"". */
static cJSON *value_from_text(const struct setting_key *k, const char *value, struct tkvm_error *err, int *rc)
{
	cJSON *json = NULL, *array;
	*rc = 0;
	switch (k->kind) {
	case KIND_BOOL:
		json = parse_bool_text(value);
		break;
	case KIND_COUNT:
	case KIND_SECONDS:
	case KIND_MEGABYTES:
		json = parse_number_text(value);
		break;
	case KIND_ARGUMENTS:
	case KIND_ENVIRONMENT:
	case KIND_ALLOWED_PATHS:
		array = cJSON_CreateArray();
		if (!array)
			break;
		if (k->kind == KIND_ALLOWED_PATHS && value[strspn(value, " \t")] == '{') {
			json = json_text_parse(value, strlen(value), k->name, err);
			if (!json) {
				cJSON_Delete(array);
				*rc = err && err->code ? err->code : -EINVAL;
				return NULL;
			}
		} else {
			json = cJSON_CreateString(value);
		}
		if (!json || !cJSON_AddItemToArray(array, json)) {
			cJSON_Delete(json);
			cJSON_Delete(array);
			return NULL;
		}
		return array;
	case KIND_REMAPPING:
	case KIND_WARMUP:
		json = json_text_parse(value, strlen(value), k->name, err);
		if (!json)
			*rc = err && err->code ? err->code : -EINVAL;
		return json;
	case KIND_STRING:
	case KIND_SHA256:
	case KIND_IGNORED:
		break;
	}
	if (!json)
		json = cJSON_CreateString(value);
	return json;
}

int program_settings_set(struct tkvm_settings *settings, const char *key, const char *value, struct tkvm_error *err)
{
	struct place at = { .strict = true, .append = true, .err = err };
	if (!settings || !key || !value)
		return tkvm_error_set(err, -EINVAL, "program_settings_set: missing %s",
				      !settings ? "settings" : !key ? "key" : "value");
	const struct setting_key *k = find_key(key);
	if (!k) {
		char quoted[128], hint[128] = "";
		const char *suggestion = suggest_key(key);
		if (suggestion)
			snprintf(hint, sizeof hint, " (did you mean \"%s\"?)", suggestion);
		return tkvm_error_set(err, -EINVAL, "unknown setting %s%s", json_text_quote(key, quoted, sizeof quoted), hint);
	}
	int rc;
	cJSON *json = value_from_text(k, value, err, &rc);
	if (rc < 0)
		return rc;
	if (!json)
		return out_of_memory(&at);
	rc = apply_value(k, json, &at, settings);
	cJSON_Delete(json);
	if (rc < 0)
		return rc;
	return check_together(settings, (k->flags & FLAG_ADDRESS_SPACE) != 0, &at);
}
