/* Unit tests of library JSON: groups and programs, inheritance from one
 * group (default "test"), problems that name a member and its line while
 * the other programs still load, warnings, broken text. No KVM needed;
 * run under ASan to catch leaks and double frees. */
#include "packager/library.h"
#include "runner/error.h"
#include "runner/settings.h"
#include "tests/lib/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Collects warnings so tests can look at them. */
struct warnings {
	int count;
	char all[8192];
};

static void collect_warning(void *context, const char *message)
{
	struct warnings *w = context;
	w->count++;
	size_t used = strlen(w->all);
	snprintf(w->all + used, sizeof w->all - used, "%s\n", message);
}

static struct warnings warned;
static struct tkvm_error err;

/* Parses text as "lib.json" into *library (the caller frees it). */
static int parse(const char *text, struct library *library)
{
	memset(&warned, 0, sizeof warned);
	tkvm_error_clear(&err);
	return library_parse(text, strlen(text), "lib.json", library, collect_warning, &warned, &err);
}

/* The problem about name, or NULL. */
static const char *problem_of(const struct library *library, const char *name)
{
	for (size_t i = 0; i < library->problem_count; i++)
		if (!strcmp(library->problems[i].name, name))
			return library->problems[i].message;
	return NULL;
}

static void test_spec_example(void)
{
	const char *text = "{\n"
			   "  \"compute\": { \"concurrency\": 2, \"max_boot_time\": 8.0, \"max_request_time\": 6.0,\n"
			   "               \"max_memory\": 64, \"max_request_memory\": 48 },\n"
			   "  \"hello\":   { \"group\": \"compute\",\n"
			   "               \"uri\": \"https://example.com/programs/hello.tar.xz\",\n"
			   "               \"filename\": \"/var/cache/tkvm/hello\",\n"
			   "               \"sha256\": \"" HASH "\" }\n"
			   "}\n";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	CHECK_INT(library.problem_count, 0);
	CHECK_INT(warned.count, 0);
	const struct library_program *hello = library_find(&library, "hello");
	CHECK(hello != NULL);
	if (hello) {
		const struct tkvm_settings *s = &hello->settings;
		CHECK_STR(hello->name, "hello");
		CHECK_STR(s->name, "hello");
		CHECK_STR(tkvm_settings_group(s), "compute");
		CHECK_STR(s->uri, "https://example.com/programs/hello.tar.xz");
		CHECK_STR(s->filename, "/var/cache/tkvm/hello");
		CHECK_STR(s->sha256, HASH);
		CHECK_INT(s->concurrency, 2);
		CHECK(s->max_boot_time == 8.0);
		CHECK(s->max_request_time == 6.0);
		CHECK_INT(s->max_memory, 64);
		CHECK_INT(s->max_request_memory, 48);
		CHECK_INT(s->address_space, 256); /* untouched default */
	}
	CHECK(library_find(&library, "compute") == NULL); /* a group, not a program */
	CHECK(library_find(&library, "nope") == NULL);
	CHECK(library_find(&library, NULL) == NULL);
	CHECK(library_find(NULL, "hello") == NULL);
	library_free(&library);
	CHECK_INT(library.program_count, 0);
	library_free(&library); /* twice is harmless */

	/* The spec's placeholder is no hash: a problem for hello only. */
	const char *placeholder = "{\"compute\": {\"concurrency\": 2},\n"
				  " \"hello\": {\"group\": \"compute\", \"filename\": \"/x\",\n"
				  "  \"sha256\": \"<hex of the extracted ELF>\"}}";
	CHECK_INT(parse(placeholder, &library), 0);
	CHECK_INT(library.program_count, 0);
	CHECK_INT(library.problem_count, 1);
	CHECK_CONTAINS(problem_of(&library, "hello"), "lib.json:3: program \"hello\": \"sha256\" must be 64 hexadecimal");
	library_free(&library);
}

