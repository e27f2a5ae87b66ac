/* JSON text as people write it (see json_text.h): comments blanked out so
 * cJSON can parse the rest with every byte still at its place, a syntax
 * error turned into "SOURCE:LINE:COLUMN: what, near where", and members found
 * again in the text so settings errors can name their line. */
#include "packager/json_text.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cJSON treats every byte up to the space as white space; so do we, so that
 * our diagnosis of a failed parse walks the text exactly as cJSON did. */
static bool is_blank_byte(unsigned char c)
{
	return c != 0 && c <= ' ';
}

/* Replaces // and block comments by spaces, keeping newlines so that lines
 * and columns of everything else stay true. Strings are left alone, escapes
 * included ("http://x" is no comment). Returns false, with *bad_at at the
 * opening slash-star, when a block comment never ends. */
static bool blank_comments(char *text, size_t length, size_t *bad_at)
{
	size_t i = 0;
	while (i < length) {
		char c = text[i];
		if (c == '"') {
			for (i++; i < length && text[i] != '"'; i++)
				if (text[i] == '\\')
					i++;
			i++;
		} else if (c == '/' && i + 1 < length && text[i + 1] == '/') {
			while (i < length && text[i] != '\n')
				text[i++] = ' ';
		} else if (c == '/' && i + 1 < length && text[i + 1] == '*') {
			size_t start = i;
			text[i++] = ' ';
			text[i++] = ' ';
			while (i < length && !(text[i] == '*' && i + 1 < length && text[i + 1] == '/')) {
				if (text[i] != '\n')
					text[i] = ' ';
				i++;
			}
			if (i >= length) {
				*bad_at = start;
				return false;
			}
			text[i++] = ' ';
			text[i++] = ' ';
		} else {
			i++;
		}
	}
	return true;
}

/* --- Diagnosis of a failed parse ---------------------------------------
 * cJSON only says "failed", and its error position is often a few bytes
 * off (past a closing brace, at the end of the text). So when it fails we
 * walk the text once more with the same grammar cJSON accepts and stop at
 * the first byte that breaks it, naming the mistake. This runs only on the
 * error path; parsing itself is cJSON's. */

struct json_problem {
	size_t at;
	char what[128];
};

static bool problem(struct json_problem *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool problem(struct json_problem *p, size_t at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof p->what, fmt, ap);
	va_end(ap);
	p->at = at;
	return true;
}

static size_t skip_blanks_at(const char *s, size_t len, size_t i)
{
	while (i < len && is_blank_byte((unsigned char)s[i]))
		i++;
	return i;
}

static bool is_hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex4(const char *s)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/* A string starting at s[*i] == '"'; leaves *i after the closing quote. */
static bool diagnose_string(const char *s, size_t len, size_t *i, struct json_problem *p)
{
	size_t start = *i, j = start + 1;
	while (j < len && s[j] != '"') {
		if (s[j] != '\\') {
			j++;
			continue;
		}
		if (j + 1 >= len)
			break;
		char e = s[j + 1];
		if (strchr("bfnrt\"\\/", e)) {
			j += 2;
			continue;
		}
		if (e != 'u')
			return problem(p, j, "invalid escape '\\%c' in string", e >= ' ' && e < 127 ? e : '?');
		for (int k = 0; k < 4; k++)
			if (j + 2 + (size_t)k >= len || !is_hex_digit(s[j + 2 + k]))
				return problem(p, j, "\\u must be followed by four hexadecimal digits");
		unsigned code = hex4(s + j + 2);
		if (code >= 0xDC00 && code <= 0xDFFF)
			return problem(p, j, "\\u%04X is a lone low surrogate", code);
		if (code >= 0xD800 && code <= 0xDBFF) {
			if (j + 11 >= len || s[j + 6] != '\\' || s[j + 7] != 'u')
				return problem(p, j, "\\u%04X must be followed by a \\u low surrogate", code);
			for (int k = 0; k < 4; k++)
				if (!is_hex_digit(s[j + 8 + k]))
					return problem(p, j + 6, "\\u must be followed by four hexadecimal digits");
			unsigned low = hex4(s + j + 8);
			if (low < 0xDC00 || low > 0xDFFF)
				return problem(p, j, "\\u%04X must be followed by a \\u low surrogate", code);
			j += 12;
		} else {
			j += 6;
		}
	}
	if (j >= len)
		return problem(p, start, "unterminated string");
	*i = j + 1;
	return false;
}

/* A number as cJSON reads it: the run of number characters, which strtod
 * must accept whole. */
