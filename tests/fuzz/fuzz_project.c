/* libFuzzer target: arbitrary bytes as a tkvm.json project file. Whatever
 * the input, project_load returns 0 with every field a project needs set
 * (the invariants below), or an error message on one line; never a crash,
 * a leak or undefined behaviour. The bytes reach project_load as a file
 * (one temporary file), the way the CLI reads it. */
#include "packager/project.h"
#include "runner/error.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void count_warning(void *context, const char *message)
{
	size_t *total = context;
	*total += strlen(message); /* a bad pointer or missing terminator shows */
}

static void check_project(const struct project *p)
{
	const struct project_build *b = &p->build;
	if (!p->name || !*p->name || !p->version || !b->language || !b->output || !b->libc || !p->test.directory ||
	    !p->program.name || strcmp(p->program.name, p->name) || !p->path || !p->directory)
		__builtin_trap();
	if (strcmp(b->language, "c") && strcmp(b->language, "cpp") && strcmp(b->language, "rust"))
		__builtin_trap();
	if (b->source_count == 0 || !b->sources || (b->flag_count && !b->flags) || b->output[0] == '/' ||
	    strstr(b->output, ".."))
		__builtin_trap();
	for (size_t i = 0; i < b->source_count; i++)
		if (!b->sources[i] || !*b->sources[i])
			__builtin_trap();
	for (size_t i = 0; i < p->test.redact_count; i++)
		if (!p->test.redact_headers[i] || !*p->test.redact_headers[i])
			__builtin_trap();
}

static char path[] = "/tmp/tkvm-fuzz-project-XXXXXX";

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0) {
		if ((fd = mkstemp(path)) < 0)
			return 0;
		atexit(remove_file);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	struct project project;
	struct tkvm_error err = {0};
	size_t total = 0;
	if (project_load(path, &project, count_warning, &total, &err) == 0) {
		check_project(&project);
		char *output = project_output_path(&project);
		if (!output)
			__builtin_trap();
		free(output);
	} else if (!err.message[0] || strchr(err.message, '\n')) {
		__builtin_trap();
	}
	project_free(&project);
	return 0;
}
