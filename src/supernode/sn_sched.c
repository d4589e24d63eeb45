/* Piece scheduling decisions over bitmaps (see sn_sched.h for the data model). Pure: callers
 * pass the time; nothing here does I/O or logs. */
#include "sn_sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "df_util.h"

#define PIECES_ABSURD (1u << 24) /* 16 M pieces = 64 TiB at 4 MiB: refuse beyond */

void sn_sched_task_init(struct sn_sched_task *t, uint32_t total)
{
    memset(t, 0, sizeof(*t));
    df_bitmap_init(&t->cdn, total);
    t->holders = df_xcalloc(total ? total : 1, sizeof(*t->holders));
    t->total = total;
    t->cdn_state = SN_SCHED_CDN_WAITING;
}

void sn_sched_task_cleanup(struct sn_sched_task *t)
{
    df_bitmap_cleanup(&t->cdn);
    free(t->holders);
    t->holders = NULL;
}

static void task_resize(struct sn_sched_task *t, uint32_t nbits)
{
    uint32_t old = t->cdn.nbits;
    df_bitmap_resize(&t->cdn, nbits);
    t->holders = df_xrealloc(t->holders, (nbits ? nbits : 1) * sizeof(*t->holders));
    if (nbits > old)
        memset(t->holders + old, 0, (nbits - old) * sizeof(*t->holders));
}

void sn_sched_task_reset(struct sn_sched_task *t, uint32_t total)
{
    df_bitmap_clear_all(&t->cdn);
    task_resize(t, total);
    t->total = total;
}

void sn_sched_task_set_total(struct sn_sched_task *t, uint32_t total)
{
    if (total != t->cdn.nbits)
        task_resize(t, total);
    t->total = total;
}

int sn_sched_cdn_add(struct sn_sched_task *t, uint32_t n)
{
    if (t->total ? n >= t->total : n >= PIECES_ABSURD)
        return -ERANGE;
    if (n >= t->cdn.nbits) {
        /* Unknown total: grow geometrically so a long download does not resize per piece. */
        uint32_t nb = DF_MAX(n + 1, t->cdn.nbits * 2);
        task_resize(t, DF_MIN(nb, PIECES_ABSURD));
    }
    df_bitmap_set(&t->cdn, n);
    return 0;
}

void sn_sched_client_init(struct sn_sched_client *c)
{
    memset(c, 0, sizeof(*c));
    df_bitmap_init(&c->done, 0);
    df_bitmap_init(&c->have, 0);
}

void sn_sched_client_cleanup(struct sn_sched_client *c, struct sn_sched_task *t)
{
    if (t) {
        for (int64_t i = df_bitmap_next_set(&c->have, 0); i >= 0;
             i = df_bitmap_next_set(&c->have, (uint32_t)i + 1)) {
            if ((uint32_t)i < t->cdn.nbits && t->holders[i] > 0)
                t->holders[i]--;
        }
    }
    df_bitmap_cleanup(&c->done);
    df_bitmap_cleanup(&c->have);
    c->nrunning = 0;
}

/* A piece number a client may refer to: below the known total, else below what the CDN has. */
static int piece_valid(const struct sn_sched_task *t, uint32_t n)
{
    return t->total ? n < t->total : n < t->cdn.nbits;
}

static void bitmap_ensure(struct df_bitmap *b, uint32_t n)
{
    if (n >= b->nbits)
        df_bitmap_resize(b, n + 1 > 64 ? n + 1 : 64);
}

static void running_remove(struct sn_sched_client *c, uint32_t n)
{
    for (uint32_t i = 0; i < c->nrunning; i++) {
        if (c->running[i].piece == n) {
            c->running[i] = c->running[--c->nrunning];
            return;
        }
    }
}

static int running_has(const struct sn_sched_client *c, uint32_t n)
{
    for (uint32_t i = 0; i < c->nrunning; i++)
        if (c->running[i].piece == n)
            return 1;
    return 0;
}

