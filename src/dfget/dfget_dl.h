/* SPDX-License-Identifier: Apache-2.0 */
/* The P2P piece loop against one supernode (spec §6.1 step 6–8): GET /peer/task (700/502
 * first, then 701 + the result of each finished piece), concurrent piece downloads from any
 * (ip, port, path) the supernode names (its own download port or other peers' uploaders),
 * streaming unwrap + digest check, payload handed to the writer thread, result and
 * /peer/piece/suc after the write, a slow or failing source costs one piece (reported against
 * it), back-off on 602, finish on 600 with the whole-file digests.
 *
 * Threads: the loop only moves bytes; piece digests run on a digest thread (dfget_phash), the
 * writes and the whole-file digests on the writer's two threads.
 *
 * Memory: at most one 256 KiB chunk per piece in flight plus the digest and writer queues,
 * whose sum is capped by pausing transfers above DFGET_WRITER_HIGH_WATER.
 *
 * Threading: loop thread only. The done callback runs at most once per dfget_dl_start(), never
 * from inside a dfget_dl_* call. After it ran, the dl is idle: dfget_dl_start() may be called
 * again (migration; progress is kept when the piece size and length are unchanged). */
#ifndef DFGET_DL_H
#define DFGET_DL_H

#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"
#include "dfget_config.h"
#include "dfget_msg.h"

struct event_base;
struct df_http_client;
struct df_ratelimit;
struct dfget_writer;
struct dfget_dl;

enum dfget_dl_status {
    DFGET_DL_OK,      /* 600 received, every piece written, digests computed */
    DFGET_DL_MIGRATE, /* this supernode failed us (HTTP/transport error, 500, 502, bad reply) */
    DFGET_DL_FAIL,    /* local failure that another node cannot fix (write error, no space) */
};

struct dfget_dl_result {
    enum dfget_dl_status status;
    int err;                          /* DFGET_DL_FAIL: the cause (-ENOSPC, …) */
    char msg[DF_ERR_LEN];             /* one line for MIGRATE/FAIL */
    int64_t file_length;              /* origin length (OK) */
    char want_md5[DF_MD5_HEX_LEN + 1];      /* from the 600 reply, "" if absent */
    char want_sha256[DF_SHA256_HEX_LEN + 1]; /* from the 600 reply, "" if absent */
    char got_md5[DF_DIGEST_HEX_MAX];   /* of the written file, "" if not computed */
    char got_sha256[DF_DIGEST_HEX_MAX];
};

typedef void (*dfget_dl_done_cb)(const struct dfget_dl_result *res, void *arg);
/* A piece was committed (verified, pwrite done, counted). Runs on the loop thread from inside
 * the writer's commit callback: it may read the dl (dfget_dl_bytes_contiguous(), …) but must
 * not stop, start or free it (defer that to an event of its own). */
typedef void (*dfget_dl_progress_cb)(struct dfget_dl *dl, void *arg);

/* Borrowed: base, http, writer, cfg, cid, rl (may be NULL = unlimited); must outlive the dl.
 * NULL (logged) when the piece-digest thread cannot be started. */
struct dfget_dl *dfget_dl_new(struct event_base *base, struct df_http_client *http,
                              struct dfget_writer *writer, const struct dfget_config *cfg,
                              const char *cid, struct df_ratelimit *rl, dfget_dl_done_cb cb,
                              void *arg);
/* Cancels everything in flight (no callback). NULL ok. Free the writer first or later: the dl
 * ignores writer callbacks after dfget_dl_stop(). */
void dfget_dl_free(struct dfget_dl *dl);

/* Optional progress callback (cb NULL = none; arg borrowed). Loop thread; set before or after
 * dfget_dl_start(). It is not called for a reset (see dfget_dl_bytes_contiguous). */
void dfget_dl_set_progress_cb(struct dfget_dl *dl, dfget_dl_progress_cb cb, void *arg);

/* Starts (or resumes after migration) with a registered node. */
void dfget_dl_start(struct dfget_dl *dl, const struct dfget_node *node,
                    const struct dfget_reg_reply *reg);
/* Cancels the piece downloads and API calls in flight; no done callback follows. */
void dfget_dl_stop(struct dfget_dl *dl);

/* The writer's queue drained below its low-water mark: resume paused transfers. NULL ok. */
void dfget_dl_on_drain(struct dfget_dl *dl);

/* Payload bytes committed so far, split by source (supernode = cid "cdnnode:…"). */
uint64_t dfget_dl_bytes_supernode(const struct dfget_dl *dl);
uint64_t dfget_dl_bytes_peers(const struct dfget_dl *dl);
/* Payload bytes verified plus those of pieces still downloading (progress bar). */
uint64_t dfget_dl_bytes_progress(const struct dfget_dl *dl);
/* Payload bytes of the in-order prefix of committed pieces: file bytes [0, n) are verified
 * against their piece digests and written (pwrite done), so they may be read from the file.
 * Grows with each commit; drops back to 0 only when a dfget_dl_start() changes the piece
 * layout (migration to a node with another piece size/length: the file is truncated). Not a
 * whole-file verification: that is the done callback's digests. Loop thread. */
uint64_t dfget_dl_bytes_contiguous(const struct dfget_dl *dl);
/* Origin length if known (registration or 600), else -1. */
int64_t dfget_dl_file_length(const struct dfget_dl *dl);
/* taskId and "host:port" of the supernode of the last dfget_dl_start() ("" before). */
const char *dfget_dl_task_id(const struct dfget_dl *dl);
const char *dfget_dl_node(const struct dfget_dl *dl);

/* Chunk size handed to the writer. */
#define DFGET_DL_CHUNK (256u << 10)
/* Piece downloads in flight at most (the supernode hands out 4). */
#define DFGET_DL_MAX_PIECES 16

#endif
