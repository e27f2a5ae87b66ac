/* tkvm new: a project from a template (templates/<lang>/, found relative to
 * the binary): tkvm.json, the sources, a fixture that passes, .gitignore
 * and a README, with {{name}} replaced by the project's name. Never writes
 * into a directory that already holds something. */
#include "cli/commands.h"
#include "cli/install_paths.h"
#include "cli/terminal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LENGTH 64
#define TEMPLATE_FILE_MAX (1 << 20)
#define PLACEHOLDER "{{name}}"

enum { OPTION_LANG = 3100, OPTION_DIR };

static void new_usage(FILE *out)
{
	fprintf(out,
		"usage: tkvm new NAME [--lang c|cpp|rust] [--dir DIR]\n"
		"\n"
		"Creates a project in DIR (default ./NAME) from a template: tkvm.json (how\n"
		"to build, and the program's settings with the library-JSON keys), a program\n"
		"that answers GET and POST, a test fixture that passes, .gitignore, README.md.\n"
		"C and C++ programs include kvm_api.h (the SDK that comes with tkvm); Rust\n"
		"programs need cargo (rustup.rs) and use no crates.\n"
		"\n"
		"  NAME           the program's name: letters, digits, '_', '.', '-'\n"
		"                 (Rust: letters, digits, '_', '-', not starting with a digit)\n"
		"      --lang L   c (default), cpp or rust\n"
		"      --dir DIR  where to create it (must not exist, or be empty)\n"
		"\n"
		"then:\n"
		"  cd NAME && tkvm build && tkvm run GET / && tkvm test\n"
		"\n"
		"exit status: 0 when created, 1 when it could not be, 2 for usage errors.\n");
}

static bool valid_name(const char *name, bool rust, const char **why)
{
	size_t n = strlen(name);
	*why = NULL;
	if (n == 0 || n > NAME_MAX_LENGTH)
		*why = "must be 1 to 64 characters";
	else if (name[0] == '.' || name[0] == '-')
		*why = "must not start with '.' or '-'";
	else if (rust && name[0] >= '0' && name[0] <= '9')
		*why = "must not start with a digit (cargo refuses such package names)";
	for (const char *c = name; !*why && *c; c++) {
		bool letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
		if (!letter && !strchr(rust ? "_-" : "_.-", *c))
			*why = rust ? "may hold only letters, digits, '_' and '-' (a cargo package name)"
				    : "may hold only letters, digits, '_', '.' and '-'";
	}
	return *why == NULL;
}

static bool command_exists(const char *name)
{
	const char *path = getenv("PATH");
	char candidate[PATH_MAX];
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, n ? path : ".", name);
		struct stat st;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/* 1 when the directory exists and holds something, 0 when absent or
 * empty, -1 when it is something else (reported). */
static int occupied(const char *directory)
{
	struct stat st;
	if (stat(directory, &st) < 0)
		return errno == ENOENT ? 0 : (cli_error("%s: %s", directory, strerror(errno)), -1);
	if (!S_ISDIR(st.st_mode)) {
		cli_error("%s already exists and is not a directory", directory);
		return -1;
	}
	DIR *dir = opendir(directory);
	if (!dir) {
		cli_error("%s: %s", directory, strerror(errno));
		return -1;
	}
	struct dirent *entry;
	int found = 0;
	while (!found && (entry = readdir(dir)))
		found = strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..");
	closedir(dir);
	return found;
}

/* The copy: files in the order made, for the summary. */
struct copy {
	const char *name;
	char listing[1024];
};

static int write_substituted(struct copy *c, const char *from, const char *to, mode_t mode)
{
	FILE *in = fopen(from, "rb");
	if (!in) {
		cli_error("cannot read template file %s: %s", from, strerror(errno));
		return -1;
	}
	char *text = malloc(TEMPLATE_FILE_MAX + 1);
	size_t length = text ? fread(text, 1, TEMPLATE_FILE_MAX + 1, in) : 0;
	fclose(in);
	if (!text || length > TEMPLATE_FILE_MAX) {
		cli_error("template file %s: %s", from, text ? "too large" : "out of memory");
		free(text);
		return -1;
	}
	int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0111 ? 0755 : 0644);
	FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!out) {
		cli_error("cannot create %s: %s", to, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(text);
		return -1;
	}
	size_t placeholder = strlen(PLACEHOLDER);
	for (size_t i = 0; i < length;) {
		if (length - i >= placeholder && !memcmp(text + i, PLACEHOLDER, placeholder)) {
			fputs(c->name, out);
			i += placeholder;
		} else {
			fputc(text[i++], out);
		}
	}
	free(text);
	if (fclose(out) != 0) {
		cli_error("cannot write %s: %s", to, strerror(errno));
		return -1;
	}
	return 0;
}

