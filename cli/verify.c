/* tkvm verify: checks a program archive's signature (ARCHIVE.minisig,
 * from tkvm sign or `minisign -S`) against a public key, and the binding
 * its trusted comment carries. */
#include "cli/commands.h"
#include "cli/pack_target.h"
#include "cli/project_build.h"
#include "cli/signing_keys.h"
#include "cli/terminal.h"
#include "packager/digest.h"
#include "packager/file_io.h"
#include "packager/program_signature.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPTION_NAME_VERIFY = 3400, OPTION_SIGNATURE_VERIFY };

static void verify_usage(FILE *out)
{
	char public[4096];
	fprintf(out,
		"usage: tkvm verify [-p PUBLIC_KEY | -P KEY] [--name NAME] [-x SIGNATURE] [ARCHIVE...]\n"
		"\n"
		"Checks each archive against its signature (ARCHIVE.minisig): made by the\n"
		"given public key, over these exact bytes, with an intact trusted comment.\n"
		"When the comment binds a program (tkvm sign), its archive hash and ELF hashes\n"
		"must match the archive, and --name, when given, its program name. Signatures\n"
		"from `minisign -S` are accepted on the signature alone. Without ARCHIVE: the\n"
		"project's build/NAME.tar.xz.\n"
		"\n"
		"options:\n"
		"  -p, --public-key FILE   default %s\n"
		"  -P, --key KEY           the public key itself (\"RWQ...\")\n"
		"      --name NAME         the program the signature must be for\n"
		"  -x, --signature FILE    the signature (default ARCHIVE.minisig)\n"
		"\n"
		"exit status: 0 when every signature is good, 1 otherwise.\n",
		signing_key_default_path("tkvm.pub", public, sizeof public));
}

/* The signature first (over the bytes as they are: a damaged archive is
 * "does not match", not a decompression error), then what it binds. */
static int verify_one(const char *path, const char *signature_path, const struct trusted_keys *keys, const char *name)
{
	char default_signature[4200];
	snprintf(default_signature, sizeof default_signature, "%s%s", path, PROGRAM_SIGNATURE_SUFFIX);
	const char *sig_path = signature_path ? signature_path : default_signature;
	uint8_t *text = NULL, *data = NULL;
	size_t length = 0, size = 0;
	struct tkvm_error err = {0};
	struct program_binding binding;
	struct packed_program packed = {0};
	int rc = file_read_whole(path, &data, &size, &err);
	if (rc < 0) {
		cli_error("%s", err.message);
	} else if ((rc = file_read_whole(sig_path, &text, &length, &err)) < 0) {
		cli_error("%s: no signature: %s", path, err.message);
		cli_hint("sign it with 'tkvm sign %s'", path);
	} else if ((rc = program_signature_check((const char *)text, length, data, size, keys, name, &binding, &err)) < 0) {
		cli_error("%s: %s", path, err.message);
	} else if (binding.elf_sha256[0] && (rc = program_pack_load(path, &packed, NULL)) < 0) {
		/* reported */
	} else if (binding.elf_sha256[0] && !digest_equal(binding.elf_sha256, packed.elf_sha256)) {
		cli_error("%s: the signature names request ELF sha256 %.16s..., the archive holds %.16s...", path,
			  binding.elf_sha256, packed.elf_sha256);
		rc = -1;
	} else if (binding.elf_sha256[0] && !digest_equal(binding.storage_sha256[0] ? binding.storage_sha256 : "",
							   packed.storage_sha256)) {
		cli_error("%s: the signature and the archive disagree about the storage ELF", path);
		rc = -1;
	} else {
		struct minisign_signature signature;
		char id[20] = "";
		if (minisign_signature_parse((const char *)text, length, &signature, &err) == 0) {
			minisign_key_id_text(signature.key_id, id, sizeof id);
			printf("%s: good signature by key %s\n", path, id);
			if (binding.program[0]) {
				char when[64] = "";
				time_t t = (time_t)binding.timestamp;
				struct tm tm;
				if (t > 0 && gmtime_r(&t, &tm))
					strftime(when, sizeof when, ", signed %Y-%m-%d %H:%M:%S UTC", &tm);
				printf("  program %s%s%s%s\n", binding.program, binding.version[0] ? " version " : "",
				       binding.version, when);
			} else {
				printf("  trusted comment: %s\n", signature.trusted_comment ? signature.trusted_comment : "");
				printf("  (no program binding: signed by plain minisign, so the name is not checked)\n");
			}
			minisign_signature_free(&signature);
		}
	}
	free(text);
	free(data);
	packed_program_free(&packed);
	return rc;
}

int command_verify(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"public-key", required_argument, NULL, 'p'},
		{"key", required_argument, NULL, 'P'},
		{"name", required_argument, NULL, OPTION_NAME_VERIFY},
		{"signature", required_argument, NULL, 'x'},
		{NULL, 0, NULL, 0},
	};
	char public_default[4096];
	const char *public_key = NULL, *name = NULL, *signature_path = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hp:P:x:", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': verify_usage(stdout); return EXIT_OK;
		case 'p': case 'P': public_key = optarg; break;
		case OPTION_NAME_VERIFY: name = optarg; break;
		case 'x': signature_path = optarg; break;
		default:
			cli_error("unknown option or missing value: '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm verify --help' for the options");
			return EXIT_USAGE;
		}
	}
	if (signature_path && argc - optind > 1) {
		cli_error("-x names one signature: give one ARCHIVE with it");
		return EXIT_USAGE;
	}
	if (!public_key)
		public_key = signing_key_default_path("tkvm.pub", public_default, sizeof public_default);
	struct trusted_keys keys = {0};
	struct minisign_public_key key;
	if (signing_public_key_load(public_key, &key) < 0)
		return EXIT_FAILURE_CODE;
	keys.keys = &key;
	keys.count = 1;
	int status = EXIT_OK;
	if (optind == argc) {
		struct project project;
		int found = project_open(&project);
		if (found != PROJECT_LOADED) {
			if (found == PROJECT_NOT_FOUND) {
				cli_error("no ARCHIVE given and no %s here or in a parent directory", PROJECT_FILE);
				cli_hint("tkvm verify hello.tar.xz");
			}
			return found < 0 ? EXIT_FAILURE_CODE : EXIT_USAGE;
		}
		char *archive = project_archive_path(&project);
		if (!archive || verify_one(archive, signature_path, &keys, name ? name : project.name) < 0)
			status = EXIT_FAILURE_CODE;
		free(archive);
		project_free(&project);
		return status;
	}
	for (int i = optind; i < argc; i++)
		if (verify_one(argv[i], signature_path, &keys, name) < 0)
			status = EXIT_FAILURE_CODE;
	return status;
}
