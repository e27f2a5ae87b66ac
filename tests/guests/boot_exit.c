/* boot_exit: main() prints "boot_exit: leaving main\n" and returns 0 without parking,
 * so the program fails to start ("program did not call wait_for_requests"). */
#include "sdk/kvm_api.h"
#include <stdio.h>

int main(void)
{
	printf("boot_exit: leaving main\n");
	return 0;
}
