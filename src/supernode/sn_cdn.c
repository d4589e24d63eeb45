/* SPDX-License-Identifier: Apache-2.0 */
/* Loop-thread half of the CDN: one job per task download. trigger → prepare (worker: read
 * .meta, choose fresh / revalidate / resume) → one origin GET (conditional or ranged when the
 * cache allows) → body chunks queued and handed to the worker one batch at a time → finalize
 * (worker) → task SUCCESS or FAILED. A 304 instead goes through re-verification (scrub) and,
 * for bad pieces, ranged repair requests. The origin's response headers decide the task geometry,
 * which is what pending registrations wait for (sn_cdn_ready_cb). */
#include "sn_cdn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "df_http_client.h"
#include "df_log.h"
#include "df_redact.h"
#include "df_util.h"
#include "df_workpool.h"
#include "sn_cdn_job.h"
#include "sn_config.h"

struct sn_cdn {
    struct event_base *base;
    struct df_workpool *pool;
    struct df_http_client *http;
    struct sn_metrics *metrics;
    char *home_dir;
    int64_t fail_access_ms;
    uint32_t piece_setting;     /* --piece-size (sn_config_piece_size) */
    const struct df_netpolicy *policy; /* --origin-allow/--origin-deny, every origin request */
    struct df_ratelimit rl;     /* shared by every origin download */
    int is_limited;
    sn_cdn_ready_cb on_ready;
    void *arg;
    void (*on_nospace)(uint64_t need_bytes, void *arg); /* disk-GC hook (sn_cdn_opts) */
    void *nospace_arg;
    struct sn_cdn_job *jobs;    /* running jobs (doubly linked) */
    int njobs;
    int is_shutdown;
};

static void kick(struct sn_cdn_job *j);
static void on_batch_done(void *arg);
static void on_finalize_done(void *arg);
static void on_prepare_done(void *arg);

struct sn_cdn *sn_cdn_new(struct event_base *base, struct df_workpool *pool,
                          struct df_http_client *http, struct sn_metrics *metrics,
                          const struct sn_cdn_opts *opts, sn_cdn_ready_cb on_ready, void *arg,
                          char err[DF_ERR_LEN])
{
    char *dir = df_xasprintf("%s/repo/download", opts->home_dir);
    int rc = df_mkdir_p(dir, 0755);
    if (rc < 0) {
        snprintf(err, DF_ERR_LEN, "cannot create cache directory %s: %s", dir, df_strerror(rc));
        free(dir);
        return NULL;
    }
    free(dir);
    struct sn_cdn *c = df_xcalloc(1, sizeof(*c));
    c->base = base;
    c->pool = pool;
    c->http = http;
    c->metrics = metrics;
    c->home_dir = df_xstrdup(opts->home_dir);
    c->fail_access_ms = opts->fail_access_ms;
    c->piece_setting = opts->piece_size;
    c->policy = opts->origin_policy;
    c->on_ready = on_ready;
    c->arg = arg;
    c->on_nospace = opts->on_nospace;
    c->nospace_arg = opts->nospace_arg;
    c->is_limited = opts->origin_bps > 0;
    /* 4 MiB burst: the rate is enforced over ~seconds, individual reads are not starved. */
    df_ratelimit_init(&c->rl, opts->origin_bps, 4 << 20, df_now_us());
    return c;
}

char *sn_cdn_data_path(const struct sn_cdn *c, const char *id)
{
    return df_xasprintf("%s/repo/download/%.3s/%s", c->home_dir, id, id);
}

int sn_cdn_active(const struct sn_cdn *c) { return c->njobs; }

int sn_cdn_is_shutdown(const struct sn_cdn *c) { return c->is_shutdown; }

/* ---- job lifetime ----------------------------------------------------------------------- */

static void chunks_free(struct sn_cdn_chunk *c)
{
    while (c) {
        struct sn_cdn_chunk *n = c->next;
        free(c);
        c = n;
    }
}

static void job_free(struct sn_cdn_job *j)
{
    struct sn_cdn *c = j->cdn;
    if (j->prev)
        j->prev->next = j->next;
    else if (c->jobs == j)
        c->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    c->njobs--;
    if (j->rl_timer)
        event_free(j->rl_timer);
    if (j->ready_timer)
        event_free(j->ready_timer);
    if (j->kick_ev)
        event_free(j->kick_ev);
    chunks_free(j->q_head);
    chunks_free(j->batch);
    if (j->w_fd >= 0)
        close(j->w_fd);
    sn_store_paths_cleanup(&j->paths);
    if (j->has_meta)
        sn_meta_cleanup(&j->meta);
    df_digest_free(j->w_pmd5);
    df_digest_free(j->w_psha);
    df_digest_free(j->w_fmd5);
    df_digest_free(j->w_fsha);
    free(j->task_url);
    free(j->raw_url);
    free(j->md5);
    free(j->identifier);
    free(j->pre);
    free(j->fail_reason);
    free(j->etag);
    free(j->last_modified);
    free(j->w_meta_json);
    free(j->w_done);
    free(j->fin_digests);
    free(j->s_bad);
    free(j->bad);
    free(j->ranges);
    free(j);
}

/* Ends the job: the task leaves RUNNING (status already set by the caller), waiters learn the
 * outcome, the task reference is dropped. */
static void job_end(struct sn_cdn_job *j)
{
    struct sn_task *t = j->task;
    struct sn_cdn *c = j->cdn;
    j->task = NULL;
    t->cdn = NULL;
    job_free(j);
    c->on_ready(t, c->arg);
    sn_task_unref(t);
}

