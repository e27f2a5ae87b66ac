/* The programs `tkvm serve` answers with, by name: one from the command
 * line, or the programs of a library JSON. Each holds the booted program
 * behind a mutex so that a live update can swap in a new one while
 * requests still run on the old: a request takes a reference
 * (served_program_acquire), the swap replaces the pointer and drops the
 * server's reference, and the old program is destroyed by whichever
 * request releases it last. */
#ifndef TKVM_CLI_SERVED_PROGRAMS_H
#define TKVM_CLI_SERVED_PROGRAMS_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "cli/access_log.h"
#include "cli/debug_session.h"
#include "cli/fetch_client.h"
#include "runner/tkvm.h"

enum served_state {
	SERVED_NOT_STARTED, /* boots on its first request */
	SERVED_RUNNING,
	SERVED_FAILED,      /* its boot failed: requests get the error until a live update */
};

struct served_program {
	struct fetch_client *fetch;    /* the set's */
	const struct debug_session_options *debug; /* the set's */
	char *name;
	struct tkvm_settings settings; /* a live update boots with the same settings */
	char *elf_path;                /* where the ELF is read from */
	struct access_log *messages;   /* the program's log lines and output */
	struct tkvm_hooks hooks;
	double queue_timeout;

	pthread_mutex_t boot_lock; /* one boot or live update at a time */
	pthread_mutex_t lock;      /* guards what follows */
	struct tkvm_program *program;
	enum served_state state;
	char *error; /* why the boot failed (SERVED_FAILED) */
	unsigned live_updates;
};

struct served_programs {
	struct served_program **programs;
	size_t count;
	bool library; /* routed by name; otherwise one program answers everything */
	struct fetch_client fetch; /* outbound HTTP for every program; self-requests come back here */
	struct debug_session_options debug; /* where a request waiting for gdb listens */
};

/* Adds a program (settings copied). Returns 0 or -ENOMEM. */
int served_programs_add(struct served_programs *set, const char *name, const struct tkvm_settings *settings,
			const char *elf_path, double queue_timeout, struct access_log *messages);
struct served_program *served_programs_find(struct served_programs *set, const char *name, size_t length);
/* Releases every program (their VMs are destroyed once no request uses them). */
void served_programs_free(struct served_programs *set);

/* Boots the program now unless it is running. Returns 0, or -1 with the
 * reason in message. */
int served_program_start(struct served_program *p, char *message, size_t size);

/* The program a request runs on, with a reference the caller drops with
 * tkvm_program_release; boots it first when it has not started. NULL when
 * it cannot run, with the reason in message. */
struct tkvm_program *served_program_acquire(struct served_program *p, char *message, size_t size);

/* Live update: boots elf with the program's settings and swaps it in; the
 * old program stays when the new one fails to boot. Returns 0 with the
 * VMOD's answer in message ("Update successful (stored)\n"), or -1 with
 * the boot error. */
int served_program_update(struct served_program *p, const uint8_t *elf, size_t elf_size, char *message, size_t size);

/* Statistics of every program as one JSON object keyed by program name,
 * with the VMOD's field names. Returns malloc'd text or NULL. */
char *served_programs_stats_json(struct served_programs *set);
#endif
