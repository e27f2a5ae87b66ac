/* Guest fd → host fd table (see file_table.h). */
#include "runner/file_table.h"
#include <errno.h>
#include <unistd.h>

void file_table_init(struct file_table *table)
{
	for (int i = 0; i < FILE_TABLE_SIZE; i++)
		table->host_fds[i] = -1;
}

int file_table_add(struct file_table *table, int host_fd)
{
	for (int i = 3; i < FILE_TABLE_SIZE; i++) {
		if (table->host_fds[i] < 0) {
			table->host_fds[i] = host_fd;
			return i;
		}
	}
	close(host_fd);
	return -EMFILE;
}

int file_table_get(const struct file_table *table, int guest_fd)
{
	if (guest_fd < 3 || guest_fd >= FILE_TABLE_SIZE || table->host_fds[guest_fd] < 0)
		return -EBADF;
	return table->host_fds[guest_fd];
}

int file_table_close(struct file_table *table, int guest_fd)
{
	int host_fd = file_table_get(table, guest_fd);
	if (host_fd < 0)
		return host_fd;
	close(host_fd);
	table->host_fds[guest_fd] = -1;
	return 0;
}

void file_table_close_all(struct file_table *table)
{
	for (int i = 3; i < FILE_TABLE_SIZE; i++)
		if (table->host_fds[i] >= 0)
			close(table->host_fds[i]);
	file_table_init(table);
}
