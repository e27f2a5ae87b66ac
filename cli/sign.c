/* tkvm sign: a minisign signature beside a program archive
 * (ARCHIVE.minisig), whose trusted comment binds the program's name,
 * version and hashes. `minisign -V` verifies it. */
#include "cli/commands.h"
#include "cli/pack_target.h"
#include "cli/program_sign.h"
#include "cli/project_build.h"
#include "cli/signing_keys.h"
#include "cli/terminal.h"
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPTION_PASSWORD_FILE_SIGN = 3300, OPTION_NAME_SIGN, OPTION_VERSION_SIGN };

static void sign_usage(FILE *out)
{
	char secret[4096];
	fprintf(out,
		"usage: tkvm sign [-s SECRET_KEY] [--password-file FILE] [--name NAME] [--version V] [ARCHIVE...]\n"
		"\n"
		"Signs program archives with a minisign-compatible key (tkvm keygen). Each\n"
		"signature goes to ARCHIVE.minisig; its trusted comment (signed too) names the\n"
		"program, its version, the archive's sha256 and the ELFs' sha256, so a signed\n"
		"archive cannot pass for another program. Without ARCHIVE: the project's\n"
		"build/NAME.tar.xz (made by tkvm pack).\n"
		"\n"
		"options:\n"
		"  -s, --secret-key FILE   default %s\n"
		"      --password-file F   read the key's password from F's first line\n"
		"                          (else asked on the terminal, else read from stdin)\n"
		"      --name NAME         the program's name (default: the project's, else the\n"
		"                          archive's request entry)\n"
		"      --version V         its version (default: the project's)\n",
		signing_key_default_path("tkvm.key", secret, sizeof secret));
}

static char *archive_entry_name_or(const char *fallback, char *entry)
{
	return entry ? entry : (fallback ? strdup(fallback) : NULL);
}

int command_sign(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"secret-key", required_argument, NULL, 's'},
		{"password-file", required_argument, NULL, OPTION_PASSWORD_FILE_SIGN},
		{"name", required_argument, NULL, OPTION_NAME_SIGN},
		{"version", required_argument, NULL, OPTION_VERSION_SIGN},
		{NULL, 0, NULL, 0},
	};
	char secret_default[4096];
	const char *secret_path = signing_key_default_path("tkvm.key", secret_default, sizeof secret_default);
	const char *password_file = NULL, *name = NULL, *version = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hs:", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': sign_usage(stdout); return EXIT_OK;
		case 's': secret_path = optarg; break;
		case OPTION_PASSWORD_FILE_SIGN: password_file = optarg; break;
		case OPTION_NAME_SIGN: name = optarg; break;
		case OPTION_VERSION_SIGN: version = optarg; break;
		default:
			cli_error("unknown option or missing value: '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm sign --help' for the options");
			return EXIT_USAGE;
		}
	}
	struct project project;
	int found = project_open(&project);
	if (found < 0)
		return EXIT_FAILURE_CODE;
	char *project_archive = found == PROJECT_LOADED ? project_archive_path(&project) : NULL;
	if (optind == argc && !project_archive) {
		cli_error("no ARCHIVE given and no %s here or in a parent directory", PROJECT_FILE);
		cli_hint("tkvm sign hello.tar.xz");
		return EXIT_USAGE;
	}
	struct minisign_secret_key key;
	int status = EXIT_OK;
	if (signing_secret_key_load(secret_path, password_file, &key) < 0)
		status = EXIT_FAILURE_CODE;
	int count = optind < argc ? argc - optind : 1;
	for (int i = 0; i < count && status == EXIT_OK; i++) {
		const char *path = optind < argc ? argv[optind + i] : project_archive;
		bool is_project_archive = project_archive && strcmp(path, project_archive) == 0;
		struct packed_program packed;
		char *entry = NULL;
		if (program_pack_load(path, &packed, &entry) < 0) {
			if (is_project_archive)
				cli_hint("make it with 'tkvm pack'");
			status = EXIT_FAILURE_CODE;
			break;
		}
		const char *project_name = found == PROJECT_LOADED && (is_project_archive || count == 1) ? project.name : NULL;
		char *program = name ? strdup(name) : project_name ? strdup(project_name) : archive_entry_name_or(strrchr(path, '/') ? strrchr(path, '/') + 1 : path, entry);
		if (program != entry)
			free(entry);
		const char *program_version = version ? version : found == PROJECT_LOADED ? project.version : NULL;
		char *signature = NULL;
		if (!program || program_sign(&packed, program, program_version, &key, &signature) < 0) {
			status = EXIT_FAILURE_CODE;
		} else {
			char id[20];
			printf("signed %s -> %s%s (program %s%s%s, key %s)\n", path, path, ".minisig", program,
			       program_version ? " " : "", program_version ? program_version : "",
			       minisign_key_id_text(key.key_id, id, sizeof id));
		}
		free(signature);
		free(program);
		packed_program_free(&packed);
	}
	sodium_memzero(&key, sizeof key);
	free(project_archive);
	if (found == PROJECT_LOADED)
		project_free(&project);
	return status;
}
