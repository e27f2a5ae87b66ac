/* Fetching and caching one library program (see program_source.h). */
#include "packager/program_source.h"
#include "packager/archive.h"
#include "packager/digest.h"
#include "packager/file_io.h"
#include "packager/text_join.h"
#include "packager/transfer.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIBRARY_MAX_BYTES (16u << 20)
#define SIGNATURE_MAX_BYTES (64u << 10)
#define FETCH_TIMEOUT_SECONDS 300L

/* mkdir -p of the directory holding path. */
static int make_parent_directories(const char *path, struct tkvm_error *err)
{
	char *copy = strdup(path);
	if (!copy)
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	char *slash = strrchr(copy, '/');
	int rc = 0;
	if (slash && slash != copy) {
		*slash = 0;
		for (char *p = copy + 1; rc == 0; p++) {
			if (*p != '/' && *p != 0)
				continue;
			char saved = *p;
			*p = 0;
			if (mkdir(copy, 0755) < 0 && errno != EEXIST)
				rc = tkvm_error_set(err, -errno, "cannot create the cache directory %s: %s", copy,
						    strerror(errno));
			*p = saved;
			if (!saved)
				break;
		}
	}
	free(copy);
	return rc;
}

static char *cache_path(const struct tkvm_settings *s, const struct program_source_options *o)
{
	if (o->cache_directory) {
		char *dir = text_join(o->cache_directory, "/");
		char *path = dir ? text_join(dir, s->name) : NULL;
		free(dir);
		return path;
	}
	if (s->filename)
		return strdup(s->filename);
	const char *base = getenv("XDG_CACHE_HOME");
	char root[4096];
	if (base && base[0] == '/')
		snprintf(root, sizeof root, "%s/tkvm/programs/", base);
	else
		snprintf(root, sizeof root, "%s/.cache/tkvm/programs/", getenv("HOME") ? getenv("HOME") : "/tmp");
	return text_join(root, s->name);
}

static bool file_exists(const char *path, struct stat *st)
{
	return stat(path, st) == 0 && S_ISREG(st->st_mode);
}

static bool file_hash_is(const char *path, const char *expected)
{
	char hash[DIGEST_SHA256_HEX_SIZE];
	return expected && digest_file_sha256_hex(path, hash) == 0 && digest_equal(hash, expected);
}

/* The id of the key that made a signature, into source->signer. */
static void note_signer(const uint8_t *text, size_t length, struct program_source *source)
{
	struct minisign_signature signature;
	struct tkvm_error ignored = {0};
	if (minisign_signature_parse((const char *)text, length, &signature, &ignored) == 0) {
		minisign_key_id_text(signature.key_id, source->signer, sizeof source->signer);
		minisign_signature_free(&signature);
	}
}

/* Whether the cached ELFs are the ones a trusted signature names: the
 * cached .minisig's trusted comment (its own signature checked) must name
 * their hashes. Anything less means fetching again. */
static bool cache_trusted(const char *target, const char *storage_path, const struct trusted_keys *keys,
			  const char *name, struct program_source *source)
{
	char *sig_path = text_join(target, PROGRAM_SIGNATURE_SUFFIX);
	uint8_t *text = NULL;
	size_t length = 0;
	struct tkvm_error ignored = {0};
	bool trusted = false;
	struct program_binding binding;
	if (sig_path && file_read_whole(sig_path, &text, &length, &ignored) == 0 &&
	    program_signature_check_comment((const char *)text, length, keys, name, &binding, &ignored) == 0 &&
	    binding.elf_sha256[0] && file_hash_is(target, binding.elf_sha256)) {
		struct stat st;
		trusted = binding.storage_sha256[0] ? file_hash_is(storage_path, binding.storage_sha256)
						     : !file_exists(storage_path, &st);
		if (trusted)
			note_signer(text, length, source);
	}
	free(text);
	free(sig_path);
	return trusted;
}

static int fetch(const char *url, time_t if_modified_since, size_t max_body, struct transfer_response *response,
		 struct tkvm_error *err)
{
	struct transfer_request request = {
		.url = url,
		.if_modified_since = if_modified_since,
		.max_body = max_body,
		.timeout_seconds = FETCH_TIMEOUT_SECONDS,
	};
	return transfer_perform(&request, response, err);
}

static int status_error(const char *url, long status, struct tkvm_error *err)
{
	char text[TRANSFER_STATUS_TEXT_SIZE];
	return tkvm_error_set(err, status == 404 ? -ENOENT : -EIO, "GET %s: %s", url,
			      transfer_status_text(status, text, sizeof text));
}

struct warn_prefix {
	const struct program_source_options *options;
	const char *name;
};

static void warn_with_name(void *context, const char *message)
{
	struct warn_prefix *w = context;
	if (!w->options->warn)
		return;
	char line[1200];
	snprintf(line, sizeof line, "%s: %s", w->name, message);
	w->options->warn(w->options->warn_context, line);
}

/* The archive (or raw ELF) just fetched: signature, contents, hash, then
 * the cache replaced. */
