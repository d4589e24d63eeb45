/* SPDX-License-Identifier: Apache-2.0 */
/* Piece scheduler: PURE (state in, decisions out; no I/O, no clock reads, no global state: the
 * time and a PRNG state are passed in). Decides which pieces a client (one dfget task, keyed by
 * CID) fetches next and from whom: a peer that holds the piece, or the supernode (the CDN).
 * Algorithm, defaults and the measurements behind them: docs/internals/scheduling.md.
 *
 * Data model (one struct sn_sched_task per task, one struct sn_sched_client per dfget task):
 *   task:   cdn bitmap (pieces complete on the supernode's disk); per piece 8 bytes of counters
 *           (eligible holders, downloads in flight, supernode downloads in flight, supernode
 *           hand-outs); a slot table client index → client (a client's slot is its "peer
 *           index": running entries and blacklists refer to sources by slot); the supernode's
 *           upload load for the task.
 *   client: done bitmap (pieces it verified), have bitmap (pieces it serves: /peer/piece/suc),
 *           blacklist bitmap (slots of sources it will not use again), a running set of at most
 *           SN_SCHED_MAX_DOWN entries (piece, source, since), its upload load and error counters.
 * Memory per client: sizeof(struct sn_sched_client) = 608 bytes (x86-64; 512 of them the
 * running set) + 2 × ceil(pieces/64) × 8 (done, have) + ceil(clients/64) × 8 (blacklist), plus
 * 8 bytes in the task's slot table: a 1 GiB task (86 pieces of 12 MiB) with 100 clients costs
 * 608 + 32 + 16 + 8 = 664 bytes per client (sn_sched_client_bytes). No per-piece objects.
 * Per task: 8 bytes of counters per piece, plus a holder list per piece (struct
 * sn_sched_hlist: 16 bytes + 4 bytes per holder slot, capacity grown ×2, so ≤ 8 bytes per
 * holder): with every client holding every piece, ≤ 8 × pieces bytes per client on top of the
 * above (sn_sched_task_bytes). Source choice reads the list, never the slot table: O(1) per
 * candidate piece (at most SN_SCHED_SCAN_MAX entries examined) whatever the swarm size.
 *
 * Threading: loop thread only (or any single thread); nothing is locked. */
#ifndef SN_SCHED_H
#define SN_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "df_bitmap.h"

#define SN_SCHED_MAX_DOWN 32   /* hard cap of the per-client in-flight limit (--down-limit) */
#define SN_SCHED_SRC_CDN (-1)  /* source: the supernode itself */
#define SN_SCHED_SRC_NONE (-2) /* source unknown or gone (peer down, removed, eliminated) */
#define SN_SCHED_MAX_CLIENTS (1u << 20) /* slots per task; sn_sched_client_init aborts beyond */

/* Defaults (why: docs/internals/scheduling.md). */
#define SN_SCHED_DEF_DOWN_LIMIT 4     /* pieces in flight per client (--down-limit) */
#define SN_SCHED_DEF_UP_LIMIT 4       /* concurrent uploads per peer (--up-limit) */
#define SN_SCHED_DEF_CDN_UP_LIMIT SN_SCHED_DEF_DOWN_LIMIT /* supernode uploads per task
                                         (--cdn-up-limit; the supernode follows --down-limit) */
#define SN_SCHED_DEF_FAILURE_LIMIT 5  /* failureCountLimit: above it, supernode only */
#define SN_SCHED_DEF_ELIM_ERRORS 3    /* eliminationLimit: uploader failures ... */
#define SN_SCHED_DEF_ELIM_CLIENTS 2   /* ... reported by at least this many distinct clients */
#define SN_SCHED_DEF_RUNNING_TIMEOUT_MS 120000
#define SN_SCHED_DEF_STALL_MS 1500    /* idle this long → one duplicate supernode piece */
#define SN_SCHED_IN_ORDER_AHEAD 2     /* in-order clients: pieces ahead of the stream first */
#define SN_SCHED_DEF_STARVE_UP_EXTRA 1 /* extra upload slot a holder grants a starving client */
#define SN_SCHED_SAMPLE 16            /* holders under the up-limit compared per source choice */
#define SN_SCHED_SCAN_MAX 64          /* holder-list entries examined per source choice, at most */

