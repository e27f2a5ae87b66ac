/* Saved profiles read back and compared with this run (see
 * profile_baseline.h). A saved profile is untrusted input: every member
 * used is checked for its type before use. */
#include "cli/profile_baseline.h"
#include "cli/program_options.h"
#include "cli/terminal.h"
#include "packager/json_text.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SHARE_CHANGE_SHOWN 0.02 /* self-share changes under 2 points are not listed */
#define SHARE_CHANGES_MAX 8
#define PROFILE_MAX_VALUE 1e12 /* seconds, counts or bytes: anything larger is not a measurement */

static int invalid(const char *path, const char *what)
{
	cli_error("'%s' is not a saved tkvm profile: %s", path, what);
	cli_hint("write one with: tkvm profile --save FILE PROGRAM [METHOD] URL");
	return -1;
}

int profile_baseline_load(const char *path, struct profile_baseline *b)
{
	memset(b, 0, sizeof *b);
	uint8_t *text = NULL;
	size_t length = 0;
	if (read_whole_file(path, &text, &length) < 0)
		return -1;
	struct tkvm_error err = {0};
	b->root = json_text_parse((const char *)text, length, path, &err);
	free(text);
	if (!b->root) {
		cli_error("%s", err.message);
		return -1;
	}
	int status = 0;
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(b->root, "tkvm_profile");
	const cJSON *phases = cJSON_GetObjectItemCaseSensitive(b->root, "phases");
	const cJSON *functions = cJSON_GetObjectItemCaseSensitive(b->root, "functions");
	if (!cJSON_IsObject(b->root) || !cJSON_IsNumber(version)) {
		status = invalid(path, "no \"tkvm_profile\" version number");
	} else if (version->valuedouble != PROFILE_FORMAT_VERSION) {
		char what[96];
		snprintf(what, sizeof what, "format version %g, this tkvm reads version %d", version->valuedouble,
			 PROFILE_FORMAT_VERSION);
		status = invalid(path, what);
	} else if (!cJSON_IsObject(phases)) {
		status = invalid(path, "no \"phases\" object");
	} else if (functions && !cJSON_IsArray(functions)) {
		status = invalid(path, "\"functions\" is not an array");
	} else {
		const cJSON *phase;
		cJSON_ArrayForEach(phase, phases) {
			const cJSON *p50 = cJSON_GetObjectItemCaseSensitive(phase, "p50");
			if (!cJSON_IsObject(phase) || !cJSON_IsNumber(p50) || !phase->string || !isfinite(p50->valuedouble) ||
			    p50->valuedouble < 0 || p50->valuedouble > PROFILE_MAX_VALUE) {
				char what[160], quoted[96];
				snprintf(what, sizeof what, "phase %s has no \"p50\" (a number from 0 to 1e12)",
					 json_text_quote(phase->string ? phase->string : "?", quoted, sizeof quoted));
				status = invalid(path, what);
				break;
			}
		}
	}
	if (status < 0) {
		profile_baseline_free(b);
		return -1;
	}
	b->path = strdup(path);
	return 0;
}

void profile_baseline_free(struct profile_baseline *b)
{
	cJSON_Delete(b->root);
	free(b->path);
	memset(b, 0, sizeof *b);
}

static const char *json_string(const cJSON *object, const char *key, const char *fallback)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
	return cJSON_IsString(item) && item->valuestring ? item->valuestring : fallback;
}

static enum phase_unit unit_named(const char *name)
{
	return strcmp(name, "count") == 0 ? PHASE_COUNT : strcmp(name, "bytes") == 0 ? PHASE_BYTES : PHASE_SECONDS;
}

struct compared {
	const char *key, *label;
	enum phase_unit unit;
	double before, now;
	bool regression;
};

static bool regressed(enum phase_unit unit, double before, double now, double threshold)
{
	double floor = unit == PHASE_SECONDS ? PROFILE_TIME_FLOOR : PROFILE_COUNT_FLOOR;
	return now > before * (1 + threshold) && now - before > floor;
}

static void format_change(double before, double now, char *buf, size_t size)
{
	if (before > 0)
		snprintf(buf, size, "%+.0f%%", 100.0 * (now - before) / before);
	else
		snprintf(buf, size, now > 0 ? "new" : "=");
}

