/* File syscalls: the standard streams (output captured and handed to the
 * embedder) and read-only access to files listed in allowed_paths. Guest
 * buffers are checked against guest memory before any host call. */
#include "runner/syscalls.h"
#include "runner/sandbox_paths.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define GUEST_PATH_MAX 4096
#define GUEST_IOV_MAX 1024

static bool is_standard_stream(int64_t fd) { return fd >= 0 && fd <= 2; }

static int read_guest_path(struct machine *m, uint64_t address, const char **path)
{
	size_t length;
	*path = guest_memory_string(&m->memory, address, GUEST_PATH_MAX, &length);
	if (!*path)
		return guest_memory_user_range(&m->memory, address, 1) ? -ENAMETOOLONG : -EFAULT;
	return 0;
}

static void emit_output(struct machine *m, int fd, const char *data, size_t length)
{
	if (m->hooks.output && length)
		m->hooks.output(m->hooks.context, fd, data, length);
}

int64_t syscall_write(struct machine *m, const uint64_t *a)
{
	int64_t fd = (int64_t)a[0];
	const char *data = guest_memory_user_range(&m->memory, a[1], a[2]);
	if (fd == 1 || fd == 2) {
		if (!data)
			return -EFAULT;
		emit_output(m, (int)fd, data, a[2]);
		return (int64_t)a[2];
	}
	if (fd == 0 || file_table_get(&m->files, (int)fd) >= 0)
		return -EBADF; /* stdin and files are read-only */
	return -EBADF;
}

int64_t syscall_read(struct machine *m, const uint64_t *a)
{
	int64_t fd = (int64_t)a[0];
	void *target = guest_memory_user_range(&m->memory, a[1], a[2]);
	if (fd == 0)
		return target ? 0 : -EFAULT; /* stdin is empty */
	int host_fd = file_table_get(&m->files, (int)fd);
	if (host_fd < 0)
		return -EBADF;
	if (!target)
		return -EFAULT;
	ssize_t n = read(host_fd, target, a[2]);
	return n < 0 ? -errno : n;
}

int64_t syscall_pread64(struct machine *m, const uint64_t *a)
{
	int host_fd = file_table_get(&m->files, (int)a[0]);
	if (host_fd < 0)
		return is_standard_stream((int64_t)a[0]) ? -ESPIPE : -EBADF;
	void *target = guest_memory_user_range(&m->memory, a[1], a[2]);
	if (!target)
		return -EFAULT;
	ssize_t n = pread(host_fd, target, a[2], (off_t)a[3]);
	return n < 0 ? -errno : n;
}

/* Reads the iovec array; returns the count or a negative errno. */
static int64_t load_iovecs(struct machine *m, uint64_t address, uint64_t count, struct iovec *out)
{
	if (count > GUEST_IOV_MAX)
		return -EINVAL;
	const uint64_t *raw = guest_memory_user_range(&m->memory, address, count * 16);
	if (!raw && count)
		return -EFAULT;
	for (uint64_t i = 0; i < count; i++) {
		void *base = guest_memory_user_range(&m->memory, raw[2 * i], raw[2 * i + 1]);
		if (!base && raw[2 * i + 1])
			return -EFAULT;
		out[i].iov_base = base;
		out[i].iov_len = raw[2 * i + 1];
	}
	return (int64_t)count;
}

int64_t syscall_writev(struct machine *m, const uint64_t *a)
{
	static __thread struct iovec vectors[GUEST_IOV_MAX];
	int64_t fd = (int64_t)a[0];
	if (fd != 1 && fd != 2)
		return -EBADF;
	int64_t count = load_iovecs(m, a[1], a[2], vectors);
	if (count < 0)
		return count;
	int64_t total = 0;
	for (int64_t i = 0; i < count; i++) {
		emit_output(m, (int)fd, vectors[i].iov_base, vectors[i].iov_len);
		total += (int64_t)vectors[i].iov_len;
	}
	return total;
}

