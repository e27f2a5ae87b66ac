/* `tkvm profile --against FILE`: a profile saved with --save, compared
 * phase by phase with this run's. A phase regresses when its p50 grew by
 * more than the threshold and by more than a noise floor (time: 25 µs,
 * half a VM exit on our machines; counts: 1), so a CI job fails on real
 * slowdowns and not on the jitter of a noisy machine. */
#ifndef TKVM_CLI_PROFILE_BASELINE_H
#define TKVM_CLI_PROFILE_BASELINE_H
#include <stdbool.h>
#include <stdio.h>
#include "cli/profile_report.h"

#define PROFILE_TIME_FLOOR 25e-6
#define PROFILE_COUNT_FLOOR 1.0

struct profile_baseline {
	struct cJSON *root;
	char *path;
};

/* Reads and checks a saved profile. Returns 0, or -1 with the error
 * reported (naming the file and what is wrong in it). */
int profile_baseline_load(const char *path, struct profile_baseline *baseline);
void profile_baseline_free(struct profile_baseline *baseline);

/* Compares; prints the comparison to out unless out is NULL, adds it to
 * json (a "comparison" member) unless json is NULL, and reports each
 * regression as an error. Returns the number of regressions. */
size_t profile_baseline_compare(const struct profile_baseline *baseline, const struct profile_result *result,
				double threshold, FILE *out, struct cJSON *json);
#endif
