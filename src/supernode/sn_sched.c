/* SPDX-License-Identifier: Apache-2.0 */
/* Scheduler state (see sn_sched.h for the data model): tasks, client slots, reports, holders,
 * isolation (blacklist, elimination, service-down). Ordering and source choice live in
 * sn_sched_pick.c. Pure: callers pass the time; nothing here does I/O or logs. */
#include "sn_sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "df_util.h"
#include "sn_sched_int.h"

#define PIECES_ABSURD (1u << 24) /* 16 M pieces = 64 TiB at 4 MiB: refuse beyond */

void sn_sched_limits_default(struct sn_sched_limits *l)
{
    *l = (struct sn_sched_limits){
        .down_limit = SN_SCHED_DEF_DOWN_LIMIT,
        .up_limit = SN_SCHED_DEF_UP_LIMIT,
        .starve_up_extra = SN_SCHED_DEF_STARVE_UP_EXTRA,
        .cdn_up_limit = SN_SCHED_DEF_CDN_UP_LIMIT,
        .failure_limit = SN_SCHED_DEF_FAILURE_LIMIT,
        .elim_errors = SN_SCHED_DEF_ELIM_ERRORS,
        .elim_clients = SN_SCHED_DEF_ELIM_CLIENTS,
        .running_timeout_ms = SN_SCHED_DEF_RUNNING_TIMEOUT_MS,
        .stall_ms = SN_SCHED_DEF_STALL_MS,
        .is_inflight_half = 1,
        .is_cdn_spread = 1,
        .is_partners = 1,
    };
}

uint64_t sn_sched_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- task ------------------------------------------------------------------------------- */

void sn_sched_task_init(struct sn_sched_task *t, uint32_t total)
{
    memset(t, 0, sizeof(*t));
    df_bitmap_init(&t->cdn, total);
    t->pc = df_xcalloc(total ? total : 1, sizeof(*t->pc));
    t->hl = df_xcalloc(total ? total : 1, sizeof(*t->hl));
    t->total = total;
    t->cdn_state = SN_SCHED_CDN_WAITING;
}

void sn_sched_task_cleanup(struct sn_sched_task *t)
{
    for (uint32_t i = 0; i < t->cdn.nbits; i++)
        free(t->hl[i].v);
    df_bitmap_cleanup(&t->cdn);
    free(t->pc);
    free(t->hl);
    free(t->slots);
    t->pc = NULL;
    t->hl = NULL;
    t->slots = NULL;
    t->nslots = t->nclients = 0;
}

static void task_resize(struct sn_sched_task *t, uint32_t nbits)
{
    uint32_t old = t->cdn.nbits;
    for (uint32_t i = nbits; i < old; i++)
        free(t->hl[i].v);
    df_bitmap_resize(&t->cdn, nbits);
    t->pc = df_xrealloc(t->pc, (nbits ? nbits : 1) * sizeof(*t->pc));
    t->hl = df_xrealloc(t->hl, (nbits ? nbits : 1) * sizeof(*t->hl));
    if (nbits > old) {
        memset(t->pc + old, 0, (nbits - old) * sizeof(*t->pc));
        memset(t->hl + old, 0, (nbits - old) * sizeof(*t->hl));
    }
}

