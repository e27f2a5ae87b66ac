/* boot_loop: main() spins forever before parking, so boot must hit max_boot_time
 * and the program fails to start; it never answers anything. */
#include "sdk/kvm_api.h"

static volatile unsigned long spins;

int main(void)
{
	for (;;)
		spins++;
}
