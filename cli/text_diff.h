/* Line diffs in the unified style (---/+++ labels, @@ hunks, three lines
 * of context), for showing how a body differs from what a test expected.
 * Longest common subsequence on what remains after the common start and
 * end; past a size limit the differing middle is shown as replaced. */
#ifndef TKVM_CLI_TEXT_DIFF_H
#define TKVM_CLI_TEXT_DIFF_H
#include <stddef.h>
#include "cli/text_buffer.h"

/* Appends the diff from a (old_label) to b (new_label), every line
 * starting with indent, at most max_lines lines (then a line saying how
 * many more there were). Control characters are shown escaped, long lines
 * cut; a missing final newline is said as diff(1) says it. */
void text_diff_unified(const char *old_label, const char *a, size_t a_length, const char *new_label, const char *b,
		       size_t b_length, const char *indent, size_t max_lines, struct text_buffer *out);

/* Appends one line of text made safe for a terminal: control characters
 * escaped (\r, \x1b, ...), at most max bytes, "..." when cut. */
void text_diff_escaped(struct text_buffer *out, const char *text, size_t length, size_t max);
#endif
