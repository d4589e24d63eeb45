/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_util: checked integer parsing, byte-size and duration strings, path_join,
 * mkdir_p (inside a mkdtemp directory), fmt_bytes and the monotonic clock. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "df_util.h"

static void parse_u64_edges(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(df_parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(df_parse_u64("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(df_parse_u64("18446744073709551615", &v), 0);
    assert_int_equal(v, UINT64_MAX);
    v = 7;
    assert_int_equal(df_parse_u64("18446744073709551616", &v), -ERANGE);
    assert_int_equal(v, 7);
    static const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "1.0", "-0", "\t5"};
    for (size_t i = 0; i < DF_ARRAY_LEN(bad); i++) {
        if (df_parse_u64(bad[i], &v) != -EINVAL)
            fail_msg("u64 '%s' accepted", bad[i]);
        assert_int_equal(v, 7);
    }
    assert_int_equal(df_parse_u64(NULL, &v), -EINVAL);
}

static void parse_i64_int_edges(void **state)
{
    (void)state;
    int64_t v = 7;
    assert_int_equal(df_parse_i64("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(df_parse_i64("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(df_parse_i64("-12", &v), 0);
    assert_true(v == -12);
    v = 7;
    assert_int_equal(df_parse_i64("9223372036854775808", &v), -ERANGE);
    assert_int_equal(df_parse_i64("-9223372036854775809", &v), -ERANGE);
    assert_true(v == 7);
    static const char *bad[] = {"", "-", "--1", "1-", " 1", "1 ", "1.5", "abc", "0x1"};
    for (size_t i = 0; i < DF_ARRAY_LEN(bad); i++) {
        if (df_parse_i64(bad[i], &v) != -EINVAL)
            fail_msg("i64 '%s' accepted", bad[i]);
        assert_true(v == 7);
    }
    int iv = 3;
    assert_int_equal(df_parse_int("2147483647", &iv), 0);
    assert_int_equal(iv, 2147483647);
    assert_int_equal(df_parse_int("-2147483648", &iv), 0);
    assert_true(iv == INT32_MIN);
    iv = 3;
    assert_int_equal(df_parse_int("2147483648", &iv), -ERANGE);
    assert_int_equal(df_parse_int("x", &iv), -EINVAL);
    assert_int_equal(iv, 3);
}

static void parse_bytes_units(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"0", 0},           {"123", 123},           {"20K", 20480},     {"20KB", 20480},
        {"20k", 20480},     {"20M", 20971520},      {"20MB", 20971520}, {"20m", 20971520},
        {"1G", 1ULL << 30}, {"1GB", 1ULL << 30},    {"1g", 1ULL << 30}, {"1024M", 1ULL << 30},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(ok); i++) {
        uint64_t v = 1;
        if (df_parse_bytes(ok[i].s, &v) != 0 || v != ok[i].want)
            fail_msg("'%s' -> %llu, want %llu", ok[i].s, (unsigned long long)v,
                     (unsigned long long)ok[i].want);
    }
    static const char *bad[] = {"", "M", "MB", "abc", "20X", "-1", " 20M", "20 M", "20M ",
                                "20MBB", "20BM", "0x10", "nan", "inf", "20M20"};
    for (size_t i = 0; i < DF_ARRAY_LEN(bad); i++) {
        uint64_t v = 1;
        if (df_parse_bytes(bad[i], &v) != -EINVAL)
            fail_msg("bytes '%s' accepted (%llu)", bad[i], (unsigned long long)v);
        assert_int_equal(v, 1);
    }
    uint64_t v = 1;
    assert_int_equal(df_parse_bytes(NULL, &v), -EINVAL);
}

static void parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t want;
    } ok[] = {
        {"3m0s", 180000}, {"3m", 180000},     {"90s", 90000}, {"500ms", 500}, {"1h30m", 5400000},
        {"2m30s", 150000}, {"30", 30000},     {"0", 0},       {"0s", 0},      {"1h", 3600000},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(ok); i++) {
        int64_t v = -1;
        if (df_parse_duration_ms(ok[i].s, &v) != 0 || v != ok[i].want)
            fail_msg("'%s' -> %lld, want %lld", ok[i].s, (long long)v, (long long)ok[i].want);
    }
    static const char *bad[] = {"", "abc", "5x", "1h30", "-5s", "s", "ms", "5 s", " 5s",
                                "5s ", "3m0", "h1"};
    for (size_t i = 0; i < DF_ARRAY_LEN(bad); i++) {
        int64_t v = -1;
        if (df_parse_duration_ms(bad[i], &v) != -EINVAL)
            fail_msg("duration '%s' accepted (%lld)", bad[i], (long long)v);
        assert_true(v == -1);
    }
}

static void expect_join(const char *a, const char *b, const char *want)
{
    char *got = df_path_join(a, b);
    assert_string_equal(got, want);
    free(got);
}

static void path_join_cases(void **state)
{
    (void)state;
    expect_join("a", "b", "a/b");
    expect_join("a/", "b", "a/b");
    expect_join("a", "/b", "a/b");
    expect_join("a//", "//b", "a/b");
    expect_join("/tmp/x/", "y/z", "/tmp/x/y/z");
    expect_join("/", "x", "/x");
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void mkdir_p_in_tmp(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/df_util_test.XXXXXX";
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    char *deep = df_xasprintf("%s/a/b/c", root);
    char *slash = df_xasprintf("%s/x/y/", root);
    char *file = df_xasprintf("%s/file", root);
    char *under_file = df_xasprintf("%s/file/sub", root);
    struct stat st;

    assert_int_equal(df_mkdir_p(deep, 0755), 0);
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(df_mkdir_p(deep, 0755), 0); /* exists: fine */
    assert_int_equal(df_mkdir_p(slash, 0755), 0);
    assert_int_equal(stat(slash, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(df_mkdir_p(file, 0755), -ENOTDIR);
    assert_int_equal(df_mkdir_p(under_file, 0755), -ENOTDIR);
    assert_true(df_mkdir_p("", 0755) < 0);

    assert_int_equal(nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    assert_int_equal(access(root, F_OK), -1);
    free(deep);
    free(slash);
    free(file);
    free(under_file);
}

static void fmt_and_clock(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(df_fmt_bytes(0, buf, sizeof(buf)), "0 B");
    assert_string_equal(df_fmt_bytes(1023, buf, sizeof(buf)), "1023 B");
    assert_string_equal(df_fmt_bytes(1536, buf, sizeof(buf)), "1.5 KiB");
    assert_string_equal(df_fmt_bytes(20ULL << 20, buf, sizeof(buf)), "20.0 MiB");
    int64_t a = df_now_us(), b = df_now_us();
    assert_true(a > 0 && b >= a);
    assert_true(df_wall_ms() > 1500000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_u64_edges),   cmocka_unit_test(parse_i64_int_edges),
        cmocka_unit_test(parse_bytes_units), cmocka_unit_test(parse_duration),
        cmocka_unit_test(path_join_cases),   cmocka_unit_test(mkdir_p_in_tmp),
        cmocka_unit_test(fmt_and_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
