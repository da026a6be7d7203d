/* faults_check.c — see faults_check.h. */
#include "tests/support/faults_check.h"

#include "tests/support/test.h"

void assert_faults_equal(faults_round_t a, faults_round_t b)
{
    assert_int_equal(a.drop, b.drop);
    assert_int_equal(a.crash, b.crash);
    assert_int_equal(a.slow, b.slow);
    if (a.slowdown != b.slowdown || a.delay_s != b.delay_s)
        fail_msg("slowdown %g / %g, delay %g / %g s", a.slowdown, b.slowdown, a.delay_s, b.delay_s);
}
