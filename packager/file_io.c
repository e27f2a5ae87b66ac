/* Whole-file reads and atomic replacement (see file_io.h). */
#include "packager/file_io.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_LIMIT (1ull << 30)

int file_read_whole(const char *path, uint8_t **data, size_t *length, struct tkvm_error *err)
{
	*data = NULL;
	*length = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tkvm_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > READ_LIMIT) {
		int code = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		close(fd);
		return tkvm_error_set(err, code, "%s: %s", path,
				      S_ISDIR(st.st_mode) ? "is a directory, not a file"
				      : (uint64_t)st.st_size > READ_LIMIT ? "larger than 1 GiB" : "not a regular file");
	}
	size_t size = (size_t)st.st_size, got = 0;
	uint8_t *buffer = malloc(size + 1);
	if (!buffer) {
		close(fd);
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", path);
	}
	while (got < size) {
		ssize_t n = read(fd, buffer + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int code = n < 0 ? errno : EIO;
			free(buffer);
			close(fd);
			return tkvm_error_set(err, -code, "cannot read %s: %s", path, n < 0 ? strerror(code) : "file shrank");
		}
		got += (size_t)n;
	}
	close(fd);
	buffer[size] = 0;
	*data = buffer;
	*length = size;
	return 0;
}

int file_write_atomic_mode(const char *path, const void *data, size_t length, mode_t mode, struct tkvm_error *err)
{
	size_t n = strlen(path);
	char *temporary = malloc(n + 32);
	if (!temporary)
		return tkvm_error_set(err, -ENOMEM, "%s: out of memory", path);
	snprintf(temporary, n + 32, "%s.tmp-XXXXXX", path);
	int fd = mkostemp(temporary, O_CLOEXEC);
	if (fd < 0) {
		int code = errno;
		free(temporary);
		return tkvm_error_set(err, -code, "cannot write %s: %s", path, strerror(code));
	}
	const uint8_t *p = data;
	size_t left = length;
	int code = 0;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			code = w < 0 ? errno : EIO;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	/* Files are read by people and tools: the usual mode, not mkostemp's 0600. */
	mode_t mask = umask(0);
	umask(mask);
	if (!code && fchmod(fd, mode & ~mask) < 0)
		code = errno;
	if (!code && fsync(fd) < 0 && errno != EINVAL)
		code = errno;
	if (close(fd) < 0 && !code)
		code = errno;
	if (!code && rename(temporary, path) < 0)
		code = errno;
	if (code) {
		unlink(temporary);
		free(temporary);
		return tkvm_error_set(err, -code, "cannot write %s: %s", path, strerror(code));
	}
	free(temporary);
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t length, struct tkvm_error *err)
{
	return file_write_atomic_mode(path, data, length, 0666, err);
}
