/* Writer thread for dfget: payload pwrite()s at piece offsets plus in-order whole-file hashing,
 * as jobs on a one-thread df_workpool. State marked "worker" below is touched only by job
 * bodies (one thread, FIFO), state marked "loop" only by the loop thread. */
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
#define SPEC_NONE UINT32_MAX
#define READ_BLOCK (256u << 10)
#define WRITEBACK_STEP (8u << 20) /* stream mode: start write-back every 8 MiB */

struct dfget_writer {
    struct df_workpool *pool;
    int fd;
    /* loop */
    size_t queued;            /* bytes in write jobs not yet done */
    int is_above_low;         /* queued went above the low-water mark */
    uint64_t written;         /* bytes pwritten (summed in done callbacks) */
    dfget_writer_drain_cb on_drain;
    void *drain_arg;
    /* worker */
    uint32_t piece_size;      /* 0 = stream mode */
    int err;                  /* sticky first write error since reset */
    struct df_bitmap committed;
    uint64_t *lens;           /* payload length per committed piece; nlens entries */
    uint32_t nlens;
    struct df_digest *md5, *sha; /* NULL when not wanted */
    uint32_t hash_next;       /* pieces [0, hash_next) are in the digests */
    uint32_t spec_piece;      /* piece being hashed as it is written, SPEC_NONE */
    uint64_t spec_off;        /* payload bytes of spec_piece hashed so far */
    uint64_t wb_from;         /* stream mode: file offset where write-back was not started yet */
    unsigned char *rbuf;      /* READ_BLOCK bytes for pread-hashing */
    int mfd;                  /* copy-mode mirror, -1 = none */
    char *mpath;
};

enum job_kind { J_RESET, J_WANT, J_WRITE, J_COMMIT, J_ABORT, J_FINISH, J_MIRROR };

struct job {
    struct dfget_writer *w;
    enum job_kind kind;
    uint32_t piece;
    uint64_t pos;             /* write: payload offset; commit: payload length; reset: prealloc */
    void *buf;
    size_t len;
    int want_md5, want_sha;
    uint32_t piece_size;      /* reset */
    dfget_writer_commit_cb on_commit;
    dfget_writer_finish_cb on_finish;
    uint64_t token;
    void *arg;
    int err;                  /* result, set by the worker */
    char md5_hex[DF_DIGEST_HEX_MAX], sha_hex[DF_DIGEST_HEX_MAX];
};

/* ---- worker side ------------------------------------------------------------------------ */

static uint64_t file_off(const struct dfget_writer *w, uint32_t piece, uint64_t pos)
{
    if (!w->piece_size)
        return pos;
    return (uint64_t)piece * (w->piece_size - 5) + pos;
}

/* Starts write-back of [off, off+len) without waiting for it, so the final fdatasync() has
 * little left to flush instead of the whole file (seconds on a slow disk). Best effort. */
static void start_writeback(struct dfget_writer *w, uint64_t off, uint64_t len)
{
    if (len > 0)
        (void)sync_file_range(w->fd, (off64_t)off, (off64_t)len, SYNC_FILE_RANGE_WRITE);
}

static void hash_update(struct dfget_writer *w, const void *p, size_t n)
{
    if (w->md5)
        df_digest_update(w->md5, p, n);
    if (w->sha)
        df_digest_update(w->sha, p, n);
}

/* Forget everything hashed; the next catch-up re-reads from piece 0. */
static void hash_restart(struct dfget_writer *w)
{
    if (w->md5)
        df_digest_reset(w->md5);
    if (w->sha)
        df_digest_reset(w->sha);
    w->hash_next = 0;
    w->spec_piece = SPEC_NONE;
    w->spec_off = 0;
}

static int is_committed(const struct dfget_writer *w, uint32_t piece)
{
    return df_bitmap_test(&w->committed, piece);
}

