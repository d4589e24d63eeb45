/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to dfget_dl*.c: the state of the P2P loop shared by the pull loop (dfget_dl.c) and
 * the piece downloads (dfget_dl_piece.c). Not for other modules. Loop thread only.
 *
 * Piece life: start (busy set) → streamed and unwrapped on the loop, its wrapped bytes hashed
 * on the piece-digest thread (dfget_phash), each payload chunk passed on to the writer once
 * hashed → received in full: "verifying" until the digest is back → digest ok → commit
 * callback (busy cleared, have set, bytes counted, result 503 queued for the
 * next /peer/task, /peer/piece/suc sent). Announcing only after the pwrite guarantees that our
 * uploader never serves a piece that is not in the file yet. Any failure (transport, HTTP,
 * frame, digest, too slow) → busy cleared, result 500 with dstCid = the source queued. */
#ifndef DFGET_DL_INT_H
#define DFGET_DL_INT_H

#include <stdint.h>

#include "df_bitmap.h"
#include "df_token.h"
#include "df_digest.h"
#include "df_proto.h"
#include "dfget_dl.h"
#include "dfget_frame.h"
#include "dfget_phash.h"

#define DFGET_DL_SN_CID_PREFIX "cdnnode:"
/* A piece slower than this over a whole window (and not paused by us) is abandoned. */
#define DFGET_DL_LOW_SPEED_BPS (64u << 10)
#define DFGET_DL_LOW_SPEED_WINDOW_MS 5000
/* Pieces from the supernode itself failing this many times in a row (no success in between):
 * that node cannot serve its own CDN, try the next one (migration). */
#define DFGET_DL_SN_FAIL_MAX 8

struct piece {
    struct dfget_dl *dl;
    struct piece *next;
    struct dfget_piece_task task;
    struct df_http_req *req;
    struct dfget_frame frame;
    struct dfget_phash_stream *ph; /* digest of the wrapped bytes; NULL = no digest given */
    unsigned char *buf;         /* DFGET_DL_CHUNK bytes being filled */
    size_t buf_len;
    uint64_t buf_pos;           /* payload offset of buf[0] */
    int is_paused;
    unsigned unpause_round;     /* last unpause_all() round that resumed this piece */
    long status;                /* HTTP status */
    int64_t start_ms;           /* low-speed window: */
    int64_t win_start_ms;
    uint64_t win_bytes;         /* frame.pos at win_start_ms */
    int was_paused;             /* paused by us at some point in the window */
    int is_verifying;           /* received in full, waiting for its digest (dl->verifying) */
};

struct report {
    struct report *next;
    char range[48];
    int result;
    char *dst_cid;
};

struct aux { /* fire-and-forget API calls (piece/suc, piece/error) */
    struct aux *next, *prev;
    struct dfget_dl *dl;
    struct df_http_req *req;
};

struct dfget_dl {
    struct event_base *base;
    struct df_http_client *http;
    struct dfget_writer *writer;
    const struct dfget_config *cfg;
    const char *cid;
    struct df_ratelimit *rl;
    dfget_dl_done_cb cb;
    void *cb_arg;
    dfget_dl_progress_cb progress_cb; /* after each commit, NULL = none */
    void *progress_arg;

    /* task, from the current registration */
    char *base_url;
    char node_hp[300];
    char task_id[DF_TASKID_LEN + 1];
    char piece_token[DF_TOKEN_MAX]; /* sent with every piece request ("" = none) */
    uint32_t piece_size;
    int64_t file_length;         /* origin length, -1 unknown */
    uint32_t gen;                /* bumped on reset; stale writer callbacks are ignored */
    int is_running;
    int is_started;              /* first 700 pull sent for this registration */
    int is_want_set;             /* whole-file digests chosen */
    int is_want_md5, is_want_sha; /* whole-file digests the writer computes */
    unsigned unpause_round;

    struct df_bitmap have;       /* committed pieces */
    struct df_bitmap busy;       /* downloading or waiting for the writer's commit */
    uint64_t bytes_sn, bytes_peer;
    int64_t short_piece;         /* committed piece shorter than a full one (the last), -1 */
    uint64_t short_len;          /* its payload length */

    struct piece *pieces;        /* downloads in flight */
    int npieces;
    struct piece *verifying;     /* received, digest pending */
    struct dfget_phash *phash;   /* piece-digest thread */
    int is_bp_paused;            /* transfers paused for the writer/digest queues */
    struct report *reports, *reports_tail;
    unsigned n_folded;            /* success reports folded into a later pull */
    struct aux *aux;

    struct df_http_req *pull;
    char *last_pull_url;
    int backoff_ms;
    int64_t pull_sent_ms;         /* when the /peer/task in flight was sent (monotonic) */
    struct event *wait_ev;       /* 602 back-off */
    struct event *rate_ev;       /* rate-limit unpause */
    struct event *done_ev;       /* deferred done callback */
    struct event *speed_ev;      /* low-speed check, every second */
    unsigned n_writer_pauses;    /* back-pressure events (stats) */
    unsigned fail_streak;        /* piece failures since the last committed piece */
    unsigned sn_fail_streak;     /* of those, pieces whose source was the supernode */
    int has_600;
    int is_draining;             /* OK reached; waiting (bounded) for piece/suc calls */
    int is_done_pending;         /* done_ev will deliver res */
    struct dfget_dl_result res;
};

/* dfget_dl.c */
void dfget_dl__bitmap_grow(struct df_bitmap *b, uint32_t idx);
int dfget_dl__is_supernode_cid(const char *cid);
void dfget_dl__queue_report(struct dfget_dl *dl, const char *range, int result, const char *dst);
void dfget_dl__aux_get(struct dfget_dl *dl, char *url); /* takes url */
void dfget_dl__suc(struct dfget_dl *dl, const char *dst_cid, const char *range);
void dfget_dl__pull_next(struct dfget_dl *dl);
/* A report was queued outside a pull reply: send it now unless a pull is in flight; after
 * failures in a row, after a growing pause (50 ms … 1.6 s) so a failing source is not hammered. */
void dfget_dl__kick(struct dfget_dl *dl);
void dfget_dl__finish(struct dfget_dl *dl, enum dfget_dl_status st, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* dfget_dl_piece.c */
int dfget_dl__piece_start(struct dfget_dl *dl, const struct dfget_piece_task *t)
    __attribute__((warn_unused_result));
/* Cancels and forgets every download in flight and every piece still being verified (writer
 * aborts, busy cleared). */
void dfget_dl__pieces_cancel(struct dfget_dl *dl);
void dfget_dl__unpause_all(struct dfget_dl *dl);
/* Bytes held between the loop and the disk (digest queue + writer queue). */
size_t dfget_dl__queued(const struct dfget_dl *dl);
/* Abandons pieces slower than the low-speed limit (speed_ev). */
void dfget_dl__check_speed(struct dfget_dl *dl);

#endif
