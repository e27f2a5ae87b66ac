/* Unit tests of fixtures: parsing (every field, defaults, body files),
 * broken fixtures named by file and line, saving and reading back with
 * secrets redacted and large bodies in files, matching fetches (JSON by
 * value), the closest recording and its difference, checking answers,
 * line diffs and HAR import. No KVM needed. */
#include "cli/fixture.h"
#include "cli/fixture_body.h"
#include "cli/fixture_check.h"
#include "cli/fixture_match.h"
#include "cli/har_import.h"
#include "cli/text_diff.h"
#include "tests/lib/tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char directory[512];
static struct tkvm_error err;

static char *path_in(const char *name)
{
	static char path[4][700];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof path[0], "%s/%s", directory, name);
	return p;
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(path_in(name), "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static int parse(const char *text, struct fixture *f)
{
	tkvm_error_clear(&err);
	return fixture_parse(text, strlen(text), path_in("t.json"), f, &err);
}

/* The message of a fixture that must not load. */
static const char *broken(const char *text)
{
	struct fixture f;
	int rc = parse(text, &f);
	if (rc == 0) {
		fixture_free(&f);
		return "(it loaded)";
	}
	return err.message;
}

static void test_minimal_fixture(void)
{
	struct fixture f;
	CHECK_INT(parse("{\"request\": {\"url\": \"/hello?x=1\"}}", &f), 0);
	CHECK_STR(f.name, "t");
	CHECK_STR(f.method, "GET");
	CHECK_STR(f.url, "/hello?x=1");
	CHECK(f.arg == NULL);
	CHECK_INT(f.expect.check, FIXTURE_CHECK_NONE);
	CHECK_INT(f.expect.status, 0);
	CHECK_INT(f.fetch_count, 0);
	fixture_free(&f);
	/* A body makes POST the default. */
	CHECK_INT(parse("{\"request\": {\"url\": \"/\", \"body\": \"x\"}}", &f), 0);
	CHECK_STR(f.method, "POST");
	fixture_free(&f);
}

static void test_every_field(void)
{
	const char *text =
		"// comments are allowed\n"
		"{\"name\": \"everything\", \"description\": \"d\", \"_note\": 1,\n"
		" \"request\": {\"method\": \"PUT\", \"url\": \"/x\", \"arg\": \"a=1\", \"headers\": [\"X-A: 1\", \"Content-Type: text/csv\"],\n"
		"             \"body_base64\": \"AAEC/w==\"},\n"
		" \"expect\": {\"status\": 201, \"headers\": [\"X-Reply: ok\"], \"body_sha256\": \"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"},\n"
		" \"fetches\": [\n"
		"   {\"request\": {\"method\": \"POST\", \"url\": \"http://h/api\", \"headers\": [\"Authorization: x\"], \"body\": \"{}\"},\n"
		"    \"response\": {\"status\": 200, \"content_type\": \"application/json\", \"headers\": [\"X-B: 2\"], \"body\": \"[1]\"}},\n"
		"   {\"request\": {\"url\": \"http://down/\"}, \"response\": {\"curl_code\": 7, \"error\": \"Couldn't connect\"}}\n"
		" ]}\n";
	struct fixture f;
	CHECK_INT(parse(text, &f), 0);
	CHECK_STR(f.name, "everything");
	CHECK_STR(f.description, "d");
	CHECK_STR(f.method, "PUT");
	CHECK_STR(f.arg, "a=1");
	CHECK_INT(f.header_count, 2);
	CHECK_INT(f.body.form, FIXTURE_BODY_BASE64);
	CHECK_INT(f.body.length, 4);
	CHECK(f.body.data && f.body.data[0] == 0 && f.body.data[3] == 0xff);
	CHECK_INT(f.expect.status, 201);
	CHECK_INT(f.expect.check, FIXTURE_CHECK_SHA256);
	CHECK_STR(f.expect.pattern, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_INT(f.fetch_count, 2);
	if (f.fetch_count == 2) {
		CHECK_STR(f.fetches[0].method, "POST");
		CHECK_STR(f.fetches[0].content_type, "application/json");
		CHECK_INT(f.fetches[0].status, 200);
		CHECK_INT(f.fetches[0].line, 7);
		CHECK_STR(f.fetches[1].method, "GET");
		CHECK_INT(f.fetches[1].curl_code, 7);
		CHECK_STR(f.fetches[1].error, "Couldn't connect");
	}
	fixture_free(&f);
}

static void test_body_file(void)
{
	write_file("expected.txt", "from a file\n");
	struct fixture f;
	CHECK_INT(parse("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body_file\": \"expected.txt\"}}", &f), 0);
	CHECK_INT(f.expect.check, FIXTURE_CHECK_EXACT);
	CHECK_INT(f.expect.body.form, FIXTURE_BODY_FILE);
	CHECK_STR((const char *)f.expect.body.data, "from a file\n");
	CHECK_STR(f.expect.body.file, "expected.txt");
	fixture_free(&f);
	/* A body_file that is not there: the file, the line and the path. */
	const char *m = broken("{\"request\": {\"url\": \"/\"},\n \"expect\": {\"body_file\": \"missing.bin\"}}");
	CHECK_CONTAINS(m, "t.json:2: expect.body_file:");
	CHECK_CONTAINS(m, "missing.bin");
	CHECK_CONTAINS(m, "No such file");
}

static void test_broken_fixtures(void)
{
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\",}}"), "t.json:1:");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\",}}"), "trailing comma");
	CHECK_CONTAINS(broken("[]"), "a fixture is a JSON object");
	CHECK_CONTAINS(broken("{\"expect\": {}}"), "no \"request\"");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"},\n\"expect\": {\n\"stauts\": 200}}"),
		       "t.json:3: unknown key \"stauts\" in expect; did you mean \"status\"?");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"frobnicate\": 1}"), "unknown key \"frobnicate\" in the fixture");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"request\": {\"url\": \"/\"}}"), "\"request\" appears twice");
	CHECK_CONTAINS(broken("{\"request\": {}}"), "request has no \"url\"");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"hello\"}}"), "must start with '/'");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/a b\"}}"), "space or control character");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\", \"method\": \"get me\"}}"), "is not an HTTP method");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": 5}}"), "request.url must be a string, not a number");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\",\n \"headers\": [\"NoColon\"]}}"),
		       "t.json:2: request.headers[0] \"NoColon\" has no colon");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\", \"headers\": [\"X: a\\r\\nInjected: 1\"]}}"), "control character");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\", \"headers\": \"X: 1\"}}"), "must be an array");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\", \"body\": \"a\", \"body_base64\": \"YQ==\"}}"),
		       "has both \"body\" and \"body_base64\"");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\", \"body_base64\": \"not base64!\"}}"), "not valid base64");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"status\": 42}}"), "from 100 to 999, got 42");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"status\": \"200\"}}"), "not a string");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body\": \"x\", \"body_contains\": \"y\"}}"),
		       "more than one body check");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body_regex\": \"a(\"}}"),
		       "not a valid POSIX extended regular expression");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body_sha256\": \"abc\"}}"), "64 hexadecimal digits");
	/* Patterns that would make regcomp exhaust memory, or regexec take forever. */
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body_regex\": \"a++++++++++++++++++++++++++++++++++++++++\"}}"),
		       "repeats too much");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body_regex\": \"((a{100}){100}){100}\"}}"),
		       "repeats too much");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body_regex\": \"(a*)*\\\\1\"}}"), "back-reference");
	struct fixture ok;
	int parsed = parse("{\"request\": {\"url\": \"/\"}, \"expect\": {\"body_regex\": \"^[0-9a-f]{64}$|(ab+c)?d{2,8}[[:alpha:]]*\\\\.\"}}", &ok);
	CHECK_INT(parsed, 0);
	if (parsed == 0)
		fixture_free(&ok);
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"fetches\": {}}"), "fetches must be an array");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"},\n \"fetches\": [\n  {\"request\": {\"url\": \"http://x/\"}}]}"),
		       "t.json:3: fetches[0] needs a \"request\" and a \"response\"");
	CHECK_CONTAINS(broken("{\"request\": {\"url\": \"/\"}, \"fetches\": [{\"request\": {\"url\": \"http://x/\"}, \"response\": {}}]}"),
		       "needs a \"status\"");
	CHECK_CONTAINS(broken("{\"name\": \"\", \"request\": {\"url\": \"/\"}}"), "name is empty");
	CHECK_CONTAINS(broken(""), "empty text");
}

