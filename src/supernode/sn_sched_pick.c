/* SPDX-License-Identifier: Apache-2.0 */
/* Scheduler decisions: candidate order (rarest first, then distance to the client's running
 * centre, then random) and source choice (least loaded eligible holder among a bounded sample
 * of the piece's holder list, else the supernode, which sends each piece about once). Pure;
 * see sn_sched.h and docs/internals/scheduling.md. */
#include "sn_sched.h"

#include <stdlib.h>
#include <string.h>

#include "df_util.h"
#include "sn_sched_int.h"

#define SN_SCHED_PREFIX 32 /* candidates ordered before the first placement attempt */

struct cand {
    uint64_t key;  /* rarity << 48 | distance << 16 | random */
    uint32_t piece;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->piece < y->piece ? -1 : x->piece > y->piece;
}

static int running_has(const struct sn_sched_client *c, uint32_t n)
{
    for (uint32_t i = 0; i < c->nrunning; i++)
        if (c->running[i].piece == n)
            return 1;
    return 0;
}

/* Pieces the scheduler may talk about: below the total when known, else what the CDN has. */
static uint32_t piece_limit(const struct sn_sched_task *t)
{
    return t->total ? DF_MIN(t->total, t->cdn.nbits) : t->cdn.nbits;
}

/* Fills buf (capacity piece_limit(t)) with c's candidates, unordered (see order_prefix).
 * cdn_only: only pieces the supernode has (client served by the supernode only). */
static size_t collect(const struct sn_sched_task *t, const struct sn_sched_client *c,
                      const struct sn_sched_limits *lim, uint64_t *rng, int cdn_only,
                      struct cand *buf)
{
    uint32_t lim_p = piece_limit(t);
    /* Running centre: mean of the running pieces; with none, the first missing piece. The
     * distance |p - sum/nr| is compared as |p*nr - sum| (same order, integers only). */
    uint64_t sum = 0, nr = c->nrunning;
    for (uint32_t i = 0; i < c->nrunning; i++)
        sum += c->running[i].piece;
    if (nr == 0) {
        int64_t first = df_bitmap_next_clear(&c->done, 0);
        sum = first < 0 ? c->done.nbits : (uint64_t)first;
        nr = 1;
    }
    /* A streaming client (dfdaemon sends a blob to its client as the in-order pieces arrive)
     * gets the next pieces of its stream first, then rarest first: without this, a piece
     * some peer already had came after every supernode-only piece, and a layer's first byte
     * waited (bench/dfdaemon_image.sh: TTFB median 0.21 s with 4 hosts). */
    uint64_t first = UINT64_MAX;
    if (c->is_in_order) {
        int64_t f = df_bitmap_next_clear(&c->done, 0);
        first = f < 0 ? c->done.nbits : (uint64_t)f;
    }
    size_t n = 0;
    for (uint32_t p = 0; p < lim_p; p++) {
        const struct sn_sched_piece *pc = &t->pc[p];
        int on_cdn = df_bitmap_test(&t->cdn, p);
        if (!on_cdn && (cdn_only || pc->holders == 0))
            continue;
        if (df_bitmap_test(&c->done, p) || running_has(c, p))
            continue;
        uint64_t rarity = 2u * (uint64_t)pc->holders + (lim->is_inflight_half ? pc->inflight : 0);
        uint64_t pos = (uint64_t)p * nr;
        uint64_t dist = pos > sum ? pos - sum : sum - pos;
        if (first != UINT64_MAX) {
            if (p >= first && p - first < SN_SCHED_IN_ORDER_AHEAD) {
                rarity = 0;
                dist = p - first;
            } else {
                rarity++;
            }
        }
        buf[n].key = (DF_MIN(rarity, 0xffffu) << 48) | (DF_MIN(dist, 0xffffffffu) << 16) |
                     (sn_sched_rand(rng) & 0xffffu);
        buf[n].piece = p;
        n++;
    }
    return n;
}

static void cand_swap(struct cand *a, struct cand *b)
{
    struct cand x = *a;
    *a = *b;
    *b = x;
}

/* Puts the k smallest of a[0..n) (cand_cmp order) first, sorted; the rest stay unordered.
 * A pull places at most down_limit pieces and most are placed among the first candidates, so
 * selecting (3-way quickselect, O(n)) and sorting a short prefix instead of sorting every
 * candidate halves the scheduler's work per pull with ~500 pieces (bench/sim). The order of
 * the prefix is exactly that of a full sort (keys are unique: cand_cmp ends on the piece). */
