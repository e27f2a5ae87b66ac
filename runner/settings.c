/* A program's settings (settings.h): the VMOD's defaults, and freeing and
 * deep-copying the heap strings and arrays the struct owns. Reading them
 * from JSON is packager/program_settings.c's job; runner/ never sees JSON. */
#include "runner/settings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Defaults of shared/spec/library-and-archive.md. Nothing is allocated, so
 * init cannot fail and an initialised struct can be dropped without a free:
 * the two string defaults ("test", "/") are represented by NULL and read
 * through tkvm_settings_group() / tkvm_settings_working_directory(). */
void tkvm_settings_init(struct tkvm_settings *s)
{
	memset(s, 0, sizeof *s);
	s->concurrency = 2;
	s->max_boot_time = 16.0;
	s->max_request_time = 8.0;
	s->max_memory = 256;
	s->address_space = 256;
	s->max_request_memory = 64;
	s->ephemeral = true;
	s->ephemeral_keep_working_memory = true;
}

const char *tkvm_settings_group(const struct tkvm_settings *s)
{
	return s && s->group ? s->group : "test";
}

const char *tkvm_settings_working_directory(const struct tkvm_settings *s)
{
	return s && s->current_working_directory ? s->current_working_directory : "/";
}

static void free_strings(char **strings, size_t count)
{
	if (!strings)
		return;
	for (size_t i = 0; i < count; i++)
		free(strings[i]);
	free(strings);
}

static void free_warmup(struct tkvm_warmup *w)
{
	free(w->url);
	free(w->method);
	free_strings(w->headers, w->header_count);
}

void tkvm_settings_free(struct tkvm_settings *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->group);
	free(s->uri);
	free(s->filename);
	free(s->sha256);
	free(s->key);
	free_strings(s->main_arguments, s->main_argument_count);
	free_strings(s->environment, s->environment_count);
	free_strings(s->allowed_hosts, s->allowed_host_count);
	free_strings(s->trusted_keys, s->trusted_key_count);
	if (s->allowed_paths) {
		for (size_t i = 0; i < s->allowed_path_count; i++) {
			free(s->allowed_paths[i].real);
			free(s->allowed_paths[i].virtual_path);
		}
		free(s->allowed_paths);
	}
	free(s->current_working_directory);
	free_warmup(&s->warmup);
	tkvm_settings_init(s);
}

/* strdup that tells "src was NULL" (fine) from "out of memory". */
static int copy_string(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int copy_strings(char ***dst, size_t *dst_count, char *const *src, size_t count)
{
	*dst = NULL;
	*dst_count = 0;
	if (!src || count == 0)
		return 0;
	char **copy = calloc(count, sizeof *copy);
	if (!copy)
		return -ENOMEM;
	/* Counted as we go, so a failure half-way leaves a freeable array. */
	*dst = copy;
	for (size_t i = 0; i < count; i++) {
		if (copy_string(&copy[i], src[i]) < 0)
			return -ENOMEM;
		*dst_count = i + 1;
	}
	return 0;
}

static int copy_allowed_paths(struct tkvm_settings *dst, const struct tkvm_settings *src)
{
	dst->allowed_paths = NULL;
	dst->allowed_path_count = 0;
	if (!src->allowed_paths || src->allowed_path_count == 0)
		return 0;
	struct tkvm_allowed_path *copy = calloc(src->allowed_path_count, sizeof *copy);
	if (!copy)
		return -ENOMEM;
	dst->allowed_paths = copy;
	dst->allowed_path_count = src->allowed_path_count;
	for (size_t i = 0; i < src->allowed_path_count; i++) {
		copy[i] = src->allowed_paths[i];
		copy[i].real = copy[i].virtual_path = NULL;
		if (copy_string(&copy[i].real, src->allowed_paths[i].real) < 0 ||
		    copy_string(&copy[i].virtual_path, src->allowed_paths[i].virtual_path) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* dst is overwritten, not freed first: pass a fresh (initialised or
 * uninitialised) struct, or one already given to tkvm_settings_free. On
 * failure dst is left freed and initialised, never half-owned. */
int tkvm_settings_copy(struct tkvm_settings *dst, const struct tkvm_settings *src)
{
	if (!dst || !src)
		return -EINVAL;
	*dst = *src;
	/* *dst now shares src's pointers. Every call below runs (|=, no
	 * short-circuit) and replaces one of them by dst's own copy or NULL,
	 * so afterwards tkvm_settings_free(dst) is safe even on failure. A new
	 * pointer field in the struct must be added here. */
	int rc = 0;
	rc |= copy_string(&dst->name, src->name);
	rc |= copy_string(&dst->group, src->group);
	rc |= copy_string(&dst->uri, src->uri);
	rc |= copy_string(&dst->filename, src->filename);
	rc |= copy_string(&dst->sha256, src->sha256);
	rc |= copy_string(&dst->key, src->key);
	rc |= copy_string(&dst->current_working_directory, src->current_working_directory);
	rc |= copy_strings(&dst->main_arguments, &dst->main_argument_count, src->main_arguments,
			   src->main_argument_count);
	rc |= copy_strings(&dst->environment, &dst->environment_count, src->environment, src->environment_count);
	rc |= copy_strings(&dst->allowed_hosts, &dst->allowed_host_count, src->allowed_hosts, src->allowed_host_count);
	rc |= copy_strings(&dst->trusted_keys, &dst->trusted_key_count, src->trusted_keys, src->trusted_key_count);
	rc |= copy_allowed_paths(dst, src);
	rc |= copy_string(&dst->warmup.url, src->warmup.url);
	rc |= copy_string(&dst->warmup.method, src->warmup.method);
	rc |= copy_strings(&dst->warmup.headers, &dst->warmup.header_count, src->warmup.headers,
			   src->warmup.header_count);
	if (rc) {
		tkvm_settings_free(dst);
		return -ENOMEM;
	}
	return 0;
}
