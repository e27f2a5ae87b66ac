/* A program's settings: the library-JSON keys of
 * shared/spec/library-and-archive.md, typed, with the VMOD's defaults.
 * Parsing JSON into this struct lives in packager/program_settings.c; the
 * core only reads it. Strings and arrays are heap-owned by the struct. */
#ifndef TKVM_RUNNER_SETTINGS_H
#define TKVM_RUNNER_SETTINGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tkvm_allowed_path {
	char *real;         /* path on the host */
	char *virtual_path; /* path the program sees (defaults to real) */
	bool prefix;        /* virtual_path is a directory prefix */
	bool writable;      /* accepted and reported; tkvm opens read-only for now */
	bool symlink;       /* the program may see it as a symlink (stat) */
};

struct tkvm_warmup {
	bool enabled;
	int num_requests;
	char *url;
	char *method;
	char **headers;
	size_t header_count;
};

struct tkvm_settings {
	char *name;  /* program name (KVM_NAME, argv[0]) */
	char *group; /* default "test" */
	char *uri;
	char *filename;
	char *sha256;
	char *key;
	bool start;

	int concurrency;           /* 1..255, default 2 */
	double max_boot_time;      /* seconds, default 16 */
	double max_request_time;   /* seconds, default 8 */
	uint32_t max_memory;       /* MB, default 256 */
	uint32_t address_space;    /* MB, default 256, >= max_memory */
	uint32_t max_request_memory;      /* MB, default 64, < 4096 */
	uint32_t limit_workmem_after_req; /* MB, 0 = unset */
	uint32_t shared_memory;           /* MB, default 0 */

	bool storage;
	bool ephemeral;                     /* default true */
	bool ephemeral_keep_working_memory; /* default true */
	bool control_ephemeral;
	bool hugepages;
	uint32_t hugepage_arena_size;         /* MB */
	uint32_t request_hugepage_arena_size; /* MB */
	bool split_hugepages;
	bool transparent_hugepages;
	bool allow_debug;
	bool remote_debug_on_exception;

	char **main_arguments;
	size_t main_argument_count;
	char **environment; /* "NAME=value" */
	size_t environment_count;
	struct tkvm_allowed_path *allowed_paths;
	size_t allowed_path_count;
	char *current_working_directory; /* default "/" */

	/* remapping / executable_remapping: ["0xADDR", MB] */
	uint64_t remapping_address;
	uint32_t remapping_size; /* MB, 0 = none */
	uint64_t executable_remapping_address;
	uint32_t executable_remapping_size;

	/* tkvm's own key: hosts sys_fetch may reach ("host", "host:port" or
	 * "*"); empty = no outbound access. Path-only URLs (self-requests) are
	 * always allowed. */
	char **allowed_hosts;
	size_t allowed_host_count;
	/* tkvm's own key: minisign public keys ("RWQ...") one of which must
	 * have signed the program's archive; empty = signatures not required. */
	char **trusted_keys;
	size_t trusted_key_count;

	bool stdout_enabled; /* key "stdout" */
	bool verbose;
	bool verbose_syscalls;
	struct tkvm_warmup warmup;
};

/* Fills defaults; every pointer NULL, every array empty. */
void tkvm_settings_init(struct tkvm_settings *s);
/* Frees what the struct owns and leaves it initialised to defaults. */
void tkvm_settings_free(struct tkvm_settings *s);
/* Deep copy; returns 0 or -ENOMEM. */
int tkvm_settings_copy(struct tkvm_settings *dst, const struct tkvm_settings *src);

/* group and current_working_directory stay NULL until set (so that init
 * allocates nothing and cannot fail); these give the value in effect. */
const char *tkvm_settings_group(const struct tkvm_settings *s);             /* "test" when NULL */
const char *tkvm_settings_working_directory(const struct tkvm_settings *s); /* "/" when NULL */
#endif
