/* The build plan (see build_plan.h): sources and inputs found, commands
 * composed, the recipe hashed. Nothing runs here. */
#include "cli/build_plan.h"
#include "cli/commands.h"
#include "cli/install_paths.h"
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WALK_DEPTH 16
#define MAX_INPUTS 100000

void string_list_free(struct string_list *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->items[i]);
	free(s->items);
	memset(s, 0, sizeof *s);
}

/* Takes ownership of item (NULL = out of memory). */
int string_list_take(struct string_list *s, char *item)
{
	if (!item)
		return -1;
	if (s->count + 1 >= s->capacity) {
		size_t capacity = s->capacity ? s->capacity * 2 : 16;
		char **more = realloc(s->items, capacity * sizeof *more);
		if (!more) {
			free(item);
			return -1;
		}
		s->items = more;
		s->capacity = capacity;
	}
	s->items[s->count++] = item;
	s->items[s->count] = NULL; /* usable as argv */
	return 0;
}

int string_list_add(struct string_list *s, const char *item)
{
	return string_list_take(s, strdup(item));
}

bool string_list_has(const struct string_list *s, const char *item)
{
	for (size_t i = 0; i < s->count; i++)
		if (!strcmp(s->items[i], item))
			return true;
	return false;
}

char *build_format(const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	return text;
}

/* path as seen from the project directory: relative paths are inside it. */
char *build_path(const struct project *project, const char *path)
{
	return path[0] == '/' ? strdup(path) : build_format("%s/%s", project->directory, path);
}

static bool has_glob_characters(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static int plan_problem(struct build_plan *p, const char *hint, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int plan_problem(struct build_plan *p, const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->problem, sizeof p->problem, fmt, ap);
	va_end(ap);
	snprintf(p->hint, sizeof p->hint, "%s", hint ? hint : "");
	return -1;
}

static int plan_out_of_memory(struct build_plan *p)
{
	return plan_problem(p, NULL, "out of memory");
}

void build_plan_free(struct build_plan *p)
{
	free(p->compiler_path);
	free(p->sdk);
	string_list_free(&p->sources);
	string_list_free(&p->declared);
	free(p->output);
	free(p->stamp_directory);
	free(p->temporary);
	free(p->stamp);
	string_list_free(&p->objects);
	string_list_free(&p->depfiles);
	for (size_t i = 0; i < p->command_count; i++)
		string_list_free(&p->commands[i]);
	free(p->commands);
	free(p->rustflags);
	free(p->cargo_output);
}

/* The absolute path of a program in PATH, or NULL. */
static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *candidate = build_format("%.*s/%s", (int)n, n ? path : ".", name);
		if (candidate && access(candidate, X_OK) == 0) {
			struct stat st;
			if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode))
				return candidate;
		}
		free(candidate);
		path += n + (path[n] == ':');
	}
	return NULL;
}

static const char *install_hint(const char *compiler)
{
	if (!strcmp(compiler, "cargo"))
		return "install Rust with rustup (https://rustup.rs), then open a new shell so that cargo is in PATH";
	if (!strcmp(compiler, "musl-gcc"))
		return "install it with: sudo apt-get install musl-tools";
	if (!strcmp(compiler, "g++"))
		return "install it with: sudo apt-get install g++";
	return "install it with: sudo apt-get install gcc";
}

/* Files under a directory, recursively, skipping dot names and target/. */
static int walk(struct build_plan *p, const char *relative, int depth)
{
	char *absolute = build_path(p->project, relative);
	DIR *dir = absolute ? opendir(absolute) : NULL;
	free(absolute);
	if (!dir)
		return 0;
	struct dirent *entry;
	int r = 0;
	while (r == 0 && (entry = readdir(dir))) {
		if (entry->d_name[0] == '.' || !strcmp(entry->d_name, "target"))
			continue;
		char *child = build_format("%s/%s", relative, entry->d_name);
		char *child_absolute = child ? build_path(p->project, child) : NULL;
		struct stat st;
		bool found = child_absolute && stat(child_absolute, &st) == 0;
		if (!child || !child_absolute)
			r = plan_out_of_memory(p);
		else if (found && S_ISDIR(st.st_mode) && depth < MAX_WALK_DEPTH)
			r = walk(p, child, depth + 1);
		else if (found && S_ISREG(st.st_mode) && p->declared.count < MAX_INPUTS && !string_list_has(&p->declared, child))
			r = string_list_add(&p->declared, child) < 0 ? plan_out_of_memory(p) : 0;
		free(child);
		free(child_absolute);
	}
	closedir(dir);
	return r;
}

