/* /dev/kvm, opened once per process: API version, capabilities, supported
 * CPUID and which kind of virtualisation is underneath (PVM on our machines,
 * VMX/SVM in production). Detected once; `tkvm doctor` prints it. */
#ifndef TKVM_RUNNER_KVM_PLATFORM_H
#define TKVM_RUNNER_KVM_PLATFORM_H
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include "runner/error.h"

enum kvm_platform_kind {
	KVM_PLATFORM_UNKNOWN,
	KVM_PLATFORM_PVM,
	KVM_PLATFORM_VMX,
	KVM_PLATFORM_SVM,
};

struct kvm_platform {
	int kvm_fd;
	int api_version;
	enum kvm_platform_kind kind;
	int vcpu_mmap_size;
	struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
	bool has_sync_regs, has_immediate_exit, has_xcrs;
	bool has_xsave;          /* CPUID.1:ECX.XSAVE */
	uint64_t xcr0;           /* what we enable: x87|SSE|AVX(|AVX-512) as supported */
	uint32_t hwcap;          /* CPUID.1:EDX, for AT_HWCAP */
	char cpu_model[49];      /* brand string, as the guest sees it */
	uint32_t cpu_features[4]; /* as the guest sees them: CPUID.1 ECX, EDX; CPUID.7.0 EBX, ECX */
};

/* Opens /dev/kvm on first use; later calls return the same platform. */
int kvm_platform_get(const struct kvm_platform **platform, struct tkvm_error *err);
const char *kvm_platform_kind_name(enum kvm_platform_kind kind);
/* Looks up a supported CPUID leaf; NULL when absent. */
const struct kvm_cpuid_entry2 *kvm_platform_cpuid(const struct kvm_platform *platform, uint32_t function, uint32_t index);
#endif
