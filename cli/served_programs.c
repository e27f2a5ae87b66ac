/* Programs by name, booted on demand and swapped by live updates (see
 * served_programs.h). Invariant: while state is SERVED_RUNNING, program
 * holds one reference owned by the set; every request holds its own. */
#include "cli/served_programs.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The program's output and sys_log lines, one message per line. */
static void emit_lines(struct served_program *p, const char *data, size_t length)
{
	while (length) {
		const char *newline = memchr(data, '\n', length);
		size_t n = newline ? (size_t)(newline - data) : length;
		if (n) {
			char *line = strndup(data, n);
			if (line) {
				access_log_message(p->messages, p->name, line);
				free(line);
			}
		}
		data += n + (newline ? 1 : 0);
		length -= n + (newline ? 1 : 0);
	}
}

static void on_output(void *context, int fd, const char *data, size_t length)
{
	struct served_program *p = context;
	if (p->settings.stdout_enabled)
		emit_lines(p, data, length);
}

static void on_log(void *context, const char *data, size_t length)
{
	emit_lines(context, data, length);
}

static int on_fetch(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response)
{
	struct served_program *p = context;
	return fetch_client_perform(p->fetch, request, response);
}

/* A request stopped for gdb (breakpoint() with allow_debug, or a crash
 * with --debug-on-crash): its connection waits while gdb looks. */
static void on_debug(void *context, struct tkvm_debugger *debugger, const struct tkvm_debug_stop *stop)
{
	struct served_program *p = context;
	struct debug_session_options options = *p->debug;
	options.program_path = p->elf_path;
	char what[300];
	snprintf(what, sizeof what, "%s: a request (%s)", p->name, stop->kind == TKVM_DEBUG_CRASHED ? "crash" : "breakpoint()");
	debug_session_serve(debugger, stop, what, &options);
}

static void on_trace(void *context, const char *line)
{
	struct served_program *p = context;
	access_log_message(p->messages, p->name, line);
}

