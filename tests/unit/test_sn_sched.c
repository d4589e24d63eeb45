/* SPDX-License-Identifier: Apache-2.0 */
/* sn_sched: fixed scenarios (finish, wait, limits, rarest-first order and ties, source choice,
 * the supernode's send-once rule and budget, blacklist, failure limit, elimination,
 * service-down, stall rule, slot reuse, memory). The randomized multi-client check against a
 * naive model is test_sn_sched_model.c, the swarm simulation test_sn_sched_sim.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sn_sched.h"

/* Defaults without the spread rule (tested on its own in test_cdn_spread), so that the
 * scenarios below can reason about one client at a time. */
static struct sn_sched_limits lim_default(void)
{
    struct sn_sched_limits l;
    sn_sched_limits_default(&l);
    l.is_cdn_spread = 0;
    l.down_limit = 4; /* the scenarios count slots with these */
    l.up_limit = 4;
    l.cdn_up_limit = 8;
    l.is_partners = 0; /* they reason about the least loaded holder; see test_partner_slots */
    return l;
}

/* A task of n pieces, all on the CDN (done when is_done). */
static void task_full(struct sn_sched_task *t, uint32_t n, int is_done)
{
    sn_sched_task_init(t, n);
    t->cdn_state = is_done ? SN_SCHED_CDN_DONE : SN_SCHED_CDN_RUNNING;
    t->has_final = is_done;
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(sn_sched_cdn_add(t, i), 0);
}

static void hold(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t lo, uint32_t hi)
{
    for (uint32_t i = lo; i < hi; i++)
        assert_int_equal(sn_sched_holder_add(t, c, i), 0);
}

/* Partner slots: C (slot 0) has partners at slot distance 1, 2, 4 (down_limit 3). Each gives
 * C the rarest piece it holds, even though another holder (slot 3) has rarer ones; a partner
 * already serving C is skipped and the slot goes the normal way. */
static void test_partner_slots(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client c, h[5];
    struct sn_sched_pick out[8];
    struct sn_sched_limits lim = lim_default();
    uint64_t rng = 11;
    size_t n;
    lim.is_partners = 1;
    lim.down_limit = 3;
    task_full(&t, 10, 1);
    sn_sched_client_init(&t, &c, 1);
    for (int i = 0; i < 5; i++)
        sn_sched_client_init(&t, &h[i], 1); /* slots 1..5 */
    assert_int_equal(c.idx, 0);
    hold(&t, &h[0], 5, 6);  /* slot 1: piece 5 */
    hold(&t, &h[1], 6, 7);  /* slot 2: piece 6 */
    hold(&t, &h[2], 0, 10); /* slot 3: everything (0-4, 8, 9 only here: the rarest) */
    hold(&t, &h[3], 7, 8);  /* slot 4: piece 7 */
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 3);
    uint32_t want_piece[5] = {0, 5, 6, 0, 7};
    for (size_t i = 0; i < n; i++) {
        assert_true(out[i].src == 1 || out[i].src == 2 || out[i].src == 4);
        assert_int_equal(out[i].piece, want_piece[out[i].src]);
    }
    /* 5 arrives from slot 1; slot 1 has nothing else for C, 2 and 4 still serve C: the free
     * slot goes to the least loaded holder of the rarest piece, slot 3 */
    assert_int_equal(sn_sched_report(&t, &c, 5, 1, 1, &lim), 0);
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].src, 3);
    assert_true(out[0].piece <= 4 || out[0].piece >= 8);
    /* off: the rarest pieces from their least loaded holder only */
    struct sn_sched_client d;
    sn_sched_client_init(&t, &d, 1); /* slot 6 */
    lim.is_partners = 0;
    assert_int_equal(sn_sched_pick(&t, &d, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].src, 3);
    sn_sched_client_cleanup(&c, &t);
    sn_sched_client_cleanup(&d, &t);
    for (int i = 0; i < 5; i++)
        sn_sched_client_cleanup(&h[i], &t);
    sn_sched_task_cleanup(&t);
}

/* A client with nothing running may use a holder one upload over the up-limit; source choice
 * reads a bounded sample of a long holder list: least loaded among those examined, never the
 * supernode while holders exist, and not always the same holders. */
