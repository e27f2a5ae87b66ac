/* tkvm.json read into struct project (see project.h): the keys checked one
 * by one with the line of what is wrong, defaults filled in, "program"
 * handed to program_settings_apply so it takes exactly the library-JSON
 * keys, and unknown keys reported as warnings, never silently used. */
#include "packager/project.h"

#include "packager/json_text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROJECT_MAX_SIZE (1 << 20) /* a project file is a few hundred bytes */
#define PROJECT_NAME_MAX 64

static const char *const project_keys[] = {"name", "version", "build", "test", "program"};
static const char *const build_keys[] = {"language", "sources", "flags", "output", "libc"};
static const char *const test_keys[] = {"directory", "redact_headers"};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* What one load carries around for its messages. */
struct reading {
	const char *text; /* NUL-terminated */
	const char *source;
	settings_warning_fn warn;
	void *warn_context;
	struct tkvm_error *err;
};

int project_find(const char *start_directory, char *path, size_t size)
{
	char directory[PATH_MAX];
	if (!realpath(start_directory, directory))
		return -errno;
	for (;;) {
		char candidate[PATH_MAX + sizeof PROJECT_FILE + 1];
		struct stat st;
		snprintf(candidate, sizeof candidate, "%s/%s", strcmp(directory, "/") ? directory : "", PROJECT_FILE);
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode)) {
			if (strlen(candidate) >= size)
				return -ENAMETOOLONG;
			memcpy(path, candidate, strlen(candidate) + 1);
			return 0;
		}
		char *slash = strrchr(directory, '/');
		if (!slash || strcmp(directory, "/") == 0)
			return -ENOENT;
		if (slash == directory)
			slash[1] = 0; /* up to "/" */
		else
			*slash = 0;
	}
}

/* --- Messages ----------------------------------------------------------- */


static int fail(const struct reading *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const struct reading *r, int line, const char *fmt, ...)
{
	char what[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (line > 0)
		return tkvm_error_set(r->err, -EINVAL, "%s:%d: %s", r->source, line, what);
	return tkvm_error_set(r->err, -EINVAL, "%s: %s", r->source, what);
}

static int out_of_memory(const struct reading *r)
{
	return tkvm_error_set(r->err, -ENOMEM, "%s: out of memory", r->source);
}

/* Where a member of the object at object_at is written: its key's line,
 * or the object's own line when the key is not found (0 without text). */
static int member_line(const struct reading *r, const char *object_at, const char *key)
{
	const char *key_at = NULL;
	if (object_at)
		json_text_member(object_at, key, 0, &key_at);
	return json_text_line_at(r->text, key_at ? key_at : object_at);
}

static const char *member_value_at(const char *object_at, const char *key)
{
	return object_at ? json_text_member(object_at, key, 0, NULL) : NULL;
}

static int element_line(const struct reading *r, const char *array_at, size_t index, int fallback)
{
	const char *at = array_at ? json_text_element(array_at, index) : NULL;
	int line = at ? json_text_line_at(r->text, at) : 0;
	return line ? line : fallback;
}


static void warn_unknown(const struct reading *r, int line, const char *name, const char *within,
			 const char *const *known, size_t count)
{
	if (!r->warn)
		return;
	const char *suggestion = NULL;
	size_t best = 3; /* at most two edits away */
	for (size_t i = 0; i < count; i++) {
		size_t d = json_text_edit_distance(name, known[i]);
		if (d < best) {
			best = d;
			suggestion = known[i];
		}
	}
	char quoted[128], message[600], in[64] = "", hint[96] = "";
	json_text_quote(name, quoted, sizeof quoted);
	if (within)
		snprintf(in, sizeof in, " in \"%s\"", within);
	if (suggestion)
		snprintf(hint, sizeof hint, "; did you mean \"%s\"?", suggestion);
	if (line > 0)
		snprintf(message, sizeof message, "%s:%d: unknown key %s%s (ignored%s)", r->source, line, quoted, in, hint);
	else
		snprintf(message, sizeof message, "%s: unknown key %s%s (ignored%s)", r->source, quoted, in, hint);
	r->warn(r->warn_context, message);
}

/* Reports the members of object that are not in known. */
static void check_keys(const struct reading *r, const cJSON *object, const char *object_at, const char *within,
		       const char *const *known, size_t count)
{
	const cJSON *member;
	cJSON_ArrayForEach(member, object) {
		bool found = false;
		for (size_t i = 0; i < count && !found; i++)
			found = strcmp(member->string, known[i]) == 0;
		if (!found)
			warn_unknown(r, member_line(r, object_at, member->string), member->string, within, known, count);
	}
}

/* --- Values --------------------------------------------------------------- */

/* A string member; absent leaves *out alone. */
static int read_string(const struct reading *r, const cJSON *object, const char *object_at, const char *key,
		       const char *full_name, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring[0])
		return fail(r, member_line(r, object_at, key), "\"%s\" must be a non-empty string, got %s", full_name,
			    cJSON_IsString(v) ? "an empty string" : json_text_kind(v));
	char *copy = strdup(v->valuestring);
	if (!copy)
		return out_of_memory(r);
	free(*out);
	*out = copy;
	return 0;
}

