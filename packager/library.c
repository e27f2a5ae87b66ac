/* A library JSON read into programs (see library.h): members sorted into
 * groups and programs, groups read first (defaults + their own keys),
 * then each program from a copy of its group. A broken member becomes a
 * problem with its line and never stops the others. */
#include "packager/library.h"

#include "packager/json_text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_GROUP "test"

enum member_kind {
	MEMBER_GROUP,
	MEMBER_PROGRAM,
	MEMBER_SKIPPED, /* already a problem: not an object, or a duplicate name */
};

/* One member of the library object, with where it is written. */
struct member {
	cJSON *json;
	const char *name;
	int line;             /* of its key; 0 when not found */
	const char *value_at; /* its value in the text, or NULL */
	int value_line;       /* the line value_at is on */
	enum member_kind kind;
};

/* A group once read: its settings, or broken when its keys had an error. */
struct group {
	const char *name;
	int line;
	bool broken;
	struct tkvm_settings settings;
};

/* What a parse carries around; the library itself is only filled in. */
struct reading {
	const char *text; /* NUL-terminated copy of the input */
	const char *source;
	struct library *library;
	size_t problem_capacity;
	settings_warning_fn warn;
	void *warn_context;
};

/* --- Messages ----------------------------------------------------------- */



/* Where a member's messages start: "SOURCE:LINE: " or "SOURCE: ". */
static void location(char *buf, size_t size, const char *source, int line)
{
	if (line > 0)
		snprintf(buf, size, "%s:%d: ", source, line);
	else
		snprintf(buf, size, "%s: ", source);
}

