/* tkvm run figures next to the raw KVM floor, from one run on this machine:
 * VM creation and one entry + one exit (the floor), then program boot and
 * per-request latency of real hello programs (glibc and musl), and the
 * whole `tkvm run` command. Ratios and minimums are what to track: these
 * 2-core machines are noisy. Usage: bench_run GUESTS_DIR TKVM_BINARY [N] */
#include "runner/cpu_tables.h"
#include "runner/layout.h"
#include "runner/machine.h"
#include "runner/page_tables.h"
#include "runner/program.h"
#include "runner/tkvm.h"
#include <sys/stat.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct summary {
	double min, p50, p99;
};

static struct summary summarize(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, compare);
	return (struct summary){v[0], v[n / 2], v[(n * 99) / 100]};
}

static void row(const char *name, struct summary s, const char *unit_note, double floor_p50)
{
	printf("%-44s %10.1f %10.1f %10.1f", name, s.min, s.p50, s.p99);
	if (floor_p50 > 0)
		printf("   x%.2f", s.p50 / floor_p50);
	printf("  %s\n", unit_note);
}

/* The floor: a VM with our memory, tables and one vCPU; each sample is one
 * KVM_RUN from the host into a one-instruction guest exit. */
static void raw_floor(int n, struct summary *create, struct summary *entry_exit)
{
	double *create_us = calloc((size_t)n, sizeof(double)), *run_us = calloc((size_t)n * 10, sizeof(double));
	struct tkvm_settings s;
	tkvm_settings_init(&s);
	s.max_memory = 16;
	int runs = 0;
	for (int i = 0; i < n; i++) {
		struct machine m;
		struct tkvm_error err;
		double start = now_us();
		if (machine_create(&m, &s, NULL, NULL, &err) < 0) {
			fprintf(stderr, "machine_create: %s\n", err.message);
			exit(1);
		}
		uint64_t cr3;
		page_tables_build(&m.memory, NULL, 0, NULL, 0, &cr3, &err);
		cpu_tables_write(&m.memory, m.platform->xcr0);
		m.cr3 = cr3;
		if (vcpu_create(&m.vcpu, m.vm_fd, m.platform, cr3, &err) < 0) {
			fprintf(stderr, "vcpu_create: %s\n", err.message);
			exit(1);
		}
		create_us[i] = now_us() - start;
		for (int k = 0; k < 10; k++) {
			struct kvm_regs *regs = vcpu_regs(&m.vcpu);
			memset(regs, 0, sizeof *regs);
			regs->rip = LAYOUT_HANDLER_RETURN;
			regs->rsp = 0;
			regs->rflags = 2;
			vcpu_mark_regs_dirty(&m.vcpu);
			double t = now_us();
			int r = vcpu_run(&m.vcpu);
			double elapsed = now_us() - t;
			if (r < 0 || m.vcpu.run->exit_reason != KVM_EXIT_IO || m.vcpu.run->io.port != PORT_HANDLER_RETURN) {
				fprintf(stderr, "unexpected exit in the floor guest\n");
				exit(1);
			}
			if (k > 0) /* the first run also faults the page tables in */
				run_us[runs++] = elapsed;
		}
		machine_destroy(&m);
	}
	tkvm_settings_free(&s);
	*create = summarize(create_us, n);
	*entry_exit = summarize(run_us, runs);
	free(create_us);
	free(run_us);
}

static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s (run make test-programs)\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	*size = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *data = malloc(*size);
	if (fread(data, 1, *size, f) != *size)
		exit(1);
	fclose(f);
	return data;
}

static void bench_program(const char *guests, const char *libc, unsigned n, double floor_create, double floor_run)
{
	char path[1024], label[128];
	snprintf(path, sizeof path, "%s/%s/hello", guests, libc);
	size_t size;
	uint8_t *elf = read_file(path, &size);
	struct tkvm_settings s;
	tkvm_settings_init(&s);
	s.name = strdup("hello");
	double *boot = calloc((size_t)n, sizeof(double));
	for (unsigned i = 0; i < n; i++) {
		struct tkvm_program *p;
		struct tkvm_error err;
		double t = now_us();
		if (tkvm_program_boot(&s, elf, size, NULL, &p, &err) < 0) {
			fprintf(stderr, "boot: %s\n", err.message);
			exit(1);
		}
		boot[i] = now_us() - t;
		tkvm_program_destroy(p);
	}
	snprintf(label, sizeof label, "boot hello (%s), create to parked", libc);
	row(label, summarize(boot, n), "vs VM creation", floor_create);

	struct tkvm_program *p;
	struct tkvm_error err;
	if (tkvm_program_boot(&s, elf, size, NULL, &p, &err) < 0)
		exit(1);
	unsigned requests = n * 20;
	double *latency = calloc((size_t)requests, sizeof(double));
	struct tkvm_request_input in = {.method = "GET", .url = "/hello", .arg = "", .content_type = ""};
	uint64_t exits = 0;
	for (unsigned i = 0; i < requests; i++) {
		struct tkvm_response r;
		double t = now_us();
		if (tkvm_request_run(p, &in, &r, &err) < 0 || r.status != 200) {
			fprintf(stderr, "request failed\n");
			exit(1);
		}
		latency[i] = now_us() - t;
		exits += tkvm_program_stats(p)->request_exits;
		tkvm_response_free(&r);
	}
	snprintf(label, sizeof label, "request GET /hello (%s)", libc);
	char note[64];
	snprintf(note, sizeof note, "vs 1 entry+exit; %.2f exits/request", (double)exits / requests);
	row(label, summarize(latency, requests), note, floor_run);
	tkvm_program_destroy(p);
	tkvm_settings_free(&s);
	free(boot);
	free(latency);
	free(elf);
}