/* What a C/C++ build compiles: each entry of build.sources, patterns
 * expanded (in order, without duplicates). */
static int expand_sources(struct build_plan *p)
{
	const struct project *project = p->project;
	for (size_t i = 0; i < project->build.source_count; i++) {
		const char *source = project->build.sources[i];
		if (!has_glob_characters(source)) {
			char *absolute = build_path(project, source);
			struct stat st;
			int found = absolute ? stat(absolute, &st) : -1;
			free(absolute);
			if (found < 0)
				return plan_problem(p, "create it, or change \"build.sources\" in " PROJECT_FILE,
						    "%s: \"build.sources\": %s does not exist", PROJECT_FILE, source);
			if (!S_ISREG(st.st_mode))
				return plan_problem(p, "list the files to compile, e.g. \"src/*.c\"",
						    "%s: \"build.sources\": %s is not a file", PROJECT_FILE, source);
			if (!string_list_has(&p->sources, source) && string_list_add(&p->sources, source) < 0)
				return plan_out_of_memory(p);
			continue;
		}
		char *pattern = build_path(project, source);
		glob_t matches;
		int r = pattern ? glob(pattern, 0, NULL, &matches) : GLOB_NOSPACE;
		free(pattern);
		if (r == GLOB_NOMATCH)
			return plan_problem(p, NULL, "%s: \"build.sources\": %s matches no file", PROJECT_FILE, source);
		if (r != 0)
			return plan_out_of_memory(p);
		size_t prefix = source[0] == '/' ? 0 : strlen(project->directory) + 1;
		for (size_t m = 0; m < matches.gl_pathc && r == 0; m++) {
			const char *shown = matches.gl_pathv[m] + prefix;
			if (!string_list_has(&p->sources, shown) && string_list_add(&p->sources, shown) < 0)
				r = -1;
		}
		globfree(&matches);
		if (r < 0)
			return plan_out_of_memory(p);
	}
	return 0;
}

/* The declared inputs: what the build reads that we know of beforehand. */
int build_plan_declare_inputs(struct build_plan *p)
{
	const struct project *project = p->project;
	if (string_list_add(&p->declared, project->path) < 0)
		return plan_out_of_memory(p);
	if (!p->rust) {
		for (size_t i = 0; i < p->sources.count; i++)
			if (string_list_add(&p->declared, p->sources.items[i]) < 0)
				return plan_out_of_memory(p);
		return string_list_take(&p->declared, build_format("%s/kvm_api.h", p->sdk)) < 0 ? plan_out_of_memory(p) : 0;
	}
	for (size_t i = 0; i < project->build.source_count; i++) {
		const char *source = project->build.sources[i];
		char *absolute = build_path(project, source);
		struct stat st;
		int found = absolute ? stat(absolute, &st) : -1;
		free(absolute);
		if (found == 0 && S_ISDIR(st.st_mode)) {
			if (walk(p, source, 0) < 0)
				return -1;
		} else if (!string_list_has(&p->declared, source) && string_list_add(&p->declared, source) < 0) {
			return plan_out_of_memory(p);
		}
	}
	char *lock = build_path(project, "Cargo.lock");
	bool locked = lock && access(lock, F_OK) == 0;
	free(lock);
	if (locked && !string_list_has(&p->declared, "Cargo.lock") && string_list_add(&p->declared, "Cargo.lock") < 0)
		return plan_out_of_memory(p);
	return 0;
}

