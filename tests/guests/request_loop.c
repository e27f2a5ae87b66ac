/* request_loop: GET spins forever in the handler, so the request hits max_request_time
 * (then 500, empty body); /ok -> 200 text/plain "fine\n" shows the VM recovered. */
#include "sdk/kvm_api.h"
#include <string.h>

static volatile unsigned long spins;

static void on_get(const char *url, const char *arg)
{
	(void)arg;
	if (strcmp(url, "/ok") == 0)
		backend_response_str(200, "text/plain", "fine\n");
	for (;;)
		spins++;
}

int main(void)
{
	set_backend_get(on_get);
	wait_for_requests();
}
