/* Real programs in real KVM through libtkvm, with both C libraries: the
 * request models, bodies and headers, files, C++, and every failure the
 * host must turn into a clear error without being harmed. */
#include "tests/lib/guest_run.h"
#include "tests/lib/tap.h"
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct tkvm_settings settings;

static void settings_reset(void)
{
	tkvm_settings_free(&settings);
	tkvm_settings_init(&settings);
}

static uint64_t fnv1a(const uint8_t *data, size_t length)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < length; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return h;
}

static void hello_callback(void)
{
	struct tkvm_program *p = guest_boot("hello", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_CONTAINS(guest_output.text, "hello: ready");
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/hello", "", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_INT(r.outcome, TKVM_OUTCOME_OK);
	CHECK_STR(r.content_type, "text/plain");
	CHECK_STR(guest_body(&r), "Hello from tkvm: /hello\n");
	/* A hello request is one entry and one exit: backend_response. */
	CHECK_INT(tkvm_program_stats(p)->request_exits, 1);
	tkvm_response_free(&r);
	CHECK_INT(guest_request(p, "POST", "/form", "", "text/plain", (const uint8_t *)"abc", 3, NULL, &r), 0);
	CHECK_STR(guest_body(&r), "posted 3 bytes to /form\n");
	tkvm_response_free(&r);
	tkvm_program_destroy(p);
}

static void hello_paused(void)
{
	struct tkvm_program *p = guest_boot("hello_paused", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	for (int i = 0; i < 3; i++) {
		struct tkvm_response r;
		CHECK_INT(guest_request(p, i == 1 ? "POST" : "GET", "/p", "x=1", "", (const uint8_t *)"12345", i == 1 ? 5 : 0, NULL, &r), 0);
		CHECK_INT(r.status, 200);
		CHECK_STR(guest_body(&r), i == 1 ? "paused POST /p arg=x=1 len=5\n" : "paused GET /p arg=x=1 len=0\n");
		tkvm_response_free(&r);
	}
	tkvm_program_destroy(p);
}

static void static_pie(void)
{
	struct tkvm_program *p = guest_boot("hello_pie", NULL);
	CHECK(p != NULL);
	if (!p) {
		printf("# %s\n", guest_error.message);
		return;
	}
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/pie", "", "", NULL, 0, NULL, &r), 0);
	CHECK_STR(guest_body(&r), "Hello from tkvm: /pie\n");
	tkvm_response_free(&r);
	tkvm_program_destroy(p);
}

static void post_echo_10mb(void)
{
	size_t length = 10u << 20;
	uint8_t *body = malloc(length);
	for (size_t i = 0; i < length; i++)
		body[i] = (uint8_t)(i * 2654435761u >> 13);
	struct tkvm_program *p = guest_boot("echo", NULL);
	CHECK(p != NULL);
	if (p) {
		struct tkvm_response r;
		CHECK_INT(guest_request(p, "POST", "/echo", "", "application/x-test", body, length, NULL, &r), 0);
		CHECK_INT(r.status, 200);
		CHECK_STR(r.content_type, "application/x-test");
		CHECK_INT(r.body_length, length);
		CHECK(r.body_length == length && memcmp(r.body, body, length) == 0);
		char expected[64];
		snprintf(expected, sizeof expected, "X-Body-Fnv: %016llx", (unsigned long long)fnv1a(body, length));
		CHECK_STR(guest_header(&r, "X-Body-Fnv"), expected);
		CHECK_STR(guest_header(&r, "X-Body-Length"), "X-Body-Length: 10485760");
		tkvm_response_free(&r);
		tkvm_program_destroy(p);
	}
	free(body);
}

static void headers_in_and_out(void)
{
	struct tkvm_program *p = guest_boot("headers", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	const char *headers[] = {"X-Test: abc", "Accept: */*", NULL};
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/h", "q=1", "", NULL, 0, headers, &r), 0);
	CHECK_INT(r.status, 201);
	CHECK_STR(guest_header(&r, "X-Reply"), "X-Reply: abc");
	CHECK_STR(guest_header(&r, "X-Set"), "X-Set: b");
	CHECK(guest_header(&r, "X-Gone") == NULL);
	CHECK_STR(guest_header(&r, "X-Extra"), "X-Extra: yes");
	const char *body = guest_body(&r);
	CHECK_CONTAINS(body, "method=GET");
	CHECK_CONTAINS(body, "url=/h");
	CHECK_CONTAINS(body, "arg=q=1");
	CHECK_CONTAINS(body, "http_method=GET");
	CHECK_CONTAINS(body, "X-Test: abc\n");
	CHECK_CONTAINS(body, "Accept: */*\n");
	CHECK(!r.cacheable);
	tkvm_response_free(&r);
	CHECK_INT(guest_request(p, "GET", "/cache", "", "", NULL, 0, NULL, &r), 0);
	CHECK(r.cacheable);
	CHECK(r.ttl > 9.99 && r.ttl < 10.01);
	tkvm_response_free(&r);
	/* 65 request headers are refused before the program sees them. */
	const char *many[TKVM_MAX_REQUEST_HEADERS + 2];
	for (int i = 0; i <= TKVM_MAX_REQUEST_HEADERS; i++)
		many[i] = "X-Many: 1";
	many[TKVM_MAX_REQUEST_HEADERS + 1] = NULL;
	CHECK(guest_request(p, "GET", "/h", "", "", NULL, 0, many, &r) < 0);
	CHECK_CONTAINS(guest_error.message, "request headers");
	tkvm_program_destroy(p);
}

static char allowed_file[256], forbidden_file[256], allowed_dir[256];

static void files_allowed_and_forbidden(void)
{
	settings_reset();
	settings.allowed_path_count = 2;
	settings.allowed_paths = calloc(2, sizeof *settings.allowed_paths);
	settings.allowed_paths[0].real = strdup(allowed_file);
	settings.allowed_paths[1].real = strdup(allowed_dir);
	settings.allowed_paths[1].virtual_path = strdup("/data");
	settings.allowed_paths[1].prefix = true;
	struct tkvm_program *p = guest_boot("readfile", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/", allowed_file, "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(guest_body(&r), "allowed contents\n");
	tkvm_response_free(&r);
	CHECK_INT(guest_request(p, "GET", "/", forbidden_file, "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 404);
	CHECK_CONTAINS(guest_body(&r), "No such file or directory");
	tkvm_response_free(&r);
	CHECK_INT(guest_request(p, "GET", "/", "/data/inner.txt", "", NULL, 0, NULL, &r), 0);
	CHECK_STR(guest_body(&r), "inner\n");
	tkvm_response_free(&r);
	/* No way out of /data: not with "..", not through a symlink. */
	CHECK_INT(guest_request(p, "GET", "/", "/data/../../../etc/passwd", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 404);
	tkvm_response_free(&r);
	CHECK_INT(guest_request(p, "GET", "/", "/data/escape", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 404);
	CHECK_CONTAINS(guest_body(&r), "Permission denied");
	tkvm_response_free(&r);
	CHECK_INT(guest_request(p, "GET", "/stat", allowed_file, "", NULL, 0, NULL, &r), 0);
	CHECK_STR(guest_body(&r), "size=17\n");
	tkvm_response_free(&r);
	tkvm_program_destroy(p);
	settings_reset();
}

static void malloc_heavy(void)
{
	static char checksums[2][128];
	struct tkvm_program *p = guest_boot("malloc_heavy", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/", "20000", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	const char *body = guest_body(&r);
	CHECK_CONTAINS(body, "ok 20000 allocations, checksum ");
	/* Same deterministic work, same checksum, whatever the C library. */
	snprintf(checksums[strcmp(guest_libc, "musl") == 0], sizeof checksums[0], "%s", body);
	if (checksums[0][0] && checksums[1][0])
		CHECK_STR(checksums[0], checksums[1]);
	tkvm_response_free(&r);
	tkvm_program_destroy(p);
}

static void cpp_iostream_exceptions(void)
{
	struct tkvm_program *p = guest_boot("cpp_hello", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/cpp", "", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_CONTAINS(guest_body(&r), "caught: boom /cpp\n");
	CHECK_CONTAINS(guest_body(&r), "ctor=1");
	tkvm_response_free(&r);
	tkvm_program_destroy(p);
}

static void expect_failure(struct tkvm_program *p, const char *url, const char *fragment1, const char *fragment2)
{
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", url, "", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 500);
	CHECK_INT(r.outcome, TKVM_OUTCOME_FAILED);
	CHECK_INT(r.body_length, 0);
	CHECK_CONTAINS(r.error, fragment1);
	if (fragment2)
		CHECK_CONTAINS(r.error, fragment2);
	tkvm_response_free(&r);
}

static void expect_ok(struct tkvm_program *p, const char *url, const char *body)
{
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", url, "", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 200);
	CHECK_STR(guest_body(&r), body);
	tkvm_response_free(&r);
}

static void crashes_name_the_symbol(void)
{
	struct tkvm_program *p = guest_boot("crash", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	expect_failure(p, "/null", "NULL pointer dereference", "deref_null+0x");
	expect_ok(p, "/ok", "fine\n"); /* the VM is whole again after a crash */
	expect_failure(p, "/ud2", "invalid opcode", "illegal_instruction");
	expect_failure(p, "/div0", "divide error", "divide_by_zero");
	expect_failure(p, "/abort", "SIGABRT", "abort");
	expect_failure(p, "/stack", "stack overflow", "recurse_forever");
	expect_failure(p, "/exit", "exited with status 3", NULL);
	expect_ok(p, "/ok", "fine\n");
	tkvm_program_destroy(p);
}

static void on_error_second_chance(void)
{
	struct tkvm_program *p = guest_boot("crash_recover", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/null", "", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 503);
	CHECK_INT(r.outcome, TKVM_OUTCOME_RECOVERED);
	CHECK_CONTAINS(guest_body(&r), "recovered: segmentation fault: NULL pointer dereference");
	CHECK_CONTAINS(r.error, "deref_null");
	tkvm_response_free(&r);
	/* on_error crashing too: 500 with an empty body. */
	expect_failure(p, "/double", "NULL pointer dereference", NULL);
	expect_ok(p, "/ok", "fine\n");
	tkvm_program_destroy(p);
}

static void boot_failures(void)
{
	settings_reset();
	settings.max_boot_time = 0.3;
	CHECK(guest_boot("boot_loop", &settings) == NULL);
	CHECK_CONTAINS(guest_error.message, "did not call wait_for_requests within max_boot_time");
	CHECK_CONTAINS(guest_error.message, "main");
	CHECK(guest_boot("boot_exit", &settings) == NULL);
	CHECK_CONTAINS(guest_error.message, "program did not call wait_for_requests: it exited with status 0");
	settings_reset();
}

static void request_timeout(void)
{
	settings_reset();
	settings.max_request_time = 0.5;
	struct tkvm_program *p = guest_boot("request_loop", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	struct tkvm_response r;
	double start = guest_seconds();
	CHECK_INT(guest_request(p, "GET", "/", "", "", NULL, 0, NULL, &r), 0);
	double elapsed = guest_seconds() - start;
	CHECK_INT(r.status, 500);
	CHECK_CONTAINS(r.error, "timed out after 0.5 s");
	CHECK_CONTAINS(r.error, "on_get");
	/* The bound: ended within max_request_time + 100 ms. */
	CHECK(elapsed < 0.5 + 0.1);
	if (elapsed >= 0.6)
		printf("# request timeout took %.3f s\n", elapsed);
	tkvm_response_free(&r);
	tkvm_program_destroy(p);
	settings_reset();
}

static void memory_bomb(void)
{
	settings_reset();
	settings.max_memory = 64;
	settings.address_space = 64;
	struct tkvm_program *p = guest_boot("memory_bomb", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	expect_failure(p, "/", "out of memory (max_memory 64 MB", NULL);
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/mmap", "", "", NULL, 0, NULL, &r), 0);
	CHECK_INT(r.status, 507);
	CHECK_CONTAINS(guest_body(&r), "mmap failed after ");
	tkvm_response_free(&r);
	expect_ok(p, "/ok", "fine\n");
	tkvm_program_destroy(p);
	settings_reset();
}

static void hostile_host_calls(void)
{
	struct tkvm_program *p = guest_boot("hostile", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	expect_failure(p, "/wild-body", "backend_response: body (0xdead0000000", "outside guest memory");
	expect_failure(p, "/huge-length", "backend_response: body", "1099511627776 bytes");
	expect_failure(p, "/wild-ctype", "content type (0xdead0000000", NULL);
	expect_failure(p, "/long-ctype", "content type is 5000 bytes long", NULL);
	expect_failure(p, "/bad-status", "status 99 is not between 200 and 599", NULL);
	expect_failure(p, "/many-headers", "65 headers", NULL);
	expect_failure(p, "/wild-extra", "struct BackendResponseExtra", NULL);
	expect_failure(p, "/bad-where", "header set 7 does not exist", NULL);
	expect_failure(p, "/find-wild", "http_find: output buffer", NULL);
	expect_failure(p, "/register-late", "register_func", "before wait_for_requests");
	expect_failure(p, "/wait-twice", "wait_for_requests: called a second time", NULL);
	expect_failure(p, "/huge-log", "sys_log: length 1099511627776", NULL);
	expect_ok(p, "/unknown-call", "enosys ok\n");
	expect_ok(p, "/syscall-wild", "efault ok\n");
	tkvm_program_destroy(p);
	/* The host is unharmed: another program still answers. */
	struct tkvm_program *q = guest_boot("hello", NULL);
	CHECK(q != NULL);
	if (q) {
		expect_ok(q, "/after", "Hello from tkvm: /after\n");
		tkvm_program_destroy(q);
	}
}

static void syscall_coverage(void)
{
	struct tkvm_program *p = guest_boot("syscalls", NULL);
	CHECK(p != NULL);
	if (!p)
		return;
	struct tkvm_response r;
	CHECK_INT(guest_request(p, "GET", "/", "", "", NULL, 0, NULL, &r), 0);
	const char *body = guest_body(&r);
	CHECK(strstr(body, "=bad") == NULL);
	if (strstr(body, "=bad"))
		printf("# %s\n", body);
	CHECK_CONTAINS(body, "uname.sysname=Linux");
	CHECK_CONTAINS(body, "ioctl=ENOTTY");
	CHECK_CONTAINS(body, "getrandom=16");
	CHECK_CONTAINS(guest_output.text, "syscalls: a line on stdout");
	CHECK_CONTAINS(guest_output.text, "syscalls: a line on stderr");
	tkvm_response_free(&r);
	tkvm_program_destroy(p);
}

static void argv_and_environment(void)
{
	settings_reset();
	settings.name = strdup("envtest");
	settings.main_argument_count = 1;
	settings.main_arguments = calloc(1, sizeof(char *));
	settings.main_arguments[0] = strdup("--flag");
	settings.environment_count = 1;
	settings.environment = calloc(1, sizeof(char *));
	settings.environment[0] = strdup("EXTRA=1");
	struct tkvm_program *p = guest_boot("env", &settings);
	CHECK(p != NULL);
	if (p) {
		struct tkvm_response r;
		CHECK_INT(guest_request(p, "GET", "/", "", "", NULL, 0, NULL, &r), 0);
		const char *body = guest_body(&r);
		CHECK_CONTAINS(body, "argv[0]=envtest");
		CHECK_CONTAINS(body, "argv[1]=--flag");
		CHECK_CONTAINS(body, "env=LC_ALL=C");
		CHECK_CONTAINS(body, "env=EXTRA=1");
		CHECK_CONTAINS(body, "env=KVM_NAME=envtest");
		CHECK_CONTAINS(body, "env=KVM_TYPE=request");
		CHECK_CONTAINS(body, "at_random=present");
		tkvm_response_free(&r);
		tkvm_program_destroy(p);
	}
	settings_reset();
}

/* Malformed ELFs, made from a real one. */
static void expect_boot_error(const uint8_t *elf, size_t size, const char *fragment)
{
	struct tkvm_program *p = guest_boot_bytes(elf, size, NULL);
	CHECK(p == NULL);
	CHECK_CONTAINS(guest_error.message, fragment);
	if (p)
		tkvm_program_destroy(p);
}

static void malformed_elfs(void)
{
	size_t size;
	uint8_t *good = guest_read("hello", &size);
	uint8_t *bad = malloc(size);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)bad;
	expect_boot_error(good, 0, "ELF");
	expect_boot_error(good, 40, "truncated");
	expect_boot_error(good, 4096, "past the end of the file");
	memcpy(bad, good, size);
	eh->e_machine = EM_AARCH64;
	expect_boot_error(bad, size, "not x86-64");
	memcpy(bad, good, size);
	eh->e_entry = 0x10;
	expect_boot_error(bad, size, "entry");
	memcpy(bad, good, size);
	Elf64_Phdr *ph = (Elf64_Phdr *)(bad + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			ph[i].p_memsz = 1ull << 40; /* huge segment */
			break;
		}
	expect_boot_error(bad, size, "ELF");
	memcpy(bad, good, size);
	ph = (Elf64_Phdr *)(bad + eh->e_phoff);
	int first = -1;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			if (first < 0)
				first = i;
			else {
				ph[i].p_vaddr = ph[first].p_vaddr; /* overlapping segments */
				ph[i].p_paddr = ph[first].p_vaddr;
				break;
			}
		}
	expect_boot_error(bad, size, "overlap");
	memcpy(bad, good, size);
	memcpy(bad, "\x7f" "ELF", 4);
	bad[4] = 1; /* 32-bit */
	expect_boot_error(bad, size, "64-bit");
	free(bad);
	free(good);
	/* A dynamic executable: the host's own /bin/true. */
	FILE *f = fopen("/bin/true", "rb");
	if (f) {
		static uint8_t dyn[1 << 20];
		size_t n = fread(dyn, 1, sizeof dyn, f);
		fclose(f);
		expect_boot_error(dyn, n, "dynamic executables are not supported yet");
	}
}

static void run_all(const char *libc)
{
	guest_libc = libc;
	TEST_LABELED(hello_callback, libc);
	TEST_LABELED(hello_paused, libc);
	TEST_LABELED(static_pie, libc);
	TEST_LABELED(post_echo_10mb, libc);
	TEST_LABELED(headers_in_and_out, libc);
	TEST_LABELED(files_allowed_and_forbidden, libc);
	TEST_LABELED(malloc_heavy, libc);
	if (strcmp(libc, "glibc") == 0)
		TEST_LABELED(cpp_iostream_exceptions, libc);
	TEST_LABELED(crashes_name_the_symbol, libc);
	TEST_LABELED(on_error_second_chance, libc);
	TEST_LABELED(boot_failures, libc);
	TEST_LABELED(request_timeout, libc);
	TEST_LABELED(memory_bomb, libc);
	TEST_LABELED(hostile_host_calls, libc);
	TEST_LABELED(syscall_coverage, libc);
	TEST_LABELED(argv_and_environment, libc);
	TEST_LABELED(malformed_elfs, libc);
}

int main(void)
{
	char dir[] = "/tmp/tkvm-files-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	snprintf(allowed_file, sizeof allowed_file, "%s/allowed.txt", dir);
	snprintf(forbidden_file, sizeof forbidden_file, "%s/forbidden.txt", dir);
	snprintf(allowed_dir, sizeof allowed_dir, "%s/data", dir);
	char path[512];
	FILE *f = fopen(allowed_file, "w");
	fputs("allowed contents\n", f), fclose(f);
	f = fopen(forbidden_file, "w");
	fputs("secret\n", f), fclose(f);
	mkdir(allowed_dir, 0755);
	snprintf(path, sizeof path, "%s/inner.txt", allowed_dir);
	f = fopen(path, "w");
	fputs("inner\n", f), fclose(f);
	snprintf(path, sizeof path, "%s/escape", allowed_dir);
	symlink(forbidden_file, path);

	tkvm_settings_init(&settings);
	run_all("glibc");
	run_all("musl");
	tkvm_settings_free(&settings);

	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	return tap_exit_code();
}