static void test_save_and_read_back(void)
{
	struct fixture f;
	CHECK_INT(parse("{\"name\": \"round trip\", \"request\": {\"method\": \"POST\", \"url\": \"/p\", \"headers\": [\"Authorization: Bearer s3cret\"],"
			" \"body\": \"tab\\there \\\"quoted\\\" \\u00e9\"},"
			" \"expect\": {\"status\": 200, \"headers\": [\"Set-Cookie: id=1\", \"X-Ok: yes\"], \"body\": \"ok\\n\"},"
			" \"fetches\": [{\"request\": {\"url\": \"http://h/\", \"headers\": [\"X-Api-Key: k3y\", \"Cookie: c\"]},"
			" \"response\": {\"status\": 200, \"headers\": [\"Set-Cookie: s\"], \"body_base64\": \"AP8=\"}}]}",
			&f), 0);
	const char *names[] = {"X-Api-Key"};
	struct fixture_redaction redaction = {names, 1};
	fixture_set_path(&f, path_in("saved.json"), NULL);
	CHECK_INT(fixture_save(&f, &redaction, &err), 0);
	fixture_free(&f);
	CHECK_INT(fixture_load(path_in("saved.json"), &f, &err), 0);
	CHECK_STR(f.name, "round trip");
	CHECK_STR((const char *)f.body.data, "tab\there \"quoted\" \xc3\xa9");
	/* The request is the user's: written as given. */
	CHECK_STR(f.headers[0], "Authorization: Bearer s3cret");
	CHECK_STR(f.expect.headers[0], "Set-Cookie: <redacted>");
	CHECK_STR(f.expect.headers[1], "X-Ok: yes");
	CHECK_INT(f.fetch_count, 1);
	if (f.fetch_count == 1) {
		CHECK_STR(f.fetches[0].request_headers[0], "X-Api-Key: <redacted>");
		CHECK_STR(f.fetches[0].request_headers[1], "Cookie: <redacted>");
		CHECK_STR(f.fetches[0].response_headers[0], "Set-Cookie: <redacted>");
		CHECK_INT(f.fetches[0].response_body.length, 2);
		CHECK_INT(f.fetches[0].response_body.form, FIXTURE_BODY_BASE64);
	}
	fixture_redact_request(&f, &redaction);
	CHECK_STR(f.headers[0], "Authorization: <redacted>");
	char *text = fixture_to_text(&f, &redaction, &err);
	CHECK(text && !strstr(text, "s3cret") && !strstr(text, "k3y"));
	CHECK_CONTAINS(text, "  \"request\": {\n    \"method\": \"POST\",");
	free(text);
	fixture_free(&f);
}