static int install(const struct tkvm_settings *s, const struct program_source_options *options,
		   const struct trusted_keys *keys, const struct transfer_response *archive, const char *target,
		   const char *storage_path, struct program_source *source, struct tkvm_error *err)
{
	struct transfer_response signature = {0};
	int rc = 0;
	if (keys->count) {
		char *sig_url = text_join(s->uri, PROGRAM_SIGNATURE_SUFFIX);
		if (!sig_url)
			return tkvm_error_set(err, -ENOMEM, "out of memory");
		rc = fetch(sig_url, 0, SIGNATURE_MAX_BYTES, &signature, err);
		if (rc == 0 && signature.status == 404)
			rc = tkvm_error_set(err, -ENOKEY, "%s: missing (the library lists trusted keys, so programs must be signed)",
					    sig_url);
		else if (rc == 0 && signature.status != 200)
			rc = status_error(sig_url, signature.status, err);
		struct program_binding binding;
		if (rc == 0) {
			rc = program_signature_check((const char *)signature.body, signature.body_size, archive->body,
						     archive->body_size, keys, s->name, &binding, err);
			if (rc < 0)
				tkvm_error_prefix(err, "%s", sig_url);
		}
		if (rc == 0)
			note_signer(signature.body, signature.body_size, source);
		free(sig_url);
		if (rc < 0) {
			transfer_response_free(&signature);
			return rc;
		}
	}
	struct archive_programs programs = {0};
	struct warn_prefix prefix = {options, s->name};
	rc = archive_read_programs(archive->body, archive->body_size, s->uri, &programs, warn_with_name, &prefix, err);
	if (rc == 0 && s->sha256) {
		char hash[DIGEST_SHA256_HEX_SIZE];
		digest_sha256_hex(programs.request_elf, programs.request_size, hash);
		if (!digest_equal(hash, s->sha256))
			rc = tkvm_error_set(err, -EBADMSG, "%s: sha256 of the program is %s, the library says %s", s->uri,
					    hash, s->sha256);
	}
	if (rc == 0)
		rc = make_parent_directories(target, err);
	if (rc == 0 && programs.storage_elf)
		rc = file_write_atomic_mode(storage_path, programs.storage_elf, programs.storage_size, 0777, err);
	else if (rc == 0)
		unlink(storage_path); /* a storage ELF from an older version must not run with this one */
	if (rc == 0 && keys->count) {
		char *sig_path = text_join(target, PROGRAM_SIGNATURE_SUFFIX);
		rc = sig_path ? file_write_atomic(sig_path, signature.body, signature.body_size, err)
			      : tkvm_error_set(err, -ENOMEM, "out of memory");
		free(sig_path);
	}
	/* The request ELF last: its mtime is what If-Modified-Since sends. */
	if (rc == 0)
		rc = file_write_atomic_mode(target, programs.request_elf, programs.request_size, 0777, err);
	if (rc == 0 && archive->last_modified > 0) {
		struct timespec times[2] = {{.tv_nsec = UTIME_NOW}, {.tv_sec = archive->last_modified}};
		utimensat(AT_FDCWD, target, times, 0);
	}
	if (rc == 0 && programs.storage_elf && !(source->storage_path = strdup(storage_path)))
		rc = tkvm_error_set(err, -ENOMEM, "out of memory");
	if (rc == 0)
		snprintf(source->how, sizeof source->how, "fetched %s (%zu bytes%s%s)", s->uri, archive->body_size,
			 programs.raw_elf ? ", a raw ELF" : "", programs.storage_elf ? ", with a storage program" : "");
	archive_programs_free(&programs);
	transfer_response_free(&signature);
	return rc;
}

