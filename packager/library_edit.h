/* Editing a library JSON as text, so that publishing one program changes
 * only that program's member: every other member, group, comment and
 * blank line stays byte for byte as the people who wrote it left it. */
#ifndef TKVM_PACKAGER_LIBRARY_EDIT_H
#define TKVM_PACKAGER_LIBRARY_EDIT_H
#include <stddef.h>
#include "runner/error.h"

/* Returns in *out (malloc'd, NUL-terminated; its length in *out_length
 * when given) the text with top-level member `name` set to value_json (the
 * text of a JSON value, usually a multi-line object, indented by the
 * caller for the top level; blanks around it are dropped, a comment after
 * it is refused as it would swallow the comma or brace that follows). An
 * existing member keeps its place: only its value's bytes are replaced
 * (the first one when the name appears twice: the one library_parse
 * uses). A new member is appended after the last one: a comma right after
 * that member's value (before any comment on its line), then a new line
 * with the indentation of that member's key. Line ends follow the text's
 * (CRLF stays CRLF). An empty object gets "{\n  "name": value\n}"; empty
 * or blank text becomes that object. Text that is not one JSON object
 * (comments allowed) is refused with "SOURCE:LINE:COLUMN: ..." as
 * json_text_parse says it, or "SOURCE: the library is not a JSON object
 * (it is an array)". The result is read back before it is returned, so a
 * library that would not parse, or not hold the new value, never is.
 * Returns 0 or a negative errno-style code (*out NULL) with err filled. */
int library_edit_set_member(const char *text, size_t length, const char *source, const char *name,
			    const char *value_json, char **out, size_t *out_length, struct tkvm_error *err);
#endif
