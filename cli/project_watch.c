/* serve --watch (see project_watch.h): inotify, a debounce, then the same
 * incremental build as `tkvm build` and the live-update swap of
 * served_programs.c. Messages go to stdout with the server's own lines;
 * the compiler's go to stderr, unchanged. */
#include "cli/project_watch.h"
#include "cli/project_build.h"
#include "cli/served_programs.h"
#include "cli/terminal.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Quiet time after the last change before building: an editor's save is
 * often several writes and renames. A stream of changes that never goes
 * quiet still builds after MAX_WAIT. */
#define DEBOUNCE_MS 200
#define MAX_WAIT_MS 2000
#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MODIFY)

struct project_watch {
	struct served_program *program;
	struct project project; /* as last loaded */
	struct stat project_file; /* tkvm.json when it was loaded */
	int inotify_fd;
	int stop_pipe[2];
	pthread_t thread;
	volatile pid_t compiler; /* the running compiler, so stop can end it */
};

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flockfile(stdout);
	fputs("tkvm: ", stdout);
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	funlockfile(stdout);
	va_end(ap);
}

/* Watches every directory the build reads from; new ones as they appear
 * (a new source directory, a header in a new place). */
static size_t add_watches(struct project_watch *w)
{
	struct project_build_options options = {0};
	char **directories = project_build_watch_directories(&w->project, &options);
	size_t count = 0;
	for (size_t i = 0; directories && directories[i]; i++) {
		if (inotify_add_watch(w->inotify_fd, directories[i], WATCH_EVENTS | IN_ONLYDIR) >= 0)
			count++;
		free(directories[i]);
	}
	free(directories);
	return count;
}

static void drain(int fd)
{
	char buffer[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, buffer, sizeof buffer) > 0)
		;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int read_program(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || st.st_size <= 0 || !(*data = malloc((size_t)st.st_size))) {
		fclose(f);
		return -1;
	}
	*size = fread(*data, 1, (size_t)st.st_size, f);
	fclose(f);
	if (*size != (size_t)st.st_size) {
		free(*data);
		return -1;
	}
	return 0;
}

/* After the sources went quiet: reload tkvm.json when it changed, build
 * when stale, swap the program in when it built and boots. */
static void rebuild(struct project_watch *w)
{
	struct stat now;
	if (stat(w->project.path, &now) == 0 && !same_file_state(&now, &w->project_file)) {
		struct project fresh;
		w->project_file = now;
		if (project_reload(&w->project, &fresh) < 0) {
			say("%s has an error: still serving the previous program", PROJECT_FILE);
			return;
		}
		project_free(&w->project);
		w->project = fresh;
		say("%s changed: the build follows it now; its \"program\" settings apply when tkvm serve restarts",
		    PROJECT_FILE);
	}
	struct project_build_options options = {.running = &w->compiler};
	char why[1200];
	if (!project_build_stale(&w->project, &options, why, sizeof why))
		return;
	say("%s: rebuilding %s", why, w->project.name);
	char *elf_path = NULL;
	if (project_build(&w->project, &options, &elf_path) == PROJECT_BUILD_FAILED) {
		say("build failed: still serving the previous program");
		add_watches(w); /* a new header may be what is missing */
		return;
	}
	uint8_t *elf = NULL;
	size_t size = 0;
	char message[1200];
	char *shown = project_display_path(&w->project, w->project.build.output);
	if (read_program(elf_path, &elf, &size) < 0)
		say("cannot read %s: %s; still serving the previous program", shown ? shown : elf_path, strerror(errno));
	else if (served_program_update(w->program, elf, size, message, sizeof message) < 0)
		say("%s does not start: %s; still serving the previous program", shown ? shown : elf_path, message);
	else
		say("rebuilt %s: now serving it", shown ? shown : elf_path);
	free(shown);
	free(elf);
	free(elf_path);
	add_watches(w);
}

static void *watch_thread(void *context)
{
	struct project_watch *w = context;
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	/* A change made between the first build and the first watch. */
	rebuild(w);
	for (;;) {
		struct pollfd fds[2] = {{.fd = w->inotify_fd, .events = POLLIN}, {.fd = w->stop_pipe[0], .events = POLLIN}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents)
			break;
		drain(w->inotify_fd);
		double first = now_ms();
		for (;;) {
			int ready = poll(fds, 2, DEBOUNCE_MS);
			if (fds[1].revents)
				return NULL;
			if (ready == 0 || now_ms() - first > MAX_WAIT_MS)
				break;
			if (ready > 0)
				drain(w->inotify_fd);
		}
		rebuild(w);
	}
	return NULL;
}

struct project_watch *project_watch_start(struct served_program *program)
{
	struct project_watch *w = calloc(1, sizeof *w);
	if (!w) {
		cli_error("out of memory");
		return NULL;
	}
	w->program = program;
	w->stop_pipe[0] = w->stop_pipe[1] = -1;
	char path[PATH_MAX];
	struct tkvm_error err = {0};
	/* Already loaded (and its warnings shown) by the caller: quietly again. */
	if (project_find(".", path, sizeof path) < 0 || project_load(path, &w->project, NULL, NULL, &err) < 0) {
		cli_error("--watch: %s", err.message[0] ? err.message : "no " PROJECT_FILE " here or in a parent directory");
		free(w);
		return NULL;
	}
	stat(w->project.path, &w->project_file);
	w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->inotify_fd < 0 || pipe2(w->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		cli_error("--watch: %s", strerror(errno));
		cli_hint("inotify may be at its limit: see /proc/sys/fs/inotify/max_user_instances");
		goto fail;
	}
	size_t watched = add_watches(w);
	if (watched == 0) {
		cli_error("--watch: cannot watch %s: %s", w->project.directory, strerror(errno));
		cli_hint("inotify may be at its limit: see /proc/sys/fs/inotify/max_user_watches");
		goto fail;
	}
	int r = pthread_create(&w->thread, NULL, watch_thread, w);
	if (r != 0) {
		cli_error("--watch: cannot start its thread: %s", strerror(r));
		goto fail;
	}
	say("watching %zu director%s of %s: a change rebuilds and swaps the program", watched, watched == 1 ? "y" : "ies",
	    w->project.name);
	return w;
fail:
	if (w->inotify_fd >= 0)
		close(w->inotify_fd);
	if (w->stop_pipe[0] >= 0) {
		close(w->stop_pipe[0]);
		close(w->stop_pipe[1]);
	}
	project_free(&w->project);
	free(w);
	return NULL;
}

void project_watch_stop(struct project_watch *w)
{
	if (!w)
		return;
	char byte = 1;
	ssize_t ignored = write(w->stop_pipe[1], &byte, 1);
	(void)ignored;
	pid_t compiler = w->compiler;
	if (compiler > 0)
		kill(compiler, SIGTERM); /* not reaped until the thread sees it end: still ours */
	pthread_join(w->thread, NULL);
	close(w->inotify_fd);
	close(w->stop_pipe[0]);
	close(w->stop_pipe[1]);
	project_free(&w->project);
	free(w);
}
