/* Unit tests of program settings: defaults, every library-JSON key, JSON
 * text with comments and its error messages (line numbers included),
 * warnings for unknown keys, $HOME/$PWD, program_settings_set, copy/free.
 * No KVM needed; run under ASan to catch leaks and double frees. */
#include "packager/json_text.h"
#include "packager/program_settings.h"
#include "runner/error.h"
#include "runner/settings.h"
#include "tests/lib/tap.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Collects warnings so tests can look at them. */
struct warnings {
	int count;
	char last[1024];
	char all[4096];
};

static void collect_warning(void *context, const char *message)
{
	struct warnings *w = context;
	w->count++;
	snprintf(w->last, sizeof w->last, "%s", message);
	size_t used = strlen(w->all);
	snprintf(w->all + used, sizeof w->all - used, "%s\n", message);
}

/* Parses text into fresh settings (the caller frees them). */
static int parse(const char *text, struct tkvm_settings *s, struct warnings *w, struct tkvm_error *err)
{
	tkvm_settings_init(s);
	tkvm_error_clear(err);
	if (w)
		memset(w, 0, sizeof *w);
	return program_settings_parse(text, strlen(text), "hello.json", s, collect_warning, w, err);
}

/* Expects text to fail with a message that contains each given part. */
static void expect_error(const char *text, const char *part1, const char *part2)
{
	struct tkvm_settings s;
	struct tkvm_error err;
	int rc = parse(text, &s, NULL, &err);
	CHECK(rc < 0);
	CHECK_INT(rc, err.code);
	CHECK_CONTAINS(err.message, part1);
	if (part2)
		CHECK_CONTAINS(err.message, part2);
	CHECK(strchr(err.message, '\n') == NULL);
	tkvm_settings_free(&s);
}

static void test_defaults(void)
{
	struct tkvm_settings s;
	tkvm_settings_init(&s);
	CHECK_STR(tkvm_settings_group(&s), "test");
	CHECK_STR(tkvm_settings_working_directory(&s), "/");
	CHECK(s.group == NULL && s.uri == NULL && s.filename == NULL && s.sha256 == NULL && s.key == NULL);
	CHECK(!s.start);
	CHECK_INT(s.concurrency, 2);
	CHECK(s.max_boot_time == 16.0);
	CHECK(s.max_request_time == 8.0);
	CHECK_INT(s.max_memory, 256);
	CHECK_INT(s.address_space, 256);
	CHECK_INT(s.max_request_memory, 64);
	CHECK_INT(s.limit_workmem_after_req, 0);
	CHECK_INT(s.shared_memory, 0);
	CHECK(!s.storage);
	CHECK(s.ephemeral);
	CHECK(s.ephemeral_keep_working_memory);
	CHECK(!s.control_ephemeral && !s.hugepages && !s.split_hugepages && !s.transparent_hugepages);
	CHECK(!s.allow_debug && !s.remote_debug_on_exception);
	CHECK(s.main_arguments == NULL && s.main_argument_count == 0);
	CHECK(s.environment == NULL && s.environment_count == 0);
	CHECK(s.allowed_paths == NULL && s.allowed_path_count == 0);
	CHECK_INT(s.remapping_size, 0);
	CHECK_INT(s.executable_remapping_size, 0);
	CHECK(!s.stdout_enabled && !s.verbose && !s.verbose_syscalls);
	CHECK(!s.warmup.enabled);
	/* An empty object changes nothing. */
	struct tkvm_error err;
	CHECK_INT(parse("{}", &s, NULL, &err), 0);
	CHECK_INT(s.concurrency, 2);
	CHECK_INT(s.max_memory, 256);
	tkvm_settings_free(&s);
}

