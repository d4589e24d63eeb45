/* SPDX-License-Identifier: Apache-2.0 */
/* Writer for dfget: payload pwrite()s at piece offsets on one worker thread, whole-file hashing
 * of the committed prefix, in file order, on a second one. The write thread never hashes, so it
 * drains the queue smoothly (no multi-piece catch-up bursts that stall the transfers), and the
 * hash thread works in parallel with both the writes and the loop's per-piece digests.
 *
 * State marked "write" is touched only by write-thread job bodies, "hash" only by hash-thread
 * job bodies, "loop" only by the loop thread (API calls and done callbacks). Each pool has one
 * thread and runs its jobs FIFO, and done callbacks of a pool run in completion order. */
#include "dfget_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df_bitmap.h"
#include "df_log.h"
#include "df_util.h"
#include "df_workpool.h"

#define MOD "writer"
#define READ_BLOCK (1u << 20)     /* pread size of the hash thread */
#define WRITEBACK_STEP (8u << 20) /* stream mode: start write-back every 8 MiB */

struct dfget_writer {
    struct df_workpool *pool;  /* write thread */
    struct df_workpool *hpool; /* hash thread */
    int fd;
    /* loop */
    size_t queued;             /* bytes in write jobs not yet done */
    int is_above_low;          /* queued went above the low-water mark */
    uint64_t written;          /* bytes pwritten (summed in done callbacks) */
    dfget_writer_drain_cb on_drain;
    void *drain_arg;
    uint32_t piece_size;       /* 0 = stream mode */
    uint32_t gen;              /* bumped by reset(); older commits are ignored */
    struct df_bitmap committed;
    uint64_t *lens;            /* payload length per committed piece; nlens entries */
    uint32_t nlens;
    uint32_t hash_sub;         /* pieces [0, hash_sub) were handed to the hash thread */
    uint64_t stream_sub;       /* stream mode: bytes [0, stream_sub) handed to it */
    int want_md5, want_sha;
    /* write */
    int err;                   /* sticky first write error since reset */
    uint64_t wb_from;          /* stream mode: file offset where write-back was not started yet */
    int mfd;                   /* copy-mode mirror, -1 = none */
    char *mpath;
    /* hash */
    struct df_digest *md5, *sha; /* NULL when not wanted */
    int herr;                  /* first read error since the last hash reset */
    unsigned char *rbuf;       /* READ_BLOCK bytes */
};

enum job_kind { J_RESET, J_WRITE, J_COMMIT, J_FINISH, J_MIRROR, H_RESET, H_RANGE, H_FINAL };

struct job {
    struct dfget_writer *w;
    enum job_kind kind;
    uint32_t piece, gen;
    uint64_t pos;             /* write: payload offset; commit: payload length; reset: prealloc;
                                 range: file offset */
    void *buf;
    size_t len;               /* write: bytes; range: bytes */
    int want_md5, want_sha;
    uint32_t piece_size;      /* reset */
    dfget_writer_commit_cb on_commit;
    dfget_writer_finish_cb on_finish;
    uint64_t token;
    void *arg;
    int err;                  /* result, set by the worker */
    char md5_hex[DF_DIGEST_HEX_MAX], sha_hex[DF_DIGEST_HEX_MAX];
};

static uint64_t file_off(uint32_t piece_size, uint32_t piece, uint64_t pos)
{
    if (!piece_size)
        return pos;
    return (uint64_t)piece * (piece_size - 5) + pos;
}

/* ---- write thread ----------------------------------------------------------------------- */

/* Starts write-back of [off, off+len) without waiting for it, so the final fdatasync() has
 * little left to flush instead of the whole file (seconds on a slow disk). Best effort. */
static void start_writeback(struct dfget_writer *w, uint64_t off, uint64_t len)
{
    if (len > 0)
        (void)sync_file_range(w->fd, (off64_t)off, (off64_t)len, SYNC_FILE_RANGE_WRITE);
}

/* The service copy failed: stop mirroring and remove it, so the uploader stops serving it. */
static void mirror_fail(struct dfget_writer *w, const char *what, int err)
{
    DF_LOGW(MOD, "service copy %s: %s failed: %s; no longer shared", w->mpath, what,
            df_strerror(err));
    if (unlink(w->mpath) < 0 && errno != ENOENT)
        DF_LOGW(MOD, "cannot remove %s: %s", w->mpath, strerror(errno));
    close(w->mfd);
    w->mfd = -1;
}

