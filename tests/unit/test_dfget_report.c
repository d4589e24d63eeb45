/* SPDX-License-Identifier: Apache-2.0 */
/* dfget console lines: the summary line format shared with the demo and e2e tests, the
 * SUCCESS/FAIL lines, the progress bar text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dfget_report.h"

static void test_summary(void **state)
{
    char b[256];
    assert_string_equal(dfget_report_summary(b, sizeof(b), 0, 1048576, 0, 0.5),
                        "summary: source=0 (0.0%) supernode=1048576 (100.0%) peers=0 (0.0%) "
                        "time=0.500s rate=2.0MiB/s");
    assert_string_equal(dfget_report_summary(b, sizeof(b), 1, 1, 2, 2.0),
                        "summary: source=1 (25.0%) supernode=1 (25.0%) peers=2 (50.0%) "
                        "time=2.000s rate=0.0MiB/s");
    assert_string_equal(dfget_report_summary(b, sizeof(b), 0, 0, 0, 0.0),
                        "summary: source=0 (0.0%) supernode=0 (0.0%) peers=0 (0.0%) "
                        "time=0.000s rate=0.0MiB/s");
    assert_string_equal(dfget_report_summary(b, sizeof(b), 268435456, 0, 0, 1.25),
                        "summary: source=268435456 (100.0%) supernode=0 (0.0%) peers=0 (0.0%) "
                        "time=1.250s rate=204.8MiB/s");
}

static void test_result(void **state)
{
    char b[256];
    assert_string_equal(dfget_report_result(b, sizeof(b), 1, 0, 1.2345, 209715200, 0, NULL),
                        "download SUCCESS cost:1.234s length:209715200 reason:0");
    assert_string_equal(dfget_report_result(b, sizeof(b), 0, 1104, 0.01, -1, 1001, "no node"),
                        "download FAIL(1104) cost:0.010s length:-1 reason:1001 error:no node");
}

static void test_bar(void **state)
{
    char b[256];
    dfget_report_bar(b, sizeof(b), 50u << 20, 100 << 20, 10 << 20);
    assert_non_null(strstr(b, " 50%"));
    assert_non_null(strstr(b, "50.0 MiB / 100.0 MiB"));
    assert_non_null(strstr(b, "10.0 MiB/s"));
    assert_int_equal(b[0], '[');
    dfget_report_bar(b, sizeof(b), 200, 100, 0); /* clipped at 100% */
    assert_non_null(strstr(b, "100%"));
    dfget_report_bar(b, sizeof(b), 2048, -1, 1024); /* unknown length */
    assert_string_equal(b, "2.0 KiB  1.0 KiB/s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_bar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