static char *format_message(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static char *format_message(const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	int length = vsnprintf(NULL, 0, fmt, ap);
	char *message = length >= 0 ? malloc((size_t)length + 1) : NULL;
	if (message)
		vsnprintf(message, (size_t)length + 1, fmt, again);
	va_end(again);
	return message;
}

/* Reads the "SOURCE:LINE: " or "SOURCE: " that program_settings puts in
 * front of its messages: returns its length (0 when message does not start
 * so) and the line in *line (0 when none). */
static size_t read_location(const char *message, const char *source, long *line)
{
	size_t n = strlen(source), i = n + 1;
	*line = 0;
	if (strncmp(message, source, n) || message[n] != ':')
		return 0;
	long value = 0;
	while (message[i] >= '0' && message[i] <= '9' && value < 100000000)
		value = value * 10 + (message[i++] - '0');
	if (i > n + 1) {
		if (message[i] != ':')
			return 0;
		i++;
	}
	if (message[i] != ' ')
		return 0;
	*line = value;
	return i + 1;
}

/* "SOURCE:LINE: what" from program_settings becomes "SOURCE:LINE: program
 * "x": what", so that a message names the member it is about. Lines there
 * count from the member's text, which starts on line first_line. */
static char *name_member(const char *message, const char *source, int first_line, const char *kind,
			 const char *name)
{
	char quoted[128], where[512] = "";
	long line;
	size_t at = read_location(message, source, &line);
	if (at)
		location(where, sizeof where, source, line > 0 ? (int)(line + first_line - 1) : 0);
	json_text_quote(name, quoted, sizeof quoted);
	size_t length = strlen(where) + strlen(kind) + strlen(quoted) + strlen(message + at) + 4;
	char *out = malloc(length);
	if (out)
		snprintf(out, length, "%s%s %s: %s", where, kind, quoted, message + at);
	return out;
}

/* Records that member name could not be loaded; takes message. */
static int add_problem_message(struct reading *r, const char *name, char *message)
{
	struct library *library = r->library;
	char *name_copy = message ? strdup(name) : NULL;
	if (!name_copy)
		goto out_of_memory;
	if (library->problem_count == r->problem_capacity) {
		size_t capacity = r->problem_capacity ? r->problem_capacity * 2 : 8;
		struct library_problem *grown = realloc(library->problems, capacity * sizeof *grown);
		if (!grown)
			goto out_of_memory;
		library->problems = grown;
		r->problem_capacity = capacity;
	}
	library->problems[library->problem_count++] = (struct library_problem){ name_copy, message };
	return 0;
out_of_memory:
	free(name_copy);
	free(message);
	return -ENOMEM;
}

static int add_problem(struct reading *r, const char *name, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int add_problem(struct reading *r, const char *name, int line, const char *fmt, ...)
{
	char where[512];
	location(where, sizeof where, r->source, line);
	va_list ap;
	va_start(ap, fmt);
	char *what = format_message(fmt, ap);
	va_end(ap);
	char *message = NULL;
	if (what) {
		size_t length = strlen(where) + strlen(what) + 1;
		message = malloc(length);
		if (message)
			snprintf(message, length, "%s%s", where, what);
		free(what);
	}
	return add_problem_message(r, name, message);
}

/* Warnings from program_settings, relayed with the member's name. */
struct warning_relay {
	const struct reading *reading;
	const char *kind;
	const char *name;
	int first_line;
};

static void relay_warning(void *context, const char *message)
{
	const struct warning_relay *relay = context;
	const struct reading *r = relay->reading;
	char *named = name_member(message, r->source, relay->first_line, relay->kind, relay->name);
	r->warn(r->warn_context, named ? named : message);
	free(named);
}

/* Applies one member's keys to settings; a problem (not an error) when a
 * key is wrong. Returns 0, 1 for a problem recorded, or -ENOMEM.
 *
 * program_settings gets the member's own text (from its opening brace) as
 * a standalone object, its name detached for the call: finding the member
 * again in the whole library, once per member and once per line asked
 * for, would make a large library cost time quadratic in its size, and a
 * name written with escapes could not be found at all. Its lines then
 * count from the member's first line; name_member shifts them back. */
static int apply_member(struct reading *r, struct member *m, const char *kind, struct tkvm_settings *settings)
{
	struct warning_relay relay = { r, kind, m->name, 1 };
	struct tkvm_error problem = { 0 };
	const char *text = r->text;
	char *name = m->json->string;
	if (m->value_at) {
		text = m->value_at;
		relay.first_line = m->value_line;
		m->json->string = NULL;
	}
	int rc = program_settings_apply(m->json, text, r->source, settings, r->warn ? relay_warning : NULL, &relay,
					&problem);
	m->json->string = name;
	if (rc == -ENOMEM)
		return rc;
	if (rc == 0)
		return 0;
	char *message = name_member(problem.message, r->source, relay.first_line, kind, m->name);
	rc = add_problem_message(r, m->name, message);
	return rc < 0 ? rc : 1;
}

/* --- The members --------------------------------------------------------- */

/* Whether the key written at quote (its opening quote) is name; a key
 * written with escapes cannot be compared raw, the walk's order vouches
 * for it. */
static bool same_key(const char *quote_at, const char *name)
{
	for (const char *p = quote_at + 1; *p && *p != '"'; p++)
		if (*p == '\\')
			return true;
	size_t n = strlen(name);
	return !strncmp(quote_at + 1, name, n) && quote_at[1 + n] == '"';
}

static bool is_program(const cJSON *object)
{
	return cJSON_GetObjectItemCaseSensitive(object, "group") || cJSON_GetObjectItemCaseSensitive(object, "uri") ||
	       cJSON_GetObjectItemCaseSensitive(object, "filename");
}

/* The line of at, counting on from position from on line from_line. */
static int line_after(const char *from, int from_line, const char *at)
{
	for (; from < at && *from; from++)
		if (*from == '\n')
			from_line++;
	return from_line;
}

/* Lists the members in text order, with their lines (one walk of the
 * text, in step with cJSON, which keeps members in order; lines counted as
 * the walk goes, so the whole costs one pass). */
static struct member *list_members(const cJSON *root, const char *text, size_t *count)
{
	size_t n = 0;
	cJSON *item;
	cJSON_ArrayForEach(item, root)
		n++;
	*count = n;
	struct member *members = calloc(n ? n : 1, sizeof *members);
	if (!members)
		return NULL;
	const char *cursor = json_text_root(text), *counted = text;
	int line = 1;
	size_t i = 0;
	cJSON_ArrayForEach(item, root) {
		struct member *m = &members[i++];
		const char *key_at = NULL, *value_at = NULL;
		m->json = item;
		m->name = item->string ? item->string : "";
		cursor = json_text_next_member(cursor, &key_at, &value_at);
		if (cursor && !same_key(key_at, m->name))
			cursor = NULL;
		if (cursor) {
			m->line = line = line_after(counted, line, key_at);
			m->value_line = line = line_after(key_at, line, value_at);
			m->value_at = counted = value_at;
		} else {
			/* The walk lost its way (it never should on text cJSON
			 * took): the first key of that name will do. */
			m->line = json_text_key_line(text, m->name);
		}
		m->kind = !cJSON_IsObject(item) ? MEMBER_SKIPPED : is_program(item) ? MEMBER_PROGRAM : MEMBER_GROUP;
	}
	return members;
}

static int compare_member_names(const void *a, const void *b)
{
	const struct member *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);
	/* Then in text order, so the first of equal names comes first. */
	return c ? c : (*x < *y ? -1 : *x > *y);
}

/* Problems for members that are not objects and for names given twice
 * (the first one counts, as a lookup by name can only find one). */
static int check_members(struct reading *r, struct member *members, size_t count)
{
	struct member **sorted = calloc(count ? count : 1, sizeof *sorted);
	if (!sorted)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++)
		sorted[i] = &members[i];
	qsort(sorted, count, sizeof *sorted, compare_member_names);
	/* Marks first, so that problems come out in text order below. */
	const struct member **first = calloc(count ? count : 1, sizeof *first);
	if (!first) {
		free(sorted);
		return -ENOMEM;
	}
	for (size_t i = 1; i < count; i++) {
		if (strcmp(sorted[i]->name, sorted[i - 1]->name))
			continue;
		size_t earliest = i - 1;
		while (earliest > 0 && !strcmp(sorted[earliest - 1]->name, sorted[i]->name))
			earliest--;
		first[sorted[i] - members] = sorted[earliest];
	}
	free(sorted);
	int rc = 0;
	char quoted[128];
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct member *m = &members[i];
		json_text_quote(m->name, quoted, sizeof quoted);
		if (first[i]) {
			m->kind = MEMBER_SKIPPED;
			if (first[i]->line > 0)
				rc = add_problem(r, m->name, m->line,
						 "%s is defined twice (first at line %d); this one is ignored", quoted,
						 first[i]->line);
			else
				rc = add_problem(r, m->name, m->line, "%s is defined twice; this one is ignored",
						 quoted);
		} else if (!cJSON_IsObject(m->json)) {
			rc = add_problem(r, m->name, m->line,
					 "%s must be an object (a group or a program), got %s", quoted,
					 json_text_kind(m->json));
		}
	}
	free(first);
	return rc;
}

