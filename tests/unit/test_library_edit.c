/* Unit tests of editing a library JSON as text (packager/library_edit.c):
 * exact outputs for replacing and appending around comments, odd layouts,
 * escaped names and CRLF; errors for broken text; and a property check that
 * every other member's bytes survive an edit. No KVM; run under ASan. */
#include "packager/json_text.h"
#include "packager/library.h"
#include "packager/library_edit.h"
#include "runner/error.h"
#include "tests/lib/tap.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tkvm_error err;

/* Edits text as "lib.json"; returns the result (the caller frees it) or NULL
 * with err filled. Checks the reported length on the way. */
static char *edit(const char *text, const char *name, const char *value)
{
	char *out = (char *)"not touched";
	size_t length = 12345;
	tkvm_error_clear(&err);
	int rc = library_edit_set_member(text, text ? strlen(text) : 0, "lib.json", name, value, &out, &length, &err);
	if (rc < 0) {
		CHECK(out == NULL);
		CHECK_INT(length, 0);
		CHECK(err.code == rc);
		return NULL;
	}
	CHECK_INT(rc, 0);
	CHECK(out != NULL);
	if (out)
		CHECK_INT(length, strlen(out));
	return out;
}

/* Checks that editing text gives exactly expected. */
#define CHECK_EDIT(text, name, value, expected)              \
	do {                                                 \
		char *edited = edit((text), (name), (value)); \
		CHECK_STR(edited, (expected));               \
		if (!edited)                                 \
			printf("# error: %s\n", err.message); \
		free(edited);                                \
	} while (0)

/* Checks that editing fails with a message containing what. */
#define CHECK_EDIT_FAILS(text, name, value, what)            \
	do {                                                 \
		char *edited = edit((text), (name), (value)); \
		CHECK(edited == NULL);                       \
		CHECK_CONTAINS(err.message, (what));         \
		free(edited);                                \
	} while (0)

static void test_replace_in_the_middle(void)
{
	const char *text = "// Library for example.com\n"
			   "{\n"
			   "  /* defaults */\n"
			   "  \"compute\": { \"concurrency\": 2 }, // shared\n"
			   "  \"hello\":   { \"group\": \"compute\",\n"
			   "               \"uri\": \"https://x/hello.tar.xz\" }, // old one\n"
			   "  /* the last one */\n"
			   "  \"world\": {\"uri\":\"https://x/world.tar.xz\"}\n"
			   "}\n"
			   "// end\n";
	const char *expected = "// Library for example.com\n"
			       "{\n"
			       "  /* defaults */\n"
			       "  \"compute\": { \"concurrency\": 2 }, // shared\n"
			       "  \"hello\":   {\n"
			       "    \"uri\": \"https://x/hello-2.tar.xz\"\n"
			       "  }, // old one\n"
			       "  /* the last one */\n"
			       "  \"world\": {\"uri\":\"https://x/world.tar.xz\"}\n"
			       "}\n"
			       "// end\n";
	CHECK_EDIT(text, "hello", "{\n    \"uri\": \"https://x/hello-2.tar.xz\"\n  }", expected);
	/* The first and the last member, and a value of another kind. */
	CHECK_EDIT("{\"a\": 1, \"b\": [1, 2], \"c\": null}", "a", "true", "{\"a\": true, \"b\": [1, 2], \"c\": null}");
	CHECK_EDIT("{\"a\": 1, \"b\": [1, 2], \"c\": null}", "c", "{}", "{\"a\": 1, \"b\": [1, 2], \"c\": {}}");
	/* Blanks around the new value are the caller's, not the library's. */
	CHECK_EDIT("{\"a\": 1}", "a", "  \n2\n ", "{\"a\": 2}");
}