static void job_fail(struct sn_cdn_job *j, int http_status, int is_unreachable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void job_fail(struct sn_cdn_job *j, int http_status, int is_unreachable, const char *fmt, ...)
{
    if (j->fail_reason)
        return; /* keep the first (root) cause */
    char buf[512], clean[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* The reason reaches clients (registration replies, pulls): URLs are already redacted,
     * this also covers credentials inside texts from curl or the origin. */
    df_redact_text(buf, clean, sizeof(clean));
    j->fail_reason = df_xstrdup(clean);
    j->fail_status = http_status;
    j->is_unreachable = is_unreachable;
}

static void finish_failed(struct sn_cdn_job *j)
{
    struct sn_task *t = j->task;
    struct sn_cdn *c = j->cdn;
    const char *reason = j->fail_reason ? j->fail_reason : "CDN download failed";
    DF_LOGW("cdn", "task %s: CDN failed: %s", t->id, reason);
    sn_task_set_failed(t, j->fail_status, reason);
    if (j->is_unreachable)
        t->unreachable_until_ms = df_now_ms() + c->fail_access_ms;
    t->is_cert_block = j->is_unreachable && j->is_cert_error;
    c->metrics->cdn_trigger_failed++;
    if (j->is_download)
        c->metrics->cdn_download_failed++;
    /* A failed attempt's files go at once (disk full, md5 or length mismatch, origin error
     * or reset): a partial file nobody can use must not hold the disk until a GC finds it.
     * Kept only: a complete cached copy whose revalidation failed without a body (origin down
     * or 5xx, not 404/410): the next registration revalidates it again. A download interrupted
     * by a shutdown never gets here: its .meta stays resumable (sn_cdn_shutdown). */
    int is_keep = j->mode == SN_CDN_MODE_REVALIDATE && !j->is_download &&
                  j->fail_status != 404 && j->fail_status != 410;
    if (!is_keep) {
        DF_LOGI("cdn", "task %s: removing the cache files of the failed attempt (%llu bytes "
                "written)", t->id, (unsigned long long)j->w_raw);
        sn_cdn_delete_files(c, t->id);
        c->metrics->cache_failed_removed++;
    }
    job_end(j);
}

static void finish_success(struct sn_cdn_job *j)
{
    struct sn_task *t = j->task;
    t->cdn_status = SN_CDN_SUCCESS;
    sn_sched_set_cdn_state(&t->sched, SN_SCHED_CDN_DONE);
    t->is_reg_ready = 1;
    snprintf(t->real_md5, sizeof(t->real_md5), "%s", j->real_md5);
    snprintf(t->real_sha256, sizeof(t->real_sha256), "%s", j->real_sha256);
    free(t->fail_reason);
    t->fail_reason = NULL;
    t->fail_http_status = 0;
    DF_LOGI("cdn", "task %s: CDN %s, %lld bytes, %u pieces of %u, md5 %s, %lld ms", t->id,
            j->mode == SN_CDN_MODE_REPAIR ? "cache reused, bad pieces repaired"
            : j->is_hit                    ? "cache hit (304)"
                                           : "download complete",
            (long long)t->http_length,
            (unsigned)t->sched.total, (unsigned)t->piece_size, t->real_md5,
            (long long)(df_now_ms() - j->started_ms));
    job_end(j);
}

/* ---- worker completions ----------------------------------------------------------------- */

/* re-verification and repair, "---- re-verification and piece repair" below */
static void repair_apply_done(struct sn_cdn_job *j);
static void scrub_begin(struct sn_cdn_job *j);
static void scrub_submit(struct sn_cdn_job *j);
static void repair_start(struct sn_cdn_job *j);
static int repair_on_headers(struct sn_cdn_job *j, struct df_http_req *req);
static void repair_on_eof(struct sn_cdn_job *j);

static void apply_done_pieces(struct sn_cdn_job *j)
{
    if (j->mode == SN_CDN_MODE_REPAIR) { /* compared with the stored digests first */
        repair_apply_done(j);
        return;
    }
    for (size_t i = 0; i < j->w_ndone; i++) {
        if (sn_task_piece_done(j->task, j->w_done[i].n, &j->w_done[i].d) < 0) {
            job_fail(j, 0, 0, "piece %u out of range for %s", (unsigned)j->w_done[i].n, j->raw_url);
            j->abort_code = DF_EPROTO;
        }
    }
    j->w_ndone = 0;
}

static void maybe_unpause(struct sn_cdn_job *j)
{
    if (!j->is_paused || !j->req)
        return;
    if (j->abort_code) { /* let curl call on_data, which returns the abort code */
        j->is_paused = 0;
        df_http_req_unpause(j->req);
        return;
    }
    if (j->q_bytes + j->batch_bytes >= SN_CDN_QUEUE_CAP)
        return; /* the next batch completion retries */
    int64_t now = df_now_us();
    if (now < j->rl_until_us) {
        struct timeval tv = {.tv_sec = (j->rl_until_us - now) / 1000000,
                             .tv_usec = (j->rl_until_us - now) % 1000000};
        evtimer_add(j->rl_timer, &tv);
        return;
    }
    j->is_paused = 0;
    df_http_req_unpause(j->req);
}

static void on_rl_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    maybe_unpause(arg);
}

static int is_nospace(int err) { return err == -ENOSPC || err == -EDQUOT; }

/* Free space the job still needs: the rest of the wrapped file when its length is known (plus
 * room for digest files and .meta), else one full queue. */
static uint64_t space_needed(const struct sn_cdn_job *j)
{
    uint64_t need = SN_CDN_QUEUE_CAP;
    if (j->w_piece_size && j->w_http_length >= 0) {
        uint64_t total = (uint64_t)df_proto_wrapped_length(j->w_http_length, j->w_piece_size);
        uint64_t done = (uint64_t)j->w_cur * j->w_piece_size;
        uint64_t pieces = df_proto_piece_count(j->w_http_length, j->w_piece_size);
        if (total > done)
            need = DF_MAX(need, total - done + (64u << 10) + pieces * 128);
    }
    return need;
}

/* A worker step failed with ENOSPC/EDQUOT: unless this download already waited for
 * SN_CDN_NOSPACE_RETRIES disk-GC passes (or is failing anyway), park it until the pass asked
 * for here has freed space (sn_cdn_space_done runs the step again). 1 = parked. */
static int nospace_wait(struct sn_cdn_job *j, enum sn_cdn_wait what)
{
    struct sn_cdn *c = j->cdn;
    if (!is_nospace(j->w_err))
        return 0;
    c->metrics->cache_nospace++;
    if (!c->on_nospace || j->nospace_tries >= SN_CDN_NOSPACE_RETRIES || j->abort_code ||
        j->fail_reason || j->fin_reason[0])
        return 0;
    if (what == SN_CDN_WAIT_BATCH) {
        /* What is on disk is schedulable meanwhile. Not for finalize: its completion applies
         * the last piece together with the digest table the retry writes. */
        apply_done_pieces(j);
        if (j->abort_code)
            return 0;
    }
    j->nospace_tries++;
    j->space_wait = what;
    uint64_t need = space_needed(j);
    DF_LOGW("cdn", "task %s: cache disk full (%s) writing %s; evicting and retrying (%d of %d), "
            "%llu bytes wanted", j->id, df_strerror(j->w_err), j->paths.data, j->nospace_tries,
            SN_CDN_NOSPACE_RETRIES, (unsigned long long)need);
    j->w_err = 0;
    c->on_nospace(need, c->nospace_arg);
    return 1;
}

/* Failure text for a disk error: "cache disk full: ..." once the eviction retries are spent. */
static void fail_disk(struct sn_cdn_job *j, const char *what)
{
    if (is_nospace(j->w_err))
        job_fail(j, 0, 0, "cache disk full: cannot %s %s: %s (%d eviction passes did not free "
                 "enough space)", what, j->paths.data, df_strerror(j->w_err), j->nospace_tries);
    else
        job_fail(j, 0, 0, "cannot %s %s: %s", what, j->paths.data, df_strerror(j->w_err));
}

void sn_cdn_space_done(struct sn_cdn *c)
{
    static const df_work_fn fns[] = {NULL, sn_cdn_io_batch, sn_cdn_io_finalize, sn_cdn_io_prepare};
    static const df_done_fn dones[] = {NULL, on_batch_done, on_finalize_done, on_prepare_done};
    for (struct sn_cdn_job *j = c->jobs; j; j = j->next) {
        enum sn_cdn_wait w = (enum sn_cdn_wait)j->space_wait;
        if (w == SN_CDN_WAIT_NONE)
            continue;
        j->space_wait = SN_CDN_WAIT_NONE;
        if (w == SN_CDN_WAIT_FINALIZE)
            j->fin_ok = 1; /* it was ok when submitted (nospace_wait checked the reasons) */
        if (w == SN_CDN_WAIT_PREPARE) { /* prepare starts from scratch */
            if (j->w_fd >= 0)
                close(j->w_fd);
            j->w_fd = -1;
            if (j->has_meta)
                sn_meta_cleanup(&j->meta);
            j->has_meta = 0;
            free(j->pre);
            j->pre = NULL;
            j->npre = 0;
        }
        j->is_worker_busy = 1;
        df_workpool_submit(c->pool, fns[w], dones[w], j); /* completions run later */
    }
}

static void on_batch_done(void *arg)
{
    struct sn_cdn_job *j = arg;
    j->is_worker_busy = 0;
    if (!j->is_dying && nospace_wait(j, SN_CDN_WAIT_BATCH))
        return; /* keeps the batch and its .meta text for the retry */
    chunks_free(j->batch);
    j->batch = NULL;
    j->batch_bytes = 0;
    free(j->w_meta_json);
    j->w_meta_json = NULL;
    if (j->is_dying) {
        job_free(j);
        return;
    }
    apply_done_pieces(j);
    if (j->w_err && !j->abort_code) {
        if (j->w_err == DF_ETOOBIG)
            job_fail(j, 0, 0, "origin sent more bytes than announced for %s", j->raw_url);
        else
            fail_disk(j, "write cache file");
        j->abort_code = DF_EORIGIN;
    }
    maybe_unpause(j);
    kick(j);
}

static void on_finalize_done(void *arg)
{
    struct sn_cdn_job *j = arg;
    j->is_worker_busy = 0;
    if (j->is_dying) {
        job_free(j);
        return;
    }
    if (nospace_wait(j, SN_CDN_WAIT_FINALIZE))
        return;
    struct sn_task *t = j->task;
    if (j->fin_ok) {
        apply_done_pieces(j);
        /* The length is now exact (it may have been unknown): fix the piece total. */
        sn_task_set_geometry(t, (int64_t)j->w_raw, j->w_piece_size);
    }
    if (!j->fin_ok || j->abort_code) {
        if (j->fin_reason[0])
            job_fail(j, 0, 0, "%s", j->fin_reason);
        else if (j->w_err)
            fail_disk(j, "write cache file");
        finish_failed(j);
        return;
    }
    finish_success(j);
}

static void kick(struct sn_cdn_job *j)
{
    if (j->is_worker_busy || j->is_finalizing || j->space_wait)
        return;
    struct sn_cdn *c = j->cdn;
    if (j->q_head && !j->w_err) {
        j->batch = j->q_head;
        j->batch_bytes = j->q_bytes;
        j->w_batch_done = 0;
        j->q_head = j->q_tail = NULL;
        j->q_bytes = 0;
        j->is_worker_busy = 1;
        df_workpool_submit(c->pool, sn_cdn_io_batch, on_batch_done, j);
        return;
    }
    if (j->s_next < j->s_end) {
        scrub_submit(j);
        return;
    }
    if (!j->is_eof)
        return;
    if (j->mode == SN_CDN_MODE_REPAIR) {
        repair_on_eof(j);
        return;
    }
    if (j->is_hit) {
        if (j->nbad) /* the re-verification found bad pieces: fetch just those */
            repair_start(j);
        else
            finish_success(j);
        return;
    }
    if (!j->is_headers_done || !j->w_piece_size) {
        finish_failed(j); /* nothing was written: no finalize needed */
        return;
    }
    /* Finalize with an empty queue: all completed pieces are already in the task. */
    chunks_free(j->q_head);
    j->q_head = j->q_tail = NULL;
    j->q_bytes = 0;
    struct sn_task *t = j->task;
    j->fin_ok = !j->fail_reason && !j->abort_code && !j->w_err;
    j->fin_cap = j->w_cur + 1;
    j->fin_digests = df_xcalloc(j->fin_cap, sizeof(*j->fin_digests));
    uint32_t have = DF_MIN(j->w_cur, t->ndigests);
    if (have)
        memcpy(j->fin_digests, t->digests, have * sizeof(*j->fin_digests));
    j->is_finalizing = 1;
    j->is_worker_busy = 1;
    df_workpool_submit(c->pool, sn_cdn_io_finalize, on_finalize_done, j);
}

/* ---- registration readiness ------------------------------------------------------------- */

static void set_ready(struct sn_cdn_job *j)
{
    struct sn_task *t = j->task;
    if (j->ready_timer)
        evtimer_del(j->ready_timer);
    if (t->is_reg_ready)
        return;
    t->is_reg_ready = 1;
    j->cdn->on_ready(t, j->cdn->arg);
}

static void on_ready_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sn_cdn_job *j = arg;
    struct sn_task *t = j->task;
    if (t->is_reg_ready)
        return;
    /* Slow origin: answer registrations now. A cache of ours already knows the geometry;
     * otherwise 4 MiB pieces and an unknown length. The piece size then sticks. */
    if (!j->is_worker_busy && j->has_meta && j->mode != SN_CDN_MODE_FRESH) /* prepare done */
        sn_task_set_geometry(t, j->meta.http_length, j->meta.piece_size);
    else
        sn_task_set_geometry(t, -1, sn_config_piece_size(j->cdn->piece_setting, -1));
    DF_LOGW("cdn", "task %s: origin headers not in after %d ms; answering with %s length",
            t->id, SN_CDN_READY_TIMEOUT_MS, t->http_length >= 0 ? "the cached" : "unknown");
    set_ready(j);
}