/* Copies the template directory from into to (which exists), recursively. */
static int copy_tree(struct copy *c, const char *from, const char *to, const char *relative)
{
	/* Sorted, so the files are listed in a stable order. */
	struct dirent **entries;
	int count = scandir(from, &entries, NULL, alphasort);
	if (count < 0) {
		cli_error("cannot read template %s: %s", from, strerror(errno));
		return -1;
	}
	int r = 0;
	for (int i = 0; i < count; i++) {
		const char *name = entries[i]->d_name;
		if (r == 0 && strcmp(name, ".") && strcmp(name, "..")) {
			char source[PATH_MAX], target[PATH_MAX], shown[PATH_MAX];
			snprintf(source, sizeof source, "%s/%s", from, name);
			snprintf(target, sizeof target, "%s/%s", to, name);
			snprintf(shown, sizeof shown, "%s%s", relative, name);
			struct stat st;
			if (stat(source, &st) < 0) {
				cli_error("cannot read template file %s: %s", source, strerror(errno));
				r = -1;
			} else if (S_ISDIR(st.st_mode)) {
				char inner[PATH_MAX];
				snprintf(inner, sizeof inner, "%s/", shown);
				if (mkdir(target, 0755) < 0 && errno != EEXIST) {
					cli_error("cannot create %s: %s", target, strerror(errno));
					r = -1;
				} else {
					r = copy_tree(c, source, target, inner);
				}
			} else if (S_ISREG(st.st_mode)) {
				r = write_substituted(c, source, target, st.st_mode);
				size_t used = strlen(c->listing);
				if (r == 0 && used + strlen(shown) + 3 < sizeof c->listing)
					snprintf(c->listing + used, sizeof c->listing - used, "%s%s", used ? ", " : "", shown);
			}
		}
		free(entries[i]);
	}
	free(entries);
	return r;
}

static bool keep_top; /* the directory was there before: empty it, keep it */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type;
	return ftw->level == 0 && keep_top ? 0 : remove(path);
}

int command_new(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"help", no_argument, NULL, 'h'},
		{"lang", required_argument, NULL, OPTION_LANG},
		{"dir", required_argument, NULL, OPTION_DIR},
		{NULL, 0, NULL, 0},
	};
	const char *language = "c", *directory = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (c) {
		case 'h': new_usage(stdout); return EXIT_OK;
		case OPTION_LANG: language = optarg; break;
		case OPTION_DIR: directory = optarg; break;
		case '?':
			if (optopt == OPTION_LANG || optopt == OPTION_DIR)
				cli_error("option '%s' needs a value", argv[optind - 1]);
			else
				cli_error("unknown option '%s'", argv[optind - 1]);
			cli_hint("run 'tkvm new --help' for the options");
			return EXIT_USAGE;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		cli_error("tkvm new needs a NAME");
		cli_hint("tkvm new hello --lang c   (see 'tkvm new --help')");
		return EXIT_USAGE;
	}
	if (argc - optind > 1) {
		cli_error("expected one NAME, got %d arguments", argc - optind);
		cli_hint("tkvm new hello --lang c   (see 'tkvm new --help')");
		return EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (!strcmp(language, "c++") || !strcmp(language, "cxx"))
		language = "cpp";
	if (strcmp(language, "c") && strcmp(language, "cpp") && strcmp(language, "rust")) {
		cli_error("--lang %s: tkvm has templates for c, cpp and rust", language);
		return EXIT_USAGE;
	}
	bool rust = !strcmp(language, "rust");
	const char *why;
	if (!valid_name(name, rust, &why)) {
		cli_error("'%s' cannot be a program name: it %s", name, why);
		cli_hint("for example: tkvm new hello%s", rust ? " --lang rust" : "");
		return EXIT_USAGE;
	}
	if (rust && !command_exists("cargo")) {
		cli_error("the Rust template needs cargo, which is not installed (not found in PATH)");
		cli_hint("install Rust with rustup (https://rustup.rs) and open a new shell; or use --lang c or --lang cpp");
		return EXIT_FAILURE_CODE;
	}
	char searched[2048];
	char *templates = install_templates_directory(searched, sizeof searched);
	if (!templates) {
		cli_error("cannot find tkvm's project templates (looked in %s)", searched);
		cli_hint("set TKVM_TEMPLATES to the templates directory, or reinstall tkvm (make install)");
		return EXIT_FAILURE_CODE;
	}
	char template[PATH_MAX];
	snprintf(template, sizeof template, "%s/%s", templates, language);
	free(templates);
	if (!directory)
		directory = name;
	int taken = occupied(directory);
	if (taken < 0)
		return EXIT_FAILURE_CODE;
	if (taken) {
		cli_error("%s already exists and is not empty: tkvm new writes only into a new or empty directory",
			  directory);
		cli_hint("choose another name, or --dir DIR for another place");
		return EXIT_FAILURE_CODE;
	}
	bool created = mkdir(directory, 0755) == 0;
	if (!created && errno != EEXIST) {
		cli_error("cannot create %s: %s", directory, strerror(errno));
		return EXIT_FAILURE_CODE;
	}
	struct copy copy = {.name = name};
	if (copy_tree(&copy, template, directory, "") < 0) {
		/* Nothing half-made stays behind. */
		keep_top = !created;
		nftw(directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		return EXIT_FAILURE_CODE;
	}
	const char *kind = rust ? "Rust" : !strcmp(language, "cpp") ? "C++" : "C";
	printf("created %s/ (%s): %s\n\n", directory, kind, copy.listing);
	printf("next:\n"
	       "  cd %s\n"
	       "  tkvm build            # %sbuild/%s, a static x86-64 ELF\n"
	       "  tkvm run GET /        # one request in the KVM sandbox\n"
	       "  tkvm test             # the fixtures in tests/\n"
	       "  tkvm serve --watch    # http://127.0.0.1:8080/, rebuilt on every change\n",
	       directory, rust ? "cargo, then " : "", name);
	return EXIT_OK;
}