static void test_large_body_goes_to_a_file(void)
{
	struct fixture f;
	CHECK_INT(parse("{\"request\": {\"url\": \"/\"}}", &f), 0);
	fixture_set_path(&f, path_in("big.json"), NULL);
	size_t n = FIXTURE_INLINE_LIMIT + 1;
	uint8_t *big = malloc(n);
	for (size_t i = 0; big && i < n; i++)
		big[i] = (uint8_t)(i * 7);
	f.expect.check = FIXTURE_CHECK_EXACT;
	CHECK_INT(fixture_body_set(&f.expect.body, big, n), 0);
	CHECK_INT(f.expect.body.form, FIXTURE_BODY_BASE64);
	CHECK_INT(fixture_save(&f, NULL, &err), 0);
	CHECK_STR(f.expect.body.file, "big.response.bin");
	fixture_free(&f);
	CHECK_INT(fixture_load(path_in("big.json"), &f, &err), 0);
	CHECK_INT(f.expect.body.form, FIXTURE_BODY_FILE);
	CHECK_INT(f.expect.body.length, n);
	CHECK(big && f.expect.body.data && !memcmp(f.expect.body.data, big, n));
	fixture_free(&f);
	free(big);
}

static bool bodies_match(const char *a, const char *b)
{
	return fixture_bodies_match((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b));
}

static void test_json_bodies_match_by_value(void)
{
	CHECK(bodies_match("{\"a\":1,\"b\":[1,2]}", " {\n \"b\": [1, 2],\n \"a\": 1.0 }\n"));
	CHECK(bodies_match("[{\"x\":null}]", "[ { \"x\" : null } ]"));
	CHECK(!bodies_match("{\"a\":1}", "{\"a\":2}"));
	CHECK(!bodies_match("{\"a\":1}", "{\"a\":1,\"b\":2}"));
	CHECK(!bodies_match("[1,2]", "[2,1]"));
	CHECK(!bodies_match("{\"a\":1}", "{\"a\":1} trailing"));
	CHECK(bodies_match("plain", "plain"));
	CHECK(!bodies_match("plain", "plain "));
	CHECK(bodies_match("", ""));
}