static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long value = -1;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			value = atol(line + n + 1);
	if (f)
		fclose(f);
	return value;
}

/* Reset cost against the number of pages a request wrote, and what one
 * request VM costs in host memory. */
static void bench_reset(const char *guests, unsigned n, double floor_run)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/musl/dirty_pages", guests);
	size_t size;
	uint8_t *elf = read_file(path, &size);
	struct tkvm_settings s;
	tkvm_settings_init(&s);
	s.name = strdup("dirty_pages");
	s.concurrency = 1;
	s.max_request_memory = 128;
	struct tkvm_program *p;
	struct tkvm_error err;
	long rss_before = status_kib("VmRSS"), anon_before = status_kib("RssAnon");
	if (tkvm_program_boot(&s, elf, size, NULL, &p, &err) < 0) {
		fprintf(stderr, "boot: %s\n", err.message);
		exit(1);
	}
	long rss_template = status_kib("VmRSS");
	struct tkvm_request_input in = {.method = "GET", .url = "/", .arg = "0", .content_type = ""};
	struct tkvm_response r;
	tkvm_request_run(p, &in, &r, &err);
	tkvm_response_free(&r);
	long rss_vm = status_kib("VmRSS"), anon_vm = status_kib("RssAnon");
	struct stat st;
	fstat(p->template.memory.memfd, &st);
	printf("memory: template %lld KiB (sealed memfd, shared by all VMs); one request VM adds %ld KiB RSS,\n"
	       "        of which %ld KiB private copies (after one request writing nothing)\n",
	       (long long)st.st_blocks / 2, rss_vm - rss_template, anon_vm - anon_before);
	(void)rss_before;
	static const int counts[] = {1, 16, 256, 4096};
	for (unsigned k = 0; k < 4; k++) {
		char arg[16];
		snprintf(arg, sizeof arg, "%d", counts[k]);
		in.arg = arg;
		unsigned runs = counts[k] >= 4096 ? n / 4 + 5 : n;
		double *reset = calloc(runs, sizeof(double)), *total = calloc(runs, sizeof(double));
		uint64_t pages = 0;
		for (unsigned i = 0; i < runs; i++) {
			double t = now_us();
			if (tkvm_request_run(p, &in, &r, &err) < 0 || r.status != 200)
				exit(1);
			total[i] = now_us() - t;
			reset[i] = r.reset_seconds * 1e6;
			pages = r.pages_reset;
			tkvm_response_free(&r);
		}
		char label[96], note[96];
		snprintf(label, sizeof label, "reset after writing %d pages", counts[k]);
		snprintf(note, sizeof note, "%llu pages restored; per page %.2f us (p50)", (unsigned long long)pages,
			 summarize(reset, (int)runs).p50 / (double)(pages ? pages : 1));
		row(label, summarize(reset, (int)runs), note, 0);
		snprintf(label, sizeof label, "  whole request, %d pages", counts[k]);
		row(label, summarize(total, (int)runs), "vs 1 entry+exit", floor_run);
		free(reset);
		free(total);
	}
	tkvm_program_release(p);
	tkvm_settings_free(&s);
	free(elf);
}

static void bench_command(const char *tkvm, const char *guests, int n)
{
	char program[1024];
	snprintf(program, sizeof program, "%s/musl/hello", guests);
	char *argv[] = {(char *)tkvm, "run", "-o", "/dev/null", program, "GET", "/", NULL};
	double *t = calloc((size_t)n, sizeof(double));
	for (int i = 0; i < n; i++) {
		pid_t pid;
		double start = now_us();
		if (posix_spawn(&pid, tkvm, NULL, NULL, argv, environ) != 0)
			exit(1);
		int status;
		waitpid(pid, &status, 0);
		t[i] = now_us() - start;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "tkvm run failed\n");
			exit(1);
		}
	}
	row("whole `tkvm run hello GET /` (musl)", summarize(t, n), "process start to exit", 0);
	free(t);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench_run GUESTS_DIR TKVM_BINARY [N]\n");
		return 2;
	}
	int n = argc > 3 ? atoi(argv[3]) : 100;
	if (n < 5 || n > 100000) {
		fprintf(stderr, "N must be between 5 and 100000\n");
		return 2;
	}
	const struct kvm_platform *platform;
	struct tkvm_error err;
	if (kvm_platform_get(&platform, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	printf("tkvm run benchmark on %s (%s), n=%d; times in microseconds\n\n", kvm_platform_kind_name(platform->kind),
	       platform->cpu_model[0] ? platform->cpu_model : "cpu", n);
	printf("%-44s %10s %10s %10s   %s\n", "what", "min", "p50", "p99", "ratio (p50) to its floor");
	struct summary create, entry_exit;
	raw_floor(n, &create, &entry_exit);
	row("floor: VM + memory + tables + vCPU", create, "", 0);
	row("floor: one entry + one exit (sync regs)", entry_exit, "", 0);
	bench_program(argv[1], "glibc", n, create.p50, entry_exit.p50);
	bench_program(argv[1], "musl", n, create.p50, entry_exit.p50);
	bench_reset(argv[1], (unsigned)n, entry_exit.p50);
	bench_command(argv[2], argv[1], n / 5 > 5 ? n / 5 : 5);
	return 0;
}