/* ---- origin transfer -------------------------------------------------------------------- */

static void store_validators(struct sn_cdn_job *j, struct df_http_req *req)
{
    const char *etag = df_http_req_header(req, "ETag");
    const char *lm = df_http_req_header(req, "Last-Modified");
    free(j->etag);
    free(j->last_modified);
    j->etag = df_xstrdup(etag ? etag : "");
    j->last_modified = df_xstrdup(lm ? lm : "");
}

/* "bytes a-b/total" → a, b and total (total -1 for "*"). */
static int parse_content_range(const char *s, uint64_t *start, uint64_t *end, int64_t *total)
{
    if (!s || strncasecmp(s, "bytes ", 6) != 0)
        return -EINVAL;
    char buf[96];
    snprintf(buf, sizeof(buf), "%s", s + 6);
    char *dash = strchr(buf, '-'), *slash = strchr(buf, '/');
    if (!dash || !slash || slash < dash)
        return -EINVAL;
    *dash = '\0';
    *slash = '\0';
    if (df_parse_u64(buf, start) < 0 || df_parse_u64(dash + 1, end) < 0)
        return -EINVAL;
    if (strcmp(slash + 1, "*") == 0) {
        *total = -1;
        return 0;
    }
    return df_parse_i64(slash + 1, total);
}

