/* Process-wide KVM state (see kvm_platform.h). */
#include "runner/kvm_platform.h"
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static struct kvm_platform platform_state;
static struct tkvm_error platform_error;
static int platform_result;
static pthread_once_t platform_once = PTHREAD_ONCE_INIT;

const char *kvm_platform_kind_name(enum kvm_platform_kind kind)
{
	switch (kind) {
	case KVM_PLATFORM_PVM: return "PVM";
	case KVM_PLATFORM_VMX: return "VMX";
	case KVM_PLATFORM_SVM: return "SVM";
	default: return "unknown";
	}
}

const struct kvm_cpuid_entry2 *kvm_platform_cpuid(const struct kvm_platform *p, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; p->cpuid && i < p->cpuid->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &p->cpuid->entries[i];
		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

static enum kvm_platform_kind detect_kind(void)
{
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		return KVM_PLATFORM_PVM;
	if (access("/sys/module/kvm_intel", F_OK) == 0)
		return KVM_PLATFORM_VMX;
	if (access("/sys/module/kvm_amd", F_OK) == 0)
		return KVM_PLATFORM_SVM;
	return KVM_PLATFORM_UNKNOWN;
}

static void read_cpu_identity(struct kvm_platform *p)
{
	const struct kvm_cpuid_entry2 *leaf1 = kvm_platform_cpuid(p, 1, 0);
	const struct kvm_cpuid_entry2 *leaf7 = kvm_platform_cpuid(p, 7, 0);
	if (leaf1) {
		p->cpu_features[0] = leaf1->ecx;
		p->cpu_features[1] = leaf1->edx;
		p->hwcap = leaf1->edx;
		p->has_xsave = (leaf1->ecx >> 26) & 1;
	}
	if (leaf7) {
		p->cpu_features[2] = leaf7->ebx;
		p->cpu_features[3] = leaf7->ecx;
	}
	char *model = p->cpu_model;
	for (uint32_t f = 0x80000002; f <= 0x80000004; f++) {
		const struct kvm_cpuid_entry2 *e = kvm_platform_cpuid(p, f, 0);
		if (!e)
			break;
		memcpy(model, &e->eax, 4), memcpy(model + 4, &e->ebx, 4);
		memcpy(model + 8, &e->ecx, 4), memcpy(model + 12, &e->edx, 4);
		model += 16;
	}
	p->cpu_model[48] = 0;
	/* On PVM the guest runs CPUID natively at CPL3: it sees the host's
	 * features, not KVM's supported list, and uses AVX/AVX-512 when the
	 * host has them. Report (and put in AT_HWCAP) what programs will see,
	 * and tell KVM the same about XSAVE so that the guest FPU state KVM
	 * saves and restores (KVM_GET/SET_XSAVE, used by every reset) covers
	 * every register a program can use: otherwise AVX state would survive
	 * a reset. */
	if (p->kind == KVM_PLATFORM_PVM) {
		unsigned a, b, c, d;
		__cpuid(1, a, b, c, d);
		p->cpu_features[0] = c, p->cpu_features[1] = d, p->hwcap = d;
		struct kvm_cpuid_entry2 *kvm_leaf1 = (struct kvm_cpuid_entry2 *)kvm_platform_cpuid(p, 1, 0);
		if (kvm_leaf1 && ((c >> 26) & 1)) {
			kvm_leaf1->ecx |= c & ((1u << 26) | (1u << 28)); /* XSAVE, AVX */
			p->has_xsave = true;
		}
		__cpuid_count(7, 0, a, b, c, d);
		p->cpu_features[2] = b, p->cpu_features[3] = c;
		for (unsigned i = 0; i < 3; i++) {
			__cpuid(0x80000002 + i, a, b, c, d);
			memcpy(p->cpu_model + 16 * i, &a, 4), memcpy(p->cpu_model + 16 * i + 4, &b, 4);
			memcpy(p->cpu_model + 16 * i + 8, &c, 4), memcpy(p->cpu_model + 16 * i + 12, &d, 4);
		}
		p->cpu_model[48] = 0;
	}
	/* XCR0: enable what both KVM and our save area support (leaf 0xD). */
	const struct kvm_cpuid_entry2 *xsave = kvm_platform_cpuid(p, 0xD, 0);
	p->xcr0 = 0x3; /* x87 | SSE */
	if (p->has_xsave && xsave) {
		uint64_t supported = ((uint64_t)xsave->edx << 32) | xsave->eax;
		uint64_t wanted = 0x3 | 0x4 | 0xE0; /* AVX, and the AVX-512 trio when all present */
		if ((supported & 0xE0) != 0xE0)
			wanted &= ~0xE0ull;
		p->xcr0 = supported & wanted;
	}
}

static void platform_open(void)
{
	struct kvm_platform *p = &platform_state;
	p->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (p->kvm_fd < 0) {
		int e = errno;
		platform_result = tkvm_error_set(&platform_error, -e, "cannot open /dev/kvm: %s%s", strerror(e),
						 e == EACCES ? " (hint: add yourself to the kvm group, or run as root)"
						 : e == ENOENT ? " (hint: KVM is not available on this machine; is the kvm module loaded?)"
							       : "");
		return;
	}
	p->api_version = ioctl(p->kvm_fd, KVM_GET_API_VERSION, 0);
	if (p->api_version != KVM_API_VERSION) {
		platform_result = tkvm_error_set(&platform_error, -EINVAL, "/dev/kvm speaks API version %d, tkvm needs %d",
						 p->api_version, KVM_API_VERSION);
		return;
	}
	p->kind = detect_kind();
	p->vcpu_mmap_size = ioctl(p->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	p->has_sync_regs = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) > 0;
	p->has_immediate_exit = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) > 0;
	p->has_xcrs = ioctl(p->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	if (!p->has_sync_regs || !p->has_immediate_exit) {
		platform_result = tkvm_error_set(&platform_error, -ENOTSUP,
						 "this KVM lacks %s, which tkvm needs",
						 !p->has_sync_regs ? "KVM_CAP_SYNC_REGS" : "KVM_CAP_IMMEDIATE_EXIT");
		return;
	}
	for (int entries = 128; entries <= 4096; entries *= 2) {
		struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + entries * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid) {
			platform_result = tkvm_error_set(&platform_error, -ENOMEM, "out of memory");
			return;
		}
		cpuid->nent = (uint32_t)entries;
		if (ioctl(p->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
			p->cpuid = cpuid;
			break;
		}
		free(cpuid);
		if (errno != E2BIG) {
			platform_result = tkvm_error_set(&platform_error, -errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			return;
		}
	}
	read_cpu_identity(p);
}

int kvm_platform_get(const struct kvm_platform **platform, struct tkvm_error *err)
{
	pthread_once(&platform_once, platform_open);
	if (platform_result < 0) {
		if (err)
			*err = platform_error;
		return platform_result;
	}
	*platform = &platform_state;
	return 0;
}