static void test_starve_extra_and_sampling(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client hc, d[3];
    struct sn_sched_pick out[8];
    struct sn_sched_limits lim = lim_default();
    uint64_t rng = 7;
    size_t n;
    lim.up_limit = 1;
    lim.down_limit = 2;
    assert_int_equal(lim.starve_up_extra, 1);
    task_full(&t, 2, 1);
    sn_sched_client_init(&t, &hc, 1);
    hold(&t, &hc, 0, 2);
    for (int i = 0; i < 3; i++)
        sn_sched_client_init(&t, &d[i], 1);
    /* d0, d1 have nothing running: one piece each from H (load 1, then 2 = limit + 1); their
     * second piece would need H under the plain limit */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sn_sched_pick(&t, &d[i], &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
        assert_int_equal(n, 1);
        assert_int_equal(out[0].src, hc.idx);
        assert_int_equal(hc.up_load, (uint32_t)i + 1);
    }
    /* d2: H is at limit + 1, and a holder exists so not the supernode either */
    assert_int_equal(sn_sched_pick(&t, &d[2], &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(sn_sched_report(&t, &d[0], 0, 1, hc.idx, &lim), 0);
    assert_int_equal(sn_sched_report(&t, &d[0], 1, 1, hc.idx, &lim), 0);
    assert_int_equal(hc.up_load, 1);
    lim.starve_up_extra = 0; /* without the extra slot: H is full for d2 */
    assert_int_equal(sn_sched_pick(&t, &d[2], &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    lim.starve_up_extra = 1;
    assert_int_equal(sn_sched_pick(&t, &d[2], &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(out[0].src, hc.idx);
    sn_sched_client_cleanup(&hc, &t);
    for (int i = 0; i < 3; i++)
        sn_sched_client_cleanup(&d[i], &t);
    sn_sched_task_cleanup(&t);

    /* 100 holders of one piece, one downloader */
    enum { NH = 100 };
    static struct sn_sched_client h[NH];
    struct sn_sched_client dl;
    lim = lim_default();
    lim.running_timeout_ms = 1;
    task_full(&t, 1, 1);
    for (int i = 0; i < NH; i++) {
        sn_sched_client_init(&t, &h[i], 1);
        hold(&t, &h[i], 0, 1);
    }
    sn_sched_client_init(&t, &dl, 1);
    assert_int_equal(t.hl[0].n, NH);
    assert_true(t.hl[0].cap <= 2 * NH);
    assert_true(sn_sched_task_bytes(&t) <= 24 + 8 * 2 * NH + 8 * t.nslots + 8);
    /* every holder full (limit + the extra slot): the sample sees only full holders, the
     * piece waits; the supernode is not used (holders exist) */
    for (int i = 0; i < NH; i++)
        h[i].up_load = (uint32_t)(lim.up_limit + lim.starve_up_extra);
    assert_int_equal(sn_sched_pick(&t, &dl, &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(t.cdn_load, 0);
    /* loads 0, 1, 2, 0, 1, 2, …: any 16 consecutive holders include a load 0 one, so the
     * least loaded among those examined has load 0; over many pulls (entries expire at once)
     * more holders than one sample are used */
    int used[NH] = {0}, nused = 0;
    for (int64_t now = 10; now < 10 + 2 * 200; now += 2) {
        for (int i = 0; i < NH; i++)
            h[i].up_load = (uint32_t)(i % 3);
        assert_int_equal(sn_sched_pick(&t, &dl, &lim, now, &rng, out, 1, &n), SN_SCHED_CONTINUE);
        assert_int_equal(n, 1);
        int j = -1;
        for (int i = 0; i < NH; i++)
            if (h[i].idx == out[0].src)
                j = i;
        assert_true(j >= 0);
        assert_int_equal(j % 3, 0);
        nused += !used[j];
        used[j] = 1;
    }
    assert_true(nused > SN_SCHED_SAMPLE);
    for (int i = 0; i < NH; i++)
        h[i].up_load = 0;
    /* a leaving holder leaves the list; its slot, reused, is listed once */
    sn_sched_client_cleanup(&h[5], &t);
    assert_int_equal(t.hl[0].n, NH - 1);
    sn_sched_client_init(&t, &h[5], 1);
    hold(&t, &h[5], 0, 1);
    hold(&t, &h[5], 0, 1);
    assert_int_equal(t.hl[0].n, NH);
    for (int i = 0; i < NH; i++)
        sn_sched_client_cleanup(&h[i], &t);
    sn_sched_client_cleanup(&dl, &t);
    assert_int_equal(t.hl[0].n, 0);
    sn_sched_task_cleanup(&t);
}

static void test_finish_and_wait(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client c;
    struct sn_sched_pick out[8];
    struct sn_sched_limits lim = lim_default();
    uint64_t rng = 1;
    size_t n;
    sn_sched_task_init(&t, 3);
    sn_sched_client_init(&t, &c, 0);
    t.cdn_state = SN_SCHED_CDN_RUNNING;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(n, 0);
    assert_int_equal(sn_sched_cdn_add(&t, 1), 0);
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].piece, 1);
    assert_int_equal(out[0].src, SN_SCHED_SRC_CDN);
    /* running: not handed out twice */
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(sn_sched_cdn_add(&t, 0), 0);
    assert_int_equal(sn_sched_cdn_add(&t, 2), 0);
    assert_int_equal(sn_sched_cdn_add(&t, 3), -ERANGE);
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 2); /* 0 and 2 are both at distance 1 from the running piece 1 */
    assert_true((out[0].piece == 0 && out[1].piece == 2) || (out[0].piece == 2 && out[1].piece == 0));
    assert_int_equal(t.cdn_load, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(sn_sched_report(&t, &c, i, 1, SN_SCHED_SRC_CDN, &lim), 0);
    assert_int_equal(t.cdn_load, 0);
    /* all done but the CDN still runs: wait, not finish */
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    t.cdn_state = SN_SCHED_CDN_DONE;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_FINISH);
    assert_int_equal(sn_sched_report(&t, &c, 3, 1, SN_SCHED_SRC_CDN, &lim), -ERANGE);
    /* has_final alone (a repaired CDN copy is being fetched again) also finishes */
    t.cdn_state = SN_SCHED_CDN_RUNNING;
    t.has_final = 1;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 0, &rng, out, 8, &n), SN_SCHED_FINISH);
    sn_sched_client_cleanup(&c, &t);
    sn_sched_task_cleanup(&t);
}

static void test_limit_failure_and_timeout(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client c;
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    struct sn_sched_limits lim = lim_default();
    uint64_t rng = 2;
    size_t n;
    task_full(&t, 10, 1);
    sn_sched_client_init(&t, &c, 0);
    lim.running_timeout_ms = 0;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 100, &rng, out, SN_SCHED_MAX_DOWN, &n),
                     SN_SCHED_CONTINUE);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) /* no running centre yet: nearest to the first missing */
        assert_true(out[i].piece < 4);
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 100, &rng, out, SN_SCHED_MAX_DOWN, &n),
                     SN_SCHED_LIMITED);
    /* failure from the supernode: schedulable again, not a client error */
    assert_int_equal(sn_sched_report(&t, &c, 2, 0, SN_SCHED_SRC_CDN, &lim), 0);
    assert_int_equal(c.fail_count, 0);
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 100, &rng, out, 1, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].piece, 2);
    /* stale running entries expire and release the supernode's load */
    assert_int_equal(t.cdn_load, 4);
    lim.running_timeout_ms = 1000;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 100 + 5000, &rng, out, SN_SCHED_MAX_DOWN, &n),
                     SN_SCHED_CONTINUE);
    assert_int_equal(n, 4);
    assert_int_equal(t.cdn_load, 4);
    /* down_limit is clipped to [1, MAX] */
    lim.down_limit = 0;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 5100, &rng, out, SN_SCHED_MAX_DOWN, &n),
                     SN_SCHED_LIMITED);
    lim.down_limit = 1000;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 5100, &rng, out, SN_SCHED_MAX_DOWN, &n),
                     SN_SCHED_CONTINUE);
    assert_int_equal(c.nrunning, 8); /* the supernode budget (8) caps it, not down_limit */
    /* CDN failed and nothing else to get → FAILED */
    t.cdn_state = SN_SCHED_CDN_FAILED;
    t.has_final = 0;
    assert_int_equal(sn_sched_pick(&t, &c, &lim, 5100, &rng, out, 8, &n), SN_SCHED_FAILED);
    sn_sched_client_cleanup(&c, &t);
    assert_int_equal(t.cdn_load, 0);
    sn_sched_task_cleanup(&t);
}

