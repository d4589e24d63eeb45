/* SPDX-License-Identifier: Apache-2.0 */
/* sn_sched in a small swarm simulation: N clients behaving like dfget (pull after each piece,
 * 602 back-off 50 ms doubling to 1.6 s, piece/suc on completion) against the real scheduler,
 * with a fluid network model (each transfer gets min(sender uplink / its uploads, receiver
 * downlink / its downloads)) and a CDN that receives pieces from the origin at a fixed rate.
 *
 * Checked: everybody completes; the supernode sends each piece exactly once when the stall rule
 * is off, and at most once plus the stall hand-outs when it is on; no peer ever runs more than
 * up_limit + starve_up_extra uploads, the supernode never more than cdn_up_limit; most bytes
 * move peer to peer.
 *
 * DF_SIM_SWEEP=1 prints the parameter sweep used to choose the defaults
 * (docs/internals/scheduling.md): makespan and supernode egress per setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sn_sched.h"

#define SIM_MAXC 16
#define SIM_MAXX (SIM_MAXC * SN_SCHED_MAX_DOWN)
#define MiB (1024.0 * 1024.0)

struct sim_cfg {
    int nclients;
    uint32_t npieces;
    double piece_bytes;
    double peer_up, peer_down, sn_up, origin; /* bytes per second */
    double slow_factor;   /* client 0's downlink is multiplied by this (1 = homogeneous) */
    double stagger_ms;    /* clients start uniformly in [0, stagger_ms) */
    struct sn_sched_limits lim;
    uint64_t seed;
};

struct sim_res {
    int is_all_done;
    double makespan_s, mean_s;
    double mean_fast_s;        /* mean over clients 1..n-1 (client 0 may be the slow one) */
    uint64_t cdn_sends, stall_picks;
    uint32_t max_cdn_sent;     /* hand-outs of the most-sent piece */
    uint32_t max_up_load, max_cdn_load, max_running;
    double peer_bytes, cdn_bytes;
};

struct xfer {
    int client;
    uint32_t piece;
    int32_t src;
    double left;
};

struct sim_client {
    struct sn_sched_client c;
    int64_t start_ms, next_pull_ms, done_ms; /* next_pull_ms < 0: waits for a piece */
    int backoff_ms;
};

static void pull(struct sn_sched_task *t, struct sim_client *cl, int ci,
                 const struct sim_cfg *cfg, int64_t now, uint64_t *rng, struct xfer *xs,
                 int *nx, int inflight_of_client)
{
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    size_t n;
    enum sn_sched_decision d =
        sn_sched_pick(t, &cl->c, &cfg->lim, now, rng, out, SN_SCHED_MAX_DOWN, &n);
    switch (d) {
    case SN_SCHED_FINISH:
        cl->done_ms = now;
        cl->next_pull_ms = -1;
        return;
    case SN_SCHED_CONTINUE:
        for (size_t i = 0; i < n; i++)
            xs[(*nx)++] = (struct xfer){.client = ci, .piece = out[i].piece, .src = out[i].src,
                                        .left = cfg->piece_bytes};
        cl->backoff_ms = 0;
        cl->next_pull_ms = -1; /* dfget pulls again when a piece completes */
        return;
    default:
        cl->backoff_ms = cl->backoff_ms ? (cl->backoff_ms * 2 > 1600 ? 1600 : cl->backoff_ms * 2)
                                        : 50;
        cl->next_pull_ms = now + cl->backoff_ms;
        (void)inflight_of_client;
        return;
    }
}

/* Link of a transfer: uplink of the sender (clients 0..n-1, the supernode n), downlink of the
 * receiver (n+1+client). */