/* The binary cargo makes: the first [[bin]] name, else the package name. */
static int cargo_binary_name(struct build_plan *p, char *name, size_t size)
{
	char *manifest = build_path(p->project, "Cargo.toml");
	FILE *f = manifest ? fopen(manifest, "r") : NULL;
	free(manifest);
	if (!f)
		return plan_problem(p, "a Rust project needs a Cargo.toml beside " PROJECT_FILE " (tkvm new NAME --lang rust makes one)",
				    "Cargo.toml: %s", strerror(errno));
	char line[1024], section[64] = "";
	name[0] = 0;
	bool from_bin = false;
	while (fgets(line, sizeof line, f)) {
		char *s = line + strspn(line, " \t");
		if (*s == '[') {
			snprintf(section, sizeof section, "%.*s", (int)strcspn(s, "\r\n#"), s);
			continue;
		}
		bool bin = !strcmp(section, "[[bin]]");
		if (!(bin && !from_bin) && !(!strcmp(section, "[package]") && !name[0]))
			continue;
		/* name = "value" (TOML: spaces optional) */
		if (strncmp(s, "name", 4) != 0)
			continue;
		s += 4 + strspn(s + 4, " \t");
		if (*s != '=')
			continue;
		s += 1 + strspn(s + 1, " \t");
		if (*s != '"' || !strchr(s + 1, '"'))
			continue;
		snprintf(name, size, "%.*s", (int)(strchr(s + 1, '"') - s - 1), s + 1);
		from_bin |= bin;
	}
	fclose(f);
	if (!name[0] || strchr(name, '/'))
		return plan_problem(p, NULL, "Cargo.toml: no [package] name");
	return 0;
}

/* Link-only flags go after the objects and not to the compiler. */
static bool link_only(const char *flag)
{
	return !strncmp(flag, "-l", 2) || !strncmp(flag, "-L", 2) || !strncmp(flag, "-Wl,", 4);
}

static struct string_list *new_command(struct build_plan *p)
{
	struct string_list *more = realloc(p->commands, (p->command_count + 1) * sizeof *more);
	if (!more)
		return NULL;
	p->commands = more;
	memset(&more[p->command_count], 0, sizeof *more);
	return &more[p->command_count++];
}

static uint64_t hash_text(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull; /* a separator no text holds */
}

static int plan_c_commands(struct build_plan *p)
{
	const struct project *project = p->project;
	const struct project_build_options *o = p->options;
	const char *optimize = o->debug ? "-O0" : "-O2";
	for (size_t i = 0; i < p->sources.count; i++) {
		const char *source = p->sources.items[i];
		const char *base = strrchr(source, '/') ? strrchr(source, '/') + 1 : source;
		char *stem = strndup(base, strcspn(base, "."));
		if (!stem || string_list_take(&p->objects, build_format("%s/%zu-%s.o", p->stamp_directory, i, stem)) < 0 ||
		    string_list_take(&p->depfiles, build_format("%s/%zu-%s.d", p->stamp_directory, i, stem)) < 0) {
			free(stem);
			return plan_out_of_memory(p);
		}
		free(stem);
		struct string_list *c = new_command(p);
		int r = c ? 0 : -1;
		r |= string_list_add(c, p->compiler);
		r |= string_list_add(c, "-c");
		r |= string_list_add(c, optimize);
		r |= string_list_add(c, "-g");
		r |= string_list_add(c, "-Wall");
		if (o->profile) {
			/* Leaf functions too: a sample in one keeps its caller. */
			r |= string_list_add(c, "-fno-omit-frame-pointer");
			r |= string_list_add(c, "-mno-omit-leaf-frame-pointer");
		}
		r |= string_list_take(c, build_format("-I%s", p->sdk));
		for (size_t f = 0; f < project->build.flag_count; f++)
			if (!link_only(project->build.flags[f]))
				r |= string_list_add(c, project->build.flags[f]);
		r |= string_list_add(c, "-MMD");
		r |= string_list_add(c, "-MF");
		r |= string_list_add(c, p->depfiles.items[i]);
		r |= string_list_add(c, "-o");
		r |= string_list_add(c, p->objects.items[i]);
		r |= string_list_add(c, source);
		if (r)
			return plan_out_of_memory(p);
	}
	struct string_list *link = new_command(p);
	int r = link ? 0 : -1;
	r |= string_list_add(link, p->compiler);
	r |= string_list_add(link, "-static");
	r |= string_list_add(link, optimize);
	r |= string_list_add(link, "-g");
	if (o->profile)
		r |= string_list_add(link, "-fno-omit-frame-pointer");
	r |= string_list_add(link, "-o");
	r |= string_list_add(link, p->temporary);
	for (size_t i = 0; i < p->objects.count; i++)
		r |= string_list_add(link, p->objects.items[i]);
	for (size_t f = 0; f < project->build.flag_count; f++)
		r |= string_list_add(link, project->build.flags[f]);
	return r ? plan_out_of_memory(p) : 0;
}

