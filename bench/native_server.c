/* Baselines for `tkvm serve` throughput: the hello handler's logic run
 * natively behind the same HTTP stack (libmicrohttpd, a thread per
 * connection), either in a fork()ed child per request (isolation by
 * process, the classic way to get a pristine state per request) or
 * directly in the server (no isolation at all).
 * Usage: native_server PORT fork|direct */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int fork_per_request;

/* The same logic as tests/guests/hello.c's GET handler. */
static int hello(const char *url, char *out, size_t size)
{
	return snprintf(out, size, "Hello from tkvm: %s\n", url);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
	(void)cls, (void)method, (void)version, (void)upload_data;
	if (!*state) {
		*state = (void *)1;
		return MHD_YES;
	}
	*upload_data_size = 0;
	char body[512];
	int length;
	if (fork_per_request) {
		int pipe_fds[2];
		if (pipe(pipe_fds) < 0)
			return MHD_NO;
		pid_t child = fork();
		if (child == 0) {
			length = hello(url, body, sizeof body);
			if (write(pipe_fds[1], body, (size_t)length) < 0)
				_exit(1);
			_exit(0);
		}
		close(pipe_fds[1]);
		length = (int)read(pipe_fds[0], body, sizeof body);
		close(pipe_fds[0]);
		waitpid(child, NULL, 0);
		if (length < 0)
			return MHD_NO;
	} else {
		length = hello(url, body, sizeof body);
	}
	struct MHD_Response *response = MHD_create_response_from_buffer((size_t)length, body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(response, "Content-Type", "text/plain");
	enum MHD_Result r = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: native_server PORT fork|direct\n");
		return 2;
	}
	fork_per_request = strcmp(argv[2], "fork") == 0;
	struct MHD_Daemon *daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
						     (uint16_t)atoi(argv[1]), NULL, NULL, answer, NULL, MHD_OPTION_END);
	if (!daemon)
		return 1;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int signo;
	sigwait(&set, &signo);
	MHD_stop_daemon(daemon);
	return 0;
}