static void order_prefix(struct cand *a, size_t n, size_t k)
{
    if (k >= n) {
        qsort(a, n, sizeof(*a), cand_cmp);
        return;
    }
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        struct cand pivot = a[lo + (hi - lo) / 2];
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            int c = cand_cmp(&a[i], &pivot);
            if (c < 0)
                cand_swap(&a[lt++], &a[i++]);
            else if (c > 0)
                cand_swap(&a[i], &a[--gt]);
            else
                i++;
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            break;
    }
    qsort(a, k, sizeof(*a), cand_cmp);
}

size_t sn_sched_order(const struct sn_sched_task *t, const struct sn_sched_client *c,
                      const struct sn_sched_limits *lim, uint64_t *rng, uint32_t *cand,
                      size_t cap)
{
    uint32_t lim_p = piece_limit(t);
    struct cand *buf = df_xmalloc((lim_p ? lim_p : 1) * sizeof(*buf));
    size_t n = collect(t, c, lim, rng, 0, buf);
    order_prefix(buf, n, n);
    n = DF_MIN(n, cap);
    for (size_t i = 0; i < n; i++)
        cand[i] = buf[i].piece;
    free(buf);
    return n;
}

static int cdn_can_send(const struct sn_sched_task *t, const struct sn_sched_limits *lim,
                        uint32_t p)
{
    return df_bitmap_test(&t->cdn, p) && t->cdn_load < (uint32_t)DF_MAX(1, lim->cdn_up_limit);
}

/* Supernode pieces c may still get in this pull under the spread rule. */
static uint32_t cdn_share_left(const struct sn_sched_task *t, const struct sn_sched_client *c,
                               const struct sn_sched_limits *lim)
{
    if (!lim->is_cdn_spread)
        return UINT32_MAX;
    uint32_t budget = (uint32_t)DF_MAX(1, lim->cdn_up_limit);
    uint32_t nc = DF_MAX(1u, t->nclients);
    uint32_t share = DF_MAX(1u, (budget + nc - 1) / nc), mine = 0;
    /* With other clients around, keep at least half of c's slots for pieces from peers:
     * rarest first always prefers a piece only the supernode has, so in a small swarm (2
     * clients, share 4 = every slot) c filled its slots with supernode pieces and never
     * traded; both hosts then shared the supernode's link (bench/swarm N=2: 1.43 T*). */
    if (nc > 1)
        share = DF_MIN(share, DF_MAX(1u, ((uint32_t)lim->down_limit + 1) / 2));
    for (uint32_t i = 0; i < c->nrunning; i++)
        mine += c->running[i].src == SN_SCHED_SRC_CDN && !c->running[i].is_released;
    return share > mine ? share - mine : 0;
}

/* Source of piece p for c, or SN_SCHED_SRC_NONE when it must wait. Peers first: the least
 * loaded eligible holder under the up-limit (+ starve_up_extra while c has nothing running)
 * that c did not blacklist (random among equals), among those examined: p's holder list is
 * read from a random offset until SN_SCHED_SAMPLE holders under the limit were seen or
 * SN_SCHED_SCAN_MAX entries were read ("power of d choices": O(1) per piece whatever the
 * swarm size; exhaustive for small swarms). The supernode only when no holder is usable by c
 * (known for sure: the whole list was read) and nobody fetches p from it right now, so that
 * it sends each piece about once and its budget goes to pieces nobody has. */