static bool diagnose_number(const char *s, size_t len, size_t *i, struct json_problem *p)
{
	char number[64];
	size_t n = 0, start = *i;
	while (n < sizeof number - 1 && start + n < len && strchr("0123456789+-eE.", s[start + n]) && s[start + n])
		n++;
	memcpy(number, s + start, n);
	number[n] = 0;
	char *end = NULL;
	strtod(number, &end);
	if (end == number || (size_t)(end - number) != n)
		return problem(p, start, "invalid number");
	*i = start + n;
	return false;
}

static bool diagnose_unexpected(const char *s, size_t len, size_t at, const char *wanted, struct json_problem *p)
{
	if (at >= len)
		return problem(p, at, "unexpected end of text, %s", wanted);
	unsigned char c = (unsigned char)s[at];
	if (c == '\'')
		return problem(p, at, "strings and keys need double quotes, not single quotes");
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return problem(p, at, "unquoted word (strings need double quotes; literals are true, false, null)");
	if (c >= ' ' && c < 127)
		return problem(p, at, "unexpected '%c', %s", c, wanted);
	return problem(p, at, "unexpected byte 0x%02x, %s", c, wanted);
}

/* Finds the first syntax error in s (comments already blanked). Returns
 * false when the text looks valid to us too. */
static bool diagnose(const char *s, size_t len, struct json_problem *p)
{
	enum { WANT_VALUE, WANT_VALUE_OR_CLOSE, WANT_KEY, WANT_KEY_OR_CLOSE, AFTER_VALUE } state = WANT_VALUE;
	char stack[CJSON_NESTING_LIMIT + 1];
	size_t depth = 0, i = skip_blanks_at(s, len, 0);
	if (i >= len)
		return problem(p, i, "empty text (expected a JSON value)");
	for (;;) {
		i = skip_blanks_at(s, len, i);
		char c = i < len ? s[i] : 0;
		switch (state) {
		case WANT_VALUE_OR_CLOSE:
			if (c == ']') {
				depth--;
				i++;
				state = AFTER_VALUE;
				break;
			}
			/* fall through */
		case WANT_VALUE:
			if (i >= len)
				return problem(p, i, "unexpected end of text, expected a value");
			if (c == '{' || c == '[') {
				if (depth >= CJSON_NESTING_LIMIT)
					return problem(p, i, "nested more than %d levels deep", CJSON_NESTING_LIMIT);
				stack[depth++] = c;
				i++;
				state = c == '{' ? WANT_KEY_OR_CLOSE : WANT_VALUE_OR_CLOSE;
			} else if (c == '"') {
				if (diagnose_string(s, len, &i, p))
					return true;
				state = AFTER_VALUE;
			} else if (c == '-' || (c >= '0' && c <= '9')) {
				if (diagnose_number(s, len, &i, p))
					return true;
				state = AFTER_VALUE;
			} else if (len - i >= 4 && (!strncmp(s + i, "null", 4) || !strncmp(s + i, "true", 4))) {
				i += 4;
				state = AFTER_VALUE;
			} else if (len - i >= 5 && !strncmp(s + i, "false", 5)) {
				i += 5;
				state = AFTER_VALUE;
			} else {
				return diagnose_unexpected(s, len, i, "expected a value", p);
			}
			break;
		case WANT_KEY_OR_CLOSE:
			if (c == '}') {
				depth--;
				i++;
				state = AFTER_VALUE;
				break;
			}
			/* fall through */
		case WANT_KEY:
			if (c != '"')
				return diagnose_unexpected(s, len, i, "expected a key in double quotes", p);
			if (diagnose_string(s, len, &i, p))
				return true;
			i = skip_blanks_at(s, len, i);
			if (i >= len || s[i] != ':')
				return diagnose_unexpected(s, len, i, "expected ':' after the key", p);
			i++;
			state = WANT_VALUE;
			break;
		case AFTER_VALUE:
			if (depth == 0) {
				if (i < len)
					return problem(p, i, "unexpected text after the JSON value");
				return false;
			}
			if (c == ',') {
				size_t next = skip_blanks_at(s, len, i + 1);
				if (next < len && (s[next] == '}' || s[next] == ']'))
					return problem(p, i, "trailing comma");
				i++;
				state = stack[depth - 1] == '{' ? WANT_KEY : WANT_VALUE;
			} else if (c == (stack[depth - 1] == '{' ? '}' : ']')) {
				depth--;
				i++;
			} else if (stack[depth - 1] == '{') {
				if (c == '"')
					return problem(p, i, "missing ',' between members");
				return diagnose_unexpected(s, len, i, "expected ',' or '}'", p);
			} else {
				return diagnose_unexpected(s, len, i, "expected ',' or ']'", p);
			}
			break;
		}
	}
}