enum sn_sched_cdn {
    SN_SCHED_CDN_WAITING = 0, /* no download started yet */
    SN_SCHED_CDN_RUNNING,     /* downloading; pieces appear in cdn as they land on disk */
    SN_SCHED_CDN_DONE,        /* every piece on disk, total known */
    SN_SCHED_CDN_FAILED,      /* download failed; pulls that cannot progress get an error */
};

struct sn_sched_limits {
    int down_limit;           /* pieces in flight per client; clipped to [1, SN_SCHED_MAX_DOWN] */
    int up_limit;             /* concurrent uploads per peer; >= 1 */
    int starve_up_extra;      /* a client with nothing running may use a holder with up to
                                 up_limit + starve_up_extra uploads (>= 0; measured: see the
                                 doc): an idle downloader gets a slot instead of a 602 */
    int cdn_up_limit;         /* concurrent supernode uploads per task; >= 1 */
    uint32_t failure_limit;   /* a client with more failures is served by the supernode only */
    uint32_t elim_errors;     /* an uploader with this many failures ... */
    uint32_t elim_clients;    /* ... blacklisted by this many distinct clients is eliminated */
    int64_t running_timeout_ms; /* running entries older than this are dropped (0 = never) */
    int64_t stall_ms;         /* a client with nothing running and nothing schedulable under
                                 the "supernode sends once" rule for this long gets one piece
                                 from the supernode anyway (0 = at once) */
    int is_inflight_half;     /* rarity counts a piece in flight to another client as half a
                                 holder (measured: docs/internals/scheduling.md) */
    int is_partners;          /* partner slots: each of c's partners (the clients at slot
                                 distance 1, 2, 4, ...) that serves c nothing gives it the rarest
                                 piece it holds among c's SN_SCHED_PREFIX rarest, before the
                                 least loaded holders are asked (measured: see the doc) */
    int is_cdn_spread;        /* a client gets at most ceil(cdn_up_limit / clients) supernode
                                 pieces at a time, so the supernode's unique pieces are spread
                                 over the swarm at once (measured: see the doc) */
};

/* Per-piece task counters (saturating at UINT16_MAX). */
struct sn_sched_piece {
    uint16_t holders;         /* clients that can serve it (have bit, eligible source) */
    uint16_t inflight;        /* clients fetching it now, from any source */
    uint16_t cdn_inflight;    /* clients fetching it now from the supernode */
    uint16_t cdn_sent;        /* times the supernode handed it out (statistics, tests) */
};

/* Slots of the clients whose have bit for one piece is set (any order, no duplicates). Entries
 * of clients that are down or eliminated stay (skipped when read); a leaving client's slot is
 * removed before the slot can be reused. */
struct sn_sched_hlist {
    uint32_t *v;
    uint32_t n, cap;
};

struct sn_sched_client;

struct sn_sched_task {
    struct df_bitmap cdn;     /* bit n: piece n complete on the supernode's disk */
    struct sn_sched_piece *pc;/* cdn.nbits entries */
    struct sn_sched_hlist *hl;/* cdn.nbits entries: holders of each piece */
    uint32_t total;           /* number of pieces; 0 = not known yet */
    enum sn_sched_cdn cdn_state;
    int has_final;            /* the CDN completed once: total and the file digests are final
                                 (kept while a repaired CDN copy is fetched again) */
    uint32_t cdn_load;        /* supernode uploads in flight for this task */
    struct sn_sched_client **slots; /* slot → client, NULL = free */
    uint32_t nslots;          /* allocated entries of slots */
    uint32_t nclients;
    uint64_t n_cdn_picks;     /* pieces handed out from the supernode ... */
    uint64_t n_peer_picks;    /* ... and from peers */
    uint64_t n_stall_picks;   /* supernode pieces handed out by the stall rule */
    uint64_t n_eliminated;    /* uploaders eliminated */
    uint64_t seq;             /* bumped whenever a pick that waited could now succeed: a piece
                                 on the CDN, a new holder, a load released, a source gone or
                                 back, a CDN state change (sn_sched_set_cdn_state); sn_pull.c
                                 re-runs held pulls when it moves */
};

struct sn_sched_running {
    uint32_t piece : 31;
    uint32_t is_released : 1; /* its loads were released (source down, eliminated, removed) */
    int32_t src;              /* SN_SCHED_SRC_CDN, a slot, or SN_SCHED_SRC_NONE (removed) */
    int64_t since_ms;         /* when it was handed out */
};

