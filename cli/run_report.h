/* How `tkvm run` shows a response: body (to stdout or a file), optional
 * status line and headers, the failure cause, statistics, or all of it as
 * JSON. Returns the command's exit status. */
#ifndef TKVM_CLI_RUN_REPORT_H
#define TKVM_CLI_RUN_REPORT_H
#include <stdbool.h>
#include "runner/tkvm.h"

struct run_report_options {
	bool include_headers, verbose, json;
	const char *output_path;
	const char *program_name;
};

int run_report(const struct tkvm_response *response, const struct tkvm_stats *stats,
	       const struct run_report_options *options);
const char *http_reason_phrase(int status);
#endif
