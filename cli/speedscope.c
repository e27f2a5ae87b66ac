/* speedscope's file format written as a stream: the samples can run to
 * hundreds of thousands of numbers, so only strings go through cJSON (for
 * their escaping). */
#include "cli/speedscope.h"
#include "cli/commands.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>

static int write_string(FILE *out, const char *s)
{
	cJSON *string = cJSON_CreateString(s);
	char *text = string ? cJSON_PrintUnformatted(string) : NULL;
	cJSON_Delete(string);
	if (!text)
		return -ENOMEM;
	fputs(text, out);
	free(text);
	return 0;
}

int speedscope_write(FILE *out, const struct sample_stacks *stacks, const struct profile_symbols *symbols,
		     const char *name, double period_ms)
{
	int status = 0;
	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
	      "\"exporter\":\"tkvm " TKVM_VERSION "\",\n\"name\":", out);
	status |= write_string(out, name);
	fputs(",\n\"activeProfileIndex\":0,\n\"shared\":{\"frames\":[\n", out);
	size_t functions = profile_symbols_count(symbols);
	for (size_t i = 0; i < functions && status == 0; i++) {
		const struct profile_function *f = profile_symbols_get(symbols, (uint32_t)i);
		fputs(i ? ",\n{\"name\":" : "{\"name\":", out);
		status |= write_string(out, f->name);
		if (f->file) {
			fputs(",\"file\":", out);
			status |= write_string(out, f->file);
			if (f->line)
				fprintf(out, ",\"line\":%d", f->line);
		}
		fputc('}', out);
	}
	fputs("]},\n\"profiles\":[{\"type\":\"sampled\",\"name\":", out);
	status |= write_string(out, name);
	fprintf(out, ",\"unit\":\"milliseconds\",\"startValue\":0,\"endValue\":%.6g,\n\"samples\":[\n",
		(double)stacks->sample_count * period_ms);
	for (size_t i = 0; i < stacks->sample_count; i++) {
		const uint32_t *stack = sample_stack(stacks, i);
		size_t depth = sample_stack_depth(stacks, i);
		fputs(i ? ",[" : "[", out);
		for (size_t k = 0; k < depth; k++)
			fprintf(out, k ? ",%u" : "%u", stack[k]);
		fputc(']', out);
		if (i % 16 == 15)
			fputc('\n', out);
	}
	fputs("],\n\"weights\":[", out);
	for (size_t i = 0; i < stacks->sample_count; i++)
		fprintf(out, i ? ",%.6g" : "%.6g", period_ms);
	fputs("]}]}\n", out);
	if (status < 0)
		return -ENOMEM;
	return ferror(out) ? -EIO : 0;
}
