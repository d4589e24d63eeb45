/* Piece scheduler: PURE (state in, decisions out; no I/O, no clock reads: the time is passed
 * in). Decides which pieces a client (one dfget task, keyed by CID) fetches next and from whom.
 *
 * Data model (one struct sn_sched_task per task, one struct sn_sched_client per dfget task):
 *   task:   cdn bitmap (pieces complete on the supernode's disk), holders[] (per piece, how many
 *           clients can serve it: the rarest-first key of the next issue), piece total (0 while
 *           the origin length is unknown; bitmaps then grow as pieces appear), CDN state.
 *   client: done bitmap (pieces the client verified and reported), have bitmap (pieces it can
 *           serve to others: set by /peer/piece/suc), a small running set (piece, source, since).
 * Memory per client: 2 × ceil(pieces/64) × 8 bytes + SN_SCHED_MAX_DOWN × 16 bytes (512) + a few
 * counters: a 1 GiB task (86 pieces of 12 MiB) costs 32 bytes of bitmaps per client.
 *
 * Sources: in this issue every piece comes from the supernode (src == SN_SCHED_SRC_CDN). The
 * next issue adds peers: pick() will walk piece holders; sn_sched_order() is the hook where
 * rarest-first ordering replaces the lowest-piece-first order used now.
 *
 * Threading: loop thread only (or any single thread); the structs are not locked. */
#ifndef SN_SCHED_H
#define SN_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "df_bitmap.h"

#define SN_SCHED_MAX_DOWN 32   /* hard cap of the per-client in-flight limit (--down-limit) */
#define SN_SCHED_SRC_CDN (-1)  /* running-piece source: the supernode itself */

enum sn_sched_cdn {
    SN_SCHED_CDN_WAITING = 0, /* no download started yet */
    SN_SCHED_CDN_RUNNING,     /* downloading; pieces appear in cdn as they land on disk */
    SN_SCHED_CDN_DONE,        /* every piece on disk, total known */
    SN_SCHED_CDN_FAILED,      /* download failed; pulls get an error until a retry */
};

struct sn_sched_task {
    struct df_bitmap cdn;     /* bit n: piece n complete on disk (and digests known) */
    uint16_t *holders;        /* cdn.nbits entries: clients able to serve piece n (saturating) */
    uint32_t total;           /* number of pieces; 0 = not known yet */
    enum sn_sched_cdn cdn_state;
};

struct sn_sched_running {
    uint32_t piece;
    int32_t src;              /* SN_SCHED_SRC_CDN, or a peer index (next issue) */
    int64_t since_ms;         /* when it was handed out */
};

struct sn_sched_client {
    struct df_bitmap done;    /* pieces verified by the client */
    struct df_bitmap have;    /* pieces the client serves (reported via /peer/piece/suc) */
    struct sn_sched_running running[SN_SCHED_MAX_DOWN];
    uint32_t nrunning;        /* <= SN_SCHED_MAX_DOWN */
    uint32_t fail_count;      /* failed piece reports (clientErrorCount) */
    int is_finished;          /* 600 was sent */
};

enum sn_sched_decision {
    SN_SCHED_FINISH = 600,    /* client has every piece and the CDN is done */
    SN_SCHED_CONTINUE = 601,  /* out[] holds 1..max_out pieces, now marked running */
    SN_SCHED_LIMITED = 603,   /* client already has down_limit pieces running (Go: 601 no data) */
    SN_SCHED_WAIT = 602,      /* nothing schedulable right now */
    SN_SCHED_FAILED = 500,    /* CDN failed */
};

struct sn_sched_pick {
    uint32_t piece;
    int32_t src;
};

/* total may be 0 (unknown). */
void sn_sched_task_init(struct sn_sched_task *t, uint32_t total);
void sn_sched_task_cleanup(struct sn_sched_task *t);
/* Forget every CDN piece (restart of a download from offset 0) and set a new total (0 ok). */
void sn_sched_task_reset(struct sn_sched_task *t, uint32_t total);
/* Fixes the total (CDN finished or length learnt). Bits >= total are dropped. */
void sn_sched_task_set_total(struct sn_sched_task *t, uint32_t total);
/* Piece n is on disk. Grows the bitmaps when the total is unknown. -ERANGE if n >= total
 * (known total) or n is absurdly large (>= 2^24 pieces). */
int sn_sched_cdn_add(struct sn_sched_task *t, uint32_t n) __attribute__((warn_unused_result));

void sn_sched_client_init(struct sn_sched_client *c);
/* Drops the client's holder contributions from t (t may be NULL) and frees its bitmaps. */
void sn_sched_client_cleanup(struct sn_sched_client *c, struct sn_sched_task *t);

/* Applies a /peer/task report for piece n. is_success: 501/503 → done, 500 → failure (the piece
 * becomes schedulable again). The running entry is removed either way. Returns 0, or -ERANGE
 * when n is not a piece of the task (nothing changes). */
int sn_sched_report(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n,
                    int is_success) __attribute__((warn_unused_result));
/* /peer/piece/suc: the client now serves piece n (holder). -ERANGE as above. Idempotent. */
int sn_sched_holder_add(struct sn_sched_task *t, struct sn_sched_client *c, uint32_t n)
    __attribute__((warn_unused_result));

/* Decides the reply to a pull. Running entries older than running_timeout_ms (0 = never) are
 * dropped first (a client that vanished mid-piece must not pin it). down_limit is clipped to
 * [1, SN_SCHED_MAX_DOWN]; at most min(max_out, down_limit - running) pieces are chosen and
 * marked running with since_ms = now_ms. */
enum sn_sched_decision sn_sched_pick(struct sn_sched_task *t, struct sn_sched_client *c,
                                     int down_limit, int64_t now_ms, int64_t running_timeout_ms,
                                     struct sn_sched_pick *out, size_t max_out, size_t *n_out);

/* Ordering hook: fills cand[] (capacity cap) with schedulable pieces for c in the order they
 * should be tried; returns how many. Now: lowest piece number first. Next issue: rarest first
 * (holders[] ascending), ties by distance to the running centre. */
size_t sn_sched_order(const struct sn_sched_task *t, const struct sn_sched_client *c,
                      uint32_t *cand, size_t cap);

/* 1 when c holds every piece of a finished CDN. */
int sn_sched_client_complete(const struct sn_sched_task *t, const struct sn_sched_client *c);

#endif
