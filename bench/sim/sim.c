/* SPDX-License-Identifier: Apache-2.0 */
/* Discrete-time swarm simulator driving the supernode's real scheduler (src/supernode/sn_sched)
 * with N simulated hosts. The network is modelled as per-host upload and download capacities
 * shared max-min fairly (approximated by a few rounds of progressive filling per step) between
 * the piece transfers in flight; there is no latency, loss or TCP dynamics, and no protocol
 * overhead (the netns testbed pays ~4.5 % of headers, so compare sim × 1.046 with it).
 *
 * The supernode is a CDN: it pulls the file from the origin at min(origin up, its down) and a
 * piece becomes schedulable once it has fully arrived, exactly as sn_cdn does. Clients behave
 * like dfget: they pull after every finished piece (reporting it and /peer/piece/suc), and stop
 * at 600. A 602 to a client with nothing running is held as the supernode does (--hold, re-run
 * when the task's sched.seq moves); otherwise (or with --hold 0) dfget backs off 50 ms → 1.6 s
 * (--backoff-max). Pieces: the supernode's default size unless --piece-mib. Output: one JSON object on stdout;
 * SIM_TRACE=<seconds> also prints progress to stderr at that interval. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df_proto.h"
#include "df_util.h"
#include "sn_sched.h"

struct flow {
    int32_t src;        /* host index, or -1 = supernode */
    int32_t dst;        /* host index */
    uint32_t piece;
    double left;        /* bytes still to move */
    double inc;         /* scratch: rate given in the current filling round */
};

struct host {
    struct sn_sched_client c;
    double up, down;    /* bytes/s */
    int nup, ndown;     /* flows in flight */
    double rem_up, rem_down;
    int act_up, act_down;
    double next_pull;   /* seconds; < 0 = waits for a completion */
    double backoff;
    double done_at;     /* < 0 while running */
    int is_held;        /* its 602 is held by the supernode (sn_pull.c) ... */
    uint64_t held_seq;  /* ... re-run when the task's sched.seq moves ... */
    double held_until;  /* ... or at this deadline */
};

struct opts {
    int hosts;
    double size_mib;
    double up_mbit, down_mbit, origin_mbit, sn_up_mbit, slow_mbit;
    double dt;
    double piece_mib;   /* 0 = the supernode's rule (df_proto_piece_size) */
    double backoff_max; /* dfget's 602 back-off ceiling, seconds (dfget: 1.6) */
    double hold;        /* supernode --pull-hold, seconds (0 = 602 at once, dfget backs off) */
    uint64_t seed;
    struct sn_sched_limits lim;
};

static double mbit(double v) { return v * 1e6 / 8; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sim [--hosts N] [--size MiB] [--up Mbit] [--down Mbit] [--origin Mbit]\n"
            "           [--sn-up Mbit] [--slow-quarter Mbit] [--down-limit N] [--up-limit N]\n"
            "           [--cdn-up-limit N] [--dt seconds] [--seed N] [--piece-mib M]\n"
            "           [--backoff-max seconds] [--stall-ms ms] [--inflight-half 0|1]\n"
            "           [--cdn-spread 0|1] [--starve-up-extra N] [--hold seconds]\n"
            "           [--partners 0|1]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"hosts", 1, 0, 'n'},      {"size", 1, 0, 's'},       {"up", 1, 0, 'u'},
        {"down", 1, 0, 'd'},       {"origin", 1, 0, 'o'},     {"sn-up", 1, 0, 'S'},
        {"slow-quarter", 1, 0, 'q'}, {"down-limit", 1, 0, 'D'}, {"up-limit", 1, 0, 'U'},
        {"cdn-up-limit", 1, 0, 'C'}, {"dt", 1, 0, 't'},        {"seed", 1, 0, 'r'},
        {"piece-mib", 1, 0, 'p'},  {"backoff-max", 1, 0, 'b'},
        {"stall-ms", 1, 0, 'T'},   {"inflight-half", 1, 0, 'I'}, {"cdn-spread", 1, 0, 'P'},
        {"starve-up-extra", 1, 0, 'E'}, {"hold", 1, 0, 'H'}, {"partners", 1, 0, 'R'},
        {"help", 0, 0, 'h'},       {0, 0, 0, 0},
    };
    *o = (struct opts){.hosts = 16, .size_mib = 512, .up_mbit = 200, .down_mbit = 200,
                       .origin_mbit = 200, .sn_up_mbit = 0, .dt = 0.005, .seed = 1,
                       .backoff_max = 1.6, .hold = 1.0};
    sn_sched_limits_default(&o->lim);
    o->lim.cdn_up_limit = 0; /* as the supernode: the down-limit unless given */
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        char *end = NULL;
        double v = optarg ? strtod(optarg, &end) : 0;
        if (optarg && (!end || *end || v < 0)) {
            fprintf(stderr, "sim: bad value %s\n", optarg);
            return -EINVAL;
        }
        switch (ch) {
        case 'n': o->hosts = (int)v; break;
        case 's': o->size_mib = v; break;
        case 'u': o->up_mbit = v; break;
        case 'd': o->down_mbit = v; break;
        case 'o': o->origin_mbit = v; break;
        case 'S': o->sn_up_mbit = v; break;
        case 'q': o->slow_mbit = v; break;
        case 'D': o->lim.down_limit = (int)v; break;
        case 'U': o->lim.up_limit = (int)v; break;
        case 'C': o->lim.cdn_up_limit = (int)v; break;
        case 't': o->dt = v; break;
        case 'r': o->seed = (uint64_t)v; break;
        case 'p': o->piece_mib = v; break;
        case 'b': o->backoff_max = v; break;
        case 'T': o->lim.stall_ms = (int64_t)v; break;
        case 'I': o->lim.is_inflight_half = v != 0; break;
        case 'P': o->lim.is_cdn_spread = v != 0; break;
        case 'E': o->lim.starve_up_extra = (int)v; break;
        case 'H': o->hold = v; break;
        case 'R': o->lim.is_partners = v != 0; break;
        default: usage(); return -EINVAL;
        }
    }
    if (o->hosts < 1 || o->size_mib <= 0 || o->dt <= 0 || o->up_mbit <= 0 || o->down_mbit <= 0 ||
        o->origin_mbit <= 0) {
        usage();
        return -EINVAL;
    }
    if (o->sn_up_mbit <= 0)
        o->sn_up_mbit = o->up_mbit;
    if (o->lim.cdn_up_limit <= 0)
        o->lim.cdn_up_limit = o->lim.down_limit;
    return 0;
}

