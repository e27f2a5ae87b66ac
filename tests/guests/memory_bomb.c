/* memory_bomb: exhausts memory in a request. GET: malloc(1 MiB)+memset forever, no NULL check, so it ends
 * in a fault (at NULL, or on the host's memory limit); /mmap: mmap 1 MiB chunks until MAP_FAILED, then
 * 507 text/plain "mmap failed after <n> MiB\n"; /ok -> 200 text/plain "fine\n". */
#include "sdk/kvm_api.h"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK (1 << 20)

static void *volatile sink;  /* the chunks escape, so the compiler must keep every memset */
static char body[128];

static void on_get(const char *url, const char *arg)
{
	(void)arg;
	if (strcmp(url, "/ok") == 0)
		backend_response_str(200, "text/plain", "fine\n");
	if (strcmp(url, "/mmap") == 0) {
		unsigned long mib = 0;
		for (;;) {
			void *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				break;
			memset(p, 1, CHUNK);
			sink = p;
			mib++;
		}
		snprintf(body, sizeof(body), "mmap failed after %lu MiB\n", mib);
		backend_response_str(507, "text/plain", body);
	}
	for (;;) {
		void *p = malloc(CHUNK);
		memset(p, 1, CHUNK);
		sink = p;
	}
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
