/* Whole files in and out: read with a size cap, and replaced through a
 * temporary file and a rename so that readers (and a crash) see the old
 * file or the new one, never half of one. */
#ifndef TKVM_PACKAGER_FILE_IO_H
#define TKVM_PACKAGER_FILE_IO_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "runner/error.h"

/* Reads a whole regular file (at most 1 GiB); the data is NUL-terminated. */
int file_read_whole(const char *path, uint8_t **data, size_t *length, struct tkvm_error *err);

/* Writes path through a temporary file in the same directory, fsync and a
 * rename; the file gets mode (less the umask). */
int file_write_atomic_mode(const char *path, const void *data, size_t length, mode_t mode, struct tkvm_error *err);
/* The same with mode 0666 (a data file). */
int file_write_atomic(const char *path, const void *data, size_t length, struct tkvm_error *err);
#endif
