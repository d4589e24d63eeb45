/* SPDX-License-Identifier: Apache-2.0 */
/* Blob store + single-flight fetch: complete blobs are verified files under <localrepo>/sha256,
 * a fetch streams the upstream body into <hex>.part through one ordered writer thread that
 * also hashes it (or the swarm writes it piece by piece and reports its verified in-order
 * prefix), and readers follow the written prefix (minus the last byte until verified).
 * Reader notifications are always delivered from a per-reader event, never from inside a curl
 * or workpool callback, so a reader's owner may do anything in its callback. */
#include "dfd_blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "df_digest.h"
#include "df_http_client.h"
#include "df_log.h"
#include "df_util.h"
#include "df_workpool.h"
#include "dfd_rules.h"
#include "dfd_swarm.h"

struct fetch {
    struct dfd_blobs *bs;
    char hex[DF_SHA256_HEX_LEN + 1];
    char *part_path, *final_path;
    int fd;                         /* .part, written by the worker only */
    struct df_http_req *up;
    struct dfd_swarm_job *sj;       /* swarm download in progress */
    char *url;                      /* for the direct fallback */
    char *upstream, *repo;          /* provenance, recorded in <hex>.src when verified */
    char **headers;
    int is_insecure;
    const char *ca_file;            /* borrowed (config-owned) */
    const struct df_netpolicy *policy; /* borrowed */
    uint64_t bytes_sn, bytes_peers; /* where the bytes came from (swarm) */
    int64_t size;                   /* -1 until the upstream headers */
    uint64_t received;              /* bytes handed to the writer */
    uint64_t written;               /* bytes on disk (ordered prefix) */
    int is_paused, is_finished, is_orphan;
    int pending_jobs;               /* writer jobs whose done() has not run */
    struct df_digest *sha;          /* used by the worker thread only */
    struct dfd_blob_reader *readers;
    struct fetch *next;
};

struct dfd_blob_reader {
    struct dfd_blobs *bs;
    struct fetch *f;                /* NULL once complete, failed or cached */
    int fd;                         /* own read-only fd */
    int64_t size;
    int is_cached, is_complete, is_failed;
    uint64_t bytes_source, bytes_sn, bytes_peers; /* of the fetch, once complete */
    int pend;                       /* pending notifications: bit per enum dfd_blob_event */
    int fail_err;
    long fail_status;
    struct event *ev;
    dfd_blob_cb cb;
    void *arg;
    struct dfd_blob_reader *next;   /* in f->readers */
    char hex[DF_SHA256_HEX_LEN + 1];
    struct dfd_blob_reader *live_prev, *live_next; /* bs->live: protected from the GC */
};

struct dfd_blobs {
    struct event_base *base;
    struct df_http_client *http;
    struct df_workpool *pool;
    char *dir;                      /* <localrepo>/sha256 */
    struct fetch *fetches;          /* running */
    struct dfd_swarm *swarm;        /* NULL: fetch straight from the upstream */
    struct dfd_blob_stats stats;
    struct dfd_blob_reader *live;   /* every reader not yet freed */
    struct event *gc_ev;
    int64_t gc_expire_ms;
};

struct wjob {
    struct fetch *f;
    void *buf;
    size_t len;
    uint64_t off;
    int err;
    int is_final;                   /* 1: finish the streaming digest; 2: hash the file */
    char got[DF_DIGEST_HEX_MAX];
};

/* ---- readers ------------------------------------------------------------------------------ */

static void on_reader_ev(evutil_socket_t fd, short what, void *arg)
{
    struct dfd_blob_reader *r = arg;
    (void)fd;
    (void)what;
    int pend = r->pend;
    r->pend = 0;
    if (pend & (1 << DFD_BLOB_EV_FAIL)) {
        r->cb(r, DFD_BLOB_EV_FAIL, r->fail_err, r->fail_status, r->arg);
        return;
    }
    if (pend & (1 << DFD_BLOB_EV_READY)) {
        r->cb(r, DFD_BLOB_EV_READY, 0, 0, r->arg);
        return; /* the owner pulls data right away; DATA is implied */
    }
    if (pend & (1 << DFD_BLOB_EV_DATA))
        r->cb(r, DFD_BLOB_EV_DATA, 0, 0, r->arg);
}