static void make_fetch(struct fixture_fetch *f, const char *method, const char *url, const char *body)
{
	memset(f, 0, sizeof *f);
	f->method = strdup(method);
	f->url = strdup(url);
	if (body)
		fixture_body_set(&f->request_body, (const uint8_t *)body, strlen(body));
}

static void test_closest_and_difference(void)
{
	struct fixture_fetch recorded[3], request;
	make_fetch(&recorded[0], "GET", "http://api/users/1", NULL);
	make_fetch(&recorded[1], "POST", "http://api/search", "{\"q\":\"kvm\",\"limit\":10}");
	make_fetch(&recorded[2], "GET", "http://other/x", NULL);
	make_fetch(&request, "POST", "http://api/search", "{\"limit\":10,\"q\":\"vm\",\"page\":2}");
	CHECK(!fixture_fetch_matches(&recorded[1], &request));
	CHECK_INT(fixture_closest_fetch(recorded, 3, &request), 1);
	struct text_buffer out = {0};
	fixture_describe_difference(&recorded[1], &request, "", &out);
	CHECK_CONTAINS(text_buffer_str(&out), "$.q: recorded \"kvm\", the fetch has \"vm\"");
	CHECK_CONTAINS(text_buffer_str(&out), "$.page: in the fetch (2), not in the recording");
	text_buffer_free(&out);
	fixture_fetch_free(&request);

	make_fetch(&request, "GET", "http://api/users/2", NULL);
	CHECK_INT(fixture_closest_fetch(recorded, 3, &request), 0);
	fixture_describe_difference(&recorded[0], &request, "", &out);
	CHECK_CONTAINS(text_buffer_str(&out), "url: recorded http://api/users/1\n     fetch    http://api/users/2\n");
	CHECK_CONTAINS(text_buffer_str(&out), "\n              " "                 ^\n");
	text_buffer_free(&out);
	fixture_fetch_free(&request);
	CHECK_INT(fixture_closest_fetch(recorded, 0, &request), -1);
	for (int i = 0; i < 3; i++)
		fixture_fetch_free(&recorded[i]);
}

static void test_line_diff(void)
{
	struct text_buffer out = {0};
	const char *a = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n", *b = "one\ntwo\nTHREE\nfour\nfive\nsix\nseven\neight";
	text_diff_unified("expected", a, strlen(a), "actual", b, strlen(b), "", 40, &out);
	CHECK_STR(text_buffer_str(&out), "--- expected\n+++ actual\n@@ -1,7 +1,8 @@\n one\n two\n-three\n+THREE\n four\n five\n six\n"
					  " seven\n+eight\n\\ No newline at end of file\n");
	text_buffer_free(&out);
	/* Control characters never reach the terminal raw. */
	text_diff_unified("a", "x\033[31m\n", 7, "b", "y\n", 2, "", 40, &out);
	CHECK_CONTAINS(text_buffer_str(&out), "-x\\x1b[31m\n+y\n");
	text_buffer_free(&out);
	/* Far apart changes make two hunks. */
	const char *c = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n", *d = "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\nY\n16\n";
	text_diff_unified("a", c, strlen(c), "b", d, strlen(d), "", 40, &out);
	CHECK_CONTAINS(text_buffer_str(&out), "@@ -1,5 +1,5 @@\n 1\n-2\n+X\n");
	CHECK_CONTAINS(text_buffer_str(&out), "@@ -12,5 +12,5 @@\n 12\n 13\n 14\n-15\n+Y\n 16\n");
	text_buffer_free(&out);
}

static void response_of(struct tkvm_response *r, int status, const char *content_type, char **headers, size_t count,
			const char *body, size_t length)
{
	memset(r, 0, sizeof *r);
	r->status = status;
	r->content_type = (char *)content_type;
	r->headers = headers;
	r->header_count = count;
	r->body = (uint8_t *)body;
	r->body_length = length;
}

static bool check_answer(const char *fixture_text, const struct tkvm_response *r, char *message, struct text_buffer *details)
{
	struct fixture f;
	if (parse(fixture_text, &f) != 0)
	{
		snprintf(message, 1200, "fixture: %.1000s", err.message);
		return false;
	}
	bool ok = fixture_check(&f, r, "  ", message, 1200, details);
	fixture_free(&f);
	return ok;
}

