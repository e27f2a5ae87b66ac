/* Unified-style line diffs (see text_diff.h). */
#include "cli/text_diff.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT 3
/* LCS table cells (4 bytes each) we are willing to spend on the middle. */
#define MAX_CELLS (4u << 20)
#define MAX_LINE_SHOWN 240

struct line {
	const char *text;
	size_t length;  /* without the newline */
	bool newline;   /* whether it ended in one */
};

struct op {
	char kind; /* ' ', '-' or '+' */
	const struct line *line;
};

static struct line *split_lines(const char *text, size_t length, size_t *count)
{
	size_t n = 0;
	for (size_t i = 0; i < length; i++)
		if (text[i] == '\n')
			n++;
	if (length && text[length - 1] != '\n')
		n++;
	struct line *lines = calloc(n ? n : 1, sizeof *lines);
	if (!lines)
		return NULL;
	size_t k = 0, start = 0;
	for (size_t i = 0; i <= length && k < n; i++) {
		if (i == length || text[i] == '\n') {
			lines[k++] = (struct line){text + start, i - start, i < length};
			start = i + 1;
		}
	}
	*count = n;
	return lines;
}

static bool same_line(const struct line *a, const struct line *b)
{
	return a->length == b->length && a->newline == b->newline && !memcmp(a->text, b->text, a->length);
}

void text_diff_escaped(struct text_buffer *out, const char *text, size_t length, size_t max)
{
	size_t shown = length < max ? length : max;
	size_t run = 0;
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c != 0x7f)
			continue;
		text_buffer_add(out, text + run, i - run);
		run = i + 1;
		if (c == '\t')
			text_buffer_add(out, "\t", 1);
		else if (c == '\r')
			text_buffer_add(out, "\\r", 2);
		else
			text_buffer_printf(out, "\\x%02x", c);
	}
	text_buffer_add(out, text + run, shown - run);
	if (shown < length)
		text_buffer_add(out, "...", 3);
}

/* The edit script from a to b: the common start and end as they are, the
 * middle by longest common subsequence when small enough. */
static struct op *edit_script(const struct line *a, size_t n, const struct line *b, size_t m, size_t *count)
{
	struct op *ops = malloc((n + m + 1) * sizeof *ops);
	if (!ops)
		return NULL;
	size_t k = 0, prefix = 0, suffix = 0;
	while (prefix < n && prefix < m && same_line(&a[prefix], &b[prefix]))
		prefix++;
	while (suffix < n - prefix && suffix < m - prefix && same_line(&a[n - 1 - suffix], &b[m - 1 - suffix]))
		suffix++;
	for (size_t i = 0; i < prefix; i++)
		ops[k++] = (struct op){' ', &a[i]};
	size_t mn = n - prefix - suffix, mm = m - prefix - suffix;
	const struct line *ma = a + prefix, *mb = b + prefix;
	uint32_t *table = (mn + 1) * (mm + 1) <= MAX_CELLS ? calloc((mn + 1) * (mm + 1), sizeof *table) : NULL;
	if (table) {
		/* table[i][j] = LCS length of ma[i..] and mb[j..] */
		for (size_t i = mn; i-- > 0;)
			for (size_t j = mm; j-- > 0;) {
				uint32_t *cell = &table[i * (mm + 1) + j];
				if (same_line(&ma[i], &mb[j]))
					*cell = table[(i + 1) * (mm + 1) + j + 1] + 1;
				else {
					uint32_t down = table[(i + 1) * (mm + 1) + j], right = table[i * (mm + 1) + j + 1];
					*cell = down > right ? down : right;
				}
			}
		size_t i = 0, j = 0;
		while (i < mn || j < mm) {
			if (i < mn && j < mm && same_line(&ma[i], &mb[j])) {
				ops[k++] = (struct op){' ', &ma[i]};
				i++, j++;
			} else if (i < mn && (j == mm || table[(i + 1) * (mm + 1) + j] >= table[i * (mm + 1) + j + 1])) {
				ops[k++] = (struct op){'-', &ma[i++]}; /* removals first, as diff(1) shows them */
			} else {
				ops[k++] = (struct op){'+', &mb[j++]};
			}
		}
		free(table);
	} else {
		for (size_t i = 0; i < mn; i++)
			ops[k++] = (struct op){'-', &ma[i]};
		for (size_t j = 0; j < mm; j++)
			ops[k++] = (struct op){'+', &mb[j]};
	}
	for (size_t i = n - suffix; i < n; i++)
		ops[k++] = (struct op){' ', &a[i]};
	*count = k;
	return ops;
}

void text_diff_unified(const char *old_label, const char *a, size_t a_length, const char *new_label, const char *b,
		       size_t b_length, const char *indent, size_t max_lines, struct text_buffer *out)
{
	size_t n = 0, m = 0, count = 0;
	struct line *la = split_lines(a, a_length, &n), *lb = split_lines(b, b_length, &m);
	struct op *ops = la && lb ? edit_script(la, n, lb, m, &count) : NULL;
	if (!ops) {
		text_buffer_printf(out, "%s(out of memory for the diff)\n", indent);
		goto out;
	}
	text_buffer_printf(out, "%s--- %s\n%s+++ %s\n", indent, old_label, indent, new_label);
	size_t printed = 2, skipped = 0;
	size_t i = 0;
	while (i < count) {
		while (i < count && ops[i].kind == ' ')
			i++;
		if (i == count)
			break;
		/* A hunk: from CONTEXT lines before this change to CONTEXT after the
		 * last change that is less than 2 * CONTEXT equal lines further. */
		size_t start = i > CONTEXT ? i - CONTEXT : 0, end = i;
		for (;;) {
			while (end < count && ops[end].kind != ' ')
				end++;
			size_t equal = end;
			while (equal < count && ops[equal].kind == ' ' && equal - end <= 2 * CONTEXT)
				equal++;
			if (equal < count && ops[equal].kind != ' ' && equal - end <= 2 * CONTEXT)
				end = equal;
			else
				break;
		}
		end = end + CONTEXT < count ? end + CONTEXT : count;
		size_t old_start = 0, new_start = 0, old_count = 0, new_count = 0;
		for (size_t k = 0; k < start; k++) {
			old_start += ops[k].kind != '+';
			new_start += ops[k].kind != '-';
		}
		for (size_t k = start; k < end; k++) {
			old_count += ops[k].kind != '+';
			new_count += ops[k].kind != '-';
		}
		if (printed < max_lines) {
			text_buffer_printf(out, "%s@@ -%zu,%zu +%zu,%zu @@\n", indent, old_start + (old_count ? 1 : 0), old_count,
					   new_start + (new_count ? 1 : 0), new_count);
			printed++;
		} else {
			skipped++;
		}
		for (size_t k = start; k < end; k++) {
			if (printed >= max_lines) {
				skipped++;
				continue;
			}
			text_buffer_printf(out, "%s%c", indent, ops[k].kind);
			text_diff_escaped(out, ops[k].line->text, ops[k].line->length, MAX_LINE_SHOWN);
			text_buffer_add(out, "\n", 1);
			printed++;
			if (!ops[k].line->newline && printed < max_lines) {
				text_buffer_printf(out, "%s\\ No newline at end of file\n", indent);
				printed++;
			}
		}
		i = end;
	}
	if (skipped)
		text_buffer_printf(out, "%s... %zu more line%s of diff\n", indent, skipped, skipped == 1 ? "" : "s");
out:
	free(ops);
	free(la);
	free(lb);
}