static void hlist_add(struct sn_sched_hlist *l, uint32_t slot)
{
    if (l->n == l->cap) {
        l->cap = DF_MAX(4u, l->cap * 2);
        l->v = df_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = slot;
}

static void hlist_remove(struct sn_sched_hlist *l, uint32_t slot)
{
    for (uint32_t k = 0; k < l->n; k++) {
        if (l->v[k] == slot) {
            l->v[k] = l->v[--l->n];
            return;
        }
    }
}

static void sat_inc(uint16_t *v)
{
    if (*v < UINT16_MAX)
        (*v)++;
}

static void sat_dec(uint16_t *v)
{
    if (*v > 0)
        (*v)--;
}

/* Adds (delta = +1) or removes (-1) c's holdings from the holder counts. */
static void holders_apply(struct sn_sched_task *t, const struct sn_sched_client *c, int delta)
{
    for (int64_t i = df_bitmap_next_set(&c->have, 0); i >= 0 && (uint32_t)i < t->cdn.nbits;
         i = df_bitmap_next_set(&c->have, (uint32_t)i + 1)) {
        if (delta > 0)
            sat_inc(&t->pc[i].holders);
        else
            sat_dec(&t->pc[i].holders);
    }
}

/* Sets c's eligibility flags, keeping the holder counts right. */
static void set_eligibility(struct sn_sched_task *t, struct sn_sched_client *c, int is_source,
                            int is_down, int is_eliminated)
{
    int was = sn_sched_client_is_eligible(c);
    c->is_source = is_source;
    c->is_down = is_down;
    c->is_eliminated = is_eliminated;
    int now = sn_sched_client_is_eligible(c);
    if (was != now)
        holders_apply(t, c, now ? 1 : -1);
    t->seq++;
}

void sn_sched_task_reset(struct sn_sched_task *t, uint32_t total)
{
    df_bitmap_clear_all(&t->cdn);
    for (uint32_t i = 0; i < t->nslots; i++) {
        struct sn_sched_client *c = t->slots[i];
        if (!c)
            continue;
        if (sn_sched_client_is_eligible(c))
            holders_apply(t, c, -1);
        df_bitmap_clear_all(&c->have);
    }
    task_resize(t, total);
    t->total = total;
    for (uint32_t i = 0; i < t->cdn.nbits; i++) {
        t->pc[i].holders = 0;
        t->hl[i].n = 0;
    }
}

void sn_sched_task_set_total(struct sn_sched_task *t, uint32_t total)
{
    if (total != t->cdn.nbits)
        task_resize(t, total);
    if (total != t->total && t->total)
        t->has_final = 0; /* the length changed: digests of the old file are not final */
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
    t->seq++;
    return 0;
}

void sn_sched_set_cdn_state(struct sn_sched_task *t, enum sn_sched_cdn state)
{
    t->cdn_state = state;
    if (state == SN_SCHED_CDN_DONE)
        t->has_final = 1;
    t->seq++;
}

void sn_sched_cdn_drop(struct sn_sched_task *t, uint32_t n)
{
    if (n == UINT32_MAX)
        df_bitmap_clear_all(&t->cdn);
    else if (n < t->cdn.nbits)
        df_bitmap_clear(&t->cdn, n);
}

/* ---- clients ---------------------------------------------------------------------------- */

void sn_sched_bitmap_ensure(struct df_bitmap *b, uint32_t n)
{
    if (n >= b->nbits)
        df_bitmap_resize(b, DF_MAX(n + 1, DF_MAX(64u, b->nbits * 2)));
}

void sn_sched_client_init(struct sn_sched_task *t, struct sn_sched_client *c, int is_source)
{
    memset(c, 0, sizeof(*c));
    df_bitmap_init(&c->done, 0);
    df_bitmap_init(&c->have, 0);
    df_bitmap_init(&c->blacklist, 0);
    uint32_t i = 0;
    while (i < t->nslots && t->slots[i])
        i++;
    if (i == t->nslots) {
        DF_ASSERT(t->nslots < SN_SCHED_MAX_CLIENTS);
        uint32_t ns = DF_MAX(8u, t->nslots * 2);
        t->slots = df_xrealloc(t->slots, ns * sizeof(*t->slots));
        memset(t->slots + t->nslots, 0, (ns - t->nslots) * sizeof(*t->slots));
        t->nslots = ns;
    }
    t->slots[i] = c;
    t->nclients++;
    c->idx = (int32_t)i;
    c->is_source = is_source != 0;
}

/* The client in slot i, NULL for a free slot or a non-slot source (supernode, none). */
static struct sn_sched_client *slot_client(const struct sn_sched_task *t, int32_t i)
{
    return i >= 0 && (uint32_t)i < t->nslots ? t->slots[i] : NULL;
}

void sn_sched_release(struct sn_sched_task *t, struct sn_sched_running *r)
{
    if (r->is_released)
        return;
    r->is_released = 1;
    t->seq++;
    if (r->piece < t->cdn.nbits) {
        sat_dec(&t->pc[r->piece].inflight);
        if (r->src == SN_SCHED_SRC_CDN)
            sat_dec(&t->pc[r->piece].cdn_inflight);
    }
    if (r->src == SN_SCHED_SRC_CDN) {
        if (t->cdn_load > 0)
            t->cdn_load--;
    } else {
        struct sn_sched_client *src = slot_client(t, r->src);
        if (src && src->up_load > 0)
            src->up_load--;
    }
}

/* Uploads served by c stop counting: downloaders keep their running entries (their dfget is
 * still fetching; it reports the outcome) but they no longer charge c. is_leaving: c's slot
 * is about to be freed (and maybe reused): the entries forget it as their source. */
static void forget_uploads_of(struct sn_sched_task *t, struct sn_sched_client *c, int is_leaving)
{
    for (uint32_t i = 0; i < t->nslots; i++) {
        struct sn_sched_client *d = t->slots[i];
        if (!d || d == c)
            continue;
        for (uint32_t k = 0; k < d->nrunning; k++) {
            struct sn_sched_running *r = &d->running[k];
            if (r->src != c->idx)
                continue;
            sn_sched_release(t, r); /* no longer counted as in flight anywhere */
            if (is_leaving)
                r->src = SN_SCHED_SRC_NONE;
        }
    }
    c->up_load = 0;
}

void sn_sched_client_cleanup(struct sn_sched_client *c, struct sn_sched_task *t)
{
    if (t && c->idx >= 0 && (uint32_t)c->idx < t->nslots && t->slots[c->idx] == c) {
        for (uint32_t k = 0; k < c->nrunning; k++)
            sn_sched_release(t, &c->running[k]);
        if (sn_sched_client_is_eligible(c))
            holders_apply(t, c, -1);
        for (int64_t i = df_bitmap_next_set(&c->have, 0); i >= 0 && (uint32_t)i < t->cdn.nbits;
             i = df_bitmap_next_set(&c->have, (uint32_t)i + 1))
            hlist_remove(&t->hl[i], (uint32_t)c->idx);
        forget_uploads_of(t, c, 1);
        for (uint32_t i = 0; i < t->nslots; i++) {
            struct sn_sched_client *o = t->slots[i];
            if (o && o != c && df_bitmap_test(&o->blacklist, (uint32_t)c->idx))
                df_bitmap_clear(&o->blacklist, (uint32_t)c->idx);
        }
        t->slots[c->idx] = NULL;
        t->nclients--;
    }
    df_bitmap_cleanup(&c->done);
    df_bitmap_cleanup(&c->have);
    df_bitmap_cleanup(&c->blacklist);
    c->nrunning = 0;
    c->idx = -1;
}

void sn_sched_client_set_source(struct sn_sched_task *t, struct sn_sched_client *c,
                                int is_source)
{
    set_eligibility(t, c, is_source != 0, 0, c->is_eliminated);
}

void sn_sched_peer_down(struct sn_sched_task *t, struct sn_sched_client *c)
{
    set_eligibility(t, c, c->is_source, 1, c->is_eliminated);
    forget_uploads_of(t, c, 0);
}

/* Distinct clients that blacklisted slot idx. */
static uint32_t blacklisted_by(const struct sn_sched_task *t, int32_t idx)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->nslots; i++)
        if (t->slots[i] && df_bitmap_test(&t->slots[i]->blacklist, (uint32_t)idx))
            n++;
    return n;
}