/* Max-min fair shares, approximated by progressive filling rounds: every round each active
 * flow gets min(its source's fair share, its destination's fair share) of what is left. */
static void allocate(struct flow *f, size_t nf, struct host *h, int n, double sn_up, double *sn_rem,
                     int *sn_act)
{
    for (int i = 0; i < n; i++) {
        h[i].rem_up = h[i].up;
        h[i].rem_down = h[i].down;
    }
    *sn_rem = sn_up;
    for (size_t k = 0; k < nf; k++)
        f[k].inc = 0;
    double *rate = df_xcalloc(nf ? nf : 1, sizeof(double));
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < n; i++)
            h[i].act_up = h[i].act_down = 0;
        *sn_act = 0;
        size_t active = 0;
        for (size_t k = 0; k < nf; k++) {
            double src_rem = f[k].src < 0 ? *sn_rem : h[f[k].src].rem_up;
            if (src_rem < 1 || h[f[k].dst].rem_down < 1)
                continue;
            active++;
            if (f[k].src < 0)
                (*sn_act)++;
            else
                h[f[k].src].act_up++;
            h[f[k].dst].act_down++;
        }
        if (!active)
            break;
        for (size_t k = 0; k < nf; k++) {
            double src_rem = f[k].src < 0 ? *sn_rem : h[f[k].src].rem_up;
            if (src_rem < 1 || h[f[k].dst].rem_down < 1) {
                f[k].inc = 0;
                continue;
            }
            double s = f[k].src < 0 ? *sn_rem / *sn_act : h[f[k].src].rem_up / h[f[k].src].act_up;
            double d = h[f[k].dst].rem_down / h[f[k].dst].act_down;
            f[k].inc = s < d ? s : d;
        }
        for (size_t k = 0; k < nf; k++) {
            if (f[k].inc <= 0)
                continue;
            rate[k] += f[k].inc;
            if (f[k].src < 0)
                *sn_rem -= f[k].inc;
            else
                h[f[k].src].rem_up -= f[k].inc;
            h[f[k].dst].rem_down -= f[k].inc;
        }
    }
    for (size_t k = 0; k < nf; k++)
        f[k].inc = rate[k];
    free(rate);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0)
        return 2;
    const int n = o.hosts;
    const double F = o.size_mib * 1048576.0;
    const uint32_t P = o.piece_mib > 0 ? (uint32_t)(o.piece_mib * 1048576) : df_proto_piece_size_auto((int64_t)F);
    const uint32_t total = df_proto_piece_count((int64_t)F, P);
    const double origin = mbit(o.origin_mbit), sn_up = mbit(o.sn_up_mbit);

    struct sn_sched_task t;
    sn_sched_task_init(&t, total);
    t.cdn_state = SN_SCHED_CDN_RUNNING;
    struct host *h = df_xcalloc((size_t)n, sizeof(*h));
    double sum_up = 0, min_down = 1e300;
    int nslow = o.slow_mbit > 0 ? n / 4 : 0;
    for (int i = 0; i < n; i++) {
        int is_slow = i >= n - nslow;
        h[i].up = mbit(is_slow ? o.slow_mbit : o.up_mbit);
        h[i].down = mbit(is_slow ? o.slow_mbit : o.down_mbit);
        h[i].next_pull = 0;
        h[i].backoff = 0.05;
        h[i].done_at = -1;
        sum_up += h[i].up;
        if (h[i].down < min_down)
            min_down = h[i].down;
        sn_sched_client_init(&t, &h[i].c, 1);
    }
    /* Kumar–Ross bound, as the testbed computes it. */
    double tstar = F / origin;
    if (F / min_down > tstar)
        tstar = F / min_down;
    if (n * F / (origin + sum_up) > tstar)
        tstar = n * F / (origin + sum_up);

    size_t fcap = (size_t)n * SN_SCHED_MAX_DOWN + 16, nf = 0;
    struct flow *f = df_xcalloc(fcap, sizeof(*f));
    uint64_t rng = o.seed * 0x9e3779b97f4a7c15ULL + 1;
    double cdn_rate = origin; /* the supernode's own download is not the bottleneck here */
    uint32_t cdn_have = 0;
    uint64_t picks = 0, pulls = 0, sn_pieces = 0, peer_pieces = 0, waits = 0;
    double sched_secs = 0, sn_bytes = 0, peer_bytes = 0, sn_last = 0;
    int finished = 0;
    double trace = getenv("SIM_TRACE") ? strtod(getenv("SIM_TRACE"), NULL) : 0;
    double now = 0, limit = 50 * tstar + 60;
    struct sn_sched_pick out[SN_SCHED_MAX_DOWN];
    size_t peak_client_bytes = 0;

    while (finished < n && now < limit) {
        /* CDN arrivals: piece k is complete at (k+1)·(P-5)/rate. */
        while (cdn_have < total && (cdn_have + 1.0) * (P - 5) / cdn_rate <= now + 1e-12) {
            if (sn_sched_cdn_add(&t, cdn_have) < 0)
                abort();
            cdn_have++;
            if (cdn_have == total) {
                t.cdn_state = SN_SCHED_CDN_DONE;
                t.has_final = 1;
            }
        }
        /* Pulls due now. */
        for (int i = 0; i < n; i++) {
            struct host *x = &h[i];
            if (x->done_at >= 0)
                continue;
            if (x->is_held) {
                /* sn_pull.c: re-run when the state moved (its 2 ms tick ≈ one step here) */
                if (t.seq == x->held_seq && now < x->held_until)
                    continue;
                x->is_held = 0;
            } else if (x->next_pull < 0 || x->next_pull > now) {
                continue;
            }
            size_t got = 0;
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            enum sn_sched_decision d = sn_sched_pick(&t, &x->c, &o.lim, (int64_t)(now * 1000), &rng, out,
                                                     SN_SCHED_MAX_DOWN, &got);
            clock_gettime(CLOCK_MONOTONIC, &b);
            sched_secs += (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
            pulls++;
            if (d == SN_SCHED_FINISH) {
                x->done_at = now;
                finished++;
                continue;
            }
            if (d == SN_SCHED_CONTINUE) {
                for (size_t k = 0; k < got; k++) {
                    DF_ASSERT(nf < fcap);
                    uint32_t plen = df_proto_piece_payload((int64_t)F, P, out[k].piece) + DF_PIECE_WRAP;
                    f[nf++] = (struct flow){.src = out[k].src == SN_SCHED_SRC_CDN ? -1 : out[k].src,
                                            .dst = i, .piece = out[k].piece, .left = plen};
                    picks++;
                }
                x->next_pull = -1; /* next pull after a completion */
                x->backoff = 0.05;
            } else if (d == SN_SCHED_LIMITED) {
                x->next_pull = -1;
            } else if (d == SN_SCHED_WAIT && o.hold > 0 && x->c.nrunning == 0) {
                /* held at the supernode; after the deadline dfget pulls again at once */
                x->is_held = 1;
                x->held_seq = t.seq;
                x->held_until = now + o.hold;
                waits++;
            } else {
                /* 602 (or a failed CDN): dfget backs off, doubling up to 1.6 s */
                x->next_pull = now + x->backoff;
                x->backoff = x->backoff * 2 > o.backoff_max ? o.backoff_max : x->backoff * 2;
                waits++;
                if (x->c.nrunning > 0)
                    x->next_pull = -1; /* a completion will wake it earlier */
            }
        }
        if (trace && floor((now + o.dt) / trace) > floor(now / trace)) {
            size_t npf = 0;
            for (size_t k = 0; k < nf; k++)
                npf += f[k].src >= 0;
            uint32_t dmin = UINT32_MAX, dmax = 0;
            double dsum = 0;
            for (int i = 0; i < n; i++) {
                uint32_t d = 0;
                for (uint32_t q = 0; q < total; q++)
                    d += (uint32_t)df_bitmap_test(&h[i].c.done, q);
                dmin = d < dmin ? d : dmin;
                dmax = d > dmax ? d : dmax;
                dsum += d;
            }
            fprintf(stderr, "t=%.1f cdn=%u flows=%zu peerflows=%zu done min/mean/max %u/%.1f/%u fin=%d\n",
                    now, cdn_have, nf, npf, dmin, dsum / n, dmax, finished);
        }
        /* Move bytes for one step. */
        double sn_rem;
        int sn_act;
        allocate(f, nf, h, n, sn_up, &sn_rem, &sn_act);
        now += o.dt;
        for (size_t k = 0; k < nf;) {
            double moved = f[k].inc * o.dt;
            if (moved > f[k].left)
                moved = f[k].left;
            f[k].left -= moved;
            if (f[k].src < 0)
                sn_bytes += moved;
            else
                peer_bytes += moved;
            if (f[k].left > 0.5) {
                k++;
                continue;
            }
            struct host *x = &h[f[k].dst];
            int32_t dst = f[k].src < 0 ? SN_SCHED_SRC_CDN : f[k].src;
            if (sn_sched_report(&t, &x->c, f[k].piece, 1, dst, &o.lim) < 0 ||
                sn_sched_holder_add(&t, &x->c, f[k].piece) < 0)
                abort();
            if (f[k].src < 0) {
                sn_pieces++;
                sn_last = now;
            }
            else
                peer_pieces++;
            x->next_pull = now; /* dfget pulls right after a piece is stored */
            f[k] = f[--nf];
        }
    }
    for (int i = 0; i < n; i++) {
        size_t b = sn_sched_client_bytes(&h[i].c);
        if (b > peak_client_bytes)
            peak_client_bytes = b;
    }
    double *times = df_xcalloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++)
        times[i] = h[i].done_at >= 0 ? h[i].done_at : INFINITY;
    qsort(times, (size_t)n, sizeof(double), cmp_double);
    double makespan = times[n - 1];
    double p50 = times[(n - 1) / 2], p95 = times[(size_t)ceil(0.95 * n) - 1];
    printf("{\"hosts\":%d,\"size_mib\":%.0f,\"piece_size\":%u,\"pieces\":%u,"
           "\"up_mbit\":%.0f,\"down_mbit\":%.0f,\"origin_mbit\":%.0f,\"slow_quarter_mbit\":%.0f,"
           "\"down_limit\":%d,\"up_limit\":%d,\"cdn_up_limit\":%d,\"dt\":%.4f,"
           "\"tstar\":%.3f,\"finished\":%d,\"makespan\":%.3f,\"p50\":%.3f,\"p95\":%.3f,"
           "\"makespan_ratio\":%.4f,\"p50_ratio\":%.4f,\"p95_ratio\":%.4f,"
           "\"sn_egress_ratio\":%.4f,\"peer_bytes_ratio\":%.4f,\"sn_pieces\":%llu,\"peer_pieces\":%llu,"
           "\"pulls\":%llu,\"sched_seconds\":%.3f,\"sched_calls_per_s\":%.0f,"
           "\"client_state_bytes\":%zu,\"task_state_bytes\":%zu,\"waits\":%llu,"
           "\"stall_picks\":%llu,\"sn_last_ratio\":%.4f}\n",
           n, o.size_mib, P, total, o.up_mbit, o.down_mbit, o.origin_mbit, o.slow_mbit,
           o.lim.down_limit, o.lim.up_limit, o.lim.cdn_up_limit, o.dt, tstar, finished, makespan,
           p50, p95, makespan / tstar, p50 / tstar, p95 / tstar, sn_bytes / F,
           peer_bytes / (sn_bytes + peer_bytes), (unsigned long long)sn_pieces,
           (unsigned long long)peer_pieces, (unsigned long long)pulls, sched_secs,
           sched_secs > 0 ? (double)pulls / sched_secs : 0.0, peak_client_bytes,
           sn_sched_task_bytes(&t),
           (unsigned long long)waits, (unsigned long long)t.n_stall_picks, sn_last / tstar);
    for (int i = 0; i < n; i++)
        sn_sched_client_cleanup(&h[i].c, NULL); /* the whole task goes */
    sn_sched_task_cleanup(&t);
    free(times);
    free(f);
    free(h);
    return finished == n ? 0 : 1;
}
