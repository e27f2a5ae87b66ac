/* allowed_paths enforcement (see sandbox_paths.h). */
#include "runner/sandbox_paths.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int sandbox_path_normalize(const char *cwd, const char *path, char *out, size_t size)
{
	char joined[4096];
	if (!path || !*path)
		return -ENOENT;
	int n = path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
			       : snprintf(joined, sizeof joined, "%s/%s", cwd && *cwd ? cwd : "/", path);
	if (n < 0 || (size_t)n >= sizeof joined)
		return -ENAMETOOLONG;
	size_t length = 0;
	const char *p = joined;
	while (*p) {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t component = (size_t)(p - start);
		if (component == 0 || (component == 1 && start[0] == '.'))
			continue;
		if (component == 2 && start[0] == '.' && start[1] == '.') {
			while (length > 0 && out[length - 1] != '/')
				length--;
			if (length > 0)
				length--; /* drop the slash; "/.." stays "/" */
			continue;
		}
		if (length + 1 + component + 1 > size)
			return -ENAMETOOLONG;
		out[length++] = '/';
		memcpy(out + length, start, component);
		length += component;
	}
	if (length == 0) {
		if (size < 2)
			return -ENAMETOOLONG;
		out[length++] = '/';
	}
	out[length] = 0;
	return 0;
}

static int open_beneath(const char *directory, const char *relative)
{
	int dir_fd = open(directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = O_RDONLY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	int fd = (int)syscall(SYS_openat2, dir_fd, *relative ? relative : ".", &how, sizeof how);
	int e = errno;
	close(dir_fd);
	if (fd >= 0)
		return fd;
	return e == EXDEV || e == ELOOP ? -EACCES : -e;
}

int sandbox_path_open(const struct tkvm_settings *settings, const char *path, int flags)
{
	char normal[4096];
	int r = sandbox_path_normalize(settings->current_working_directory, path, normal, sizeof normal);
	if (r < 0)
		return r;
	for (size_t i = 0; i < settings->allowed_path_count; i++) {
		const struct tkvm_allowed_path *allowed = &settings->allowed_paths[i];
		const char *virtual_path = allowed->virtual_path ? allowed->virtual_path : allowed->real;
		char normal_virtual[4096];
		if (!virtual_path || sandbox_path_normalize("/", virtual_path, normal_virtual, sizeof normal_virtual) < 0)
			continue;
		size_t vlen = strlen(normal_virtual);
		int exact = strcmp(normal, normal_virtual) == 0;
		int beneath = allowed->prefix &&
			      (strcmp(normal_virtual, "/") == 0 ? normal[0] == '/'
								: strncmp(normal, normal_virtual, vlen) == 0 && normal[vlen] == '/');
		if (!exact && !beneath)
			continue;
		if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_APPEND)))
			return -EACCES;
		if (allowed->prefix) {
			const char *rest = exact ? "" : normal + (strcmp(normal_virtual, "/") == 0 ? 1 : vlen + 1);
			return open_beneath(allowed->real, rest);
		}
		int fd = open(allowed->real, O_RDONLY | O_CLOEXEC | (flags & O_DIRECTORY));
		return fd < 0 ? -errno : fd;
	}
	return -ENOENT;
}