static int32_t choose_source(const struct sn_sched_task *t, const struct sn_sched_client *c,
                             const struct sn_sched_limits *lim, uint64_t *rng, uint32_t p,
                             uint32_t cdn_left)
{
    uint32_t usable = 0, under = 0, best_load = UINT32_MAX, nties = 0;
    int32_t best = SN_SCHED_SRC_NONE;
    int is_partial = 0;
    uint32_t up = (uint32_t)DF_MAX(1, lim->up_limit);
    if (c->nrunning == 0)
        up += (uint32_t)DF_MAX(0, lim->starve_up_extra);
    const struct sn_sched_hlist *l = &t->hl[p];
    if (t->pc[p].holders > 0 && l->n > 0) {
        uint32_t start = l->n > SN_SCHED_SAMPLE ? (uint32_t)(sn_sched_rand(rng) % l->n) : 0;
        for (uint32_t k = 0; k < l->n; k++) {
            if (k >= SN_SCHED_SCAN_MAX || under >= SN_SCHED_SAMPLE) {
                is_partial = 1;
                break;
            }
            uint32_t i = l->v[(start + k) % l->n];
            const struct sn_sched_client *h = i < t->nslots ? t->slots[i] : NULL;
            if (!h || h == c || !sn_sched_client_is_eligible(h) || !df_bitmap_test(&h->have, p) ||
                df_bitmap_test(&c->blacklist, i))
                continue;
            usable++;
            if (h->up_load >= up)
                continue;
            under++;
            if (h->up_load > best_load)
                continue;
            if (h->up_load < best_load) {
                best_load = h->up_load;
                best = (int32_t)i;
                nties = 1;
            } else if (sn_sched_rand(rng) % ++nties == 0) {
                best = (int32_t)i;
            }
        }
    }
    if (best != SN_SCHED_SRC_NONE)
        return best;
    if (usable == 0 && !is_partial && t->pc[p].cdn_inflight == 0 && cdn_left > 0 &&
        cdn_can_send(t, lim, p))
        return SN_SCHED_SRC_CDN;
    return SN_SCHED_SRC_NONE;
}

static void place(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t p, int32_t src,
                  int64_t now_ms)
{
    c->running[c->nrunning++] =
        (struct sn_sched_running){.piece = p, .is_released = 0, .src = src, .since_ms = now_ms};
    struct sn_sched_piece *pc = &t->pc[p];
    if (pc->inflight < UINT16_MAX)
        pc->inflight++;
    if (src == SN_SCHED_SRC_CDN) {
        if (pc->cdn_inflight < UINT16_MAX)
            pc->cdn_inflight++;
        if (pc->cdn_sent < UINT16_MAX)
            pc->cdn_sent++;
        t->cdn_load++;
        t->n_cdn_picks++;
    } else {
        t->slots[src]->up_load++;
        t->n_peer_picks++;
    }
}

/* Partner slots. c's partners are the clients at slot distance 1, 2, 4, ... (or the next
 * occupied slot after that), down_limit of them at most, so every client is the partner of
 * about down_limit others: a regular graph of diameter ~log2 N. A partner that serves c nothing
 * right now and is under the up-limit gives c the rarest of c's first n candidates that it
 * holds (marked in used[]). Why: a connection that carries one piece after another and an
 * uploader serving a fixed few downloaders keep TCP at ~98 % of the link (bench/tcpmesh
 * --choice fixed); choosing the least loaded holder anew for every piece gave 93-96 %, and
 * on the testbed N = 16 this took the makespan from ~1.17 to ~1.14 T* (docs/internals/
 * scheduling.md, "Session 3"). Pieces no partner can give take the normal path. Returns the
 * number placed into out. */
static size_t partner_picks(struct sn_sched_task *t, struct sn_sched_client *c,
                            const struct sn_sched_limits *lim, const struct cand *buf, size_t n,
                            int64_t now_ms, struct sn_sched_pick *out, size_t want,
                            unsigned char *used)
{
    if (!lim->is_partners || c->idx < 0 || t->nclients < 2 || c->is_in_order)
        return 0;
    uint32_t up = (uint32_t)DF_MAX(1, lim->up_limit);
    size_t placed = 0;
    int k = DF_MAX(1, lim->down_limit);
    for (int j = 0; j < k && placed < want; j++) {
        uint32_t d = 1u << j;
        if (d >= t->nslots)
            break;
        uint32_t i = ((uint32_t)c->idx + d) % t->nslots, steps = 0;
        while ((!t->slots[i] || t->slots[i] == c) && steps++ < t->nslots) /* free slots: next */
            i = (i + 1) % t->nslots;
        struct sn_sched_client *h = t->slots[i];
        if (!h || h == c)
            continue;
        if (!sn_sched_client_is_eligible(h) || df_bitmap_test(&c->blacklist, i) || h->up_load >= up)
            continue;
        /* one of c's slots per partner, so the graph stays regular (and a partner reached
         * from two distances is used once: its first piece is running by then) */
        int busy = 0;
        for (uint32_t r = 0; r < c->nrunning; r++)
            busy |= c->running[r].src == (int32_t)i && !c->running[r].is_released;
        if (busy)
            continue;
        for (size_t q = 0; q < n; q++) {
            if (used[q] || !df_bitmap_test(&h->have, buf[q].piece))
                continue;
            used[q] = 1;
            place(t, c, buf[q].piece, (int32_t)i, now_ms);
            out[placed++] = (struct sn_sched_pick){.piece = buf[q].piece, .src = (int32_t)i};
            break;
        }
    }
    return placed;
}

