/* {{name}}: a TinyKVM program in C++. tkvm (and the Varnish TinyKVM VMOD
 * in production) runs it in a KVM sandbox: main() sets up and parks in
 * wait_for_requests(); every request then runs on_get or on_post in a
 * fresh copy of that state, which is thrown away afterwards.
 *
 *   tkvm build && tkvm run GET /hello
 *   tkvm run POST /upload -d 'some data'
 *
 * kvm_api.h comes with tkvm (sdk/kvm_api.h); tkvm build passes -I for it. */
#include "kvm_api.h"
#include <cstdio>
#include <string>

/* The program's logic, kept apart from the sandbox so it runs natively too. */
static std::string greet(const std::string &url, const std::string &arg)
{
	return "Hello from {{name}}! You asked for " + url + (arg.empty() ? "" : "?" + arg) + "\n";
}

/* GET: url is the path, arg the query string (or the X-Arg header). */
static void on_get(const char *url, const char *arg)
{
	const std::string text = greet(url, arg);
	backend_response_str(200, "text/plain", text.c_str());
}

/* POST: the whole body at once. */
static void on_post(const char *url, const char *, const char *content_type, const uint8_t *, size_t length)
{
	const std::string text = "Hello from {{name}}! Received " + std::to_string(length) + " bytes of " +
				 content_type + " at " + url + "\n";
	backend_response_str(200, "text/plain", text.c_str());
}

int main(int argc, char **argv)
{
	if (IS_LINUX_MAIN()) {
		/* Started from a shell, not by tkvm: run the logic natively, where
		 * debuggers and sanitizers work. ./build/{{name}} /some/path */
		std::fputs(greet(argc > 1 ? argv[1] : "/", "").c_str(), stdout);
		return 0;
	}
	set_backend_get(on_get);
	set_backend_post(on_post);
	wait_for_requests();
}
