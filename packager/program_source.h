/* Getting one program of a library onto local disk the way the VMOD
 * does: a program with only "filename" runs that file; one with "uri" is
 * fetched (http, https, file) into its cache path ("filename", or the
 * cache directory), with If-Modified-Since against the cached file's
 * mtime so that 304 keeps it, and a "sha256" that matches the cached ELF
 * skips the fetch. Archives are unpacked (archive.h), the ELF's hash is
 * checked against "sha256", and when trusted keys are listed (the
 * program's "trusted_keys", or keys given on the command line) the
 * archive must carry a good signature at uri + ".minisig". Cached files
 * are replaced atomically, so a crash or a bad download never leaves a
 * half-written or unchecked program behind. */
#ifndef TKVM_PACKAGER_PROGRAM_SOURCE_H
#define TKVM_PACKAGER_PROGRAM_SOURCE_H
#include <stddef.h>
#include "packager/program_settings.h"
#include "packager/program_signature.h"
#include "runner/error.h"
#include "runner/settings.h"

struct program_source_options {
	const struct trusted_keys *extra_keys; /* from the command line; may be NULL */
	const char *cache_directory;           /* when set, fetched programs are cached at DIR/NAME
						  whatever "filename" says; else "filename", else
						  $XDG_CACHE_HOME/tkvm/programs/NAME */
	settings_warning_fn warn;
	void *warn_context;
};

struct program_source {
	char *elf_path;     /* the request ELF to boot, malloc'd */
	char *storage_path; /* the storage ELF, NULL when none */
	char how[300];      /* "fetched https://x/hello.tar.xz (1.2 MB)", "cached (304 Not Modified)", ... */
	char signer[20];    /* id of the key whose signature was checked, "" when none was required */
};

/* Returns 0 with *source filled, or a negative code with err saying why
 * this one program cannot be loaded ("GET https://x/hello.tar.xz: 404 Not
 * Found", "hello.tar.xz.minisig: missing (the library lists trusted keys)",
 * "sha256 of the program is 1a2b..., the library says 3c4d..."). */
int program_source_prepare(const struct tkvm_settings *settings, const struct program_source_options *options,
			   struct program_source *source, struct tkvm_error *err);
void program_source_free(struct program_source *source);

/* A library's text from a path or a URL (http, https, file), at most
 * 16 MiB. A status other than 200 is an error naming it. */
int library_text_fetch(const char *location, char **text, size_t *length, struct tkvm_error *err);
#endif
