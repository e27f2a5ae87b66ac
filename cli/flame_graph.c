/* SVG flame graph of sampled stacks: the samples merged into a call tree,
 * each node drawn as a rectangle as wide as its samples, stacked upwards
 * from "all". Everything the picture needs is in the one file. */
#include "cli/flame_graph.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FLAME_WIDTH 1200
#define FLAME_PAD 10
#define FLAME_ROW 17
#define FLAME_TOP 48     /* title and subtitle */
#define FLAME_BOTTOM 30  /* the details line */
#define FLAME_CHAR 7.0   /* average glyph width of 12px sans, for truncating names */
#define FLAME_MIN_WIDTH 0.3 /* narrower frames (and their callees) are left out */

#define NO_NODE UINT32_MAX

struct flame_node {
	uint32_t function;     /* UINT32_MAX for the root, "all" */
	uint64_t samples;      /* on this node or above it */
	uint64_t self;         /* ending here */
	uint32_t first_child, next_sibling;
};

struct flame_tree {
	struct flame_node *nodes;
	size_t count, capacity;
	size_t max_depth;
};

static int64_t add_node(struct flame_tree *t, uint32_t function)
{
	if (t->count == t->capacity) {
		size_t capacity = t->capacity ? t->capacity * 2 : 256;
		struct flame_node *more = realloc(t->nodes, capacity * sizeof *more);
		if (!more)
			return -ENOMEM;
		t->nodes = more;
		t->capacity = capacity;
	}
	t->nodes[t->count] = (struct flame_node){function, 0, 0, NO_NODE, NO_NODE};
	return (int64_t)t->count++;
}

static int build_tree(struct flame_tree *t, const struct sample_stacks *stacks)
{
	if (add_node(t, UINT32_MAX) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < stacks->sample_count; i++) {
		const uint32_t *stack = sample_stack(stacks, i);
		size_t depth = sample_stack_depth(stacks, i);
		uint32_t node = 0;
		t->nodes[0].samples++;
		for (size_t k = 0; k < depth; k++) {
			uint32_t child = t->nodes[node].first_child;
			while (child != NO_NODE && t->nodes[child].function != stack[k])
				child = t->nodes[child].next_sibling;
			if (child == NO_NODE) {
				int64_t made = add_node(t, stack[k]);
				if (made < 0)
					return -ENOMEM;
				child = (uint32_t)made;
				t->nodes[child].next_sibling = t->nodes[node].first_child;
				t->nodes[node].first_child = child;
			}
			t->nodes[child].samples++;
			node = child;
		}
		t->nodes[node].self++;
		if (depth > t->max_depth)
			t->max_depth = depth;
	}
	return 0;
}

static void write_escaped(FILE *out, const char *s, size_t limit)
{
	for (size_t i = 0; s[i] && i < limit; i++) {
		switch (s[i]) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			/* Control bytes are not allowed in XML 1.0 text. */
			fputc((unsigned char)s[i] < 0x20 ? '?' : s[i], out);
		}
	}
}

/* Warm colours from the name, so a function keeps its colour between
 * graphs; our own stubs and unknown frames in grey. */
static void frame_colour(const char *name, int *r, int *g, int *b)
{
	if (name[0] == '[') {
		*r = 190, *g = 190, *b = 200;
		return;
	}
	uint32_t h = 2166136261u;
	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	*r = 205 + (int)(h % 50);
	*g = (int)((h >> 8) % 190);
	*b = (int)((h >> 16) % 55);
}

struct render {
	FILE *out;
	const struct flame_tree *tree;
	const struct profile_symbols *symbols;
	double per_sample;     /* pixels */
	uint64_t total;
	int bottom;            /* y of the root row */
};

static const char *node_name(const struct render *r, uint32_t node)
{
	uint32_t f = r->tree->nodes[node].function;
	return f == UINT32_MAX ? "all" : profile_symbols_get(r->symbols, f)->name;
}

/* qsort has no context argument; drawing is single-threaded. */
static const struct render *sort_render;
static int compare_children(const void *a, const void *b)
{
	return strcmp(node_name(sort_render, *(const uint32_t *)a), node_name(sort_render, *(const uint32_t *)b));
}

