/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_json: case-insensitive lookups (exact match preferred), string / int /
 * bool getters with their coercions and error codes, and the ResultInfo envelope. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "df_json.h"

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fail_msg("bad fixture: %s", err.text);
    return j;
}

static void ci_lookup_and_strings(void **state)
{
    (void)state;
    json_t *o = load("{\"TaskURL\":\"http://x/y\",\"cId\":\"c1\",\"num\":5,\"a\":1,\"A\":2}");
    assert_non_null(df_json_get_ci(o, "taskurl"));
    assert_string_equal(df_json_str_ci(o, "TASKURL"), "http://x/y");
    assert_string_equal(df_json_str_ci(o, "cid"), "c1");
    assert_null(df_json_str_ci(o, "num")); /* not a string */
    assert_null(df_json_str_ci(o, "missing"));
    assert_null(df_json_get_ci(o, "taskur"));
    /* An exact match wins over a case-insensitive one. */
    assert_int_equal(json_integer_value(df_json_get_ci(o, "A")), 2);
    assert_int_equal(json_integer_value(df_json_get_ci(o, "a")), 1);
    /* Not an object. */
    json_t *arr = load("[1,2]");
    assert_null(df_json_get_ci(arr, "a"));
    assert_null(df_json_get_ci(NULL, "a"));
    json_decref(arr);
    json_decref(o);
}

static void int_getter(void **state)
{
    (void)state;
    json_t *o = load("{\"PieceNum\":7,\"size\":3.0,\"neg\":-4,\"str\":\"42\",\"half\":3.5,"
                     "\"junk\":\"4x\",\"flag\":true,\"obj\":{},\"big\":\"9223372036854775807\"}");
    int64_t v = 99;
    assert_int_equal(df_json_int_ci(o, "piecenum", &v), 0);
    assert_true(v == 7);
    assert_int_equal(df_json_int_ci(o, "SIZE", &v), 0);
    assert_true(v == 3);
    assert_int_equal(df_json_int_ci(o, "neg", &v), 0);
    assert_true(v == -4);
    assert_int_equal(df_json_int_ci(o, "str", &v), 0);
    assert_true(v == 42);
    assert_int_equal(df_json_int_ci(o, "big", &v), 0);
    assert_true(v == INT64_MAX);
    v = 99;
    assert_int_equal(df_json_int_ci(o, "half", &v), -EINVAL);
    assert_int_equal(df_json_int_ci(o, "junk", &v), -EINVAL);
    assert_int_equal(df_json_int_ci(o, "flag", &v), -EINVAL);
    assert_int_equal(df_json_int_ci(o, "obj", &v), -EINVAL);
    assert_int_equal(df_json_int_ci(o, "nope", &v), -ENOENT);
    assert_true(v == 99);
    json_decref(o);
}

static void bool_getter(void **state)
{
    (void)state;
    json_t *o = load("{\"T\":true,\"F\":false,\"one\":1,\"zero\":0,\"st\":\"TRUE\",\"sf\":\"false\","
                     "\"s1\":\"1\",\"s0\":\"0\",\"yes\":\"yes\",\"arr\":[]}");
    int b = 5;
    assert_int_equal(df_json_bool_ci(o, "t", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(df_json_bool_ci(o, "f", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(df_json_bool_ci(o, "ONE", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(df_json_bool_ci(o, "zero", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(df_json_bool_ci(o, "st", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(df_json_bool_ci(o, "sf", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(df_json_bool_ci(o, "s1", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(df_json_bool_ci(o, "s0", &b), 0);
    assert_int_equal(b, 0);
    b = 5;
    assert_int_equal(df_json_bool_ci(o, "yes", &b), -EINVAL);
    assert_int_equal(df_json_bool_ci(o, "arr", &b), -EINVAL);
    assert_int_equal(df_json_bool_ci(o, "missing", &b), -ENOENT);
    assert_int_equal(b, 5);
    json_decref(o);
}

static void expect_result(int code, const char *msg, json_t *data, const char *want)
{
    char *s = df_json_result(code, msg, data); /* takes data */
    assert_string_equal(s, want);
    free(s);
}

static void result_envelope(void **state)
{
    (void)state;
    expect_result(200, NULL, NULL, "{\"code\":200}");
    expect_result(200, "", NULL, "{\"code\":200}");
    expect_result(501, "bad request", NULL, "{\"code\":501,\"msg\":\"bad request\"}");
    json_t *d = json_object();
    json_object_set_new(d, "taskId", json_string("abc"));
    json_object_set_new(d, "fileLength", json_integer(-1));
    expect_result(200, NULL, d, "{\"code\":200,\"data\":{\"taskId\":\"abc\",\"fileLength\":-1}}");
    expect_result(602, "wait", json_array(), "{\"code\":602,\"msg\":\"wait\",\"data\":[]}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ci_lookup_and_strings),
        cmocka_unit_test(int_getter),
        cmocka_unit_test(bool_getter),
        cmocka_unit_test(result_envelope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
