/* tkvm pack: the program's archive as production loads it (tar.xz with
 * the request ELF and optionally a storage ELF), reproducible, with its
 * sha256 beside it. From the project (built first when stale) or from
 * ELF files given on the command line. */
#include "cli/commands.h"
#include "cli/pack_target.h"
#include "cli/terminal.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPTION_STORAGE = 3100, OPTION_NAME_PACK };

static void pack_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm pack [-o ARCHIVE] [--storage ELF] [--name NAME] [ELF]\n"
		"\n"
		"Packs a program into a tar.xz archive as the Varnish TinyKVM VMOD loads it:\n"
		"the request ELF, and the storage ELF when given (entry NAME_storage). The\n"
		"same ELFs always give the same bytes (fixed times, owners and order), so an\n"
		"archive can be rebuilt and checked against a published hash. Also writes\n"
		"ARCHIVE.sha256 (as sha256sum does).\n"
		"\n"
		"Without ELF: the project's program (tkvm.json here or in a parent; built\n"
		"first when stale) into build/NAME.tar.xz.\n"
		"\n"
		"options:\n"
		"  -o, --output FILE   where the archive goes (default build/NAME.tar.xz, or\n"
		"                      NAME.tar.xz for an ELF given here)\n"
		"      --storage ELF   add a storage program\n"
		"      --name NAME     the program's name (default: the project's, or the ELF's\n"
		"                      file name)\n"
		"\n"
		"examples:\n"
		"  tkvm pack\n"
		"  tkvm pack --storage build/hello_storage\n"
		"  tkvm pack -o /tmp/hello.tar.xz ./hello\n");
}

int command_pack(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"output", required_argument, NULL, 'o'},
		{"storage", required_argument, NULL, OPTION_STORAGE},
		{"name", required_argument, NULL, OPTION_NAME_PACK},
		{NULL, 0, NULL, 0},
	};
	struct pack_target target = {0};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': pack_usage(stdout); return EXIT_OK;
		case 'o': target.output = optarg; break;
		case OPTION_STORAGE: target.storage_path = optarg; break;
		case OPTION_NAME_PACK: target.name = optarg; break;
		default:
			cli_error("unknown option or missing value: '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm pack --help' for the options");
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		cli_error("tkvm pack takes at most one ELF, got %d arguments", argc - optind);
		cli_hint("a storage program goes with --storage ELF");
		return EXIT_USAGE;
	}
	target.elf_path = optind < argc ? argv[optind] : NULL;
	struct packed_program packed;
	int status = pack_target_pack(&target, &packed);
	if (status != EXIT_OK) {
		pack_target_free(&target);
		return status;
	}
	printf("packed %s (%zu bytes)\n", packed.archive_path, packed.archive_size);
	printf("  sha256 %s\n", packed.archive_sha256);
	printf("  program %s, ELF sha256 %s\n", target.resolved_name, packed.elf_sha256);
	if (packed.storage_sha256[0])
		printf("  storage ELF sha256 %s\n", packed.storage_sha256);
	packed_program_free(&packed);
	pack_target_free(&target);
	return EXIT_OK;
}
