/* State of the TAP harness (tests/lib/tap.h), linked into every C test. */
#include "tests/lib/tap.h"
int tap_failures;
int tap_current_failed;