static int plan_rust_command(struct build_plan *p)
{
	const struct project *project = p->project;
	const struct project_build_options *o = p->options;
	char binary[256];
	if (cargo_binary_name(p, binary, sizeof binary) < 0)
		return -1;
	/* A static, non-PIE executable: handlers sit below 4 GiB, as the
	 * host's 32-bit handler addresses need. */
	char flags[4096];
	int n = snprintf(flags, sizeof flags, "-C target-feature=+crt-static -C relocation-model=static%s",
			 o->profile ? " -C force-frame-pointers=yes" : "");
	for (size_t f = 0; f < project->build.flag_count && n < (int)sizeof flags; f++)
		n += snprintf(flags + n, sizeof flags - (size_t)n, " %s", project->build.flags[f]);
	const char *extra = getenv("RUSTFLAGS");
	if (extra && *extra && n < (int)sizeof flags)
		snprintf(flags + n, sizeof flags - (size_t)n, " %s", extra);
	p->rustflags = strdup(flags);
	const char *target_directory = getenv("CARGO_TARGET_DIR");
	char *target = target_directory && *target_directory ? build_path(project, target_directory)
							     : build_path(project, "target");
	p->cargo_output = target ? build_format("%s/" BUILD_RUST_TARGET "/%s/%s", target, o->debug ? "debug" : "release", binary) : NULL;
	free(target);
	struct string_list *c = new_command(p);
	if (!p->rustflags || !p->cargo_output || !c)
		return plan_out_of_memory(p);
	int r = string_list_add(c, "cargo") | string_list_add(c, "build");
	if (!o->debug)
		r |= string_list_add(c, "--release");
	r |= string_list_add(c, "--target") | string_list_add(c, BUILD_RUST_TARGET);
	return r ? plan_out_of_memory(p) : 0;
}

