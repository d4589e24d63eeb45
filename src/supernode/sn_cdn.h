/* SPDX-License-Identifier: Apache-2.0 */
/* Passive CDN: fetches a task's file from its origin exactly once (libcurl via df_http_client,
 * streamed), cuts it into wrapped pieces written at n*P in the cache file, digests each piece
 * and hands it to the scheduler the moment it is on disk; reuses the cache after a restart or
 * a task GC through one conditional GET (304 → hit; each piece is re-hashed against its stored
 * digest before it is served again, bad ones are fetched again alone with Range + If-Range),
 * resumes interrupted downloads with Range + If-Range. Formats: sn_store.h. Design notes:
 * docs/internals/cdn-cache.md.
 *
 * Threading: API and callbacks on the loop thread. Disk writes, hashing, meta/digest file I/O
 * and cache scans run on the df_workpool; per task at most one worker job runs at a time, and
 * worker jobs only touch the job's private state, never struct sn_task.
 *
 * Memory: at most SN_CDN_QUEUE_CAP bytes of body per running download are buffered; above
 * that the transfer is paused until the disk catches up. */
#ifndef SN_CDN_H
#define SN_CDN_H

#include <stdint.h>

#include "df_err.h"
#include "sn_metrics.h"
#include "sn_task.h"

#define SN_CDN_QUEUE_CAP (8u << 20)
#define SN_CDN_READY_TIMEOUT_MS 4000 /* registrations wait this long for the origin's headers */

struct event_base;
struct df_workpool;
struct df_http_client;
struct df_netpolicy;
struct sn_cdn;

/* Called when registrations for t can be answered: t->is_reg_ready became 1 (piece size
 * decided), or the CDN failed before that (t->cdn_status == SN_CDN_FAILED). Also called when
 * the CDN finishes (success or failure) so that waiters learn the outcome. */
typedef void (*sn_cdn_ready_cb)(struct sn_task *t, void *arg);

struct sn_cdn_opts {
    const char *home_dir;          /* cache in <home>/repo/download */
    uint64_t origin_bps;           /* shared origin rate cap; 0 = unlimited */
    int64_t fail_access_ms;        /* how long a 404 / connect failure blocks the URL */
    uint32_t piece_size;           /* --piece-size setting (sn_config_piece_size) */
    const struct df_netpolicy *origin_policy; /* checked for every origin connection
                                                 (sn_config.origin_policy); borrowed, must
                                                 outlive the sn_cdn; NULL = none */
    /* Called on the loop when a cache write failed with ENOSPC/EDQUOT: the owner starts a
     * disk-GC pass that tries to free need_bytes and then calls sn_cdn_space_done(). The
     * write waits meanwhile (the origin transfer pauses once the queue is full). NULL: such
     * a write fails the task at once. */
    void (*on_nospace)(uint64_t need_bytes, void *arg);
    void *nospace_arg;
};

#define SN_CDN_NOSPACE_RETRIES 3 /* disk-GC passes one download may wait for before it fails
                                    with "cache disk full: ..." */

/* Returns NULL and fills err when the cache directory cannot be created. Borrowed pointers
 * (base, pool, http, metrics) must outlive the sn_cdn. */
struct sn_cdn *sn_cdn_new(struct event_base *base, struct df_workpool *pool,
                          struct df_http_client *http, struct sn_metrics *metrics,
                          const struct sn_cdn_opts *opts, sn_cdn_ready_cb on_ready, void *arg,
                          char err[DF_ERR_LEN]);
/* Shutdown, in this order: sn_cdn_shutdown() cancels every origin transfer (on_ready is not
 * called again; jobs whose worker job is still queued are freed by its completion), then the
 * owner frees the df_workpool (which runs the remaining completions), then sn_cdn_free().
 * Files of interrupted downloads stay with a not-finished .meta, so the next start resumes. */
void sn_cdn_shutdown(struct sn_cdn *c);
void sn_cdn_free(struct sn_cdn *c); /* NULL ok */

/* Starts the CDN for t (status WAITING or FAILED): status → RUNNING, t->is_reg_ready kept if
 * a piece size was already announced. Takes a task reference until the job ends. Returns 0,
 * or -EALREADY when a job is running. on_ready runs later (never from inside this call). */
int sn_cdn_trigger(struct sn_cdn *c, struct sn_task *t) __attribute__((warn_unused_result));

/* Repairs the cache copy of piece n of t, found bad on disk (sn_verify): a CDN job (task
 * RUNNING, then SUCCESS) fetches only that piece again with Range + If-Range, writes it in
 * place and announces it once it matches the digest stored for it. Pieces other than n stay
 * served meanwhile; the caller drops n from the supernode's pieces before calling. If the
 * cache no longer matches the task's digests, or the origin changed (200 instead of 206, or
 * bytes that differ from the stored digest), the job downloads the whole file instead. t must
 * be SUCCESS with a known length and no job running. Returns 0 (on_ready runs when the job
 * ends), -EINVAL (not SUCCESS, n out of range), -EALREADY or DF_ECANCELED like sn_cdn_trigger. */
int sn_cdn_repair_piece(struct sn_cdn *c, struct sn_task *t, uint32_t n)
    __attribute__((warn_unused_result));

/* Path of the task's data file (heap). */
char *sn_cdn_data_path(const struct sn_cdn *c, const char *id);
/* Removes the task's cache files (DELETE ?full=true, a failed download, disk GC): renamed
 * away at once, unlinked on the worker pool. The task must have no running job. */
void sn_cdn_delete_files(struct sn_cdn *c, const char *id);
/* A disk-GC pass asked for through on_nospace has removed its files: every write waiting for
 * space is submitted again (it continues where it stopped). Loop thread. */
void sn_cdn_space_done(struct sn_cdn *c);
/* 1 once sn_cdn_shutdown() ran (no new job can start). */
int sn_cdn_is_shutdown(const struct sn_cdn *c);
/* Number of downloads running. */
int sn_cdn_active(const struct sn_cdn *c);

#endif
