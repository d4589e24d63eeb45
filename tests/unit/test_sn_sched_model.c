/* SPDX-License-Identifier: Apache-2.0 */
/* sn_sched against a naive model, randomized: several clients, pieces appearing on the CDN,
 * picks, success/failure reports (also stale and repeated ones), piece/suc, service-down,
 * re-registration, supernode copies dropped, time passing. The model keeps plain arrays and
 * recomputes every counter from scratch (holders, in-flight, loads) after each step; the
 * scheduler's counters must match exactly. Every pick is checked against the rules:
 *   - each chosen piece is a candidate (available, not done, not running for the client);
 *   - its source is valid: a peer that is eligible, holds it, is not blacklisted by the
 *     client, is under the up-limit (+ starve_up_extra for the first piece of a client with
 *     nothing running) and is the least loaded such holder (exhaustive here: 6 clients are
 *     fewer than SN_SCHED_SAMPLE, so the sampled choice reads every holder); or the supernode,
 *     which has it, is under its budget and the client's spread share, and nobody usable holds
 *     it nor fetches it from the supernode (or the client is supernode-only, or it is the one
 *     stall hand-out of a starving client);
 *   - greedy rarest-first: chosen pieces come in (rarity, distance) order, and a candidate
 *     that is not chosen but ranks before a chosen one (or when fewer than wanted were
 *     chosen) could not have been placed;
 *   - decisions (600/601/602/603/500) match. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sn_sched.h"

#define MC 6   /* clients */
#define MP 40  /* max pieces */
#define MR SN_SCHED_MAX_DOWN

struct mrun {
    int piece, src, released;
    int64_t since;
};

struct mclient {
    int done[MP], have[MP], bl[MC];
    struct mrun run[MR];
    int nrun;
    unsigned fail, serr, sok, sok_at_fail; /* sok: uploads served successfully */
    unsigned pok;                          /* pieces got from peers successfully */
    int source, down, elim;
    int64_t starve;
};

struct model {
    int total, cdn[MP], state, has_final;
    struct mclient c[MC];
};

static int m_eligible(const struct mclient *c) { return c->source && !c->down && !c->elim; }

static int m_holders(const struct model *m, int p)
{
    int n = 0;
    for (int i = 0; i < MC; i++)
        n += m->c[i].have[p] && m_eligible(&m->c[i]);
    return n;
}

static int m_inflight(const struct model *m, int p, int only_cdn)
{
    int n = 0;
    for (int i = 0; i < MC; i++)
        for (int k = 0; k < m->c[i].nrun; k++) {
            const struct mrun *r = &m->c[i].run[k];
            n += r->piece == p && !r->released && (!only_cdn || r->src == SN_SCHED_SRC_CDN);
        }
    return n;
}

static int m_load(const struct model *m, int src)
{
    int n = 0;
    for (int i = 0; i < MC; i++)
        for (int k = 0; k < m->c[i].nrun; k++)
            n += m->c[i].run[k].src == src && !m->c[i].run[k].released;
    return n;
}

static int m_running_has(const struct mclient *c, int p)
{
    for (int k = 0; k < c->nrun; k++)
        if (c->run[k].piece == p)
            return 1;
    return 0;
}

static void m_release_src(struct model *m, int src)
{
    for (int i = 0; i < MC; i++)
        for (int k = 0; k < m->c[i].nrun; k++)
            if (m->c[i].run[k].src == src)
                m->c[i].run[k].released = 1;
}

static void m_remove_run(struct mclient *c, int k) { c->run[k] = c->run[--c->nrun]; }

