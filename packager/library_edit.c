/* Setting one member of a library JSON by splicing text (see
 * library_edit.h): cJSON validates and names the members, json_text finds
 * their bytes, and everything around the spliced span is copied unchanged. */
#include "packager/library_edit.h"
#include "packager/json_text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One run of bytes of the result; the result is a list of them. */
struct piece {
	const char *at;
	size_t length;
};

#define PIECE(s) ((struct piece){ (s), strlen(s) })
#define SPAN(from, to) ((struct piece){ (from), (size_t)((to) - (from)) })

static int join(const struct piece *pieces, size_t count, char **out, size_t *out_length)
{
	size_t total = 0;
	for (size_t i = 0; i < count; i++) {
		if (pieces[i].length > SIZE_MAX - 1 - total)
			return -EOVERFLOW;
		total += pieces[i].length;
	}
	char *text = malloc(total + 1);
	if (!text)
		return -ENOMEM;
	size_t used = 0;
	for (size_t i = 0; i < count; i++) {
		memcpy(text + used, pieces[i].at, pieces[i].length);
		used += pieces[i].length;
	}
	text[used] = 0;
	*out = text;
	if (out_length)
		*out_length = used;
	return 0;
}

/* The same bytes as json_text's walkers count as blank (cJSON's rule). */
static bool is_blank(char c)
{
	return c != 0 && (unsigned char)c <= ' ';
}

/* Lines we add end the way the file's lines do, so a CRLF file stays one. */
static const char *newline_of(const char *text)
{
	const char *lf = strchr(text, '\n');
	return lf && lf > text && lf[-1] == '\r' ? "\r\n" : "\n";
}

static const char *line_start(const char *text, const char *at)
{
	while (at > text && at[-1] != '\n')
		at--;
	return at;
}

/* What stays on the last value's line with it (blanks and comments): the
 * new member goes after it, so a trailing "// comment" keeps describing the
 * member it was written for; the comma still goes right after the value.
 * Returns the end of the last comment, or value_end when there is none. */
static const char *after_trailing_comments(const char *value_end)
{
	const char *p = value_end, *end = value_end;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n' && !(p[0] == '\r' && p[1] == '\n'))
				p++;
			return p;
		}
		if (p[0] != '/' || p[1] != '*')
			return end;
		const char *close = strstr(p + 2, "*/");
		if (!close)
			return end; /* cannot happen on text json_text_parse took */
		p = end = close + 2;
	}
}

/* The indentation of a new member after the one whose key is at key_at:
 * that of the key's line ("  "a": 1, "b": 2" gives "  "), one level more
 * when that line starts with the opening brace ("{ "a": 1 }"). */
static struct piece indentation_after(const char *text, const char *root, const char *key_at, char *buf,
				      size_t size)
{
	const char *start = line_start(text, key_at), *p = start;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t run = (size_t)(p - start);
	if (p != root || run + 3 > size)
		return SPAN(start, p);
	memcpy(buf, start, run);
	memcpy(buf + run, "  ", 3);
	return (struct piece){ buf, run + 2 };
}

/* Positions, in the text, of the member to replace and of the last member. */
struct members {
	size_t count;
	const char *value_at, *value_end;  /* the first member named name, or NULL */
	const char *last_key_at, *last_end; /* the last member, or NULL */
};

/* cJSON gives the members in text order with their names decoded
 * (escapes and all); json_text walks the same members in the text. Walking
 * both in step finds a name's bytes without decoding keys a second time. */
static int find_members(const cJSON *root, const char *root_at, const char *name, struct members *m)
{
	memset(m, 0, sizeof *m);
	const char *cursor = root_at;
	const cJSON *item;
	bool found = false;
	cJSON_ArrayForEach(item, root) {
		const char *key_at = NULL, *value_at = NULL;
		cursor = json_text_next_member(cursor, &key_at, &value_at);
		if (!cursor)
			return -EINVAL;
		if (!found && item->string && !strcmp(item->string, name)) {
			found = true;
			m->value_at = value_at;
			m->value_end = cursor;
		}
		m->last_key_at = key_at;
		m->last_end = cursor;
		m->count++;
	}
	return 0;
}

static bool all_blank(const char *from, const char *to)
{
	for (; from < to; from++)
		if (!is_blank(*from))
			return false;
	return true;
}

/* "{}", "{ }", "{\n}" and "{ // none yet\n}" with their first member. */
static int fill_empty_object(const char *text, size_t length, const char *root_at, const char *newline,
			     const struct piece *member, size_t member_count, char **out, size_t *out_length)
{
	const char *close = json_text_value_end(root_at) - 1, *close_line = line_start(text, close);
	struct piece pieces[8];
	size_t n = 0;
	if (all_blank(root_at + 1, close)) {
		pieces[n++] = SPAN(text, root_at + 1);
		pieces[n++] = PIECE(newline);
	} else if (all_blank(close_line, close)) {
		/* Comments inside, and the brace on a line of its own: the
		 * member goes on a line of its own before it, after them. */
		close = close_line;
		pieces[n++] = SPAN(text, close);
	} else {
		pieces[n++] = SPAN(text, close);
		pieces[n++] = PIECE(newline);
	}
	pieces[n++] = PIECE("  ");
	for (size_t i = 0; i < member_count; i++)
		pieces[n++] = member[i];
	pieces[n++] = PIECE(newline);
	pieces[n++] = SPAN(close, text + length);
	return join(pieces, n, out, out_length);
}

/* The new value as it will be written: blanks around it dropped. A comment
 * after it is refused, as a "//" would swallow the comma or brace that
 * follows the value in the library. */
