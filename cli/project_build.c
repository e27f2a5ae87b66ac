/* Building a project when it is stale (see project_build.h): the plan
 * (build_plan.c), a staleness check against the stamp (build_stamp.c),
 * then the commands run in the project directory with the compiler's
 * output passed through, the check of the result, the rename over the
 * previous output and the new stamp. Also the project of the current
 * directory as run, serve and test find it. */
#include "cli/project_build.h"
#include "cli/build_plan.h"
#include "cli/build_stamp.h"
#include "cli/commands.h"
#include "cli/request_options.h"
#include "cli/terminal.h"
#include "runner/elf.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;


/* --- The project of the current directory -------------------------------- */

int project_open(struct project *project)
{
	char path[PATH_MAX];
	memset(project, 0, sizeof *project);
	int r = project_find(".", path, sizeof path);
	if (r == -ENOENT)
		return PROJECT_NOT_FOUND;
	if (r < 0) {
		cli_error("looking for %s: %s", PROJECT_FILE, strerror(-r));
		return -1;
	}
	/* Messages name the file as the user would type it. */
	char *directory = strdup(path);
	if (!directory) {
		cli_error("out of memory");
		return -1;
	}
	*strrchr(directory, '/') = 0;
	struct project where = {.directory = directory};
	char *shown = project_display_path(&where, PROJECT_FILE);
	free(directory);
	struct tkvm_error err = {0};
	r = project_load(shown ? shown : path, project, cli_warning_callback, NULL, &err);
	free(shown);
	if (r < 0) {
		cli_error("%s", err.message);
		return -1;
	}
	return PROJECT_LOADED;
}

int project_reload(const struct project *project, struct project *fresh)
{
	char *shown = project_display_path(project, PROJECT_FILE);
	struct tkvm_error err = {0};
	int r = project_load(shown ? shown : project->path, fresh, cli_warning_callback, NULL, &err);
	free(shown);
	if (r < 0) {
		cli_error("%s", err.message);
		return -1;
	}
	return 0;
}

void project_report_missing(const char *usage_example)
{
	cli_error("no program given and no %s here or in a parent directory", PROJECT_FILE);
	cli_hint("%s", usage_example);
	cli_hint("or start a project with 'tkvm new NAME', then run the commands in NAME/");
}

bool project_arguments_name_no_program(int count, char *const *arguments)
{
	if (count == 0)
		return true;
	bool method = request_is_method(arguments[0]);
	/* "/x" is a URL, unless it names a file: then a program without its URL. */
	struct stat st;
	bool url = arguments[0][0] == '/' && !(stat(arguments[0], &st) == 0 && S_ISREG(st.st_mode));
	return (count == 1 && (method || url)) || (count == 2 && method);
}

int project_arguments_with_program(int count, char *const *arguments, char *elf_path, char **out)
{
	int n = 0;
	out[n++] = elf_path;
	for (int i = 0; i < count && i < 2; i++)
		out[n++] = arguments[i];
	if (n == 1 || (n == 2 && request_is_method(out[1])))
		out[n++] = "/";
	out[n] = NULL;
	return n;
}

char *project_display_path(const struct project *project, const char *relative)
{
	char cwd[PATH_MAX];
	const char *dir = project->directory;
	if (relative[0] == '/')
		return strdup(relative);
	if (!getcwd(cwd, sizeof cwd))
		return build_format("%s/%s", dir, relative);
	size_t n = strlen(dir);
	if (!strcmp(cwd, dir))
		return strdup(relative);
	if (strncmp(cwd, dir, n) != 0 || (cwd[n] != '/' && strcmp(dir, "/")))
		return build_format("%s/%s", strcmp(dir, "/") ? dir : "", relative);
	/* Inside the project, some directories down. */
	int depth = 0;
	for (const char *c = cwd + n; *c; c++)
		depth += *c == '/';
	if (depth > 4)
		return build_format("%s/%s", dir, relative);
	char ups[16] = "";
	for (int i = 0; i < depth; i++)
		strcat(ups, "../");
	return build_format("%s%s", ups, relative);
}

