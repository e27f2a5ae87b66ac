/* Build stamps (see build_stamp.h): one line per fact, paths last so
 * that they may hold spaces. */
#include "cli/build_stamp.h"
#include "cli/build_plan.h"
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAMP_MAGIC "tkvm-build 1"

void build_stamp_free(struct build_stamp *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->inputs[i].path);
	free(s->inputs);
	memset(s, 0, sizeof *s);
}

int build_stamp_add(struct build_stamp *s, const char *path, const struct build_file_state *state)
{
	for (size_t i = 0; i < s->count; i++)
		if (!strcmp(s->inputs[i].path, path))
			return 0;
	if (s->count == s->capacity) {
		size_t capacity = s->capacity ? s->capacity * 2 : 32;
		struct build_stamp_input *more = realloc(s->inputs, capacity * sizeof *more);
		if (!more)
			return -1;
		s->inputs = more;
		s->capacity = capacity;
	}
	if (!(s->inputs[s->count].path = strdup(path)))
		return -1;
	s->inputs[s->count++].state = *state;
	return 0;
}

const struct build_stamp_input *build_stamp_find(const struct build_stamp *s, const char *path)
{
	for (size_t i = 0; i < s->count; i++)
		if (!strcmp(s->inputs[i].path, path))
			return &s->inputs[i];
	return NULL;
}

bool build_file_state_of(const struct project *project, const char *path, struct build_file_state *state)
{
	char *absolute = build_path(project, path);
	struct stat st;
	bool found = absolute && stat(absolute, &st) == 0;
	free(absolute);
	memset(state, 0, sizeof *state);
	if (!found)
		return false;
	state->seconds = st.st_mtim.tv_sec;
	state->nanoseconds = st.st_mtim.tv_nsec;
	state->size = st.st_size;
	state->inode = st.st_ino;
	return true;
}

bool build_file_state_same(const struct build_file_state *a, const struct build_file_state *b)
{
	return a->seconds == b->seconds && a->nanoseconds == b->nanoseconds && a->size == b->size && a->inode == b->inode;
}

/* Returns 0, or -1 when there is no readable stamp. */
int build_stamp_read(const struct project *project, const char *stamp_path, struct build_stamp *s)
{
	memset(s, 0, sizeof *s);
	char *absolute = build_path(project, stamp_path);
	FILE *f = absolute ? fopen(absolute, "r") : NULL;
	free(absolute);
	if (!f)
		return -1;
	char line[PATH_MAX + 128];
	int r = fgets(line, sizeof line, f) && !strcmp(line, STAMP_MAGIC "\n") ? 0 : -1;
	bool have_recipe = false, have_output = false;
	while (r == 0 && fgets(line, sizeof line, f)) {
		struct build_file_state state;
		int used = 0;
		line[strcspn(line, "\n")] = 0;
		int musl, debug, profile;
		if (sscanf(line, "recipe %" SCNx64, &s->recipe) == 1) {
			have_recipe = true;
		} else if (sscanf(line, "options %d %d %d", &musl, &debug, &profile) == 3) {
			s->musl = musl, s->debug = debug, s->profile = profile;
		} else if (sscanf(line, "output %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNu64, &s->output.seconds,
				  &s->output.nanoseconds, &s->output.size, &s->output.inode) == 4) {
			have_output = true;
		} else if (sscanf(line, "input %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNu64 " %n", &state.seconds,
				  &state.nanoseconds, &state.size, &state.inode, &used) == 4 && used > 0 && line[used]) {
			r = build_stamp_add(s, line + used, &state);
		} else {
			r = -1;
		}
	}
	fclose(f);
	if (r < 0 || !have_recipe || !have_output) {
		build_stamp_free(s);
		return -1;
	}
	return 0;
}

int build_stamp_write(const struct project *project, const char *stamp_path, const struct build_stamp *s)
{
	char *path = build_path(project, stamp_path);
	char *temporary = NULL;
	if (path && asprintf(&temporary, "%s.new", path) < 0)
		temporary = NULL;
	FILE *f = temporary ? fopen(temporary, "w") : NULL;
	int r = f ? 0 : -1;
	if (f) {
		fprintf(f, STAMP_MAGIC "\nrecipe %016" PRIx64 "\noptions %d %d %d\noutput %" PRId64 " %" PRId64 " %" PRId64
			" %" PRIu64 "\n", s->recipe, s->musl, s->debug, s->profile, s->output.seconds, s->output.nanoseconds,
			s->output.size, s->output.inode);
		for (size_t i = 0; i < s->count; i++)
			if (!strchr(s->inputs[i].path, '\n'))
				fprintf(f, "input %" PRId64 " %" PRId64 " %" PRId64 " %" PRIu64 " %s\n", s->inputs[i].state.seconds,
					s->inputs[i].state.nanoseconds, s->inputs[i].state.size, s->inputs[i].state.inode,
					s->inputs[i].path);
		r = ferror(f) ? -1 : 0;
		if (fclose(f) != 0)
			r = -1;
		if (r == 0 && rename(temporary, path) < 0)
			r = -1;
		if (r < 0)
			unlink(temporary);
	}
	free(path);
	free(temporary);
	return r;
}

