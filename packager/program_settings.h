/* One program's settings object (library-JSON keys) read from JSON text
 * into struct tkvm_settings: types checked, ranges checked, $HOME and $PWD
 * expanded, unknown keys reported as warnings (never silently used).
 * Errors name the key and the line. */
#ifndef TKVM_PACKAGER_PROGRAM_SETTINGS_H
#define TKVM_PACKAGER_PROGRAM_SETTINGS_H
#include <stddef.h>
#include "runner/error.h"
#include "runner/settings.h"

struct cJSON;

/* Receives one warning line, e.g. "hello.json:4: unknown key \"max_memroy\" (ignored; did you mean \"max_memory\"?)". */
typedef void (*settings_warning_fn)(void *context, const char *message);

/* Parses text (JSON with // and block comments allowed) that holds one
 * program's settings object and applies its keys on top of *settings.
 * source names the text in messages (a file name). */
int program_settings_parse(const char *text, size_t length, const char *source, struct tkvm_settings *settings,
			   settings_warning_fn warn, void *warn_context, struct tkvm_error *err);

/* Applies the members of an already-parsed object (used by library JSON).
 * text/source, when given, let messages carry line numbers. */
int program_settings_apply(const struct cJSON *object, const char *text, const char *source,
			   struct tkvm_settings *settings, settings_warning_fn warn, void *warn_context,
			   struct tkvm_error *err);

/* Applies one key given as text, as a command-line flag does
 * ("max_request_time", "2"): same validation as in JSON. */
int program_settings_set(struct tkvm_settings *settings, const char *key, const char *value, struct tkvm_error *err);
#endif