static void free_strings(char **strings, size_t count)
{
	for (size_t i = 0; strings && i < count; i++)
		free(strings[i]);
	free(strings);
}

/* An array of non-empty strings; absent leaves *out alone. */
static int read_strings(const struct reading *r, const cJSON *object, const char *object_at, const char *key,
			const char *full_name, char ***out, size_t *count)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, key);
	if (!v)
		return 0;
	int line = member_line(r, object_at, key);
	if (!cJSON_IsArray(v))
		return fail(r, line, "\"%s\" must be an array of strings, got %s", full_name, json_text_kind(v));
	size_t n = (size_t)cJSON_GetArraySize(v);
	char **strings = calloc(n ? n : 1, sizeof *strings);
	if (!strings)
		return out_of_memory(r);
	const char *array_at = member_value_at(object_at, key);
	size_t i = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, v) {
		if (!cJSON_IsString(item) || !item->valuestring[0]) {
			free_strings(strings, i);
			return fail(r, element_line(r, array_at, i, line), "\"%s\"[%zu] must be a non-empty string, got %s",
				    full_name, i, cJSON_IsString(item) ? "an empty string" : json_text_kind(item));
		}
		if (!(strings[i] = strdup(item->valuestring))) {
			free_strings(strings, i);
			return out_of_memory(r);
		}
		i++;
	}
	free_strings(*out, *count);
	*out = strings;
	*count = n;
	return 0;
}

/* An object member; absent gives NULL. */
static int read_object(const struct reading *r, const cJSON *root, const char *root_at, const char *key,
		       const cJSON **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsObject(v))
		return fail(r, member_line(r, root_at, key), "\"%s\" must be an object, got %s", key, json_text_kind(v));
	*out = v;
	return 0;
}

static bool valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > PROJECT_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_.-", *c)))
			return false;
	return true;
}

static bool valid_header_name(const char *name)
{
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *c)))
			return false;
	return *name != 0;
}

/* A relative path that stays inside the project: no "..", not absolute,
 * not a directory name. */