static void fair_share(const struct sim_cfg *cfg, const struct xfer *xs, int nx, double *rate)
{
    int n = cfg->nclients, nl = 2 * n + 1;
    double cap[2 * SIM_MAXC + 1];
    int users[2 * SIM_MAXC + 1];
    static int frozen[SIM_MAXX];
    for (int l = 0; l < nl; l++)
        cap[l] = l < n ? cfg->peer_up : l == n ? cfg->sn_up
                 : cfg->peer_down * (l == n + 1 ? cfg->slow_factor : 1.0);
    for (int k = 0; k < nx; k++)
        frozen[k] = 0;
    for (int left = nx; left > 0;) {
        for (int l = 0; l < nl; l++)
            users[l] = 0;
        for (int k = 0; k < nx; k++) {
            if (frozen[k])
                continue;
            users[xs[k].src == SN_SCHED_SRC_CDN ? n : xs[k].src]++;
            users[n + 1 + xs[k].client]++;
        }
        int bl = -1;
        double best = 0;
        for (int l = 0; l < nl; l++) {
            if (!users[l])
                continue;
            double share = cap[l] / users[l];
            if (bl < 0 || share < best) {
                best = share;
                bl = l;
            }
        }
        for (int k = 0; k < nx; k++) {
            int up = xs[k].src == SN_SCHED_SRC_CDN ? n : xs[k].src, down = n + 1 + xs[k].client;
            if (frozen[k] || (up != bl && down != bl))
                continue;
            frozen[k] = 1;
            rate[k] = best;
            cap[up] -= best;
            cap[down] -= best;
            left--;
        }
    }
}

static void sim_run(const struct sim_cfg *cfg, struct sim_res *res)
{
    memset(res, 0, sizeof(*res));
    struct sn_sched_task t;
    sn_sched_task_init(&t, cfg->npieces);
    t.cdn_state = SN_SCHED_CDN_RUNNING;
    static struct sim_client cl[SIM_MAXC];
    static struct xfer xs[SIM_MAXX];
    int nx = 0;
    uint64_t rng = cfg->seed;
    for (int i = 0; i < cfg->nclients; i++) {
        sn_sched_client_init(&t, &cl[i].c, 1);
        cl[i].start_ms = cfg->stagger_ms > 0 ? (int64_t)(sn_sched_rand(&rng) % (uint64_t)cfg->stagger_ms) : 0;
        cl[i].next_pull_ms = cl[i].start_ms;
        cl[i].done_ms = -1;
        cl[i].backoff_ms = 0;
    }
    uint32_t next_cdn = 0;
    const double dt = 0.001; /* 1 ms steps */
    int64_t now = 0;
    int ndone = 0;
    for (; now < 600000 && ndone < cfg->nclients; now++) {
        while (next_cdn < cfg->npieces &&
               (double)now >= (next_cdn + 1) * cfg->piece_bytes / cfg->origin * 1000.0) {
            assert_int_equal(sn_sched_cdn_add(&t, next_cdn), 0);
            if (++next_cdn == cfg->npieces) {
                t.cdn_state = SN_SCHED_CDN_DONE;
                t.has_final = 1;
            }
        }
        for (int i = 0; i < cfg->nclients; i++) {
            struct sim_client *c = &cl[i];
            if (c->done_ms < 0 && c->next_pull_ms >= 0 && now >= c->next_pull_ms) {
                pull(&t, c, i, cfg, now, &rng, xs, &nx, 0);
                if (c->done_ms >= 0)
                    ndone++;
            }
        }
        /* fluid rates: max-min fair share (progressive filling) of the senders' uplinks and
         * the receivers' downlinks, roughly what TCP flows converge to */
        static double rate[SIM_MAXX];
        fair_share(cfg, xs, nx, rate);
        for (int i = 0; i < cfg->nclients; i++) {
            if (cl[i].c.up_load > res->max_up_load)
                res->max_up_load = cl[i].c.up_load;
            if (cl[i].c.nrunning > res->max_running)
                res->max_running = cl[i].c.nrunning;
        }
        if (t.cdn_load > res->max_cdn_load)
            res->max_cdn_load = t.cdn_load;
        for (int k = 0; k < nx;) {
            struct xfer *x = &xs[k];
            double moved = rate[k] * dt < x->left ? rate[k] * dt : x->left;
            x->left -= moved;
            if (x->src == SN_SCHED_SRC_CDN)
                res->cdn_bytes += moved;
            else
                res->peer_bytes += moved;
            if (x->left > 0.5) {
                k++;
                continue;
            }
            struct sim_client *c = &cl[x->client];
            /* dfget: piece/suc and the 503 report, then a pull right away */
            assert_int_equal(sn_sched_holder_add(&t, &c->c, x->piece), 0);
            assert_int_equal(sn_sched_report(&t, &c->c, x->piece, 1, x->src, &cfg->lim), 0);
            int ci = x->client;
            rate[k] = rate[nx - 1];
            xs[k] = xs[--nx];
            if (c->done_ms < 0) {
                pull(&t, c, ci, cfg, now, &rng, xs, &nx, 0);
                if (c->done_ms >= 0)
                    ndone++;
            }
        }
    }
    res->is_all_done = ndone == cfg->nclients;
    double sum = 0;
    for (int i = 0; i < cfg->nclients; i++) {
        double s = (double)(cl[i].done_ms - cl[i].start_ms) / 1000.0;
        sum += s;
        if ((double)cl[i].done_ms / 1000.0 > res->makespan_s)
            res->makespan_s = (double)cl[i].done_ms / 1000.0;
    }
    res->mean_s = sum / cfg->nclients;
    double first = (double)(cl[0].done_ms - cl[0].start_ms) / 1000.0;
    res->mean_fast_s = cfg->nclients > 1 ? (sum - first) / (cfg->nclients - 1) : sum;
    for (uint32_t p = 0; p < cfg->npieces; p++) {
        res->cdn_sends += t.pc[p].cdn_sent;
        if (t.pc[p].cdn_sent > res->max_cdn_sent)
            res->max_cdn_sent = t.pc[p].cdn_sent;
    }
    res->stall_picks = t.n_stall_picks;
    for (int i = 0; i < cfg->nclients; i++)
        sn_sched_client_cleanup(&cl[i].c, &t);
    assert_int_equal(t.nclients, 0);
    sn_sched_task_cleanup(&t);
}

