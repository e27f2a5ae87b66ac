/* Unit tests of the project file (packager/project.c): finding tkvm.json
 * upwards, defaults, every key, the "program" object with library-JSON
 * keys, and the messages of broken files (key and line named), unknown
 * keys as warnings. No KVM needed; run under ASan to catch leaks. */
#include "packager/project.h"
#include "runner/error.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[PATH_MAX];

struct warnings {
	int count;
	char all[4096];
};

static void collect_warning(void *context, const char *message)
{
	struct warnings *w = context;
	w->count++;
	size_t used = strlen(w->all);
	snprintf(w->all + used, sizeof w->all - used, "%s\n", message);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		printf("# cannot write %s\n", path);
		tap_current_failed = 1;
		return;
	}
	fputs(text, f);
	fclose(f);
}

/* Writes text as scratch/tkvm.json and loads it. */
static int load(const char *text, struct project *project, struct warnings *w, struct tkvm_error *err)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/%s", scratch, PROJECT_FILE);
	write_file(path, text);
	if (w)
		memset(w, 0, sizeof *w);
	tkvm_error_clear(err);
	return project_load(path, project, collect_warning, w, err);
}

/* text must fail with a one-line message holding both parts. */
static void expect_error(const char *text, const char *part1, const char *part2)
{
	struct project project;
	struct tkvm_error err;
	int rc = load(text, &project, NULL, &err);
	CHECK(rc < 0);
	CHECK_INT(rc, err.code);
	CHECK_CONTAINS(err.message, part1);
	if (part2)
		CHECK_CONTAINS(err.message, part2);
	CHECK(strchr(err.message, '\n') == NULL);
	CHECK(project.name == NULL && project.build.sources == NULL); /* nothing left to free */
	project_free(&project);
}

static const char minimal[] = "{\"name\": \"hello\", \"build\": {\"language\": \"c\", \"sources\": [\"src/main.c\"]}}";

static void test_defaults(void)
{
	struct project p;
	struct tkvm_error err;
	struct warnings w;
	CHECK_INT(load(minimal, &p, &w, &err), 0);
	CHECK_STR(p.name, "hello");
	CHECK_STR(p.version, "0.1.0");
	CHECK_STR(p.build.language, "c");
	CHECK_INT(p.build.source_count, 1);
	CHECK_STR(p.build.sources[0], "src/main.c");
	CHECK_INT(p.build.flag_count, 0);
	CHECK_STR(p.build.output, "build/hello");
	CHECK_STR(p.build.libc, "glibc");
	CHECK_STR(p.test.directory, "tests");
	CHECK_INT(p.test.redact_count, 0);
	CHECK_STR(p.program.name, "hello");
	CHECK_INT(p.program.max_memory, 256);
	CHECK_INT(p.program.concurrency, 2);
	CHECK_INT(w.count, 0);
	char real[PATH_MAX];
	CHECK(realpath(scratch, real) != NULL);
	CHECK_STR(p.directory, real);
	char expected[PATH_MAX + 32];
	snprintf(expected, sizeof expected, "%s/tkvm.json", real);
	CHECK_STR(p.path, expected);
	char *output = project_output_path(&p);
	snprintf(expected, sizeof expected, "%s/build/hello", real);
	CHECK_STR(output, expected);
	free(output);
	project_free(&p);
}

static void test_every_key(void)
{
	struct project p;
	struct tkvm_error err;
	struct warnings w;
	int rc = load("{\n"
		      "  // comments are allowed\n"
		      "  \"name\": \"img-resize_2.0\",\n"
		      "  \"version\": \"1.2.3\",\n"
		      "  \"build\": {\n"
		      "    \"language\": \"c\",\n"
		      "    \"sources\": [\"src/main.c\", \"src/util.c\"],\n"
		      "    \"flags\": [\"-O3\", \"-lm\"],\n"
		      "    \"output\": \"out/img\",\n"
		      "    \"libc\": \"musl\"\n"
		      "  },\n"
		      "  \"test\": {\"directory\": \"fixtures\", \"redact_headers\": [\"X-Api-Key\"]},\n"
		      "  \"program\": {\"max_memory\": 64, \"max_request_time\": 2.5, \"environment\": [\"A=1\"], \"key\": \"k\"}\n"
		      "}\n",
		      &p, &w, &err);
	CHECK_INT(rc, 0);
	if (rc < 0) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK_STR(p.name, "img-resize_2.0");
	CHECK_STR(p.version, "1.2.3");
	CHECK_INT(p.build.source_count, 2);
	CHECK_STR(p.build.sources[1], "src/util.c");
	CHECK_INT(p.build.flag_count, 2);
	CHECK_STR(p.build.flags[1], "-lm");
	CHECK_STR(p.build.output, "out/img");
	CHECK_STR(p.build.libc, "musl");
	CHECK_STR(p.test.directory, "fixtures");
	CHECK_INT(p.test.redact_count, 1);
	CHECK_STR(p.test.redact_headers[0], "X-Api-Key");
	CHECK_INT(p.program.max_memory, 64);
	CHECK(p.program.max_request_time == 2.5);
	CHECK_INT(p.program.environment_count, 1);
	CHECK_STR(p.program.key, "k");
	CHECK_STR(p.program.name, "img-resize_2.0");
	CHECK_INT(w.count, 0);
	project_free(&p);
}