static void test_append_after_comments(void)
{
	const char *text = "{\n"
			   "  \"compute\": { \"concurrency\": 2 },\n"
			   "  \"hello\": { \"uri\": \"h\" } // the first program\n"
			   "  // more to come\n"
			   "  /* really */\n"
			   "}\n";
	const char *expected = "{\n"
			       "  \"compute\": { \"concurrency\": 2 },\n"
			       "  \"hello\": { \"uri\": \"h\" }, // the first program\n"
			       "  \"world\": {\n"
			       "    \"uri\": \"w\"\n"
			       "  }\n"
			       "  // more to come\n"
			       "  /* really */\n"
			       "}\n";
	CHECK_EDIT(text, "world", "{\n    \"uri\": \"w\"\n  }", expected);
	/* A block comment after the last value stays with it too. */
	CHECK_EDIT("{\n  \"a\": 1 /* one */ /* uno */\n}", "b", "2", "{\n  \"a\": 1, /* one */ /* uno */\n  \"b\": 2\n}");
	CHECK_EDIT("{\n  \"a\": 1 /* one,\n  two */\n}", "b", "2", "{\n  \"a\": 1, /* one,\n  two */\n  \"b\": 2\n}");
	/* Trailing blanks on the line stay at its end. */
	CHECK_EDIT("{\n  \"a\": 1  \n}", "b", "2", "{\n  \"a\": 1,\n  \"b\": 2  \n}");
}

static void test_append_odd_layouts(void)
{
	/* On the brace's line: one level in. */
	CHECK_EDIT("{\"a\": 1}", "b", "2", "{\"a\": 1,\n  \"b\": 2}");
	CHECK_EDIT("{ \"a\": 1, \"b\": 2 }\n", "c", "3", "{ \"a\": 1, \"b\": 2,\n  \"c\": 3 }\n");
	/* Two members on an indented line: that line's indentation. */
	CHECK_EDIT("{\n    \"a\": 1, \"b\": 2\n}", "c", "3", "{\n    \"a\": 1, \"b\": 2,\n    \"c\": 3\n}");
	/* The closing brace right after the value. */
	CHECK_EDIT("{\n  \"a\": {\"x\": 1}}", "b", "2", "{\n  \"a\": {\"x\": 1},\n  \"b\": 2}");
	/* A value that spans lines: the key's indentation, not the value's. */
	CHECK_EDIT("{\n  \"a\": {\n      \"x\": 1\n  }\n}", "b", "2", "{\n  \"a\": {\n      \"x\": 1\n  },\n  \"b\": 2\n}");
	/* Text after the root object is kept. */
	CHECK_EDIT("{\"a\": 1}\n\n// bye\n", "b", "2", "{\"a\": 1,\n  \"b\": 2}\n\n// bye\n");
}

static void test_empty_text(void)
{
	const char *expected = "{\n  \"hello\": {\"uri\": \"u\"}\n}\n";
	CHECK_EDIT("", "hello", "{\"uri\": \"u\"}", expected);
	CHECK_EDIT(" \n\t\n", "hello", "{\"uri\": \"u\"}", expected);
	CHECK_EDIT(NULL, "hello", "{\"uri\": \"u\"}", expected);
}

static void test_empty_object(void)
{
	CHECK_EDIT("{}", "a", "1", "{\n  \"a\": 1\n}");
	CHECK_EDIT("{ }", "a", "1", "{\n  \"a\": 1\n}");
	CHECK_EDIT("{\n}", "a", "1", "{\n  \"a\": 1\n}");
	CHECK_EDIT("{}\n", "a", "1", "{\n  \"a\": 1\n}\n");
	CHECK_EDIT("// lib\n{ }\n", "a", "1", "// lib\n{\n  \"a\": 1\n}\n");
	/* Comments inside stay, before the new member. */
	CHECK_EDIT("{\n  // none yet\n}\n", "a", "1", "{\n  // none yet\n  \"a\": 1\n}\n");
	CHECK_EDIT("{ /* none */ }", "a", "1", "{ /* none */ \n  \"a\": 1\n}");
}

static void test_tab_indentation(void)
{
	CHECK_EDIT("{\n\t\"a\": {\n\t\t\"uri\": \"u\"\n\t}\n}\n", "b", "{\n\t\t\"uri\": \"v\"\n\t}",
		   "{\n\t\"a\": {\n\t\t\"uri\": \"u\"\n\t},\n\t\"b\": {\n\t\t\"uri\": \"v\"\n\t}\n}\n");
}

