/* sn_sched: fixed scenarios (finish, wait, limit, failure re-scheduling, stale running
 * entries, unknown totals) and a randomized run against a naive per-piece model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sn_sched.h"

static void test_finish_and_wait(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client c;
    struct sn_sched_pick out[8];
    size_t n;
    sn_sched_task_init(&t, 3);
    sn_sched_client_init(&c);
    t.cdn_state = SN_SCHED_CDN_RUNNING;
    assert_int_equal(sn_sched_pick(&t, &c, 4, 0, 0, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(n, 0);
    assert_int_equal(sn_sched_cdn_add(&t, 1), 0);
    assert_int_equal(sn_sched_pick(&t, &c, 4, 0, 0, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].piece, 1);
    assert_int_equal(out[0].src, SN_SCHED_SRC_CDN);
    /* running: not handed out twice */
    assert_int_equal(sn_sched_pick(&t, &c, 4, 0, 0, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(sn_sched_cdn_add(&t, 0), 0);
    assert_int_equal(sn_sched_cdn_add(&t, 2), 0);
    assert_int_equal(sn_sched_cdn_add(&t, 3), -ERANGE);
    assert_int_equal(sn_sched_pick(&t, &c, 4, 0, 0, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].piece, 0); /* lowest first */
    assert_int_equal(out[1].piece, 2);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(sn_sched_report(&t, &c, i, 1), 0);
    /* all done but the CDN still runs: wait, not finish */
    assert_int_equal(sn_sched_pick(&t, &c, 4, 0, 0, out, 8, &n), SN_SCHED_WAIT);
    t.cdn_state = SN_SCHED_CDN_DONE;
    assert_int_equal(sn_sched_pick(&t, &c, 4, 0, 0, out, 8, &n), SN_SCHED_FINISH);
    assert_int_equal(sn_sched_report(&t, &c, 3, 1), -ERANGE);
    sn_sched_client_cleanup(&c, &t);
    sn_sched_task_cleanup(&t);
}

static void test_limit_failure_and_timeout(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client c;
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    size_t n;
    sn_sched_task_init(&t, 10);
    sn_sched_client_init(&c);
    t.cdn_state = SN_SCHED_CDN_DONE;
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(sn_sched_cdn_add(&t, i), 0);
    assert_int_equal(sn_sched_pick(&t, &c, 4, 100, 0, out, SN_SCHED_MAX_DOWN, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 4);
    assert_int_equal(sn_sched_pick(&t, &c, 4, 100, 0, out, SN_SCHED_MAX_DOWN, &n), SN_SCHED_LIMITED);
    /* failure: the piece is schedulable again */
    assert_int_equal(sn_sched_report(&t, &c, 2, 0), 0);
    assert_int_equal(c.fail_count, 1);
    assert_int_equal(sn_sched_pick(&t, &c, 4, 100, 0, out, 1, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].piece, 2);
    /* stale running entries expire */
    assert_int_equal(sn_sched_pick(&t, &c, 4, 100 + 5000, 1000, out, SN_SCHED_MAX_DOWN, &n),
                     SN_SCHED_CONTINUE);
    assert_int_equal(n, 4);
    assert_int_equal(out[0].piece, 0);
    /* down_limit is clipped to [1, MAX] */
    assert_int_equal(sn_sched_pick(&t, &c, 0, 100 + 5000, 0, out, SN_SCHED_MAX_DOWN, &n),
                     SN_SCHED_LIMITED);
    t.cdn_state = SN_SCHED_CDN_FAILED;
    assert_int_equal(sn_sched_pick(&t, &c, 4, 0, 0, out, 8, &n), SN_SCHED_FAILED);
    sn_sched_client_cleanup(&c, &t);
    sn_sched_task_cleanup(&t);
}

static void test_unknown_total_and_holders(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client a, b;
    struct sn_sched_pick out[8];
    size_t n;
    sn_sched_task_init(&t, 0);
    sn_sched_client_init(&a);
    sn_sched_client_init(&b);
    t.cdn_state = SN_SCHED_CDN_RUNNING;
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(sn_sched_cdn_add(&t, i), 0);
    assert_true(t.cdn.nbits >= 100);
    assert_int_equal(sn_sched_report(&t, &a, 150, 1), -ERANGE); /* beyond what exists */
    assert_int_equal(sn_sched_holder_add(&t, &a, 5), 0);
    assert_int_equal(sn_sched_holder_add(&t, &a, 5), 0); /* idempotent */
    assert_int_equal(sn_sched_holder_add(&t, &b, 5), 0);
    assert_int_equal(t.holders[5], 2);
    sn_sched_client_cleanup(&a, &t);
    assert_int_equal(t.holders[5], 1);
    sn_sched_task_set_total(&t, 100);
    t.cdn_state = SN_SCHED_CDN_DONE;
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(sn_sched_report(&t, &b, i, 1), 0);
    assert_int_equal(sn_sched_pick(&t, &b, 4, 0, 0, out, 8, &n), SN_SCHED_FINISH);
    sn_sched_client_cleanup(&b, &t);
    sn_sched_task_cleanup(&t);
}

/* ---- randomized check against a naive model -------------------------------------------- */

#define MAXP 300

struct model {
    int total;          /* 0 = unknown */
    int cdn_nbits;      /* pieces that may exist while the total is unknown */
    int cdn[MAXP];
    int state;
    int done[MAXP];
    int running[MAXP];
    int64_t since[MAXP];
};

static int model_valid(const struct model *m, int p)
{
    return m->total ? p < m->total : p < m->cdn_nbits;
}

static enum sn_sched_decision model_pick(struct model *m, int limit, int64_t now, int64_t to,
                                         size_t max_out, int *out, size_t *n)
{
    *n = 0;
    if (m->state == SN_SCHED_CDN_FAILED)
        return SN_SCHED_FAILED;
    if (m->state == SN_SCHED_CDN_DONE && m->total) {
        int all = 1;
        for (int i = 0; i < m->total; i++)
            all &= m->done[i];
        if (all)
            return SN_SCHED_FINISH;
    }
    int nrun = 0;
    for (int i = 0; i < MAXP; i++) {
        if (m->running[i] && to > 0 && now - m->since[i] > to)
            m->running[i] = 0;
        nrun += m->running[i];
    }
    limit = limit < 1 ? 1 : limit > SN_SCHED_MAX_DOWN ? SN_SCHED_MAX_DOWN : limit;
    if (nrun >= limit)
        return SN_SCHED_LIMITED;
    size_t want = (size_t)(limit - nrun) < max_out ? (size_t)(limit - nrun) : max_out;
    for (int i = 0; i < MAXP && *n < want; i++) {
        if (m->total && i >= m->total)
            break;
        if (m->cdn[i] && !m->done[i] && !m->running[i]) {
            out[(*n)++] = i;
            m->running[i] = 1;
            m->since[i] = now;
        }
    }
    return *n ? SN_SCHED_CONTINUE : SN_SCHED_WAIT;
}

static void test_random_vs_model(void **state)
{
    (void)state;
    srand(12345);
    for (int round = 0; round < 200; round++) {
        struct model m;
        memset(&m, 0, sizeof(m));
        int final_total = 1 + rand() % (MAXP - 1);
        int known = rand() % 2;
        m.total = known ? final_total : 0;
        m.state = SN_SCHED_CDN_RUNNING;
        struct sn_sched_task t;
        struct sn_sched_client c;
        sn_sched_task_init(&t, (uint32_t)m.total);
        sn_sched_client_init(&c);
        t.cdn_state = SN_SCHED_CDN_RUNNING;
        int64_t now = 0;
        int limit = 1 + rand() % 6;
        for (int step = 0; step < 2000; step++) {
            int op = rand() % 10;
            now += rand() % 50;
            if (op < 3) { /* CDN gets a piece, mostly in order */
                int p = rand() % 4 ? (int)t.cdn.count : rand() % final_total;
                if (p >= final_total)
                    continue;
                assert_int_equal(sn_sched_cdn_add(&t, (uint32_t)p), 0);
                m.cdn[p] = 1;
                if (!m.total)
                    m.cdn_nbits = (int)t.cdn.nbits; /* growth policy is the module's business */
            } else if (op < 6) { /* report a piece, usually one that runs */
                int p = rand() % (final_total + 3);
                for (int i = 0; i < MAXP; i++)
                    if (m.running[i] && rand() % 2) {
                        p = i;
                        break;
                    }
                int ok = rand() % 4 != 0;
                int want = model_valid(&m, p) ? 0 : -ERANGE;
                assert_int_equal(sn_sched_report(&t, &c, (uint32_t)p, ok), want);
                if (want == 0) {
                    m.running[p] = 0;
                    if (ok)
                        m.done[p] = 1;
                }
            } else if (op < 9) {
                struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
                int mout[SN_SCHED_MAX_DOWN];
                size_t n, mn;
                size_t max_out = 1 + (size_t)(rand() % 5);
                int64_t to = rand() % 3 ? 0 : 500;
                enum sn_sched_decision d =
                    sn_sched_pick(&t, &c, limit, now, to, out, max_out, &n);
                enum sn_sched_decision md = model_pick(&m, limit, now, to, max_out, mout, &mn);
                assert_int_equal(d, md);
                assert_int_equal(n, mn);
                for (size_t i = 0; i < n; i++)
                    assert_int_equal(out[i].piece, (uint32_t)mout[i]);
            } else { /* CDN finishes once every piece is in */
                int all = 1;
                for (int i = 0; i < final_total; i++)
                    all &= m.cdn[i];
                if (all && m.state == SN_SCHED_CDN_RUNNING) {
                    sn_sched_task_set_total(&t, (uint32_t)final_total);
                    t.cdn_state = SN_SCHED_CDN_DONE;
                    m.total = final_total;
                    m.state = SN_SCHED_CDN_DONE;
                } else if (rand() % 500 == 0) {
                    t.cdn_state = SN_SCHED_CDN_FAILED;
                    m.state = SN_SCHED_CDN_FAILED;
                }
            }
        }
        sn_sched_client_cleanup(&c, &t);
        sn_sched_task_cleanup(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finish_and_wait),
        cmocka_unit_test(test_limit_failure_and_timeout),
        cmocka_unit_test(test_unknown_total_and_holders),
        cmocka_unit_test(test_random_vs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