static void test_comments(void)
{
	const char *text = "// the library\n"
			   "{\n"
			   "  /* a group */\n"
			   "  \"compute\": { \"concurrency\": 3 }, // trailing remark\n"
			   "  \"hello\": { \"group\": \"compute\", /* inline */ \"uri\": \"https://x/y//z\" },\n"
			   "  /* \"gone\": { \"uri\": \"u\" }, */\n"
			   "  \"broken\": { \"group\": \"compute\" }\n"
			   "}\n";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	const struct library_program *hello = library_find(&library, "hello");
	CHECK(hello != NULL);
	if (hello) {
		CHECK_STR(hello->settings.uri, "https://x/y//z");
		CHECK_INT(hello->settings.concurrency, 3);
	}
	CHECK(library_find(&library, "gone") == NULL);
	CHECK_INT(library.problem_count, 1);
	/* Lines count comment lines too. */
	CHECK_STR(problem_of(&library, "broken"), "lib.json:7: program \"broken\" has neither \"uri\" nor \"filename\"");
	library_free(&library);
}

static void test_groups_and_inheritance(void)
{
	const char *text = "{\n"
			   "  \"fast\": { \"concurrency\": 4, \"max_request_time\": 3.0, \"environment\": [\"A=1\"],\n"
			   "            \"main_arguments\": [\"--fast\"] },\n"
			   "  \"big\": { \"max_memory\": 512 },\n"
			   "  \"one\": { \"group\": \"fast\", \"filename\": \"/one\", \"concurrency\": 8,\n"
			   "           \"environment\": [\"B=2\"] },\n"
			   "  \"two\": { \"group\": \"fast\", \"filename\": \"/two\", \"main_arguments\": [\"--slow\"] },\n"
			   "  \"three\": { \"group\": \"big\", \"filename\": \"/three\" }\n"
			   "}\n";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 3);
	CHECK_INT(library.problem_count, 0);
	const struct library_program *one = library_find(&library, "one"), *two = library_find(&library, "two"),
				     *three = library_find(&library, "three");
	CHECK(one && two && three);
	if (!one || !two || !three) {
		library_free(&library);
		return;
	}
	/* Programs come in text order. */
	CHECK_STR(library.programs[0].name, "one");
	CHECK_STR(library.programs[2].name, "three");
	/* One key overridden, the group's others kept. */
	CHECK_INT(one->settings.concurrency, 8);
	CHECK(one->settings.max_request_time == 3.0);
	CHECK_INT(one->settings.environment_count, 2); /* a program adds to its group's */
	if (one->settings.environment_count == 2) {
		CHECK_STR(one->settings.environment[0], "A=1");
		CHECK_STR(one->settings.environment[1], "B=2");
	}
	CHECK_INT(one->settings.main_argument_count, 1);
	CHECK_INT(two->settings.concurrency, 4);
	CHECK_INT(two->settings.main_argument_count, 1); /* replaced, not added */
	if (two->settings.main_argument_count == 1)
		CHECK_STR(two->settings.main_arguments[0], "--slow");
	/* A program's change does not leak into its group or siblings. */
	CHECK_INT(two->settings.environment_count, 1);
	/* Groups do not inherit from groups: "big" is defaults + max_memory. */
	CHECK_INT(three->settings.max_memory, 512);
	CHECK_INT(three->settings.address_space, 512);
	CHECK_INT(three->settings.concurrency, 2);
	CHECK(three->settings.max_request_time == 8.0);
	CHECK_INT(three->settings.environment_count, 0);
	library_free(&library);
}

static void test_default_group(void)
{
	struct library library;
	const char *with_test = "{ \"a\": { \"filename\": \"/a\" },\n"
				"  \"test\": { \"max_request_time\": 2.5 },\n"
				"  \"b\": { \"filename\": \"/b\", \"group\": \"test\" } }";
	CHECK_INT(parse(with_test, &library), 0);
	CHECK_INT(library.program_count, 2);
	CHECK_INT(library.problem_count, 0);
	const struct library_program *a = library_find(&library, "a"), *b = library_find(&library, "b");
	CHECK(a && b);
	if (a && b) {
		CHECK(a->settings.max_request_time == 2.5); /* groups are read first, wherever they stand */
		CHECK(b->settings.max_request_time == 2.5);
		CHECK_STR(tkvm_settings_group(&a->settings), "test");
	}
	library_free(&library);

	const char *without_test = "{ \"a\": { \"filename\": \"/a\" }, \"b\": { \"filename\": \"/b\", \"group\": \"test\" } }";
	CHECK_INT(parse(without_test, &library), 0);
	CHECK_INT(library.program_count, 2);
	CHECK_INT(library.problem_count, 0);
	a = library_find(&library, "a");
	b = library_find(&library, "b");
	CHECK(a && b);
	if (a && b) {
		CHECK(a->settings.max_request_time == 8.0);
		CHECK_INT(a->settings.concurrency, 2);
		CHECK_INT(b->settings.max_memory, 256);
	}
	library_free(&library);
}

