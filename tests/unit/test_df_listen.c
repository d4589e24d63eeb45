/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_listen's pure decision: the default per-server connection limit derived
 * from the open-file limit (room kept for files and outbound connections, shared between the
 * servers of a program, clamped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "df_listen.h"

static void common_ulimit(void **state)
{
    (void)state;
    /* ulimit -n 1024: a quarter (256) kept, 768 for one server, 384 each for two */
    assert_int_equal(df_listen_default_max_conns(1024, 1), 768);
    assert_int_equal(df_listen_default_max_conns(1024, 2), 384);
    /* whatever the split, the servers together leave the reserve free */
    for (long n = 64; n <= 1 << 20; n *= 2)
        for (int s = 1; s <= 3; s++) {
            int m = df_listen_default_max_conns(n, s);
            if (m > 16 && m < DF_LISTEN_MAX_CONNS_CAP)
                assert_true((long)m * s <= n - (n / 4 > 64 ? n / 4 : 64));
        }
}

static void small_limits_keep_64_and_a_floor(void **state)
{
    (void)state;
    assert_int_equal(df_listen_default_max_conns(200, 1), 136); /* 200 - 64 */
    assert_int_equal(df_listen_default_max_conns(64, 1), 16);   /* floor */
    assert_int_equal(df_listen_default_max_conns(10, 2), 16);
}

static void large_limits_capped(void **state)
{
    (void)state;
    assert_int_equal(df_listen_default_max_conns(1048576, 1), DF_LISTEN_MAX_CONNS_CAP);
    assert_int_equal(df_listen_default_max_conns(65536, 1), 49152);
}

static void bad_inputs(void **state)
{
    (void)state;
    /* unknown limit → as 1024; no servers → one */
    assert_int_equal(df_listen_default_max_conns(0, 1), 768);
    assert_int_equal(df_listen_default_max_conns(-1, 0), 768);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(common_ulimit),
        cmocka_unit_test(small_limits_keep_64_and_a_floor),
        cmocka_unit_test(large_limits_capped),
        cmocka_unit_test(bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
