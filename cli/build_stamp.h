/* The stamp beside a build's output (<output dir>/.<name>.tkvm/stamp): the
 * recipe and options the build used, the output's size, time and inode,
 * and those of every input as they were when the build started. A build
 * is stale when anything differs; comparing equality rather than "newer
 * than" is what makes a change during a build, a touch in the same clock
 * tick or a replaced output count. */
#ifndef TKVM_CLI_BUILD_STAMP_H
#define TKVM_CLI_BUILD_STAMP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "packager/project.h"

struct build_file_state {
	int64_t seconds, nanoseconds, size;
	uint64_t inode;
};

struct build_stamp_input {
	char *path;
	struct build_file_state state;
};

struct build_stamp {
	uint64_t recipe;
	bool musl, debug, profile; /* the options it was built with */
	struct build_file_state output;
	struct build_stamp_input *inputs;
	size_t count, capacity;
};

void build_stamp_free(struct build_stamp *s);
/* Adds an input unless the path is there already. Returns 0 or -1. */
int build_stamp_add(struct build_stamp *s, const char *path, const struct build_file_state *state);
const struct build_stamp_input *build_stamp_find(const struct build_stamp *s, const char *path);
/* Reads the stamp at stamp_path (of the project); -1 when there is none or it is not ours. */
int build_stamp_read(const struct project *project, const char *stamp_path, struct build_stamp *s);
/* Writes it atomically (a temporary file renamed). Returns 0 or -1. */
int build_stamp_write(const struct project *project, const char *stamp_path, const struct build_stamp *s);

/* The state of a file of the project; false when it does not exist. */
bool build_file_state_of(const struct project *project, const char *path, struct build_file_state *state);
bool build_file_state_same(const struct build_file_state *a, const struct build_file_state *b);
#endif