static void test_unknown_group(void)
{
	const char *text = "{\n"
			   "  \"compute\": {},\n"
			   "  \"hello\": { \"uri\": \"https://x/hello\",\n"
			   "             \"group\": \"comptue\" },\n"
			   "  \"other\": { \"group\": \"compute\", \"uri\": \"https://x/other\" }\n"
			   "}";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	CHECK(library_find(&library, "other") != NULL);
	CHECK(library_find(&library, "hello") == NULL);
	CHECK_INT(library.problem_count, 1);
	CHECK_STR(problem_of(&library, "hello"), "lib.json:4: program \"hello\": group \"comptue\" is not defined");
	library_free(&library);

	/* "group" of the wrong type: a problem for that program. */
	CHECK_INT(parse("{\"p\": {\"group\": 7, \"filename\": \"/p\"}, \"q\": {\"filename\": \"/q\"}}", &library), 0);
	CHECK_INT(library.program_count, 1);
	CHECK_CONTAINS(problem_of(&library, "p"), "lib.json:1: program \"p\": \"group\" must be the name of a group");
	CHECK_CONTAINS(problem_of(&library, "p"), "got a number");
	library_free(&library);
	CHECK_INT(parse("{\"p\": {\"group\": \"\", \"filename\": \"/p\"}}", &library), 0);
	CHECK_INT(library.program_count, 0);
	CHECK_CONTAINS(problem_of(&library, "p"), "an empty string");
	library_free(&library);
}

static void test_broken_group(void)
{
	const char *text = "{\n"
			   "  \"compute\": {\n"
			   "    \"concurrency\": 0 },\n"
			   "  \"hello\": { \"group\": \"compute\", \"uri\": \"https://x/hello\" },\n"
			   "  \"alone\": { \"uri\": \"https://x/alone\" }\n"
			   "}";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	CHECK(library_find(&library, "alone") != NULL);
	CHECK_INT(library.problem_count, 2);
	CHECK_CONTAINS(problem_of(&library, "compute"), "lib.json:3: group \"compute\": \"concurrency\" must be");
	CHECK_CONTAINS(problem_of(&library, "hello"), "lib.json:4: program \"hello\": its group \"compute\" (line 2) has an error");
	library_free(&library);
}

static void test_program_without_source(void)
{
	const char *text = "{\n"
			   "  \"a\": { \"filename\": \"/a\" },\n"
			   "  \"x\": { \"group\": \"test\", \"concurrency\": 3 },\n"
			   "  \"b\": { \"uri\": \"https://x/b\" }\n"
			   "}";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 2);
	CHECK(library_find(&library, "a") && library_find(&library, "b"));
	CHECK(library_find(&library, "x") == NULL);
	CHECK_INT(library.problem_count, 1);
	if (library.problem_count == 1) {
		CHECK_STR(library.problems[0].name, "x");
		CHECK_STR(library.problems[0].message, "lib.json:3: program \"x\" has neither \"uri\" nor \"filename\"");
	}
	library_free(&library);
}

static void test_wrong_type_in_one_program(void)
{
	const char *text = "{\n"
			   "  \"a\": { \"filename\": \"/a\",\n"
			   "         \"concurrency\": \"many\" },\n"
			   "  \"b\": { \"filename\": \"/b\", \"concurrency\": 5 },\n"
			   "  \"c\": { \"filename\": \"/c\", \"allowed_paths\": [\"/ok\",\n"
			   "         { \"real\": 5 }] }\n"
			   "}";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	const struct library_program *b = library_find(&library, "b");
	CHECK(b != NULL);
	if (b)
		CHECK_INT(b->settings.concurrency, 5);
	CHECK_INT(library.problem_count, 2);
	CHECK_STR(problem_of(&library, "a"),
		  "lib.json:3: program \"a\": \"concurrency\" must be a whole number from 1 to 255, got \"many\"");
	CHECK_CONTAINS(problem_of(&library, "c"), "lib.json:6: program \"c\": \"allowed_paths\"[1].real");
	library_free(&library);
}