static int stale_reason(const struct build_plan *p, char *why, size_t size)
{
	struct build_stamp s;
	struct build_file_state output;
	if (!build_file_state_of(p->project, p->output, &output)) {
		snprintf(why, size, "%s does not exist yet", p->output);
		return 1;
	}
	if (build_stamp_read(p->project, p->stamp, &s) < 0) {
		snprintf(why, size, "%s was not built by tkvm build", p->output);
		return 1;
	}
	int stale = 1;
	if (s.recipe != p->recipe) {
		snprintf(why, size, "the build settings changed");
	} else if (!build_file_state_same(&s.output, &output)) {
		snprintf(why, size, "%s was replaced since the last build", p->output);
	} else {
		stale = 0;
		for (size_t i = 0; i < p->declared.count && !stale; i++)
			if (!build_stamp_find(&s, p->declared.items[i])) {
				snprintf(why, size, "%s is new", p->declared.items[i]);
				stale = 1;
			}
		for (size_t i = 0; i < s.count && !stale; i++) {
			struct build_file_state now;
			const char *path = s.inputs[i].path;
			char *shown = project_display_path(p->project, path);
			if (!build_file_state_of(p->project, path, &now)) {
				snprintf(why, size, "%s is gone", shown ? shown : path);
				stale = 1;
			} else if (!build_file_state_same(&now, &s.inputs[i].state)) {
				snprintf(why, size, "%s changed", shown ? shown : path);
				stale = 1;
			}
			free(shown);
		}
	}
	build_stamp_free(&s);
	return stale;
}

/* Unless as_given, the options of the previous build (tkvm build --debug,
 * then tkvm run: the debug build is what runs, and rebuilt as such). */
static struct project_build_options effective_options(const struct project *project,
						      const struct project_build_options *options)
{
	struct project_build_options o = *options;
	if (options->as_given)
		return o;
	struct build_plan p;
	struct build_stamp s;
	if (build_plan_make(&p, project, options) == 0 && build_stamp_read(project, p.stamp, &s) == 0) {
		o.musl = s.musl, o.debug = s.debug, o.profile = s.profile;
		build_stamp_free(&s);
	}
	build_plan_free(&p);
	return o;
}

int project_build_stale(const struct project *project, const struct project_build_options *given, char *why,
			size_t size)
{
	struct project_build_options o = effective_options(project, given), *options = &o;
	struct build_plan p;
	int r;
	if (build_plan_make(&p, project, options) < 0) {
		snprintf(why, size, "%s", p.problem);
		r = 1;
	} else {
		r = stale_reason(&p, why, size);
	}
	build_plan_free(&p);
	return r;
}

/* --- Running the commands ------------------------------------------------ */

static void print_command(const struct build_plan *p, const struct string_list *command)
{
	fprintf(stderr, "%s$", term_style(stderr, STYLE_DIM));
	if (p->rust)
		fprintf(stderr, " RUSTFLAGS='%s'", p->rustflags);
	for (size_t i = 0; i < command->count; i++) {
		const char *a = command->items[i];
		bool quote = !*a || strpbrk(a, " \t'\"$\\*?;&|<>()");
		fprintf(stderr, quote ? " '%s'" : " %s", a);
	}
	fprintf(stderr, "%s\n", term_style(stderr, STYLE_RESET));
}

/* The environment for the compiler: ours, with RUSTFLAGS for cargo
 * (*owned, to free with the array). */
static char **child_environment(const struct build_plan *p, char **owned)
{
	*owned = NULL;
	if (p->rust && !(*owned = build_format("RUSTFLAGS=%s", p->rustflags)))
		return NULL;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 2, sizeof *env);
	if (!env) {
		free(*owned);
		*owned = NULL;
		return NULL;
	}
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		/* CARGO_ENCODED_RUSTFLAGS would win over ours: the user's RUSTFLAGS are merged instead. */
		if (p->rust && (!strncmp(environ[i], "RUSTFLAGS=", 10) || !strncmp(environ[i], "CARGO_ENCODED_RUSTFLAGS=", 24)))
			continue;
		env[used++] = environ[i];
	}
	if (*owned)
		env[used++] = *owned;
	return env;
}

/* Runs one command in the project directory, its stdout sent to our
 * stderr so that a program's response on stdout stays clean. Returns its
 * exit status, or -1 when it could not run (reported). */
