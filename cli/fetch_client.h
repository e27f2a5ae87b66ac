/* Outbound HTTP for programs (the runner's fetch hook), through libcurl:
 * connect timeout 5 s, total 8 s as in the VMOD, http and https only,
 * redirects followed here so each hop is checked against allowed_hosts.
 * A path-only URL is a self-request: to the running server when there is
 * one, else in-process to the same program (another of its request VMs). */
#ifndef TKVM_CLI_FETCH_CLIENT_H
#define TKVM_CLI_FETCH_CLIENT_H
#include "runner/tkvm.h"

struct fetch_client {
	const char *self_base_url;     /* "http://127.0.0.1:8080" under tkvm serve, else NULL */
	struct tkvm_program *program;  /* for in-process self-requests (tkvm run) */
};

/* Call once, before any thread starts. */
void fetch_client_global_init(void);

/* The runner's fetch hook; context is a struct fetch_client. */
int fetch_client_perform(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response);
#endif