/* Eliminated: never a source again; its own downloads stop charging their sources too (an
 * uploader that fails for everyone is most often a dead host whose reports never come). */
static void eliminate(struct sn_sched_task *t, struct sn_sched_client *x)
{
    set_eligibility(t, x, x->is_source, x->is_down, 1);
    forget_uploads_of(t, x, 0);
    for (uint32_t k = 0; k < x->nrunning; k++)
        sn_sched_release(t, &x->running[k]);
    t->n_eliminated++;
}

/* Eliminates x when enough clients counted failures with it and it is bad rather than busy:
 * it served nobody since its first counted failure (a dead host), or it sent corrupt data.
 * Without the second condition, congested links eliminated healthy uploaders: connects that
 * timed out behind full queues were failures like any other (bench/swarm N = 32: 9-12 of 32
 * uploaders eliminated per run, the supernode then sent 1.5-2.1 F). */
static void maybe_eliminate(struct sn_sched_task *t, struct sn_sched_client *x,
                            const struct sn_sched_limits *lim)
{
    if (x->service_errors < lim->elim_errors || blacklisted_by(t, x->idx) < lim->elim_clients)
        return;
    if (x->corrupt == 0 && x->serves_ok != x->serves_ok_at_fail)
        return;
    eliminate(t, x);
}

/* A failed piece from source src. is_counted: it closed a running entry (a repeated or
 * late report only blacklists). */
static void on_peer_failure(struct sn_sched_task *t, struct sn_sched_client *c, int32_t src,
                            int is_counted, const struct sn_sched_limits *lim)
{
    struct sn_sched_client *x = slot_client(t, src);
    if (!x || x == c)
        return;
    if (x->is_down || x->is_eliminated)
        return; /* already known gone: not the downloader's fault, nothing more to learn */
    sn_sched_bitmap_ensure(&c->blacklist, (uint32_t)src);
    df_bitmap_set(&c->blacklist, (uint32_t)src);
    if (!is_counted)
        return;
    c->fail_count++;
    if (x->service_errors++ == 0)
        x->serves_ok_at_fail = x->serves_ok;
    maybe_eliminate(t, x, lim);
}

