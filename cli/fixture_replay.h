/* What a program does during one fixture, as `tkvm test` and `tkvm
 * record` see it through the runner's hooks: its outbound fetches and its
 * output. Replaying, a fetch is answered from the fixture's recordings
 * (fixture_match.h decides which); a fetch without a recording fails, as
 * an unreachable host would (CURLE_COULDNT_CONNECT), and is kept with the
 * closest recording for the report. Recording, fetches go out live
 * (fetch_client_perform) and are kept, answers included, to be written
 * into the fixture. */
#ifndef TKVM_CLI_FIXTURE_REPLAY_H
#define TKVM_CLI_FIXTURE_REPLAY_H
#include <pthread.h>
#include <stdbool.h>
#include "cli/fetch_client.h"
#include "cli/fixture.h"
#include "cli/text_buffer.h"
#include "runner/tkvm.h"

enum replay_mode { REPLAY_RECORDINGS, REPLAY_RECORD_LIVE };

struct replay_miss {
	struct fixture_fetch fetch; /* the request nothing answered */
	long closest;               /* index into the fixture's fetches, -1 when it has none */
};

struct replay_session {
	enum replay_mode mode;
	struct fetch_client live;        /* recording: the transport (.program for self-requests) */
	pthread_mutex_t lock;
	const struct fixture *fixture;   /* whose recordings answer (replay) */
	bool *used;                      /* which of them answered already */
	struct fixture_fetch *made;      /* the fetches of this fixture, with the answers given */
	size_t made_count, made_capacity;
	struct replay_miss *misses;
	size_t miss_count, miss_capacity;
	struct text_buffer output;       /* what the program wrote and logged */
	bool echo_output;                /* also copy it to stderr as it comes */
};

void replay_session_init(struct replay_session *session, enum replay_mode mode);
void replay_session_free(struct replay_session *session);
/* The hooks to boot the program with (context = session). */
struct tkvm_hooks replay_session_hooks(struct replay_session *session);
/* Starts a fixture: forgets the previous one's fetches, misses and output. */
int replay_session_begin(struct replay_session *session, const struct fixture *fixture);

/* The runner's fetch hook (context: a struct replay_session). */
int replay_fetch(void *context, const struct tkvm_fetch_request *request, struct tkvm_fetch_response *response);

/* For the report: each fetch nothing answered, with the closest recording
 * and how they differ; lines start with indent. */
void replay_describe_misses(const struct replay_session *session, const char *indent, struct text_buffer *out);

/* Moves the fetches made during the fixture into fixture->fetches (what
 * was there is freed): recording. */
void replay_take_fetches(struct replay_session *session, struct fixture *fixture);
#endif
