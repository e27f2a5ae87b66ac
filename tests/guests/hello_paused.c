/* hello_paused: the paused model, one wait_for_requests_paused() return per request.
 * Any method -> 200 text/plain "paused <METHOD> <url> arg=<arg> len=<content_len>\n".
 * Answers with sys_backend_response(), which returns, so a host that resumes the VM gets the next loop. */
#include "sdk/kvm_api.h"
#include <stdio.h>

static char body[80000];

int main(void)
{
	for (;;) {
		struct kvm_request req;
		wait_for_requests_paused(&req);
		const int len = snprintf(body, sizeof(body), "paused %s %s arg=%s len=%zu\n",
			req.method, req.url, req.arg, req.content_len);
		const size_t body_len = len < 0 ? 0 : (size_t)len < sizeof(body) ? (size_t)len : sizeof(body) - 1;
		sys_backend_response(200, "text/plain", sizeof("text/plain") - 1, body, body_len, NULL);
	}
}
