/* Aggregation for `tkvm profile`: per-request phases of struct
 * tkvm_profile summed up as percentiles, and the sampled call stacks as
 * per-function self/total counts, unique stacks and hot source lines. */
#ifndef TKVM_CLI_PROFILE_STATS_H
#define TKVM_CLI_PROFILE_STATS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cli/profile_symbols.h"
#include "runner/tkvm.h"

/* Percentile p (0..100) of values (sorted in place), by linear
 * interpolation between the closest ranks; 0 for no values. */
double stats_percentile(double *values, size_t count, double p);

enum phase_unit { PHASE_SECONDS, PHASE_COUNT, PHASE_BYTES };

/* Where a phase sits in the table: the request and what it is made of
 * (host calls and syscalls each under their total), then what follows. */
enum phase_group { PHASE_GROUP_REQUEST, PHASE_GROUP_HOST_CALL, PHASE_GROUP_SYSCALL, PHASE_GROUP_AFTER };

struct phase {
	char key[96];          /* stable name in saved profiles: "request", "syscall:write", ... */
	char label[64];        /* for people */
	enum phase_unit unit;
	enum phase_group group;
	unsigned indent;
	bool gated;            /* --against fails when this phase regresses */
	double *values;        /* one per request, 0 where it did not happen */
	uint64_t calls;        /* host calls and syscalls: calls summed over the requests */
	double p50, p90, p99, mean;
};

struct phase_table {
	struct phase *phases;
	size_t count, capacity;
	size_t requests, filled; /* room for requests values per phase; filled so far */
};

int phase_table_init(struct phase_table *table, size_t requests);
void phase_table_free(struct phase_table *table);
/* Records one request's phases. Returns 0 or -ENOMEM. */
int phase_table_add(struct phase_table *table, const struct tkvm_profile *profile);
/* Computes the percentiles and orders the rows for printing. */
void phase_table_finish(struct phase_table *table);
const struct phase *phase_table_find(const struct phase_table *table, const char *key);

/* The samples as stacks of functions (root first), in the order taken. */
struct function_count {
	uint64_t self, total;  /* samples with the function as leaf / anywhere on the stack */
};

struct hot_line {
	uint32_t function;
	const char *file;      /* owned by the symbols */
	int line;
	uint64_t samples;
};

struct sample_stacks {
	uint32_t *frames;      /* all stacks back to back, function ids, root first */
	size_t frame_count, frame_capacity;
	size_t *starts;        /* sample i's frames: frames[starts[i] .. starts[i + 1]) */
	size_t sample_count, sample_capacity;
	size_t in_program;     /* samples in the program's code (not in the runner's stubs) */
	size_t leaf_only;      /* of those, samples whose frame chain stopped at the leaf */
	struct function_count *functions; /* indexed by function id; function_count entries */
	size_t function_count;
	struct hot_line *lines;
	size_t line_count, line_capacity;
};

void sample_stacks_init(struct sample_stacks *stacks);
void sample_stacks_free(struct sample_stacks *stacks);
/* Adds a request's samples, symbolized. Returns 0 or -ENOMEM. */
int sample_stacks_add(struct sample_stacks *stacks, struct profile_symbols *symbols, const struct tkvm_profile *profile);
/* Counts self/total per function and the hot lines (sorted, most first). */
int sample_stacks_finish(struct sample_stacks *stacks, const struct profile_symbols *symbols);
static inline size_t sample_stack_depth(const struct sample_stacks *s, size_t i) { return s->starts[i + 1] - s->starts[i]; }
static inline const uint32_t *sample_stack(const struct sample_stacks *s, size_t i) { return s->frames + s->starts[i]; }

/* Unique stacks with their sample counts, sorted by their frames' names
 * (the order of folded-stack files). */
struct unique_stack {
	const uint32_t *frames;
	size_t depth;
	uint64_t count;
};
int sample_stacks_unique(const struct sample_stacks *stacks, const struct profile_symbols *symbols,
			 struct unique_stack **unique, size_t *count);
#endif