static int draw(const struct render *r, uint32_t node, size_t depth, double x)
{
	const struct flame_node *n = &r->tree->nodes[node];
	double width = (double)n->samples * r->per_sample;
	if (width < FLAME_MIN_WIDTH)
		return 0;
	const char *name = node_name(r, node);
	int red, green, blue;
	frame_colour(name, &red, &green, &blue);
	int y = r->bottom - (int)depth * FLAME_ROW;
	double percent = 100.0 * (double)n->samples / (double)r->total;
	FILE *out = r->out;
	fputs("<g><title>", out);
	write_escaped(out, name, SIZE_MAX);
	if (n->function != UINT32_MAX) {
		const struct profile_function *f = profile_symbols_get(r->symbols, n->function);
		if (f->file) {
			const char *base = strrchr(f->file, '/');
			fputs(" (", out);
			write_escaped(out, base ? base + 1 : f->file, SIZE_MAX);
			fprintf(out, ":%d)", f->line);
		}
	}
	fprintf(out, ": %llu sample%s, %.2f%%", (unsigned long long)n->samples, n->samples == 1 ? "" : "s", percent);
	if (n->self)
		fprintf(out, " (self %.2f%%)", 100.0 * (double)n->self / (double)r->total);
	fprintf(out, "</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>",
		x, y, width, FLAME_ROW - 1, red, green, blue);
	size_t fits = width > 6 ? (size_t)((width - 6) / FLAME_CHAR) : 0;
	size_t length = strlen(name);
	if (fits >= 3) {
		fprintf(out, "<text x=\"%.1f\" y=\"%d\">", x + 3, y + FLAME_ROW - 5);
		if (length <= fits) {
			write_escaped(out, name, length);
		} else {
			write_escaped(out, name, fits - 2);
			fputs("..", out);
		}
		fputs("</text>", out);
	}
	fputs("</g>\n", out);

	/* Children left to right in name order, as flamegraph.pl does. */
	size_t count = 0;
	for (uint32_t c = n->first_child; c != NO_NODE; c = r->tree->nodes[c].next_sibling)
		count++;
	if (!count)
		return 0;
	uint32_t *children = malloc(count * sizeof *children);
	if (!children)
		return -ENOMEM;
	count = 0;
	for (uint32_t c = n->first_child; c != NO_NODE; c = r->tree->nodes[c].next_sibling)
		children[count++] = c;
	sort_render = r;
	qsort(children, count, sizeof *children, compare_children);
	double child_x = x;
	int status = 0;
	for (size_t i = 0; i < count && status == 0; i++) {
		status = draw(r, children[i], depth + 1, child_x);
		child_x += (double)r->tree->nodes[children[i]].samples * r->per_sample;
	}
	free(children);
	return status;
}

int flame_graph_write(FILE *out, const struct sample_stacks *stacks, const struct profile_symbols *symbols,
		      const struct flame_graph_options *options)
{
	struct flame_tree tree = {0};
	int status = build_tree(&tree, stacks);
	if (status < 0) {
		free(tree.nodes);
		return status;
	}
	int height = FLAME_TOP + (int)(tree.max_depth + 1) * FLAME_ROW + FLAME_BOTTOM;
	fprintf(out,
		"<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"xmlns=\"http://www.w3.org/2000/svg\" onload=\"init(evt)\">\n",
		FLAME_WIDTH, height, FLAME_WIDTH, height);
	fputs("<style>text { font-family: Verdana, sans-serif; font-size: 12px; fill: #000; }\n"
	      "#title { font-size: 17px; text-anchor: middle; }\n"
	      "#subtitle { fill: #555; text-anchor: middle; }\n"
	      "g:hover rect { stroke: #000; stroke-width: 0.5; cursor: pointer; }</style>\n"
	      "<script type=\"text/ecmascript\"><![CDATA[\n"
	      "var details;\n"
	      "function init(evt) {\n"
	      "  details = document.getElementById('details').firstChild;\n"
	      "  var frames = document.getElementsByTagName('g');\n"
	      "  for (var i = 0; i < frames.length; i++) {\n"
	      "    frames[i].onmouseover = function () { details.nodeValue = this.getElementsByTagName('title')[0].textContent; };\n"
	      "    frames[i].onmouseout = function () { details.nodeValue = ' '; };\n"
	      "  }\n"
	      "}\n"
	      "]]></script>\n",
	      out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f8f8f0\"/>\n", FLAME_WIDTH, height);
	fprintf(out, "<text id=\"title\" x=\"%d\" y=\"22\">", FLAME_WIDTH / 2);
	write_escaped(out, options->title ? options->title : "Flame graph", SIZE_MAX);
	fprintf(out, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"40\">", FLAME_WIDTH / 2);
	write_escaped(out, options->subtitle ? options->subtitle : "", SIZE_MAX);
	fprintf(out, "</text>\n<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", FLAME_PAD, height - 10);
	if (stacks->sample_count) {
		struct render r = {
			.out = out, .tree = &tree, .symbols = symbols, .total = stacks->sample_count,
			.per_sample = (double)(FLAME_WIDTH - 2 * FLAME_PAD) / (double)stacks->sample_count,
			.bottom = height - FLAME_BOTTOM - FLAME_ROW,
		};
		status = draw(&r, 0, 0, FLAME_PAD);
	}
	fputs("</svg>\n", out);
	free(tree.nodes);
	if (status == 0 && ferror(out))
		status = -EIO;
	return status;
}
