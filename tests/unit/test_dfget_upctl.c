/* SPDX-License-Identifier: Apache-2.0 */
/* dfget_upctl pure helpers: host.meta parsing, the exact /check body match (spec §11.6), the
 * uploader's port line, taskFileName sanitising (must pass dfget_uploader_name_ok) and the
 * hard-link / copy / no-share decision from link()'s errno. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dfget_upctl.h"
#include "dfget_uploader_req.h"

static int meta(const char *s, int *port) { return dfget_upctl_parse_meta(s, strlen(s), port); }

static void test_parse_meta(void **state)
{
    (void)state;
    int p = -1;
    assert_int_equal(meta("{\"servicePort\":15001}", &p), 0);
    assert_int_equal(p, 15001);
    assert_int_equal(meta("{\"serviceport\": 65000}\n", &p), 0); /* keys case-insensitive */
    assert_int_equal(p, 65000);
    p = -1;
    assert_int_equal(meta("{\"servicePort\":0}", &p), -ENOENT); /* uploader shut down */
    assert_int_equal(meta("{}", &p), -ENOENT);
    assert_int_equal(p, -1);
    assert_int_equal(meta("", &p), -EINVAL);
    assert_int_equal(meta("{\"servicePort\":", &p), -EINVAL);
    assert_int_equal(meta("[15001]", &p), -EINVAL);
    assert_int_equal(meta("{\"servicePort\":70000}", &p), -EINVAL);
    assert_int_equal(meta("{\"servicePort\":-1}", &p), -EINVAL);
    assert_int_equal(meta("{\"servicePort\":\"x\"}", &p), -EINVAL);
    assert_int_equal(p, -1);
    /* bytes after the object are junk too (a torn write must not be half-trusted) */
    assert_int_equal(meta("{\"servicePort\":15001}{", &p), -EINVAL);
}

static int body_ok(const char *b) { return dfget_upctl_check_body_ok(b, strlen(b), "f.bin-1-2.3", "1.0.6"); }

static void test_check_body(void **state)
{
    (void)state;
    assert_true(body_ok("f.bin-1-2.3@1.0.6"));
    assert_false(body_ok("f.bin-1-2.3@1.0.5"));   /* other version: start our own */
    assert_false(body_ok("f.bin-1-2.3@1.0.6\n")); /* exact match only */
    assert_false(body_ok("f.bin-1-2.3@1.0.60"));
    assert_false(body_ok("f.bin-1-2.4@1.0.6"));
    assert_false(body_ok("f.bin-1-2.3#1.0.6"));
    assert_false(body_ok("@1.0.6"));
    assert_false(body_ok(""));
    assert_false(dfget_upctl_check_body_ok(NULL, 0, "a", "1"));
    /* a body with an embedded NUL is not the string it starts with */
    assert_false(dfget_upctl_check_body_ok("f.bin-1-2.3@1.0.6\0x", 19, "f.bin-1-2.3", "1.0.6"));
}

static int port_line(const char *s, int *p) { return dfget_upctl_parse_port_line(s, strlen(s), p); }

static void test_port_line(void **state)
{
    (void)state;
    int p = 0;
    assert_int_equal(port_line("dfget uploader server port is 51143\n", &p), 0);
    assert_int_equal(p, 51143);
    assert_int_equal(port_line("dfget uploader server port is 15000", &p), 0); /* no newline */
    assert_int_equal(p, 15000);
    assert_int_equal(port_line("dfget uploader server port is 4242\r\nlater 99\n", &p), 0);
    assert_int_equal(p, 4242); /* first line only */
    p = 7;
    assert_int_equal(port_line("", &p), -EINVAL);
    assert_int_equal(port_line("\n", &p), -EINVAL);
    assert_int_equal(port_line("dfget server: cannot listen\n", &p), -EINVAL);
    assert_int_equal(port_line("port is 0\n", &p), -EINVAL);
    assert_int_equal(port_line("port is 65536\n", &p), -EINVAL);
    assert_int_equal(port_line("port is 123456789012345678\n", &p), -EINVAL);
    assert_int_equal(port_line("port is -5\n", &p), -EINVAL);
    assert_int_equal(p, 7);
}

static void test_task_file_name(void **state)
{
    (void)state;
    char out[300];
    const char *sign = "12-1700000000.123";
    dfget_upctl_task_file_name("f.bin", sign, out, sizeof(out));
    assert_string_equal(out, "f.bin-12-1700000000.123");
    dfget_upctl_task_file_name(".a b", sign, out, sizeof(out));
    assert_string_equal(out, "a b-12-1700000000.123");
    dfget_upctl_task_file_name("...", sign, out, sizeof(out));
    assert_string_equal(out, "file-12-1700000000.123");
    dfget_upctl_task_file_name("a/b\\c\x01" "d", sign, out, sizeof(out));
    assert_string_equal(out, "a_b_c_d-12-1700000000.123");
    char big[400];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dfget_upctl_task_file_name(big, sign, out, sizeof(out));
    assert_int_equal(strlen(out), 160 + 1 + strlen(sign));
    /* every result is a name the uploader accepts */
    const char *bases[] = {"f.bin", ".hidden", "..", "/", "", big, "\x7f\x1f", "ok name"};
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        dfget_upctl_task_file_name(bases[i], sign, out, sizeof(out));
        assert_true(dfget_uploader_name_ok(out));
    }
}

static void test_link_decision(void **state)
{
    (void)state;
    assert_int_equal(dfget_upctl_link_decision(0), DFGET_SHARE_LINK);
    assert_int_equal(dfget_upctl_link_decision(EXDEV), DFGET_SHARE_COPY);
    assert_int_equal(dfget_upctl_link_decision(EPERM), DFGET_SHARE_COPY);  /* fs without links */
    assert_int_equal(dfget_upctl_link_decision(EMLINK), DFGET_SHARE_COPY);
    assert_int_equal(dfget_upctl_link_decision(EOPNOTSUPP), DFGET_SHARE_COPY);
    assert_int_equal(dfget_upctl_link_decision(EEXIST), DFGET_SHARE_NONE);
    assert_int_equal(dfget_upctl_link_decision(ENOENT), DFGET_SHARE_NONE);
    assert_int_equal(dfget_upctl_link_decision(EACCES), DFGET_SHARE_NONE);
    assert_int_equal(dfget_upctl_link_decision(EROFS), DFGET_SHARE_NONE);
    assert_int_equal(dfget_upctl_link_decision(ENOSPC), DFGET_SHARE_NONE);
}

static void test_auth_mode(void **state)
{
    (void)state;
    /* the supernode says tokens: only with its key */
    assert_string_equal(dfget_upctl_auth_mode(1, "key", 0), "token");
    assert_string_equal(dfget_upctl_auth_mode(1, "key", 1), "token");
    assert_null(dfget_upctl_auth_mode(1, "", 1));
    /* no tokens: public unless our own request carried credentials (an old supernode) */
    assert_string_equal(dfget_upctl_auth_mode(0, "", 0), "public");
    assert_null(dfget_upctl_auth_mode(0, "", 1));
    char *u = dfget_upctl_auth_url("127.0.0.1", 4000, "a b-1", "abc", "token", "K");
    assert_string_equal(u, "http://127.0.0.1:4000/auth/a%20b-1?taskId=abc&mode=token&key=K");
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_meta),
        cmocka_unit_test(test_check_body),
        cmocka_unit_test(test_port_line),
        cmocka_unit_test(test_task_file_name),
        cmocka_unit_test(test_link_decision),
        cmocka_unit_test(test_auth_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