/* 8 clients, 64 pieces of 4 MiB, 100 MiB/s links, origin 400 MiB/s. */
static void base_cfg(struct sim_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->nclients = 8;
    c->npieces = 64;
    c->piece_bytes = 4 * MiB;
    c->peer_up = c->peer_down = c->sn_up = 100 * MiB;
    c->origin = 400 * MiB;
    c->slow_factor = 1.0;
    sn_sched_limits_default(&c->lim);
    c->seed = 1;
}

static void check_run(const struct sim_cfg *cfg, const struct sim_res *r)
{
    print_message("  makespan %.2f s mean %.2f s supernode %.2fx (sends %llu, stall %llu) "
                  "max up %u cdn %u running %u\n", r->makespan_s, r->mean_s,
                  r->cdn_bytes / (cfg->npieces * cfg->piece_bytes),
                  (unsigned long long)r->cdn_sends, (unsigned long long)r->stall_picks,
                  r->max_up_load, r->max_cdn_load, r->max_running);
    assert_true(r->is_all_done);
    assert_true(r->max_up_load <= (uint32_t)(cfg->lim.up_limit + cfg->lim.starve_up_extra));
    assert_true(r->max_cdn_load <= (uint32_t)cfg->lim.cdn_up_limit);
    assert_true(r->max_running <= (uint32_t)cfg->lim.down_limit);
    /* the supernode sends each piece once, plus the bounded stall hand-outs */
    assert_int_equal(r->cdn_sends, cfg->npieces + r->stall_picks);
}

static void test_sim_once_and_limits(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        struct sim_cfg cfg;
        struct sim_res r;
        base_cfg(&cfg);
        cfg.seed = seed;
        cfg.stagger_ms = (double)(seed % 3) * 500;
        cfg.lim.stall_ms = INT64_MAX / 4; /* stall rule off: strictly once */
        sim_run(&cfg, &r);
        check_run(&cfg, &r);
        assert_int_equal(r.stall_picks, 0);
        assert_int_equal(r.max_cdn_sent, 1);
        /* 8 receivers, the supernode sent 1/8 of all bytes: the rest went peer to peer */
        assert_true(r.peer_bytes >= 0.8 * (r.peer_bytes + r.cdn_bytes));
        /* with the defaults (stall rule on): a handful of duplicates at most */
        sn_sched_limits_default(&cfg.lim);
        sim_run(&cfg, &r);
        check_run(&cfg, &r);
        assert_true(r.cdn_sends <= cfg.npieces + cfg.npieces / 4);
    }
}