static void compare(const struct model *m, const struct sn_sched_task *t,
                    struct sn_sched_client *const *cl)
{
    for (int p = 0; p < m->total; p++) {
        assert_int_equal(df_bitmap_test(&t->cdn, (uint32_t)p), m->cdn[p]);
        assert_int_equal(t->pc[p].holders, m_holders(m, p));
        assert_int_equal(t->pc[p].inflight, m_inflight(m, p, 0));
        assert_int_equal(t->pc[p].cdn_inflight, m_inflight(m, p, 1));
    }
    assert_int_equal(t->cdn_load, m_load(m, SN_SCHED_SRC_CDN));
    for (int i = 0; i < MC; i++) {
        const struct mclient *mc = &m->c[i];
        const struct sn_sched_client *c = cl[i];
        assert_int_equal(c->idx, i);
        assert_int_equal(c->up_load, m_load(m, i));
        assert_int_equal(c->fail_count, mc->fail);
        assert_int_equal(c->service_errors, mc->serr);
        assert_int_equal(c->is_down, mc->down);
        assert_int_equal(c->is_eliminated, mc->elim);
        assert_int_equal(c->nrunning, mc->nrun);
        for (int k = 0; k < mc->nrun; k++) {
            int found = 0;
            for (uint32_t q = 0; q < c->nrunning; q++)
                found |= (int)c->running[q].piece == mc->run[k].piece &&
                         c->running[q].src == mc->run[k].src &&
                         (int)c->running[q].is_released == mc->run[k].released;
            assert_true(found);
        }
        for (int p = 0; p < m->total; p++) {
            assert_int_equal(df_bitmap_test(&c->done, (uint32_t)p), mc->done[p]);
            assert_int_equal(df_bitmap_test(&c->have, (uint32_t)p), mc->have[p]);
        }
        for (int j = 0; j < MC; j++)
            assert_int_equal(df_bitmap_test(&c->blacklist, (uint32_t)j), mc->bl[j]);
    }
}

/* ---- the rules, on the model ----------------------------------------------------------- */

static int m_usable(const struct model *m, int ci, int p, int j)
{
    const struct mclient *h = &m->c[j];
    return j != ci && m_eligible(h) && h->have[p] && !m->c[ci].bl[j];
}

/* Least load among usable holders under the up-limit, or -1. */
static int m_min_load(const struct model *m, int ci, int p, int up)
{
    int best = -1;
    for (int j = 0; j < MC; j++) {
        if (!m_usable(m, ci, p, j))
            continue;
        int l = m_load(m, j);
        if (l < up && (best < 0 || l < best))
            best = l;
    }
    return best;
}

static int m_cdn_mine(const struct model *m, int ci)
{
    int n = 0;
    for (int k = 0; k < m->c[ci].nrun; k++)
        n += m->c[ci].run[k].src == SN_SCHED_SRC_CDN && !m->c[ci].run[k].released;
    return n;
}

/* Could piece p be placed for ci now under the normal rules? */
static int m_placeable(const struct model *m, int ci, int p, const struct sn_sched_limits *lim,
                       int cdn_only, int share, int up)
{
    int cdn_ok = m->cdn[p] && m_load(m, SN_SCHED_SRC_CDN) < lim->cdn_up_limit;
    if (cdn_only)
        return cdn_ok;
    if (m_min_load(m, ci, p, up) >= 0)
        return 1;
    int usable = 0;
    for (int j = 0; j < MC; j++)
        usable += m_usable(m, ci, p, j);
    return cdn_ok && usable == 0 && m_inflight(m, p, 1) == 0 && m_cdn_mine(m, ci) < share;
}

static uint64_t m_key(const struct model *m, int ci, int p, const struct sn_sched_limits *lim,
                      uint64_t sum, uint64_t nr)
{
    uint64_t rarity = 2u * (uint64_t)m_holders(m, p) + (lim->is_inflight_half ? (uint64_t)m_inflight(m, p, 0) : 0);
    uint64_t pos = (uint64_t)p * nr, dist = pos > sum ? pos - sum : sum - pos;
    (void)ci;
    return (rarity << 32) | dist;
}