static void test_unknown_total_and_holders(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client a, b, z;
    struct sn_sched_pick out[8];
    struct sn_sched_limits lim = lim_default();
    uint64_t rng = 3;
    size_t n;
    sn_sched_task_init(&t, 0);
    sn_sched_client_init(&t, &a, 1);
    sn_sched_client_init(&t, &b, 1);
    sn_sched_client_init(&t, &z, 0); /* cdn pattern: port 0 */
    t.cdn_state = SN_SCHED_CDN_RUNNING;
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(sn_sched_cdn_add(&t, i), 0);
    assert_true(t.cdn.nbits >= 100);
    assert_int_equal(sn_sched_report(&t, &a, 150, 1, SN_SCHED_SRC_CDN, &lim), -ERANGE);
    assert_int_equal(sn_sched_holder_add(&t, &a, 5), 0);
    assert_int_equal(sn_sched_holder_add(&t, &a, 5), 0); /* idempotent */
    assert_int_equal(sn_sched_holder_add(&t, &b, 5), 0);
    assert_int_equal(sn_sched_holder_add(&t, &z, 5), 0); /* holds it, but never a source */
    assert_int_equal(t.pc[5].holders, 2);
    assert_true(df_bitmap_test(&z.have, 5) && df_bitmap_test(&z.done, 5));
    /* piece/suc of a piece that runs closes the running entry (old dfgets fold 503s) */
    assert_int_equal(sn_sched_pick(&t, &z, &lim, 0, &rng, out, 1, &n), SN_SCHED_CONTINUE);
    uint32_t p = out[0].piece;
    assert_int_equal(t.pc[p].inflight, 1);
    assert_int_equal(sn_sched_holder_add(&t, &z, p), 0);
    assert_int_equal(z.nrunning, 0);
    assert_int_equal(t.pc[p].inflight, 0);
    assert_int_equal(t.cdn_load, 0);
    sn_sched_client_cleanup(&a, &t);
    assert_int_equal(t.pc[5].holders, 1);
    sn_sched_task_set_total(&t, 100);
    t.cdn_state = SN_SCHED_CDN_DONE;
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(sn_sched_report(&t, &b, i, 1, SN_SCHED_SRC_CDN, &lim), 0);
    assert_int_equal(sn_sched_pick(&t, &b, &lim, 0, &rng, out, 8, &n), SN_SCHED_FINISH);
    /* a CDN restart from 0 (origin changed) forgets every holding */
    sn_sched_task_reset(&t, 100);
    assert_int_equal(t.pc[5].holders, 0);
    assert_int_equal(b.have.count, 0);
    sn_sched_client_cleanup(&b, &t);
    sn_sched_client_cleanup(&z, &t);
    sn_sched_task_cleanup(&t);
}

/* Holdings for the order/source tests: A {0..3}, B {0,1}, C {0}; pieces 4..7 only on the CDN. */
struct swarm {
    struct sn_sched_task t;
    struct sn_sched_client a, b, c, x, y, zz;
};