static void test_sim_heterogeneous(void **state)
{
    (void)state;
    /* one client with a 10× slower downlink, slow origin, tight limits */
    struct sim_cfg cfg;
    struct sim_res r;
    base_cfg(&cfg);
    cfg.slow_factor = 0.1;
    cfg.origin = 50 * MiB;
    cfg.lim.up_limit = 2;
    cfg.lim.down_limit = 3;
    cfg.lim.cdn_up_limit = 3;
    /* the fast clients are not held back by the slow one for long: their mean is bounded by
     * the origin (64 × 4 MiB at 50 MiB/s ≈ 5.1 s) plus a few pieces; the slow one needs
     * 256 MiB / 10 MiB/s = 25.6 s whatever happens. Averaged over 16 seeds: a single run
     * ranges 5.5–10.5 s with the random tie-breaks (about 1 seed in 8 above 7.1 s, with the
     * exhaustive source choice as with the sampled one), the mean is ~6.4 s. */
    double sum_fast = 0;
    const int seeds = 16;
    for (int s = 1; s <= seeds; s++) {
        cfg.seed = (uint64_t)s;
        sim_run(&cfg, &r);
        check_run(&cfg, &r);
        sum_fast += r.mean_fast_s;
        assert_true(r.makespan_s < 25.6 + 1.0);
    }
    assert_true(sum_fast / seeds < 5.1 + 2.0);
}

/* ---- sweep (DF_SIM_SWEEP=1) ------------------------------------------------------------- */

static int g_spread = 1;

static void sweep_one(const char *label, struct sim_cfg *cfg)
{
    cfg->lim.is_cdn_spread = g_spread;
    double mk = 0, mean = 0, sn = 0, stall = 0;
    const int seeds = 8;
    for (int s = 0; s < seeds; s++) {
        struct sim_res r;
        cfg->seed = 100 + (uint64_t)s;
        sim_run(cfg, &r);
        assert_true(r.is_all_done);
        mk += r.makespan_s;
        mean += r.mean_s;
        sn += r.cdn_bytes / (cfg->npieces * cfg->piece_bytes);
        stall += (double)r.stall_picks;
    }
    printf("%-16s down=%2d up=%2d cdn=%2d half=%d spread=%d stall=%5lld: makespan %6.2f s mean "
           "%6.2f s supernode %.2fx stall-picks %.1f\n", label, cfg->lim.down_limit,
           cfg->lim.up_limit, cfg->lim.cdn_up_limit, cfg->lim.is_inflight_half,
           cfg->lim.is_cdn_spread, (long long)cfg->lim.stall_ms,
           mk / seeds, mean / seeds, sn / seeds, stall / seeds);
}

static void sweep(void)
{
    struct sim_cfg cfg;
    static const int downs[] = {1, 2, 3, 4, 6, 8};
    static const int ups[] = {1, 2, 3, 4, 5, 8};
    static const int cdns[] = {1, 2, 3, 4, 6, 8, 16};
    printf("lower bound: the supernode sends 256 MiB once at 100 MiB/s = 2.56 s\n");
    for (int nc = 6; nc <= 8; nc += 2) {
        char label[64];
        for (size_t a = 0; a < sizeof(downs) / sizeof(downs[0]); a++) {
            for (size_t b = 0; b < sizeof(ups) / sizeof(ups[0]); b++) {
                base_cfg(&cfg);
                cfg.nclients = nc;
                cfg.lim.down_limit = downs[a];
                cfg.lim.up_limit = ups[b];
                snprintf(label, sizeof(label), "n=%d", nc);
                sweep_one(label, &cfg);
            }
        }
        for (size_t c = 0; c < sizeof(cdns) / sizeof(cdns[0]); c++) {
            base_cfg(&cfg);
            cfg.nclients = nc;
            cfg.lim.cdn_up_limit = cdns[c];
            snprintf(label, sizeof(label), "n=%d cdn", nc);
            sweep_one(label, &cfg);
        }
        for (int half = 0; half <= 1; half++) {
            for (int slow = 0; slow <= 1; slow++) {
                base_cfg(&cfg);
                cfg.nclients = nc;
                cfg.lim.is_inflight_half = half;
                cfg.slow_factor = slow ? 0.2 : 1.0;
                cfg.stagger_ms = slow ? 0 : 1000;
                snprintf(label, sizeof(label), "n=%d %s", nc, slow ? "slow0" : "stagger1s");
                sweep_one(label, &cfg);
            }
        }
        for (int64_t st = 250; st <= 4000; st *= 2) {
            base_cfg(&cfg);
            cfg.nclients = nc;
            cfg.lim.stall_ms = st;
            cfg.slow_factor = 0.2;
            snprintf(label, sizeof(label), "n=%d stall slow0", nc);
            sweep_one(label, &cfg);
        }
    }
}

int main(void)
{
    if (getenv("DF_SIM_SWEEP")) {
        for (g_spread = 0; g_spread <= 1; g_spread++)
            sweep();
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_once_and_limits),
        cmocka_unit_test(test_sim_heterogeneous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
