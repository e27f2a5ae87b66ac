/* Two strings joined into a new one: URLs with file names, paths with
 * suffixes (".minisig", "_storage"), as fetching and publishing build them. */
#ifndef TKVM_PACKAGER_TEXT_JOIN_H
#define TKVM_PACKAGER_TEXT_JOIN_H

/* a followed by b, malloc'd; NULL without memory. */
char *text_join(const char *a, const char *b);
#endif