static void test_rust_defaults(void)
{
	struct project p;
	struct tkvm_error err;
	CHECK_INT(load("{\"name\": \"hi\", \"build\": {\"language\": \"rust\"}}", &p, NULL, &err), 0);
	CHECK_STR(p.build.language, "rust");
	CHECK_INT(p.build.source_count, 2);
	if (p.build.source_count == 2) {
		CHECK_STR(p.build.sources[0], "Cargo.toml");
		CHECK_STR(p.build.sources[1], "src");
	}
	CHECK_STR(p.build.output, "build/hi");
	project_free(&p);
	expect_error("{\"name\": \"hi\", \"build\": {\"language\": \"rust\", \"libc\": \"musl\"}}", "tkvm.json:1:",
		     "musl is for C programs only");
	expect_error("{\"name\": \"hi\", \"build\": {\"language\": \"cpp\", \"sources\": [\"a.cpp\"], \"libc\": \"musl\"}}",
		     "\"build.libc\"", "C++ programs use glibc");
}

static void test_unknown_keys_warn(void)
{
	struct project p;
	struct tkvm_error err;
	struct warnings w;
	int rc = load("{\n"
		      "  \"name\": \"hello\",\n"
		      "  \"verison\": \"1.0\",\n"
		      "  \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"],\n"
		      "            \"flgas\": []},\n"
		      "  \"test\": {\"dir\": \"x\"},\n"
		      "  \"program\": {\"max_memroy\": 64}\n"
		      "}\n",
		      &p, &w, &err);
	CHECK_INT(rc, 0);
	CHECK_INT(w.count, 4);
	CHECK_CONTAINS(w.all, "tkvm.json:3: unknown key \"verison\" (ignored; did you mean \"version\"?)");
	CHECK_CONTAINS(w.all, "tkvm.json:5: unknown key \"flgas\" in \"build\" (ignored; did you mean \"flags\"?)");
	CHECK_CONTAINS(w.all, "tkvm.json:6: unknown key \"dir\" in \"test\" (ignored)");
	CHECK_CONTAINS(w.all, "tkvm.json:7: unknown key \"max_memroy\"");
	CHECK_CONTAINS(w.all, "did you mean \"max_memory\"?");
	CHECK_STR(p.version, "0.1.0");
	CHECK_INT(p.program.max_memory, 256);
	project_free(&p);
}

