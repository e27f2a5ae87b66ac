/* The guest address space: guest-physical == guest-virtual (identity map).
 * The low 2 MiB hold the CPU tables, page tables and our stubs (never user
 * data); programs, heap, mmap arena and stack live above. Ports are the
 * exits we use: 0 is the guest ABI's host-call port. */
#ifndef TKVM_RUNNER_LAYOUT_H
#define TKVM_RUNNER_LAYOUT_H

#define GUEST_PAGE_SIZE 4096ull
#define GUEST_HUGE_PAGE_SIZE (2ull << 20)

#define LAYOUT_GDT 0x1000ull
#define LAYOUT_IDT 0x2000ull
#define LAYOUT_TSS 0x3000ull               /* TSS + 8 KiB I/O bitmap: 0x3000..0x5069 */
#define LAYOUT_TSS_LIMIT (0x68ull + 0x2000) /* inclusive: bitmap plus its 0xFF terminator */
#define LAYOUT_EXCEPTION_STACK_TOP 0x8000ull /* 0x6000..0x7fff, supervisor */
#define LAYOUT_ISR 0x8000ull               /* supervisor code: one exception stub per vector */
#define LAYOUT_USER_STUBS 0x9000ull        /* user code: syscall entry, handler return */
#define LAYOUT_SYSCALL_ENTRY (LAYOUT_USER_STUBS + 0x00)
#define LAYOUT_HANDLER_RETURN (LAYOUT_USER_STUBS + 0x10)
#define LAYOUT_REQUEST_ENTRY (LAYOUT_USER_STUBS + 0x20) /* xrstor the template's FPU state, then jmp *%r11 */
#define LAYOUT_FPU_IMAGE 0xA000ull         /* the template's XSAVE image, user read-only */
#define LAYOUT_PAGE_TABLES 0x10000ull      /* paging structures, supervisor */
#define LAYOUT_PAGE_TABLES_END 0x200000ull
#define LAYOUT_USER_START 0x200000ull      /* lowest address a program may use */
#define LAYOUT_PIE_BASE 0x400000ull        /* load bias of static-pie programs */

#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10
#define GDT_USER_BASE 0x18 /* STAR[63:48]: SYSRET uses +8 for SS and +16 for CS */
#define GDT_USER_DATA 0x23
#define GDT_USER_CODE 0x2B
#define GDT_TSS 0x30

/* A 32-bit `out` checks the bitmap for all four ports it touches, so the
 * host-call port grants 0..3 to CPL3; ours sit apart from that range. */
#define PORT_HOST_CALL 0x0       /* guest ABI: `out %eax, $0` with the call number in eax */
#define PORT_SYSCALL 0x10        /* LSTAR stub (`out %al`: one port) */
#define PORT_HANDLER_RETURN 0x11 /* a host-called function returned */
#define PORT_EXCEPTION 0x20      /* CPL0 exception stubs (not granted to CPL3) */

#define EXCEPTION_VECTORS 32
#endif