/* A saved function's self share, 0 unless a number from 0 to 1. */
static double share_of(const cJSON *entry)
{
	const cJSON *self = cJSON_GetObjectItemCaseSensitive(entry, "self");
	return cJSON_IsNumber(self) && self->valuedouble >= 0 && self->valuedouble <= 1 ? self->valuedouble : 0;
}

/* Self shares that moved: printed, and added to comparison. */
static void compare_functions(const cJSON *saved, const struct profile_result *r, FILE *out, cJSON *comparison)
{
	struct share_change {
		const char *name;
		double before, now;
	} changes[SHARE_CHANGES_MAX];
	size_t change_count = 0;
	const struct sample_stacks *s = &r->stacks;
	double total = (double)s->sample_count;
	if (!cJSON_IsArray(saved) || total == 0)
		return;
	/* Every function of either side: this run's, then the saved ones it lacks. */
	size_t ours = s->function_count;
	const cJSON *entry;
	size_t theirs = (size_t)cJSON_GetArraySize(saved);
	for (size_t i = 0; i < ours + theirs; i++) {
		const char *name;
		double before = 0, now = 0;
		if (i < ours) {
			if (!s->functions[i].total)
				continue;
			name = profile_symbols_get(r->symbols, (uint32_t)i)->name;
			now = (double)s->functions[i].self / total;
			cJSON_ArrayForEach(entry, saved)
				if (strcmp(json_string(entry, "name", ""), name) == 0) {
					before = share_of(entry);
					break;
				}
		} else {
			entry = cJSON_GetArrayItem(saved, (int)(i - ours));
			name = json_string(entry, "name", NULL);
			if (!name)
				continue;
			bool known = false;
			for (size_t k = 0; k < ours && !known; k++)
				known = s->functions[k].total && strcmp(profile_symbols_get(r->symbols, (uint32_t)k)->name, name) == 0;
			if (known)
				continue;
			before = share_of(entry);
		}
		double moved = fabs(now - before);
		if (moved < SHARE_CHANGE_SHOWN)
			continue;
		size_t slot = change_count < SHARE_CHANGES_MAX ? change_count++ : SHARE_CHANGES_MAX;
		if (slot == SHARE_CHANGES_MAX) {
			/* Full: replace the smallest change if this one is bigger. */
			size_t smallest = 0;
			for (size_t k = 1; k < SHARE_CHANGES_MAX; k++)
				if (fabs(changes[k].now - changes[k].before) < fabs(changes[smallest].now - changes[smallest].before))
					smallest = k;
			if (fabs(changes[smallest].now - changes[smallest].before) >= moved)
				continue;
			slot = smallest;
		}
		changes[slot] = (struct share_change){name, before, now};
	}
	cJSON *list = comparison ? cJSON_AddArrayToObject(comparison, "functions") : NULL;
	if (out && change_count)
		fprintf(out, "self share moved:");
	for (size_t i = 0; i < change_count; i++) {
		if (out)
			fprintf(out, "%s %s %.1f%% → %.1f%%", i ? "," : "", changes[i].name, 100 * changes[i].before,
				100 * changes[i].now);
		cJSON *o = list ? cJSON_CreateObject() : NULL;
		if (o) {
			cJSON_AddStringToObject(o, "name", changes[i].name);
			cJSON_AddNumberToObject(o, "self_before", changes[i].before);
			cJSON_AddNumberToObject(o, "self_now", changes[i].now);
			cJSON_AddItemToArray(list, o);
		}
	}
	if (out && change_count)
		fputc('\n', out);
}

