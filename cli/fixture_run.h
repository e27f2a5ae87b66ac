/* One fixture's request through the real sandbox, and, when recording,
 * the answer written back into the fixture: the request as the VMOD
 * would deliver it (the URL's query string is the arg unless "arg" is
 * given; Content-Type from the headers), timed from the call to the
 * answer. */
#ifndef TKVM_CLI_FIXTURE_RUN_H
#define TKVM_CLI_FIXTURE_RUN_H
#include <stdbool.h>
#include "cli/fixture.h"
#include "cli/fixture_replay.h"
#include "runner/tkvm.h"

/* Runs the fixture's request (session must have begun it). Returns 0 with
 * *response filled, or a negative code with err set (-EBUSY, -EINVAL for
 * a request the runner refused). */
int fixture_run(struct tkvm_program *program, const struct fixture *fixture, struct tkvm_response *response,
		double *milliseconds, struct tkvm_error *err);

/* Makes the answer the fixture's expectation and the session's fetches
 * its recordings. fresh (a new fixture): every header of the answer is
 * expected and the body exactly; otherwise the fixture keeps its shape:
 * the headers it names get their new values, body_contains and
 * body_regex stay as written, body_sha256 gets the new hash. */
int fixture_record_answer(struct fixture *fixture, const struct tkvm_response *response, struct replay_session *session,
			  bool fresh);
#endif
