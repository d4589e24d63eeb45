/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to sn_cdn.c (loop side) and sn_cdn_io.c (worker side): the state of one CDN run.
 * Fields are grouped by who may touch them:
 *   [loop]   loop thread only;
 *   [snap]   written by the loop before the first worker job, read-only afterwards;
 *   [worker] touched only by the job's worker function while is_worker_busy, read by the loop
 *            in the completion callback (the pool's hand-off orders the accesses). */
#ifndef SN_CDN_JOB_H
#define SN_CDN_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"
#include "df_ratelimit.h"
#include "sn_cdn.h"
#include "sn_repair.h"
#include "sn_store.h"

#define SN_CDN_CHUNK (256u << 10) /* body bytes per queued chunk */

struct sn_cdn_chunk {
    struct sn_cdn_chunk *next;
    size_t len;
    unsigned char data[SN_CDN_CHUNK];
};

enum sn_cdn_mode {
    SN_CDN_MODE_FRESH = 0,  /* download from offset 0 */
    SN_CDN_MODE_REVALIDATE, /* complete cache: conditional GET, 304 → hit */
    SN_CDN_MODE_RESUME,     /* partial cache: Range from the first missing piece + If-Range */
    SN_CDN_MODE_REPAIR,     /* complete cache with bad pieces (re-verification after a 304, or
                               sn_verify): Range + If-Range for just those, written in place */
};

enum sn_cdn_wait { /* which worker function a job waiting for space runs again */
    SN_CDN_WAIT_NONE = 0,
    SN_CDN_WAIT_BATCH,
    SN_CDN_WAIT_FINALIZE,
    SN_CDN_WAIT_PREPARE,
};

struct sn_cdn_done_piece {
    uint32_t n;
    struct sn_piece_digest d;
};

struct sn_cdn_job {
    struct sn_cdn_job *prev, *next;     /* [loop] c->jobs list */
    struct sn_cdn *cdn;                 /* [snap] */
    struct sn_task *task;               /* [loop] referenced; NULL once dying */
    struct sn_store_paths paths;        /* [snap] */
    char id[DF_TASKID_LEN + 1];         /* [snap] */
    char *task_url, *raw_url, *md5, *identifier; /* [snap] identity for the .meta match; the
                                           URLs redacted (df_redact_url: no userinfo), as
                                           stored in the .meta and shown in messages */
    int has_user_range;                 /* [snap] a Range header is part of the task */
    uint32_t fixed_piece_size;          /* [snap] piece size already announced, 0 = free */

    /* prepare results [worker → loop] */
    enum sn_cdn_mode mode;
    struct sn_meta meta;                /* valid when has_meta */
    int has_meta;
    struct sn_piece_digest *pre;        /* digests of the pieces found on disk */
    uint32_t npre;

    /* transfer [loop] */
    struct df_http_req *req;
    long status;
    int is_headers_done;
    int is_hit;                         /* 304: cache reused as is */
    int is_download;                    /* a body transfer started (metrics) */
    int is_eof;                         /* on_done ran */
    int is_finalizing;                  /* finalize job submitted */
    int is_dying;                       /* shutdown: free when the worker job completes */
    int abort_code;                     /* non-zero: next on_data aborts with it */
    char *fail_reason;                  /* first failure reason (heap) */
    int fail_status;                    /* HTTP status behind it, 0 if none */
    int is_unreachable;                 /* the failure blocks the URL (404 / connect error) */
    int is_cert_error;                  /* ... because the origin's certificate failed */
    char *etag, *last_modified;         /* of the response */
    uint64_t start_raw;                 /* origin offset of the body's first byte */
    struct sn_cdn_chunk *q_head, *q_tail; /* body not yet handed to the worker */
    size_t q_bytes, batch_bytes;
    int is_paused;
    int64_t rl_until_us;
    struct event *rl_timer, *ready_timer;
    struct event *kick_ev;              /* deferred kick after on_done (never ends the job
                                           inside df_http_req_unpause) */
    int64_t started_ms;
    int space_wait;                     /* a write hit ENOSPC/EDQUOT and waits for a disk-GC
                                           pass (sn_cdn_space_done): SN_CDN_WAIT_* */
    int nospace_tries;                  /* such passes asked for (≤ SN_CDN_NOSPACE_RETRIES) */

    /* worker [worker] */
    int is_worker_busy;                 /* [loop] a worker job is queued or running */
    struct sn_cdn_chunk *batch;         /* chunks handed to the worker */
    int w_fd;
    int w_reset;                        /* truncate and restart at 0 before writing */
    char *w_meta_json;                  /* meta to write before the batch (then freed by loop) */
    uint32_t w_piece_size;
    int64_t w_http_length;              /* -1 unknown */
    uint32_t w_cur;                     /* piece being written */
    uint32_t w_fill;                    /* payload bytes of w_cur written */
    uint32_t w_hdr_payload;             /* payload length written in w_cur's header */
    int w_started;                      /* header of w_cur written */
    uint64_t w_raw;                     /* origin bytes written (incl. resumed prefix) */
    struct df_digest *w_pmd5, *w_psha, *w_fmd5, *w_fsha;
    int w_err;                          /* first disk error (-errno) */
    size_t w_batch_done;                /* bytes of batch written: a batch retried after
                                           ENOSPC continues there (reset with each batch) */
    struct sn_cdn_done_piece *w_done;   /* pieces completed by this worker job */
    size_t w_ndone, w_capdone;
    /* re-verification and repair (docs/internals/cdn-cache.md) */
    int is_rescanned;                   /* [worker → loop] prepare rebuilt the digests from the
                                           data file itself: nothing to re-verify against */
    uint32_t s_next, s_end;             /* [loop] pieces [s_next, s_end) still to re-verify */
    uint32_t s_from;                    /* [snap] first piece of the scrub job */
    uint32_t s_to;                      /* [worker] end (exclusive) of what the job verified */
    unsigned char *s_bad;               /* [worker] npre flags: 1 = piece differs from pre[] */
    uint32_t *bad;                      /* [loop] pieces to repair, ascending */
    uint32_t nbad, capbad;
    struct sn_repair_range *ranges;     /* [loop] repair plan, nranges entries */
    int nranges, cur_range;
    uint64_t w_raw_end;                 /* [snap] repair: origin offset feed() must not reach
                                           (end of the requested range); 0 = no limit */
    int is_repair_stale;                /* [loop] a repaired piece differs from its stored digest:
                                           the origin changed, the transfer is aborted and a
                                           fresh download follows */
    uint32_t nrepaired;                 /* [loop] */
    /* finalize [snap for the finalize job, then worker] */
    struct sn_piece_digest *fin_digests; /* copy of all piece digests + room for the last */
    uint32_t fin_cap;
    int fin_ok;
    uint32_t fin_pieces;
    char fin_reason[256];
    int fin_is_md5_mismatch;
    int fin_is_digested;                /* the file digests were finalized (a finalize retried
                                           after ENOSPC must not finalize them twice) */
    char real_md5[65], real_sha256[65];
};

/* Worker functions (sn_cdn_io.c). */
void sn_cdn_io_prepare(void *job);
void sn_cdn_io_batch(void *job);
void sn_cdn_io_finalize(void *job);
/* Re-hashes the pieces [s_from, s_end) of the data file (at most ~SN_CDN_SCRUB_BATCH bytes,
 * at least one piece) and compares each with pre[]; sets s_bad[] and s_to (sn_cdn_scrub.c). */
void sn_cdn_scrub_run(void *job);
#define SN_CDN_SCRUB_BATCH (16u << 20)
/* Fills a meta (not finished) from the job's snapshot and geometry; used by the loop. */
void sn_cdn_io_meta_fill(const struct sn_cdn_job *j, struct sn_meta *m);

#endif