static void test_checks(void)
{
	char *headers[] = {"X-Reply: yes", "Set-Cookie: id=9"};
	struct tkvm_response r;
	response_of(&r, 200, "text/plain", headers, 2, "Hello from tkvm: /x\n", 20);
	char message[1200];
	struct text_buffer d = {0};
	CHECK(check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"status\": 200, \"headers\": [\"content-type: text/plain\","
			   " \"X-Reply:yes\", \"Set-Cookie: <redacted>\"], \"body\": \"Hello from tkvm: /x\\n\"}}", &r, message, &d));
	CHECK(check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"body_contains\": \"tkvm\"}}", &r, message, &d));
	CHECK(check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"body_regex\": \"^Hello .*: /[a-z]+$\"}}", &r, message, &d));
	char hash[65], fixture_text[300];
	body_sha256_hex((const uint8_t *)"Hello from tkvm: /x\n", 20, hash);
	snprintf(fixture_text, sizeof fixture_text, "{\"request\": {\"url\": \"/x\"}, \"expect\": {\"body_sha256\": \"%s\"}}", hash);
	CHECK(check_answer(fixture_text, &r, message, &d));
	CHECK_STR(d.data ? d.data : "", "");

	CHECK(!check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"status\": 404, \"headers\": [\"X-Reply: no\", \"X-None: 1\"]}}",
			    &r, message, &d));
	CHECK_STR(message, "status: expected 404, got 200");
	CHECK_CONTAINS(text_buffer_str(&d), "  header X-Reply: expected \"no\", got \"yes\"\n");
	CHECK_CONTAINS(text_buffer_str(&d), "header X-None: expected \"1\", but the answer has no X-None header (it has: Content-Type, X-Reply, Set-Cookie)");
	text_buffer_free(&d);
	CHECK(!check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"body_contains\": \"bye\"}}", &r, message, &d));
	CHECK_CONTAINS(text_buffer_str(&d), "body does not contain \"bye\"; it begins:\n    | Hello from tkvm: /x\n");
	text_buffer_free(&d);
	CHECK(!check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"body_regex\": \"^Bye\"}}", &r, message, &d));
	CHECK_CONTAINS(message, "body does not match /^Bye/");
	text_buffer_free(&d);

	/* Binary bodies: sizes, hashes and the first difference, never the bytes. */
	response_of(&r, 200, "application/octet-stream", NULL, 0, "\x00\x01\x02\x03", 4);
	CHECK(!check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"body_base64\": \"AAECBAU=\"}}", &r, message, &d));
	CHECK_STR(message, "body differs (binary): expected 5 bytes, got 4 bytes; first difference at byte 3");
	CHECK_CONTAINS(text_buffer_str(&d), "expected sha256 ");
	CHECK_CONTAINS(text_buffer_str(&d), "actual   sha256 054edec1d0211f624fed0cbca9d4f9400b0e491c43742af2c5b0abebf0c990d8");
	text_buffer_free(&d);

	/* A failed request fails the fixture, unless it expects that status. */
	response_of(&r, 500, "", NULL, 0, "", 0);
	r.outcome = TKVM_OUTCOME_FAILED;
	snprintf(r.error, sizeof r.error, "segmentation fault");
	CHECK(!check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {}}", &r, message, &d));
	CHECK_STR(message, "the request failed: segmentation fault");
	text_buffer_free(&d);
	CHECK(check_answer("{\"request\": {\"url\": \"/x\"}, \"expect\": {\"status\": 500}}", &r, message, &d));
	text_buffer_free(&d);
}