static int run_command(const struct build_plan *p, const struct string_list *command, char **env)
{
	if (p->options->verbose)
		print_command(p, command);
	fflush(stdout);
	fflush(stderr);
	const char *program = p->compiler_path;
	pid_t pid = fork();
	if (pid < 0) {
		cli_error("cannot start %s: %s", p->compiler, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls here: the server has threads. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (chdir(p->project->directory) < 0 || dup2(2, 1) < 0)
			_exit(126);
		execve(program, command->items, env);
		static const char failed[] = "tkvm: cannot run the compiler\n";
		ssize_t ignored = write(2, failed, sizeof failed - 1);
		(void)ignored;
		_exit(127);
	}
	if (p->options->running)
		*p->options->running = pid;
	/* Wait without reaping first, so the pid stays ours while the watcher
	 * may still signal it. */
	siginfo_t info;
	while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	if (p->options->running)
		*p->options->running = 0;
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int make_directories(const struct project *project, const char *relative)
{
	char *path = build_path(project, relative);
	if (!path)
		return -1;
	for (char *c = path + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		int r = mkdir(path, 0755);
		*c = '/';
		if (r < 0 && errno != EEXIST) {
			free(path);
			return -1;
		}
	}
	int r = mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
	free(path);
	return r;
}

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		close(in);
		return -1;
	}
	char buffer[65536];
	ssize_t n;
	int r = 0;
	while ((n = read(in, buffer, sizeof buffer)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(out, buffer, (size_t)n) != n) {
			r = -1;
			break;
		}
	}
	close(in);
	if (close(out) < 0)
		r = -1;
	return r;
}

/* --- Checking the result ------------------------------------------------- */

static void describe_size(uint64_t size, char *out, size_t length)
{
	if (size < 1024 * 1024)
		snprintf(out, length, "%" PRIu64 " KiB", (size + 1023) / 1024);
	else
		snprintf(out, length, "%.1f MiB", (double)size / (1024.0 * 1024.0));
}

/* Checks that the file is an ELF tkvm runs; fills a description such as
 * "812 KiB, static x86-64, glibc". */
static int check_elf(const struct build_plan *p, const char *relative, char *description, size_t size)
{
	char *path = build_path(p->project, relative);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	free(path);
	struct stat st;
	uint8_t *data = NULL;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && (data = malloc((size_t)st.st_size))) {
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got < (size_t)st.st_size) {
			free(data);
			data = NULL;
		}
	}
	if (fd >= 0)
		close(fd);
	if (!data) {
		cli_error("build failed: the compiler did not leave a program at %s", relative);
		return -1;
	}
	struct elf_image image;
	struct tkvm_error err = {0};
	int r = elf_parse(data, (size_t)st.st_size, &image, &err);
	free(data);
	if (r < 0) {
		cli_error("build failed: %s is not a program tkvm can run: %s", p->output, err.message);
		if (strstr(err.message, "dynamic"))
			cli_hint("tkvm builds with -static; something in \"build.flags\" of %s makes it dynamic: remove it",
				 PROJECT_FILE);
		return -1;
	}
	char bytes[32];
	describe_size((uint64_t)st.st_size, bytes, sizeof bytes);
	snprintf(description, size, "%s, %s x86-64, %s", bytes, image.position_independent ? "static-pie" : "static",
		 p->rust ? "Rust (glibc)" : p->musl ? "musl" : "glibc");
	return 0;
}

/* --- Building ------------------------------------------------------------ */

static int record_stamp(struct build_plan *p, const struct build_stamp *before)
{
	struct build_stamp s = {.recipe = p->recipe, .musl = p->musl && p->options->musl, .debug = p->options->debug,
			  .profile = p->options->profile};
	struct string_list inputs = {0};
	/* cargo may have written Cargo.lock: what it read is declared anew. */
	string_list_free(&p->declared);
	int r = build_plan_declare_inputs(p) < 0 ? -1 : build_plan_known_inputs(p, &inputs);
	for (size_t i = 0; r == 0 && i < inputs.count; i++) {
		const struct build_stamp_input *seen = build_stamp_find(before, inputs.items[i]);
		struct build_file_state state;
		/* What the build started from; files first seen now as they are now. */
		if (seen)
			r = build_stamp_add(&s, seen->path, &seen->state);
		else if (build_file_state_of(p->project, inputs.items[i], &state))
			r = build_stamp_add(&s, inputs.items[i], &state);
	}
	if (r == 0 && !build_file_state_of(p->project, p->output, &s.output))
		r = -1;
	if (r == 0)
		r = build_stamp_write(p->project, p->stamp, &s);
	string_list_free(&inputs);
	build_stamp_free(&s);
	return r;
}