/* 1-based line and column (in bytes) of text[at]. */
static void line_and_column(const char *text, size_t at, int *line, int *column)
{
	int l = 1;
	size_t line_start = 0;
	for (size_t i = 0; i < at; i++)
		if (text[i] == '\n') {
			l++;
			line_start = i + 1;
		}
	*line = l;
	*column = (int)(at - line_start) + 1;
}

/* A few bytes of the offending line around text[at], printable only, so a
 * message stays one readable line whatever the input holds. */
static void snippet(const char *text, size_t length, size_t at, char *out, size_t size)
{
	size_t line_start = at, line_end = at;
	while (line_start > 0 && text[line_start - 1] != '\n')
		line_start--;
	while (line_end < length && text[line_end] != '\n')
		line_end++;
	size_t from = at - line_start > 16 ? at - 16 : line_start;
	size_t to = line_end - at > 24 ? at + 24 : line_end;
	while (from < to && is_blank_byte((unsigned char)text[from]))
		from++;
	while (to > from && is_blank_byte((unsigned char)text[to - 1]))
		to--;
	size_t n = 0;
	for (size_t i = from; i < to && n + 1 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		out[n++] = c >= ' ' && c < 127 ? (char)c : c == '\t' ? ' ' : '?';
	}
	out[n] = 0;
}

static void report(const char *text, size_t length, size_t at, const char *what, const char *source,
		   struct tkvm_error *err)
{
	int line, column;
	char near[48];
	if (at > length)
		at = length;
	line_and_column(text, at, &line, &column);
	snippet(text, length, at, near, sizeof near);
	tkvm_error_set(err, -EINVAL, "%s:%d:%d: invalid JSON: %s%s%s%s", source ? source : "input", line, column,
		       what, near[0] ? " near '" : "", near, near[0] ? "'" : "");
}

struct cJSON *json_text_parse(const char *text, size_t length, const char *source, struct tkvm_error *err)
{
	if (!text) {
		tkvm_error_set(err, -EINVAL, "%s: no JSON text", source ? source : "input");
		return NULL;
	}
	/* An embedded NUL would silently cut a string short inside cJSON. */
	const char *nul = memchr(text, 0, length);
	if (nul) {
		report(text, length, (size_t)(nul - text), "NUL byte in the text", source, err);
		return NULL;
	}
	if (length >= SIZE_MAX - 1) {
		tkvm_error_set(err, -EOVERFLOW, "%s: JSON text too large", source ? source : "input");
		return NULL;
	}
	char *plain = malloc(length + 1);
	if (!plain) {
		tkvm_error_set(err, -ENOMEM, "%s: out of memory reading JSON", source ? source : "input");
		return NULL;
	}
	memcpy(plain, text, length);
	plain[length] = 0;

	size_t bad_at = 0;
	if (!blank_comments(plain, length, &bad_at)) {
		report(text, length, bad_at, "unterminated /* comment", source, err);
		free(plain);
		return NULL;
	}
	/* length + 1 takes in our NUL, which cJSON then requires right after the
	 * value (and trailing blanks): "{} x" is an error, not "{}". */
	const char *end = NULL;
	cJSON *json = cJSON_ParseWithLengthOpts(plain, length + 1, &end, 1);
	if (json) {
		free(plain);
		return json;
	}
	struct json_problem p;
	if (!diagnose(plain, length, &p)) {
		/* We see nothing wrong: cJSON ran out of memory, or disagrees on a
		 * detail. Its own position is the best we have. */
		p.at = end && end >= plain && end <= plain + length ? (size_t)(end - plain) : 0;
		snprintf(p.what, sizeof p.what, "not accepted by the JSON parser (out of memory?)");
	}
	report(text, length, p.at, p.what, source, err);
	free(plain);
	return NULL;
}

/* --- Finding members again in the text ---------------------------------
 * cJSON keeps no positions, so to say "hello.json:4:" we walk the original
 * text (comments and all) to the member. These walkers assume nothing: on
 * text that does not have the expected shape they return NULL / 0. */

/* Skips white space and comments. */
static const char *skip_blank(const char *p)
{
	for (;;) {
		if (is_blank_byte((unsigned char)*p)) {
			p++;
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			if (!end)
				return p + strlen(p);
			p = end + 2;
		} else {
			return p;
		}
	}
}

/* p at an opening quote; returns the byte after the closing one, or NULL. */
static const char *skip_string(const char *p)
{
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && p[1])
			p++;
	return *p ? p + 1 : NULL;
}

static bool starts_comment(const char *p)
{
	return p[0] == '/' && (p[1] == '/' || p[1] == '*');
}

