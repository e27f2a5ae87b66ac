/* {{name}}: a TinyKVM program. tkvm (and the Varnish TinyKVM VMOD in
 * production) runs it in a KVM sandbox: main() sets up and parks in
 * wait_for_requests(); every request then runs on_get or on_post in a
 * fresh copy of that state, which is thrown away afterwards.
 *
 *   tkvm build && tkvm run GET /hello
 *   tkvm run POST /upload -d 'some data'
 *
 * kvm_api.h comes with tkvm (sdk/kvm_api.h); tkvm build passes -I for it. */
#include "kvm_api.h"
#include <stdio.h>

/* The program's logic, kept apart from the sandbox so it runs natively too. */
static void greet(char *text, size_t size, const char *url, const char *arg)
{
	snprintf(text, size, "Hello from {{name}}! You asked for %s%s%s\n", url, *arg ? "?" : "", arg);
}

/* GET: url is the path, arg the query string (or the X-Arg header). */
static void on_get(const char *url, const char *arg)
{
	char text[1024];
	greet(text, sizeof text, url, arg);
	backend_response_str(200, "text/plain", text);
}

/* POST: the whole body at once. */
static void on_post(const char *url, const char *arg, const char *content_type, const uint8_t *data, size_t length)
{
	(void)arg, (void)data;
	char text[1024];
	snprintf(text, sizeof text, "Hello from {{name}}! Received %zu bytes of %s at %s\n", length, content_type, url);
	backend_response_str(200, "text/plain", text);
}

int main(int argc, char **argv)
{
	if (IS_LINUX_MAIN()) {
		/* Started from a shell, not by tkvm: run the logic natively, where
		 * debuggers and sanitizers work. ./build/{{name}} /some/path */
		char text[1024];
		greet(text, sizeof text, argc > 1 ? argv[1] : "/", "");
		fputs(text, stdout);
		return 0;
	}
	set_backend_get(on_get);
	set_backend_post(on_post);
	wait_for_requests();
}
