/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_bitmap: edge cases on word boundaries, then several thousand random
 * operations (fixed seed) checked after each step against a naive bool-array model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "df_bitmap.h"

static void basics_and_word_edges(void **state)
{
    (void)state;
    struct df_bitmap b;
    df_bitmap_init(&b, 130);
    assert_int_equal(b.count, 0);
    assert_false(df_bitmap_is_full(&b));
    assert_int_equal(df_bitmap_next_set(&b, 0), -1);
    assert_int_equal(df_bitmap_next_clear(&b, 0), 0);
    assert_int_equal(df_bitmap_next_clear(&b, 129), 129);
    assert_int_equal(df_bitmap_next_clear(&b, 130), -1);

    df_bitmap_set(&b, 63);
    df_bitmap_set(&b, 64);
    df_bitmap_set(&b, 64); /* idempotent */
    df_bitmap_set(&b, 129);
    assert_int_equal(b.count, 3);
    assert_true(df_bitmap_test(&b, 63) && df_bitmap_test(&b, 64) && df_bitmap_test(&b, 129));
    assert_false(df_bitmap_test(&b, 62));
    assert_false(df_bitmap_test(&b, 130)); /* out of range → 0 */
    assert_false(df_bitmap_test(&b, UINT32_MAX));
    assert_int_equal(df_bitmap_next_set(&b, 0), 63);
    assert_int_equal(df_bitmap_next_set(&b, 65), 129);

    df_bitmap_clear(&b, 64);
    df_bitmap_clear(&b, 64);
    assert_int_equal(b.count, 2);

    df_bitmap_set_range(&b, 0, 1000); /* clipped to nbits */
    assert_int_equal(b.count, 130);
    assert_true(df_bitmap_is_full(&b));
    assert_int_equal(df_bitmap_next_clear(&b, 0), -1); /* tail bits of the last word are not "clear" */
    assert_int_equal(b.words[2], 3); /* bits past nbits stay 0 */

    df_bitmap_clear_all(&b);
    assert_int_equal(b.count, 0);
    df_bitmap_set_range(&b, 5, 5); /* empty */
    df_bitmap_set_range(&b, 9, 3); /* inverted: empty */
    assert_int_equal(b.count, 0);
    df_bitmap_set_range(&b, 60, 70);
    assert_int_equal(b.count, 10);
    assert_int_equal(df_bitmap_next_set(&b, 0), 60);
    assert_int_equal(df_bitmap_next_clear(&b, 60), 70);
    df_bitmap_cleanup(&b);
    assert_null(b.words);
}

static void zero_bits_and_resize(void **state)
{
    (void)state;
    struct df_bitmap b;
    df_bitmap_init(&b, 0);
    assert_true(df_bitmap_is_full(&b)); /* vacuously */
    assert_int_equal(df_bitmap_next_clear(&b, 0), -1);
    assert_int_equal(df_bitmap_next_set(&b, 0), -1);
    df_bitmap_set_range(&b, 0, 10);
    assert_int_equal(b.count, 0);

    df_bitmap_resize(&b, 100);
    assert_int_equal(b.nbits, 100);
    assert_int_equal(b.count, 0);
    df_bitmap_set_range(&b, 0, 100);
    assert_int_equal(b.count, 100);
    df_bitmap_resize(&b, 65); /* keeps bits below 65, drops the rest */
    assert_int_equal(b.count, 65);
    assert_true(df_bitmap_is_full(&b));
    assert_int_equal(b.words[1], 1);
    df_bitmap_resize(&b, 200); /* grown bits are clear */
    assert_int_equal(b.count, 65);
    assert_int_equal(df_bitmap_next_clear(&b, 0), 65);
    assert_int_equal(df_bitmap_next_set(&b, 65), -1);
    df_bitmap_resize(&b, 0);
    assert_int_equal(b.count, 0);
    df_bitmap_cleanup(&b);
    df_bitmap_cleanup(NULL);
}

static uint64_t rng = 0xb17b17b17ULL;
static uint32_t rnd32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void check_model(const struct df_bitmap *b, const bool *m, uint32_t n)
{
    uint32_t c = 0;
    assert_int_equal(b->nbits, n);
    for (uint32_t i = 0; i < n; i++) {
        if (df_bitmap_test(b, i) != (int)m[i])
            fail_msg("bit %u differs", i);
        c += m[i];
    }
    assert_int_equal(b->count, c);
    assert_int_equal(df_bitmap_is_full(b), c == n);
    /* Tail bits of the last word must be zero. */
    if (n % 64)
        assert_int_equal(b->words[n / 64] >> (n % 64), 0);
}

static int64_t model_next(const bool *m, uint32_t n, uint32_t from, bool want)
{
    for (uint32_t i = from; i < n; i++)
        if (m[i] == want)
            return i;
    return -1;
}

static void random_ops_vs_model(void **state)
{
    (void)state;
    enum { MAXN = 700, OPS = 6000 };
    static bool m[MAXN];
    uint32_t n = 300;
    struct df_bitmap b;
    df_bitmap_init(&b, n);
    memset(m, 0, sizeof(m));
    unsigned fulls = 0;
    for (int op = 0; op < OPS; op++) {
        uint32_t i = n ? rnd32() % n : 0;
        switch (rnd32() % 10) {
        case 0: case 1: case 2:
            if (n) {
                df_bitmap_set(&b, i);
                m[i] = true;
            }
            break;
        case 3: case 4:
            if (n) {
                df_bitmap_clear(&b, i);
                m[i] = false;
            }
            break;
        case 5: case 6: {
            uint32_t lo = rnd32() % (n + 70), hi = lo + rnd32() % 200;
            df_bitmap_set_range(&b, lo, hi);
            for (uint32_t k = lo; k < hi && k < n; k++)
                m[k] = true;
            break;
        }
        case 7: {
            uint32_t from = rnd32() % (n + 5);
            assert_int_equal(df_bitmap_next_set(&b, from), model_next(m, n, from, true));
            assert_int_equal(df_bitmap_next_clear(&b, from), model_next(m, n, from, false));
            break;
        }
        case 8:
            if (rnd32() % 20 == 0) {
                uint32_t nn = rnd32() % MAXN;
                df_bitmap_resize(&b, nn);
                for (uint32_t k = n; k < nn; k++)
                    m[k] = false;
                n = nn;
            }
            break;
        default:
            if (rnd32() % 30 == 0) {
                df_bitmap_clear_all(&b);
                memset(m, 0, sizeof(m));
            }
            break;
        }
        fulls += n && df_bitmap_is_full(&b);
        check_model(&b, m, n);
    }
    assert_true(fulls > 0); /* the sequence reached the "full" state at least once */
    df_bitmap_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basics_and_word_edges),
        cmocka_unit_test(zero_bits_and_resize),
        cmocka_unit_test(random_ops_vs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
