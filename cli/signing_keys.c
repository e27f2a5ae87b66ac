/* Signing keys on disk and their passwords (see signing_keys.h). */
#include "cli/signing_keys.h"
#include "cli/terminal.h"
#include "packager/file_io.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

const char *signing_key_default_path(const char *file_name, char *buf, size_t size)
{
	const char *dir = getenv("TKVM_KEY_DIR");
	const char *config = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (dir && *dir)
		snprintf(buf, size, "%s/%s", dir, file_name);
	else if (config && config[0] == '/')
		snprintf(buf, size, "%s/tkvm/%s", config, file_name);
	else
		snprintf(buf, size, "%s/.config/tkvm/%s", home && *home ? home : ".", file_name);
	return buf;
}

/* One line from fd, without its newline. Returns its length or -1. */
static ssize_t read_line(int fd, char *buf, size_t size)
{
	size_t used = 0;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (c == '\n')
			break;
		if (used + 1 >= size)
			return -1;
		buf[used++] = c;
	}
	if (used && buf[used - 1] == '\r')
		used--;
	buf[used] = 0;
	return (ssize_t)used;
}

static int prompt_terminal(const char *prompt, char *buf, size_t size)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct termios saved, quiet;
	bool restore = tcgetattr(fd, &saved) == 0;
	if (restore) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		/* the prompt is a courtesy; reading still works */
	}
	ssize_t n = read_line(fd, buf, size);
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &saved);
	if (write(fd, "\n", 1) < 0) {
		/* as above */
	}
	close(fd);
	return n < 0 ? -1 : 0;
}

int signing_password_read(const char *password_file, const char *prompt, bool confirm, char *password, size_t size)
{
	if (password_file) {
		int fd = open(password_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_error("cannot read the password file %s: %s", password_file, strerror(errno));
			return -1;
		}
		ssize_t n = read_line(fd, password, size);
		close(fd);
		if (n < 0) {
			cli_error("%s: the password is longer than %zu bytes", password_file, size - 1);
			return -1;
		}
		return 0;
	}
	if (isatty(STDIN_FILENO)) {
		if (prompt_terminal(prompt, password, size) < 0) {
			cli_error("cannot read a password from the terminal");
			return -1;
		}
		if (confirm) {
			char again[256];
			if (prompt_terminal("Password (one more time): ", again, sizeof again) < 0 ||
			    strcmp(again, password) != 0) {
				sodium_memzero(again, sizeof again);
				cli_error("the passwords differ");
				return -1;
			}
			sodium_memzero(again, sizeof again);
		}
		return 0;
	}
	if (read_line(STDIN_FILENO, password, size) < 0) {
		cli_error("the password on standard input is longer than %zu bytes", size - 1);
		return -1;
	}
	return 0;
}

int signing_secret_key_load(const char *path, const char *password_file, struct minisign_secret_key *key)
{
	uint8_t *text;
	size_t length;
	struct tkvm_error err = {0};
	if (file_read_whole(path, &text, &length, &err) < 0) {
		cli_error("%s", err.message);
		if (err.code == -ENOENT)
			cli_hint("make a key pair with 'tkvm keygen' (or give one with -s FILE)");
		return -1;
	}
	int encrypted = minisign_secret_key_encrypted((const char *)text, length);
	char password[256] = "";
	int rc = 0;
	if (encrypted < 0) {
		cli_error("%s: not a minisign secret key", path);
		rc = -1;
	} else if (encrypted) {
		char prompt[600];
		snprintf(prompt, sizeof prompt, "Password for %s: ", path);
		rc = signing_password_read(password_file, prompt, false, password, sizeof password);
	}
	if (rc == 0 && minisign_secret_key_parse((const char *)text, length, password, key, &err) < 0) {
		cli_error("%s: %s", path, err.message);
		rc = -1;
	}
	sodium_memzero(password, sizeof password);
	sodium_memzero(text, length);
	free(text);
	return rc;
}

int signing_public_key_load(const char *path_or_key, struct minisign_public_key *key)
{
	struct tkvm_error err = {0};
	/* A key's base64 may hold '/': a key first, then a file. */
	if (access(path_or_key, F_OK) != 0 && minisign_public_key_parse(path_or_key, strlen(path_or_key), key, &err) == 0)
		return 0;
	uint8_t *text;
	size_t length;
	if (file_read_whole(path_or_key, &text, &length, &err) < 0) {
		cli_error("%s", err.message);
		if (err.code == -ENOENT)
			cli_hint("give the signer's public key with -p FILE or -P RWQ..., or make your own with 'tkvm keygen'");
		return -1;
	}
	int rc = minisign_public_key_parse((const char *)text, length, key, &err);
	free(text);
	if (rc < 0) {
		cli_error("%s: %s", path_or_key, err.message);
		return -1;
	}
	return 0;
}
