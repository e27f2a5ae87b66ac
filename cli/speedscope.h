/* Sampled stacks as a speedscope profile (https://www.speedscope.app,
 * file-format-schema.json): one shared frame per function, one "sampled"
 * profile whose samples are stacks of frame indices, root first, in the
 * order they were taken, each weighing one sampling period. */
#ifndef TKVM_CLI_SPEEDSCOPE_H
#define TKVM_CLI_SPEEDSCOPE_H
#include <stdio.h>
#include "cli/profile_stats.h"
#include "cli/profile_symbols.h"

/* name: the profile's name; period_ms: the weight of one sample.
 * Returns 0, -ENOMEM, or -EIO when out failed. */
int speedscope_write(FILE *out, const struct sample_stacks *stacks, const struct profile_symbols *symbols,
		     const char *name, double period_ms);
#endif