struct sn_sched_client {
    int32_t idx;              /* slot in the task, -1 when detached */
    struct df_bitmap done;    /* pieces verified by the client */
    struct df_bitmap have;    /* pieces the client serves (reported via /peer/piece/suc) */
    struct df_bitmap blacklist; /* slots of sources that failed this client */
    struct sn_sched_running running[SN_SCHED_MAX_DOWN];
    uint32_t nrunning;        /* <= SN_SCHED_MAX_DOWN */
    uint32_t up_load;         /* uploads to other clients in flight */
    uint32_t fail_count;      /* clientErrorCount: failed pieces fetched from peers */
    uint32_t service_errors;  /* serviceErrorCount: failures of its uploads */
    uint32_t serves_ok;       /* its uploads reported successful */
    uint32_t peer_ok;         /* pieces it got from peers successfully */
    uint32_t serves_ok_at_fail; /* serves_ok when its first counted failure came */
    uint32_t corrupt;         /* digest mismatches of its pieces (sn_sched_uploader_corrupt) */
    int is_source;            /* registered an uploader port (port 0 = cdn pattern: never) */
    int is_down;              /* /peer/service/down received (until it registers again) */
    int is_eliminated;        /* failed for several clients: never a source again */
    int is_in_order;          /* streams the file in order (registered with dfdaemon=true): its
                                 next SN_SCHED_IN_ORDER_AHEAD missing pieces come before rarity */
    int64_t starve_since_ms;  /* 0, or since when it had nothing running and got nothing */
};

enum sn_sched_decision {
    SN_SCHED_FINISH = 600,    /* client has every piece and the file digests are final */
    SN_SCHED_CONTINUE = 601,  /* out[] holds 1..max_out pieces, now marked running */
    SN_SCHED_LIMITED = 603,   /* client already has down_limit pieces running (Go: 601 no data) */
    SN_SCHED_WAIT = 602,      /* nothing schedulable right now */
    SN_SCHED_FAILED = 500,    /* CDN failed and nothing else can be scheduled */
};

struct sn_sched_pick {
    uint32_t piece;
    int32_t src;              /* SN_SCHED_SRC_CDN or a slot (t->slots[src] is the source) */
};

void sn_sched_limits_default(struct sn_sched_limits *l);

/* Small PRNG (splitmix64) over a caller-owned state; any seed works. */
uint64_t sn_sched_rand(uint64_t *state);

/* total may be 0 (unknown). */
void sn_sched_task_init(struct sn_sched_task *t, uint32_t total);
/* Frees the task's arrays; clients must have been cleaned up (or are freed with t == NULL). */
void sn_sched_task_cleanup(struct sn_sched_task *t);
/* The CDN restarts from offset 0 (origin content may have changed): forget every CDN piece,
 * and every client's holdings (a peer's old pieces must not be served). New total (0 ok). */
void sn_sched_task_reset(struct sn_sched_task *t, uint32_t total);
/* Fixes the total (CDN finished or length learnt). Bits >= total are dropped. */
void sn_sched_task_set_total(struct sn_sched_task *t, uint32_t total);
/* Piece n is on disk. Grows the arrays when the total is unknown. -ERANGE if n >= total
 * (known total) or n is absurdly large (>= 2^24 pieces). */
int sn_sched_cdn_add(struct sn_sched_task *t, uint32_t n) __attribute__((warn_unused_result));
/* The CDN's state changed (running; done: total and digests final; failed). Bumps seq: a
 * waiting client may now finish or learn of the failure. */
void sn_sched_set_cdn_state(struct sn_sched_task *t, enum sn_sched_cdn state);
/* The supernode's copy of piece n (or of every piece: n == UINT32_MAX) is gone or bad: it is
 * no longer handed out from the supernode. Peers keep serving it. */
void sn_sched_cdn_drop(struct sn_sched_task *t, uint32_t n);

/* Attaches a new client to t (takes a free slot). is_source: it registered an uploader port. */
void sn_sched_client_init(struct sn_sched_task *t, struct sn_sched_client *c, int is_source);
/* Releases the loads of its running pieces, drops its holder contributions, scrubs its slot
 * from every other client (running sources, blacklists), detaches it and frees its bitmaps.
 * t == NULL: only frees (the whole task is being freed). */
void sn_sched_client_cleanup(struct sn_sched_client *c, struct sn_sched_task *t);
/* (Re-)registration: sets whether it serves and revives a client that reported service-down
 * (an eliminated client stays eliminated). */
void sn_sched_client_set_source(struct sn_sched_task *t, struct sn_sched_client *c,
                                int is_source);