/* Lines inside a member are the file's lines, even when the member's name
 * is written with escapes or the same keys appear in earlier members. */
static void test_lines_inside_members(void)
{
	const char *text = "{\n"
			   "  \"a\": { \"filename\": \"/a\", \"concurrency\": 3, \"colour\": 1,\n"
			   "         \"allowed_paths\": [\"/x\"] },\n"
			   "  \"b\\u0062\": { \"filename\": \"/b\",\n"
			   "     // a comment line\n"
			   "     \"colour\": 2,\n"
			   "     \"concurrency\": 0 },\n"
			   "  \"c\": { \"filename\": \"/c\",\n"
			   "         \"allowed_paths\": [\"/ok\",\n"
			   "            { \"real\": \"/r\",\n"
			   "              \"prefix\": \"yes\" }] }\n"
			   "}";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	CHECK_STR(problem_of(&library, "bb"),
		  "lib.json:7: program \"bb\": \"concurrency\" must be a whole number from 1 to 255, got 0");
	CHECK_CONTAINS(problem_of(&library, "c"), "lib.json:11: program \"c\": \"allowed_paths\"[1].prefix");
	CHECK_CONTAINS(warned.all, "lib.json:2: program \"a\": unknown key \"colour\"");
	CHECK_CONTAINS(warned.all, "lib.json:6: program \"bb\": unknown key \"colour\"");
	library_free(&library);
}

static void test_unknown_keys_warned(void)
{
	const char *text = "{\n"
			   "  \"compute\": { \"max_memroy\": 64 },\n"
			   "  \"hello\": { \"group\": \"compute\", \"uri\": \"https://x/hello\",\n"
			   "             \"colour\": \"blue\" }\n"
			   "}";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	CHECK_INT(library.problem_count, 0);
	CHECK_INT(warned.count, 2);
	CHECK_CONTAINS(warned.all, "lib.json:2: group \"compute\": unknown key \"max_memroy\" (ignored; did you mean \"max_memory\"?)\n");
	CHECK_CONTAINS(warned.all, "lib.json:4: program \"hello\": unknown key \"colour\" (ignored)\n");
	/* The unknown key is not used. */
	const struct library_program *hello = library_find(&library, "hello");
	CHECK(hello && hello->settings.max_memory == 256);
	library_free(&library);

	/* Without a warning callback, unknown keys are still ignored quietly. */
	CHECK_INT(library_parse(text, strlen(text), "lib.json", &library, NULL, NULL, &err), 0);
	CHECK_INT(library.program_count, 1);
	library_free(&library);
}

static void test_trailing_comma(void)
{
	const char *text = "{\n"
			   "  \"a\": { \"filename\": \"/a\" },\n"
			   "  \"b\": { \"filename\": \"/b\", },\n"
			   "}";
	struct library library;
	int rc = parse(text, &library);
	CHECK(rc < 0);
	CHECK_INT(rc, err.code);
	CHECK_CONTAINS(err.message, "lib.json:3:");
	CHECK_CONTAINS(err.message, "trailing comma");
	CHECK_INT(library.program_count, 0);
	CHECK_INT(library.problem_count, 0);
	library_free(&library);

	rc = parse("{ \"a\": { \"filename\": \"/a\" } } x", &library);
	CHECK(rc < 0);
	CHECK_CONTAINS(err.message, "lib.json:1:");
	rc = parse("", &library);
	CHECK(rc < 0);
	CHECK_CONTAINS(err.message, "lib.json:1:1:");
	rc = parse("{ /* never closed", &library);
	CHECK(rc < 0);
	CHECK_CONTAINS(err.message, "unterminated");
	/* An embedded NUL is refused, not silently cut. */
	rc = library_parse("{}\0{}", 5, "lib.json", &library, NULL, NULL, &err);
	CHECK(rc < 0);
	CHECK_CONTAINS(err.message, "NUL");
}