/* Hash committed pieces in order, reading them back from the file (page cache). */
static void hash_catch_up(struct dfget_writer *w)
{
    while (!w->err && is_committed(w, w->hash_next)) {
        uint32_t p = w->hash_next;
        if (w->spec_piece == p) {
            if (w->spec_off != w->lens[p]) { /* cannot happen with in-order chunks; be safe */
                hash_restart(w);
                continue;
            }
        } else {
            uint64_t off = file_off(w, p, 0), left = w->lens[p];
            while (left > 0) {
                size_t n = (size_t)DF_MIN(left, (uint64_t)READ_BLOCK);
                ssize_t r = pread(w->fd, w->rbuf, n, (off_t)off);
                if (r <= 0) {
                    w->err = r < 0 ? -errno : -EIO;
                    return;
                }
                hash_update(w, w->rbuf, (size_t)r);
                off += (uint64_t)r;
                left -= (uint64_t)r;
            }
        }
        w->spec_piece = SPEC_NONE;
        w->spec_off = 0;
        w->hash_next++;
    }
}

static void set_want(struct dfget_writer *w, int want_md5, int want_sha)
{
    int is_new = (want_md5 && !w->md5) || (want_sha && !w->sha);
    if (want_md5 && !w->md5)
        w->md5 = df_digest_new(DF_DIGEST_MD5);
    if (want_sha && !w->sha)
        w->sha = df_digest_new(DF_DIGEST_SHA256);
    if (is_new && (w->hash_next > 0 || w->spec_piece != SPEC_NONE))
        hash_restart(w); /* the new digest missed the prefix: start both over from the file */
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
    w->piece_size = j->piece_size;
    df_bitmap_clear_all(&w->committed);
    df_digest_free(w->md5);
    df_digest_free(w->sha);
    w->md5 = w->sha = NULL;
    hash_restart(w);
    w->wb_from = 0;
    set_want(w, j->want_md5, j->want_sha);
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
    uint64_t off = file_off(w, j->piece, j->pos);
    int rc = pwrite_all(w->fd, j->buf, j->len, off);
    if (rc < 0) {
        w->err = rc;
        DF_LOGE(MOD, "pwrite at %llu failed: %s", (unsigned long long)off, df_strerror(rc));
        return;
    }
    if (w->mfd >= 0 && (rc = pwrite_all(w->mfd, j->buf, j->len, off)) < 0)
        mirror_fail(w, "write", rc);
    off += j->len;
    if (!w->piece_size && off >= w->wb_from + WRITEBACK_STEP) {
        start_writeback(w, w->wb_from, off - w->wb_from);
        w->wb_from = off;
    }
    /* Speculative in-order hashing of the piece that comes next in the file. */
    if (w->spec_piece == j->piece) {
        if (j->pos == w->spec_off) {
            hash_update(w, j->buf, j->len);
            w->spec_off += j->len;
        } else {
            hash_restart(w);
        }
    } else if (w->spec_piece == SPEC_NONE && j->piece == w->hash_next && j->pos == 0 &&
               !is_committed(w, j->piece)) {
        w->spec_piece = j->piece;
        hash_update(w, j->buf, j->len);
        w->spec_off = j->len;
    }
}

static void do_commit(struct dfget_writer *w, struct job *j)
{
    if (j->piece >= w->committed.nbits)
        df_bitmap_resize(&w->committed, DF_MAX(j->piece + 1, w->committed.nbits * 2));
    if (j->piece >= w->nlens) {
        uint32_t n = DF_MAX(j->piece + 1, w->nlens * 2);
        w->lens = df_xrealloc(w->lens, n * sizeof(*w->lens));
        memset(w->lens + w->nlens, 0, (n - w->nlens) * sizeof(*w->lens));
        w->nlens = n;
    }
    if (!w->err) {
        df_bitmap_set(&w->committed, j->piece);
        w->lens[j->piece] = j->pos;
        hash_catch_up(w);
        if (w->piece_size)
            start_writeback(w, file_off(w, j->piece, 0), j->pos);
    }
    j->err = w->err;
}

