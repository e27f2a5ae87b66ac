/* A self-contained SVG flame graph of sampled stacks (Brendan Gregg's
 * layout: the root at the bottom, callers below callees, width = samples,
 * siblings in name order), with hover details from a few lines of inline
 * script and a <title> per frame for viewers without scripts. */
#ifndef TKVM_CLI_FLAME_GRAPH_H
#define TKVM_CLI_FLAME_GRAPH_H
#include <stdio.h>
#include "cli/profile_stats.h"
#include "cli/profile_symbols.h"

struct flame_graph_options {
	const char *title;     /* "split GET /work" */
	const char *subtitle;  /* "1000 samples at 1000 Hz ..." */
};

/* Writes the SVG to out. Returns 0, -ENOMEM, or -EIO when out failed. */
int flame_graph_write(FILE *out, const struct sample_stacks *stacks, const struct profile_symbols *symbols,
		      const struct flame_graph_options *options);
#endif