/* p at a value; returns the byte after it, or NULL. */
static const char *skip_value(const char *p)
{
	p = skip_blank(p);
	if (*p == '"')
		return skip_string(p);
	if (*p == '{' || *p == '[') {
		size_t depth = 0;
		while (*p) {
			if (*p == '"') {
				p = skip_string(p);
				if (!p)
					return NULL;
				continue;
			}
			if (starts_comment(p)) {
				p = skip_blank(p);
				continue;
			}
			if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
			p++;
		}
		return NULL;
	}
	const char *start = p;
	while (*p && *p != ',' && *p != '}' && *p != ']' && !is_blank_byte((unsigned char)*p) && !starts_comment(p))
		p++;
	return p == start ? NULL : p;
}

static bool string_token_is(const char *quote, const char *after, const char *key)
{
	size_t n = strlen(key);
	return (size_t)(after - quote) == n + 2 && memcmp(quote + 1, key, n) == 0;
}

const char *json_text_root(const char *text)
{
	if (!text)
		return NULL;
	const char *p = skip_blank(text);
	return *p ? p : NULL;
}

const char *json_text_member(const char *object_at, const char *key, size_t nth, const char **key_at)
{
	if (!object_at || !key)
		return NULL;
	const char *p = skip_blank(object_at);
	if (*p != '{')
		return NULL;
	p++;
	for (;;) {
		p = skip_blank(p);
		if (*p != '"')
			return NULL;
		const char *quote = p, *after = skip_string(p);
		if (!after)
			return NULL;
		p = skip_blank(after);
		if (*p != ':')
			return NULL;
		p = skip_blank(p + 1);
		if (string_token_is(quote, after, key) && nth-- == 0) {
			if (key_at)
				*key_at = quote;
			return p;
		}
		p = skip_value(p);
		if (!p)
			return NULL;
		p = skip_blank(p);
		if (*p != ',')
			return NULL;
		p++;
	}
}

const char *json_text_next_member(const char *at, const char **key_at, const char **value_at)
{
	if (!at)
		return NULL;
	const char *p = skip_blank(at);
	if (*p != '{' && *p != ',')
		return NULL;
	p = skip_blank(p + 1);
	if (*p != '"')
		return NULL;
	const char *quote = p;
	p = skip_string(p);
	if (!p)
		return NULL;
	p = skip_blank(p);
	if (*p != ':')
		return NULL;
	p = skip_blank(p + 1);
	const char *value = p;
	p = skip_value(p);
	if (!p)
		return NULL;
	if (key_at)
		*key_at = quote;
	if (value_at)
		*value_at = value;
	return p;
}

const char *json_text_value_end(const char *value_at)
{
	return value_at ? skip_value(value_at) : NULL;
}

const char *json_text_element(const char *array_at, size_t index)
{
	if (!array_at)
		return NULL;
	const char *p = skip_blank(array_at);
	if (*p != '[')
		return NULL;
	p++;
	for (size_t i = 0;; i++) {
		p = skip_blank(p);
		if (*p == ']' || !*p)
			return NULL;
		if (i == index)
			return p;
		p = skip_value(p);
		if (!p)
			return NULL;
		p = skip_blank(p);
		if (*p != ',')
			return NULL;
		p++;
	}
}

int json_text_line_at(const char *text, const char *at)
{
	if (!text || !at || at < text)
		return 0;
	int line = 1;
	for (const char *p = text; p < at && *p; p++)
		if (*p == '\n')
			line++;
	return line;
}

int json_text_key_line(const char *text, const char *key)
{
	if (!text || !key)
		return 0;
	const char *p = text;
	while (*p) {
		if (starts_comment(p)) {
			p = skip_blank(p);
		} else if (*p == '"') {
			const char *after = skip_string(p);
			if (!after)
				return 0;
			if (string_token_is(p, after, key) && *skip_blank(after) == ':')
				return json_text_line_at(text, p);
			p = after;
		} else {
			p++;
		}
	}
	return 0;
}

const char *json_text_quote(const char *s, char *buf, size_t size)
{
	const size_t max_shown = 48;
	size_t n = 0, shown = 0;
	buf[n++] = '"';
	for (; *s && n + 8 < size; s++) {
		if (shown++ == max_shown) {
			n += (size_t)snprintf(buf + n, size - n, "...");
			break;
		}
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			n += (size_t)snprintf(buf + n, size - n, "\\%c", c);
		else if (c >= ' ' && c < 127)
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
	}
	snprintf(buf + n, size - n, "\"");
	return buf;
}

/* Case-insensitive Damerau-Levenshtein distance of two short names (SIZE_MAX
 * past 64 bytes): what "did you mean" suggestions are ranked by. */
size_t json_text_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[3][66];
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *row = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
			size_t best = prev[j - 1] + (ca != cb);
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			row[j] = best;
		}
	}
	return d[la % 3][lb];
}

const char *json_text_kind(const struct cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "nothing";
}