static int trim_value(const char *value_json, const char *name, struct piece *value, struct tkvm_error *err)
{
	char quoted[80];
	json_text_quote(name, quoted, sizeof quoted);
	char source[128];
	snprintf(source, sizeof source, "the new value of %s", quoted);
	cJSON *parsed = json_text_parse(value_json, strlen(value_json), source, err);
	if (!parsed)
		return err && err->code ? err->code : -EINVAL;
	cJSON_Delete(parsed);
	const char *start = value_json, *end = value_json + strlen(value_json);
	while (is_blank(*start))
		start++;
	while (end > start && is_blank(end[-1]))
		end--;
	const char *value_end = json_text_value_end(json_text_root(value_json));
	if (value_end != end)
		return tkvm_error_set(err, -EINVAL, "%s: a comment after the value would swallow what follows it", source);
	*value = SPAN(start, end);
	return 0;
}

/* The splice is checked by reading the result back: it must parse, and its
 * first member named name must be the new value. A library that fails this
 * is never handed to the publisher. */
static int check_result(const char *result, size_t length, const char *source, const char *name,
			const struct piece *value, struct tkvm_error *err)
{
	struct tkvm_error inner = { 0 };
	cJSON *root = json_text_parse(result, length, source, &inner);
	char *value_text = strndup(value->at, value->length);
	cJSON *wanted = value_text ? json_text_parse(value_text, value->length, source, &inner) : NULL;
	bool same = root && wanted && cJSON_Compare(cJSON_GetObjectItemCaseSensitive(root, name), wanted, 1);
	cJSON_Delete(root);
	cJSON_Delete(wanted);
	free(value_text);
	if (same)
		return 0;
	if (!value_text)
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory editing the library", source);
	return tkvm_error_set(err, -EINVAL, "%s: editing the library did not give the expected JSON (%s)", source,
			      inner.message[0] ? inner.message : "the new member is not there");
}

/* name as a JSON string, quotes and escapes included (cJSON's escaper). */
static char *quote_name(const char *name)
{
	cJSON *string = cJSON_CreateString(name);
	char *quoted = string ? cJSON_PrintUnformatted(string) : NULL;
	cJSON_Delete(string);
	return quoted;
}

/* Chooses the splice; text is NUL-terminated, blank or parsed as root. */
static int splice(const char *text, size_t length, const cJSON *root, const char *name, const char *quoted_name,
		  const struct piece *value, char **out, size_t *out_length)
{
	const char *end = text + length, *newline = newline_of(text);
	const struct piece member[] = { PIECE(quoted_name), PIECE(": "), *value };
	if (!root) {
		const struct piece pieces[] = { PIECE("{"), PIECE(newline), PIECE("  "), member[0], member[1],
						member[2], PIECE(newline), PIECE("}"), PIECE(newline) };
		return join(pieces, sizeof pieces / sizeof pieces[0], out, out_length);
	}
	const char *root_at = json_text_root(text);
	struct members m;
	int rc = find_members(root, root_at, name, &m);
	if (rc < 0)
		return rc;
	if (m.value_at) {
		const struct piece pieces[] = { SPAN(text, m.value_at), *value, SPAN(m.value_end, end) };
		return join(pieces, sizeof pieces / sizeof pieces[0], out, out_length);
	}
	if (m.count == 0)
		return fill_empty_object(text, length, root_at, newline, member, 3, out, out_length);
	char indent_buf[256];
	const char *insert_at = after_trailing_comments(m.last_end);
	const struct piece pieces[] = {
		SPAN(text, m.last_end), PIECE(","), SPAN(m.last_end, insert_at), PIECE(newline),
		indentation_after(text, root_at, m.last_key_at, indent_buf, sizeof indent_buf),
		member[0], member[1], member[2], SPAN(insert_at, end),
	};
	return join(pieces, sizeof pieces / sizeof pieces[0], out, out_length);
}

int library_edit_set_member(const char *text, size_t length, const char *source, const char *name,
			    const char *value_json, char **out, size_t *out_length, struct tkvm_error *err)
{
	if (!source)
		source = "library";
	if (!out || !name || !value_json || (!text && length))
		return tkvm_error_set(err, -EINVAL, "%s: library_edit_set_member: missing argument", source);
	*out = NULL;
	if (out_length)
		*out_length = 0;
	if (!*name)
		return tkvm_error_set(err, -EINVAL, "%s: a program needs a name to be published", source);
	struct piece value;
	int rc = trim_value(value_json, name, &value, err);
	if (rc < 0)
		return rc;

	cJSON *root = NULL;
	if (text && !all_blank(text, text + length)) {
		root = json_text_parse(text, length, source, err);
		if (!root)
			return err && err->code ? err->code : -EINVAL;
		if (!cJSON_IsObject(root)) {
			rc = tkvm_error_set(err, -EINVAL, "%s: the library is not a JSON object (it is %s)", source,
					    json_text_kind(root));
			cJSON_Delete(root);
			return rc;
		}
	}
	/* The walkers need terminated text; json_text_parse has refused
	 * embedded NULs (and blank text has none). */
	char *terminated = strndup(text ? text : "", length);
	char *quoted_name = quote_name(name);
	char *result = NULL;
	size_t result_length = 0;
	if (!terminated || !quoted_name)
		rc = -ENOMEM;
	else
		rc = splice(terminated, length, root, name, quoted_name, &value, &result, &result_length);
	cJSON_Delete(root);
	free(terminated);
	free(quoted_name);
	if (rc == -EINVAL)
		return tkvm_error_set(err, rc, "%s: could not find the members of the library in its text", source);
	if (rc < 0)
		return tkvm_error_set(err, rc, "%s: out of memory editing the library", source);
	rc = check_result(result, result_length, source, name, &value, err);
	if (rc < 0) {
		free(result);
		return rc;
	}
	*out = result;
	if (out_length)
		*out_length = result_length;
	return 0;
}
