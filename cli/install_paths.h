/* Where tkvm's own files are: the project templates and the SDK header,
 * found relative to the running binary so that the same tkvm works from
 * the build tree (build/tkvm, build/san/tkvm) and installed
 * (PREFIX/bin/tkvm with PREFIX/share/tkvm/templates and
 * PREFIX/include/tkvm/kvm_api.h). Environment variables override. */
#ifndef TKVM_CLI_INSTALL_PATHS_H
#define TKVM_CLI_INSTALL_PATHS_H
#include <stddef.h>

/* The directory holding one template directory per language: TKVM_TEMPLATES,
 * else <bindir>/../templates, <bindir>/../../templates,
 * <bindir>/../share/tkvm/templates. Returns a malloc'd absolute path, or
 * NULL with the places looked at in searched. */
char *install_templates_directory(char *searched, size_t size);

/* The directory holding kvm_api.h: TKVM_SDK, else <bindir>/../sdk,
 * <bindir>/../../sdk, <bindir>/../include/tkvm. Same convention. */
char *install_sdk_directory(char *searched, size_t size);
#endif