static void test_not_an_object(void)
{
	static const char *const texts[] = { "[]", "42", "\"hello\"", "null", "\n\n[ { \"uri\": \"x\" } ]" };
	static const char *const got[] = { "an array", "a number", "a string", "null", "an array" };
	struct library library;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		int rc = parse(texts[i], &library);
		CHECK(rc < 0);
		CHECK_INT(rc, err.code);
		CHECK_CONTAINS(err.message, "a library must be a JSON object of groups and programs, got ");
		CHECK_CONTAINS(err.message, got[i]);
		CHECK_INT(library.program_count, 0);
		library_free(&library);
	}
	CHECK_CONTAINS(err.message, "lib.json:3: ");

	/* A member that is not an object: a problem for that member only. */
	const char *text = "{\n"
			   "  \"a\": 5,\n"
			   "  \"b\": [\"/b\"],\n"
			   "  \"c\": { \"filename\": \"/c\" },\n"
			   "  \"d\": null\n"
			   "}";
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 1);
	CHECK_INT(library.problem_count, 3);
	CHECK_STR(problem_of(&library, "a"), "lib.json:2: \"a\" must be an object (a group or a program), got a number");
	CHECK_STR(problem_of(&library, "b"), "lib.json:3: \"b\" must be an object (a group or a program), got an array");
	CHECK_STR(problem_of(&library, "d"), "lib.json:5: \"d\" must be an object (a group or a program), got null");
	library_free(&library);
}

static void test_empty_object(void)
{
	struct library library;
	CHECK_INT(parse("{}", &library), 0);
	CHECK_INT(library.program_count, 0);
	CHECK_INT(library.problem_count, 0);
	CHECK(library_find(&library, "x") == NULL);
	library_free(&library);
	/* Only groups: no programs, no problems. */
	CHECK_INT(parse(" // nothing yet\n{ \"test\": {}, \"compute\": { \"concurrency\": 3 } }\n", &library), 0);
	CHECK_INT(library.program_count, 0);
	CHECK_INT(library.problem_count, 0);
	library_free(&library);
}

static void test_home_expansion(void)
{
	char *saved = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("HOME", "/home/tester", 1);
	const char *text = "{ \"t\": { \"environment\": [\"CACHE=$HOME/cache\"] },\n"
			   "  \"hello\": { \"group\": \"t\", \"filename\": \"$HOME/programs/hello\",\n"
			   "             \"uri\": \"https://x/$HOME\",\n"
			   "             \"main_arguments\": [\"$HOME/a\", \"$PWD\"],\n"
			   "             \"allowed_paths\": [\"$HOME/data\"] } }";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	const struct library_program *hello = library_find(&library, "hello");
	CHECK(hello != NULL);
	if (hello) {
		const struct tkvm_settings *s = &hello->settings;
		char cwd[4096];
		CHECK_STR(s->filename, "/home/tester/programs/hello");
		CHECK_STR(s->uri, "https://x/$HOME"); /* a URI is not a path */
		CHECK_INT(s->main_argument_count, 2);
		if (s->main_argument_count == 2 && getcwd(cwd, sizeof cwd)) {
			CHECK_STR(s->main_arguments[0], "/home/tester/a");
			CHECK_STR(s->main_arguments[1], cwd);
		}
		CHECK_INT(s->environment_count, 1);
		if (s->environment_count == 1)
			CHECK_STR(s->environment[0], "CACHE=/home/tester/cache");
		CHECK_INT(s->allowed_path_count, 1);
		if (s->allowed_path_count == 1)
			CHECK_STR(s->allowed_paths[0].real, "/home/tester/data");
	}
	library_free(&library);
	if (saved) {
		setenv("HOME", saved, 1);
		free(saved);
	} else {
		unsetenv("HOME");
	}
}

static void test_duplicates(void)
{
	const char *text = "{\n"
			   "  \"hello\": { \"filename\": \"/first\" },\n"
			   "  \"g\": { \"concurrency\": 3 },\n"
			   "  \"hello\": { \"filename\": \"/second\" },\n"
			   "  \"g\": { \"concurrency\": 4 },\n"
			   "  \"p\": { \"group\": \"g\", \"filename\": \"/p\" }\n"
			   "}";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 2);
	const struct library_program *hello = library_find(&library, "hello"), *p = library_find(&library, "p");
	CHECK(hello && p);
	if (hello && p) {
		CHECK_STR(hello->settings.filename, "/first");
		CHECK_INT(p->settings.concurrency, 3);
	}
	CHECK_INT(library.problem_count, 2);
	if (library.problem_count == 2) {
		CHECK_STR(library.problems[0].message, "lib.json:4: \"hello\" is defined twice (first at line 2); this one is ignored");
		CHECK_STR(library.problems[1].message, "lib.json:5: \"g\" is defined twice (first at line 3); this one is ignored");
	}
	library_free(&library);
}