static void test_har_import(void)
{
	char slug[80];
	har_fixture_slug("GET", "/api/Users/7?x=1", slug, sizeof slug);
	CHECK_STR(slug, "get-api-users-7");
	har_fixture_slug("POST", "/", slug, sizeof slug);
	CHECK_STR(slug, "post-root");

	write_file("cap.har",
		   "{\"log\": {\"entries\": [\n"
		   " {\"request\": {\"method\": \"GET\", \"url\": \"https://site.test/app/hello?q=1#frag\", \"headers\": [{\"name\": \"Host\", \"value\": \"x\"},"
		   "   {\"name\": \":authority\", \"value\": \"x\"}, {\"name\": \"Authorization\", \"value\": \"Basic c2VjcmV0\"}]},\n"
		   "  \"response\": {\"status\": 200, \"headers\": [{\"name\": \"content-type\", \"value\": \"text/plain\"}], \"content\": {\"text\": \"hi\"}}},\n"
		   " {\"request\": {\"method\": \"GET\", \"url\": \"https://site.test/app/hello\"}, \"response\": {\"status\": 304, \"content\": {}}},\n"
		   " {\"request\": {\"method\": \"GET\", \"url\": \"https://site.test/other\"}, \"response\": {\"status\": 200}},\n"
		   " \"junk\"\n"
		   "]}}\n");
	char out_dir[600];
	snprintf(out_dir, sizeof out_dir, "%s/imported", directory);
	struct har_import_options options = {.directory = out_dir, .base_url = "https://site.test/app"};
	struct har_import_result result;
	CHECK_INT(har_import(path_in("cap.har"), &options, &result, &err), 0);
	CHECK_INT(result.count, 4);
	if (result.count == 4) {
		CHECK_CONTAINS(result.entries[0].file, "imported/get-hello.json");
		CHECK_CONTAINS(result.entries[1].file, "imported/get-hello-2.json");
		CHECK(!result.entries[2].file);
		CHECK_STR(result.entries[2].why, "not under --har-base");
		CHECK_STR(result.entries[3].why, "it is not an object");
	}
	struct fixture f;
	if (result.count && result.entries[0].file && fixture_load(result.entries[0].file, &f, &err) == 0) {
		CHECK_STR(f.url, "/hello?q=1");
		CHECK_INT(f.header_count, 1);
		CHECK_STR(f.headers[0], "Authorization: <redacted>");
		CHECK_INT(f.expect.status, 200);
		CHECK_STR(f.expect.headers[0], "Content-Type: text/plain");
		CHECK_STR((const char *)f.expect.body.data, "hi");
		fixture_free(&f);
	} else {
		CHECK(!"the imported fixture loads");
	}
	har_import_result_free(&result);
	/* Importing again leaves existing fixtures alone. */
	CHECK_INT(har_import(path_in("cap.har"), &options, &result, &err), 0);
	CHECK(result.count && !result.entries[0].file && strstr(result.entries[0].why, "exists (--force replaces it)"));
	har_import_result_free(&result);

	write_file("bad.har", "{\"log\": {\n\"entries\": 5}}");
	CHECK(har_import(path_in("bad.har"), &options, &result, &err) < 0);
	CHECK_CONTAINS(err.message, "bad.har: not a HAR capture: it has no log.entries array");
	write_file("bad.har", "{\"log\": \n{,}}");
	CHECK(har_import(path_in("bad.har"), &options, &result, &err) < 0);
	CHECK_CONTAINS(err.message, "bad.har:2:2: invalid JSON");
}

static void test_text_detection_and_base64(void)
{
	CHECK(body_is_text((const uint8_t *)"caf\xc3\xa9\n\t\r", 8));
	CHECK(!body_is_text((const uint8_t *)"a\0b", 3));
	CHECK(!body_is_text((const uint8_t *)"\xc0\xaf", 2)); /* overlong */
	CHECK(!body_is_text((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */
	CHECK(!body_is_text((const uint8_t *)"\x1b[0m", 4));
	uint8_t *data;
	size_t length;
	CHECK_INT(body_base64_decode("aGVs\nbG8=", &data, &length), 0);
	CHECK_INT(length, 5);
	CHECK_STR((const char *)data, "hello");
	free(data);
	CHECK_INT(body_base64_decode("aGVsbG8", &data, &length), -1);
	char *encoded = body_base64_encode((const uint8_t *)"\x00\xff", 2);
	CHECK_STR(encoded, "AP8=");
	free(encoded);
}

int main(void)
{
	const char *base = getenv("TMP");
	snprintf(directory, sizeof directory, "%s/test_fixture.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(directory)) {
		printf("not ok - mkdtemp %s: %s\n", directory, strerror(errno));
		return 1;
	}
	TEST(test_minimal_fixture);
	TEST(test_every_field);
	TEST(test_body_file);
	TEST(test_broken_fixtures);
	TEST(test_save_and_read_back);
	TEST(test_large_body_goes_to_a_file);
	TEST(test_json_bodies_match_by_value);
	TEST(test_closest_and_difference);
	TEST(test_line_diff);
	TEST(test_checks);
	TEST(test_har_import);
	TEST(test_text_detection_and_base64);
	char command[700];
	snprintf(command, sizeof command, "rm -rf '%s'", directory);
	if (system(command) != 0)
		printf("# could not remove %s\n", directory);
	return tap_exit_code();
}
