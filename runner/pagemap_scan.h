/* The PAGEMAP_SCAN ioctl ABI (Linux 6.7+), declared here because Debian
 * 12's kernel headers predate it. Layouts and numbers are the kernel's. */
#ifndef TKVM_RUNNER_PAGEMAP_SCAN_H
#define TKVM_RUNNER_PAGEMAP_SCAN_H
#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>

#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start, end, categories;
};
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#endif
#endif
