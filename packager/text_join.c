/* String joining for fetching and publishing (see text_join.h). */
#include "packager/text_join.h"
#include <stdlib.h>
#include <string.h>

char *text_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb + 1);
	}
	return s;
}
