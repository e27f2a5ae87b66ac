/* tkvm keygen: a minisign-compatible Ed25519 key pair for signing
 * programs, the secret key password-protected (scrypt, as minisign). */
#include "cli/commands.h"
#include "cli/signing_keys.h"
#include "cli/terminal.h"
#include "packager/file_io.h"
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OPTION_FORCE_KEYGEN = 3200, OPTION_NO_PASSWORD, OPTION_PASSWORD_FILE_KEYGEN, OPTION_FAST_KDF };

static void keygen_usage(FILE *out)
{
	char secret[4096], public[4096];
	fprintf(out,
		"usage: tkvm keygen [-s SECRET_KEY] [-p PUBLIC_KEY] [--force] [-W] [--password-file FILE]\n"
		"\n"
		"Makes a key pair for signing programs, in minisign's format (the stock\n"
		"minisign tool reads both files). The secret key is encrypted with a password\n"
		"(asked on the terminal twice, else read from the first line of standard input).\n"
		"\n"
		"options:\n"
		"  -s, --secret-key FILE   default %s\n"
		"  -p, --public-key FILE   default %s\n"
		"      --force             replace existing key files\n"
		"  -W, --no-password       leave the secret key unencrypted (as minisign -W)\n"
		"      --password-file F   read the password from F's first line\n"
		"      --fast-kdf          cheaper password hashing (scrypt 16 MiB instead of 1 GiB)\n"
		"\n"
		"Then: tkvm sign, and list the public key in a library's \"trusted_keys\" so\n"
		"that only programs signed with it load.\n",
		signing_key_default_path("tkvm.key", secret, sizeof secret),
		signing_key_default_path("tkvm.pub", public, sizeof public));
}

/* mkdir -p for the directory of path, private (0700) when created. */
static int make_key_directory(const char *path)
{
	char copy[4096];
	snprintf(copy, sizeof copy, "%s", path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			cli_error("cannot create %s: %s", copy, strerror(errno));
			return -1;
		}
		*p = '/';
	}
	return 0;
}

int command_keygen(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"secret-key", required_argument, NULL, 's'},
		{"public-key", required_argument, NULL, 'p'},
		{"force", no_argument, NULL, OPTION_FORCE_KEYGEN},
		{"no-password", no_argument, NULL, 'W'},
		{"password-file", required_argument, NULL, OPTION_PASSWORD_FILE_KEYGEN},
		{"fast-kdf", no_argument, NULL, OPTION_FAST_KDF},
		{NULL, 0, NULL, 0},
	};
	char secret_default[4096], public_default[4096];
	const char *secret_path = signing_key_default_path("tkvm.key", secret_default, sizeof secret_default);
	const char *public_path = signing_key_default_path("tkvm.pub", public_default, sizeof public_default);
	const char *password_file = NULL;
	bool force = false, no_password = false;
	enum minisign_kdf_cost cost = MINISIGN_KDF_SENSITIVE;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hs:p:W", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': keygen_usage(stdout); return EXIT_OK;
		case 's': secret_path = optarg; break;
		case 'p': public_path = optarg; break;
		case 'W': no_password = true; break;
		case OPTION_FORCE_KEYGEN: force = true; break;
		case OPTION_PASSWORD_FILE_KEYGEN: password_file = optarg; break;
		case OPTION_FAST_KDF: cost = MINISIGN_KDF_INTERACTIVE; break;
		default:
			cli_error("unknown option or missing value: '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm keygen --help' for the options");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error("tkvm keygen takes no arguments, got '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (!force) {
		const char *existing = access(secret_path, F_OK) == 0 ? secret_path
				       : access(public_path, F_OK) == 0 ? public_path : NULL;
		if (existing) {
			cli_error("%s already exists: keeping it", existing);
			cli_hint("--force replaces it (programs signed with the old key then no longer verify with the new one)");
			return EXIT_FAILURE_CODE;
		}
	}
	char password[256] = "";
	if (!no_password &&
	    signing_password_read(password_file, "Password for the new secret key: ", true, password, sizeof password) < 0)
		return EXIT_FAILURE_CODE;
	if (!no_password && !password[0]) {
		cli_error("an empty password: give one, or -W for an unencrypted secret key");
		return EXIT_USAGE;
	}
	char *public_text = NULL, *secret_text = NULL;
	struct tkvm_error err = {0};
	int rc = minisign_keygen(no_password ? NULL : password, cost, &public_text, &secret_text, &err);
	sodium_memzero(password, sizeof password);
	if (rc < 0) {
		cli_error("%s", err.message);
		return EXIT_FAILURE_CODE;
	}
	int status = EXIT_OK;
	if (make_key_directory(secret_path) < 0 || make_key_directory(public_path) < 0 ||
	    file_write_atomic_mode(secret_path, secret_text, strlen(secret_text), 0600, &err) < 0 ||
	    file_write_atomic_mode(public_path, public_text, strlen(public_text), 0644, &err) < 0) {
		if (err.message[0])
			cli_error("%s", err.message);
		status = EXIT_FAILURE_CODE;
	} else {
		const char *line = strchr(public_text, '\n');
		char key[128] = "";
		if (line)
			snprintf(key, sizeof key, "%.*s", (int)strcspn(line + 1, "\r\n"), line + 1);
		printf("secret key: %s%s\n", secret_path, no_password ? " (not encrypted)" : " (password-protected)");
		printf("public key: %s\n  %s\n", public_path, key);
		printf("Programs load only when signed by it once a library lists it, e.g. in its\n"
		       "\"test\" group: \"trusted_keys\": [\"%s\"]\n", key);
	}
	sodium_memzero(secret_text, strlen(secret_text));
	free(secret_text);
	free(public_text);
	return status;
}