static void swarm_init(struct swarm *s)
{
    task_full(&s->t, 8, 1);
    sn_sched_client_init(&s->t, &s->a, 1);
    sn_sched_client_init(&s->t, &s->b, 1);
    sn_sched_client_init(&s->t, &s->c, 1);
    sn_sched_client_init(&s->t, &s->x, 1);
    sn_sched_client_init(&s->t, &s->y, 1);
    sn_sched_client_init(&s->t, &s->zz, 1);
    hold(&s->t, &s->a, 0, 4);
    hold(&s->t, &s->b, 0, 2);
    hold(&s->t, &s->c, 0, 1);
}

static void swarm_cleanup(struct swarm *s)
{
    struct sn_sched_client *all[] = {&s->a, &s->b, &s->c, &s->x, &s->y, &s->zz};
    for (size_t i = 0; i < 6; i++)
        sn_sched_client_cleanup(all[i], &s->t);
    assert_int_equal(s->t.nclients, 0);
    assert_int_equal(s->t.cdn_load, 0);
    for (uint32_t i = 0; i < 8; i++)
        assert_int_equal(s->t.pc[i].holders + s->t.pc[i].inflight + s->t.pc[i].cdn_inflight, 0);
    sn_sched_task_cleanup(&s->t);
}

static void test_rarest_first_order(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    lim.is_inflight_half = 0;
    uint64_t rng = 4;
    uint32_t cand[16];
    swarm_init(&s);
    assert_int_equal(s.t.pc[0].holders, 3);
    assert_int_equal(s.t.pc[1].holders, 2);
    /* rarity 0: 4,5,6,7 (by distance from piece 0), then 2,3 (1 holder), 1 (2), 0 (3) */
    assert_int_equal(sn_sched_order(&s.t, &s.x, &lim, &rng, cand, 16), 8);
    static const uint32_t want[] = {4, 5, 6, 7, 2, 3, 1, 0};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(cand[i], want[i]);
    assert_int_equal(sn_sched_order(&s.t, &s.x, &lim, &rng, cand, 3), 3); /* capacity */
    /* an in-order (streaming) client: its first two missing pieces, 0 and 1, come first in
     * stream order although three and two peers hold them; then rarest first as before */
    s.x.is_in_order = 1;
    assert_int_equal(sn_sched_order(&s.t, &s.x, &lim, &rng, cand, 16), 8);
    static const uint32_t want_stream[] = {0, 1, 4, 5, 6, 7, 2, 3};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(cand[i], want_stream[i]);
    s.x.is_in_order = 0;
    /* done pieces are not candidates; port-0 holders do not count as holders */
    assert_int_equal(sn_sched_order(&s.t, &s.a, &lim, &rng, cand, 16), 4);
    sn_sched_client_set_source(&s.t, &s.a, 0);
    assert_int_equal(s.t.pc[0].holders, 2);
    assert_int_equal(s.t.pc[3].holders, 0);
    sn_sched_client_set_source(&s.t, &s.a, 1);
    assert_int_equal(s.t.pc[3].holders, 1);

    /* ties: with piece 5 running for Y, pieces 4 and 6 are both at distance 1: random order,
     * both before 7 (distance 2); over many draws both orders appear */
    struct sn_sched_pick out[1];
    size_t n;
    lim.down_limit = 1;
    assert_int_equal(s.y.nrunning, 0);
    s.y.running[0] = (struct sn_sched_running){.piece = 5, .src = SN_SCHED_SRC_NONE, .is_released = 1};
    s.y.nrunning = 1;
    int seen4 = 0, seen6 = 0;
    for (int i = 0; i < 64; i++) {
        assert_int_equal(sn_sched_order(&s.t, &s.y, &lim, &rng, cand, 16), 7);
        assert_true((cand[0] == 4 && cand[1] == 6) || (cand[0] == 6 && cand[1] == 4));
        assert_int_equal(cand[2], 7);
        seen4 += cand[0] == 4;
        seen6 += cand[0] == 6;
    }
    assert_true(seen4 > 8 && seen6 > 8);
    s.y.nrunning = 0;
    (void)out;
    (void)n;

    /* half holders: a piece in flight to another client ranks after one nobody fetches */
    lim.is_inflight_half = 1;
    s.t.pc[4].inflight = 1;
    assert_int_equal(sn_sched_order(&s.t, &s.x, &lim, &rng, cand, 16), 8);
    static const uint32_t want_half[] = {5, 6, 7, 4, 2, 3, 1, 0};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(cand[i], want_half[i]);
    s.t.pc[4].inflight = 0;
    swarm_cleanup(&s);
}

