/* Templates and SDK found relative to the binary (see install_paths.h). */
#include "cli/install_paths.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory of the running binary, or "" when /proc is not there. */
static void binary_directory(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	out[0] = 0;
	if (n <= 0)
		return;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = 0;
	snprintf(out, size, "%s", self);
}

static void note(char *searched, size_t size, const char *place)
{
	size_t used = strlen(searched);
	if (used + 2 < size)
		snprintf(searched + used, size - used, "%s%s", used ? ", " : "", place);
}

/* The first candidate directory that holds marker, as a real path. */
static char *find(const char *variable, const char *const *relatives, size_t count, const char *marker,
		  char *searched, size_t size)
{
	char candidate[PATH_MAX * 2], probe[PATH_MAX * 2 + 64], real[PATH_MAX];
	struct stat st;
	searched[0] = 0;
	const char *forced = getenv(variable);
	if (forced && *forced) {
		snprintf(probe, sizeof probe, "%s/%s", forced, marker);
		if (stat(probe, &st) == 0 && realpath(forced, real))
			return strdup(real);
		snprintf(candidate, sizeof candidate, "%s=%s", variable, forced);
		note(searched, size, candidate);
		return NULL; /* an explicit choice that is wrong is reported, not ignored */
	}
	char bin[PATH_MAX];
	binary_directory(bin, sizeof bin);
	for (size_t i = 0; *bin && i < count; i++) {
		snprintf(candidate, sizeof candidate, "%s/%s", bin, relatives[i]);
		snprintf(probe, sizeof probe, "%s/%s", candidate, marker);
		if (stat(probe, &st) == 0 && realpath(candidate, real))
			return strdup(real);
		note(searched, size, candidate);
	}
	return NULL;
}

char *install_templates_directory(char *searched, size_t size)
{
	static const char *const places[] = {"../templates", "../../templates", "../share/tkvm/templates"};
	return find("TKVM_TEMPLATES", places, sizeof places / sizeof places[0], "c/tkvm.json", searched, size);
}

char *install_sdk_directory(char *searched, size_t size)
{
	static const char *const places[] = {"../sdk", "../../sdk", "../include/tkvm"};
	return find("TKVM_SDK", places, sizeof places / sizeof places[0], "kvm_api.h", searched, size);
}