static void check_pick(struct model *m, struct sn_sched_task *t, struct sn_sched_client *c,
                       int ci, const struct sn_sched_limits *lim, int64_t now, uint64_t *rng,
                       size_t max_out)
{
    struct mclient *mc = &m->c[ci];
    /* expected finish */
    int complete = (m->state == SN_SCHED_CDN_DONE || m->has_final) && m->total > 0;
    for (int p = 0; p < m->total && complete; p++)
        complete = mc->done[p];
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    size_t n;
    uint64_t stall_before = t->n_stall_picks;
    enum sn_sched_decision d = sn_sched_pick(t, c, lim, now, rng, out, max_out, &n);
    if (complete) {
        assert_int_equal(d, SN_SCHED_FINISH);
        return;
    }
    /* expiry */
    for (int k = 0; k < mc->nrun;) {
        if (lim->running_timeout_ms > 0 && now - mc->run[k].since > lim->running_timeout_ms)
            m_remove_run(mc, k);
        else
            k++;
    }
    int limit = lim->down_limit < 1 ? 1 : lim->down_limit > MR ? MR : lim->down_limit;
    if (mc->nrun >= limit) {
        assert_int_equal(d, SN_SCHED_LIMITED);
        return;
    }
    size_t want = (size_t)(limit - mc->nrun) < max_out ? (size_t)(limit - mc->nrun) : max_out;
    int cdn_only = mc->fail > lim->failure_limit && mc->fail > mc->pok;
    int nclients = MC;
    int share = lim->is_cdn_spread ? (lim->cdn_up_limit + nclients - 1) / nclients : 1 << 30;
    if (share < 1)
        share = 1;
    int half = (lim->down_limit + 1) / 2; /* half of the slots stay for peers (nclients > 1) */
    if (lim->is_cdn_spread && nclients > 1 && share > (half < 1 ? 1 : half))
        share = half < 1 ? 1 : half;
    uint64_t sum = 0, nr = (uint64_t)mc->nrun;
    for (int k = 0; k < mc->nrun; k++)
        sum += (uint64_t)mc->run[k].piece;
    if (nr == 0) {
        int first = 0;
        while (first < MP && mc->done[first])
            first++;
        sum = (uint64_t)first;
        nr = 1;
    }
    int cand[MP], ncand = 0;
    for (int p = 0; p < m->total; p++) {
        int avail = m->cdn[p] || (!cdn_only && m_holders(m, p) > 0);
        if (avail && !mc->done[p] && !m_running_has(mc, p))
            cand[ncand++] = p;
    }
    uint64_t keys[MP];
    for (int i = 0; i < ncand; i++)
        keys[i] = m_key(m, ci, cand[i], lim, sum, nr);
    int nrun_before = mc->nrun;
    int is_stall = t->n_stall_picks != stall_before;
    assert_true(n <= want);
    uint64_t last_key = 0, max_key = 0, first_key = 0;
    /* the up-limit in force while the client had nothing running (its first piece) */
    int up_starve = lim->up_limit + lim->starve_up_extra;
    int chosen[MP] = {0};
    for (size_t i = 0; i < n; i++) {
        int p = (int)out[i].piece, ci_idx = -1;
        for (int k = 0; k < ncand; k++)
            if (cand[k] == p)
                ci_idx = k;
        assert_true(ci_idx >= 0);
        assert_false(chosen[ci_idx]);
        chosen[ci_idx] = 1;
        uint64_t key = keys[ci_idx];
        if (!is_stall) {
            assert_true(key >= last_key);
        }
        last_key = key;
        if (i == 0)
            first_key = key;
        int up_now = mc->nrun == 0 ? up_starve : lim->up_limit;
        if (key > max_key)
            max_key = key;
        if (out[i].src == SN_SCHED_SRC_CDN) {
            assert_true(m->cdn[p]);
            assert_true(m_load(m, SN_SCHED_SRC_CDN) < lim->cdn_up_limit);
            if (is_stall) {
                assert_int_equal(n, 1);
                assert_int_equal(nrun_before, 0);
                int64_t since = mc->starve ? mc->starve : (now ? now : 1);
                assert_true(now - since >= lim->stall_ms);
                for (int k = 0; k < ncand; k++) /* nothing was placeable normally */
                    assert_false(m_placeable(m, ci, cand[k], lim, cdn_only, share, up_starve));
            } else {
                assert_true(m_placeable(m, ci, p, lim, cdn_only, share, up_now));
                assert_true(cdn_only || m_min_load(m, ci, p, up_now) < 0);
            }
        } else {
            int j = out[i].src;
            assert_true(j >= 0 && j < MC);
            assert_false(cdn_only);
            assert_true(m_usable(m, ci, p, j));
            assert_int_equal(m_load(m, j), m_min_load(m, ci, p, up_now));
        }
        mc->run[mc->nrun++] = (struct mrun){.piece = p, .src = out[i].src, .since = now};
    }
    /* greedy: what was skipped although it ranks before a chosen piece (or while room was
     * left) could not be placed, even with the final loads */
    for (int k = 0; k < ncand && !is_stall; k++) {
        if (chosen[k] || (n == want && keys[k] >= max_key))
            continue;
        /* examined while nothing ran for the client: ranked strictly before its first piece
         * (ties may have been examined after it: the plain limit, a weaker check) */
        int up = nrun_before == 0 && (n == 0 || keys[k] < first_key) ? up_starve : lim->up_limit;
        assert_false(m_placeable(m, ci, cand[k], lim, cdn_only, share, up));
    }
    /* starvation bookkeeping */
    if (n == 0 && nrun_before == 0 && ncand > 0 && mc->starve == 0)
        mc->starve = now ? now : 1;
    if (n > 0 || nrun_before > 0)
        mc->starve = 0;
    if (n > 0)
        assert_int_equal(d, SN_SCHED_CONTINUE);
    else
        assert_int_equal(d, m->state == SN_SCHED_CDN_FAILED ? SN_SCHED_FAILED : SN_SCHED_WAIT);
}