int served_programs_add(struct served_programs *set, const char *name, const struct tkvm_settings *settings,
			const char *elf_path, double queue_timeout, struct access_log *messages)
{
	struct served_program **more = realloc(set->programs, (set->count + 1) * sizeof *more);
	if (!more)
		return -ENOMEM;
	set->programs = more;
	struct served_program *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	tkvm_settings_init(&p->settings);
	p->name = strdup(name);
	p->elf_path = strdup(elf_path);
	if (!p->name || !p->elf_path || tkvm_settings_copy(&p->settings, settings) < 0) {
		free(p->name);
		free(p->elf_path);
		tkvm_settings_free(&p->settings);
		free(p);
		return -ENOMEM;
	}
	p->messages = messages;
	p->queue_timeout = queue_timeout;
	p->hooks = (struct tkvm_hooks){
		.context = p,
		.output = on_output,
		.log = on_log,
		.trace = on_trace,
		.trace_enabled = settings->verbose_syscalls,
		.fetch = on_fetch,
		.debug = on_debug,
	};
	p->fetch = &set->fetch;
	p->debug = &set->debug;
	pthread_mutex_init(&p->boot_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	set->programs[set->count++] = p;
	return 0;
}

struct served_program *served_programs_find(struct served_programs *set, const char *name, size_t length)
{
	for (size_t i = 0; i < set->count; i++)
		if (strlen(set->programs[i]->name) == length && memcmp(set->programs[i]->name, name, length) == 0)
			return set->programs[i];
	return NULL;
}

void served_programs_free(struct served_programs *set)
{
	for (size_t i = 0; i < set->count; i++) {
		struct served_program *p = set->programs[i];
		if (p->program)
			tkvm_program_release(p->program);
		pthread_mutex_destroy(&p->lock);
		pthread_mutex_destroy(&p->boot_lock);
		tkvm_settings_free(&p->settings);
		free(p->name);
		free(p->elf_path);
		free(p->error);
		free(p);
	}
	free(set->programs);
	set->programs = NULL;
	set->count = 0;
}

static int read_file(const char *path, uint8_t **data, size_t *size, char *message, size_t message_size)
{
	*data = NULL;
	*size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(message, message_size, "cannot open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(message, message_size, "'%s' is not a regular file", path);
		close(fd);
		return -1;
	}
	uint8_t *buffer = malloc(st.st_size ? (size_t)st.st_size : 1);
	size_t length = 0;
	while (buffer && length < (size_t)st.st_size) {
		ssize_t n = read(fd, buffer + length, (size_t)st.st_size - length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(message, message_size, "cannot read '%s': %s", path, n < 0 ? strerror(errno) : "file shrank");
			free(buffer);
			close(fd);
			return -1;
		}
		length += (size_t)n;
	}
	close(fd);
	if (!buffer) {
		snprintf(message, message_size, "out of memory reading '%s'", path);
		return -1;
	}
	*data = buffer;
	*size = length;
	return 0;
}

static int boot(struct served_program *p, const uint8_t *elf, size_t size, struct tkvm_program **program,
		char *message, size_t message_size)
{
	struct tkvm_error err = {0};
	if (tkvm_program_boot(&p->settings, elf, size, &p->hooks, program, &err) < 0) {
		snprintf(message, message_size, "%s", err.message);
		return -1;
	}
	tkvm_program_set_queue_timeout(*program, p->queue_timeout);
	return 0;
}

int served_program_start(struct served_program *p, char *message, size_t size)
{
	pthread_mutex_lock(&p->boot_lock);
	pthread_mutex_lock(&p->lock);
	enum served_state state = p->state;
	pthread_mutex_unlock(&p->lock);
	int r = 0;
	if (state == SERVED_RUNNING)
		goto out;
	if (state == SERVED_FAILED) {
		snprintf(message, size, "%s", p->error ? p->error : "failed to start");
		r = -1;
		goto out;
	}
	uint8_t *elf;
	size_t elf_size;
	struct tkvm_program *program = NULL;
	r = read_file(p->elf_path, &elf, &elf_size, message, size);
	if (r == 0) {
		r = boot(p, elf, elf_size, &program, message, size);
		free(elf);
	}
	pthread_mutex_lock(&p->lock);
	if (r == 0) {
		p->program = program;
		p->state = SERVED_RUNNING;
	} else {
		free(p->error);
		p->error = strdup(message);
		p->state = SERVED_FAILED;
	}
	pthread_mutex_unlock(&p->lock);
out:
	pthread_mutex_unlock(&p->boot_lock);
	return r;
}

struct tkvm_program *served_program_acquire(struct served_program *p, char *message, size_t size)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&p->lock);
		struct tkvm_program *program = p->state == SERVED_RUNNING ? p->program : NULL;
		if (program)
			tkvm_program_retain(program);
		pthread_mutex_unlock(&p->lock);
		if (program)
			return program;
		if (served_program_start(p, message, size) < 0)
			return NULL;
	}
	snprintf(message, size, "the program stopped while starting");
	return NULL;
}

/* The VMOD keeps a live-updated ELF at the program's filename (when it is
 * an absolute path), so that it survives a restart. Written to a temporary
 * file and renamed, so a crash never leaves half a program there. */
static int store(const char *filename, const uint8_t *elf, size_t size, char *message, size_t message_size)
{
	char *temporary = NULL;
	if (asprintf(&temporary, "%s.tkvm-update-XXXXXX", filename) < 0)
		return -1;
	int fd = mkstemp(temporary);
	if (fd < 0) {
		snprintf(message, message_size, "%s", strerror(errno));
		free(temporary);
		return -1;
	}
	size_t written = 0;
	while (written < size) {
		ssize_t n = write(fd, elf + written, size - written);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		written += (size_t)n;
	}
	int saved = errno;
	if (written < size || fchmod(fd, 0755) < 0 || close(fd) < 0 || rename(temporary, filename) < 0) {
		snprintf(message, message_size, "%s", strerror(written < size ? saved : errno));
		unlink(temporary);
		free(temporary);
		return -1;
	}
	free(temporary);
	return 0;
}

