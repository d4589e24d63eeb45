/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for df_ratelimit over simulated time: the header's worked example, long-run
 * throughput within 1% of the rate for several rates and chunk patterns, unlimited mode, rate
 * changes, burst capping, wait_us, and a clock that steps back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "df_ratelimit.h"

#define KIB 1024
#define MIB (1024 * 1024)
#define SEC 1000000LL

static void header_example(void **state)
{
    (void)state;
    struct df_ratelimit rl;
    df_ratelimit_init(&rl, MIB, 64 * KIB, 0);
    assert_int_equal(df_ratelimit_take(&rl, 0, 64 * KIB), 0);
    assert_int_equal(df_ratelimit_take(&rl, 0, 64 * KIB), 62500);
    assert_int_equal(rl.tokens, -64 * KIB);
    /* Half-way the debt is half paid. */
    assert_int_equal(df_ratelimit_wait_us(&rl, 31250, 0), 31250);
    assert_int_equal(df_ratelimit_wait_us(&rl, 62500, 0), 0);
    assert_int_equal(rl.tokens, 0);
}

static void default_burst(void **state)
{
    (void)state;
    struct df_ratelimit rl;
    df_ratelimit_init(&rl, 10000000, 0, 5);
    assert_int_equal(rl.burst, 500000); /* 50 ms worth */
    assert_int_equal(rl.tokens, 500000);
    assert_int_equal(rl.last_us, 5);
    df_ratelimit_init(&rl, 1000, 0, 0);
    assert_int_equal(rl.burst, 16 * KIB); /* floor */
    df_ratelimit_init(&rl, 0, 0, 0);
    assert_true(rl.burst > 0);
    df_ratelimit_init(&rl, 1000, 777, 0);
    assert_int_equal(rl.burst, 777);
}

/* A sender that takes `chunk` bytes (or a random size when chunk == 0) and sleeps exactly as
 * told, plus `work_us` of processing per chunk. Returns the bytes paid for within
 * [t0, t0 + dur): taken bytes minus the debt still outstanding at the end. */
static uint64_t rng = 0x12345678abcdefULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t run(struct df_ratelimit *rl, int64_t *now, int64_t dur, uint64_t chunk, int64_t work_us)
{
    uint64_t sent = 0;
    int64_t end = *now + dur;
    while (*now < end) {
        uint64_t n = chunk ? chunk : 1 + rnd() % (256 * KIB);
        int64_t w = df_ratelimit_take(rl, *now, n);
        assert_true(w >= 0);
        sent += n;
        *now += w + work_us;
    }
    uint64_t debt = rl->tokens < 0 ? (uint64_t)-rl->tokens : 0;
    return sent - debt;
}

static void expect_within_1pct(uint64_t sent, double want, const char *what)
{
    double r = (double)sent / want;
    if (r < 0.99 || r > 1.01)
        fail_msg("%s: sent %llu, want %.0f (ratio %.4f)", what, (unsigned long long)sent, want, r);
}

static void long_run_throughput(void **state)
{
    (void)state;
    static const struct {
        uint64_t rate;
        int64_t burst;
        uint64_t chunk;
        int64_t work_us;
    } cases[] = {
        {MIB, 64 * KIB, 16 * KIB, 0},
        {MIB, 0, 0, 0},             /* random chunk sizes, default burst */
        {123457, 0, 1000, 3},       /* rate not a divisor of 1e6, tiny chunks */
        {10 * MIB, 0, MIB, 50},     /* chunks larger than the burst: debt */
        {1000000000, 0, 1, 1},      /* 1 GB/s fed 1 byte per us: the sub-us remainder matters */
        {3 * MIB, 0, 4 * MIB, 0},   /* one chunk > rate: always in debt */
    };
    char what[96];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct df_ratelimit rl;
        int64_t now = 1000;
        df_ratelimit_init(&rl, cases[i].rate, cases[i].burst, now);
        int64_t dur = 60 * SEC;
        /* The 1-byte case cannot reach the rate by construction (1 B/us = 1 MB/s): it must
         * then get exactly what it asks for, never less. */
        uint64_t sent = run(&rl, &now, cases[i].chunk == 1 ? 2 * SEC : dur, cases[i].chunk,
                            cases[i].work_us);
        snprintf(what, sizeof(what), "case %zu", i);
        if (cases[i].chunk == 1) {
            assert_int_equal(sent, 2000000);
            continue;
        }
        expect_within_1pct(sent, (double)cases[i].rate * (double)dur / SEC, what);
    }
}

static void many_small_takes_exact(void **state)
{
    (void)state;
    /* 100 B/s polled every 997 us with 1-byte wishes via wait_us: a bucket that dropped the
     * sub-byte remainder on each refill (0.0997 byte per poll) would never refill at all. */
    struct df_ratelimit rl;
    df_ratelimit_init(&rl, 100, 100, 0);
    int64_t now = 0;
    uint64_t got = 0;
    for (; now < 10 * SEC; now += 997) {
        if (df_ratelimit_wait_us(&rl, now, 1) == 0) {
            assert_int_equal(df_ratelimit_take(&rl, now, 1), 0);
            got++;
        }
    }
    /* 100 initial tokens + 100/s for 10 s, +-1. */
    if (got < 1099 || got > 1101)
        fail_msg("got %llu", (unsigned long long)got);
}