void sn_sched_uploader_corrupt(struct sn_sched_task *t, struct sn_sched_client *x,
                               const struct sn_sched_limits *lim)
{
    x->corrupt++;
    if (!x->is_down && !x->is_eliminated)
        maybe_eliminate(t, x, lim);
}

/* A piece number a client may refer to: below the known total, else below what the CDN has. */
static int piece_valid(const struct sn_sched_task *t, uint32_t n)
{
    return t->total ? n < t->total : n < t->cdn.nbits;
}

static struct sn_sched_running *running_find(struct sn_sched_client *c, uint32_t n)
{
    for (uint32_t i = 0; i < c->nrunning; i++)
        if (c->running[i].piece == n)
            return &c->running[i];
    return NULL;
}

static void running_remove(struct sn_sched_client *c, struct sn_sched_running *r)
{
    *r = c->running[--c->nrunning];
}

/* Ends c's running entry r: its loads are released and, when it succeeded from a peer, the
 * peer served one piece more and c got one more from peers (isolation rules). */
static void running_close(struct sn_sched_task *t, struct sn_sched_client *c,
                          struct sn_sched_running *r, int is_ok)
{
    struct sn_sched_client *src = is_ok ? slot_client(t, r->src) : NULL;
    if (src) {
        src->serves_ok++;
        c->peer_ok++;
    }
    sn_sched_release(t, r);
    running_remove(c, r);
}

int sn_sched_report(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n,
                    int is_success, int32_t dst, const struct sn_sched_limits *lim)
{
    if (!piece_valid(t, n))
        return -ERANGE;
    struct sn_sched_running *r = running_find(c, n);
    if (r && dst != SN_SCHED_SRC_NONE && r->src != SN_SCHED_SRC_NONE && r->src != dst)
        r = NULL; /* stale: about an earlier assignment of n to c */
    int32_t src = dst;
    int is_counted = 0;
    if (r) {
        src = r->src;
        is_counted = 1;
        running_close(t, c, r, is_success);
    }
    if (is_success) {
        sn_sched_bitmap_ensure(&c->done, n);
        df_bitmap_set(&c->done, n);
    } else {
        on_peer_failure(t, c, src, is_counted, lim);
    }
    return 0;
}

int sn_sched_holder_add(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n)
{
    if (!piece_valid(t, n) || n >= t->cdn.nbits)
        return -ERANGE;
    struct sn_sched_running *r = running_find(c, n);
    if (r)
        running_close(t, c, r, 1); /* the piece/suc closes the entry: a served piece */
    sn_sched_bitmap_ensure(&c->done, n);
    df_bitmap_set(&c->done, n);
    sn_sched_bitmap_ensure(&c->have, n);
    if (!df_bitmap_test(&c->have, n)) {
        df_bitmap_set(&c->have, n);
        hlist_add(&t->hl[n], (uint32_t)c->idx);
        if (sn_sched_client_is_eligible(c))
            sat_inc(&t->pc[n].holders);
        t->seq++;
    }
    return 0;
}

int sn_sched_client_complete(const struct sn_sched_task *t, const struct sn_sched_client *c)
{
    if (!(t->cdn_state == SN_SCHED_CDN_DONE || t->has_final) || t->total == 0)
        return 0;
    /* done may be larger than total (grown in steps): count bits below total only. */
    int64_t first_missing = df_bitmap_next_clear(&c->done, 0);
    return first_missing < 0 ? c->done.nbits >= t->total : (uint64_t)first_missing >= t->total;
}

size_t sn_sched_client_bytes(const struct sn_sched_client *c)
{
    return sizeof(*c) + sizeof(struct sn_sched_client *) +
           ((size_t)(c->done.nbits + 63) / 64 + (c->have.nbits + 63) / 64 +
            (c->blacklist.nbits + 63) / 64) * 8;
}

size_t sn_sched_task_bytes(const struct sn_sched_task *t)
{
    size_t b = (size_t)t->cdn.nbits * (sizeof(*t->pc) + sizeof(*t->hl)) +
               (size_t)t->nslots * sizeof(*t->slots) + (size_t)(t->cdn.nbits + 63) / 64 * 8;
    for (uint32_t i = 0; i < t->cdn.nbits; i++)
        b += (size_t)t->hl[i].cap * sizeof(*t->hl[i].v);
    return b;
}