static void notify(struct dfd_blob_reader *r, enum dfd_blob_event ev)
{
    r->pend |= 1 << ev;
    event_active(r->ev, EV_TIMEOUT, 0);
}

static void detach(struct dfd_blob_reader *r)
{
    struct fetch *f = r->f;
    if (!f)
        return;
    for (struct dfd_blob_reader **pp = &f->readers; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    r->f = NULL;
    r->next = NULL;
}

void dfd_blob_reader_free(struct dfd_blob_reader *r)
{
    if (!r)
        return;
    detach(r);
    if (r->live_prev)
        r->live_prev->live_next = r->live_next;
    else if (r->bs->live == r)
        r->bs->live = r->live_next;
    if (r->live_next)
        r->live_next->live_prev = r->live_prev;
    if (r->ev)
        event_free(r->ev);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

int64_t dfd_blob_reader_size(const struct dfd_blob_reader *r) { return r->size; }
int dfd_blob_reader_is_cached(const struct dfd_blob_reader *r) { return r->is_cached; }
int dfd_blob_reader_is_complete(const struct dfd_blob_reader *r) { return r->is_complete; }

int dfd_blob_reader_avail(struct dfd_blob_reader *r, uint64_t pos, int *fd, uint64_t *len)
{
    uint64_t limit = 0;
    *fd = r->fd;
    if (r->is_complete)
        limit = (uint64_t)r->size;
    else if (r->f && r->size > 0) /* the last byte waits for the digest */
        limit = DF_MIN(r->f->written, (uint64_t)r->size - 1);
    *len = limit > pos ? limit - pos : 0;
    return 0;
}

static struct dfd_blob_reader *reader_new(struct dfd_blobs *bs, const char *hex, dfd_blob_cb cb,
                                          void *arg)
{
    struct dfd_blob_reader *r = df_xcalloc(1, sizeof(*r));
    r->bs = bs;
    snprintf(r->hex, sizeof(r->hex), "%s", hex);
    r->live_next = bs->live;
    if (bs->live)
        bs->live->live_prev = r;
    bs->live = r;
    r->fd = -1;
    r->size = -1;
    r->cb = cb;
    r->arg = arg;
    r->ev = event_new(bs->base, -1, 0, on_reader_ev, r);
    return r;
}

/* ---- provenance (<hex>.src) ---------------------------------------------------------------- */

#define SRC_MAX_BYTES 8192
#define SRC_MAX_LINES 16

static char *src_path(const struct dfd_blobs *bs, const char *hex)
{
    return df_xasprintf("%s/%s.src", bs->dir, hex);
}

/* The record of a stored blob (heap, NUL-terminated) or NULL when there is none. */
static char *src_read(const struct dfd_blobs *bs, const char *hex)
{
    char *path = src_path(bs, hex);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return NULL;
    char *buf = df_xmalloc(SRC_MAX_BYTES + 1);
    ssize_t n = read(fd, buf, SRC_MAX_BYTES);
    close(fd);
    if (n <= 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* 1 when the record lists upstream (case-insensitive), else 0; *lines = number of records. */
static int src_has(const char *rec, const char *upstream, int *lines)
{
    size_t ul = strlen(upstream);
    int found = 0;
    *lines = 0;
    for (const char *p = rec; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (*p == '\n')
            continue;
        (*lines)++;
        if (!strncasecmp(p, upstream, ul) && p[ul] == '\t')
            found = 1;
    }
    return found;
}

/* Writes (is_append: appends) one record; 0 or a negative errno. */
static int src_write(const struct dfd_blobs *bs, const char *hex, const char *upstream,
                     const char *repo, int is_append)
{
    char *path = src_path(bs, hex);
    char *line = df_xasprintf("%s\t%s\n", upstream, repo ? repo : "-");
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (is_append ? O_APPEND : O_TRUNC), 0644);
    size_t n = strlen(line);
    if (fd < 0 || write(fd, line, n) != (ssize_t)n)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        DF_LOGW("blob", "cannot write %s: %s", path, strerror(-rc));
    free(line);
    free(path);
    return rc;
}

void dfd_blobs_add_origin(struct dfd_blobs *bs, const char *digest, const char *upstream,
                          const char *repo)
{
    if (!upstream || !dfd_rules_valid_digest(digest))
        return;
    const char *hex = digest + 7;
    char *rec = src_read(bs, hex);
    int lines = 0;
    if (rec && !src_has(rec, upstream, &lines) && lines < SRC_MAX_LINES) {
        char *final = df_xasprintf("%s/%s", bs->dir, hex);
        if (access(final, F_OK) == 0 && src_write(bs, hex, upstream, repo, 1) == 0)
            DF_LOGI("blob", "sha256:%s: %s served it verified; recorded as a source", hex,
                    upstream);
        free(final);
    }
    free(rec);
}

/* ---- fetch -------------------------------------------------------------------------------- */

static void fetch_free(struct fetch *f)
{
    for (size_t i = 0; f->headers && f->headers[i]; i++)
        free(f->headers[i]);
    free(f->headers);
    free(f->url);
    free(f->upstream);
    free(f->repo);
    if (f->fd >= 0)
        close(f->fd);
    df_digest_free(f->sha);
    free(f->part_path);
    free(f->final_path);
    free(f);
}

static void unlink_fetch(struct fetch *f)
{
    for (struct fetch **pp = &f->bs->fetches; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
}

/* The fetch is over (either way): readers are detached, the object goes once no writer job
 * refers to it. Must not run inside a curl callback of f->up. */
static void fetch_end(struct fetch *f)
{
    f->is_finished = 1;
    if (f->up) {
        df_http_req_cancel(f->up);
        f->up = NULL;
    }
    dfd_swarm_cancel(f->sj);
    f->sj = NULL;
    unlink_fetch(f);
    while (f->readers)
        detach(f->readers);
    if (f->pending_jobs > 0)
        f->is_orphan = 1;
    else
        fetch_free(f);
}

static void fetch_fail(struct fetch *f, int err, long status, const char *why)
{
    DF_LOGW("blob", "fetch of sha256:%s failed: %s", f->hex, why);
    f->bs->stats.failures++;
    unlink(f->part_path); /* nothing of a failed fetch stays in the store */
    for (struct dfd_blob_reader *r = f->readers; r; r = r->next) {
        r->is_failed = 1;
        r->fail_err = err;
        r->fail_status = status;
        notify(r, DFD_BLOB_EV_FAIL);
    }
    fetch_end(f);
}

static void fetch_complete(struct fetch *f, const char *got)
{
    struct dfd_blobs *bs = f->bs;
    if (strcmp(got, f->hex) != 0) {
        bs->stats.mismatches++;
        char why[200];
        snprintf(why, sizeof(why), "digest mismatch: got sha256:%.64s over %llu bytes", got,
                 (unsigned long long)f->written);
        fetch_fail(f, DF_EDIGEST, 0, why);
        return;
    }
    /* The record first: a blob file without one is never served from the store. */
    if (src_write(bs, f->hex, f->upstream ? f->upstream : "-", f->repo, 0) < 0) {
        fetch_fail(f, -EIO, 0, "cannot record where the blob came from");
        return;
    }
    if (rename(f->part_path, f->final_path) < 0) {
        fetch_fail(f, -errno, 0, "cannot rename the verified blob into the store");
        return;
    }
    bs->stats.fetch_bytes += f->written;
    for (struct dfd_blob_reader *r = f->readers; r; r = r->next) {
        r->is_complete = 1;
        r->bytes_sn = f->bytes_sn;
        r->bytes_peers = f->bytes_peers;
        r->bytes_source = f->written - DF_MIN(f->written, f->bytes_sn + f->bytes_peers);
        notify(r, DFD_BLOB_EV_DATA);
    }
    fetch_end(f);
}

static void work_write(void *arg)
{
    struct wjob *j = arg;
    if (j->is_final == 2) { /* the swarm wrote the file: hash it from disk */
        struct df_digest *d = df_digest_new(DF_DIGEST_SHA256);
        unsigned char *buf = df_xmalloc(1u << 20);
        off_t off = 0;
        for (;;) {
            ssize_t n = pread(j->f->fd, buf, 1u << 20, off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                j->err = -errno;
                break;
            }
            if (n == 0)
                break;
            df_digest_update(d, buf, (size_t)n);
            off += n;
        }
        df_digest_final_hex(d, j->got);
        df_digest_free(d);
        free(buf);
        return;
    }
    if (j->is_final) {
        df_digest_final_hex(j->f->sha, j->got);
        return;
    }
    const char *p = j->buf;
    size_t left = j->len;
    off_t off = (off_t)j->off;
    while (left > 0) {
        ssize_t n = pwrite(j->f->fd, p, left, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            j->err = -errno;
            return;
        }
        p += n;
        off += n;
        left -= (size_t)n;
    }
    df_digest_update(j->f->sha, j->buf, j->len);
}

static void done_write(void *arg)
{
    struct wjob *j = arg;
    struct fetch *f = j->f;
    f->pending_jobs--;
    free(j->buf);
    if (f->is_orphan || f->is_finished) {
        if (f->is_orphan && f->pending_jobs == 0)
            fetch_free(f);
        free(j);
        return;
    }
    if (j->err < 0) {
        char why[120];
        snprintf(why, sizeof(why), "write to the store failed: %s", df_strerror(j->err));
        fetch_fail(f, j->err, 0, why);
    } else if (j->is_final) {
        fetch_complete(f, j->got);
    } else {
        f->written += j->len;
        for (struct dfd_blob_reader *r = f->readers; r; r = r->next)
            notify(r, DFD_BLOB_EV_DATA);
        if (f->is_paused && f->up && f->received - f->written <= DFD_BLOB_QUEUE_HIGH / 2) {
            f->is_paused = 0;
            df_http_req_unpause(f->up);
        }
    }
    free(j);
}

static void submit(struct fetch *f, void *buf, size_t len, uint64_t off, int is_final)
{
    struct wjob *j = df_xcalloc(1, sizeof(*j));
    j->f = f;
    j->buf = buf;
    j->len = len;
    j->off = off;
    j->is_final = is_final;
    f->pending_jobs++;
    df_workpool_submit(f->bs->pool, work_write, done_write, j);
}

static int on_fetch_headers(struct df_http_req *up, long status, void *arg)
{
    struct fetch *f = arg;
    if (status != 200)
        return DF_EHTTP;
    int64_t cl = df_http_req_content_length(up);
    if (cl <= 0 || df_http_req_header(up, "Content-Range"))
        return DF_EPROTO; /* not cacheable as a whole blob */
    f->size = cl;
    for (struct dfd_blob_reader *r = f->readers; r; r = r->next) {
        r->size = cl;
        notify(r, DFD_BLOB_EV_READY);
    }
    return 0;
}

static int on_fetch_data(struct df_http_req *up, const void *data, size_t len, void *arg)
{
    struct fetch *f = arg;
    (void)up;
    if (f->received + len > (uint64_t)f->size)
        return DF_ETOOBIG;
    if (f->received - f->written > DFD_BLOB_QUEUE_HIGH) {
        f->is_paused = 1;
        return DF_AGAIN;
    }
    void *copy = df_xmalloc(len);
    memcpy(copy, data, len);
    submit(f, copy, len, f->received, 0);
    f->received += len;
    return 0;
}

static void on_fetch_done(struct df_http_req *up, int err, long status, void *arg)
{
    struct fetch *f = arg;
    f->up = NULL; /* freed by the client after this callback */
    if (err < 0 || status != 200) {
        char why[200];
        snprintf(why, sizeof(why), "upstream: HTTP %ld, %s %s", status, df_strerror(err),
                 df_http_req_errtext(up));
        fetch_fail(f, err < 0 ? (df_http_req_is_denied(up) ? -EACCES : err) : DF_EHTTP, status,
                   why);
        return;
    }
    if (f->received != (uint64_t)f->size) {
        fetch_fail(f, DF_EPROTO, 0, "short upstream body");
        return;
    }
    submit(f, NULL, 0, 0, 1);
}

/* Fetch straight from the upstream registry (no --node, or the swarm's fallback). */
static int start_direct(struct fetch *f, int *err)
{
    struct df_http_opts ho = {
        .url = f->url,
        .headers = (const char *const *)f->headers,
        .connect_timeout_ms = 10000,
        .low_speed_window_ms = 60000,
        .is_follow_redirects = 1, /* blob storage; Authorization is not sent off-host */
        .is_insecure = f->is_insecure,
        .ca_file = f->ca_file,
        .policy = f->policy,
    };
    f->up = df_http_req_start(f->bs->http, &ho, on_fetch_headers, on_fetch_data, on_fetch_done,
                              f, err);
    return f->up ? 0 : (*err < 0 ? *err : -ENOMEM);
}

/* Bytes already released may not be what the file will hold (the swarm restarted with another
 * piece layout, or falls back to the upstream): every attached reader fails (its client
 * connection is aborted, never completed with mixed bytes); the fetch goes on for the store
 * and for later readers. */
static void fail_readers(struct fetch *f, const char *why)
{
    if (!f->readers)
        return;
    DF_LOGW("blob", "sha256:%s: %s after %llu bytes were released: aborting its readers", f->hex,
            why, (unsigned long long)f->written);
    for (struct dfd_blob_reader *r = f->readers; r; r = r->next) {
        r->is_failed = 1;
        r->fail_err = DF_EPROTO;
        r->fail_status = 0;
        notify(r, DFD_BLOB_EV_FAIL);
    }
    while (f->readers)
        detach(f->readers);
}

/* The swarm's verified, written, in-order prefix grew: readers may send it (minus the last
 * byte of the blob, released by fetch_complete after the whole-file digest). */
static void on_swarm_progress(int64_t length, uint64_t contiguous, void *arg)
{
    struct fetch *f = arg;
    if (length <= 0)
        return; /* size unknown: released when complete (Content-Length comes first) */
    if ((f->size >= 0 && length != f->size) || contiguous < f->written) {
        if (f->written > 0 || length != f->size)
            fail_readers(f, "the swarm download restarted");
        f->written = 0;
    }
    if (f->size != length) {
        f->size = length;
        for (struct dfd_blob_reader *r = f->readers; r; r = r->next) {
            r->size = length;
            notify(r, DFD_BLOB_EV_READY);
        }
    }
    if (contiguous > (uint64_t)length)
        contiguous = (uint64_t)length;
    if (contiguous > f->written) {
        f->received = f->written = contiguous;
        for (struct dfd_blob_reader *r = f->readers; r; r = r->next)
            notify(r, DFD_BLOB_EV_DATA);
    } else {
        f->received = f->written = contiguous;
    }
}

static void on_swarm_done(const struct dfd_swarm_result *res, void *arg)
{
    struct fetch *f = arg;
    f->sj = NULL; /* freed by the swarm before this callback */
    if (res->err == DF_EDIGEST) { /* the swarm holds wrong bytes: the origin has them too */
        f->bs->stats.mismatches++;
        fetch_fail(f, DF_EDIGEST, 0, res->msg);
        return;
    }
    if (res->err < 0 || res->length < 0) {
        /* Dragonfly behaviour: a failed swarm download is retried straight from the origin. */
        DF_LOGW("blob", "swarm download of sha256:%s failed (%s); fetching from the upstream",
                f->hex, res->msg);
        if (f->written > 0)
            fail_readers(f, "the swarm download failed");
        f->received = f->written = 0;
        int err = 0;
        if (ftruncate(f->fd, 0) < 0 || start_direct(f, &err) < 0)
            fetch_fail(f, err < 0 ? err : -errno, 0, "cannot fall back to the upstream");
        return;
    }
    if (f->size >= 0 && f->size != res->length)
        fail_readers(f, "the swarm download changed length");
    f->size = res->length;
    f->received = f->written = (uint64_t)res->length;
    f->bytes_sn = res->bytes_supernode;
    f->bytes_peers = res->bytes_peers;
    for (struct dfd_blob_reader *r = f->readers; r; r = r->next) {
        if (r->size != f->size) {
            r->size = f->size;
            notify(r, DFD_BLOB_EV_READY);
        }
    }
    if (res->sha256[0])
        fetch_complete(f, res->sha256);
    else
        submit(f, NULL, 0, 0, 2); /* no digest from the engine: hash the file */
}

/* ---- store -------------------------------------------------------------------------------- */

struct dfd_blobs *dfd_blobs_new(struct event_base *base, struct df_http_client *http,
                                const char *localrepo, char err[DF_ERR_LEN])
{
    struct dfd_blobs *bs = df_xcalloc(1, sizeof(*bs));
    bs->base = base;
    bs->http = http;
    bs->dir = df_path_join(localrepo, "sha256");
    int rc = df_mkdir_p(bs->dir, 0755);
    if (rc < 0) {
        snprintf(err, DF_ERR_LEN, "cannot create the blob store %.150s: %.60s", bs->dir,
                 df_strerror(rc));
        goto fail;
    }
    char perr[DF_ERR_LEN] = "";
    bs->pool = df_workpool_new(base, 1, perr, (int)sizeof(perr));
    if (!bs->pool) {
        snprintf(err, DF_ERR_LEN, "cannot start the blob writer: %.200s", perr);
        goto fail;
    }
    return bs;
fail:
    dfd_blobs_free(bs);
    return NULL;
}

void dfd_blobs_free(struct dfd_blobs *bs)
{
    if (!bs)
        return;
    while (bs->fetches) {
        struct fetch *f = bs->fetches;
        unlink(f->part_path);
        fetch_end(f); /* orphaned while writer jobs are pending */
    }
    df_workpool_free(bs->pool); /* runs the remaining done() callbacks: orphans are freed */
    if (bs->gc_ev)
        event_free(bs->gc_ev);
    free(bs->dir);
    free(bs);
}

const struct dfd_blob_stats *dfd_blobs_stats(const struct dfd_blobs *bs) { return &bs->stats; }

void dfd_blobs_set_swarm(struct dfd_blobs *bs, struct dfd_swarm *sw) { bs->swarm = sw; }

void dfd_blob_reader_sources(const struct dfd_blob_reader *r, uint64_t *source,
                             uint64_t *supernode, uint64_t *peers)
{
    *source = r->bytes_source;
    *supernode = r->bytes_sn;
    *peers = r->bytes_peers;
}

struct dfd_blob_reader *dfd_blob_open(struct dfd_blobs *bs, const struct dfd_blob_fetch_opts *o,
                                      dfd_blob_cb cb, void *arg, int *err)
{
    const char *hex = o->digest + 7;
    char *final_path = df_xasprintf("%s/%s", bs->dir, hex);
    struct dfd_blob_reader *r = reader_new(bs, hex, cb, arg);
    *err = 0;

    /* 1. complete in the store, from the client's upstream (else -EXDEV); a blob without a
     *    record is fetched again */
    int fd = open(final_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *rec = fd >= 0 ? src_read(bs, hex) : NULL;
    int lines = 0;
    if (rec && !src_has(rec, o->upstream ? o->upstream : "-", &lines)) {
        DF_LOGD("blob", "sha256:%s is stored from another upstream than %s", hex,
                o->upstream ? o->upstream : "-");
        free(rec);
        close(fd);
        free(final_path);
        dfd_blob_reader_free(r);
        *err = -EXDEV;
        return NULL;
    }
    if (fd >= 0 && !rec) {
        DF_LOGI("blob", "sha256:%s is stored without a source record: fetching it again", hex);
        close(fd);
        fd = -1;
    }
    free(rec);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        r->fd = fd;
        r->size = st.st_size;
        r->is_cached = 1;
        r->is_complete = 1;
        if (futimens(fd, NULL) < 0) /* mtime = last access, for the GC */
            DF_LOGW("blob", "cannot touch %s: %s", final_path, strerror(errno));
        bs->stats.cache_hits++;
        notify(r, DFD_BLOB_EV_READY);
        free(final_path);
        return r;
    }
    if (fd >= 0)
        close(fd);

    /* 2. a fetch is running: join it */
    struct fetch *f;
    for (f = bs->fetches; f; f = f->next)
        if (!strcmp(f->hex, hex))
            break;
    if (f && strcasecmp(f->upstream ? f->upstream : "-", o->upstream ? o->upstream : "-")) {
        free(final_path);
        dfd_blob_reader_free(r);
        *err = -EXDEV; /* its bytes come from another upstream */
        return NULL;
    }
    if (!f) {
        /* 3. start one */
        f = df_xcalloc(1, sizeof(*f));
        f->bs = bs;
        f->size = -1;
        snprintf(f->hex, sizeof(f->hex), "%s", hex);
        f->final_path = final_path;
        final_path = NULL;
        f->part_path = df_xasprintf("%s/%s.part", bs->dir, hex);
        f->fd = open(f->part_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (f->fd < 0) {
            *err = -errno;
            DF_LOGE("blob", "cannot create %s: %s", f->part_path, strerror(errno));
            fetch_free(f);
            dfd_blob_reader_free(r);
            return NULL;
        }
        f->sha = df_digest_new(DF_DIGEST_SHA256);
        f->url = df_xstrdup(o->url);
        f->upstream = o->upstream ? df_xstrdup(o->upstream) : NULL;
        f->repo = o->repo ? df_xstrdup(o->repo) : NULL;
        size_t nh = 0;
        while (o->headers && o->headers[nh])
            nh++;
        f->headers = df_xcalloc(nh + 1, sizeof(char *));
        for (size_t i = 0; i < nh; i++)
            f->headers[i] = df_xstrdup(o->headers[i]);
        f->is_insecure = o->is_insecure;
        f->ca_file = o->ca_file;
        f->policy = o->policy;
        if (bs->swarm)
            f->sj = dfd_swarm_start(bs->swarm, f->fd, f->part_path, o->url, o->headers,
                                    o->is_insecure, o->ca_file != NULL, on_swarm_progress,
                                    on_swarm_done, f, err);
        if (!f->sj && start_direct(f, err) < 0) {
            unlink(f->part_path);
            fetch_free(f);
            dfd_blob_reader_free(r);
            return NULL;
        }
        f->next = bs->fetches;
        bs->fetches = f;
        bs->stats.fetches++;
    } else {
        bs->stats.joined++;
    }
    free(final_path);
    r->fd = open(f->part_path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        *err = -errno;
        dfd_blob_reader_free(r);
        return NULL; /* the fetch goes on without this reader */
    }
    r->f = f;
    r->next = f->readers;
    f->readers = r;
    if (f->size >= 0) {
        r->size = f->size;
        notify(r, DFD_BLOB_EV_READY);
    }
    return r;
}

/* ---- clean-up ----------------------------------------------------------------------------- */

static int is_busy(const struct dfd_blobs *bs, const char *hex)
{
    for (const struct fetch *f = bs->fetches; f; f = f->next)
        if (!strcmp(f->hex, hex))
            return 1;
    for (const struct dfd_blob_reader *r = bs->live; r; r = r->live_next)
        if (!strcmp(r->hex, hex))
            return 1;
    return 0;
}

int dfd_blobs_gc(struct dfd_blobs *bs)
{
    DIR *d = opendir(bs->dir);
    if (!d) {
        DF_LOGW("blob", "store clean-up: cannot open %s: %s", bs->dir, strerror(errno));
        return 0;
    }
    int64_t now = df_wall_ms(), deleted = 0, kept_busy = 0;
    uint64_t freed = 0;
    struct dirent *de;
    bs->stats.gc_runs++;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        int is_src = n == DF_SHA256_HEX_LEN + 4 && !strcmp(de->d_name + DF_SHA256_HEX_LEN, ".src");
        if (n != DF_SHA256_HEX_LEN && !is_src &&
            !(n == DF_SHA256_HEX_LEN + 5 && !strcmp(de->d_name + DF_SHA256_HEX_LEN, ".part")))
            continue;
        char hex[DF_SHA256_HEX_LEN + 1];
        memcpy(hex, de->d_name, DF_SHA256_HEX_LEN);
        hex[DF_SHA256_HEX_LEN] = '\0';
        if (strspn(hex, "0123456789abcdef") != DF_SHA256_HEX_LEN)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (now - mtime < bs->gc_expire_ms)
            continue;
        if (is_src && faccessat(dirfd(d), hex, F_OK, 0) == 0)
            continue; /* the record of a stored blob goes with the blob */
        if (is_busy(bs, hex)) {
            if (!is_src)
                kept_busy++;
            continue;
        }
        if (n == DF_SHA256_HEX_LEN) {
            char rec[DF_SHA256_HEX_LEN + 5];
            snprintf(rec, sizeof(rec), "%s.src", hex);
            unlinkat(dirfd(d), rec, 0); /* no record without its blob */
        }
        if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
            DF_LOGW("blob", "store clean-up: cannot delete %s: %s", de->d_name, strerror(errno));
            continue;
        }
        deleted++;
        freed += (uint64_t)st.st_size;
        DF_LOGD("blob", "store clean-up: deleted %s (%lld bytes, unused for %llds)", de->d_name,
                (long long)st.st_size, (long long)((now - mtime) / 1000));
    }
    closedir(d);
    bs->stats.gc_deleted += (uint64_t)deleted;
    bs->stats.gc_deleted_bytes += freed;
    if (deleted || kept_busy)
        DF_LOGI("blob", "store clean-up: deleted %lld files (%llu bytes), kept %lld in use",
                (long long)deleted, (unsigned long long)freed, (long long)kept_busy);
    return (int)deleted;
}

static void on_gc_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dfd_blobs_gc(arg);
}

void dfd_blobs_set_gc(struct dfd_blobs *bs, int64_t interval_ms, int64_t expire_ms)
{
    if (bs->gc_ev) {
        event_free(bs->gc_ev);
        bs->gc_ev = NULL;
    }
    bs->gc_expire_ms = expire_ms;
    if (interval_ms <= 0)
        return;
    bs->gc_ev = event_new(bs->base, -1, EV_PERSIST, on_gc_timer, bs);
    struct timeval tv = {.tv_sec = (time_t)(interval_ms / 1000),
                         .tv_usec = (suseconds_t)(interval_ms % 1000) * 1000};
    event_add(bs->gc_ev, &tv);
}