static bool valid_output(const char *output)
{
	if (output[0] == '/' || output[strlen(output) - 1] == '/')
		return false;
	for (const char *p = output; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.'))
			return false;
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

/* --- The sections ------------------------------------------------------- */

static int read_build(const struct reading *r, const cJSON *root, const char *root_at, struct project *project)
{
	const cJSON *build;
	int rc = read_object(r, root, root_at, "build", &build);
	if (rc < 0)
		return rc;
	if (!build)
		return fail(r, 0, "\"build\" is missing: it says how to build the program, e.g. "
			    "\"build\": {\"language\": \"c\", \"sources\": [\"src/main.c\"]}");
	const char *at = member_value_at(root_at, "build");
	struct project_build *b = &project->build;
	check_keys(r, build, at, "build", build_keys, COUNT_OF(build_keys));
	if ((rc = read_string(r, build, at, "language", "build.language", &b->language)) < 0 ||
	    (rc = read_strings(r, build, at, "sources", "build.sources", &b->sources, &b->source_count)) < 0 ||
	    (rc = read_strings(r, build, at, "flags", "build.flags", &b->flags, &b->flag_count)) < 0 ||
	    (rc = read_string(r, build, at, "output", "build.output", &b->output)) < 0 ||
	    (rc = read_string(r, build, at, "libc", "build.libc", &b->libc)) < 0)
		return rc;

	int build_line = member_line(r, root_at, "build");
	if (!b->language)
		return fail(r, build_line, "\"build.language\" is missing: \"c\", \"cpp\" or \"rust\"");
	bool rust = strcmp(b->language, "rust") == 0;
	if (strcmp(b->language, "c") && strcmp(b->language, "cpp") && !rust) {
		char quoted[128];
		return fail(r, member_line(r, at, "language"), "\"build.language\" must be \"c\", \"cpp\" or \"rust\", got %s%s",
			    json_text_quote(b->language, quoted, sizeof quoted),
			    !strcmp(b->language, "c++") || !strcmp(b->language, "cxx") ? " (C++ is \"cpp\")" : "");
	}
	if (!b->sources && !rust)
		return fail(r, build_line, "\"build.sources\" is missing: the %s files to compile, e.g. [\"src/main.%s\"]",
			    b->language, b->language);
	if (b->source_count == 0 && !rust)
		return fail(r, member_line(r, at, "sources"), "\"build.sources\" is empty: list the %s files to compile",
			    b->language);
	if (rust && b->source_count == 0) {
		/* cargo decides what to compile; these tell tkvm when to ask it. */
		free_strings(b->sources, b->source_count);
		b->sources = calloc(2, sizeof *b->sources);
		if (!b->sources || !(b->sources[0] = strdup("Cargo.toml")) || !(b->sources[1] = strdup("src")))
			return out_of_memory(r);
		b->source_count = 2;
	}
	if (!b->flags && !(b->flags = calloc(1, sizeof *b->flags)))
		return out_of_memory(r);
	if (!b->output && asprintf(&b->output, "build/%s", project->name) < 0) {
		b->output = NULL;
		return out_of_memory(r);
	}
	if (!valid_output(b->output)) {
		char quoted[PATH_MAX + 8];
		return fail(r, member_line(r, at, "output"),
			    "\"build.output\" must be a relative path inside the project (no \"..\"), got %s",
			    json_text_quote(b->output, quoted, sizeof quoted));
	}
	if (!b->libc && !(b->libc = strdup("glibc")))
		return out_of_memory(r);
	if (strcmp(b->libc, "glibc") && strcmp(b->libc, "musl")) {
		char quoted[128];
		return fail(r, member_line(r, at, "libc"), "\"build.libc\" must be \"glibc\" or \"musl\", got %s",
			    json_text_quote(b->libc, quoted, sizeof quoted));
	}
	if (!strcmp(b->libc, "musl") && strcmp(b->language, "c"))
		return fail(r, member_line(r, at, "libc"), "\"build.libc\": musl is for C programs only (musl-gcc); "
			    "%s programs use glibc", rust ? "Rust" : "C++");
	return 0;
}

static int read_test(const struct reading *r, const cJSON *root, const char *root_at, struct project *project)
{
	const cJSON *test;
	int rc = read_object(r, root, root_at, "test", &test);
	if (rc < 0)
		return rc;
	struct project_test *t = &project->test;
	if (test) {
		const char *at = member_value_at(root_at, "test");
		check_keys(r, test, at, "test", test_keys, COUNT_OF(test_keys));
		if ((rc = read_string(r, test, at, "directory", "test.directory", &t->directory)) < 0 ||
		    (rc = read_strings(r, test, at, "redact_headers", "test.redact_headers", &t->redact_headers,
				       &t->redact_count)) < 0)
			return rc;
		for (size_t i = 0; i < t->redact_count; i++)
			if (!valid_header_name(t->redact_headers[i])) {
				char quoted[128];
				const char *array_at = member_value_at(at, "redact_headers");
				return fail(r, element_line(r, array_at, i, member_line(r, at, "redact_headers")),
					    "\"test.redact_headers\"[%zu] must be a header name, got %s", i,
					    json_text_quote(t->redact_headers[i], quoted, sizeof quoted));
			}
	}
	if (!t->directory && !(t->directory = strdup("tests")))
		return out_of_memory(r);
	if (!t->redact_headers && !(t->redact_headers = calloc(1, sizeof *t->redact_headers)))
		return out_of_memory(r);
	return 0;
}

static int read_project(const struct reading *r, const cJSON *root, struct project *project)
{
	const char *root_at = json_text_root(r->text);
	if (!cJSON_IsObject(root))
		return fail(r, json_text_line_at(r->text, root_at), "a project file must be a JSON object, got %s",
			    json_text_kind(root));
	check_keys(r, root, root_at, NULL, project_keys, COUNT_OF(project_keys));
	int rc = read_string(r, root, root_at, "name", "name", &project->name);
	if (rc < 0)
		return rc;
	if (!project->name)
		return fail(r, 0, "\"name\" is missing: the program's name, e.g. \"name\": \"hello\"");
	if (!valid_name(project->name)) {
		char quoted[128];
		return fail(r, member_line(r, root_at, "name"),
			    "\"name\" must be 1 to %d letters, digits, '_', '.' or '-', not starting with '.' or '-', got %s",
			    PROJECT_NAME_MAX, json_text_quote(project->name, quoted, sizeof quoted));
	}
	if ((rc = read_string(r, root, root_at, "version", "version", &project->version)) < 0)
		return rc;
	if (!project->version && !(project->version = strdup("0.1.0")))
		return out_of_memory(r);
	if ((rc = read_build(r, root, root_at, project)) < 0 || (rc = read_test(r, root, root_at, project)) < 0)
		return rc;
	const cJSON *program;
	if ((rc = read_object(r, root, root_at, "program", &program)) < 0)
		return rc;
	if (program && (rc = program_settings_apply(program, r->text, r->source, &project->program, r->warn,
						     r->warn_context, r->err)) < 0)
		return rc;
	free(project->program.name);
	if (!(project->program.name = strdup(project->name)))
		return out_of_memory(r);
	return 0;
}

static int read_text(const char *path, char **text, size_t *length, struct tkvm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tkvm_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int code = errno;
		close(fd);
		return tkvm_error_set(err, -code, "cannot read %s: %s", path, strerror(code));
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PROJECT_MAX_SIZE) {
		close(fd);
		return tkvm_error_set(err, -EINVAL, "%s: %s", path,
				      S_ISREG(st.st_mode) ? "larger than 1 MiB: not a project file" : "not a regular file");
	}
	char *buffer = malloc((size_t)st.st_size + 1);
	size_t used = 0;
	while (buffer && used < (size_t)st.st_size) {
		ssize_t n = read(fd, buffer + used, (size_t)st.st_size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	if (!buffer)
		return tkvm_error_set(err, -ENOMEM, "out of memory reading %s", path);
	buffer[used] = 0;
	*text = buffer;
	*length = used;
	return 0;
}

int project_load(const char *path, struct project *project, settings_warning_fn warn, void *warn_context,
		 struct tkvm_error *err)
{
	memset(project, 0, sizeof *project);
	tkvm_settings_init(&project->program);
	char *text = NULL;
	size_t length = 0;
	int rc = read_text(path, &text, &length, err);
	if (rc < 0)
		return rc;
	struct reading r = {.text = text, .source = path, .warn = warn, .warn_context = warn_context, .err = err};
	char absolute[PATH_MAX];
	if (!realpath(path, absolute)) {
		rc = tkvm_error_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	project->path = strdup(absolute);
	char *slash = strrchr(absolute, '/');
	if (slash == absolute)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	project->directory = strdup(absolute);
	if (!project->path || !project->directory) {
		rc = out_of_memory(&r);
		goto out;
	}
	cJSON *root = json_text_parse(text, length, path, err);
	if (!root) {
		rc = err && err->code ? err->code : -EINVAL;
		goto out;
	}
	rc = read_project(&r, root, project);
	cJSON_Delete(root);
out:
	free(text);
	if (rc < 0)
		project_free(project);
	return rc;
}

char *project_output_path(const struct project *project)
{
	char *path = NULL;
	if (!project->directory || !project->build.output)
		return NULL;
	if (asprintf(&path, "%s/%s", strcmp(project->directory, "/") ? project->directory : "", project->build.output) < 0)
		return NULL;
	return path;
}

void project_free(struct project *project)
{
	free(project->directory);
	free(project->path);
	free(project->name);
	free(project->version);
	free(project->build.language);
	free_strings(project->build.sources, project->build.source_count);
	free_strings(project->build.flags, project->build.flag_count);
	free(project->build.output);
	free(project->build.libc);
	free(project->test.directory);
	free_strings(project->test.redact_headers, project->test.redact_count);
	tkvm_settings_free(&project->program);
	memset(project, 0, sizeof *project);
	tkvm_settings_init(&project->program);
}