static void m_report(struct model *m, int ci, int p, int ok, int dst,
                     const struct sn_sched_limits *lim)
{
    struct mclient *mc = &m->c[ci];
    int k = -1;
    for (int q = 0; q < mc->nrun; q++)
        if (mc->run[q].piece == p)
            k = q;
    if (k >= 0 && dst != SN_SCHED_SRC_NONE && mc->run[k].src != SN_SCHED_SRC_NONE &&
        mc->run[k].src != dst)
        k = -1;
    int src = dst, counted = 0;
    if (k >= 0) {
        src = mc->run[k].src;
        counted = 1;
        m_remove_run(mc, k);
    }
    if (ok) {
        mc->done[p] = 1;
        if (counted && src >= 0) {
            m->c[src].sok++;
            mc->pok++;
        }
        return;
    }
    if (src < 0 || src == ci)
        return;
    struct mclient *x = &m->c[src];
    if (x->down || x->elim)
        return;
    mc->bl[src] = 1;
    if (!counted)
        return;
    mc->fail++;
    if (x->serr++ == 0)
        x->sok_at_fail = x->sok;
    int by = 0;
    for (int i = 0; i < MC; i++)
        by += m->c[i].bl[src];
    /* busy, not bad: it served someone since its first counted failure (no corruption here) */
    if (x->serr >= lim->elim_errors && (unsigned)by >= lim->elim_clients &&
        x->sok == x->sok_at_fail) {
        x->elim = 1;
        m_release_src(m, src);
        for (int q = 0; q < x->nrun; q++)
            x->run[q].released = 1;
    }
}