/* /peer/service/down: c is removed as a source of every piece at once; the uploads it was
 * serving stop counting against anyone (their downloaders report them failed later). */
void sn_sched_peer_down(struct sn_sched_task *t, struct sn_sched_client *c);

/* Applies a /peer/task report for piece n. is_success: 501/503 → done, 500 → failure (the piece
 * becomes schedulable again). dst: the reported source (slot, SN_SCHED_SRC_CDN or
 * SN_SCHED_SRC_NONE when unknown). The report closes c's running entry for n (releasing its
 * loads) unless dst names another source than the entry's: then it is a stale report of an
 * earlier assignment (dfget repeats its last pull while it waits) and only a success counts.
 * A failure that closes an entry whose source is a live peer X blacklists X for c, counts one
 * clientErrorCount for c and one serviceErrorCount for X, and eliminates X once lim's
 * thresholds are reached and X either served nobody successfully since its first counted
 * failure (a dead host) or sent a corrupt piece (sn_sched_uploader_corrupt); a failure without
 * an entry only blacklists (never counted twice).
 * Returns 0, or -ERANGE when n is not a piece of the task (nothing changes). */
/* 1 when c is served by the supernode only: more than lim->failure_limit pieces from peers
 * failed for it, and more than succeeded (a host that cannot reach peers still finishes; a
 * host on a congested link that loses a few connects among hundreds of good pieces is not
 * such a host: bench/swarm N = 32 sent 1.9 F from the supernode when 6 failures sufficed). */
static inline int sn_sched_client_is_cdn_only(const struct sn_sched_client *c,
                                              const struct sn_sched_limits *lim)
{
    return c->fail_count > lim->failure_limit && c->fail_count > c->peer_ok;
}
/* A client found a piece from uploader x corrupt (/peer/piece/error FILE_MD5_NOT_MATCH naming
 * x): from now on x's counted failures eliminate it even if it serves others well (an
 * uploader that corrupts 1 piece in 3 must go). Checks the elimination thresholds at once. */
void sn_sched_uploader_corrupt(struct sn_sched_task *t, struct sn_sched_client *x,
                               const struct sn_sched_limits *lim);
int sn_sched_report(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n,
                    int is_success, int32_t dst, const struct sn_sched_limits *lim)
    __attribute__((warn_unused_result));
/* /peer/piece/suc: c now holds and serves piece n. Counts as a success report too (marks it
 * done, releases the running entry and its load) since old dfgets fold some 503 reports.
 * Idempotent: the holder is counted once. -ERANGE as above (and for a piece the CDN never
 * announced while the total is unknown). */
int sn_sched_holder_add(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n)
    __attribute__((warn_unused_result));

/* Decides the reply to a pull (see docs/internals/scheduling.md): expired running entries are
 * dropped (loads released), then at most min(max_out, down_limit - running) pieces are chosen,
 * rarest first, each with a source, and marked running with since_ms = now_ms. */
enum sn_sched_decision sn_sched_pick(struct sn_sched_task *t, struct sn_sched_client *c,
                                     const struct sn_sched_limits *lim, int64_t now_ms,
                                     uint64_t *rng, struct sn_sched_pick *out, size_t max_out,
                                     size_t *n_out);

/* The candidate order of a pull, without sources: schedulable pieces for c (on the CDN or held
 * by an eligible peer; not done; not running for c), rarest first (2 × holders, plus 1 per
 * download in flight to others when lim->is_inflight_half), ties by distance to the mean of
 * c's running pieces (first missing piece when none runs), then random. Fills cand[] (capacity
 * cap); returns how many. */
size_t sn_sched_order(const struct sn_sched_task *t, const struct sn_sched_client *c,
                      const struct sn_sched_limits *lim, uint64_t *rng, uint32_t *cand,
                      size_t cap);

/* 1 when c holds every piece and the task's total and file digests are final. */
int sn_sched_client_complete(const struct sn_sched_task *t, const struct sn_sched_client *c);
/* 1 when c may serve pieces (source port, not down, not eliminated). */
static inline int sn_sched_client_is_eligible(const struct sn_sched_client *c)
{
    return c->is_source && !c->is_down && !c->is_eliminated;
}
/* Heap + inline bytes used by c (for the memory bound documented above). */
size_t sn_sched_client_bytes(const struct sn_sched_client *c);
/* Heap bytes of the task's own arrays (piece counters, holder lists, slot table). */
size_t sn_sched_task_bytes(const struct sn_sched_task *t);

#endif
