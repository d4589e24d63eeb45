/* SPDX-License-Identifier: Apache-2.0 */
/* dfget_run's pure helper: the default output name derived from the URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dfget_run.h"

static void test_output_name(void **state)
{
    char b[256];
    assert_int_equal(dfget_run_output_name("http://h/a/b/file.bin", b, sizeof(b)), 0);
    assert_string_equal(b, "file.bin");
    assert_int_equal(dfget_run_output_name("http://h:80/f.tgz?sig=1/2#frag", b, sizeof(b)), 0);
    assert_string_equal(b, "f.tgz");
    assert_int_equal(dfget_run_output_name("https://[::1]:8080/my%20file", b, sizeof(b)), 0);
    assert_string_equal(b, "my file");
    assert_int_equal(dfget_run_output_name("http://h", b, sizeof(b)), -22);
    assert_int_equal(dfget_run_output_name("http://h/", b, sizeof(b)), -22);
    assert_int_equal(dfget_run_output_name("http://h/dir/", b, sizeof(b)), -22);
    assert_int_equal(dfget_run_output_name("http://h/..", b, sizeof(b)), -22);
    assert_int_equal(dfget_run_output_name("http://h/a%2Fb", b, sizeof(b)), -22);
    assert_int_equal(dfget_run_output_name("http://h/%zz", b, sizeof(b)), -22);
    assert_int_equal(dfget_run_output_name("http://h/abcdef", b, 4), -22); /* too long */
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_output_name)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