static void test_broken_files(void)
{
	expect_error("{\"name\": \"hello\",\n \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"],},\n}\n",
		     "tkvm.json:2:", "trailing comma");
	expect_error("{\"name\": \"hello\",\n \"build\": {\"language\": \"c\",\n   \"sources\": \"src/main.c\"}}",
		     "tkvm.json:3: \"build.sources\" must be an array of strings, got a string", NULL);
	expect_error("{\"name\": \"hello\",\n \"build\": {\"language\": \"c\",\n   \"sources\": [\"a.c\",\n  7]}}",
		     "tkvm.json:4: \"build.sources\"[1] must be a non-empty string, got a number", NULL);
	expect_error("{\"name\": \"hello\", \"build\": {\"language\": \"c\", \"sources\": []}}",
		     "\"build.sources\" is empty", NULL);
	expect_error("{\"name\": \"hello\", \"build\": {\"language\": \"c\"}}", "\"build.sources\" is missing", NULL);
	expect_error("{\"name\": \"hello\", \"build\": {\"sources\": [\"a.c\"]}}", "\"build.language\" is missing", NULL);
	expect_error("{\"name\": \"hello\",\n\"build\": {\n\"language\": \"go\", \"sources\": [\"a.go\"]}}",
		     "tkvm.json:3: \"build.language\" must be \"c\", \"cpp\" or \"rust\", got \"go\"", NULL);
	expect_error("{\"name\": \"hello\", \"build\": {\"language\": \"c++\", \"sources\": [\"a.cc\"]}}",
		     "(C++ is \"cpp\")", NULL);
	expect_error("{\"name\": \"hello\"}", "\"build\" is missing", NULL);
	expect_error("{\"name\": \"hello\", \"build\": [\"c\"]}", "\"build\" must be an object, got an array", NULL);
	expect_error("{\"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]}}", "\"name\" is missing", NULL);
	expect_error("{\"name\": \"../etc\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]}}",
		     "\"name\" must be 1 to 64 letters", "got \"../etc\"");
	expect_error("{\"name\": \"a b\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]}}", "\"name\" must be", NULL);
	expect_error("{\"name\": \"-x\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]}}", "\"name\" must be", NULL);
	expect_error("{\"name\": 5, \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]}}",
		     "\"name\" must be a non-empty string, got a number", NULL);
	expect_error("{\"name\": \"h\", \"version\": \"\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]}}",
		     "\"version\" must be a non-empty string, got an empty string", NULL);
	expect_error("{\"name\": \"h\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"], \"output\": \"../x\"}}",
		     "\"build.output\" must be a relative path inside the project", NULL);
	expect_error("{\"name\": \"h\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"], \"output\": \"/tmp/x\"}}",
		     "\"build.output\" must be a relative path", NULL);
	expect_error("{\"name\": \"h\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"], \"libc\": \"uclibc\"}}",
		     "\"build.libc\" must be \"glibc\" or \"musl\", got \"uclibc\"", NULL);
	expect_error("{\"name\": \"h\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"], \"flags\": \"-O3\"}}",
		     "\"build.flags\" must be an array of strings", NULL);
	expect_error("{\"name\": \"h\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]},\n"
		     "\"test\": {\"redact_headers\": [\"X-Ok\",\n \"Bad Header\"]}}",
		     "tkvm.json:3: \"test.redact_headers\"[1] must be a header name, got \"Bad Header\"", NULL);
	expect_error("{\"name\": \"h\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]},\n"
		     "\"program\": {\n\"max_memory\": \"lots\"}}",
		     "tkvm.json:3:", "max_memory");
	expect_error("{\"name\": \"h\", \"build\": {\"language\": \"c\", \"sources\": [\"a.c\"]}, \"program\": 3}",
		     "\"program\" must be an object, got a number", NULL);
	expect_error("[1, 2]", "tkvm.json:1: a project file must be a JSON object, got an array", NULL);
	expect_error("", "tkvm.json:", "invalid JSON");
}

static void test_missing_file(void)
{
	struct project p;
	struct tkvm_error err = {0};
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/none/tkvm.json", scratch);
	CHECK_INT(project_load(path, &p, NULL, NULL, &err), -ENOENT);
	CHECK_CONTAINS(err.message, "cannot open");
	CHECK_CONTAINS(err.message, "No such file or directory");
	project_free(&p);
	snprintf(path, sizeof path, "%s/dir.json", scratch);
	mkdir(path, 0700);
	CHECK(project_load(path, &p, NULL, NULL, &err) < 0);
	CHECK_CONTAINS(err.message, "not a regular file");
	project_free(&p);
	rmdir(path);
}

static void test_find(void)
{
	char deep[PATH_MAX + 32], file[PATH_MAX + 32], found[PATH_MAX], real[PATH_MAX];
	snprintf(file, sizeof file, "%s/tkvm.json", scratch);
	unlink(file); /* left by the tests above */
	snprintf(deep, sizeof deep, "%s/find", scratch);
	mkdir(deep, 0700);
	snprintf(deep, sizeof deep, "%s/find/a", scratch);
	mkdir(deep, 0700);
	snprintf(deep, sizeof deep, "%s/find/a/b", scratch);
	mkdir(deep, 0700);
	CHECK_INT(project_find(deep, found, sizeof found), -ENOENT);
	snprintf(file, sizeof file, "%s/find/tkvm.json", scratch);
	write_file(file, minimal);
	CHECK_INT(project_find(deep, found, sizeof found), 0);
	CHECK(realpath(file, real) != NULL);
	CHECK_STR(found, real);
	CHECK_INT(project_find(deep, found, 8), -ENAMETOOLONG);
	/* A directory called tkvm.json is not a project file. */
	char nearer[PATH_MAX + 48];
	snprintf(nearer, sizeof nearer, "%s/find/a/tkvm.json", scratch);
	mkdir(nearer, 0700);
	CHECK_INT(project_find(deep, found, sizeof found), 0);
	CHECK_STR(found, real);
	rmdir(nearer);
	CHECK(project_find("/nonexistent/dir", found, sizeof found) < 0);
	unlink(file);
}

int main(void)
{
	snprintf(scratch, sizeof scratch, "/tmp/tkvm-test-project-XXXXXX");
	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_defaults);
	TEST(test_every_key);
	TEST(test_rust_defaults);
	TEST(test_unknown_keys_warn);
	TEST(test_broken_files);
	TEST(test_missing_file);
	TEST(test_find);
	char command[PATH_MAX + 16];
	snprintf(command, sizeof command, "rm -rf '%s'", scratch);
	if (system(command) != 0)
		printf("# could not remove %s\n", scratch);
	return tap_exit_code();
}