int build_plan_make(struct build_plan *p, const struct project *project, const struct project_build_options *options)
{
	memset(p, 0, sizeof *p);
	p->project = project;
	p->options = options;
	const char *language = project->build.language;
	p->rust = !strcmp(language, "rust");
	p->musl = !strcmp(language, "c") && (options->musl || !strcmp(project->build.libc, "musl"));
	if (options->musl && strcmp(language, "c"))
		return plan_problem(p, "musl-gcc builds C only; drop --musl", "--musl: this is a %s project",
				    p->rust ? "Rust" : "C++");
	p->compiler = p->rust ? "cargo" : !strcmp(language, "cpp") ? "g++" : p->musl ? "musl-gcc" : "gcc";

	p->output = strdup(project->build.output);
	const char *slash = strrchr(project->build.output, '/');
	const char *base = slash ? slash + 1 : project->build.output;
	int directory_length = slash ? (int)(slash - project->build.output) : 0;
	p->stamp_directory = build_format("%.*s%s.%s.tkvm", directory_length, project->build.output, slash ? "/" : "", base);
	p->temporary = p->stamp_directory ? build_format("%s/%s", p->stamp_directory, base) : NULL;
	p->stamp = p->stamp_directory ? build_format("%s/stamp", p->stamp_directory) : NULL;
	if (!p->output || !p->temporary || !p->stamp)
		return plan_out_of_memory(p);

	if (!p->rust) {
		char searched[2048];
		p->sdk = install_sdk_directory(searched, sizeof searched);
		if (!p->sdk)
			return plan_problem(p, "set TKVM_SDK to the directory that holds kvm_api.h, or reinstall tkvm",
					    "cannot find the SDK header kvm_api.h (looked in %s)", searched);
		if (expand_sources(p) < 0 || plan_c_commands(p) < 0)
			return -1;
	} else if (plan_rust_command(p) < 0) {
		return -1;
	}
	if (build_plan_declare_inputs(p) < 0)
		return -1;
	uint64_t h = hash_text(0xcbf29ce484222325ull, "tkvm build recipe 1");
	h = hash_text(h, TKVM_VERSION);
	for (size_t i = 0; i < p->command_count; i++)
		for (size_t a = 0; a < p->commands[i].count; a++)
			h = hash_text(h, p->commands[i].items[a]);
	h = hash_text(h, p->rustflags ? p->rustflags : "");
	h = hash_text(h, p->output);
	p->recipe = h;
	return 0;
}

int build_plan_find_compiler(struct build_plan *p)
{
	if (!(p->compiler_path = find_in_path(p->compiler)))
		return plan_problem(p, install_hint(p->compiler), "%s is not installed (it builds %s programs)", p->compiler,
				    p->rust ? "Rust" : !strcmp(p->compiler, "g++") ? "C++" : "C");
	return 0;
}

/* The dependencies gcc -MMD wrote ("obj.o: a.c b.h \<newline> c.h").
 * A missing file (never compiled) adds nothing; -1 only without memory. */
static int read_depfile(const struct project *project, const char *depfile, struct string_list *out)
{
	char *absolute = build_path(project, depfile);
	if (!absolute)
		return -1;
	FILE *f = fopen(absolute, "r");
	free(absolute);
	if (!f)
		return 0;
	char word[PATH_MAX];
	size_t n = 0;
	bool after_colon = false;
	int c, r = 0;
	while (r == 0 && (c = fgetc(f)) != EOF) {
		if (c == '\\') {
			int next = fgetc(f);
			if (next == '\n' || next == EOF)
				c = ' ';
			else if (next == ' ' || next == '#' || next == '\\')
				c = next | 0x100; /* an escaped byte, part of the name */
			else
				ungetc(next, f);
		} else if (c == '$') {
			int next = fgetc(f);
			if (next != '$')
				ungetc(next, f);
		}
		bool separator = c == ' ' || c == '\t' || c == '\n' || c == '\r';
		if (!after_colon && c == ':') {
			after_colon = true;
			n = 0;
			continue;
		}
		if (separator) {
			if (after_colon && n) {
				word[n] = 0;
				if (!string_list_has(out, word))
					r = string_list_add(out, word);
			}
			n = 0;
			if (c == '\n')
				after_colon = false; /* one rule per line (no -MP) */
			continue;
		}
		if (n + 1 < sizeof word)
			word[n++] = (char)(c & 0xff);
	}
	if (after_colon && n && r == 0) {
		word[n] = 0;
		if (!string_list_has(out, word))
			r = string_list_add(out, word);
	}
	fclose(f);
	return r;
}

/* The inputs a finished build read: declared ones and what the compiler
 * reported. */
int build_plan_known_inputs(const struct build_plan *p, struct string_list *inputs)
{
	for (size_t i = 0; i < p->declared.count; i++)
		if (!string_list_has(inputs, p->declared.items[i]) && string_list_add(inputs, p->declared.items[i]) < 0)
			return -1;
	for (size_t i = 0; i < p->depfiles.count; i++)
		if (read_depfile(p->project, p->depfiles.items[i], inputs) < 0)
			return -1;
	return 0;
}