static int pwrite_all(int fd, const unsigned char *p, size_t left, uint64_t off)
{
    while (left > 0) {
        ssize_t r = pwrite(fd, p, left, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        p += r;
        off += (uint64_t)r;
        left -= (size_t)r;
    }
    return 0;
}

static void do_reset(struct dfget_writer *w, struct job *j)
{
    w->err = 0;
    w->wb_from = 0;
    if (ftruncate(w->fd, 0) < 0)
        w->err = -errno;
    if (!w->err && j->pos > 0) {
        if (fallocate(w->fd, 0, 0, (off_t)j->pos) < 0 && errno != EOPNOTSUPP && errno != ENOSYS)
            w->err = -errno;
    }
    if (w->mfd >= 0 && ftruncate(w->mfd, 0) < 0)
        mirror_fail(w, "truncate", -errno);
    if (w->mfd >= 0 && j->pos > 0 && fallocate(w->mfd, 0, 0, (off_t)j->pos) < 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS)
        mirror_fail(w, "fallocate", -errno);
}

static void do_write(struct dfget_writer *w, struct job *j)
{
    if (w->err)
        return;
    uint64_t off = file_off(j->piece_size, j->piece, j->pos);
    int rc = pwrite_all(w->fd, j->buf, j->len, off);
    if (rc < 0) {
        w->err = rc;
        DF_LOGE(MOD, "pwrite at %llu failed: %s", (unsigned long long)off, df_strerror(rc));
        return;
    }
    if (w->mfd >= 0 && (rc = pwrite_all(w->mfd, j->buf, j->len, off)) < 0)
        mirror_fail(w, "write", rc);
    off += j->len;
    if (!j->piece_size && off >= w->wb_from + WRITEBACK_STEP) {
        start_writeback(w, w->wb_from, off - w->wb_from);
        w->wb_from = off;
    }
}

static void do_finish(struct dfget_writer *w, struct job *j)
{
    int64_t t0 = df_now_ms();
    if (!w->err && fdatasync(w->fd) < 0)
        w->err = -errno;
    DF_LOGD(MOD, "finish: fdatasync took %lld ms", (long long)(df_now_ms() - t0));
    j->err = w->err;
}

/* ---- hash thread ------------------------------------------------------------------------ */

static void do_hash_reset(struct dfget_writer *w, struct job *j)
{
    df_digest_free(w->md5);
    df_digest_free(w->sha);
    w->md5 = j->want_md5 ? df_digest_new(DF_DIGEST_MD5) : NULL;
    w->sha = j->want_sha ? df_digest_new(DF_DIGEST_SHA256) : NULL;
    w->herr = 0;
}

/* Hashes [pos, pos+len) of the file: written and committed before this job was queued, so it
 * is in the page cache (or on disk) with its final content. */
static void do_hash_range(struct dfget_writer *w, struct job *j)
{
    uint64_t off = j->pos, left = j->len;
    while (!w->herr && left > 0 && (w->md5 || w->sha)) {
        size_t n = (size_t)DF_MIN(left, (uint64_t)READ_BLOCK);
        ssize_t r = pread(w->fd, w->rbuf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            w->herr = r < 0 ? -errno : -EIO;
            DF_LOGE(MOD, "pread at %llu for hashing failed: %s", (unsigned long long)off,
                    df_strerror(w->herr));
            return;
        }
        if (w->md5)
            df_digest_update(w->md5, w->rbuf, (size_t)r);
        if (w->sha)
            df_digest_update(w->sha, w->rbuf, (size_t)r);
        off += (uint64_t)r;
        left -= (uint64_t)r;
    }
}

static void do_hash_final(struct dfget_writer *w, struct job *j)
{
    j->md5_hex[0] = j->sha_hex[0] = '\0';
    j->err = w->herr;
    if (j->err)
        return;
    if (w->md5)
        df_digest_final_hex(w->md5, j->md5_hex);
    if (w->sha)
        df_digest_final_hex(w->sha, j->sha_hex);
    if (w->md5)
        df_digest_reset(w->md5);
    if (w->sha)
        df_digest_reset(w->sha);
}

static void on_work(void *arg)
{
    struct job *j = arg;
    struct dfget_writer *w = j->w;
    switch (j->kind) {
    case J_RESET: do_reset(w, j); break;
    case J_WRITE: do_write(w, j); break;
    case J_COMMIT:
        if (!w->err && j->piece_size)
            start_writeback(w, file_off(j->piece_size, j->piece, 0), j->pos);
        j->err = w->err;
        break;
    case J_FINISH: do_finish(w, j); break;
    case J_MIRROR:
        w->mfd = (int)j->pos;
        w->mpath = j->buf;
        j->buf = NULL;
        break;
    case H_RESET: do_hash_reset(w, j); break;
    case H_RANGE: do_hash_range(w, j); break;
    case H_FINAL: do_hash_final(w, j); break;
    }
}

/* ---- loop side -------------------------------------------------------------------------- */

static struct job *job_new(struct dfget_writer *w, enum job_kind kind)
{
    struct job *j = df_xcalloc(1, sizeof(*j));
    j->w = w;
    j->kind = kind;
    j->gen = w->gen;
    j->piece_size = w->piece_size;
    return j;
}

static void on_done(void *arg);

static void submit(struct job *j) { df_workpool_submit(j->w->pool, on_work, on_done, j); }
static void submit_hash(struct job *j) { df_workpool_submit(j->w->hpool, on_work, on_done, j); }

static void hash_range(struct dfget_writer *w, uint64_t off, uint64_t len)
{
    struct job *h = job_new(w, H_RANGE);
    h->pos = off;
    h->len = (size_t)len;
    submit_hash(h);
}

static void hash_reset(struct dfget_writer *w)
{
    struct job *h = job_new(w, H_RESET);
    h->want_md5 = w->want_md5;
    h->want_sha = w->want_sha;
    submit_hash(h);
}

/* Hands every piece that extends the committed prefix to the hash thread. */
static void hash_advance(struct dfget_writer *w)
{
    while (w->hash_sub < w->committed.nbits && df_bitmap_test(&w->committed, w->hash_sub)) {
        hash_range(w, file_off(w->piece_size, w->hash_sub, 0), w->lens[w->hash_sub]);
        w->hash_sub++;
    }
}

static void on_commit_done(struct dfget_writer *w, struct job *j)
{
    if (j->gen == w->gen && !j->err) {
        if (j->piece >= w->committed.nbits)
            df_bitmap_resize(&w->committed, DF_MAX(j->piece + 1, w->committed.nbits * 2));
        if (j->piece >= w->nlens) {
            uint32_t n = DF_MAX(j->piece + 1, w->nlens * 2);
            w->lens = df_xrealloc(w->lens, n * sizeof(*w->lens));
            memset(w->lens + w->nlens, 0, (n - w->nlens) * sizeof(*w->lens));
            w->nlens = n;
        }
        if (!df_bitmap_test(&w->committed, j->piece)) {
            df_bitmap_set(&w->committed, j->piece);
            w->lens[j->piece] = j->pos;
            if (w->piece_size)
                hash_advance(w);
        }
    }
    if (j->on_commit)
        j->on_commit(j->err, j->token, j->arg);
}

/* fdatasync done: every commit before it has run its done callback (one FIFO thread), so the
 * committed set is complete; hand the last pieces to the hash thread and finalise there. */
static void on_finish_synced(struct dfget_writer *w, struct job *j)
{
    int err = j->err;
    if (!err && j->gen != w->gen)
        err = DF_EPROTO; /* a reset came in between: this finish is void */
    for (uint32_t p = 0; !err && p < j->piece; p++) {
        if (p >= w->committed.nbits || !df_bitmap_test(&w->committed, p)) {
            DF_LOGE(MOD, "finish: piece %u was never written", p);
            err = DF_EPROTO;
        }
    }
    if (!err && !w->piece_size && w->committed.nbits && df_bitmap_test(&w->committed, 0) &&
        w->lens[0] > w->stream_sub) { /* stream mode: the tail not hashed yet */
        hash_range(w, w->stream_sub, w->lens[0] - w->stream_sub);
        w->stream_sub = w->lens[0];
    }
    if (err) {
        if (j->on_finish)
            j->on_finish(err, "", "", j->arg);
        return;
    }
    struct job *h = job_new(w, H_FINAL);
    h->on_finish = j->on_finish;
    h->arg = j->arg;
    submit_hash(h);
}

static void on_done(void *arg)
{
    struct job *j = arg;
    struct dfget_writer *w = j->w;
    switch (j->kind) {
    case J_WRITE:
        DF_ASSERT(w->queued >= j->len);
        w->queued -= j->len;
        w->written += j->len;
        free(j->buf);
        /* Stream mode writes arrive in file order: hash them as soon as they are written. */
        if (!j->piece_size && j->gen == w->gen && j->pos == w->stream_sub) {
            hash_range(w, j->pos, j->len);
            w->stream_sub += j->len;
        }
        if (w->is_above_low && w->queued <= DFGET_WRITER_LOW_WATER) {
            w->is_above_low = 0;
            if (w->on_drain)
                w->on_drain(w->drain_arg);
        }
        break;
    case J_COMMIT: on_commit_done(w, j); break;
    case J_FINISH: on_finish_synced(w, j); break;
    case H_FINAL:
        if (j->on_finish)
            j->on_finish(j->err, j->md5_hex, j->sha_hex, j->arg);
        break;
    default: break;
    }
    free(j);
}

struct dfget_writer *dfget_writer_new(struct event_base *base, int fd, dfget_writer_drain_cb on_drain,
                                      void *drain_arg, char err[DF_ERR_LEN])
{
    struct dfget_writer *w = df_xcalloc(1, sizeof(*w));
    w->pool = df_workpool_new(base, 1, err, DF_ERR_LEN);
    w->hpool = w->pool ? df_workpool_new(base, 1, err, DF_ERR_LEN) : NULL;
    if (!w->hpool) {
        df_workpool_free(w->pool);
        free(w);
        return NULL;
    }
    w->fd = fd;
    w->mfd = -1;
    w->on_drain = on_drain;
    w->drain_arg = drain_arg;
    w->rbuf = df_xmalloc(READ_BLOCK);
    df_bitmap_init(&w->committed, 64);
    return w;
}

void dfget_writer_free(struct dfget_writer *w)
{
    if (!w)
        return;
    /* Write jobs first: their done callbacks may still queue hash jobs (and a final one). */
    df_workpool_free(w->pool);
    df_workpool_free(w->hpool);
    df_bitmap_cleanup(&w->committed);
    df_digest_free(w->md5);
    df_digest_free(w->sha);
    free(w->lens);
    free(w->rbuf);
    if (w->mfd >= 0)
        close(w->mfd);
    free(w->mpath);
    free(w);
}

void dfget_writer_reset(struct dfget_writer *w, uint32_t piece_size, int want_md5, int want_sha256,
                        int64_t prealloc_len)
{
    w->gen++;
    w->piece_size = piece_size;
    w->want_md5 = want_md5;
    w->want_sha = want_sha256;
    df_bitmap_clear_all(&w->committed);
    w->hash_sub = 0;
    w->stream_sub = 0;
    struct job *j = job_new(w, J_RESET);
    j->pos = prealloc_len > 0 ? (uint64_t)prealloc_len : 0;
    submit(j);
    hash_reset(w);
}

void dfget_writer_set_mirror(struct dfget_writer *w, int mirror_fd, const char *mirror_path)
{
    struct job *j = job_new(w, J_MIRROR);
    j->pos = (uint64_t)mirror_fd;
    j->buf = df_xstrdup(mirror_path);
    submit(j);
}

void dfget_writer_want(struct dfget_writer *w, int want_md5, int want_sha256)
{
    int is_new = (want_md5 && !w->want_md5) || (want_sha256 && !w->want_sha);
    w->want_md5 |= want_md5;
    w->want_sha |= want_sha256;
    if (!is_new)
        return;
    /* The new digest missed what was hashed so far: start both over from the file's start. */
    hash_reset(w);
    if (w->piece_size) {
        for (uint32_t p = 0; p < w->hash_sub; p++)
            hash_range(w, file_off(w->piece_size, p, 0), w->lens[p]);
    } else if (w->stream_sub > 0) {
        hash_range(w, 0, w->stream_sub);
    }
}

void dfget_writer_write(struct dfget_writer *w, uint32_t piece, uint64_t payload_pos, void *buf,
                        size_t len)
{
    struct job *j = job_new(w, J_WRITE);
    j->piece = piece;
    j->pos = payload_pos;
    j->buf = buf;
    j->len = len;
    w->queued += len;
    if (w->queued > DFGET_WRITER_LOW_WATER)
        w->is_above_low = 1;
    submit(j);
}

void dfget_writer_commit(struct dfget_writer *w, uint32_t piece, uint64_t payload_len,
                         dfget_writer_commit_cb cb, uint64_t token, void *arg)
{
    struct job *j = job_new(w, J_COMMIT);
    j->piece = piece;
    j->pos = payload_len;
    j->on_commit = cb;
    j->token = token;
    j->arg = arg;
    submit(j);
}

void dfget_writer_abort(struct dfget_writer *w, uint32_t piece)
{
    /* Nothing is hashed before its commit and a retry overwrites the same bytes. */
    (void)w;
    (void)piece;
}

void dfget_writer_finish(struct dfget_writer *w, uint32_t npieces, dfget_writer_finish_cb cb,
                         void *arg)
{
    struct job *j = job_new(w, J_FINISH);
    j->piece = npieces;
    j->on_finish = cb;
    j->arg = arg;
    submit(j);
}

size_t dfget_writer_queued(const struct dfget_writer *w) { return w->queued; }
uint64_t dfget_writer_written(const struct dfget_writer *w) { return w->written; }