int sn_sched_report(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n, int is_success)
{
    if (!piece_valid(t, n))
        return -ERANGE;
    running_remove(c, n);
    if (is_success) {
        bitmap_ensure(&c->done, n);
        df_bitmap_set(&c->done, n);
    } else {
        c->fail_count++;
    }
    return 0;
}

int sn_sched_holder_add(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n)
{
    if (!piece_valid(t, n) || n >= t->cdn.nbits)
        return -ERANGE;
    bitmap_ensure(&c->have, n);
    if (!df_bitmap_test(&c->have, n)) {
        df_bitmap_set(&c->have, n);
        if (t->holders[n] < UINT16_MAX)
            t->holders[n]++;
    }
    return 0;
}

int sn_sched_client_complete(const struct sn_sched_task *t, const struct sn_sched_client *c)
{
    if (t->cdn_state != SN_SCHED_CDN_DONE || t->total == 0)
        return 0;
    /* done may be larger than total (grown in steps of 64): count bits below total only. */
    int64_t first_missing = df_bitmap_next_clear(&c->done, 0);
    return first_missing < 0 ? c->done.nbits >= t->total : (uint64_t)first_missing >= t->total;
}

size_t sn_sched_order(const struct sn_sched_task *t, const struct sn_sched_client *c,
                      uint32_t *cand, size_t cap)
{
    size_t n = 0;
    /* Lowest piece first: walk the CDN's set bits. Rarest-first (next issue) sorts this list
     * by holders[] ascending, ties by distance to the mean running piece, then randomly. */
    for (int64_t i = df_bitmap_next_set(&t->cdn, 0); i >= 0 && n < cap;
         i = df_bitmap_next_set(&t->cdn, (uint32_t)i + 1)) {
        uint32_t p = (uint32_t)i;
        if (t->total && p >= t->total)
            break;
        if (df_bitmap_test(&c->done, p) || running_has(c, p))
            continue;
        cand[n++] = p;
    }
    return n;
}

enum sn_sched_decision sn_sched_pick(struct sn_sched_task *t, struct sn_sched_client *c,
                                     int down_limit, int64_t now_ms, int64_t running_timeout_ms,
                                     struct sn_sched_pick *out, size_t max_out, size_t *n_out)
{
    *n_out = 0;
    if (t->cdn_state == SN_SCHED_CDN_FAILED)
        return SN_SCHED_FAILED;
    if (sn_sched_client_complete(t, c))
        return SN_SCHED_FINISH;
    if (running_timeout_ms > 0) {
        for (uint32_t i = 0; i < c->nrunning;) {
            if (now_ms - c->running[i].since_ms > running_timeout_ms)
                c->running[i] = c->running[--c->nrunning];
            else
                i++;
        }
    }
    uint32_t limit = (uint32_t)DF_MAX(1, DF_MIN(down_limit, SN_SCHED_MAX_DOWN));
    if (c->nrunning >= limit)
        return SN_SCHED_LIMITED;
    size_t want = DF_MIN((size_t)(limit - c->nrunning), max_out);
    uint32_t cand[SN_SCHED_MAX_DOWN];
    size_t nc = sn_sched_order(t, c, cand, DF_MIN(want, DF_ARRAY_LEN(cand)));
    for (size_t i = 0; i < nc; i++) {
        /* Source choice: the supernode for now; the next issue walks holders of cand[i]
         * (skipping down/blacklisted/overloaded peers) and falls back to the supernode. */
        c->running[c->nrunning++] =
            (struct sn_sched_running){.piece = cand[i], .src = SN_SCHED_SRC_CDN, .since_ms = now_ms};
        out[i] = (struct sn_sched_pick){.piece = cand[i], .src = SN_SCHED_SRC_CDN};
    }
    *n_out = nc;
    return nc ? SN_SCHED_CONTINUE : SN_SCHED_WAIT;
}
