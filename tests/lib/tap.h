/* Minimal TAP-style test harness for C tests: each check prints
 * "ok - name" or "not ok - name" with the failing expression, and
 * tests/run.sh counts the lines. No framework, no hidden magic. */
#ifndef TKVM_TESTS_TAP_H
#define TKVM_TESTS_TAP_H
#include <stdio.h>
#include <string.h>

extern int tap_failures;
extern int tap_current_failed;

/* Runs one test function; its checks fail it, the first failure is printed. */
#define TEST(fn)                                                           \
	do {                                                               \
		tap_current_failed = 0;                                    \
		fn();                                                      \
		printf("%s - %s\n", tap_current_failed ? "not ok" : "ok", #fn); \
		fflush(stdout);                                            \
		if (tap_current_failed) tap_failures++;                   \
	} while (0)

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			tap_current_failed = 1;                            \
		}                                                          \
	} while (0)

#define CHECK_INT(a, b)                                                    \
	do {                                                               \
		long long tap_a = (long long)(a), tap_b = (long long)(b);  \
		if (tap_a != tap_b) {                                      \
			printf("# %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, tap_a, #b, tap_b); \
			tap_current_failed = 1;                            \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *tap_a = (a), *tap_b = (b);                    \
		if (!tap_a || !tap_b || strcmp(tap_a, tap_b) != 0) {       \
			printf("# %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, tap_a ? tap_a : "(null)", tap_b ? tap_b : "(null)"); \
			tap_current_failed = 1;                            \
		}                                                          \
	} while (0)

/* Substring check, for error messages. */
#define CHECK_CONTAINS(haystack, needle)                                   \
	do {                                                               \
		const char *tap_h = (haystack), *tap_n = (needle);        \
		if (!tap_h || !strstr(tap_h, tap_n)) {                     \
			printf("# %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, tap_h ? tap_h : "(null)", tap_n); \
			tap_current_failed = 1;                            \
		}                                                          \
	} while (0)

#define SKIP(name, why) printf("skip - %s: %s\n", name, why)

static inline int tap_exit_code(void) { return tap_failures ? 1 : 0; }


/* Like TEST, with a label after the name ("hello_get [musl]"). */
#define TEST_LABELED(fn, label)                                            \
	do {                                                               \
		tap_current_failed = 0;                                    \
		fn();                                                      \
		printf("%s - %s [%s]\n", tap_current_failed ? "not ok" : "ok", #fn, label); \
		fflush(stdout);                                            \
		if (tap_current_failed) tap_failures++;                   \
	} while (0)
#endif