int served_program_update(struct served_program *p, const uint8_t *elf, size_t elf_size, char *message, size_t size)
{
	if (elf_size == 0) {
		snprintf(message, size, "Empty file received");
		return -1;
	}
	pthread_mutex_lock(&p->boot_lock);
	struct tkvm_program *program = NULL;
	if (boot(p, elf, elf_size, &program, message, size) < 0) {
		pthread_mutex_unlock(&p->boot_lock);
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	struct tkvm_program *old = p->program;
	p->program = program;
	p->state = SERVED_RUNNING;
	free(p->error);
	p->error = NULL;
	p->live_updates++;
	pthread_mutex_unlock(&p->lock);
	if (old)
		tkvm_program_release(old); /* requests still running on it keep it alive */

	const char *filename = p->settings.filename;
	char why[256];
	if (!filename || filename[0] != '/' || strstr(filename, "://"))
		snprintf(message, size, "Update successful (not stored)\n");
	else if (store(filename, elf, elf_size, why, sizeof why) < 0)
		snprintf(message, size, "Update successful, but could not persist to '%s': %s\n", filename, why);
	else
		snprintf(message, size, "Update successful (stored)\n");
	pthread_mutex_unlock(&p->boot_lock);
	return 0;
}

static const char *state_name(enum served_state state)
{
	switch (state) {
	case SERVED_RUNNING: return "running";
	case SERVED_FAILED: return "failed";
	default: return "not started";
	}
}

char *served_programs_stats_json(struct served_programs *set)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	for (size_t i = 0; i < set->count; i++) {
		struct served_program *p = set->programs[i];
		pthread_mutex_lock(&p->lock);
		struct tkvm_program *program = p->state == SERVED_RUNNING ? p->program : NULL;
		if (program)
			tkvm_program_retain(program);
		enum served_state state = p->state;
		char *error = p->error ? strdup(p->error) : NULL;
		unsigned live_updates = p->live_updates;
		pthread_mutex_unlock(&p->lock);

		struct tkvm_counters c;
		memset(&c, 0, sizeof c);
		if (program) {
			tkvm_program_counters(program, &c);
			tkvm_program_release(program);
		}
		cJSON *o = cJSON_AddObjectToObject(root, p->name);
		if (!o) {
			free(error);
			continue;
		}
		cJSON_AddStringToObject(o, "state", state_name(state));
		if (error)
			cJSON_AddStringToObject(o, "error", error);
		free(error);
		cJSON_AddNumberToObject(o, "invocations", (double)c.invocations);
		cJSON_AddNumberToObject(o, "resets", (double)c.resets);
		cJSON_AddNumberToObject(o, "full_resets", (double)c.full_resets);
		cJSON_AddNumberToObject(o, "exceptions", (double)c.exceptions);
		cJSON_AddNumberToObject(o, "timeouts", (double)c.timeouts);
		cJSON_AddNumberToObject(o, "queue_timeouts", (double)c.queue_timeouts);
		cJSON_AddNumberToObject(o, "status_2xx", (double)c.status_2xx);
		cJSON_AddNumberToObject(o, "status_3xx", (double)c.status_3xx);
		cJSON_AddNumberToObject(o, "status_4xx", (double)c.status_4xx);
		cJSON_AddNumberToObject(o, "status_5xx", (double)c.status_5xx);
		cJSON_AddNumberToObject(o, "reset_time", c.reset_time);
		cJSON_AddNumberToObject(o, "request_cpu_time", c.request_cpu_time);
		cJSON_AddNumberToObject(o, "reservation_time", c.reservation_time);
		cJSON_AddNumberToObject(o, "boot_time", c.boot_time);
		cJSON_AddNumberToObject(o, "request_vms", c.request_vms);
		cJSON_AddNumberToObject(o, "concurrency", p->settings.concurrency);
		cJSON_AddNumberToObject(o, "live_updates", live_updates);
	}
	char *text = cJSON_Print(root);
	cJSON_Delete(root);
	return text;
}