static void test_sources_loads_and_once(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 5;
    size_t n;
    swarm_init(&s);
    /* X: the four pieces nobody holds, from the supernode */
    assert_int_equal(sn_sched_pick(&s.t, &s.x, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(out[i].piece, 4 + i);
        assert_int_equal(out[i].src, SN_SCHED_SRC_CDN);
        assert_int_equal(s.t.pc[4 + i].cdn_sent, 1);
    }
    /* Y: 4..7 are in flight from the supernode → not again; 2, 3 from A (only holder), then
     * the least loaded holder: 1 from B (A has 2), 0 from C */
    assert_int_equal(sn_sched_pick(&s.t, &s.y, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 4);
    assert_int_equal(out[0].piece, 2);
    assert_int_equal(out[0].src, s.a.idx);
    assert_int_equal(out[1].piece, 3);
    assert_int_equal(out[1].src, s.a.idx);
    assert_int_equal(out[2].piece, 1);
    assert_int_equal(out[2].src, s.b.idx);
    assert_int_equal(out[3].piece, 0);
    assert_int_equal(out[3].src, s.c.idx);
    assert_int_equal(s.a.up_load, 2);
    assert_int_equal(s.t.cdn_load, 4);
    assert_int_equal(s.t.n_cdn_picks, 4);
    assert_int_equal(s.t.n_peer_picks, 4);
    /* ZZ with up-limit 2: A and B are full (2, 1+1 after this), so only what C can give, and
     * nothing from the supernode (4..7 in flight, 0..3 held): the up-limit is never exceeded
     * (the starving client's extra slot is tested in test_starve_extra_and_sampling) */
    lim.up_limit = 2;
    lim.starve_up_extra = 0;
    assert_int_equal(sn_sched_pick(&s.t, &s.zz, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    for (size_t i = 0; i < n; i++)
        assert_true(out[i].src >= 0 && out[i].src != s.a.idx);
    assert_true(s.a.up_load <= 2 && s.b.up_load <= 2 && s.c.up_load <= 2);
    assert_int_equal(s.t.cdn_load, 4);
    size_t zz_n = n;
    assert_int_equal(zz_n, 2); /* 1 from B, 0 from C */
    /* reports release loads (and the dstCid of a stale report does not close another entry) */
    assert_int_equal(sn_sched_report(&s.t, &s.y, 2, 1, s.b.idx, &lim), 0); /* stale: A runs it */
    assert_int_equal(s.a.up_load, 2);
    assert_int_equal(s.y.nrunning, 4);
    assert_true(df_bitmap_test(&s.y.done, 2)); /* a success still counts */
    assert_int_equal(sn_sched_report(&s.t, &s.y, 2, 1, s.a.idx, &lim), 0);
    assert_int_equal(s.a.up_load, 1);
    assert_int_equal(s.y.nrunning, 3);
    /* X finishes 4 and announces it: Y may now get it, from X, not from the supernode */
    assert_int_equal(sn_sched_holder_add(&s.t, &s.x, 4), 0);
    assert_int_equal(sn_sched_report(&s.t, &s.x, 4, 1, SN_SCHED_SRC_CDN, &lim), 0);
    assert_int_equal(s.t.cdn_load, 3);
    assert_int_equal(sn_sched_pick(&s.t, &s.y, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].piece, 4);
    assert_int_equal(out[0].src, s.x.idx);
    assert_int_equal(s.t.pc[4].cdn_sent, 1);
    /* the supernode budget: with cdn_up_limit 3 nobody gets more from it */
    lim.cdn_up_limit = 3;
    lim.up_limit = 8;
    sn_sched_client_cleanup(&s.zz, &s.t);
    sn_sched_client_init(&s.t, &s.zz, 1);
    s.t.pc[5].cdn_inflight = 0; /* pretend 5 is not in flight: still no budget left */
    assert_int_equal(sn_sched_pick(&s.t, &s.zz, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(out[i].src, SN_SCHED_SRC_CDN);
    s.t.pc[5].cdn_inflight = 1;
    swarm_cleanup(&s);
}

static void test_blacklist_and_failure_limit(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 6;
    size_t n;
    swarm_init(&s);
    lim.down_limit = 1;
    /* Y gets 4 from the supernode first; give 4..7 to B so that every piece has a holder */
    hold(&s.t, &s.b, 4, 8);
    /* Y: rarest is 2 or 3 (A only) */
    assert_int_equal(sn_sched_pick(&s.t, &s.y, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(out[0].src, s.a.idx);
    uint32_t p = out[0].piece;
    assert_true(p == 2 || p == 3);
    assert_int_equal(sn_sched_report(&s.t, &s.y, p, 0, s.a.idx, &lim), 0);
    assert_true(df_bitmap_test(&s.y.blacklist, (uint32_t)s.a.idx));
    assert_int_equal(s.y.fail_count, 1);
    assert_int_equal(s.a.service_errors, 1);
    assert_int_equal(s.a.up_load, 0);
    /* the same report repeated (dfget repeats its last pull while it waits): not counted */
    assert_int_equal(sn_sched_report(&s.t, &s.y, p, 0, s.a.idx, &lim), 0);
    assert_int_equal(s.y.fail_count, 1);
    assert_int_equal(s.a.service_errors, 1);
    /* Y never gets anything from A again; 2 and 3 have no other holder → the supernode */
    lim.down_limit = 8;
    assert_int_equal(sn_sched_pick(&s.t, &s.y, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    int got2 = 0, got3 = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_not_equal(out[i].src, s.a.idx);
        if (out[i].piece == 2 || out[i].piece == 3) {
            assert_int_equal(out[i].src, SN_SCHED_SRC_CDN);
            got2 += out[i].piece == 2;
            got3 += out[i].piece == 3;
        }
    }
    assert_int_equal(got2 + got3, 2);
    /* X still uses A */
    assert_int_equal(sn_sched_pick(&s.t, &s.x, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    int from_a = 0;
    for (size_t i = 0; i < n; i++)
        from_a += out[i].src == s.a.idx;
    assert_true(from_a > 0);
    /* ZZ fails 6 times (different sources, each counted once): > 5 → supernode only */
    struct sn_sched_client *srcs[] = {&s.b, &s.c, &s.x, &s.y};
    lim.elim_errors = 100; /* keep everyone eligible for this part */
    for (int i = 0; i < 6; i++) {
        struct sn_sched_client *src = srcs[i % 4];
        uint32_t piece = (uint32_t)i;
        s.zz.running[s.zz.nrunning++] =
            (struct sn_sched_running){.piece = piece, .src = src->idx, .since_ms = 0};
        s.t.pc[piece].inflight++;
        src->up_load++;
        assert_int_equal(sn_sched_report(&s.t, &s.zz, piece, 0, src->idx, &lim), 0);
    }
    assert_int_equal(s.zz.fail_count, 6);
    assert_int_equal(sn_sched_pick(&s.t, &s.zz, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].src, SN_SCHED_SRC_CDN); /* although peers hold them all */
    swarm_cleanup(&s);
}

static void fail_from(struct sn_sched_task *t, struct sn_sched_client *c,
                      struct sn_sched_client *src, uint32_t piece,
                      const struct sn_sched_limits *lim)
{
    c->running[c->nrunning++] =
        (struct sn_sched_running){.piece = piece, .src = src->idx, .since_ms = 0};
    t->pc[piece].inflight++;
    src->up_load++;
    assert_int_equal(sn_sched_report(t, c, piece, 0, src->idx, lim), 0);
}

/* An uploader that keeps serving others is busy, not bad: failures (e.g. connects that
 * timed out behind congested queues) blacklist pairs but do not eliminate it, unless it also
 * sent a corrupt piece. */
static void test_busy_is_not_bad(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    swarm_init(&s);
    fail_from(&s.t, &s.x, &s.a, 0, &lim);
    /* A serves ZZ piece 1 fine (via the report) and piece 2 (via piece/suc) */
    s.zz.running[s.zz.nrunning++] = (struct sn_sched_running){.piece = 1, .src = s.a.idx};
    s.a.up_load++;
    assert_int_equal(sn_sched_report(&s.t, &s.zz, 1, 1, s.a.idx, &lim), 0);
    s.zz.running[s.zz.nrunning++] = (struct sn_sched_running){.piece = 2, .src = s.a.idx};
    s.a.up_load++;
    assert_int_equal(sn_sched_holder_add(&s.t, &s.zz, 2), 0);
    assert_int_equal(s.a.serves_ok, 2);
    fail_from(&s.t, &s.x, &s.a, 1, &lim);
    fail_from(&s.t, &s.y, &s.a, 2, &lim);
    fail_from(&s.t, &s.y, &s.a, 3, &lim);
    assert_int_equal(s.a.service_errors, 4);
    assert_false(s.a.is_eliminated);          /* 4 failures, 2 clients, but it serves */
    assert_true(df_bitmap_test(&s.x.blacklist, (uint32_t)s.a.idx)); /* pairs stay apart */
    assert_true(df_bitmap_test(&s.y.blacklist, (uint32_t)s.a.idx));
    /* ZZ got 2 pieces from peers; the failure limit needs more failures than that too */
    assert_int_equal(s.zz.peer_ok, 2);
    s.zz.fail_count = lim.failure_limit + 1;
    s.zz.peer_ok = lim.failure_limit + 1;
    assert_false(sn_sched_client_is_cdn_only(&s.zz, &lim));
    s.zz.peer_ok = lim.failure_limit;
    assert_true(sn_sched_client_is_cdn_only(&s.zz, &lim));
    s.zz.fail_count = 0;
    /* a client reports a corrupt piece from A: now its failures count */
    sn_sched_uploader_corrupt(&s.t, &s.a, &lim);
    assert_true(s.a.is_eliminated);
    assert_int_equal(s.t.n_eliminated, 1);
    swarm_cleanup(&s);
}

static void test_elimination(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 7;
    size_t n;
    swarm_init(&s);
    /* 3 failures from one client: blacklisted there, not eliminated */
    fail_from(&s.t, &s.x, &s.a, 0, &lim);
    fail_from(&s.t, &s.x, &s.a, 1, &lim);
    fail_from(&s.t, &s.x, &s.a, 2, &lim);
    assert_int_equal(s.a.service_errors, 3);
    assert_false(s.a.is_eliminated);
    assert_int_equal(s.t.pc[3].holders, 1);
    /* a second client fails with it too: eliminated for everyone */
    s.a.up_load = 1; /* it is serving ZZ piece 3 right now */
    s.zz.running[s.zz.nrunning++] =
        (struct sn_sched_running){.piece = 3, .src = s.a.idx, .since_ms = 0};
    s.t.pc[3].inflight++;
    fail_from(&s.t, &s.y, &s.a, 3, &lim);
    assert_true(s.a.is_eliminated);
    assert_int_equal(s.t.n_eliminated, 1);
    assert_int_equal(s.t.pc[3].holders, 0);
    assert_int_equal(s.t.pc[0].holders, 2);
    assert_int_equal(s.a.up_load, 0);           /* its running upload is forgotten */
    assert_true(s.zz.running[0].is_released);
    assert_int_equal(s.t.pc[3].inflight, 0);
    /* ZZ's report of the upload that was running: not counted (A is already out) */
    assert_int_equal(sn_sched_report(&s.t, &s.zz, 3, 0, s.a.idx, &lim), 0);
    assert_int_equal(s.zz.fail_count, 0);
    assert_int_equal(s.a.service_errors, 4 - 0 - 0 + 0); /* 4 from X×3 and Y×1 */
    /* nobody is sent to A any more: 2 and 3 now come from the supernode */
    assert_int_equal(sn_sched_pick(&s.t, &s.zz, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(out[i].src, s.a.idx);
    /* a re-registration does not bring an eliminated uploader back */
    sn_sched_client_set_source(&s.t, &s.a, 1);
    assert_true(s.a.is_eliminated);
    assert_int_equal(s.t.pc[3].holders, 0);
    swarm_cleanup(&s);
}

static void test_service_down(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 8;
    size_t n;
    swarm_init(&s);
    assert_int_equal(sn_sched_pick(&s.t, &s.x, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(sn_sched_pick(&s.t, &s.y, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(s.a.up_load, 2); /* Y: 2 and 3 from A (4..7 run from the supernode) */
    sn_sched_peer_down(&s.t, &s.a);
    assert_true(s.a.is_down);
    assert_int_equal(s.a.up_load, 0);
    assert_int_equal(s.t.pc[2].holders, 0);
    assert_int_equal(s.t.pc[3].holders, 0);
    assert_int_equal(s.t.pc[0].holders, 2);
    /* Y's pieces from A fail: not Y's fault, not counted, and Y's other pieces keep going */
    for (uint32_t p = 2; p <= 3; p++)
        assert_int_equal(sn_sched_report(&s.t, &s.y, p, 0, s.a.idx, &lim), 0);
    assert_int_equal(s.y.fail_count, 0);
    assert_int_equal(s.a.service_errors, 0);
    /* nobody is ever given A again */
    for (int round = 0; round < 20; round++) {
        assert_int_equal(sn_sched_pick(&s.t, &s.zz, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
        for (size_t i = 0; i < n; i++) {
            assert_int_not_equal(out[i].src, s.a.idx);
            assert_int_equal(sn_sched_report(&s.t, &s.zz, out[i].piece, 0, out[i].src, &lim), 0);
        }
        lim.elim_errors = 1000;
    }
    /* it registers again: a source again */
    sn_sched_client_set_source(&s.t, &s.a, 1);
    assert_false(s.a.is_down);
    assert_int_equal(s.t.pc[3].holders, 1);
    swarm_cleanup(&s);
}

static void test_stall_rule(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client x, y;
    struct sn_sched_limits lim = lim_default();
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 9;
    size_t n;
    task_full(&t, 4, 1);
    sn_sched_client_init(&t, &x, 1);
    sn_sched_client_init(&t, &y, 1);
    assert_int_equal(sn_sched_pick(&t, &x, &lim, 1000, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 4); /* everything in flight from the supernode to X */
    assert_int_equal(sn_sched_pick(&t, &y, &lim, 1000, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(sn_sched_pick(&t, &y, &lim, 1000 + lim.stall_ms - 1, &rng, out, 8, &n),
                     SN_SCHED_WAIT);
    assert_int_equal(sn_sched_pick(&t, &y, &lim, 1000 + lim.stall_ms, &rng, out, 8, &n),
                     SN_SCHED_CONTINUE);
    assert_int_equal(n, 1); /* bounded: one piece */
    assert_int_equal(out[0].src, SN_SCHED_SRC_CDN);
    assert_int_equal(t.n_stall_picks, 1);
    assert_int_equal(t.pc[out[0].piece].cdn_sent, 2);
    /* while it runs, no more duplicates */
    assert_int_equal(sn_sched_pick(&t, &y, &lim, 100000, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(t.n_stall_picks, 1);
    sn_sched_client_cleanup(&x, &t);
    sn_sched_client_cleanup(&y, &t);
    sn_sched_task_cleanup(&t);
}

static void test_cdn_spread(void **state)
{
    (void)state;
    struct sn_sched_task t;
    struct sn_sched_client c[4];
    struct sn_sched_limits lim;
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 12;
    size_t n;
    sn_sched_limits_default(&lim);
    assert_true(lim.is_cdn_spread);
    lim.cdn_up_limit = 6;
    task_full(&t, 40, 1);
    for (int i = 0; i < 4; i++)
        sn_sched_client_init(&t, &c[i], 1);
    /* 4 clients, budget 6: at most ceil(6/4) = 2 supernode pieces each at a time */
    assert_int_equal(sn_sched_pick(&t, &c[0], &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 2);
    assert_int_equal(sn_sched_pick(&t, &c[0], &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    for (int i = 1; i < 3; i++)
        assert_int_equal(sn_sched_pick(&t, &c[i], &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(t.cdn_load, 6); /* the budget: the last client gets none */
    assert_int_equal(sn_sched_pick(&t, &c[3], &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(c[3].nrunning, 0);
    /* a lone client gets the whole budget */
    for (int i = 1; i < 4; i++)
        sn_sched_client_cleanup(&c[i], &t);
    lim.down_limit = 8;
    assert_int_equal(sn_sched_pick(&t, &c[0], &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(c[0].nrunning, 6);
    /* two clients, budget 8: the share ceil(8/2) = 4 is cut to half of the 5 slots, rounded
     * up, so 2 slots stay free for pieces from the other client */
    sn_sched_client_cleanup(&c[0], &t);
    assert_int_equal(t.cdn_load, 0);
    lim.cdn_up_limit = 8;
    lim.down_limit = 5;
    for (int i = 0; i < 2; i++)
        sn_sched_client_init(&t, &c[i], 1);
    assert_int_equal(sn_sched_pick(&t, &c[0], &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 3);
    assert_int_equal(sn_sched_pick(&t, &c[0], &lim, 0, &rng, out, 8, &n), SN_SCHED_WAIT);
    assert_int_equal(sn_sched_pick(&t, &c[1], &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 3);
    for (int i = 0; i < 2; i++)
        sn_sched_client_cleanup(&c[i], &t);
    assert_int_equal(t.cdn_load, 0);
    sn_sched_task_cleanup(&t);
}

static void test_cdn_drop_and_failed_cdn(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 10;
    size_t n;
    uint32_t cand[16];
    swarm_init(&s);
    sn_sched_cdn_drop(&s.t, UINT32_MAX); /* the supernode's copy is bad */
    s.t.cdn_state = SN_SCHED_CDN_FAILED;  /* and fetching it again failed */
    /* peers still serve 0..3 */
    assert_int_equal(sn_sched_order(&s.t, &s.x, &lim, &rng, cand, 16), 4);
    assert_int_equal(sn_sched_pick(&s.t, &s.x, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_true(out[i].src >= 0);
        assert_int_equal(sn_sched_report(&s.t, &s.x, out[i].piece, 1, out[i].src, &lim), 0);
    }
    /* 4..7 nobody has: the CDN failure is now the answer */
    assert_int_equal(sn_sched_pick(&s.t, &s.x, &lim, 0, &rng, out, 8, &n), SN_SCHED_FAILED);
    swarm_cleanup(&s);
}

static void test_slot_reuse_and_memory(void **state)
{
    (void)state;
    struct swarm s;
    struct sn_sched_limits lim = lim_default();
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    uint64_t rng = 11;
    size_t n;
    swarm_init(&s);
    assert_int_equal(sn_sched_pick(&s.t, &s.y, &lim, 0, &rng, out, 8, &n), SN_SCHED_CONTINUE);
    fail_from(&s.t, &s.x, &s.c, 0, &lim);
    assert_true(df_bitmap_test(&s.x.blacklist, (uint32_t)s.c.idx));
    int32_t c_idx = s.c.idx;
    sn_sched_client_cleanup(&s.a, &s.t); /* A leaves while serving Y */
    sn_sched_client_cleanup(&s.c, &s.t);
    assert_int_equal(s.t.pc[3].holders, 0);
    assert_false(df_bitmap_test(&s.x.blacklist, (uint32_t)c_idx));
    for (uint32_t k = 0; k < s.y.nrunning; k++)
        if (s.y.running[k].piece == 2 || s.y.running[k].piece == 3)
            assert_int_equal(s.y.running[k].src, SN_SCHED_SRC_NONE);
    /* a newcomer reuses a freed slot, starts clean */
    sn_sched_client_init(&s.t, &s.c, 1);
    assert_true(s.c.idx == c_idx || s.c.idx < 6);
    assert_false(df_bitmap_test(&s.x.blacklist, (uint32_t)s.c.idx));
    assert_int_equal(s.c.up_load, 0);
    /* Y's reports for pieces whose source left (dstCid now unknown) close the entries */
    while (s.y.nrunning) {
        uint32_t p = s.y.running[0].piece;
        assert_int_equal(sn_sched_report(&s.t, &s.y, p, 1, SN_SCHED_SRC_NONE, &lim), 0);
    }
    sn_sched_client_init(&s.t, &s.a, 1);
    /* memory: 1 GiB of 12 MiB pieces (86), 100 clients → 664 bytes per client */
    struct sn_sched_client m;
    sn_sched_client_init(&s.t, &m, 1);
    assert_int_equal(sn_sched_holder_add(&s.t, &m, 7), 0);
    df_bitmap_resize(&m.done, 86);
    df_bitmap_resize(&m.have, 86);
    df_bitmap_resize(&m.blacklist, 100);
    size_t bytes = sn_sched_client_bytes(&m);
    print_message("bytes per client (86 pieces, 100 clients): %zu (struct %zu)\n", bytes,
                  sizeof(struct sn_sched_client));
    assert_int_equal(bytes, sizeof(struct sn_sched_client) + 8 + 3 * 2 * 8);
    assert_true(bytes <= 700); /* the bound documented in sn_sched.h and scheduling.md */
    sn_sched_client_cleanup(&m, &s.t);
    swarm_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finish_and_wait),
        cmocka_unit_test(test_limit_failure_and_timeout),
        cmocka_unit_test(test_unknown_total_and_holders),
        cmocka_unit_test(test_rarest_first_order),
        cmocka_unit_test(test_sources_loads_and_once),
        cmocka_unit_test(test_blacklist_and_failure_limit),
        cmocka_unit_test(test_elimination),
        cmocka_unit_test(test_busy_is_not_bad),
        cmocka_unit_test(test_service_down),
        cmocka_unit_test(test_stall_rule),
        cmocka_unit_test(test_cdn_spread),
        cmocka_unit_test(test_cdn_drop_and_failed_cdn),
        cmocka_unit_test(test_slot_reuse_and_memory),
        cmocka_unit_test(test_starve_extra_and_sampling),
        cmocka_unit_test(test_partner_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