static void unlimited(void **state)
{
    (void)state;
    struct df_ratelimit rl;
    df_ratelimit_init(&rl, 0, 0, 0);
    int64_t before = rl.tokens;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(df_ratelimit_take(&rl, i, UINT64_C(1) << 40), 0);
        assert_int_equal(df_ratelimit_wait_us(&rl, i, UINT64_C(1) << 40), 0);
    }
    assert_int_equal(rl.tokens, before);
}

static void rate_change(void **state)
{
    (void)state;
    struct df_ratelimit rl;
    int64_t now = 0;
    df_ratelimit_init(&rl, MIB, 0, now);
    expect_within_1pct(run(&rl, &now, 20 * SEC, 16 * KIB, 0), 20.0 * MIB, "1 MiB/s");

    df_ratelimit_set_rate(&rl, 4 * MIB, now);
    assert_int_equal(rl.rate_bps, 4 * MIB);
    assert_true(rl.tokens <= rl.burst);
    expect_within_1pct(run(&rl, &now, 20 * SEC, 16 * KIB, 0), 80.0 * MIB, "4 MiB/s");

    /* To unlimited and back. */
    df_ratelimit_set_rate(&rl, 0, now);
    assert_int_equal(df_ratelimit_take(&rl, now, 1000 * MIB), 0);
    now += 100 * SEC; /* no tokens accrue for the unlimited period beyond the burst */
    df_ratelimit_set_rate(&rl, 512 * KIB, now);
    assert_true(rl.tokens <= rl.burst);
    expect_within_1pct(run(&rl, &now, 20 * SEC, 8 * KIB, 0), 10.0 * MIB, "512 KiB/s");

    /* An explicit burst survives a rate change; tokens are clipped to it. */
    df_ratelimit_init(&rl, MIB, 300 * KIB, now);
    df_ratelimit_set_rate(&rl, 2 * MIB, now);
    assert_int_equal(rl.burst, 300 * KIB);
    assert_int_equal(rl.tokens, 300 * KIB);
    df_ratelimit_init(&rl, 40 * MIB, 0, now); /* default burst 2 MiB follows the rate */
    df_ratelimit_set_rate(&rl, 20 * MIB, now);
    assert_int_equal(rl.burst, MIB);
    assert_int_equal(rl.tokens, MIB);
}

static void burst_cap_and_wait(void **state)
{
    (void)state;
    struct df_ratelimit rl;
    df_ratelimit_init(&rl, 1000, 5000, 0);
    assert_int_equal(df_ratelimit_take(&rl, 0, 5000), 0);
    assert_int_equal(rl.tokens, 0);
    /* Idle for a long time: never more than the burst. */
    assert_int_equal(df_ratelimit_wait_us(&rl, 1000 * SEC, 5000), 0);
    assert_int_equal(rl.tokens, 5000);
    assert_int_equal(df_ratelimit_take(&rl, 1000 * SEC, 5000), 0);
    assert_int_equal(df_ratelimit_take(&rl, 1000 * SEC, 1), 1000); /* 1 byte at 1000 B/s */
    /* The 1-byte debt is paid at +1000 us; wait_us does not consume. */
    int64_t t = 1000 * SEC + 1000;
    assert_int_equal(df_ratelimit_wait_us(&rl, t, 0), 0);
    assert_int_equal(rl.tokens, 0);
    assert_int_equal(df_ratelimit_wait_us(&rl, t, 1), 1000);
    assert_int_equal(df_ratelimit_wait_us(&rl, t, 1), 1000);
    assert_int_equal(df_ratelimit_wait_us(&rl, t + 400, 2), 1600);
    assert_int_equal(rl.tokens, 0);
    /* Asking for more than the burst means "until the bucket is full". */
    assert_int_equal(df_ratelimit_wait_us(&rl, t, 5000), 5 * SEC);
    assert_int_equal(df_ratelimit_wait_us(&rl, t, 1000000), 5 * SEC);
    /* A clock that steps back grants nothing. */
    int64_t tok = rl.tokens;
    assert_int_equal(df_ratelimit_wait_us(&rl, t - 500 * SEC, 0), 0);
    assert_int_equal(rl.tokens, tok);
    assert_int_equal(df_ratelimit_wait_us(&rl, t, 2), 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_example),
        cmocka_unit_test(default_burst),
        cmocka_unit_test(long_run_throughput),
        cmocka_unit_test(many_small_takes_exact),
        cmocka_unit_test(unlimited),
        cmocka_unit_test(rate_change),
        cmocka_unit_test(burst_cap_and_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
