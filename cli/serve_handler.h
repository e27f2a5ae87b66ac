/* The two handler calls of http_server.h for `tkvm serve`, with the
 * served programs as context. Routing: one program answers everything; in
 * library mode the Host header's first label names the program (url
 * unchanged), else the first path segment (url without it). Paths under
 * /_tkvm/ are the server's own. */
#ifndef TKVM_CLI_SERVE_HANDLER_H
#define TKVM_CLI_SERVE_HANDLER_H
#include "cli/http_server.h"
#include "cli/served_programs.h"

#define SERVE_STATS_PATH "/_tkvm/stats"

/* Headers only: unknown program (404) and live-update refusals (405, 403)
 * are answered before the body is read. */
void serve_on_headers(void *served_programs, const struct http_request *request, struct http_reply *reply);
/* The whole request: statistics, a live update, or the program's answer. */
void serve_on_request(void *served_programs, const struct http_request *request, struct http_reply *reply);
#endif