static void test_escaped_names(void)
{
	/* Written escaped, found again escaped. */
	char *once = edit("{\n  \"a\": 1\n}", "he\"l\\lo", "2");
	CHECK_STR(once, "{\n  \"a\": 1,\n  \"he\\\"l\\\\lo\": 2\n}");
	if (once) {
		char *twice = edit(once, "he\"l\\lo", "3");
		CHECK_STR(twice, "{\n  \"a\": 1,\n  \"he\\\"l\\\\lo\": 3\n}");
		free(twice);
	}
	free(once);
	CHECK_EDIT("{}", "tab\there", "1", "{\n  \"tab\\there\": 1\n}");
	/* UTF-8 as is; a key written with \u escapes is the same name. */
	CHECK_EDIT("{}", "h\xc3\xa9llo", "1", "{\n  \"h\xc3\xa9llo\": 1\n}");
	CHECK_EDIT("{\"h\\u00e9llo\": 1, \"x\": 2}", "h\xc3\xa9llo", "3", "{\"h\\u00e9llo\": 3, \"x\": 2}");
	/* A name that is a prefix of another is not that other. */
	CHECK_EDIT("{\"hello2\": 1, \"hell\": 2}", "hello", "3", "{\"hello2\": 1, \"hell\": 2,\n  \"hello\": 3}");
}

static void test_duplicate_names(void)
{
	/* The first one is the one library_parse uses. */
	CHECK_EDIT("{\n  \"a\": 1,\n  \"b\": 2,\n  \"a\": 3\n}", "a", "9", "{\n  \"a\": 9,\n  \"b\": 2,\n  \"a\": 3\n}");
}

static void test_crlf(void)
{
	CHECK_EDIT("{\r\n  \"a\": 1\r\n}\r\n", "b", "2", "{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}\r\n");
	CHECK_EDIT("{\r\n  \"a\": 1 // one\r\n}\r\n", "b", "2", "{\r\n  \"a\": 1, // one\r\n  \"b\": 2\r\n}\r\n");
	CHECK_EDIT("{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}\r\n", "a", "3", "{\r\n  \"a\": 3,\r\n  \"b\": 2\r\n}\r\n");
	CHECK_EDIT("{\r\n}\r\n", "a", "1", "{\r\n  \"a\": 1\r\n}\r\n");
	CHECK_EDIT("\r\n", "a", "1", "{\r\n  \"a\": 1\r\n}\r\n");
}

static void test_strings_that_look_like_syntax(void)
{
	const char *text = "{\n"
			   "  \"a\": { \"s\": \"}{ ][ // not a comment /* nor this\", \"t\": \"\\\"}\" },\n"
			   "  \"b\": \"http://x/y\" // a real one\n"
			   "}\n";
	CHECK_EDIT(text, "a", "{ \"s\": \"//\" }",
		   "{\n  \"a\": { \"s\": \"//\" },\n  \"b\": \"http://x/y\" // a real one\n}\n");
	CHECK_EDIT(text, "b", "\"/* x */\"",
		   "{\n  \"a\": { \"s\": \"}{ ][ // not a comment /* nor this\", \"t\": \"\\\"}\" },\n"
		   "  \"b\": \"/* x */\" // a real one\n}\n");
	CHECK_EDIT(text, "c", "\"}\"",
		   "{\n  \"a\": { \"s\": \"}{ ][ // not a comment /* nor this\", \"t\": \"\\\"}\" },\n"
		   "  \"b\": \"http://x/y\", // a real one\n  \"c\": \"}\"\n}\n");
	/* Comments inside the new value are the caller's to keep. */
	CHECK_EDIT("{\"a\": 1}", "a", "{ /* why */ \"x\": 1 }", "{\"a\": { /* why */ \"x\": 1 }}");
}

