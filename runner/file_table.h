/* The program's open files: guest file descriptors (3 and up) mapped to
 * host descriptors opened read-only from allowed_paths. 0, 1 and 2 are the
 * emulated standard streams and never map to host files. */
#ifndef TKVM_RUNNER_FILE_TABLE_H
#define TKVM_RUNNER_FILE_TABLE_H

#define FILE_TABLE_SIZE 64

struct file_table {
	int host_fds[FILE_TABLE_SIZE]; /* -1 = free */
};

void file_table_init(struct file_table *table);
/* Returns the new guest fd, or -EMFILE (the host fd is then closed). */
int file_table_add(struct file_table *table, int host_fd);
/* Host fd for a guest fd, or -EBADF. */
int file_table_get(const struct file_table *table, int guest_fd);
int file_table_close(struct file_table *table, int guest_fd);
void file_table_close_all(struct file_table *table);
#endif