static void do_finish(struct dfget_writer *w, struct job *j)
{
    j->md5_hex[0] = j->sha_hex[0] = '\0';
    if (!w->err) {
        for (uint32_t p = 0; p < j->piece; p++) {
            if (!is_committed(w, p)) {
                DF_LOGE(MOD, "finish: piece %u was never written", p);
                j->err = DF_EPROTO;
                return;
            }
        }
        hash_catch_up(w);
    }
    if (!w->err && w->hash_next < j->piece)
        w->err = DF_EPROTO;
    int64_t t0 = df_now_ms();
    if (!w->err && fdatasync(w->fd) < 0)
        w->err = -errno;
    DF_LOGD(MOD, "finish: fdatasync took %lld ms", (long long)(df_now_ms() - t0));
    j->err = w->err;
    if (j->err)
        return;
    if (w->md5)
        df_digest_final_hex(w->md5, j->md5_hex);
    if (w->sha)
        df_digest_final_hex(w->sha, j->sha_hex);
    hash_restart(w); /* digests were finalised */
}

static void on_work(void *arg)
{
    struct job *j = arg;
    struct dfget_writer *w = j->w;
    switch (j->kind) {
    case J_RESET: do_reset(w, j); break;
    case J_WANT: set_want(w, j->want_md5, j->want_sha); break;
    case J_WRITE: do_write(w, j); break;
    case J_COMMIT: do_commit(w, j); break;
    case J_ABORT:
        if (w->spec_piece == j->piece)
            hash_restart(w);
        break;
    case J_FINISH: do_finish(w, j); break;
    case J_MIRROR:
        w->mfd = (int)j->pos;
        w->mpath = j->buf;
        j->buf = NULL;
        break;
    }
}

/* ---- loop side -------------------------------------------------------------------------- */

static void on_done(void *arg)
{
    struct job *j = arg;
    struct dfget_writer *w = j->w;
    if (j->kind == J_WRITE) {
        DF_ASSERT(w->queued >= j->len);
        w->queued -= j->len;
        w->written += j->len;
        free(j->buf);
        if (w->is_above_low && w->queued <= DFGET_WRITER_LOW_WATER) {
            w->is_above_low = 0;
            if (w->on_drain)
                w->on_drain(w->drain_arg);
        }
    } else if (j->kind == J_COMMIT && j->on_commit) {
        j->on_commit(j->err, j->token, j->arg);
    } else if (j->kind == J_FINISH && j->on_finish) {
        j->on_finish(j->err, j->md5_hex, j->sha_hex, j->arg);
    }
    free(j);
}

static struct job *job_new(struct dfget_writer *w, enum job_kind kind)
{
    struct job *j = df_xcalloc(1, sizeof(*j));
    j->w = w;
    j->kind = kind;
    return j;
}

static void submit(struct job *j) { df_workpool_submit(j->w->pool, on_work, on_done, j); }

struct dfget_writer *dfget_writer_new(struct event_base *base, int fd, dfget_writer_drain_cb on_drain,
                                      void *drain_arg, char err[DF_ERR_LEN])
{
    struct dfget_writer *w = df_xcalloc(1, sizeof(*w));
    w->pool = df_workpool_new(base, 1, err, DF_ERR_LEN);
    if (!w->pool) {
        free(w);
        return NULL;
    }
    w->fd = fd;
    w->on_drain = on_drain;
    w->drain_arg = drain_arg;
    w->spec_piece = SPEC_NONE;
    w->rbuf = df_xmalloc(READ_BLOCK);
    w->mfd = -1;
    df_bitmap_init(&w->committed, 64);
    return w;
}

void dfget_writer_free(struct dfget_writer *w)
{
    if (!w)
        return;
    df_workpool_free(w->pool);
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
    struct job *j = job_new(w, J_RESET);
    j->piece_size = piece_size;
    j->want_md5 = want_md5;
    j->want_sha = want_sha256;
    j->pos = prealloc_len > 0 ? (uint64_t)prealloc_len : 0;
    submit(j);
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
    struct job *j = job_new(w, J_WANT);
    j->want_md5 = want_md5;
    j->want_sha = want_sha256;
    submit(j);
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
    struct job *j = job_new(w, J_ABORT);
    j->piece = piece;
    submit(j);
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