size_t profile_baseline_compare(const struct profile_baseline *b, const struct profile_result *r, double threshold,
				FILE *out, cJSON *json)
{
	const cJSON *saved = cJSON_GetObjectItemCaseSensitive(b->root, "phases");
	size_t saved_count = (size_t)cJSON_GetArraySize(saved);
	struct compared *rows = calloc(r->phases.count + saved_count + 1, sizeof *rows);
	if (!rows) {
		cli_error("out of memory comparing with '%s'", b->path);
		return 1;
	}
	size_t count = 0, regressions = 0;
	for (size_t i = 0; i < r->phases.count; i++) {
		const struct phase *p = &r->phases.phases[i];
		if (!p->gated)
			continue;
		const cJSON *before = cJSON_GetObjectItemCaseSensitive(saved, p->key);
		double value = before ? cJSON_GetObjectItemCaseSensitive(before, "p50")->valuedouble : 0;
		rows[count] = (struct compared){p->key, p->label, p->unit, value, p->p50, false};
		rows[count].regression = regressed(p->unit, value, p->p50, threshold);
		regressions += rows[count].regression;
		count++;
	}
	/* Phases only the baseline had (a syscall the program no longer makes). */
	const cJSON *phase;
	cJSON_ArrayForEach(phase, saved) {
		const cJSON *gated = cJSON_GetObjectItemCaseSensitive(phase, "gated");
		if (phase_table_find(&r->phases, phase->string) || (gated && !cJSON_IsTrue(gated)))
			continue;
		rows[count++] = (struct compared){phase->string, json_string(phase, "label", phase->string),
						  unit_named(json_string(phase, "unit", "seconds")),
						  cJSON_GetObjectItemCaseSensitive(phase, "p50")->valuedouble, 0, false};
	}

	const char *program = json_string(b->root, "program", "?"), *method = json_string(b->root, "method", "?"),
		   *url = json_string(b->root, "url", "?");
	if (out) {
		const char *bold = term_style(out, STYLE_BOLD), *reset = term_style(out, STYLE_RESET);
		fprintf(out, "\n%sagainst %s%s (%s %s %s): p50, threshold %g%%\n", bold, b->path, reset, program, method, url,
			100 * threshold);
		fprintf(out, "%s%-44s %10s %10s %8s%s\n", bold, "phase", "baseline", "now", "change", reset);
		for (size_t i = 0; i < count; i++) {
			if (rows[i].before == 0 && rows[i].now == 0)
				continue;
			char before[32], now[32], change[32];
			profile_format_value(rows[i].unit, rows[i].before, before, sizeof before);
			profile_format_value(rows[i].unit, rows[i].now, now, sizeof now);
			format_change(rows[i].before, rows[i].now, change, sizeof change);
			fprintf(out, "%-44s %10s %10s %8s", rows[i].label, before, now, change);
			if (rows[i].regression)
				fprintf(out, "  %sregression%s", term_style(out, STYLE_RED), term_style(out, STYLE_RESET));
			fputc('\n', out);
		}
	}
	cJSON *comparison = json ? cJSON_AddObjectToObject(json, "comparison") : NULL;
	if (comparison) {
		cJSON_AddStringToObject(comparison, "baseline", b->path);
		cJSON_AddNumberToObject(comparison, "threshold", threshold);
		cJSON *list = cJSON_AddArrayToObject(comparison, "phases");
		cJSON *names = cJSON_AddArrayToObject(comparison, "regressions");
		for (size_t i = 0; list && i < count; i++) {
			cJSON *o = cJSON_CreateObject();
			if (!o)
				break;
			cJSON_AddStringToObject(o, "phase", rows[i].key);
			cJSON_AddNumberToObject(o, "baseline_p50", rows[i].before);
			cJSON_AddNumberToObject(o, "p50", rows[i].now);
			cJSON_AddBoolToObject(o, "regression", rows[i].regression);
			cJSON_AddItemToArray(list, o);
			if (rows[i].regression && names)
				cJSON_AddItemToArray(names, cJSON_CreateString(rows[i].key));
		}
	}
	compare_functions(cJSON_GetObjectItemCaseSensitive(b->root, "functions"), r, out, comparison);
	for (size_t i = 0; i < count; i++) {
		if (!rows[i].regression)
			continue;
		char before[32], now[32], change[32];
		profile_format_value(rows[i].unit, rows[i].before, before, sizeof before);
		profile_format_value(rows[i].unit, rows[i].now, now, sizeof now);
		format_change(rows[i].before, rows[i].now, change, sizeof change);
		cli_error("regression: %s (%s): p50 %s → %s (%s, threshold %g%%)", rows[i].label, rows[i].key, before, now,
			  change, 100 * threshold);
	}
	if (!regressions && out)
		fprintf(out, "%sno regression beyond %g%%%s\n", term_style(out, STYLE_GREEN), 100 * threshold,
			term_style(out, STYLE_RESET));
	free(rows);
	return regressions;
}