int64_t syscall_readv(struct machine *m, const uint64_t *a)
{
	static __thread struct iovec vectors[GUEST_IOV_MAX];
	int64_t fd = (int64_t)a[0];
	int64_t count = load_iovecs(m, a[1], a[2], vectors);
	if (count < 0)
		return count;
	if (fd == 0)
		return 0;
	int host_fd = file_table_get(&m->files, (int)fd);
	if (host_fd < 0)
		return -EBADF;
	ssize_t n = readv(host_fd, vectors, (int)count);
	return n < 0 ? -errno : n;
}

static int64_t open_path(struct machine *m, uint64_t path_address, uint64_t flags)
{
	const char *path;
	int r = read_guest_path(m, path_address, &path);
	if (r < 0)
		return r;
	int host_fd = sandbox_path_open(&m->settings, path, (int)flags);
	if (host_fd < 0)
		return host_fd;
	return file_table_add(&m->files, host_fd);
}

int64_t syscall_open(struct machine *m, const uint64_t *a) { return open_path(m, a[0], a[1]); }

static bool relative_to_cwd(struct machine *m, int64_t dirfd, uint64_t path_address)
{
	const char *path = guest_memory_string(&m->memory, path_address, GUEST_PATH_MAX, NULL);
	return (int)dirfd == AT_FDCWD || (path && path[0] == '/');
}

int64_t syscall_openat(struct machine *m, const uint64_t *a)
{
	if (!relative_to_cwd(m, (int64_t)a[0], a[1]))
		return -EBADF; /* paths relative to a directory fd are not offered */
	return open_path(m, a[1], a[2]);
}

int64_t syscall_close(struct machine *m, const uint64_t *a)
{
	if (is_standard_stream((int64_t)a[0]))
		return 0;
	return file_table_close(&m->files, (int)a[0]);
}

int64_t syscall_lseek(struct machine *m, const uint64_t *a)
{
	if (is_standard_stream((int64_t)a[0]))
		return -ESPIPE;
	int host_fd = file_table_get(&m->files, (int)a[0]);
	if (host_fd < 0)
		return -EBADF;
	off_t r = lseek(host_fd, (off_t)a[1], (int)a[2]);
	return r < 0 ? -errno : r;
}

static int64_t stat_out(struct machine *m, uint64_t address, const struct stat *st)
{
	struct stat copy = *st;
	copy.st_dev = 0x1; /* do not show the host's device and owner */
	copy.st_uid = copy.st_gid = 0;
	return guest_copy_out(m, address, &copy, sizeof copy);
}

static int64_t stat_stream(struct machine *m, uint64_t address)
{
	struct stat st;
	memset(&st, 0, sizeof st);
	st.st_mode = S_IFCHR | 0620;
	st.st_nlink = 1;
	st.st_blksize = 4096;
	st.st_rdev = 0x8800;
	return guest_copy_out(m, address, &st, sizeof st);
}

static int64_t fstat_fd(struct machine *m, int64_t fd, uint64_t address)
{
	if (is_standard_stream(fd))
		return stat_stream(m, address);
	int host_fd = file_table_get(&m->files, (int)fd);
	if (host_fd < 0)
		return -EBADF;
	struct stat st;
	if (fstat(host_fd, &st) < 0)
		return -errno;
	return stat_out(m, address, &st);
}

int64_t syscall_fstat(struct machine *m, const uint64_t *a) { return fstat_fd(m, (int64_t)a[0], a[1]); }

static int64_t stat_path(struct machine *m, uint64_t path_address, uint64_t address)
{
	const char *path;
	int r = read_guest_path(m, path_address, &path);
	if (r < 0)
		return r;
	int host_fd = sandbox_path_open(&m->settings, path, O_RDONLY);
	if (host_fd < 0)
		return host_fd;
	struct stat st;
	int64_t result = fstat(host_fd, &st) < 0 ? -errno : stat_out(m, address, &st);
	close(host_fd);
	return result;
}

