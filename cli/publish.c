/* tkvm publish: packs the project's program (built when stale), signs it
 * (or reuses a signature that still matches), uploads archive and
 * signature to a library host and adds or replaces the program's entry
 * in the library JSON there (packager/publish.c does the transfer and the
 * conflict handling). */
#include "cli/commands.h"
#include "cli/pack_target.h"
#include "cli/program_sign.h"
#include "cli/signing_keys.h"
#include "cli/terminal.h"
#include "cli/text_buffer.h"
#include "cli/text_diff.h"
#include "packager/digest.h"
#include "packager/file_io.h"
#include "packager/program_signature.h"
#include "packager/publish.h"
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPTION_DRY_RUN = 3500,
	OPTION_NO_SIGN,
	OPTION_PASSWORD_FILE_PUBLISH,
	OPTION_FILENAME,
	OPTION_LIBRARY_NAME,
	OPTION_LIMIT_RATE,
	OPTION_STORAGE_PUBLISH,
	OPTION_QUIET_PUBLISH,
};

#define DEFAULT_CACHE_DIRECTORY "/var/cache/tkvm/"

static void publish_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm publish [options] URL\n"
		"\n"
		"Publishes the project's program where production loads it from: packs it\n"
		"(building first when stale), signs it, uploads NAME.tar.xz and\n"
		"NAME.tar.xz.minisig to URL, then adds or replaces the program's entry in\n"
		"URL/library.json (uri, filename, sha256 of the ELF, and the \"program\"\n"
		"settings of tkvm.json), leaving every other entry, group and comment as it was.\n"
		"\n"
		"  https://host/programs/   HTTP PUT (WebDAV, as nginx's dav module serves it);\n"
		"                           concurrent publishers retry instead of losing entries\n"
		"  file:///srv/programs/    a directory (locked while the library is rewritten)\n"
		"\n"
		"options:\n"
		"  -n, --dry-run            show what would be uploaded and how the entry changes\n"
		"      --no-sign            publish without a signature\n"
		"  -s, --secret-key FILE    the signing key (default: tkvm keygen's)\n"
		"      --password-file F    read the key's password from F's first line\n"
		"  -p, --public-key FILE    checks that an existing signature is still good\n"
		"      --filename PATH      the entry's \"filename\" (the cache path on the nodes)\n"
		"                           when it has none yet; default %sNAME\n"
		"      --library NAME       the library's file name (default library.json)\n"
		"      --storage ELF        add a storage program to the archive\n"
		"      --limit-rate BYTES   upload at most BYTES per second (k/m suffixes)\n"
		"  -q, --quiet              no progress bar\n"
		"\n"
		"Credentials come from ~/.netrc. An https host signed by a private CA is\n"
		"trusted with CURL_CA_BUNDLE=CA.pem (or SSL_CERT_FILE), as curl does.\n"
		"\n"
		"examples:\n"
		"  tkvm publish https://cdn.example.com/programs/\n"
		"  tkvm publish --dry-run file:///srv/programs/\n",
		DEFAULT_CACHE_DIRECTORY);
}

static void say_line(void *context, const char *line)
{
	(void)context;
	printf("%s\n", line);
	fflush(stdout);
}

/* A progress bar on stderr when it is a terminal. */
struct progress {
	const char *name;
	int last_percent;
};

static void show_progress(void *context, uint64_t sent, uint64_t total)
{
	struct progress *p = context;
	int percent = total ? (int)(sent * 100 / total) : 100;
	if (percent == p->last_percent)
		return;
	p->last_percent = percent;
	int filled = percent * 30 / 100;
	char bar[31];
	memset(bar, '#', (size_t)filled);
	memset(bar + filled, ' ', (size_t)(30 - filled));
	bar[30] = 0;
	fprintf(stderr, "\r  uploading %s [%s] %3d%% %.1f/%.1f KiB%s", p->name, bar, percent, sent / 1024.0,
		total / 1024.0, sent >= total ? "\n" : "");
	fflush(stderr);
}