static int prepare_local(const struct tkvm_settings *s, const struct trusted_keys *keys,
			 struct program_source *source, struct tkvm_error *err)
{
	struct stat st;
	if (!file_exists(s->filename, &st))
		return tkvm_error_set(err, -ENOENT, "%s: %s", s->filename,
				      stat(s->filename, &st) == 0 ? "not a regular file" : "no such file (and no \"uri\" to fetch it from)");
	if (s->sha256 && !file_hash_is(s->filename, s->sha256))
		return tkvm_error_set(err, -EBADMSG, "%s: its sha256 differs from the library's \"sha256\"", s->filename);
	if (keys->count) {
		/* A local program is signed as a file of its own: FILE.minisig. */
		char *sig_path = text_join(s->filename, PROGRAM_SIGNATURE_SUFFIX);
		uint8_t *sig = NULL, *data = NULL;
		size_t sig_length = 0, length = 0;
		int rc = sig_path ? 0 : tkvm_error_set(err, -ENOMEM, "out of memory");
		if (rc == 0 && (rc = file_read_whole(sig_path, &sig, &sig_length, err)) < 0)
			tkvm_error_set(err, -ENOKEY, "%s: missing (the library lists trusted keys, so programs must be signed)",
				       sig_path);
		if (rc == 0)
			rc = file_read_whole(s->filename, &data, &length, err);
		struct program_binding binding;
		if (rc == 0 && (rc = program_signature_check((const char *)sig, sig_length, data, length, keys, s->name,
							     &binding, err)) < 0)
			tkvm_error_prefix(err, "%s", sig_path);
		if (rc == 0)
			note_signer(sig, sig_length, source);
		free(sig);
		free(data);
		free(sig_path);
		if (rc < 0)
			return rc;
	}
	char *storage_path = text_join(s->filename, "_storage");
	if (!(source->elf_path = strdup(s->filename)) || !storage_path) {
		free(storage_path);
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	if (file_exists(storage_path, &st))
		source->storage_path = storage_path;
	else
		free(storage_path);
	snprintf(source->how, sizeof source->how, "local file %s", s->filename);
	return 0;
}

static int prepare_remote(const struct tkvm_settings *s, const struct program_source_options *options,
			  const struct trusted_keys *keys, struct program_source *source, struct tkvm_error *err)
{
	char *target = cache_path(s, options);
	char *storage_path = target ? text_join(target, "_storage") : NULL;
	if (!target || !storage_path) {
		free(target);
		free(storage_path);
		return tkvm_error_set(err, -ENOMEM, "out of memory");
	}
	struct stat st;
	bool exists = file_exists(target, &st);
	bool trusted = exists && (!keys->count || cache_trusted(target, storage_path, keys, s->name, source));
	int rc = 0;
	if (trusted && s->sha256 && file_hash_is(target, s->sha256)) {
		snprintf(source->how, sizeof source->how, "cached %s (sha256 matches the library)", target);
	} else {
		struct transfer_response archive;
		time_t since = trusted ? st.st_mtime : 0;
		rc = fetch(s->uri, since, ARCHIVE_MAX_TOTAL_BYTES, &archive, err);
		if (rc == 0 && archive.status == 304 && s->sha256 && !file_hash_is(target, s->sha256)) {
			/* The cache is not what the library names: fetch it whole. */
			transfer_response_free(&archive);
			rc = fetch(s->uri, 0, ARCHIVE_MAX_TOTAL_BYTES, &archive, err);
		}
		if (rc == 0) {
			if (archive.status == 304)
				snprintf(source->how, sizeof source->how, "cached %s (304 Not Modified)", target);
			else if (archive.status != 200)
				rc = status_error(s->uri, archive.status, err);
			else
				rc = install(s, options, keys, &archive, target, storage_path, source, err);
			transfer_response_free(&archive);
		}
	}
	if (rc == 0 && !source->storage_path && file_exists(storage_path, &st)) {
		source->storage_path = storage_path;
		storage_path = NULL;
	}
	free(storage_path);
	if (rc == 0)
		source->elf_path = target;
	else
		free(target);
	return rc;
}

int program_source_prepare(const struct tkvm_settings *s, const struct program_source_options *options,
			   struct program_source *source, struct tkvm_error *err)
{
	memset(source, 0, sizeof *source);
	if (!s->uri && !s->filename)
		return tkvm_error_set(err, -EINVAL, "neither \"uri\" nor \"filename\"");
	if (s->uri && !transfer_url_supported(s->uri))
		return tkvm_error_set(err, -EPROTONOSUPPORT, "\"uri\" %s: only http://, https:// and file:// are fetched",
				      s->uri);
	struct trusted_keys keys = {0};
	int rc = 0;
	for (size_t i = 0; i < s->trusted_key_count && rc == 0; i++)
		rc = trusted_keys_add(&keys, s->trusted_keys[i], err);
	for (size_t i = 0; options->extra_keys && i < options->extra_keys->count && rc == 0; i++) {
		struct minisign_public_key *bigger = realloc(keys.keys, (keys.count + 1) * sizeof *bigger);
		if (!bigger)
			rc = tkvm_error_set(err, -ENOMEM, "out of memory");
		else {
			keys.keys = bigger;
			keys.keys[keys.count++] = options->extra_keys->keys[i];
		}
	}
	if (rc == 0)
		rc = s->uri ? prepare_remote(s, options, &keys, source, err) : prepare_local(s, &keys, source, err);
	trusted_keys_free(&keys);
	if (rc < 0)
		program_source_free(source);
	return rc;
}

void program_source_free(struct program_source *source)
{
	free(source->elf_path);
	free(source->storage_path);
	source->elf_path = source->storage_path = NULL;
}

int library_text_fetch(const char *location, char **text, size_t *length, struct tkvm_error *err)
{
	*text = NULL;
	*length = 0;
	if (!strstr(location, "://")) {
		uint8_t *data;
		int rc = file_read_whole(location, &data, length, err);
		if (rc == 0)
			*text = (char *)data;
		return rc;
	}
	struct transfer_response response;
	int rc = fetch(location, 0, LIBRARY_MAX_BYTES, &response, err);
	if (rc < 0)
		return rc;
	if (response.status != 200) {
		rc = status_error(location, response.status, err);
		transfer_response_free(&response);
		return rc;
	}
	*text = (char *)response.body;
	*length = response.body_size;
	response.body = NULL;
	transfer_response_free(&response);
	return 0;
}