/* One build of a project at a time (tkvm build while serve --watch
 * rebuilds): a lock file in the stamp directory. Returns its fd or -1. */
static int lock_builds(const struct build_plan *p)
{
	char *path = build_path(p->project, p->stamp_directory);
	char *lock = path ? build_format("%s/lock", path) : NULL;
	int fd = lock ? open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
	free(path);
	free(lock);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "waiting for another build of %s to finish...\n", p->project->name);
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	}
	return fd;
}

static enum project_build_result build(struct build_plan *p)
{
	const struct project_build_options *o = p->options;
	enum project_build_result result = PROJECT_BUILD_FAILED;
	struct build_stamp before = {0};
	struct string_list inputs = {0};
	char **env = NULL, *rustflags = NULL;
	char *temporary_absolute = build_path(p->project, p->temporary);
	int lock = -1;
	if (make_directories(p->project, p->stamp_directory) < 0 || (lock = lock_builds(p)) < 0) {
		cli_error("cannot create %s: %s", p->stamp_directory, strerror(errno));
		goto out;
	}
	/* The inputs as they are before the compiler reads them: a change
	 * made while it runs is seen by the next build. */
	if (build_plan_known_inputs(p, &inputs) < 0) {
		cli_error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < inputs.count; i++) {
		struct build_file_state state;
		if (build_file_state_of(p->project, inputs.items[i], &state) &&
		    build_stamp_add(&before, inputs.items[i], &state) < 0) {
			cli_error("out of memory");
			goto out;
		}
	}
	if (!(env = child_environment(p, &rustflags)) || !temporary_absolute) {
		cli_error("out of memory");
		goto out;
	}
	unlink(temporary_absolute);
	for (size_t i = 0; i < p->command_count; i++) {
		int status = run_command(p, &p->commands[i], env);
		if (status != 0) {
			if (status > 0)
				cli_error("build failed: %s exited with status %d", p->compiler, status);
			goto out;
		}
	}
	if (p->rust && copy_file(p->cargo_output, temporary_absolute) < 0) {
		cli_error("build failed: cannot copy %s: %s", p->cargo_output, strerror(errno));
		goto out;
	}
	char description[128];
	if (check_elf(p, p->temporary, description, sizeof description) < 0)
		goto out;
	char *output_absolute = build_path(p->project, p->output);
	int renamed = output_absolute ? rename(temporary_absolute, output_absolute) : -1;
	free(output_absolute);
	if (renamed < 0) {
		cli_error("cannot write %s: %s", p->output, strerror(errno));
		goto out;
	}
	if (record_stamp(p, &before) < 0)
		cli_warning("could not record the build in %s: the next build starts over", p->stamp);
	if (o->report) {
		char *shown = project_display_path(p->project, p->output);
		fprintf(o->report, "built %s (%s)\n", shown ? shown : p->output, description);
		fflush(o->report);
		free(shown);
	}
	result = PROJECT_BUILD_DONE;
out:
	if (temporary_absolute && result != PROJECT_BUILD_DONE)
		unlink(temporary_absolute);
	free(temporary_absolute);
	free(rustflags);
	free(env);
	string_list_free(&inputs);
	build_stamp_free(&before);
	if (lock >= 0)
		close(lock);
	return result;
}

enum project_build_result project_build(const struct project *project, const struct project_build_options *given,
					char **elf_path)
{
	struct project_build_options o = effective_options(project, given), *options = &o;
	struct build_plan p;
	enum project_build_result result = PROJECT_BUILD_FAILED;
	if (elf_path)
		*elf_path = NULL;
	if (build_plan_make(&p, project, options) < 0) {
		cli_error("%s", p.problem);
		if (p.hint[0])
			cli_hint("%s", p.hint);
		goto out;
	}
	char why[1200];
	if (!options->force && !stale_reason(&p, why, sizeof why)) {
		result = PROJECT_BUILD_UP_TO_DATE;
		if (options->report && options->report_up_to_date) {
			char *shown = project_display_path(project, p.output);
			fprintf(options->report, "%s is up to date\n", shown ? shown : p.output);
			fflush(options->report);
			free(shown);
		}
	} else if (build_plan_find_compiler(&p) < 0) {
		cli_error("%s", p.problem);
		cli_hint("%s", p.hint);
	} else {
		if (options->verbose)
			fprintf(stderr, "building %s: %s\n", project->name, options->force ? "--force" : why);
		result = build(&p);
	}
	if (result != PROJECT_BUILD_FAILED && elf_path && !(*elf_path = build_path(project, p.output))) {
		cli_error("out of memory");
		result = PROJECT_BUILD_FAILED;
	}
out:
	build_plan_free(&p);
	return result;
}