static void test_hostile_names(void)
{
	/* Names are quoted in messages: no control bytes, no runaway length. */
	const char *text = "{ \"\": { \"filename\": \"/x\" },\n"
			   "  \"bad\\nname\\u0001\": { \"uri\": \"https://x\", \"concurrency\": 0 },\n"
			   "  \"a\\\"b\": { \"group\": 1 } }";
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 0);
	CHECK_INT(library.problem_count, 3);
	CHECK_STR(problem_of(&library, ""), "lib.json:1: a program needs a name, got \"\"");
	CHECK_CONTAINS(problem_of(&library, "bad\nname\x01"), "lib.json:2: program \"bad\\x0aname\\x01\": \"concurrency\"");
	CHECK_CONTAINS(problem_of(&library, "a\"b"), "program \"a\\\"b\"");
	for (size_t i = 0; i < library.problem_count; i++)
		CHECK(strchr(library.problems[i].message, '\n') == NULL);
	library_free(&library);

	/* A NULL source still gives located messages. */
	const char *nameless = "{\"x\": {\"group\": \"test\"}}";
	CHECK_INT(library_parse(nameless, strlen(nameless), NULL, &library, NULL, NULL, &err), 0);
	CHECK_INT(library.problem_count, 1);
	if (library.problem_count == 1)
		CHECK_STR(library.problems[0].message, "library:1: program \"x\" has neither \"uri\" nor \"filename\"");
	library_free(&library);
	CHECK(library_parse("{}", 2, "lib.json", NULL, NULL, NULL, &err) < 0);
	CHECK(library_parse(NULL, 0, "lib.json", &library, NULL, NULL, &err) < 0);
}

static void test_hundred_programs(void)
{
	size_t size = 64 * 1024, used = 0;
	char *text = malloc(size);
	CHECK(text != NULL);
	if (!text)
		return;
	used += (size_t)snprintf(text + used, size - used, "{\n  \"pool\": { \"concurrency\": 7 }");
	for (int i = 0; i < 100; i++)
		used += (size_t)snprintf(text + used, size - used,
					 ",\n  \"program%03d\": { \"group\": \"pool\", \"filename\": \"/p/%d\", "
					 "\"max_request_time\": %d }",
					 i, i, 1 + i % 30);
	snprintf(text + used, size - used, "\n}\n");
	struct library library;
	CHECK_INT(parse(text, &library), 0);
	CHECK_INT(library.program_count, 100);
	CHECK_INT(library.problem_count, 0);
	CHECK_INT(warned.count, 0);
	int found = 0;
	for (int i = 0; i < 100; i++) {
		char name[32], filename[32];
		snprintf(name, sizeof name, "program%03d", i);
		snprintf(filename, sizeof filename, "/p/%d", i);
		const struct library_program *p = library_find(&library, name);
		if (p && !strcmp(p->settings.name, name) && !strcmp(p->settings.filename, filename) &&
		    p->settings.concurrency == 7 && p->settings.max_request_time == 1 + i % 30)
			found++;
	}
	CHECK_INT(found, 100);
	library_free(&library);
	free(text);
}

int main(void)
{
	TEST(test_spec_example);
	TEST(test_comments);
	TEST(test_groups_and_inheritance);
	TEST(test_default_group);
	TEST(test_unknown_group);
	TEST(test_broken_group);
	TEST(test_program_without_source);
	TEST(test_wrong_type_in_one_program);
	TEST(test_lines_inside_members);
	TEST(test_unknown_keys_warned);
	TEST(test_trailing_comma);
	TEST(test_not_an_object);
	TEST(test_empty_object);
	TEST(test_home_expansion);
	TEST(test_duplicates);
	TEST(test_hostile_names);
	TEST(test_hundred_programs);
	return tap_exit_code();
}
