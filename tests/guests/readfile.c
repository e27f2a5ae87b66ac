/* readfile: file system calls. GET <any url> arg=<path>: 200 application/octet-stream with the file's bytes
 * and header "X-File-Size: <fstat size>", or 404 text/plain "open <path>: <strerror(errno)>\n";
 * /stat -> 200 text/plain "size=<n>\n"; /lseek -> 200 application/octet-stream with the last 4 bytes (see README). */
#define _GNU_SOURCE
#include "sdk/kvm_api.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char message[8192];

static KVM_NORETURN void fail(int status, const char *what, const char *path, int error)
{
	snprintf(message, sizeof(message), "%s %s: %s\n", what, path, strerror(error));
	backend_response_str(status, "text/plain", message);
}

static void answer_stat(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		fail(404, "stat", path, errno);
	snprintf(message, sizeof(message), "size=%lld\n", (long long)st.st_size);
	backend_response_str(200, "text/plain", message);
}

/* lseek(-4, SEEK_END) + read and pread at the same offset must agree. */
static void answer_lseek(const char *path)
{
	const int fd = open(path, O_RDONLY);
	if (fd < 0)
		fail(404, "open", path, errno);
	const off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		fail(500, "lseek", path, errno);
	const off_t pos = lseek(fd, -4, SEEK_END);
	if (pos < 0)
		fail(500, "lseek", path, errno);
	if (pos != end - 4)
		backend_response_str(500, "text/plain", "lseek: wrong position\n");
	char tail[4], again[4];
	if (read(fd, tail, 4) != 4)
		fail(500, "read", path, errno);
	if (lseek(fd, 0, SEEK_CUR) != end)
		backend_response_str(500, "text/plain", "lseek: read did not advance\n");
	if (pread(fd, again, 4, pos) != 4)
		fail(500, "pread", path, errno);
	if (lseek(fd, 0, SEEK_CUR) != end)
		backend_response_str(500, "text/plain", "pread moved the file offset\n");
	if (memcmp(tail, again, 4) != 0)
		backend_response_str(500, "text/plain", "pread and read disagree\n");
	close(fd);
	static char result[4];
	memcpy(result, tail, 4);
	backend_response(200, "application/octet-stream", 24, result, 4);
}

static void answer_file(const char *path)
{
	const int fd = open(path, O_RDONLY);
	if (fd < 0)
		fail(404, "open", path, errno);
	struct stat st;
	if (fstat(fd, &st) != 0)
		fail(500, "fstat", path, errno);
	size_t capacity = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, used = 0;
	char *data = malloc(capacity);
	if (data == NULL)
		backend_response_str(500, "text/plain", "out of memory\n");
	for (;;) {
		if (used == capacity) {
			capacity *= 2;
			data = realloc(data, capacity);
			if (data == NULL)
				backend_response_str(500, "text/plain", "out of memory\n");
		}
		const ssize_t n = read(fd, data + used, capacity - used);
		if (n < 0)
			fail(500, "read", path, errno);
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (close(fd) != 0)
		fail(500, "close", path, errno);
	http_appendf(RESP, "X-File-Size: %lld", (long long)st.st_size);
	backend_response(200, "application/octet-stream", 24, data, used);
}

static void on_get(const char *url, const char *arg)
{
	if (strcmp(url, "/stat") == 0)
		answer_stat(arg);
	else if (strcmp(url, "/lseek") == 0)
		answer_lseek(arg);
	else
		answer_file(arg);
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