static void announce_pre(struct sn_cdn_job *j)
{
    for (uint32_t i = 0; i < j->npre; i++)
        if (sn_task_piece_done(j->task, i, &j->pre[i]) < 0)
            break;
}

static int on_headers(struct df_http_req *req, long status, void *arg)
{
    struct sn_cdn_job *j = arg;
    struct sn_task *t = j->task;
    struct sn_cdn *c = j->cdn;
    j->status = status;
    j->is_headers_done = 1;
    if (status == 304 && j->mode == SN_CDN_MODE_REVALIDATE) {
        sn_task_set_geometry(t, j->meta.http_length, j->meta.piece_size);
        if (j->is_rescanned)
            announce_pre(j);
        else
            scrub_begin(j); /* pieces are announced as they are found intact */
        if (!j->real_md5[0])
            memcpy(j->real_md5, j->meta.real_md5, sizeof(j->real_md5));
        if (!j->real_sha256[0])
            memcpy(j->real_sha256, j->meta.real_sha256, sizeof(j->real_sha256));
        j->is_hit = 1;
        c->metrics->cdn_cache_hit++;
        set_ready(j);
        return 0;
    }
    int64_t clen = df_http_req_content_length(req);
    if (status == 206 && j->mode == SN_CDN_MODE_REPAIR)
        return repair_on_headers(j, req);
    if (status == 206 && j->mode == SN_CDN_MODE_RESUME) {
        uint64_t start, end;
        int64_t total;
        if (parse_content_range(df_http_req_header(req, "Content-Range"), &start, &end, &total) < 0 ||
            start != j->start_raw || total != j->meta.http_length) {
            job_fail(j, (int)status, 0, "origin answered the resume request for %s with a "
                     "mismatching Content-Range", j->raw_url);
            return DF_EORIGIN;
        }
        sn_task_set_geometry(t, j->meta.http_length, j->meta.piece_size);
        announce_pre(j);
        j->w_piece_size = j->meta.piece_size;
        j->w_http_length = j->meta.http_length;
        DF_LOGI("cdn", "task %s: resuming at piece %u (byte %llu of %lld)", t->id,
                (unsigned)j->npre, (unsigned long long)start, (long long)total);
    } else if (status == 200 || (status == 206 && j->has_user_range)) {
        if (j->mode != SN_CDN_MODE_FRESH) {
            j->w_reset = 1; /* cache stale or resume refused: start over with this body */
            j->start_raw = 0;
            sn_task_reset_pieces(t);
        }
        if (j->mode == SN_CDN_MODE_REPAIR) {
            DF_LOGW("cdn", "task %s: the origin answered the repair request with %ld (If-Range "
                    "failed: %s changed); downloading the whole file", t->id, status, j->raw_url);
            j->mode = SN_CDN_MODE_FRESH;
            j->w_raw_end = 0;
        }
        uint32_t P = t->piece_size ? t->piece_size : sn_config_piece_size(j->cdn->piece_setting, clen);
        sn_task_set_geometry(t, clen, P);
        j->w_piece_size = P;
        j->w_http_length = clen;
    } else if (status == 404) {
        job_fail(j, 404, 1, "origin returned 404 for %s", j->raw_url);
        return DF_EHTTP;
    } else if (status == 401 || status == 407) {
        job_fail(j, (int)status, 0, "origin requires authentication (HTTP %ld) for %s", status,
                 j->raw_url);
        return DF_EHTTP;
    } else {
        job_fail(j, (int)status, 0, "origin returned HTTP %ld for %s", status, j->raw_url);
        return DF_EHTTP;
    }
    store_validators(j, req);
    struct sn_meta m;
    sn_cdn_io_meta_fill(j, &m);
    j->w_meta_json = sn_meta_encode(&m);
    sn_meta_cleanup(&m);
    c->metrics->cdn_download++;
    j->is_download = 1;
    set_ready(j);
    return 0;
}

