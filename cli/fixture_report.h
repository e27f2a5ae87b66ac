/* How `tkvm test` reports: a line per fixture as it finishes ("ok   hello
 * 0.4 ms", coloured on a terminal), the differences under a failure, a
 * summary line "N passed, N failed"; or, for CI, the same as JSON on
 * stdout (--json) and as JUnit XML in a file (--junit FILE). */
#ifndef TKVM_CLI_FIXTURE_REPORT_H
#define TKVM_CLI_FIXTURE_REPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "runner/error.h"

enum fixture_verdict {
	FIXTURE_PASSED,
	FIXTURE_FAILED,   /* the answer differs, the request failed, a fetch had no recording */
	FIXTURE_BROKEN,   /* the fixture could not be used: bad JSON, a missing file... */
	FIXTURE_RECORDED, /* --record wrote it */
};

struct fixture_result {
	char *name;
	char *file;
	enum fixture_verdict verdict;
	double milliseconds;
	char *message; /* one line, when not passed (or what recording did) */
	char *details; /* the differences, lines indented by FIXTURE_REPORT_INDENT */
	char *output;  /* what the program wrote and logged, shown for failures */
};

#define FIXTURE_REPORT_INDENT "     "

struct fixture_report {
	FILE *out;
	bool json;
	int name_width;
	struct fixture_result *results;
	size_t count, capacity;
	size_t passed, failed, recorded;
	double milliseconds;
};

void fixture_report_init(struct fixture_report *report, FILE *out, bool json, int name_width);
/* Takes the result over (its strings are freed with the report) and, in
 * text mode, prints its line at once. */
void fixture_report_add(struct fixture_report *report, struct fixture_result *result);
/* The summary line, or the whole JSON document. */
void fixture_report_finish(struct fixture_report *report);
int fixture_report_write_junit(const struct fixture_report *report, const char *path, struct tkvm_error *err);
void fixture_report_free(struct fixture_report *report);
#endif