/* --- Groups ---------------------------------------------------------------- */

static int compare_group_names(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->name, ((const struct group *)b)->name);
}

static void free_groups(struct group *groups, size_t count)
{
	if (!groups)
		return;
	for (size_t i = 0; i < count; i++)
		tkvm_settings_free(&groups[i].settings);
	free(groups);
}

/* Reads every group: defaults plus its own keys (groups do not inherit
 * from groups). Sorted by name afterwards, for lookups. */
static int read_groups(struct reading *r, struct member *members, size_t count, struct group **out,
		       size_t *out_count)
{
	size_t n = 0;
	struct group *groups = calloc(count ? count : 1, sizeof *groups);
	if (!groups)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		struct member *m = &members[i];
		if (m->kind != MEMBER_GROUP)
			continue;
		struct group *g = &groups[n++];
		g->name = m->name;
		g->line = m->line;
		tkvm_settings_init(&g->settings);
		int rc = apply_member(r, m, "group", &g->settings);
		if (rc < 0) {
			free_groups(groups, n);
			return rc;
		}
		if (rc > 0) {
			g->broken = true;
			tkvm_settings_free(&g->settings);
		}
	}
	qsort(groups, n, sizeof *groups, compare_group_names);
	*out = groups;
	*out_count = n;
	return 0;
}

static const struct group *find_group(const struct group *groups, size_t count, const char *name)
{
	struct group key = { .name = name };
	return bsearch(&key, groups, count, sizeof *groups, compare_group_names);
}

/* --- Programs -------------------------------------------------------------- */

/* The line of key within a member, or the member's own line. */
static int member_key_line(const struct member *m, const char *key)
{
	const char *key_at = NULL;
	if (m->value_at)
		json_text_member(m->value_at, key, 0, &key_at);
	return key_at ? line_after(m->value_at, m->value_line, key_at) : m->line;
}

/* The settings a program starts from: a copy of its group's. Returns 0, 1
 * for a problem recorded, or -ENOMEM. */
static int start_from_group(struct reading *r, const struct member *m, const struct group *groups, size_t group_count,
			    struct tkvm_settings *settings)
{
	char quoted[128], quoted_group[128];
	json_text_quote(m->name, quoted, sizeof quoted);
	const cJSON *group_json = cJSON_GetObjectItemCaseSensitive(m->json, "group");
	const char *group_name = DEFAULT_GROUP;
	int rc;
	if (group_json) {
		if (!cJSON_IsString(group_json) || !group_json->valuestring || !group_json->valuestring[0]) {
			rc = add_problem(r, m->name, member_key_line(m, "group"),
					 "program %s: \"group\" must be the name of a group (a non-empty string), got %s",
					 quoted, cJSON_IsString(group_json) ? "an empty string" : json_text_kind(group_json));
			return rc < 0 ? rc : 1;
		}
		group_name = group_json->valuestring;
	}
	json_text_quote(group_name, quoted_group, sizeof quoted_group);
	const struct group *g = find_group(groups, group_count, group_name);
	if (!g && !strcmp(group_name, DEFAULT_GROUP)) {
		/* The default group exists even when the library does not define it. */
		tkvm_settings_init(settings);
		return 0;
	}
	if (!g) {
		rc = add_problem(r, m->name, member_key_line(m, "group"), "program %s: group %s is not defined",
				 quoted, quoted_group);
		return rc < 0 ? rc : 1;
	}
	if (g->broken) {
		rc = add_problem(r, m->name, member_key_line(m, "group"),
				 "program %s: its group %s (line %d) has an error, so the program is not loaded",
				 quoted, quoted_group, g->line);
		return rc < 0 ? rc : 1;
	}
	return tkvm_settings_copy(settings, &g->settings) < 0 ? -ENOMEM : 0;
}

