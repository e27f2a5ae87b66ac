/* Per-request isolation and the request-VM pool, with real programs in
 * real KVM and both C libraries: nothing a request writes reaches the
 * next one; state persists when the program is not ephemeral; crashes,
 * timeouts and a full queue affect only their own request. */
#include "tests/lib/guest_run.h"
#include "tests/lib/tap.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct tkvm_settings settings;

static void settings_reset(void)
{
	tkvm_settings_free(&settings);
	tkvm_settings_init(&settings);
}

static int get(struct tkvm_program *p, const char *url, const char *arg, struct tkvm_response *r)
{
	return guest_request(p, "GET", url, arg, "", NULL, 0, NULL, r);
}

static void isolation_10000_requests(void)
{
	settings_reset();
	settings.concurrency = 1;
	struct tkvm_program *p = guest_boot("isolation", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	unsigned seed = 12345, leaks = 0, failures = 0;
	for (int i = 0; i < 10000; i++) {
		seed = seed * 1103515245u + 12345u;
		size_t size = 1 + (seed >> 8) % (2u << 20); /* 1 B .. 2 MiB */
		char arg[64];
		snprintf(arg, sizeof arg, "SECRET-%d %zu", i, size);
		struct tkvm_response r;
		if (get(p, "/", arg, &r) != 0 || r.status != 200)
			failures++;
		else if (strcmp(guest_body(&r), "clean\n") != 0) {
			if (leaks++ < 3)
				printf("# request %d: %s", i, guest_body(&r));
		}
		tkvm_response_free(&r);
	}
	CHECK_INT(failures, 0);
	CHECK_INT(leaks, 0);
	struct tkvm_counters c;
	tkvm_program_counters(p, &c);
	CHECK_INT(c.invocations, 10000);
	CHECK_INT(c.resets, 10000);
	CHECK_INT(c.request_vms, 1);
	tkvm_program_release(p);
	settings_reset();
}

static void ephemeral_false_keeps_state(void)
{
	settings_reset();
	settings.concurrency = 1;
	settings.ephemeral = false;
	struct tkvm_program *p = guest_boot("isolation", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	for (int i = 1; i <= 3; i++) {
		struct tkvm_response r;
		CHECK_INT(get(p, "/count", "", &r), 0);
		char expected[32];
		snprintf(expected, sizeof expected, "count=%d\n", i);
		CHECK_STR(guest_body(&r), expected);
		tkvm_response_free(&r);
	}
	/* A second request sees the first one's secret: state is kept. */
	struct tkvm_response r;
	get(p, "/", "SECRET-a 100", &r);
	tkvm_response_free(&r);
	get(p, "/", "SECRET-b 100", &r);
	CHECK_CONTAINS(guest_body(&r), "LEAK global: SECRET-a");
	tkvm_response_free(&r);
	tkvm_program_release(p);
	settings_reset();
}

static void ephemeral_counts_from_the_template(void)
{
	settings_reset();
	settings.concurrency = 1;
	settings.warmup.enabled = true;
	settings.warmup.num_requests = 3;
	settings.warmup.url = strdup("/count");
	settings.warmup.method = strdup("GET");
	struct tkvm_program *p = guest_boot("isolation", &settings);
	CHECK(p != NULL);
	if (!p) {
		printf("# %s\n", guest_error.message);
		return;
	}
	/* Warm-up requests ran before the template was frozen: every request
	 * starts from their state, and nothing after them sticks. */
	for (int i = 0; i < 3; i++) {
		struct tkvm_response r;
		CHECK_INT(get(p, "/count", "", &r), 0);
		CHECK_STR(guest_body(&r), "count=4\n");
		tkvm_response_free(&r);
	}
	tkvm_program_release(p);
	settings_reset();
}

static void limit_workmem_gives_memory_back(void)
{
	settings_reset();
	settings.concurrency = 1;
	settings.limit_workmem_after_req = 1;
	struct tkvm_program *p = guest_boot("isolation", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	for (int i = 0; i < 20; i++) {
		char arg[64];
		snprintf(arg, sizeof arg, "SECRET-w%d %d", i, 4 << 20);
		struct tkvm_response r;
		CHECK_INT(get(p, "/", arg, &r), 0);
		CHECK_STR(guest_body(&r), "clean\n");
		CHECK(r.pages_reset > 256);
		tkvm_response_free(&r);
	}
	tkvm_program_release(p);
	settings_reset();
}

static void full_reset_after_failures(void)
{
	settings_reset();
	settings.concurrency = 1;
	settings.max_request_time = 0.3;
	struct tkvm_program *p = guest_boot("request_loop", &settings);
	CHECK(p != NULL);
	if (p) {
		struct tkvm_response r;
		CHECK_INT(get(p, "/", "", &r), 0);
		CHECK_INT(r.failure, TKVM_FAILURE_TIMEOUT);
		tkvm_response_free(&r);
		CHECK_INT(get(p, "/ok", "", &r), 0);
		CHECK_INT(r.status, 200);
		tkvm_response_free(&r);
		struct tkvm_counters c;
		tkvm_program_counters(p, &c);
		CHECK_INT(c.timeouts, 1);
		CHECK_INT(c.full_resets, 1);
		tkvm_program_release(p);
	}
	settings_reset();
}

/* Many threads, few VMs: every answer must be the one asked for. */
struct load {
	struct tkvm_program *program;
	int thread, requests, mismatches, errors;
	const char *mode; /* "hello", "crash" or "timeout" */
};

static void *load_thread(void *argument)
{
	struct load *l = argument;
	for (int i = 0; i < l->requests; i++) {
		char url[64];
		struct tkvm_response r;
		if (!strcmp(l->mode, "hello")) {
			snprintf(url, sizeof url, "/t%d-%d", l->thread, i);
			if (get(l->program, url, "", &r) != 0) {
				l->errors++;
				continue;
			}
			char expected[96];
			snprintf(expected, sizeof expected, "Hello from tkvm: %s\n", url);
			if (r.status != 200 || strcmp(guest_body(&r), expected) != 0)
				l->mismatches++;
		} else {
			bool bad = (i + l->thread) % 3 == 0;
			const char *target = bad ? (!strcmp(l->mode, "crash") ? "/null" : "/spin") : "/ok";
			if (get(l->program, target, "", &r) != 0) {
				l->errors++;
				continue;
			}
			if (bad ? r.status != 500 : (r.status != 200 || strcmp(guest_body(&r), "fine\n") != 0))
				l->mismatches++;
		}
		tkvm_response_free(&r);
	}
	return NULL;
}

static void run_load(struct tkvm_program *p, const char *mode, int threads, int per_thread, int *mismatches, int *errors)
{
	pthread_t ids[16];
	struct load loads[16];
	for (int t = 0; t < threads; t++) {
		loads[t] = (struct load){p, t, per_thread, 0, 0, mode};
		pthread_create(&ids[t], NULL, load_thread, &loads[t]);
	}
	*mismatches = *errors = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(ids[t], NULL);
		*mismatches += loads[t].mismatches;
		*errors += loads[t].errors;
	}
}

static void concurrency_2_vms_16_threads(void)
{
	settings_reset();
	settings.concurrency = 2;
	struct tkvm_program *p = guest_boot("hello", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	int mismatches, errors;
	run_load(p, "hello", 16, 1250, &mismatches, &errors);
	CHECK_INT(mismatches, 0);
	CHECK_INT(errors, 0);
	struct tkvm_counters c;
	tkvm_program_counters(p, &c);
	CHECK_INT(c.invocations, 20000);
	CHECK_INT(c.status_2xx, 20000);
	CHECK_INT(c.request_vms, 2);
	tkvm_program_release(p);
	settings_reset();
}

static void crashes_among_good_requests(void)
{
	settings_reset();
	settings.concurrency = 2;
	struct tkvm_program *p = guest_boot("crash", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	int mismatches, errors;
	run_load(p, "crash", 8, 60, &mismatches, &errors);
	CHECK_INT(mismatches, 0);
	CHECK_INT(errors, 0);
	tkvm_program_release(p);
	settings_reset();
}

static void timeouts_under_load(void)
{
	settings_reset();
	settings.concurrency = 2;
	settings.max_request_time = 0.2;
	struct tkvm_program *p = guest_boot("request_loop", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	int mismatches, errors;
	run_load(p, "timeout", 4, 6, &mismatches, &errors);
	CHECK_INT(mismatches, 0);
	CHECK_INT(errors, 0);
	tkvm_program_release(p);
	settings_reset();
}

struct slow_request {
	struct tkvm_program *program;
	int status;
};

static void *slow_thread(void *argument)
{
	struct slow_request *s = argument;
	struct tkvm_response r;
	if (get(s->program, "/spin", "", &r) == 0)
		s->status = r.status;
	tkvm_response_free(&r);
	return NULL;
}

static void queue_timeout_is_busy(void)
{
	settings_reset();
	settings.concurrency = 1;
	settings.max_request_time = 1.0;
	struct tkvm_program *p = guest_boot("request_loop", &settings);
	CHECK(p != NULL);
	if (!p)
		return;
	tkvm_program_set_queue_timeout(p, 0.1);
	struct slow_request slow = {p, 0};
	pthread_t id;
	pthread_create(&id, NULL, slow_thread, &slow);
	struct timespec pause = {0, 200 * 1000000L};
	nanosleep(&pause, NULL); /* the slow request holds the only VM now */
	struct tkvm_response r;
	CHECK_INT(get(p, "/ok", "", &r), -EBUSY);
	CHECK_CONTAINS(guest_error.message, "no free request VM");
	pthread_join(id, NULL);
	CHECK_INT(slow.status, 500);
	CHECK_INT(get(p, "/ok", "", &r), 0); /* free again */
	CHECK_INT(r.status, 200);
	tkvm_response_free(&r);
	struct tkvm_counters c;
	tkvm_program_counters(p, &c);
	CHECK_INT(c.queue_timeouts, 1);
	tkvm_program_release(p);
	settings_reset();
}

int main(void)
{
	tkvm_settings_init(&settings);
	const char *libcs[] = {"glibc", "musl"};
	for (int i = 0; i < 2; i++) {
		guest_libc = libcs[i];
		TEST_LABELED(isolation_10000_requests, libcs[i]);
		TEST_LABELED(ephemeral_false_keeps_state, libcs[i]);
		TEST_LABELED(ephemeral_counts_from_the_template, libcs[i]);
		TEST_LABELED(limit_workmem_gives_memory_back, libcs[i]);
		TEST_LABELED(full_reset_after_failures, libcs[i]);
		TEST_LABELED(concurrency_2_vms_16_threads, libcs[i]);
		TEST_LABELED(crashes_among_good_requests, libcs[i]);
		TEST_LABELED(timeouts_under_load, libcs[i]);
	}
	guest_libc = "musl";
	TEST(queue_timeout_is_busy);
	tkvm_settings_free(&settings);
	return tap_exit_code();
}
