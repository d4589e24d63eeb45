/* SPDX-License-Identifier: Apache-2.0 */
/* sn_repair: coalescing bad cache pieces into origin byte ranges (issue 11): the header's worked
 * example, the short last piece, duplicates, rejection of bad input, the range cap, and random
 * bad sets checked against a naive per-piece model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "df_proto.h"
#include "sn_repair.h"

#define P (4194304u + 5u) /* payload 4 MiB */
#define PAY (4194304ull)

static void test_header_example(void **state)
{
    (void)state;
    uint32_t bad[] = {2, 3, 7};
    struct sn_repair_range r[4];
    assert_int_equal(sn_repair_plan(bad, 3, P, 10 * (int64_t)PAY, r, 4), 2);
    assert_int_equal(r[0].first, 2);
    assert_int_equal(r[0].count, 2);
    assert_int_equal(r[0].raw_start, 8388608);
    assert_int_equal(r[0].raw_end, 16777215);
    assert_int_equal(r[1].first, 7);
    assert_int_equal(r[1].count, 1);
    assert_int_equal(r[1].raw_start, 29360128);
    assert_int_equal(r[1].raw_end, 33554431);
}

static void test_last_piece_short(void **state)
{
    (void)state;
    int64_t len = 3 * (int64_t)PAY + 100; /* 4 pieces, the last one 100 bytes */
    uint32_t bad[] = {2, 3};
    struct sn_repair_range r[2];
    assert_int_equal(sn_repair_plan(bad, 2, P, len, r, 2), 1);
    assert_int_equal(r[0].raw_start, 2 * PAY);
    assert_int_equal(r[0].raw_end, (uint64_t)len - 1);
    uint32_t last[] = {3};
    assert_int_equal(sn_repair_plan(last, 1, P, len, r, 2), 1);
    assert_int_equal(r[0].raw_start, 3 * PAY);
    assert_int_equal(r[0].raw_end, 3 * PAY + 99);
}

static void test_duplicates_and_empty(void **state)
{
    (void)state;
    uint32_t bad[] = {1, 1, 2, 2, 5, 5};
    struct sn_repair_range r[4];
    assert_int_equal(sn_repair_plan(bad, 6, P, 8 * (int64_t)PAY, r, 4), 2);
    assert_int_equal(r[0].first, 1);
    assert_int_equal(r[0].count, 2);
    assert_int_equal(r[1].first, 5);
    assert_int_equal(r[1].count, 1);
    assert_int_equal(sn_repair_plan(NULL, 0, P, 8 * (int64_t)PAY, r, 4), 0);
}

static void test_rejects(void **state)
{
    (void)state;
    struct sn_repair_range r[4];
    uint32_t out_of_file[] = {8};
    assert_int_equal(sn_repair_plan(out_of_file, 1, P, 8 * (int64_t)PAY, r, 4), -ERANGE);
    uint32_t descending[] = {3, 1};
    assert_int_equal(sn_repair_plan(descending, 2, P, 8 * (int64_t)PAY, r, 4), -ERANGE);
    uint32_t zero[] = {0};
    assert_int_equal(sn_repair_plan(zero, 1, P, 0, r, 4), -ERANGE); /* empty file */
    assert_int_equal(sn_repair_plan(zero, 1, P, -1, r, 4), -ERANGE); /* unknown length */
}

static void test_cap(void **state)
{
    (void)state;
    uint32_t bad[] = {0, 2, 4, 6};
    struct sn_repair_range r[3];
    assert_int_equal(sn_repair_plan(bad, 4, P, 8 * (int64_t)PAY, r, 3), -E2BIG);
    assert_int_equal(sn_repair_plan(bad, 3, P, 8 * (int64_t)PAY, r, 3), 3);
}

/* Random bad sets against a model: every bad piece is in exactly one range, no good piece is,
 * ranges are maximal runs (separated by at least one good piece), byte bounds match df_proto. */
static void test_model(void **state)
{
    (void)state;
    srand(11);
    for (int iter = 0; iter < 2000; iter++) {
        uint32_t ps = 64 + 5 + (uint32_t)(rand() % 64);
        int64_t len = 1 + rand() % 4000;
        uint32_t total = df_proto_piece_count(len, ps);
        unsigned char is_bad[4096] = {0};
        uint32_t bad[4096];
        size_t nbad = 0;
        for (uint32_t n = 0; n < total; n++)
            if (rand() % 4 == 0) {
                is_bad[n] = 1;
                bad[nbad++] = n;
            }
        struct sn_repair_range r[4096];
        int nr = sn_repair_plan(bad, nbad, ps, len, r, 4096);
        assert_true(nr >= 0);
        unsigned char seen[4096] = {0};
        for (int i = 0; i < nr; i++) {
            assert_true(r[i].count >= 1);
            if (i > 0)
                assert_true(r[i].first > r[i - 1].first + r[i - 1].count);
            for (uint32_t n = r[i].first; n < r[i].first + r[i].count; n++) {
                assert_true(is_bad[n]);
                seen[n] = 1;
            }
            uint64_t pay = ps - DF_PIECE_WRAP;
            uint32_t last = r[i].first + r[i].count - 1;
            assert_int_equal(r[i].raw_start, (uint64_t)r[i].first * pay);
            assert_int_equal(r[i].raw_end + 1,
                             (uint64_t)last * pay + df_proto_piece_payload(len, ps, last));
        }
        for (uint32_t n = 0; n < total; n++)
            assert_int_equal(seen[n], is_bad[n]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_example),   cmocka_unit_test(test_last_piece_short),
        cmocka_unit_test(test_duplicates_and_empty), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_cap),              cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