static long parse_rate(const char *text)
{
	char *end;
	double value = strtod(text, &end);
	if (end == text || value <= 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		value *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		value *= 1024 * 1024, end++;
	return *end ? -1 : (long)value;
}

/* The signature beside the archive when it is good for these bytes and
 * this program (reproducible archives make re-signing rare), else NULL. */
static char *reusable_signature(const struct packed_program *packed, const char *program, const char *public_key)
{
	char path[4200], public_default[4096];
	snprintf(path, sizeof path, "%s%s", packed->archive_path, PROGRAM_SIGNATURE_SUFFIX);
	if (!public_key)
		public_key = signing_key_default_path("tkvm.pub", public_default, sizeof public_default);
	uint8_t *text = NULL, *key_text = NULL;
	size_t length = 0, key_length = 0;
	struct tkvm_error err = {0};
	struct minisign_public_key key;
	struct program_binding binding;
	bool good = file_read_whole(path, &text, &length, &err) == 0 &&
		    file_read_whole(public_key, &key_text, &key_length, &err) == 0 &&
		    minisign_public_key_parse((const char *)key_text, key_length, &key, &err) == 0;
	struct trusted_keys keys = {.keys = &key, .count = 1};
	good = good &&
	       program_signature_check((const char *)text, length, packed->archive, packed->archive_size, &keys, program,
				       &binding, &err) == 0 &&
	       binding.program[0] && digest_equal(binding.sha256, packed->archive_sha256);
	free(key_text);
	if (!good) {
		free(text);
		return NULL;
	}
	return (char *)text;
}

static void show_dry_run(const struct publish_options *o, const struct publish_result *r)
{
	for (size_t i = 0; i < o->file_count; i++)
		printf("would upload %s%s%s (%zu bytes)\n", o->base_url,
		       o->base_url[strlen(o->base_url) - 1] == '/' ? "" : "/", o->files[i].name, o->files[i].size);
	const char *library = r->library_url ? r->library_url : "the library";
	if (r->old_member && r->new_member && strcmp(r->old_member, r->new_member) == 0) {
		printf("%s: the entry for %s is already up to date\n", library, o->program);
		return;
	}
	printf("%s: would %s \"%s\"%s\n", library, r->old_member ? "replace" : "add", o->program,
	       r->library_created ? " (a new library)" : "");
	struct text_buffer before = {0}, after = {0}, diff = {0};
	if (r->old_member)
		text_buffer_printf(&before, "\"%s\": %s\n", o->program, r->old_member);
	text_buffer_printf(&after, "\"%s\": %s\n", o->program, r->new_member);
	text_diff_unified("before", text_buffer_str(&before), before.length, "after", text_buffer_str(&after), after.length,
			  "  ", 80, &diff);
	printf("%s", text_buffer_str(&diff));
	text_buffer_free(&diff);
	text_buffer_free(&before);
	text_buffer_free(&after);
}

int command_publish(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"dry-run", no_argument, NULL, 'n'},
		{"no-sign", no_argument, NULL, OPTION_NO_SIGN},
		{"secret-key", required_argument, NULL, 's'},
		{"public-key", required_argument, NULL, 'p'},
		{"password-file", required_argument, NULL, OPTION_PASSWORD_FILE_PUBLISH},
		{"filename", required_argument, NULL, OPTION_FILENAME},
		{"library", required_argument, NULL, OPTION_LIBRARY_NAME},
		{"limit-rate", required_argument, NULL, OPTION_LIMIT_RATE},
		{"storage", required_argument, NULL, OPTION_STORAGE_PUBLISH},
		{"quiet", no_argument, NULL, 'q'},
		{NULL, 0, NULL, 0},
	};
	char secret_default[4096];
	const char *secret_path = signing_key_default_path("tkvm.key", secret_default, sizeof secret_default);
	const char *public_key = NULL, *password_file = NULL, *filename = NULL, *library_name = NULL;
	bool dry_run = false, sign = true, quiet = false;
	long rate = 0;
	struct pack_target target = {0};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hns:p:q", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': publish_usage(stdout); return EXIT_OK;
		case 'n': dry_run = true; break;
		case 'q': quiet = true; break;
		case 's': secret_path = optarg; break;
		case 'p': public_key = optarg; break;
		case OPTION_NO_SIGN: sign = false; break;
		case OPTION_PASSWORD_FILE_PUBLISH: password_file = optarg; break;
		case OPTION_FILENAME: filename = optarg; break;
		case OPTION_LIBRARY_NAME: library_name = optarg; break;
		case OPTION_STORAGE_PUBLISH: target.storage_path = optarg; break;
		case OPTION_LIMIT_RATE:
			if ((rate = parse_rate(optarg)) < 0) {
				cli_error("--limit-rate: '%s' is not a rate (bytes per second, e.g. 500k)", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			cli_error("unknown option or missing value: '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm publish --help' for the options");
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_error(argc == optind ? "where to? give the library's URL" : "tkvm publish takes one URL");
		cli_hint("tkvm publish https://host/programs/   or   tkvm publish file:///srv/programs/");
		return EXIT_USAGE;
	}
	const char *url = argv[optind];
	if (!transfer_url_supported(url)) {
		cli_error("%s: publish to an http://, https:// or file:// URL", url);
		return EXIT_USAGE;
	}
	if (library_name && (strchr(library_name, '/') || !*library_name)) {
		cli_error("--library names a file in the URL's directory, not a path: '%s'", library_name);
		return EXIT_USAGE;
	}
	transfer_global_init();
	struct packed_program packed;
	int status = pack_target_pack(&target, &packed);
	if (status != EXIT_OK) {
		pack_target_free(&target);
		return status;
	}
	if (!target.has_project) {
		cli_error("tkvm publish needs a project (tkvm.json)");
		packed_program_free(&packed);
		pack_target_free(&target);
		return EXIT_USAGE;
	}
	const char *name = target.resolved_name;
	char *signature = NULL;
	if (sign) {
		signature = reusable_signature(&packed, name, public_key);
		if (!signature) {
			struct minisign_secret_key key;
			if (dry_run && access(secret_path, F_OK) == 0) {
				printf("would sign %s with %s\n", packed.archive_path, secret_path);
			} else if (signing_secret_key_load(secret_path, password_file, &key) < 0 ||
				   program_sign(&packed, name, target.version, &key, &signature) < 0) {
				cli_hint("or publish without a signature: --no-sign");
				status = EXIT_FAILURE_CODE;
			} else {
				sodium_memzero(&key, sizeof key);
			}
		}
	}
	char archive_name[300], signature_name[320], default_filename[600];
	snprintf(archive_name, sizeof archive_name, "%s.tar.xz", name);
	snprintf(signature_name, sizeof signature_name, "%s%s", archive_name, PROGRAM_SIGNATURE_SUFFIX);
	snprintf(default_filename, sizeof default_filename, "%s%s", DEFAULT_CACHE_DIRECTORY, name);
	struct publish_file files[2] = {
		{archive_name, packed.archive, packed.archive_size},
		{signature_name, (const uint8_t *)signature, signature ? strlen(signature) : 0},
	};
	struct progress progress = {archive_name, -1};
	struct publish_options options = {
		.base_url = url,
		.library_name = library_name,
		.program = name,
		.files = files,
		.file_count = signature ? 2 : 1,
		.archive_name = archive_name,
		.settings_json = target.settings_json,
		.elf_sha256 = packed.elf_sha256,
		.filename = filename ? filename : default_filename,
		.dry_run = dry_run,
		.max_send_speed = rate,
		.progress = !quiet && isatty(STDERR_FILENO) ? show_progress : NULL,
		.progress_context = &progress,
		.say = say_line,
	};
	struct publish_result result;
	struct tkvm_error err = {0};
	if (status == EXIT_OK) {
		if (publish_program(&options, &result, &err) < 0) {
			if (progress.last_percent >= 0 && progress.last_percent < 100)
				fputc('\n', stderr); /* the error on a line of its own, not after the bar */
			cli_error("%s", err.message);
			status = EXIT_FAILURE_CODE;
		} else {
			if (dry_run)
				show_dry_run(&options, &result);
			else
				printf("published %s%s%s to %s%s\n", name, target.version ? " " : "",
				       target.version ? target.version : "", result.library_url, signature ? "" : " (unsigned)");
			publish_result_free(&result);
		}
	}
	free(signature);
	packed_program_free(&packed);
	pack_target_free(&target);
	return status;
}