static int add_directory_of(struct string_list *directories, const struct project *project, const char *path)
{
	char *absolute = build_path(project, path);
	if (!absolute)
		return -1;
	char *slash = strrchr(absolute, '/');
	if (slash && slash != absolute)
		*slash = 0;
	int r = string_list_has(directories, absolute) ? 0 : string_list_add(directories, absolute);
	free(absolute);
	return r;
}

char **project_build_watch_directories(const struct project *project, const struct project_build_options *options)
{
	struct build_plan p;
	struct string_list directories = {0}, inputs = {0};
	struct build_stamp s = {0};
	int r = string_list_add(&directories, project->directory);
	if (build_plan_make(&p, project, options) == 0) {
		r |= build_plan_known_inputs(&p, &inputs);
		if (build_stamp_read(project, p.stamp, &s) == 0)
			for (size_t i = 0; i < s.count; i++)
				r |= string_list_has(&inputs, s.inputs[i].path) ? 0 : string_list_add(&inputs, s.inputs[i].path);
	}
	for (size_t i = 0; i < inputs.count && r == 0; i++)
		r = add_directory_of(&directories, project, inputs.items[i]);
	/* Directories named as sources (Rust's "src"), so new files are seen. */
	for (size_t i = 0; i < project->build.source_count && r == 0; i++) {
		char *absolute = build_path(project, project->build.sources[i]);
		struct stat st;
		if (absolute && stat(absolute, &st) == 0 && S_ISDIR(st.st_mode) && !string_list_has(&directories, absolute))
			r = string_list_add(&directories, absolute);
		free(absolute);
	}
	build_plan_free(&p);
	build_stamp_free(&s);
	string_list_free(&inputs);
	if (r) {
		string_list_free(&directories);
		return NULL;
	}
	return directories.items; /* NULL-terminated */
}

int project_program_prepare(struct program_options *options, const char *usage_example, char **elf_path)
{
	struct project project;
	*elf_path = NULL;
	int r = project_open(&project);
	if (r < 0)
		return EXIT_FAILURE_CODE;
	if (r == PROJECT_NOT_FOUND) {
		project_report_missing(usage_example);
		return EXIT_USAGE;
	}
	/* Quiet when up to date; a rebuild says so on stderr, as does the compiler. */
	struct project_build_options build_options = {.report = stderr};
	int status = 0;
	if (project_build(&project, &build_options, elf_path) == PROJECT_BUILD_FAILED) {
		status = EXIT_FAILURE_CODE;
	} else {
		tkvm_settings_free(&options->settings);
		if (tkvm_settings_copy(&options->settings, &project.program) < 0) {
			tkvm_settings_init(&options->settings);
			cli_error("out of memory");
			status = EXIT_FAILURE_CODE;
		}
		/* The program is the build output; "filename" says where production
		 * keeps it, and a live update must not write the build there. */
		free(options->settings.filename);
		options->settings.filename = NULL;
	}
	if (status) {
		free(*elf_path);
		*elf_path = NULL;
	}
	project_free(&project);
	return status;
}

int project_request_positional(struct program_options *options, struct request_options *request, int argc,
			       char **argv, int first, const char *command, char **project_elf)
{
	if (!project_arguments_name_no_program(argc - first, argv + first))
		return request_options_positional(request, argc, argv, first, command) < 0 ? EXIT_USAGE : EXIT_OK;
	char example[128], *with_program[4];
	snprintf(example, sizeof example, "tkvm %s ./hello GET /hello   (see 'tkvm %s --help')", command, command);
	int status = project_program_prepare(options, example, project_elf);
	if (status != EXIT_OK)
		return status;
	int count = project_arguments_with_program(argc - first, argv + first, *project_elf, with_program);
	return request_options_positional(request, count, with_program, 0, command) < 0 ? EXIT_USAGE : EXIT_OK;
}
