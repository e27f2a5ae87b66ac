// cpp_hello: C++ runtime in the sandbox (static constructors, iostream, containers, exceptions).
// Boot prints "cpp_hello: ready\n" via std::cout. GET -> 200 text/plain
// "caught: boom <url>\nctor=1\nvector=6\nmap=a:1,b:2\nunique=42\n".
#include "sdk/kvm_api.h"
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

int constructed = 0;

struct RunsBeforeMain {
	RunsBeforeMain() { constructed = 1; }
};
RunsBeforeMain runs_before_main;

std::string response_body;

[[noreturn]] void throw_boom(const std::string &url)
{
	throw std::runtime_error("boom " + url);
}

void on_get(const char *url, const char *)
{
	std::ostringstream body;
	try {
		throw_boom(url);
	} catch (const std::runtime_error &e) {
		body << "caught: " << e.what() << "\n";
	}
	body << "ctor=" << constructed << "\n";

	std::vector<int> numbers{1, 2, 3};
	int sum = 0;
	for (int n : numbers)
		sum += n;
	body << "vector=" << sum << "\n";

	std::map<std::string, int> letters{{"b", 2}, {"a", 1}};
	body << "map=";
	const char *separator = "";
	for (const auto &entry : letters) {
		body << separator << entry.first << ":" << entry.second;
		separator = ",";
	}
	body << "\n";

	auto owned = std::make_unique<int>(42);
	body << "unique=" << *owned << "\n";

	response_body = body.str();
	backend_response(200, "text/plain", 10, response_body.data(), response_body.size());
}

} // namespace

int main()
{
	set_backend_get(on_get);
	std::cout << "cpp_hello: ready" << std::endl;  // endl flushes: the program never exits
	wait_for_requests();
}
