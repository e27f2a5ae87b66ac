/* Percentiles per phase over a profile's requests, and the sampled stacks
 * by function (see profile_stats.h). Invariant: every phase holds exactly
 * table->requests values; a phase first seen at request k reads 0 before. */
#include "cli/profile_stats.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double stats_percentile(double *values, size_t count, double p)
{
	if (count == 0)
		return 0;
	qsort(values, count, sizeof *values, compare_doubles);
	double rank = p / 100.0 * (double)(count - 1);
	size_t below = (size_t)floor(rank);
	if (below + 1 >= count)
		return values[count - 1];
	double fraction = rank - (double)below;
	return values[below] + (values[below + 1] - values[below]) * fraction;
}

int phase_table_init(struct phase_table *table, size_t requests)
{
	memset(table, 0, sizeof *table);
	table->requests = requests;
	return 0;
}

void phase_table_free(struct phase_table *table)
{
	for (size_t i = 0; i < table->count; i++)
		free(table->phases[i].values);
	free(table->phases);
	memset(table, 0, sizeof *table);
}

const struct phase *phase_table_find(const struct phase_table *table, const char *key)
{
	for (size_t i = 0; i < table->count; i++)
		if (strcmp(table->phases[i].key, key) == 0)
			return &table->phases[i];
	return NULL;
}

/* The phase called key, made on first use. */
static struct phase *phase_get(struct phase_table *table, const char *key, const char *label, enum phase_unit unit,
			       enum phase_group group, unsigned indent, bool gated)
{
	struct phase *found = (struct phase *)phase_table_find(table, key);
	if (found)
		return found;
	if (table->count == table->capacity) {
		size_t capacity = table->capacity ? table->capacity * 2 : 32;
		struct phase *more = realloc(table->phases, capacity * sizeof *more);
		if (!more)
			return NULL;
		table->phases = more;
		table->capacity = capacity;
	}
	struct phase *p = &table->phases[table->count];
	memset(p, 0, sizeof *p);
	p->values = calloc(table->requests ? table->requests : 1, sizeof *p->values);
	if (!p->values)
		return NULL;
	snprintf(p->key, sizeof p->key, "%s", key);
	snprintf(p->label, sizeof p->label, "%s", label);
	p->unit = unit;
	p->group = group;
	p->indent = indent;
	p->gated = gated;
	table->count++;
	return p;
}

static int record(struct phase_table *table, const char *key, const char *label, enum phase_unit unit,
		  enum phase_group group, unsigned indent, bool gated, double value, uint64_t calls)
{
	struct phase *p = phase_get(table, key, label, unit, group, indent, gated);
	if (!p)
		return -ENOMEM;
	p->values[table->filled] = value;
	p->calls += calls;
	return 0;
}