static void test_errors(void)
{
	CHECK_EDIT_FAILS("{\n  \"a\": 1\n  \"b\": 2\n}", "c", "1", "lib.json:3:3: invalid JSON: missing ','");
	CHECK_EDIT_FAILS("{\n  \"a\": 1,\n}\n", "c", "1", "lib.json:2:9: invalid JSON: trailing comma");
	CHECK_EDIT_FAILS("{\n  \"a\": 1 /* open\n}\n", "c", "1", "lib.json:2:10: invalid JSON: unterminated /* comment");
	CHECK_EDIT_FAILS("[{\"a\": 1}]", "a", "1", "lib.json: the library is not a JSON object (it is an array)");
	CHECK_EDIT_FAILS("\"text\"", "a", "1", "lib.json: the library is not a JSON object (it is a string)");
	CHECK_EDIT_FAILS("// only a comment\n", "a", "1", "lib.json:2:1: invalid JSON: empty text");
	CHECK_EDIT_FAILS("{} {}", "a", "1", "lib.json:1:4: invalid JSON: unexpected text after the JSON value");
	/* The new value must be JSON that cannot swallow what follows it. */
	CHECK_EDIT_FAILS("{}", "a", "{\"x\": }", "the new value of \"a\":1:7: invalid JSON");
	CHECK_EDIT_FAILS("{}", "a", "", "invalid JSON: empty text");
	CHECK_EDIT_FAILS("{\"a\": 1}", "a", "2 // two", "a comment after the value");
	CHECK_EDIT_FAILS("{}", "", "1", "needs a name");

	/* Missing arguments are refused, not dereferenced. */
	char *out = NULL;
	tkvm_error_clear(&err);
	CHECK(library_edit_set_member("{}", 2, "lib.json", NULL, "1", &out, NULL, &err) < 0);
	CHECK(library_edit_set_member("{}", 2, "lib.json", "a", NULL, &out, NULL, &err) < 0);
	CHECK(library_edit_set_member("{}", 2, "lib.json", "a", "1", NULL, NULL, &err) < 0);
	CHECK(library_edit_set_member(NULL, 2, "lib.json", "a", "1", &out, NULL, &err) < 0);
	CHECK(library_edit_set_member("{}", 2, "lib.json", "a", "1", &out, NULL, NULL) == 0); /* err, length optional */
	CHECK_STR(out, "{\n  \"a\": 1\n}");
	free(out);
	/* A NUL inside the given length is refused. */
	CHECK(library_edit_set_member("{}\0{}", 5, "lib.json", "a", "1", &out, NULL, &err) < 0);
	CHECK_CONTAINS(err.message, "NUL byte");
}

static void test_length_not_terminated(void)
{
	/* Only length bytes are the library, whatever follows them. */
	const char buffer[] = "{\"a\": 1}GARBAGE \"b\": 2}";
	char *out = NULL;
	size_t length = 0;
	CHECK_INT(library_edit_set_member(buffer, 8, "lib.json", "b", "2", &out, &length, &err), 0);
	CHECK_STR(out, "{\"a\": 1,\n  \"b\": 2}");
	CHECK_INT(length, strlen("{\"a\": 1,\n  \"b\": 2}"));
	free(out);
	CHECK_INT(library_edit_set_member(buffer, 8, "lib.json", "a", "{}", &out, &length, &err), 0);
	CHECK_STR(out, "{\"a\": {}}");
	free(out);
}

/* --- Property: an edit touches one member only ------------------------ */

struct member_text {
	char *name;
	char *value; /* the value's bytes as written */
};

/* The members of text in order, with their value text (NULL on failure). */
static struct member_text *members_of(const char *text, size_t *count)
{
	*count = 0;
	cJSON *root = json_text_parse(text, strlen(text), "members", &err);
	if (!root)
		return NULL;
	size_t n = (size_t)cJSON_GetArraySize(root);
	struct member_text *members = calloc(n + 1, sizeof *members);
	const char *cursor = json_text_root(text);
	const cJSON *item;
	size_t i = 0;
	cJSON_ArrayForEach(item, root) {
		const char *value_at = NULL;
		cursor = json_text_next_member(cursor, NULL, &value_at);
		if (!cursor)
			break;
		members[i].name = strdup(item->string);
		members[i].value = strndup(value_at, (size_t)(json_text_value_end(value_at) - value_at));
		CHECK(json_text_value_end(value_at) == cursor);
		i++;
	}
	CHECK_INT(i, n);
	*count = i;
	cJSON_Delete(root);
	return members;
}

