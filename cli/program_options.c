/* Program settings from --config and flags (see program_options.h). */
#include "cli/program_options.h"
#include "cli/terminal.h"
#include "packager/program_settings.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void program_options_init(struct program_options *options)
{
	memset(options, 0, sizeof *options);
	tkvm_settings_init(&options->settings);
}

void program_options_free(struct program_options *options)
{
	for (size_t i = 0; i < options->override_count; i++)
		free(options->overrides[i].owned);
	tkvm_settings_free(&options->settings);
}

/* Records KEY=VALUE; key_length 0 means key is a literal and value all of text. */
static int add_override(struct program_options *options, const char *key, const char *text, size_t key_length)
{
	if (options->override_count == PROGRAM_OPTION_MAX_OVERRIDES) {
		cli_error("too many settings flags (at most %d)", PROGRAM_OPTION_MAX_OVERRIDES);
		return -1;
	}
	char *copy = strdup(text);
	if (!copy) {
		cli_error("out of memory");
		return -1;
	}
	if (key_length) {
		copy[key_length] = 0;
		key = copy;
	}
	options->overrides[options->override_count].key = key;
	options->overrides[options->override_count].value = key_length ? copy + key_length + 1 : copy;
	options->overrides[options->override_count].owned = copy;
	options->override_count++;
	return 1;
}

int program_options_take(struct program_options *options, int option, const char *value)
{
	switch (option) {
	case 'c':
		options->config_path = value;
		return 1;
	case OPTION_MAX_BOOT_TIME: return add_override(options, "max_boot_time", value, 0);
	case OPTION_MAX_REQUEST_TIME: return add_override(options, "max_request_time", value, 0);
	case OPTION_MAX_MEMORY: return add_override(options, "max_memory", value, 0);
	case OPTION_MAX_REQUEST_MEMORY: return add_override(options, "max_request_memory", value, 0);
	case OPTION_ADDRESS_SPACE: return add_override(options, "address_space", value, 0);
	case OPTION_ALLOW: return add_override(options, "allowed_paths", value, 0);
	case OPTION_ENV: return add_override(options, "environment", value, 0);
	case OPTION_MAIN_ARGUMENT: return add_override(options, "main_arguments", value, 0);
	case OPTION_NAME: return add_override(options, "name", value, 0);
	case OPTION_ALLOW_HOST: return add_override(options, "allowed_hosts", value, 0);
	case OPTION_SET: {
		const char *eq = strchr(value, '=');
		if (!eq || eq == value) {
			cli_error("--set wants KEY=VALUE, got '%s'", value);
			return -1;
		}
		return add_override(options, NULL, value, (size_t)(eq - value));
	}
	default:
		return 0;
	}
}

int read_whole_file(const char *path, uint8_t **data, size_t *size)
{
	*data = NULL;
	*size = 0;
	int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		cli_error("'%s' is a directory, not a file", path);
		close(fd);
		return -1;
	}
	size_t capacity = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, length = 0;
	uint8_t *buffer = malloc(capacity);
	for (;;) {
		if (!buffer) {
			cli_error("out of memory reading '%s'", path);
			close(fd);
			return -1;
		}
		if (length == capacity) {
			uint8_t *bigger = realloc(buffer, capacity * 2);
			if (!bigger) {
				free(buffer);
				buffer = NULL;
				continue;
			}
			buffer = bigger;
			capacity *= 2;
		}
		ssize_t n = read(fd, buffer + length, capacity - length);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cli_error("cannot read '%s': %s", path, strerror(errno));
			free(buffer);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		length += (size_t)n;
	}
	close(fd);
	*data = buffer;
	*size = length;
	return 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

int program_options_finish(struct program_options *options, const char *program_path)
{
	struct tkvm_error err = {0};
	if (options->config_path) {
		uint8_t *text;
		size_t length;
		if (read_whole_file(options->config_path, &text, &length) < 0)
			return -1;
		int r = program_settings_parse((const char *)text, length, options->config_path, &options->settings,
					       cli_warning_callback, NULL, &err);
		free(text);
		if (r < 0) {
			cli_error("%s", err.message);
			return -1;
		}
	}
	for (size_t i = 0; i < options->override_count; i++) {
		const char *key = options->overrides[i].key, *value = options->overrides[i].value;
		if (strcmp(key, "name") == 0) {
			free(options->settings.name);
			options->settings.name = strdup(value);
			continue;
		}
		if (program_settings_set(&options->settings, key, value, &err) < 0) {
			cli_error("%s", err.message);
			return -1;
		}
	}
	if (!options->settings.name && program_path)
		options->settings.name = strdup(base_name(program_path));
	return 0;
}

void program_options_help(FILE *out)
{
	fprintf(out,
		"program settings (library-JSON keys; flags override --config):\n"
		"  -c, --config FILE           one program's settings object, e.g. {\"max_memory\": 64}\n"
		"      --max-boot-time S       time for main() to reach wait_for_requests (default 16)\n"
		"      --max-request-time S    time per request (default 8)\n"
		"      --max-memory MB         guest memory (default 256)\n"
		"      --max-request-memory MB memory one request may dirty (default 64)\n"
		"      --address-space MB      highest guest address (default 256)\n"
		"      --allow PATH            let the program read PATH (repeatable; a directory needs --set)\n"
		"      --env NAME=VALUE        add to the program's environment (repeatable)\n"
		"      --main-arg ARG          add to the program's argv (repeatable)\n"
		"      --allow-host HOST[:PORT] let sys_fetch reach HOST (repeatable; \"*\" = anywhere)\n"
		"      --name NAME             program name (KVM_NAME; default: the file name)\n"
		"      --set KEY=VALUE         any other settings key, e.g. --set stdout=true\n");
}
