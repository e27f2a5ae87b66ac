/* What `tkvm profile` found, and how it is shown: the phase table and the
 * top functions for people, one JSON document for scripts and for --save
 * (the baseline --against reads back), folded stacks. */
#ifndef TKVM_CLI_PROFILE_REPORT_H
#define TKVM_CLI_PROFILE_REPORT_H
#include <stdio.h>
#include "cli/profile_stats.h"
#include "cli/profile_symbols.h"

#define PROFILE_FORMAT_VERSION 1
#define PROFILE_MAX_STATUSES 8

struct profile_result {
	const char *program, *method, *url;
	size_t requests;            /* in each set: unsampled (the phases), sampled */
	unsigned hz;                /* 0: no sampled set */
	struct phase_table phases;  /* from the unsampled set */
	struct sample_stacks stacks;
	struct profile_symbols *symbols;
	double unsampled_seconds;   /* request_seconds summed over each set */
	double sampled_seconds;
	double unsampled_squares;   /* and their squares, for the overhead's standard error */
	double sampled_squares;
	double sampling_host_seconds; /* the runner's own time taking the samples */
	size_t samples_taken;       /* including any the stacks dropped (depth 0) */
	int statuses[PROFILE_MAX_STATUSES];
	size_t status_counts[PROFILE_MAX_STATUSES + 1]; /* the last one: any other status */
};

/* Mean request time added by sampling, per request and per sample (0
 * without samples), and the standard error of the per-request figure. */
double profile_overhead_per_request(const struct profile_result *result);
double profile_overhead_per_sample(const struct profile_result *result);
double profile_overhead_error(const struct profile_result *result);

/* "812 ns", "12.3 µs", "4.12 ms", "1.25 s" */
const char *profile_format_seconds(double seconds, char *buf, size_t size);
/* A phase's value in its unit ("4.12 ms", "3", "1.2 KiB"). */
const char *profile_format_value(enum phase_unit unit, double value, char *buf, size_t size);

void profile_report_print(FILE *out, const struct profile_result *result);
/* The document --json prints and --save writes; NULL when out of memory. */
struct cJSON *profile_report_json(const struct profile_result *result);
/* Brendan Gregg's folded stacks: "root;caller;leaf count" per unique stack. */
int profile_report_folded(FILE *out, const struct profile_result *result);
#endif
