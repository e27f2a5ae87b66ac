/* tkvm doctor: can this machine run programs? /dev/kvm access, the KVM
 * platform (PVM/VMX/SVM), the capabilities the core needs, CPU features,
 * a real VM created and timed, and the tools `tkvm build` will call. */
#include "cli/commands.h"
#include "cli/terminal.h"
#include "runner/kvm_platform.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static void row(const char *label, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void row(const char *label, bool ok, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	printf("  %s%-4s%s %-14s %s\n", term_style(stdout, ok ? STYLE_GREEN : STYLE_RED), ok ? "ok" : "FAIL",
	       term_style(stdout, STYLE_RESET), label, text);
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Finds a program in PATH and reads the first line of `PROGRAM --version`. */
static bool tool_version(const char *tool, char *out, size_t size)
{
	char command[256];
	snprintf(command, sizeof command, "command -v %s >/dev/null 2>&1 && %s --version 2>/dev/null | head -n 1", tool, tool);
	FILE *p = popen(command, "r");
	if (!p)
		return false;
	bool found = fgets(out, (int)size, p) != NULL;
	pclose(p);
	if (found)
		out[strcspn(out, "\n")] = 0;
	return found && *out;
}

static const struct {
	int word, bit;
	const char *name;
} features[] = {
	{0, 0, "sse3"}, {0, 9, "ssse3"}, {0, 19, "sse4.1"}, {0, 20, "sse4.2"}, {0, 25, "aes"}, {0, 26, "xsave"},
	{0, 28, "avx"}, {0, 30, "rdrand"}, {2, 0, "fsgsbase"}, {2, 5, "avx2"}, {2, 16, "avx512f"}, {2, 18, "rdseed"},
	{2, 29, "sha"}, {1, 25, "sse"}, {1, 26, "sse2"},
};

int command_doctor(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: tkvm doctor [--json]\n\n"
			       "Checks that this machine can run TinyKVM programs: /dev/kvm access, the\n"
			       "virtualisation platform (PVM, VMX or SVM), the KVM capabilities tkvm needs,\n"
			       "CPU features, VM creation, and the compilers tkvm build uses.\n"
			       "Exit status 0 when programs can run here, 1 otherwise.\n");
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--json"))
			json = true;
		else {
			if (argv[i][0] == '-')
				cli_error("unknown option '%s' for doctor", argv[i]);
			else
				cli_error("doctor takes no arguments (got '%s')", argv[i]);
			return EXIT_USAGE;
		}
	}
	const struct kvm_platform *p = NULL;
	struct tkvm_error err = {0};
	int r = kvm_platform_get(&p, &err);
	double create_ms = -1;
	if (r == 0) {
		double start = now_ms();
		int vm = ioctl(p->kvm_fd, KVM_CREATE_VM, 0);
		if (vm >= 0) {
			int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
			create_ms = now_ms() - start;
			if (vcpu >= 0)
				close(vcpu);
			else
				create_ms = -1;
			close(vm);
		}
	}
	char feature_list[256] = "";
	if (r == 0)
		for (size_t i = 0; i < sizeof features / sizeof features[0]; i++)
			if ((p->cpu_features[features[i].word] >> features[i].bit) & 1)
				strcat(strcat(feature_list, *feature_list ? " " : ""), features[i].name);
	static const char *const tools[] = {"gcc", "musl-gcc", "g++", "gdb"};
	char versions[4][160];
	bool have[4];
	for (int i = 0; i < 4; i++)
		have[i] = tool_version(tools[i], versions[i], sizeof versions[i]);

	if (json) {
		cJSON *root = cJSON_CreateObject();
		cJSON_AddBoolToObject(root, "kvm", r == 0);
		if (r < 0)
			cJSON_AddStringToObject(root, "error", err.message);
		else {
			cJSON_AddStringToObject(root, "platform", kvm_platform_kind_name(p->kind));
			cJSON_AddNumberToObject(root, "api_version", p->api_version);
			cJSON_AddStringToObject(root, "cpu", p->cpu_model);
			cJSON_AddStringToObject(root, "features", feature_list);
			cJSON_AddNumberToObject(root, "xcr0", (double)p->xcr0);
			cJSON_AddNumberToObject(root, "vm_create_ms", create_ms);
		}
		cJSON *t = cJSON_AddObjectToObject(root, "tools");
		for (int i = 0; i < 4; i++)
			cJSON_AddItemToObject(t, tools[i], have[i] ? cJSON_CreateString(versions[i]) : cJSON_CreateNull());
		char *text = cJSON_Print(root);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(root);
		return r == 0 && create_ms >= 0 ? EXIT_OK : EXIT_FAILURE_CODE;
	}

	printf("tkvm %s doctor\n\n", TKVM_VERSION);
	if (r < 0) {
		row("/dev/kvm", false, "%s", err.message);
	} else {
		row("/dev/kvm", true, "read-write, KVM API %d", p->api_version);
		row("platform", p->kind != KVM_PLATFORM_UNKNOWN, "%s%s", kvm_platform_kind_name(p->kind),
		    p->kind == KVM_PLATFORM_PVM ? " (exits cost ~46 us here; production VMX/SVM ~1 us)" : "");
		row("capabilities", true, "sync regs, immediate exit%s", p->has_xcrs ? ", XCRs" : "");
		row("cpu", true, "%s", p->cpu_model[0] ? p->cpu_model : "(no brand string)");
		row("features", true, "%s%s", feature_list,
		    p->kind == KVM_PLATFORM_PVM ? " (PVM: guests run CPUID natively and see the host's)" : "");
		row("xcr0", true, "0x%llx (%s)%s", (unsigned long long)p->xcr0,
		    (p->xcr0 & 0xE0) ? "x87, SSE, AVX, AVX-512" : (p->xcr0 & 4) ? "x87, SSE, AVX" : "x87, SSE",
		    p->kind == KVM_PLATFORM_PVM ? " set through KVM; PVM guests run with the host's" : "");
		if (create_ms >= 0)
			row("vm", true, "created a VM and a vCPU in %.2f ms", create_ms);
		else
			row("vm", false, "KVM_CREATE_VM/KVM_CREATE_VCPU failed: %s", strerror(errno));
	}
	for (int i = 0; i < 4; i++)
		row(tools[i], have[i], "%s", have[i] ? versions[i] : "not found (apt-get install gcc g++ musl-tools gdb)");
	bool usable = r == 0 && create_ms >= 0;
	printf("\n%s\n", usable ? "This machine can run TinyKVM programs." : "This machine cannot run TinyKVM programs yet.");
	if (r < 0)
		cli_hint("check that /dev/kvm exists and that you may read and write it");
	return usable ? EXIT_OK : EXIT_FAILURE_CODE;
}
