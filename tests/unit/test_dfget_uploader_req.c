/* SPDX-License-Identifier: Apache-2.0 */
/* Uploader request planning: wrapped ranges → raw file bytes + frame header; hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_err.h"
#include "df_proto.h"
#include "dfget_uploader_req.h"

#define P4 4194304u

static void test_middle_piece(void **state)
{
    struct dfget_uploader_plan p;
    uint64_t file = 200ull << 20;
    assert_int_equal(dfget_uploader_plan_piece("bytes=8388608-12582911", "2", "4194304", 0, file, &p), 0);
    assert_int_equal(p.raw_off, 8388598);
    assert_int_equal(p.payload_len, 4194299);
    assert_int_equal(p.body_len, P4);
    assert_true(p.is_wrapped);
    assert_memory_equal(p.head, "\x04\x3f\xff\xfb", 4);
    /* headers absent: derived from the range as old dfgets do */
    struct dfget_uploader_plan q;
    assert_int_equal(dfget_uploader_plan_piece("bytes=8388608-12582911", NULL, NULL, 0, file, &q), 0);
    assert_memory_equal(&p, &q, sizeof(p));
}

static void test_last_piece_clipped(void **state)
{
    /* 200 MiB file: piece 50 carries the last 250 bytes (spec §3.2) */
    struct dfget_uploader_plan p;
    uint64_t file = 200ull << 20;
    char range[64];
    snprintf(range, sizeof(range), "bytes=%llu-%llu", 50ull * P4, 51ull * P4 - 1);
    assert_int_equal(dfget_uploader_plan_piece(range, "50", "4194304", 0, file, &p), 0);
    assert_int_equal(p.payload_len, 250);
    assert_int_equal(p.body_len, 255);
    assert_memory_equal(p.head, "\x04\x00\x00\xfa", 4);
    /* piece 51 does not exist */
    snprintf(range, sizeof(range), "bytes=%llu-%llu", 51ull * P4, 52ull * P4 - 1);
    assert_int_equal(dfget_uploader_plan_piece(range, "51", "4194304", 0, file, &p), DF_ERANGE);
}

static void test_empty_file(void **state)
{
    struct dfget_uploader_plan p;
    assert_int_equal(dfget_uploader_plan_piece("bytes=0-4194303", "0", "4194304", 0, 0, &p), 0);
    assert_int_equal(p.payload_len, 0);
    assert_int_equal(p.body_len, 5);
}

static void test_source_pattern(void **state)
{
    struct dfget_uploader_plan p;
    assert_int_equal(dfget_uploader_plan_piece("bytes=100-199", NULL, NULL, 1, 150, &p), 0);
    assert_false(p.is_wrapped);
    assert_int_equal(p.raw_off, 100);
    assert_int_equal(p.payload_len, 50);
    assert_int_equal(dfget_uploader_plan_piece("bytes=150-199", NULL, NULL, 1, 150, &p), DF_ERANGE);
}

static void test_hostile(void **state)
{
    struct dfget_uploader_plan p;
    uint64_t f = 1ull << 30;
    const char *bad[][3] = {
        {NULL, "0", "4194304"},
        {"bytes=", "0", "4194304"},
        {"bytes=0-4194303,4194304-8388607", "0", "4194304"},
        {"items=0-4194303", "0", "4194304"},
        {"bytes=5-4194308", "0", "4194304"},          /* not aligned */
        {"bytes=0-4194303", "1", "4194304"},          /* pieceNum disagrees */
        {"bytes=0-4194303", "0", "4194305"},          /* pieceSize disagrees */
        {"bytes=0-99999999", "0", "100000000"},       /* pieces above 16 MiB cannot be framed */
        {"bytes=0-3", "0", "4"},                      /* smaller than the wrapper */
        {"bytes=18446744073709551615-18446744073709551615", NULL, NULL},
        {"bytes=0-4194303", "-1", "4194304"},
        {"bytes=0-4194303", "0x0", "4194304"},
        {"bytes=4194303-0", NULL, NULL},
        {"bytes=-100", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = dfget_uploader_plan_piece(bad[i][0], bad[i][1], bad[i][2], 0, f, &p);
        if (rc >= 0)
            fail_msg("case %zu accepted", i);
    }
}

static void test_names(void **state)
{
    assert_true(dfget_uploader_name_ok("peer1.bin-18172-1795843019.073"));
    assert_false(dfget_uploader_name_ok(""));
    assert_false(dfget_uploader_name_ok(NULL));
    assert_false(dfget_uploader_name_ok(".."));
    assert_false(dfget_uploader_name_ok("."));
    assert_false(dfget_uploader_name_ok("../etc/passwd"));
    assert_false(dfget_uploader_name_ok("/etc/passwd"));
    assert_false(dfget_uploader_name_ok("a/b"));
    assert_false(dfget_uploader_name_ok(".hidden"));
    assert_false(dfget_uploader_name_ok("a\nb"));
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[299] = '\0';
    assert_false(dfget_uploader_name_ok(longname));
}

static void test_random_no_crash(void **state)
{
    /* random ranges never produce an out-of-file plan */
    unsigned seed = 7;
    struct dfget_uploader_plan p;
    for (int i = 0; i < 100000; i++) {
        uint64_t psize = (uint64_t)(rand_r(&seed) % (17 << 20));
        uint64_t n = (uint64_t)(rand_r(&seed) % 300);
        uint64_t file = (uint64_t)rand_r(&seed) * 4;
        char r[96], pn[32], ps[32];
        snprintf(r, sizeof(r), "bytes=%llu-%llu", (unsigned long long)(n * psize),
                 (unsigned long long)(n * psize + psize - 1 + (uint64_t)(rand_r(&seed) % 3 == 0)));
        snprintf(pn, sizeof(pn), "%llu", (unsigned long long)n);
        snprintf(ps, sizeof(ps), "%llu", (unsigned long long)psize);
        if (dfget_uploader_plan_piece(r, pn, ps, 0, file, &p) == 0) {
            assert_true(p.raw_off + p.payload_len <= file || (file == 0 && p.payload_len == 0));
            assert_int_equal(p.body_len, p.payload_len + 5);
            assert_true(p.payload_len <= psize - 5);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_middle_piece),   cmocka_unit_test(test_last_piece_clipped),
        cmocka_unit_test(test_empty_file),     cmocka_unit_test(test_source_pattern),
        cmocka_unit_test(test_hostile),        cmocka_unit_test(test_names),
        cmocka_unit_test(test_random_no_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