static void expire_running(struct sn_sched_task *t, struct sn_sched_client *c, int64_t now_ms,
                           int64_t timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    for (uint32_t i = 0; i < c->nrunning;) {
        if (now_ms - c->running[i].since_ms > timeout_ms) {
            sn_sched_release(t, &c->running[i]);
            c->running[i] = c->running[--c->nrunning];
        } else {
            i++;
        }
    }
}

enum sn_sched_decision sn_sched_pick(struct sn_sched_task *t, struct sn_sched_client *c,
                                     const struct sn_sched_limits *lim, int64_t now_ms,
                                     uint64_t *rng, struct sn_sched_pick *out, size_t max_out,
                                     size_t *n_out)
{
    *n_out = 0;
    if (sn_sched_client_complete(t, c))
        return SN_SCHED_FINISH;
    expire_running(t, c, now_ms, lim->running_timeout_ms);
    uint32_t limit = (uint32_t)DF_MAX(1, DF_MIN(lim->down_limit, SN_SCHED_MAX_DOWN));
    if (c->nrunning >= limit)
        return SN_SCHED_LIMITED;
    size_t want = DF_MIN((size_t)(limit - c->nrunning), max_out);
    uint32_t nrun_before = c->nrunning;
    int is_cdn_only = sn_sched_client_is_cdn_only(c, lim);
    uint32_t lim_p = piece_limit(t);
    struct cand *buf = df_xmalloc((lim_p ? lim_p : 1) * sizeof(*buf));
    size_t nc = collect(t, c, lim, rng, is_cdn_only, buf);
    size_t sorted = DF_MIN(nc, SN_SCHED_PREFIX);
    order_prefix(buf, nc, sorted);
    size_t placed = 0;
    uint32_t cdn_left = cdn_share_left(t, c, lim);
    unsigned char used[SN_SCHED_PREFIX] = {0};
    if (!is_cdn_only)
        placed = partner_picks(t, c, lim, buf, sorted, now_ms, out, want, used);
    for (size_t i = 0; i < nc && placed < want; i++) {
        if (i == sorted) { /* the prefix did not place enough: order the rest */
            qsort(buf + sorted, nc - sorted, sizeof(*buf), cand_cmp);
            sorted = nc;
        }
        if (i < SN_SCHED_PREFIX && used[i])
            continue;
        uint32_t p = buf[i].piece;
        int32_t src = is_cdn_only ? (cdn_can_send(t, lim, p) ? SN_SCHED_SRC_CDN : SN_SCHED_SRC_NONE)
                                  : choose_source(t, c, lim, rng, p, cdn_left);
        if (src == SN_SCHED_SRC_NONE)
            continue;
        if (src == SN_SCHED_SRC_CDN && cdn_left > 0)
            cdn_left--;
        place(t, c, p, src, now_ms);
        out[placed++] = (struct sn_sched_pick){.piece = p, .src = src};
    }
    if (placed == 0 && nrun_before == 0 && nc > 0) {
        /* Starving: everything it lacks is in flight from the supernode to others, or held
         * only by busy peers. After stall_ms it gets one piece from the supernode anyway
         * (rarest first), so a slow first receiver cannot stall the end of a download. */
        if (c->starve_since_ms == 0)
            c->starve_since_ms = now_ms ? now_ms : 1;
        if (now_ms - c->starve_since_ms >= lim->stall_ms) {
            if (sorted < nc)
                qsort(buf + sorted, nc - sorted, sizeof(*buf), cand_cmp);
            for (size_t i = 0; i < nc; i++) {
                uint32_t p = buf[i].piece;
                if (!cdn_can_send(t, lim, p))
                    continue;
                place(t, c, p, SN_SCHED_SRC_CDN, now_ms);
                out[placed++] = (struct sn_sched_pick){.piece = p, .src = SN_SCHED_SRC_CDN};
                t->n_stall_picks++;
                break;
            }
        }
    }
    free(buf);
    if (placed > 0 || nrun_before > 0)
        c->starve_since_ms = 0;
    *n_out = placed;
    if (placed)
        return SN_SCHED_CONTINUE;
    return t->cdn_state == SN_SCHED_CDN_FAILED ? SN_SCHED_FAILED : SN_SCHED_WAIT;
}