int phase_table_add(struct phase_table *table, const struct tkvm_profile *profile)
{
	if (table->filled >= table->requests)
		return -EINVAL;
	double host_calls = 0, syscalls = 0;
	uint64_t host_call_count = 0, syscall_count = 0;
	int r = 0;
	for (unsigned slot = 0; slot < TKVM_HOST_CALL_SLOTS && r == 0; slot++) {
		if (!profile->host_call_calls[slot])
			continue;
		const char *name = tkvm_host_call_slot_name(slot);
		char key[96];
		snprintf(key, sizeof key, "host_call:%s", name ? name : "other");
		r = record(table, key, name ? name : "other", PHASE_SECONDS, PHASE_GROUP_HOST_CALL, 2, true,
			   profile->host_call_seconds[slot], profile->host_call_calls[slot]);
		host_calls += profile->host_call_seconds[slot];
		host_call_count += profile->host_call_calls[slot];
	}
	for (unsigned number = 0; number < TKVM_SYSCALL_SLOTS && r == 0; number++) {
		if (!profile->syscall_calls[number])
			continue;
		const char *name = tkvm_syscall_name(number);
		char key[96], label[64];
		if (name)
			snprintf(label, sizeof label, "%s", name);
		else
			snprintf(label, sizeof label, "syscall %u", number);
		snprintf(key, sizeof key, "syscall:%s", label);
		r = record(table, key, label, PHASE_SECONDS, PHASE_GROUP_SYSCALL, 2, true,
			   profile->syscall_seconds[number], profile->syscall_calls[number]);
		syscalls += profile->syscall_seconds[number];
		syscall_count += profile->syscall_calls[number];
	}
	double other = profile->request_seconds - profile->guest_seconds - host_calls - syscalls;
	if (other < 0)
		other = 0;
	if (r == 0)
		r = record(table, "request", "request (dispatch to stop)", PHASE_SECONDS, PHASE_GROUP_REQUEST, 0, true,
			   profile->request_seconds, 0);
	if (r == 0)
		r = record(table, "guest", "in the guest (program + entries/exits)", PHASE_SECONDS, PHASE_GROUP_REQUEST, 1,
			   true, profile->guest_seconds, 0);
	if (r == 0)
		r = record(table, "host_calls", "host calls", PHASE_SECONDS, PHASE_GROUP_HOST_CALL, 1, true, host_calls,
			   host_call_count);
	if (r == 0)
		r = record(table, "syscalls", "Linux syscalls", PHASE_SECONDS, PHASE_GROUP_SYSCALL, 1, true, syscalls,
			   syscall_count);
	if (r == 0)
		r = record(table, "host_other", "host, other (set-up, exit handling)", PHASE_SECONDS, PHASE_GROUP_AFTER, 1,
			   true, other, 0);
	if (r == 0)
		r = record(table, "queue", "waiting for a VM", PHASE_SECONDS, PHASE_GROUP_AFTER, 0, true,
			   profile->queue_seconds, 0);
	if (r == 0)
		r = record(table, "reset", "reset after the request", PHASE_SECONDS, PHASE_GROUP_AFTER, 0, true,
			   profile->reset_seconds, 0);
	if (r == 0)
		r = record(table, "pages_reset", "pages restored", PHASE_COUNT, PHASE_GROUP_AFTER, 0, true,
			   (double)profile->pages_reset, 0);
	if (r == 0)
		r = record(table, "exits", "VM exits", PHASE_COUNT, PHASE_GROUP_AFTER, 0, true, (double)profile->exits, 0);
	if (r == 0)
		r = record(table, "bytes_in", "bytes in", PHASE_BYTES, PHASE_GROUP_AFTER, 0, false, (double)profile->bytes_in, 0);
	if (r == 0)
		r = record(table, "bytes_out", "bytes out", PHASE_BYTES, PHASE_GROUP_AFTER, 0, false,
			   (double)profile->bytes_out, 0);
	if (r == 0)
		table->filled++;
	return r;
}

/* Print order: the fixed rows in a fixed order, each group's detail rows
 * (host calls, syscalls) after their total, the costliest first. */
static int row_rank(const struct phase *p)
{
	static const char *const order[] = {"request", "guest", "host_calls", "syscalls", "host_other",
					    "queue", "reset", "pages_reset", "exits", "bytes_in", "bytes_out"};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (strcmp(p->key, order[i]) == 0)
			return (int)i * 2;
	/* Detail rows sit just after their group's total. */
	return p->group == PHASE_GROUP_HOST_CALL ? 5 : 7;
}

static int compare_rows(const void *a, const void *b)
{
	const struct phase *x = a, *y = b;
	int rx = row_rank(x), ry = row_rank(y);
	if (rx != ry)
		return rx - ry;
	if (x->mean != y->mean)
		return x->mean < y->mean ? 1 : -1;
	return strcmp(x->key, y->key);
}

void phase_table_finish(struct phase_table *table)
{
	size_t n = table->filled;
	for (size_t i = 0; i < table->count; i++) {
		struct phase *p = &table->phases[i];
		double sum = 0;
		for (size_t k = 0; k < n; k++)
			sum += p->values[k];
		p->mean = n ? sum / (double)n : 0;
		p->p50 = stats_percentile(p->values, n, 50);
		p->p90 = stats_percentile(p->values, n, 90);
		p->p99 = stats_percentile(p->values, n, 99);
	}
	qsort(table->phases, table->count, sizeof *table->phases, compare_rows);
}

void sample_stacks_init(struct sample_stacks *stacks)
{
	memset(stacks, 0, sizeof *stacks);
}

void sample_stacks_free(struct sample_stacks *stacks)
{
	free(stacks->frames);
	free(stacks->starts);
	free(stacks->functions);
	free(stacks->lines);
	memset(stacks, 0, sizeof *stacks);
}

static int reserve(void **array, size_t *capacity, size_t needed, size_t element)
{
	if (needed <= *capacity)
		return 0;
	size_t more = *capacity ? *capacity : 1024;
	while (more < needed)
		more *= 2;
	void *grown = realloc(*array, more * element);
	if (!grown)
		return -ENOMEM;
	*array = grown;
	*capacity = more;
	return 0;
}

static int count_line(struct sample_stacks *s, uint32_t function, const char *file, int line)
{
	for (size_t i = 0; i < s->line_count; i++)
		if (s->lines[i].line == line && s->lines[i].file == file) {
			s->lines[i].samples++;
			return 0;
		}
	if (reserve((void **)&s->lines, &s->line_capacity, s->line_count + 1, sizeof *s->lines) < 0)
		return -ENOMEM;
	s->lines[s->line_count++] = (struct hot_line){function, file, line, 1};
	return 0;
}