static void test_every_key(void)
{
	const char *text =
		"{\n"
		"  \"group\": \"compute\",\n"
		"  \"uri\": \"https://example.com/hello.tar.xz\",\n"
		"  \"filename\": \"/var/cache/tkvm/hello\",\n"
		"  \"sha256\": \"ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789\",\n"
		"  \"key\": \"secret\",\n"
		"  \"start\": true,\n"
		"  \"concurrency\": 8,\n"
		"  \"max_boot_time\": 4.5,\n"
		"  \"max_request_time\": 1.25,\n"
		"  \"max_memory\": 512,\n"
		"  \"address_space\": 1024,\n"
		"  \"max_request_memory\": 128,\n"
		"  \"limit_workmem_after_req\": 32,\n"
		"  \"shared_memory\": 2,\n"
		"  \"storage\": true,\n"
		"  \"ephemeral\": false,\n"
		"  \"ephemeral_keep_working_memory\": false,\n"
		"  \"control_ephemeral\": true,\n"
		"  \"hugepages\": true,\n"
		"  \"hugepage_arena_size\": 64,\n"
		"  \"request_hugepage_arena_size\": 8,\n"
		"  \"split_hugepages\": true,\n"
		"  \"transparent_hugepages\": true,\n"
		"  \"allow_debug\": true,\n"
		"  \"remote_debug_on_exception\": true,\n"
		"  \"main_arguments\": [\"--fast\", \"x\"],\n"
		"  \"environment\": [\"A=1\", \"B=two=2\"],\n"
		"  \"allowed_paths\": [\"/etc/hosts\", {\"real\": \"/srv/data\", \"virtual\": \"/data\", \"prefix\": true,\n"
		"                     \"writable\": true}],\n"
		"  \"current_working_directory\": \"/data\",\n"
		"  \"remapping\": [\"0x100000000\", 16],\n"
		"  \"executable_remapping\": [\"0xC0000000\", \"0xC0400000\"],\n"
		"  \"stdout\": true,\n"
		"  \"verbose\": true,\n"
		"  \"verbose_syscalls\": true,\n"
		"  \"warmup\": {\"num_requests\": 5, \"url\": \"/warm\", \"method\": \"POST\",\n"
		"             \"headers\": [\"X-Warm: 1\", \"Host: example.com\"]},\n"
		"  \"smp\": 2\n"
		"}\n";
	struct tkvm_settings s;
	struct tkvm_error err;
	struct warnings w;
	int rc = parse(text, &s, &w, &err);
	CHECK_INT(rc, 0);
	if (rc)
		printf("# %s\n", err.message);
	CHECK_INT(w.count, 0);
	CHECK_STR(s.group, "compute");
	CHECK_STR(s.uri, "https://example.com/hello.tar.xz");
	CHECK_STR(s.filename, "/var/cache/tkvm/hello");
	CHECK_STR(s.sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	CHECK_STR(s.key, "secret");
	CHECK(s.start);
	CHECK_INT(s.concurrency, 8);
	CHECK(s.max_boot_time == 4.5);
	CHECK(s.max_request_time == 1.25);
	CHECK_INT(s.max_memory, 512);
	CHECK_INT(s.address_space, 1024);
	CHECK_INT(s.max_request_memory, 128);
	CHECK_INT(s.limit_workmem_after_req, 32);
	CHECK_INT(s.shared_memory, 2);
	CHECK(s.storage);
	CHECK(!s.ephemeral);
	CHECK(!s.ephemeral_keep_working_memory);
	CHECK(s.control_ephemeral);
	CHECK(s.hugepages);
	CHECK_INT(s.hugepage_arena_size, 64);
	CHECK_INT(s.request_hugepage_arena_size, 8);
	CHECK(s.split_hugepages && s.transparent_hugepages);
	CHECK(s.allow_debug && s.remote_debug_on_exception);
	CHECK_INT(s.main_argument_count, 2);
	if (s.main_argument_count == 2) {
		CHECK_STR(s.main_arguments[0], "--fast");
		CHECK_STR(s.main_arguments[1], "x");
	}
	CHECK_INT(s.environment_count, 2);
	if (s.environment_count == 2) {
		CHECK_STR(s.environment[0], "A=1");
		CHECK_STR(s.environment[1], "B=two=2");
	}
	CHECK_INT(s.allowed_path_count, 2);
	if (s.allowed_path_count == 2) {
		CHECK_STR(s.allowed_paths[0].real, "/etc/hosts");
		CHECK_STR(s.allowed_paths[0].virtual_path, "/etc/hosts");
		CHECK(!s.allowed_paths[0].prefix && !s.allowed_paths[0].writable && !s.allowed_paths[0].symlink);
		CHECK_STR(s.allowed_paths[1].real, "/srv/data");
		CHECK_STR(s.allowed_paths[1].virtual_path, "/data");
		CHECK(s.allowed_paths[1].prefix && s.allowed_paths[1].writable && !s.allowed_paths[1].symlink);
	}
	CHECK_STR(s.current_working_directory, "/data");
	CHECK_STR(tkvm_settings_working_directory(&s), "/data");
	CHECK(s.remapping_address == 0x100000000ull);
	CHECK_INT(s.remapping_size, 16);
	CHECK(s.executable_remapping_address == 0xC0000000ull);
	CHECK_INT(s.executable_remapping_size, 4);
	CHECK(s.stdout_enabled && s.verbose && s.verbose_syscalls);
	CHECK(s.warmup.enabled);
	CHECK_INT(s.warmup.num_requests, 5);
	CHECK_STR(s.warmup.url, "/warm");
	CHECK_STR(s.warmup.method, "POST");
	CHECK_INT(s.warmup.header_count, 2);
	if (s.warmup.header_count == 2)
		CHECK_STR(s.warmup.headers[1], "Host: example.com");
	tkvm_settings_free(&s);
}

/* Keys whose meaning reaches beyond their own field, as in the VMOD. */
static void test_linked_keys(void)
{
	struct tkvm_settings s;
	struct tkvm_error err;
	/* max_memory raises address_space when address_space is not given. */
	CHECK_INT(parse("{\"max_memory\": 1024}", &s, NULL, &err), 0);
	CHECK_INT(s.address_space, 1024);
	tkvm_settings_free(&s);
	/* keeping working memory implies ephemeral */
	CHECK_INT(parse("{\"ephemeral\": false, \"ephemeral_keep_working_memory\": true}", &s, NULL, &err), 0);
	CHECK(s.ephemeral);
	tkvm_settings_free(&s);
	/* a hugepage arena turns hugepages on, and off again at 0 */
	CHECK_INT(parse("{\"hugepage_arena_size\": 4}", &s, NULL, &err), 0);
	CHECK(s.hugepages);
	tkvm_settings_free(&s);
	CHECK_INT(parse("{\"hugepages\": true, \"hugepage_arena_size\": 0}", &s, NULL, &err), 0);
	CHECK(!s.hugepages);
	tkvm_settings_free(&s);
	/* the VMOD's names for two keys */
	CHECK_INT(parse("{\"req_mem_limit_after_reset\": 12, \"request_hugepages\": 6}", &s, NULL, &err), 0);
	CHECK_INT(s.limit_workmem_after_req, 12);
	CHECK_INT(s.request_hugepage_arena_size, 6);
	tkvm_settings_free(&s);
	/* warmup defaults */
	CHECK_INT(parse("{\"warmup\": {}}", &s, NULL, &err), 0);
	CHECK(s.warmup.enabled);
	CHECK_INT(s.warmup.num_requests, 20);
	CHECK_STR(s.warmup.url, "/");
	CHECK_STR(s.warmup.method, "GET");
	tkvm_settings_free(&s);
	/* remapping as the VMOD's one-entry object */
	CHECK_INT(parse("{\"remapping\": {\"gpu\": [\"0x200000000\", 2]}}", &s, NULL, &err), 0);
	CHECK(s.remapping_address == 0x200000000ull);
	CHECK_INT(s.remapping_size, 2);
	tkvm_settings_free(&s);
	/* a repeated key: the last wins */
	CHECK_INT(parse("{\"concurrency\": 3, \"concurrency\": 4}", &s, NULL, &err), 0);
	CHECK_INT(s.concurrency, 4);
	tkvm_settings_free(&s);
}

static void test_comments(void)
{
	const char *text =
		"// settings for hello\n"
		"{\n"
		"  /* a block\n"
		"     comment over lines */\n"
		"  \"uri\": \"http://example.com/a//b/*c*/\", // not a comment inside the string\n"
		"  \"key\": \"q\\\"//x\", /* escaped quote before the slashes */\n"
		"  \"concurrency\": /* inline */ 4\n"
		"}\n"
		"// trailing comment\n";
	struct tkvm_settings s;
	struct tkvm_error err;
	CHECK_INT(parse(text, &s, NULL, &err), 0);
	CHECK_STR(s.uri, "http://example.com/a//b/*c*/");
	CHECK_STR(s.key, "q\"//x");
	CHECK_INT(s.concurrency, 4);
	tkvm_settings_free(&s);

	/* Lines stay true after a multi-line comment. */
	expect_error("{\n/*\n\n*/\n  \"max_memory\": \"lots\"\n}", "hello.json:5: \"max_memory\"", NULL);
	expect_error("{\n/*\n\n*/\n  \"max_memory\" 1\n}", "hello.json:5:16: invalid JSON: ", "expected ':'");
	expect_error("{\"a\": 1 /* never closed\n}", "hello.json:1:9: invalid JSON: unterminated /* comment", NULL);
	expect_error("{} /", "hello.json:1:4: invalid JSON: unexpected text after the JSON value", NULL);
}

static void test_syntax_errors(void)
{
	expect_error("{\n  \"max_memory\": 64,\n  \"concurrency\": 2,\n}\n", "hello.json:3:19: invalid JSON: trailing comma",
		     "near '\"concurrency\": 2,'");
	expect_error("{\"environment\": [\"A=1\",\n ]}", "hello.json:1:23: invalid JSON: trailing comma", NULL);
	expect_error("{\n \"a\": 1\n \"b\": 2}", "hello.json:3:2: invalid JSON: missing ',' between members", NULL);
	expect_error("{'a': 1}", "hello.json:1:2: invalid JSON: ", "double quotes");
	expect_error("{a: 1}", "hello.json:1:2: invalid JSON: unquoted word", NULL);
	expect_error("{\"a\": tru}", "hello.json:1:7: invalid JSON: unquoted word", NULL);
	expect_error("{\"a\": \"never closed}", "hello.json:1:7: invalid JSON: unterminated string", NULL);
	expect_error("{\"a\": \"x\\q\"}", "hello.json:1:9: invalid JSON: invalid escape '\\q'", NULL);
	expect_error("{\"a\": -}", "hello.json:1:7: invalid JSON: invalid number", NULL);
	expect_error("{\"a\": [1, 2}", "hello.json:1:12: invalid JSON: unexpected '}', expected ',' or ']'", NULL);
	expect_error("{\"a\": 1", "hello.json:1:8: invalid JSON: unexpected end of text", NULL);
	expect_error("", "hello.json:1:1: invalid JSON: empty text", NULL);
	expect_error("  // only a comment\n", "hello.json:2:1: invalid JSON: empty text", NULL);
	expect_error("{} {}", "hello.json:1:4: invalid JSON: unexpected text after the JSON value", NULL);

	/* A NUL byte would cut a string short in the parser. */
	struct tkvm_settings s;
	struct tkvm_error err;
	tkvm_settings_init(&s);
	CHECK(program_settings_parse("{\"a\":\0}", 7, "hello.json", &s, NULL, NULL, &err) < 0);
	CHECK_CONTAINS(err.message, "hello.json:1:6: invalid JSON: NUL byte");
	/* Length is honoured: text need not be terminated. */
	CHECK_INT(program_settings_parse("{\"concurrency\": 5}garbage", 18, "hello.json", &s, NULL, NULL, &err), 0);
	CHECK_INT(s.concurrency, 5);
	tkvm_settings_free(&s);

	/* Deep nesting is refused, not a stack overflow. */
	size_t depth = 5000;
	char *deep = malloc(2 * depth + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = 0;
	expect_error(deep, "invalid JSON: nested more than 1000 levels deep", NULL);
	free(deep);

	/* The settings must be an object. */
	expect_error("[1, 2]", "hello.json:1: program settings must be a JSON object, got an array", NULL);
	expect_error("\n\"x\"", "hello.json:2: program settings must be a JSON object, got \"x\"", NULL);
}

static void test_wrong_types(void)
{
	/* The message the spec gives as the example, exactly. */
	struct tkvm_settings s;
	struct tkvm_error err;
	int rc = parse("{\n  \"concurrency\": 2,\n  \"max_memory\": \"lots\"\n}", &s, NULL, &err);
	CHECK_INT(rc, -EINVAL);
	CHECK_STR(err.message, "hello.json:3: \"max_memory\" must be a number of megabytes, got \"lots\"");
	tkvm_settings_free(&s);

	expect_error("{\n\"uri\": 5}", "hello.json:2: \"uri\" must be a string, got 5", NULL);
	expect_error("{\"uri\": \"\"}", "hello.json:1: \"uri\" must not be empty", NULL);
	expect_error("{\"storage\": \"yes\"}", "hello.json:1: \"storage\" must be true or false, got \"yes\"", NULL);
	expect_error("{\"storage\": 1}", "\"storage\" must be true or false, got 1", NULL);
	expect_error("{\"start\": null}", "\"start\" must be true or false, got null", NULL);
	expect_error("{\"concurrency\": 0}", "\"concurrency\" must be a whole number from 1 to 255, got 0", NULL);
	expect_error("{\"concurrency\": 256}", "\"concurrency\" must be a whole number from 1 to 255, got 256", NULL);
	expect_error("{\"concurrency\": 2.5}", "\"concurrency\" must be a whole number from 1 to 255, got 2.5", NULL);
	expect_error("{\"max_boot_time\": 0}", "\"max_boot_time\" must be more than 0 and at most 3600 seconds, got 0",
		     NULL);
	expect_error("{\"max_request_time\": 3601}", "\"max_request_time\" must be more than 0 and at most 3600", NULL);
	expect_error("{\"max_request_time\": 1e999}", "\"max_request_time\" must be more than 0", "got inf");
	expect_error("{\"max_request_time\": [1]}", "\"max_request_time\" must be a number of seconds, got an array",
		     NULL);
	expect_error("{\"max_memory\": 0}", "\"max_memory\" must be from 1 to 65536 megabytes, got 0", NULL);
	expect_error("{\"max_memory\": 65537}", "\"max_memory\" must be from 1 to 65536 megabytes", NULL);
	expect_error("{\"max_memory\": 1.5}", "\"max_memory\" must be a whole number of megabytes, got 1.5", NULL);
	expect_error("{\"max_request_memory\": 4096}", "\"max_request_memory\" must be from 1 to 4095 megabytes", NULL);
	expect_error("{\"hugepage_arena_size\": 3}", "\"hugepage_arena_size\" must be a multiple of 2 megabytes", NULL);
	expect_error("{\n\"max_memory\": 512,\n\"address_space\": 256\n}",
		     "hello.json:3: \"address_space\" (256 MB) must be at least \"max_memory\" (512 MB)", NULL);
	expect_error("{\"sha256\": \"abc\"}", "\"sha256\" must be 64 hexadecimal digits", NULL);
	expect_error("{\"current_working_directory\": \"data\"}",
		     "\"current_working_directory\" must be an absolute path, got \"data\"", NULL);
	expect_error("{\"main_arguments\": \"--fast\"}", "\"main_arguments\" must be an array of strings, got \"--fast\"",
		     NULL);
	expect_error("{\"main_arguments\": [\n\"a\",\n 7]}", "hello.json:3: \"main_arguments\"[1] must be a string, got 7",
		     NULL);
	expect_error("{\"environment\": [\"A=1\",\n \"NOEQUALS\"]}",
		     "hello.json:2: \"environment\"[1] must look like NAME=value, got \"NOEQUALS\"", NULL);
	expect_error("{\"environment\": [\"=1\"]}", "\"environment\"[0] must look like NAME=value", NULL);
	expect_error("{\"allowed_paths\": \"/etc\"}", "\"allowed_paths\" must be an array", NULL);
	expect_error("{\"allowed_paths\": [\"/a\",\n 5]}",
		     "hello.json:2: \"allowed_paths\"[1] must be a path string or an object with \"real\", got 5", NULL);
	expect_error("{\"allowed_paths\": [{\"virtual\": \"/x\"}]}", "\"allowed_paths\"[0] has no \"real\" path", NULL);
	expect_error("{\"allowed_paths\": [{\"real\": \"/a\",\n \"writable\": \"yes\"}]}",
		     "hello.json:2: \"allowed_paths\"[0].writable must be true or false, got \"yes\"", NULL);
	expect_error("{\"allowed_paths\": [{\"real\": \"/a\", \"symlink\": true}]}",
		     "\"allowed_paths\"[0] is a symlink and needs a \"virtual\" path", NULL);
	expect_error("{\"allowed_paths\": [{\"real\": \"/a\", \"virtual\": \"/a\", \"symlink\": true}]}",
		     "different from \"real\"", NULL);
	expect_error("{\"remapping\": \"0x100000000\"}", "\"remapping\" must be [\"0xADDRESS\", megabytes]", NULL);
	expect_error("{\"remapping\": [\"zz\", 4]}", "\"remapping\" address must be a hexadecimal string", NULL);
	expect_error("{\"remapping\": [\"0x100000001\", 4]}", "\"remapping\" address must be 4 KiB aligned", NULL);
	expect_error("{\"remapping\": [\"0x1000\", 4]}", "at least 0x20000", NULL);
	expect_error("{\"remapping\": [\"0x100000000\", 0]}", "\"remapping\" must be from 1 to 65536 megabytes", NULL);
	expect_error("{\"remapping\": [\"0x7ffffff00000\", 4]}", "beyond the 47-bit address space", NULL);
	expect_error("{\"remapping\": {\"a\": [\"0x100000000\", 1], \"b\": [\"0x200000000\", 1]}}",
		     "exactly one range", NULL);
	expect_error("{\"warmup\": 5}", "\"warmup\" must be an object", NULL);
	expect_error("{\"warmup\": {\n\"num_requests\": -1}}", "hello.json:2: \"warmup\".num_requests must be", NULL);
	expect_error("{\"warmup\": {\"url\": \"warm\"}}", "\"warmup\".url must be a path starting with '/'", NULL);
	expect_error("{\"warmup\": {\"headers\": [\"X-Ok: 1\",\n \"broken\"]}}",
		     "hello.json:2: \"warmup\".headers[1] must look like \"Name: value\", got \"broken\"", NULL);
	/* Hostile text in a value is quoted, escaped and cut. */
	expect_error("{\"max_memory\": \"\\u0001\\n\\\"x\\\"\"}",
		     "got \"\\x01\\x0a\\\"x\\\"\"", NULL);
}

static void test_unknown_keys(void)
{
	const char *text =
		"{\n"
		"  \"uri\": \"https://example.com/x\",\n"
		"  \"concurrency\": 3,\n"
		"  \"max_memroy\": 64,\n"
		"  \"Max_Request_Time\": 2,\n"
		"  \"frobnicate\": true,\n"
		"  \"allowed_paths\": [{\"real\": \"/a\",\n"
		"                     \"writeable\": true}],\n"
		"  \"warmup\": {\"num_request\": 2}\n"
		"}\n";
	struct tkvm_settings s;
	struct tkvm_error err;
	struct warnings w;
	CHECK_INT(parse(text, &s, &w, &err), 0);
	CHECK_INT(w.count, 5);
	CHECK_CONTAINS(w.all, "hello.json:4: unknown key \"max_memroy\" (ignored; did you mean \"max_memory\"?)\n");
	CHECK_CONTAINS(w.all, "hello.json:5: unknown key \"Max_Request_Time\" (ignored; did you mean \"max_request_time\"?)");
	CHECK_CONTAINS(w.all, "hello.json:6: unknown key \"frobnicate\" (ignored)\n");
	CHECK_CONTAINS(w.all, "hello.json:8: unknown key \"writeable\" in \"allowed_paths[0]\" (ignored; did you mean \"writable\"?)");
	CHECK_CONTAINS(w.all, "hello.json:9: unknown key \"num_request\" in \"warmup\" (ignored; did you mean \"num_requests\"?)");
	/* never used: the misspelt values did not land anywhere */
	CHECK_INT(s.max_memory, 256);
	CHECK(s.max_request_time == 8.0);
	CHECK_INT(s.concurrency, 3);
	CHECK_INT(s.allowed_path_count, 1);
	tkvm_settings_free(&s);

	/* No callback: still fine. */
	tkvm_settings_init(&s);
	CHECK_INT(program_settings_parse("{\"bogus\": 1}", 12, NULL, &s, NULL, NULL, &err), 0);
	tkvm_settings_free(&s);
}

static void test_variable_expansion(void)
{
	char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("HOME", "/home/tester", 1);
	char cwd[PATH_MAX];
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	const char *text =
		"{\"filename\": \"$HOME/programs/hello\",\n"
		" \"main_arguments\": [\"--data=$HOME/data\", \"$PWD\"],\n"
		" \"environment\": [\"CACHE=$HOME/.cache:$HOME/tmp\"],\n"
		" \"allowed_paths\": [\"$HOME/a\", {\"real\": \"$PWD/b\", \"virtual\": \"$HOME/v\"}],\n"
		" \"uri\": \"https://example.com/$HOME\"}";
	struct tkvm_settings s;
	struct tkvm_error err;
	CHECK_INT(parse(text, &s, NULL, &err), 0);
	CHECK_STR(s.filename, "/home/tester/programs/hello");
	CHECK_INT(s.main_argument_count, 2);
	char expected[PATH_MAX + 16];
	if (s.main_argument_count == 2) {
		CHECK_STR(s.main_arguments[0], "--data=/home/tester/data");
		CHECK_STR(s.main_arguments[1], cwd);
	}
	CHECK_INT(s.environment_count, 1);
	if (s.environment_count == 1)
		CHECK_STR(s.environment[0], "CACHE=/home/tester/.cache:/home/tester/tmp");
	CHECK_INT(s.allowed_path_count, 2);
	if (s.allowed_path_count == 2) {
		CHECK_STR(s.allowed_paths[0].real, "/home/tester/a");
		CHECK_STR(s.allowed_paths[0].virtual_path, "/home/tester/a");
		snprintf(expected, sizeof expected, "%s/b", cwd);
		CHECK_STR(s.allowed_paths[1].real, expected);
		CHECK_STR(s.allowed_paths[1].virtual_path, "/home/tester/v");
	}
	/* Only the keys the spec names are expanded. */
	CHECK_STR(s.uri, "https://example.com/$HOME");
	tkvm_settings_free(&s);

	/* Without HOME the text stays as written, as in the VMOD. */
	unsetenv("HOME");
	CHECK_INT(parse("{\"filename\": \"$HOME/x\"}", &s, NULL, &err), 0);
	CHECK_STR(s.filename, "$HOME/x");
	tkvm_settings_free(&s);
	if (saved_home)
		setenv("HOME", saved_home, 1);
	free(saved_home);
}

static void test_allowed_paths(void)
{
	struct tkvm_settings s;
	struct tkvm_error err;
	CHECK_INT(parse("{\"allowed_paths\": [\"/etc/ssl/certs\", {\"real\": \"/srv/x\"},\n"
			"  {\"real\": \"/srv/link-target\", \"virtual\": \"/link\", \"symlink\": true},\n"
			"  {\"real\": \"/srv/y\", \"virtual\": \"\"}]}",
			&s, NULL, &err),
		  0);
	CHECK_INT(s.allowed_path_count, 4);
	if (s.allowed_path_count == 4) {
		CHECK_STR(s.allowed_paths[0].virtual_path, "/etc/ssl/certs");
		CHECK_STR(s.allowed_paths[1].real, "/srv/x");
		CHECK_STR(s.allowed_paths[1].virtual_path, "/srv/x");
		CHECK(s.allowed_paths[2].symlink);
		CHECK_STR(s.allowed_paths[2].virtual_path, "/link");
		CHECK_STR(s.allowed_paths[3].virtual_path, "/srv/y");
	}
	/* A second object (a program over its group) appends. */
	cJSON *program = cJSON_Parse("{\"allowed_paths\": [\"/more\"]}");
	CHECK_INT(program_settings_apply(program, NULL, "library", &s, NULL, NULL, &err), 0);
	cJSON_Delete(program);
	CHECK_INT(s.allowed_path_count, 5);
	if (s.allowed_path_count == 5)
		CHECK_STR(s.allowed_paths[4].real, "/more");
	tkvm_settings_free(&s);
	/* A failure half-way through leaks nothing (ASan checks). */
	expect_error("{\"allowed_paths\": [\"/a\", {\"real\": \"/b\", \"virtual\": 3}]}",
		     "\"allowed_paths\"[1].virtual must be a path string, got 3", NULL);
	expect_error("{\"allowed_paths\": [{\"real\": \"\"}]}", "\"allowed_paths\"[0].real must not be empty", NULL);
}

/* A library: a group and programs. A program applies its group's settings
 * and then its own; messages give the line within the right program. */
static void test_library_layering(void)
{
	const char *text =
		"{\n"
		"  \"compute\": { \"concurrency\": 4, \"environment\": [\"G=1\"], \"main_arguments\": [\"g\"] },\n"
		"  \"first\": { \"group\": \"compute\", \"uri\": \"https://x/1\",\n"
		"             \"max_memory\": 64 },\n"
		"  \"second\": { \"group\": \"compute\", \"uri\": \"https://x/2\",\n"
		"              \"environment\": [\"P=2\"], \"main_arguments\": [\"p\"],\n"
		"              \"max_memory\": \"big\" }\n"
		"}\n";
	struct tkvm_error err;
	cJSON *library = json_text_parse(text, strlen(text), "library.json", &err);
	CHECK(library != NULL);
	if (!library)
		return;
	struct tkvm_settings group, program;
	tkvm_settings_init(&group);
	CHECK_INT(program_settings_apply(cJSON_GetObjectItemCaseSensitive(library, "compute"), text, "library.json",
					 &group, NULL, NULL, &err),
		  0);
	CHECK_INT(tkvm_settings_copy(&program, &group), 0);
	const char *bad = "{\"environment\": [\"P=2\"], \"main_arguments\": [\"p\"]}";
	CHECK_INT(program_settings_parse(bad, strlen(bad), "inline", &program, NULL, NULL, &err), 0);
	CHECK_INT(program.concurrency, 4);
	CHECK_INT(program.environment_count, 2); /* appended to the group's */
	CHECK_INT(program.main_argument_count, 1); /* replaced */
	if (program.main_argument_count == 1)
		CHECK_STR(program.main_arguments[0], "p");
	tkvm_settings_free(&program);

	CHECK_INT(tkvm_settings_copy(&program, &group), 0);
	int rc = program_settings_apply(cJSON_GetObjectItemCaseSensitive(library, "second"), text, "library.json",
					&program, NULL, NULL, &err);
	CHECK(rc < 0);
	/* line 7, not line 4 where "first" has its own max_memory */
	CHECK_STR(err.message, "library.json:7: \"max_memory\" must be a number of megabytes, got \"big\"");
	tkvm_settings_free(&program);
	tkvm_settings_free(&group);
	cJSON_Delete(library);
}

static void test_key_line(void)
{
	const char *text =
		"{\n"
		"  // \"max_memory\": 1\n"
		"  /* \"max_memory\": 2 */\n"
		"  \"note\": \"\\\"max_memory\\\": 3\",\n"
		"  \"list\": [\"max_memory\", \"x\"],\n"
		"  \"max_memory\"  :  4\n"
		"}\n";
	CHECK_INT(json_text_key_line(text, "max_memory"), 6);
	CHECK_INT(json_text_key_line(text, "note"), 4);
	CHECK_INT(json_text_key_line(text, "missing"), 0);
	CHECK_INT(json_text_key_line(NULL, "x"), 0);
	/* Repeated keys: the line follows the repetition. */
	expect_error("{\"concurrency\": 2,\n\"concurrency\": 0}", "hello.json:2: \"concurrency\"", NULL);
}

/* Lines survive keys written with escapes, the warnings stop at a sane
 * number, and a text that is not the object's source only loses lines. */
static void test_lines_odd_cases(void)
{
	struct tkvm_settings s;
	struct tkvm_error err;
	struct warnings w;
	expect_error("{\"\\u0075ri\": \"x\",\n\"max_memory\": true}", "hello.json:2: \"max_memory\"", NULL);

	char text[8192] = "{";
	for (int i = 0; i < 100; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "%s\"unknown%d\": %d", i ? ",\n" : "", i, i);
	strcat(text, "}");
	CHECK_INT(parse(text, &s, &w, &err), 0);
	CHECK_INT(w.count, 33);
	CHECK_CONTAINS(w.all, "hello.json:32: unknown key \"unknown31\" (ignored)\n");
	CHECK_CONTAINS(w.last, "hello.json: more unknown keys not reported");
	tkvm_settings_free(&s);

	cJSON *object = cJSON_Parse("{\"concurrency\": \"many\"}");
	tkvm_settings_init(&s);
	CHECK(program_settings_apply(object, "[1, 2, 3]", "other.json", &s, NULL, NULL, &err) < 0);
	CHECK_STR(err.message, "other.json: \"concurrency\" must be a whole number from 1 to 255, got \"many\"");
	CHECK(program_settings_apply(object, "{\"x\": 1}", "other.json", &s, NULL, NULL, &err) < 0);
	CHECK_STR(err.message, "other.json: \"concurrency\" must be a whole number from 1 to 255, got \"many\"");
	CHECK(program_settings_apply(object, NULL, NULL, &s, NULL, NULL, &err) < 0);
	CHECK_STR(err.message, "\"concurrency\" must be a whole number from 1 to 255, got \"many\"");
	cJSON_Delete(object);
	CHECK(program_settings_apply(NULL, NULL, NULL, &s, NULL, NULL, &err) < 0);
	CHECK_CONTAINS(err.message, "must be a JSON object");
	tkvm_settings_free(&s);
}

static void test_set(void)
{
	struct tkvm_settings s;
	struct tkvm_error err;
	tkvm_settings_init(&s);
	CHECK_INT(program_settings_set(&s, "max_request_time", "2", &err), 0);
	CHECK(s.max_request_time == 2.0);
	CHECK_INT(program_settings_set(&s, "max_boot_time", " 0.5 ", &err), 0);
	CHECK(s.max_boot_time == 0.5);
	CHECK_INT(program_settings_set(&s, "concurrency", "16", &err), 0);
	CHECK_INT(s.concurrency, 16);
	CHECK_INT(program_settings_set(&s, "max_memory", "1024", &err), 0);
	CHECK_INT(s.max_memory, 1024);
	CHECK_INT(s.address_space, 1024);
	CHECK_INT(program_settings_set(&s, "storage", "yes", &err), 0);
	CHECK(s.storage);
	CHECK_INT(program_settings_set(&s, "storage", "FALSE", &err), 0);
	CHECK(!s.storage);
	CHECK_INT(program_settings_set(&s, "verbose", "1", &err), 0);
	CHECK(s.verbose);
	CHECK_INT(program_settings_set(&s, "ephemeral", "no", &err), 0);
	CHECK(!s.ephemeral);
	CHECK_INT(program_settings_set(&s, "uri", "https://example.com/p", &err), 0);
	CHECK_STR(s.uri, "https://example.com/p");
	CHECK_INT(program_settings_set(&s, "environment", "A=1", &err), 0);
	CHECK_INT(program_settings_set(&s, "environment", "B=2", &err), 0);
	CHECK_INT(s.environment_count, 2);
	if (s.environment_count == 2)
		CHECK_STR(s.environment[1], "B=2");
	CHECK_INT(program_settings_set(&s, "main_arguments", "one", &err), 0);
	CHECK_INT(program_settings_set(&s, "main_arguments", "two", &err), 0);
	CHECK_INT(s.main_argument_count, 2);
	CHECK_INT(program_settings_set(&s, "allowed_paths", "/etc/hosts", &err), 0);
	CHECK_INT(program_settings_set(&s, "allowed_paths", "{\"real\": \"/srv\", \"virtual\": \"/data\", \"prefix\": true}",
				       &err),
		  0);
	CHECK_INT(s.allowed_path_count, 2);
	if (s.allowed_path_count == 2) {
		CHECK_STR(s.allowed_paths[0].virtual_path, "/etc/hosts");
		CHECK_STR(s.allowed_paths[1].virtual_path, "/data");
		CHECK(s.allowed_paths[1].prefix);
	}
	CHECK_INT(program_settings_set(&s, "remapping", "[\"0x100000000\", 8]", &err), 0);
	CHECK_INT(s.remapping_size, 8);
	CHECK_INT(program_settings_set(&s, "warmup", "{\"num_requests\": 3}", &err), 0);
	CHECK_INT(s.warmup.num_requests, 3);

	/* Bad values: same checks as in JSON, and nothing changes. */
	CHECK_INT(program_settings_set(&s, "max_memory", "lots", &err), -EINVAL);
	CHECK_STR(err.message, "\"max_memory\" must be a number of megabytes, got \"lots\"");
	CHECK_INT(s.max_memory, 1024);
	CHECK(program_settings_set(&s, "max_memory", "0x10", &err) < 0);
	CHECK(program_settings_set(&s, "max_memory", "inf", &err) < 0);
	CHECK(program_settings_set(&s, "max_memory", "", &err) < 0);
	CHECK(program_settings_set(&s, "concurrency", "300", &err) < 0);
	CHECK_CONTAINS(err.message, "\"concurrency\" must be a whole number from 1 to 255, got 300");
	CHECK_INT(s.concurrency, 16);
	CHECK(program_settings_set(&s, "max_request_time", "0", &err) < 0);
	CHECK(program_settings_set(&s, "storage", "maybe", &err) < 0);
	CHECK_STR(err.message, "\"storage\" must be true or false, got \"maybe\"");
	CHECK(program_settings_set(&s, "environment", "NOVALUE", &err) < 0);
	CHECK_CONTAINS(err.message, "\"environment\"[0] must look like NAME=value");
	CHECK_INT(s.environment_count, 2);
	CHECK(program_settings_set(&s, "address_space", "512", &err) < 0);
	CHECK_CONTAINS(err.message, "\"address_space\" (512 MB) must be at least \"max_memory\" (1024 MB)");
	CHECK(program_settings_set(&s, "remapping", "[\"0x100000000\"", &err) < 0);
	CHECK_CONTAINS(err.message, "remapping:1:");
	CHECK_CONTAINS(err.message, "invalid JSON");
	CHECK(program_settings_set(&s, "allowed_paths", "{\"real\": \"/x\", \"writeable\": true}", &err) < 0);
	CHECK_CONTAINS(err.message, "unknown key \"writeable\"");
	CHECK_CONTAINS(err.message, "did you mean \"writable\"?");
	CHECK_INT(s.allowed_path_count, 2);
	CHECK(program_settings_set(&s, "max_memroy", "64", &err) < 0);
	CHECK_STR(err.message, "unknown setting \"max_memroy\" (did you mean \"max_memory\"?)");
	CHECK(program_settings_set(&s, "nothing_like_it", "64", &err) < 0);
	CHECK_STR(err.message, "unknown setting \"nothing_like_it\"");
	CHECK(program_settings_set(&s, NULL, "64", &err) < 0);
	CHECK(program_settings_set(&s, "uri", NULL, &err) < 0);
	tkvm_settings_free(&s);
}

static void fill_everything(struct tkvm_settings *s)
{
	const char *text =
		"{\"group\": \"g\", \"uri\": \"https://u\", \"filename\": \"/f\", \"key\": \"k\",\n"
		" \"sha256\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
		" \"main_arguments\": [\"a\", \"b\"], \"environment\": [\"E=1\"],\n"
		" \"allowed_paths\": [\"/p\", {\"real\": \"/r\", \"virtual\": \"/v\", \"writable\": true}],\n"
		" \"current_working_directory\": \"/w\",\n"
		" \"warmup\": {\"url\": \"/u\", \"method\": \"PUT\", \"headers\": [\"A: b\"]}}";
	struct tkvm_error err;
	CHECK_INT(parse(text, s, NULL, &err), 0);
	s->name = strdup("hello");
}

static void test_copy_free(void)
{
	struct tkvm_settings original, copy;
	fill_everything(&original);
	CHECK_INT(tkvm_settings_copy(&copy, &original), 0);
	tkvm_settings_free(&original);
	/* the copy owns its own memory: still intact after the original is gone */
	CHECK_STR(copy.name, "hello");
	CHECK_STR(copy.group, "g");
	CHECK_STR(copy.uri, "https://u");
	CHECK_STR(copy.filename, "/f");
	CHECK_STR(copy.key, "k");
	CHECK_INT(copy.main_argument_count, 2);
	if (copy.main_argument_count == 2)
		CHECK_STR(copy.main_arguments[1], "b");
	CHECK_INT(copy.environment_count, 1);
	CHECK_INT(copy.allowed_path_count, 2);
	if (copy.allowed_path_count == 2) {
		CHECK_STR(copy.allowed_paths[1].virtual_path, "/v");
		CHECK(copy.allowed_paths[1].writable);
	}
	CHECK_STR(copy.current_working_directory, "/w");
	CHECK_STR(copy.warmup.method, "PUT");
	CHECK_INT(copy.warmup.header_count, 1);
	/* free leaves defaults; freeing again is harmless */
	tkvm_settings_free(&copy);
	CHECK(copy.group == NULL && copy.main_arguments == NULL && copy.main_argument_count == 0);
	CHECK_INT(copy.concurrency, 2);
	tkvm_settings_free(&copy);
	/* copying defaults (all NULL) works, into an initialised struct too */
	struct tkvm_settings empty, into;
	tkvm_settings_init(&empty);
	tkvm_settings_init(&into);
	CHECK_INT(tkvm_settings_copy(&into, &empty), 0);
	CHECK(into.allowed_paths == NULL && into.environment == NULL);
	tkvm_settings_free(&into);
	CHECK(tkvm_settings_copy(NULL, &empty) < 0);
	tkvm_settings_free(NULL);
}

/* Settings applied over a group copy stay independent of the group. */
static void test_copy_then_apply(void)
{
	struct tkvm_settings group, program;
	struct tkvm_error err;
	fill_everything(&group);
	CHECK_INT(tkvm_settings_copy(&program, &group), 0);
	CHECK_INT(program_settings_set(&program, "environment", "P=1", &err), 0);
	CHECK_INT(program_settings_set(&program, "uri", "https://other", &err), 0);
	CHECK_INT(program_settings_set(&program, "warmup", "{}", &err), 0);
	CHECK_INT(group.environment_count, 1);
	CHECK_STR(group.uri, "https://u");
	CHECK_STR(group.warmup.method, "PUT");
	CHECK_INT(program.environment_count, 2);
	tkvm_settings_free(&program);
	tkvm_settings_free(&group);
}

static void test_error_helpers(void)
{
	struct tkvm_error err;
	tkvm_error_clear(&err);
	CHECK_INT(tkvm_error_set(&err, EINVAL, "bad %d", 1), -EINVAL);
	CHECK_STR(err.message, "bad 1");
	tkvm_error_prefix(&err, "loading %s", "hello");
	CHECK_STR(err.message, "loading hello: bad 1");
	/* A parse error without a source still says where. */
	struct tkvm_settings s;
	tkvm_settings_init(&s);
	CHECK(program_settings_parse("{,}", 3, NULL, &s, NULL, NULL, &err) < 0);
	CHECK_CONTAINS(err.message, "input:1:2: invalid JSON");
	CHECK(program_settings_parse(NULL, 0, "x.json", &s, NULL, NULL, &err) < 0);
	CHECK(program_settings_parse("{}", 2, "x.json", &s, NULL, NULL, NULL) == 0);
	CHECK(program_settings_parse("{", 1, "x.json", &s, NULL, NULL, NULL) < 0);
	tkvm_settings_free(&s);
}

int main(void)
{
	TEST(test_defaults);
	TEST(test_every_key);
	TEST(test_linked_keys);
	TEST(test_comments);
	TEST(test_syntax_errors);
	TEST(test_wrong_types);
	TEST(test_unknown_keys);
	TEST(test_variable_expansion);
	TEST(test_allowed_paths);
	TEST(test_library_layering);
	TEST(test_key_line);
	TEST(test_lines_odd_cases);
	TEST(test_set);
	TEST(test_copy_free);
	TEST(test_copy_then_apply);
	TEST(test_error_helpers);
	return tap_exit_code();
}