static int on_data(struct df_http_req *req, const void *data, size_t len, void *arg)
{
    (void)req;
    struct sn_cdn_job *j = arg;
    if (j->abort_code)
        return j->abort_code;
    if (j->is_hit || len == 0)
        return 0;
    int64_t now = df_now_us();
    if (j->q_bytes + j->batch_bytes >= SN_CDN_QUEUE_CAP || now < j->rl_until_us) {
        j->is_paused = 1;
        if (now < j->rl_until_us && !evtimer_pending(j->rl_timer, NULL)) {
            struct timeval tv = {.tv_sec = (j->rl_until_us - now) / 1000000,
                                 .tv_usec = (j->rl_until_us - now) % 1000000};
            evtimer_add(j->rl_timer, &tv);
        }
        return DF_AGAIN;
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        struct sn_cdn_chunk *tail = j->q_tail;
        if (!tail || tail->len == SN_CDN_CHUNK) {
            tail = df_xmalloc(sizeof(*tail));
            tail->next = NULL;
            tail->len = 0;
            if (j->q_tail)
                j->q_tail->next = tail;
            else
                j->q_head = tail;
            j->q_tail = tail;
        }
        size_t n = DF_MIN(left, SN_CDN_CHUNK - tail->len);
        memcpy(tail->data + tail->len, p, n);
        tail->len += n;
        p += n;
        left -= n;
    }
    j->q_bytes += len;
    j->cdn->metrics->origin_bytes += len;
    if (j->mode == SN_CDN_MODE_REPAIR)
        j->cdn->metrics->cdn_repair_bytes += len;
    if (j->cdn->is_limited) {
        int64_t wait = df_ratelimit_take(&j->cdn->rl, now, len);
        if (wait > 0)
            j->rl_until_us = now + wait;
    }
    kick(j);
    return 0;
}

static void on_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct sn_cdn_job *j = arg;
    j->req = NULL;
    j->is_eof = 1;
    const char *et = df_http_req_errtext(req);
    if (!et || !*et)
        et = df_strerror(err);
    if (j->is_repair_stale) {
        /* our own abort (a repaired piece differs from its digest): kick() starts the fresh
         * download, this is no failure */
    } else if (err < 0 && !j->fail_reason && df_http_req_is_denied(req)) {
        /* The origin policy refused the address (first hop or a redirect) before connecting:
         * the reason names the rule. Blocks the URL like a connection failure. */
        job_fail(j, 0, 1, "not fetching %s: %s", j->raw_url, et);
    } else if (err < 0 && !j->fail_reason && df_http_req_is_cert_error(req)) {
        /* Blocks the URL like a connect failure, but only for registrations with the same
         * TLS settings (sn_api): the cure is another CA, not waiting. */
        job_fail(j, 0, 1, "TLS verification of %s failed: %s (register with its CA: dfget "
                 "--cacerts, or --insecure)", j->raw_url, et);
        j->is_cert_error = 1;
    } else if (err < 0 && !j->fail_reason) {
        if (!j->is_headers_done)
            job_fail(j, 0, 1, "cannot reach origin for %s: %s", j->raw_url, et);
        else
            job_fail(j, (int)status, 0, "origin transfer of %s failed after %llu bytes: %s",
                     j->raw_url, (unsigned long long)df_http_req_bytes(req), et);
    } else if (err == 0 && !j->is_headers_done) {
        job_fail(j, (int)status, 0, "origin sent no response for %s", j->raw_url);
    }
    /* on_done may run inside df_http_req_unpause() called by maybe_unpause(); ending the job
     * here would free it under that caller, so the final kick runs on the next loop turn. */
    struct timeval zero = {0, 0};
    evtimer_add(j->kick_ev, &zero);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kick(arg);
}

static void start_request(struct sn_cdn_job *j)
{
    struct sn_task *t = j->task;
    struct sn_cdn *c = j->cdn;
    size_t nh = t->nheaders;
    const char **hdrs = df_xcalloc(nh + 4, sizeof(char *));
    char *extra[2] = {NULL, NULL};
    for (size_t i = 0; i < nh; i++)
        hdrs[i] = t->headers[i];
    if (j->mode == SN_CDN_MODE_REVALIDATE) {
        if (j->meta.etag[0])
            hdrs[nh++] = extra[0] = df_xasprintf("If-None-Match: %s", j->meta.etag);
        if (j->meta.last_modified[0])
            hdrs[nh++] = extra[1] = df_xasprintf("If-Modified-Since: %s", j->meta.last_modified);
    } else if (j->mode == SN_CDN_MODE_RESUME) {
        hdrs[nh++] = extra[0] = df_xasprintf("Range: bytes=%llu-", (unsigned long long)j->start_raw);
        hdrs[nh++] = extra[1] = df_xasprintf(
            "If-Range: %s", j->meta.etag[0] ? j->meta.etag : j->meta.last_modified);
    } else if (j->mode == SN_CDN_MODE_REPAIR) {
        /* If-Range needs a strong validator (RFC 9110 13.1.5): a weak ETag gives way to the
         * Last-Modified date; with neither, the origin sends 200 and we download it all. */
        const char *v = j->meta.etag[0] && strncmp(j->meta.etag, "W/", 2) != 0
                            ? j->meta.etag
                            : j->meta.last_modified;
        hdrs[nh++] = extra[0] = df_xasprintf("Range: bytes=%llu-%llu",
                                             (unsigned long long)j->start_raw,
                                             (unsigned long long)(j->w_raw_end - 1));
        if (v[0])
            hdrs[nh++] = extra[1] = df_xasprintf("If-Range: %s", v);
    }
    hdrs[nh] = NULL;
    struct df_http_opts o = {
        .url = t->raw_url,
        .headers = hdrs,
        .connect_timeout_ms = 5000,
        .low_speed_window_ms = 60000,
        .is_follow_redirects = 1,
        .is_insecure = t->is_insecure,
        .ca_pem = t->ca_pem, /* copied by the client */
        .ca_pem_len = t->ca_pem_len,
        .policy = c->policy, /* also on the conditional (revalidate) and ranged (resume) GETs */
    };
    int err = 0;
    j->req = df_http_req_start(c->http, &o, on_headers, on_data, on_done, j, &err);
    free(extra[0]);
    free(extra[1]);
    free(hdrs);
    if (!j->req) {
        job_fail(j, 0, 0, "cannot start origin request for %s: %s", j->raw_url, df_strerror(err));
        finish_failed(j);
    }
}