static void free_members(struct member_text *members, size_t count)
{
	for (size_t i = 0; members && i < count; i++) {
		free(members[i].name);
		free(members[i].value);
	}
	free(members);
}

/* Edits text, then checks: library_parse finds the program with the new
 * uri; the members are the same names in the same order (plus the new one
 * at the end); every member but the edited one has the very same bytes. */
static void check_edit_keeps_others(const char *text, const char *name)
{
	char value[256];
	snprintf(value, sizeof value, "{\n    \"uri\": \"https://example.com/new/%s.tar.xz\"\n  }", name);
	char *edited = edit(text, name, value);
	CHECK(edited != NULL);
	if (!edited) {
		printf("# editing %s: %s\n", name, err.message);
		return;
	}

	struct library library;
	tkvm_error_clear(&err);
	CHECK_INT(library_parse(edited, strlen(edited), "edited.json", &library, NULL, NULL, &err), 0);
	const struct library_program *program = library_find(&library, name);
	CHECK(program != NULL);
	if (program) {
		char uri[128];
		snprintf(uri, sizeof uri, "https://example.com/new/%s.tar.xz", name);
		CHECK_STR(program->settings.uri, uri);
	}
	library_free(&library);

	size_t before_count, after_count;
	struct member_text *before = members_of(text, &before_count);
	struct member_text *after = members_of(edited, &after_count);
	size_t replaced = before_count;
	for (size_t i = 0; i < before_count; i++)
		if (!strcmp(before[i].name, name)) {
			replaced = i;
			break;
		}
	CHECK_INT(after_count, before_count + (replaced == before_count));
	for (size_t i = 0; i < before_count && i < after_count; i++) {
		CHECK_STR(after[i].name, before[i].name);
		CHECK_STR(after[i].value, i == replaced ? value : before[i].value);
	}
	if (replaced == before_count && after_count == before_count + 1) {
		CHECK_STR(after[before_count].name, name);
		CHECK_STR(after[before_count].value, value);
	}
	free_members(before, before_count);
	free_members(after, after_count);
	free(edited);
}

static void test_other_members_unchanged(void)
{
	static const char *const libraries[] = {
		"{}",
		"{\n"
		"  // groups first\n"
		"  \"compute\": { \"concurrency\": 2, \"max_memory\": 64 }, /* shared */\n"
		"  \"hello\": { \"group\": \"compute\", \"uri\": \"https://x/hello.tar.xz\",\n"
		"             \"filename\": \"/var/cache/hello\" }, // hello\n"
		"  \"world\": { \"uri\": \"https://x/world.tar.xz\", \"environment\": [\"A={}\", \"B=//\"] }\n"
		"  // the end\n"
		"}\n",
		"{\"hello\":{\"uri\":\"u\"},\"hello\":{\"uri\":\"v\"},\"z\":{\"filename\":\"/z\"}}",
		"\t{\r\n\t\t\"a\": {\"uri\": \"a\"},\r\n\t\t\"g\": {}\r\n\t}\r\n",
	};
	static const char *const names[] = { "hello", "world", "compute", "new", "z", "a", "g" };
	for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++)
		for (size_t j = 0; j < sizeof names / sizeof names[0]; j++)
			check_edit_keeps_others(libraries[i], names[j]);
}

int main(void)
{
	TEST(test_replace_in_the_middle);
	TEST(test_append_after_comments);
	TEST(test_append_odd_layouts);
	TEST(test_empty_text);
	TEST(test_empty_object);
	TEST(test_tab_indentation);
	TEST(test_escaped_names);
	TEST(test_duplicate_names);
	TEST(test_crlf);
	TEST(test_strings_that_look_like_syntax);
	TEST(test_errors);
	TEST(test_length_not_terminated);
	TEST(test_other_members_unchanged);
	return tap_exit_code();
}
