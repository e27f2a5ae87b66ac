/* Which host files a program may open: only those listed in allowed_paths,
 * read-only. Guest paths are normalised lexically first (so ".." cannot
 * climb out of a listed directory), and files under a listed directory are
 * opened with RESOLVE_BENEATH so no symlink leads outside it either. */
#ifndef TKVM_RUNNER_SANDBOX_PATHS_H
#define TKVM_RUNNER_SANDBOX_PATHS_H
#include <stddef.h>
#include "runner/settings.h"

/* Resolves path against cwd and removes ".", ".." and repeated slashes.
 * Returns 0, or -ENAMETOOLONG / -EINVAL. */
int sandbox_path_normalize(const char *cwd, const char *path, char *out, size_t size);

/* Opens a guest path read-only. flags are the guest's open flags: any
 * write intent gives -EACCES (-EROFS for listed writable paths is not
 * offered yet). Returns a host fd or -ENOENT (not listed), -EACCES, or the
 * host's error. */
int sandbox_path_open(const struct tkvm_settings *settings, const char *path, int flags);
#endif