/* ---- re-verification and piece repair ---------------------------------------------------
 * A complete cache reused after a restart or a task GC (304) is not trusted blindly: each piece
 * is re-hashed on the worker pool (sn_cdn_scrub.c) and announced only once it matches the
 * digest stored when it was cut, in piece order, batch by batch, so the first pieces are
 * served while the rest are still being read. Pieces that differ are collected; after the scan
 * they are fetched again with Range + If-Range (adjacent ones coalesced, sn_repair), written at
 * n*P by the ordinary batch writer, hashed, and announced if they match the stored digest. A
 * 200 instead of 206 (the origin changed), or a repaired piece that differs from its stored
 * digest (changed under the same validators), turns the job into a fresh download. sn_verify
 * uses the same repair for a piece a client reported bad (sn_cdn_repair_piece). */

static void scrub_begin(struct sn_cdn_job *j)
{
    j->s_next = 0;
    j->s_end = j->npre;
    j->s_bad = df_xcalloc(j->npre ? j->npre : 1, 1);
    kick(j); /* is_eof is 0 here (headers callback): kick cannot end the job */
}

static void on_scrub_done(void *arg);

static void scrub_submit(struct sn_cdn_job *j)
{
    j->s_from = j->s_next;
    j->is_worker_busy = 1;
    df_workpool_submit(j->cdn->pool, sn_cdn_scrub_run, on_scrub_done, j);
}

static void bad_add(struct sn_cdn_job *j, uint32_t n)
{
    if (j->nbad == j->capbad) {
        j->capbad = j->capbad ? j->capbad * 2 : 8;
        j->bad = df_xrealloc(j->bad, j->capbad * sizeof(*j->bad));
    }
    j->bad[j->nbad++] = n;
}

static void on_scrub_done(void *arg)
{
    struct sn_cdn_job *j = arg;
    j->is_worker_busy = 0;
    if (j->is_dying) {
        job_free(j);
        return;
    }
    struct sn_task *t = j->task;
    struct sn_metrics *mt = j->cdn->metrics;
    for (uint32_t n = j->s_from; n < j->s_to; n++) {
        mt->cdn_recheck_pieces++;
        if (!j->s_bad[n]) {
            if (sn_task_piece_done(t, n, &j->pre[n]) < 0)
                DF_LOGW("cdn", "task %s: cached piece %u out of range", t->id, (unsigned)n);
            continue;
        }
        mt->cdn_recheck_bad++;
        bad_add(j, n);
        DF_LOGE("cdn", "task %s: piece %u of the cache file %s differs from its stored digest "
                "(re-verified before serving it again): not served, fetching it again from the "
                "origin", t->id, (unsigned)n, j->paths.data);
    }
    j->s_next = j->s_to;
    if (j->s_next >= j->s_end && j->nbad == 0)
        DF_LOGI("cdn", "task %s: %u cached pieces re-verified, all intact", t->id,
                (unsigned)j->s_end);
    kick(j);
}

/* Resets what one origin transfer leaves behind, before the job's next request. Only with no
 * request and no worker job running. */
static void transfer_reset(struct sn_cdn_job *j)
{
    DF_ASSERT(!j->req && !j->is_worker_busy);
    chunks_free(j->q_head);
    j->q_head = j->q_tail = NULL;
    j->q_bytes = 0;
    j->status = 0;
    j->is_headers_done = 0;
    j->is_eof = 0;
    j->is_paused = 0;
    j->abort_code = 0;
    j->w_ndone = 0;
}

/* The cache cannot be repaired piece by piece: download the whole file again from offset 0
 * (piece size kept; the .meta says not finished from the first write on). is_changed: the
 * origin's content changed, so the peers' copies are stale too and every holding is forgotten;
 * otherwise only the supernode stops serving until the pieces are on disk again. */
static void restart_fresh(struct sn_cdn_job *j, int is_changed)
{
    transfer_reset(j);
    j->is_hit = 0;
    j->is_repair_stale = 0;
    j->mode = SN_CDN_MODE_FRESH;
    j->w_reset = 1;
    j->w_raw_end = 0;
    j->start_raw = 0;
    j->s_next = j->s_end = 0;
    j->nbad = 0;
    if (is_changed)
        sn_task_reset_pieces(j->task);
    else
        sn_sched_cdn_drop(&j->task->sched, UINT32_MAX);
    DF_LOGW("cdn", "task %s: fresh download of %s", j->id, j->raw_url);
    start_request(j);
}

static void repair_next(struct sn_cdn_job *j)
{
    const struct sn_repair_range *r = &j->ranges[j->cur_range];
    transfer_reset(j);
    j->w_cur = r->first;
    j->w_fill = 0;
    j->w_started = 0;
    j->w_raw = r->raw_start;
    j->w_raw_end = r->raw_end + 1;
    j->start_raw = r->raw_start;
    char what[48];
    if (r->count == 1)
        snprintf(what, sizeof(what), "piece %u", (unsigned)r->first);
    else
        snprintf(what, sizeof(what), "pieces %u-%u", (unsigned)r->first,
                 (unsigned)(r->first + r->count - 1));
    DF_LOGI("cdn", "task %s: fetching %s again from the origin (bytes %llu-%llu, range %d of %d)",
            j->id, what, (unsigned long long)r->raw_start, (unsigned long long)r->raw_end,
            j->cur_range + 1, j->nranges);
    start_request(j);
}