int64_t syscall_stat(struct machine *m, const uint64_t *a) { return stat_path(m, a[0], a[1]); }

int64_t syscall_newfstatat(struct machine *m, const uint64_t *a)
{
	const char *path = guest_memory_string(&m->memory, a[1], GUEST_PATH_MAX, NULL);
	if ((a[3] & AT_EMPTY_PATH) && path && !*path)
		return fstat_fd(m, (int64_t)a[0], a[2]);
	if (!relative_to_cwd(m, (int64_t)a[0], a[1]))
		return -EBADF;
	return stat_path(m, a[1], a[2]);
}

static int64_t access_path(struct machine *m, uint64_t path_address, uint64_t mode)
{
	if (mode & W_OK)
		return -EACCES;
	const char *path;
	int r = read_guest_path(m, path_address, &path);
	if (r < 0)
		return r;
	int host_fd = sandbox_path_open(&m->settings, path, O_RDONLY);
	if (host_fd < 0)
		return host_fd;
	close(host_fd);
	return 0;
}

int64_t syscall_access(struct machine *m, const uint64_t *a) { return access_path(m, a[0], a[1]); }

int64_t syscall_faccessat(struct machine *m, const uint64_t *a)
{
	if (!relative_to_cwd(m, (int64_t)a[0], a[1]))
		return -EBADF;
	return access_path(m, a[1], a[2]);
}

int64_t syscall_dup(struct machine *m, const uint64_t *a)
{
	int host_fd = file_table_get(&m->files, (int)a[0]);
	if (host_fd < 0)
		return -EBADF;
	int copy = fcntl(host_fd, F_DUPFD_CLOEXEC, 0);
	return copy < 0 ? -errno : file_table_add(&m->files, copy);
}

int64_t syscall_fcntl(struct machine *m, const uint64_t *a)
{
	int64_t fd = (int64_t)a[0];
	if (!is_standard_stream(fd) && file_table_get(&m->files, (int)fd) < 0)
		return -EBADF;
	switch (a[1]) {
	case F_GETFD:
		return is_standard_stream(fd) ? 0 : FD_CLOEXEC;
	case F_SETFD:
	case F_SETFL:
		return 0;
	case F_GETFL:
		return fd == 1 || fd == 2 ? O_WRONLY : O_RDONLY;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (is_standard_stream(fd))
			return -EINVAL;
		return syscall_dup(m, a);
	default:
		return -EINVAL;
	}
}

int64_t syscall_getcwd(struct machine *m, const uint64_t *a)
{
	const char *cwd = m->settings.current_working_directory ? m->settings.current_working_directory : "/";
	uint64_t length = strlen(cwd) + 1;
	if (a[1] < length)
		return -ERANGE;
	if (guest_copy_out(m, a[0], cwd, length) < 0)
		return -EFAULT;
	return (int64_t)length;
}

int64_t syscall_getdents64(struct machine *m, const uint64_t *a)
{
	int host_fd = file_table_get(&m->files, (int)a[0]);
	if (host_fd < 0)
		return -EBADF;
	void *target = guest_memory_user_range(&m->memory, a[1], a[2]);
	if (!target)
		return -EFAULT;
	long n = syscall(SYS_getdents64, host_fd, target, (unsigned)(a[2] > 0x7fffffff ? 0x7fffffff : a[2]));
	return n < 0 ? -errno : n;
}

int64_t syscall_readlink(struct machine *m, const uint64_t *a)
{
	return -ENOENT; /* no symlinks are visible in the sandbox */
}

int64_t syscall_ioctl(struct machine *m, const uint64_t *a)
{
	int64_t fd = (int64_t)a[0];
	if (!is_standard_stream(fd) && file_table_get(&m->files, (int)fd) < 0)
		return -EBADF;
	return -ENOTTY;
}