int sample_stacks_add(struct sample_stacks *s, struct profile_symbols *symbols, const struct tkvm_profile *profile)
{
	for (size_t i = 0; i < profile->sample_count; i++) {
		const struct tkvm_sample *sample = &profile->samples[i];
		uint32_t depth = sample->depth;
		if (depth == 0)
			continue;
		if (depth > TKVM_PROFILE_MAX_DEPTH)
			depth = TKVM_PROFILE_MAX_DEPTH;
		if (reserve((void **)&s->frames, &s->frame_capacity, s->frame_count + depth, sizeof *s->frames) < 0 ||
		    reserve((void **)&s->starts, &s->sample_capacity, s->sample_count + 2, sizeof *s->starts) < 0)
			return -ENOMEM;
		if (s->sample_count == 0)
			s->starts[0] = 0;
		/* Root first: the outermost return address, down to the RIP. */
		for (uint32_t k = 0; k < depth; k++) {
			uint32_t from_leaf = depth - 1 - k;
			int64_t id = profile_symbols_function(symbols, sample->frames[from_leaf], from_leaf > 0);
			if (id < 0)
				return (int)id;
			s->frames[s->frame_count++] = (uint32_t)id;
		}
		const char *file;
		int line;
		if (profile_symbols_line(symbols, sample->frames[0], false, &file, &line) &&
		    count_line(s, s->frames[s->frame_count - 1], file, line) < 0)
			return -ENOMEM;
		/* The runner's stubs have no frames of their own: not a sign of
		 * code built without frame pointers. */
		if (profile_symbols_get(symbols, s->frames[s->frame_count - 1])->name[0] != '[') {
			s->in_program++;
			if (depth == 1)
				s->leaf_only++;
		}
		s->sample_count++;
		s->starts[s->sample_count] = s->frame_count;
	}
	return 0;
}

static int compare_lines(const void *a, const void *b)
{
	const struct hot_line *x = a, *y = b;
	if (x->samples != y->samples)
		return x->samples < y->samples ? 1 : -1;
	return x->line - y->line;
}

int sample_stacks_finish(struct sample_stacks *s, const struct profile_symbols *symbols)
{
	size_t n = profile_symbols_count(symbols);
	free(s->functions);
	s->functions = calloc(n ? n : 1, sizeof *s->functions);
	if (!s->functions)
		return -ENOMEM;
	s->function_count = n;
	/* last_seen: a recursive function counts once per sample in total. */
	size_t *last_seen = calloc(n ? n : 1, sizeof *last_seen);
	if (!last_seen)
		return -ENOMEM;
	for (size_t i = 0; i < s->sample_count; i++) {
		const uint32_t *stack = sample_stack(s, i);
		size_t depth = sample_stack_depth(s, i);
		s->functions[stack[depth - 1]].self++;
		for (size_t k = 0; k < depth; k++) {
			if (last_seen[stack[k]] == i + 1)
				continue;
			last_seen[stack[k]] = i + 1;
			s->functions[stack[k]].total++;
		}
	}
	free(last_seen);
	if (s->line_count)
		qsort(s->lines, s->line_count, sizeof *s->lines, compare_lines);
	return 0;
}

/* For sorting unique stacks by their names, frame by frame. */
static const struct profile_symbols *sort_symbols;

static int compare_stacks(const void *a, const void *b)
{
	const struct unique_stack *x = a, *y = b;
	for (size_t k = 0; k < x->depth && k < y->depth; k++) {
		if (x->frames[k] == y->frames[k])
			continue;
		return strcmp(profile_symbols_get(sort_symbols, x->frames[k])->name,
			      profile_symbols_get(sort_symbols, y->frames[k])->name);
	}
	return (x->depth > y->depth) - (x->depth < y->depth);
}

int sample_stacks_unique(const struct sample_stacks *s, const struct profile_symbols *symbols,
			 struct unique_stack **unique, size_t *count)
{
	*unique = NULL;
	*count = 0;
	if (!s->sample_count)
		return 0;
	struct unique_stack *all = calloc(s->sample_count, sizeof *all);
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < s->sample_count; i++)
		all[i] = (struct unique_stack){sample_stack(s, i), sample_stack_depth(s, i), 1};
	sort_symbols = symbols;
	qsort(all, s->sample_count, sizeof *all, compare_stacks);
	size_t kept = 0;
	for (size_t i = 0; i < s->sample_count; i++) {
		if (kept && compare_stacks(&all[kept - 1], &all[i]) == 0)
			all[kept - 1].count++;
		else
			all[kept++] = all[i];
	}
	*unique = all;
	*count = kept;
	return 0;
}