static void repair_start(struct sn_cdn_job *j)
{
    struct sn_repair_range r[SN_REPAIR_MAX_RANGES];
    int nr = sn_repair_plan(j->bad, j->nbad, j->meta.piece_size, j->meta.http_length, r,
                            SN_REPAIR_MAX_RANGES);
    if (nr <= 0) {
        DF_LOGW("cdn", "task %s: %u bad cache pieces %s: not repairing piece by piece", j->id,
                (unsigned)j->nbad, nr == -E2BIG ? "in too many runs" : "cannot be fetched by range");
        restart_fresh(j, 0);
        return;
    }
    free(j->ranges);
    j->ranges = df_xmalloc((size_t)nr * sizeof(*j->ranges));
    memcpy(j->ranges, r, (size_t)nr * sizeof(*r));
    j->nranges = nr;
    j->cur_range = 0;
    j->mode = SN_CDN_MODE_REPAIR;
    j->is_hit = 0;
    j->w_piece_size = j->meta.piece_size;
    j->w_http_length = j->meta.http_length;
    repair_next(j);
}

static int repair_on_headers(struct sn_cdn_job *j, struct df_http_req *req)
{
    uint64_t start, end;
    int64_t total, clen = df_http_req_content_length(req);
    if (parse_content_range(df_http_req_header(req, "Content-Range"), &start, &end, &total) < 0 ||
        start != j->start_raw || end + 1 != j->w_raw_end || total != j->meta.http_length ||
        (clen >= 0 && (uint64_t)clen != end - start + 1)) {
        job_fail(j, 206, 0, "origin answered the repair request for %s with a mismatching "
                 "Content-Range", j->raw_url);
        return DF_EORIGIN;
    }
    return 0;
}

/* Batch completion of a repair transfer: a piece is announced only if what the origin sent
 * again hashes to the digest stored for it. */
static void repair_apply_done(struct sn_cdn_job *j)
{
    struct sn_task *t = j->task;
    for (size_t i = 0; i < j->w_ndone && !j->is_repair_stale; i++) {
        const struct sn_cdn_done_piece *d = &j->w_done[i];
        const struct sn_piece_digest *want = d->n < j->npre ? &j->pre[d->n] : NULL;
        if (!want || memcmp(d->d.sha256, want->sha256, sizeof(want->sha256)) != 0 ||
            memcmp(d->d.md5, want->md5, sizeof(want->md5)) != 0 ||
            d->d.wrapped_len != want->wrapped_len) {
            DF_LOGW("cdn", "task %s: piece %u fetched again differs from its stored digest: %s "
                    "changed under the same validators", t->id, (unsigned)d->n, j->raw_url);
            j->is_repair_stale = 1;
            j->abort_code = DF_ECANCELED; /* the next on_data ends the transfer */
            break;
        }
        if (sn_task_piece_done(t, d->n, want) < 0)
            continue; /* cannot happen: d->n < npre == piece total */
        j->cdn->metrics->cdn_pieces_repaired++;
        j->nrepaired++;
        DF_LOGI("cdn", "task %s: piece %u repaired from the origin", t->id, (unsigned)d->n);
    }
    j->w_ndone = 0;
}

static void repair_on_eof(struct sn_cdn_job *j)
{
    if (j->is_repair_stale) {
        restart_fresh(j, 1);
        return;
    }
    const struct sn_repair_range *r = &j->ranges[j->cur_range];
    if (!j->fail_reason && j->w_err)
        job_fail(j, 0, 0, "cannot write cache file %s: %s", j->paths.data, df_strerror(j->w_err));
    if (!j->fail_reason && !j->abort_code && j->w_cur != r->first + r->count)
        job_fail(j, (int)j->status, 0, "origin sent a short body for the repair of %s",
                 j->raw_url);
    if (j->fail_reason || j->abort_code) {
        /* The files stay as they are (.meta finished): the next attempt re-verifies and
         * repairs again. */
        finish_failed(j);
        return;
    }
    if (++j->cur_range < j->nranges) {
        repair_next(j);
        return;
    }
    finish_success(j);
}

/* sn_cdn_repair_piece's job, after prepare: the cache must still be the one the task's digests
 * describe (complete, same geometry, same digests for the bad pieces). */
static int repair_fits(const struct sn_cdn_job *j)
{
    const struct sn_task *t = j->task;
    if (j->mode != SN_CDN_MODE_REVALIDATE || j->is_rescanned ||
        j->meta.piece_size != t->piece_size || j->meta.http_length != t->http_length)
        return 0;
    for (uint32_t i = 0; i < j->nbad; i++) {
        uint32_t n = j->bad[i];
        if (n >= j->npre || n >= t->ndigests ||
            memcmp(&j->pre[n], &t->digests[n], sizeof(j->pre[n])) != 0)
            return 0;
    }
    return 1;
}

static void on_prepare_done(void *arg)
{
    struct sn_cdn_job *j = arg;
    j->is_worker_busy = 0;
    if (j->is_dying) {
        job_free(j);
        return;
    }
    if (nospace_wait(j, SN_CDN_WAIT_PREPARE))
        return;
    if (j->w_err) {
        fail_disk(j, "open cache file");
        finish_failed(j);
        return;
    }
    if (j->mode != SN_CDN_MODE_FRESH && j->task->is_reg_ready &&
        j->task->piece_size != j->meta.piece_size) {
        /* Registrations were already answered with another piece size (the ready timer fired
         * while the cache was being read): the cache cannot be reused as cut. */
        j->mode = SN_CDN_MODE_FRESH;
        j->w_reset = 1;
        j->npre = 0;
    }
    if (j->nbad) { /* sn_cdn_repair_piece */
        if (repair_fits(j)) {
            repair_start(j);
            return;
        }
        DF_LOGW("cdn", "task %s: the cache no longer matches the task's digests: fetching the "
                "whole file instead of repairing piece %u", j->id, (unsigned)j->bad[0]);
        j->nbad = 0;
        if (j->mode != SN_CDN_MODE_FRESH) {
            sn_sched_cdn_drop(&j->task->sched, UINT32_MAX);
            j->mode = SN_CDN_MODE_FRESH;
            j->w_reset = 1;
            j->npre = 0;
        }
    }
    static const char *names[] = {"fresh download", "revalidation", "resume", "repair"};
    DF_LOGI("cdn", "task %s: %s of %s", j->id, names[j->mode], j->raw_url);
    start_request(j);
}