/* Reads one program into the next slot of library->programs. Returns 0
 * (loaded or a problem recorded) or -ENOMEM. */
static int read_program(struct reading *r, struct member *m, const struct group *groups, size_t group_count)
{
	char quoted[128];
	json_text_quote(m->name, quoted, sizeof quoted);
	if (!m->name[0])
		return add_problem(r, m->name, m->line, "a program needs a name, got %s", quoted);
	if (!cJSON_GetObjectItemCaseSensitive(m->json, "uri") && !cJSON_GetObjectItemCaseSensitive(m->json, "filename"))
		return add_problem(r, m->name, m->line, "program %s has neither \"uri\" nor \"filename\"", quoted);

	struct tkvm_settings settings;
	int rc = start_from_group(r, m, groups, group_count, &settings);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = apply_member(r, m, "program", &settings);
	if (rc == 0) {
		free(settings.name);
		settings.name = strdup(m->name);
		char *name = settings.name ? strdup(m->name) : NULL;
		if (!name) {
			tkvm_settings_free(&settings);
			return -ENOMEM;
		}
		struct library_program *p = &r->library->programs[r->library->program_count++];
		p->name = name;
		p->settings = settings;
		return 0;
	}
	tkvm_settings_free(&settings);
	return rc < 0 ? rc : 0;
}

/* --- The library ------------------------------------------------------------ */

static int read_library(struct reading *r, const cJSON *root)
{
	size_t count = 0, group_count = 0;
	struct group *groups = NULL;
	struct member *members = list_members(root, r->text, &count);
	if (!members)
		return -ENOMEM;
	int rc = check_members(r, members, count);
	if (rc == 0)
		rc = read_groups(r, members, count, &groups, &group_count);
	if (rc == 0) {
		r->library->programs = calloc(count ? count : 1, sizeof *r->library->programs);
		if (!r->library->programs)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < count && rc == 0; i++)
		if (members[i].kind == MEMBER_PROGRAM)
			rc = read_program(r, &members[i], groups, group_count);
	free_groups(groups, group_count);
	free(members);
	return rc;
}

int library_parse(const char *text, size_t length, const char *source, struct library *library,
		  settings_warning_fn warn, void *warn_context, struct tkvm_error *err)
{
	if (!source)
		source = "library";
	if (!library)
		return tkvm_error_set(err, -EINVAL, "%s: library_parse: no library to fill", source);
	memset(library, 0, sizeof *library);
	cJSON *root = json_text_parse(text, length, source, err);
	if (!root)
		return err && err->code ? err->code : -EINVAL;
	/* The line finders need a terminated copy; json_text_parse has already
	 * refused embedded NULs. */
	char *terminated = malloc(length + 1);
	if (!terminated) {
		cJSON_Delete(root);
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory reading the library", source);
	}
	memcpy(terminated, text, length);
	terminated[length] = 0;
	int rc;
	if (!cJSON_IsObject(root)) {
		char where[512];
		location(where, sizeof where, source, json_text_line_at(terminated, json_text_root(terminated)));
		rc = tkvm_error_set(err, -EINVAL, "%sa library must be a JSON object of groups and programs, got %s",
				    where, json_text_kind(root));
	} else {
		struct reading r = { .text = terminated, .source = source, .library = library, .warn = warn,
				     .warn_context = warn_context };
		rc = read_library(&r, root);
		if (rc < 0) {
			library_free(library);
			rc = tkvm_error_set(err, rc, "%s: out of memory reading the library", source);
		}
	}
	free(terminated);
	cJSON_Delete(root);
	return rc;
}

const struct library_program *library_find(const struct library *library, const char *name)
{
	if (!library || !name)
		return NULL;
	for (size_t i = 0; i < library->program_count; i++)
		if (!strcmp(library->programs[i].name, name))
			return &library->programs[i];
	return NULL;
}

void library_free(struct library *library)
{
	if (!library)
		return;
	for (size_t i = 0; i < library->program_count; i++) {
		free(library->programs[i].name);
		tkvm_settings_free(&library->programs[i].settings);
	}
	free(library->programs);
	for (size_t i = 0; i < library->problem_count; i++) {
		free(library->problems[i].name);
		free(library->problems[i].message);
	}
	free(library->problems);
	memset(library, 0, sizeof *library);
}