static void test_random_vs_model(void **state)
{
    (void)state;
    srand(4242);
    for (int round = 0; round < 150; round++) {
        static struct model m;
        memset(&m, 0, sizeof(m));
        m.total = 1 + rand() % MP;
        m.state = SN_SCHED_CDN_RUNNING;
        struct sn_sched_task t;
        static struct sn_sched_client cs[MC];
        struct sn_sched_client *cl[MC];
        sn_sched_task_init(&t, (uint32_t)m.total);
        t.cdn_state = SN_SCHED_CDN_RUNNING;
        struct sn_sched_limits lim;
        sn_sched_limits_default(&lim);
        lim.down_limit = 1 + rand() % 6;
        lim.up_limit = 1 + rand() % 4;
        lim.starve_up_extra = rand() % 3;
        lim.cdn_up_limit = 1 + rand() % 8;
        lim.failure_limit = (uint32_t)(rand() % 6);
        lim.elim_errors = 1 + (uint32_t)(rand() % 4);
        lim.elim_clients = 1 + (uint32_t)(rand() % 3);
        lim.stall_ms = rand() % 2 ? 300 : INT64_MAX / 4;
        lim.is_inflight_half = rand() % 2;
        lim.is_cdn_spread = rand() % 2;
        lim.is_partners = 0; /* the model is rarest first + least loaded; partner slots are
                                checked in test_sn_sched.c:test_partner_slots */
        lim.running_timeout_ms = rand() % 3 ? 0 : 2000;
        for (int i = 0; i < MC; i++) {
            cl[i] = &cs[i];
            m.c[i].source = rand() % 4 != 0;
            sn_sched_client_init(&t, cl[i], m.c[i].source);
        }
        uint64_t rng = (uint64_t)round;
        int64_t now = 1;
        for (int step = 0; step < 600; step++) {
            int op = rand() % 20, ci = rand() % MC;
            struct mclient *mc = &m.c[ci];
            now += rand() % 60;
            if (op < 3) { /* the CDN gets a piece, mostly in order */
                int p = rand() % m.total;
                if (m.state == SN_SCHED_CDN_FAILED)
                    continue;
                assert_int_equal(sn_sched_cdn_add(&t, (uint32_t)p), 0);
                m.cdn[p] = 1;
                int all = 1;
                for (int i = 0; i < m.total; i++)
                    all &= m.cdn[i];
                if (all && m.state == SN_SCHED_CDN_RUNNING) {
                    m.state = SN_SCHED_CDN_DONE;
                    m.has_final = 1;
                    t.cdn_state = SN_SCHED_CDN_DONE;
                    t.has_final = 1;
                }
            } else if (op < 9) {
                check_pick(&m, &t, cl[ci], ci, &lim, now, &rng, 1 + (size_t)(rand() % 5));
            } else if (op < 14) { /* a report: usually of a running piece, sometimes stale */
                int p = rand() % m.total, dst = rand() % (MC + 2) - 2;
                if (mc->nrun && rand() % 4) {
                    struct mrun *r = &mc->run[rand() % mc->nrun];
                    p = r->piece;
                    dst = rand() % 5 ? r->src : dst;
                }
                int ok = rand() % 3 != 0;
                assert_int_equal(sn_sched_report(&t, cl[ci], (uint32_t)p, ok, dst, &lim), 0);
                m_report(&m, ci, p, ok, dst, &lim);
            } else if (op < 17) { /* piece/suc of something it got */
                int p = rand() % m.total;
                if (mc->nrun && rand() % 2)
                    p = mc->run[rand() % mc->nrun].piece;
                else if (!mc->done[p])
                    continue;
                assert_int_equal(sn_sched_holder_add(&t, cl[ci], (uint32_t)p), 0);
                for (int k = 0; k < mc->nrun; k++)
                    if (mc->run[k].piece == p) {
                        if (mc->run[k].src >= 0) {
                            m.c[mc->run[k].src].sok++;
                            mc->pok++;
                        }
                        m_remove_run(mc, k);
                        break;
                    }
                mc->done[p] = mc->have[p] = 1;
            } else if (op == 17) { /* service down, or a re-registration */
                if (rand() % 2) {
                    sn_sched_peer_down(&t, cl[ci]);
                    mc->down = 1;
                    m_release_src(&m, ci);
                } else {
                    int src = rand() % 4 != 0;
                    sn_sched_client_set_source(&t, cl[ci], src);
                    mc->source = src;
                    mc->down = 0;
                }
            } else if (op == 18) { /* the supernode's copy of a piece is dropped */
                int p = rand() % m.total;
                sn_sched_cdn_drop(&t, (uint32_t)p);
                m.cdn[p] = 0;
            } else if (rand() % 50 == 0) {
                t.cdn_state = SN_SCHED_CDN_FAILED;
                m.state = SN_SCHED_CDN_FAILED;
            }
            compare(&m, &t, cl);
        }
        for (int i = 0; i < MC; i++)
            sn_sched_client_cleanup(cl[i], &t);
        assert_int_equal(t.cdn_load, 0);
        for (int p = 0; p < m.total; p++)
            assert_int_equal(t.pc[p].holders + t.pc[p].inflight + t.pc[p].cdn_inflight, 0);
        sn_sched_task_cleanup(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_vs_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