static int job_start(struct sn_cdn *c, struct sn_task *t, const uint32_t *bad, uint32_t nbad)
{
    if (t->cdn)
        return -EALREADY;
    if (c->is_shutdown)
        return DF_ECANCELED;
    struct sn_cdn_job *j = df_xcalloc(1, sizeof(*j));
    j->cdn = c;
    j->task = t;
    j->w_fd = -1;
    j->w_http_length = -1;
    memcpy(j->id, t->id, sizeof(j->id));
    /* The job only keeps the URLs with their userinfo redacted: they go into the .meta on disk
     * and into every failure reason (sent to clients); the request itself uses t->raw_url. */
    j->task_url = df_redact_url(t->task_url);
    /* a filtered rawUrl differs from the taskUrl by its signature: show the taskUrl instead */
    j->raw_url = df_redact_url(strcmp(t->raw_url, t->task_url) != 0 ? t->task_url : t->raw_url);
    j->md5 = df_xstrdup(t->md5);
    j->identifier = df_xstrdup(t->identifier);
    j->has_user_range = t->range_hdr != NULL;
    j->fixed_piece_size = t->is_reg_ready ? t->piece_size : 0;
    j->started_ms = df_now_ms();
    for (uint32_t i = 0; i < nbad; i++)
        bad_add(j, bad[i]);
    sn_store_paths_init(&j->paths, c->home_dir, t->id);
    j->w_pmd5 = df_digest_new(DF_DIGEST_MD5);
    j->w_psha = df_digest_new(DF_DIGEST_SHA256);
    j->w_fmd5 = df_digest_new(DF_DIGEST_MD5);
    j->w_fsha = df_digest_new(DF_DIGEST_SHA256);
    j->rl_timer = evtimer_new(c->base, on_rl_timer, j);
    j->ready_timer = evtimer_new(c->base, on_ready_timeout, j);
    j->kick_ev = evtimer_new(c->base, on_kick, j);
    DF_ASSERT(j->rl_timer && j->ready_timer && j->kick_ev);
    j->next = c->jobs;
    if (c->jobs)
        c->jobs->prev = j;
    c->jobs = j;
    c->njobs++;

    t->cdn = j;
    sn_task_ref(t);
    t->cdn_status = SN_CDN_RUNNING;
    sn_sched_set_cdn_state(&t->sched, SN_SCHED_CDN_RUNNING);
    free(t->fail_reason);
    t->fail_reason = NULL;
    t->unreachable_until_ms = 0; /* a new attempt lifts an earlier block (a cert block can be
                                    passed by a registration with other TLS settings) */
    t->is_cert_block = 0;
    if (!t->is_reg_ready) {
        struct timeval tv = {.tv_sec = SN_CDN_READY_TIMEOUT_MS / 1000,
                             .tv_usec = (SN_CDN_READY_TIMEOUT_MS % 1000) * 1000};
        evtimer_add(j->ready_timer, &tv);
    }
    c->metrics->cdn_trigger++;
    j->is_worker_busy = 1;
    df_workpool_submit(c->pool, sn_cdn_io_prepare, on_prepare_done, j);
    return 0;
}

int sn_cdn_trigger(struct sn_cdn *c, struct sn_task *t) { return job_start(c, t, NULL, 0); }

int sn_cdn_repair_piece(struct sn_cdn *c, struct sn_task *t, uint32_t n)
{
    if (t->cdn_status != SN_CDN_SUCCESS || n >= t->ndigests || t->http_length < 0)
        return -EINVAL;
    return job_start(c, t, &n, 1);
}

struct del_job {
    char *paths[4];
};

static void on_delete(void *arg)
{
    struct del_job *d = arg;
    for (int i = 0; i < 4; i++)
        unlink(d->paths[i]);
}

static void on_delete_done(void *arg)
{
    struct del_job *d = arg;
    for (int i = 0; i < 4; i++)
        free(d->paths[i]);
    free(d);
}

void sn_cdn_delete_files(struct sn_cdn *c, const char *id)
{
    /* rename(2) now (a metadata operation), unlink on a worker: a CDN job started for the
     * same id right after this call can never have its new files deleted under it. */
    struct sn_store_paths p;
    sn_store_paths_init(&p, c->home_dir, id);
    struct del_job *d = df_xcalloc(1, sizeof(*d));
    const char *src[4] = {p.data, p.meta, p.md5, p.sha256};
    for (int i = 0; i < 4; i++) {
        d->paths[i] = df_xasprintf("%s.deleted", src[i]);
        if (rename(src[i], d->paths[i]) < 0 && errno != ENOENT)
            DF_LOGW("cdn", "cannot remove %s: %s", src[i], strerror(errno));
    }
    sn_store_paths_cleanup(&p);
    df_workpool_submit(c->pool, on_delete, on_delete_done, d);
}

void sn_cdn_shutdown(struct sn_cdn *c)
{
    c->is_shutdown = 1;
    struct sn_cdn_job *j = c->jobs;
    while (j) {
        struct sn_cdn_job *next = j->next;
        if (j->req) {
            df_http_req_cancel(j->req);
            j->req = NULL;
        }
        if (j->task) {
            j->task->cdn = NULL;
            sn_task_set_failed(j->task, 0, "supernode shutting down");
            sn_task_unref(j->task);
            j->task = NULL;
        }
        if (j->is_worker_busy)
            j->is_dying = 1; /* freed by its completion */
        else
            job_free(j);
        j = next;
    }
}

void sn_cdn_free(struct sn_cdn *c)
{
    if (!c)
        return;
    while (c->jobs) /* only jobs whose completion never ran (pool freed without draining) */
        job_free(c->jobs);
    free(c->home_dir);
    free(c);
}
