/* SPDX-License-Identifier: Apache-2.0 */
/* Re-verification of the supernode's own cache copy (spec §2.7, §6.3) after a client reported
 * a piece it got from the supernode as corrupt (FILE_MD5_NOT_MATCH) or missing (FILE_NOT_EXIST).
 * The piece is re-read and re-hashed on the worker pool and compared with the digests recorded
 * when it was cut. A piece whose bytes differ stops being served at once and is fetched again
 * alone (sn_cdn_repair_piece: Range + If-Range, checked against its stored digest); a missing
 * or unreadable file stops every piece being served (peers keep serving the pieces they hold)
 * and the whole file is fetched again. The swarm's state is kept, unlike Dragonfly which
 * forgets the whole task. One verification per task at a time; a piece found intact is not
 * re-read for VERIFY_DEDUP_MS. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df_digest.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_util.h"
#include "df_workpool.h"
#include "sn_cdn.h"
#include "sn_server.h"

#define VERIFY_DEDUP_MS 3000
#define VERIFY_CHUNK (256u << 10)

enum verify_outcome {
    VERIFY_OK = 0,   /* the copy matches its digests */
    VERIFY_BAD,      /* the bytes differ */
    VERIFY_GONE,     /* the file is missing or shorter than the piece */
    VERIFY_IOERR,    /* could not read it (permissions, EIO): treated as bad */
};

struct verify_job {
    struct sn_server *s;
    struct sn_task *t;           /* referenced */
    char *path;                  /* [snap] */
    uint32_t n;                  /* [snap] */
    uint64_t off;                /* [snap] */
    struct sn_piece_digest want; /* [snap] */
    enum verify_outcome outcome; /* [worker] */
    int err;                     /* [worker] -errno */
};

static void on_verify(void *arg)
{
    struct verify_job *j = arg;
    struct df_digest *md5 = NULL, *sha = NULL;
    unsigned char *buf = NULL;
    /* A symlink planted at the cache path is never followed (ELOOP), nor is anything but a
     * regular file read: the copy counts as bad and is fetched again. */
    int fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        j->err = -errno;
        j->outcome = errno == ENOENT ? VERIFY_GONE : VERIFY_IOERR;
        return;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        j->err = -errno;
        j->outcome = VERIFY_IOERR;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        j->err = -EINVAL;
        j->outcome = VERIFY_IOERR;
        goto out;
    }
    if ((uint64_t)st.st_size < j->off + j->want.wrapped_len) {
        j->outcome = VERIFY_GONE;
        goto out;
    }
    md5 = df_digest_new(DF_DIGEST_MD5);
    sha = df_digest_new(DF_DIGEST_SHA256);
    buf = df_xmalloc(VERIFY_CHUNK);
    uint64_t done = 0;
    while (done < j->want.wrapped_len) {
        size_t want = (size_t)DF_MIN((uint64_t)VERIFY_CHUNK, j->want.wrapped_len - done);
        ssize_t r = pread(fd, buf, want, (off_t)(j->off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            j->err = r < 0 ? -errno : 0;
            j->outcome = r < 0 ? VERIFY_IOERR : VERIFY_GONE;
            goto out;
        }
        df_digest_update(md5, buf, (size_t)r);
        df_digest_update(sha, buf, (size_t)r);
        done += (uint64_t)r;
    }
    char got[DF_DIGEST_HEX_MAX], want_hex[DF_DIGEST_HEX_MAX];
    df_digest_final_hex(md5, got);
    df_hex_encode(j->want.md5, 16, want_hex);
    int is_ok = df_digest_hex_eq(got, want_hex);
    df_digest_final_hex(sha, got);
    df_hex_encode(j->want.sha256, 32, want_hex);
    is_ok = is_ok && df_digest_hex_eq(got, want_hex);
    j->outcome = is_ok ? VERIFY_OK : VERIFY_BAD;
out:
    free(buf);
    df_digest_free(md5);
    df_digest_free(sha);
    close(fd);
}

/* Fetches the task's file again: the old files are moved away, the supernode stops serving
 * every piece until it has it again, and a fresh CDN download starts (piece size kept). */
static void refetch(struct sn_server *s, struct sn_task *t)
{
    sn_sched_cdn_drop(&t->sched, UINT32_MAX);
    if (sn_cdn_is_shutdown(s->cdn))
        return;
    if (t->cdn) { /* a download is running: redo it once it ends (sn_verify_on_cdn_end) */
        t->needs_refetch = 1;
        t->refetch_piece = UINT32_MAX;
        return;
    }
    t->needs_refetch = 0;
    sn_cdn_delete_files(s->cdn, t->id);
    t->cdn_status = SN_CDN_WAITING;
    int rc = sn_cdn_trigger(s->cdn, t);
    if (rc < 0) {
        DF_LOGE("verify", "task %s: cannot start fetching the file again: %s", t->id,
                df_strerror(rc));
        sn_task_set_failed(t, 0, "cache copy bad and the download could not restart");
        return;
    }
    DF_LOGW("verify", "task %s: cache copy dropped, fetching %s again (peers keep serving the "
            "pieces they hold)", t->id, t->raw_url);
}

/* Piece n's bytes differ from its digests, the rest of the copy is presumably intact: the
 * supernode stops serving n and fetches it alone; the other pieces stay served. Falls back to
 * the whole file when the task is not complete (a download that is still running is left to
 * end first). */
static void repair(struct sn_server *s, struct sn_task *t, uint32_t n)
{
    sn_sched_cdn_drop(&t->sched, n);
    if (sn_cdn_is_shutdown(s->cdn))
        return;
    if (t->cdn) { /* a job is running: repair once it ends (sn_verify_on_cdn_end) */
        /* a second, different bad piece while one is pending: the whole file */
        t->refetch_piece = t->needs_refetch && t->refetch_piece != n ? UINT32_MAX : n;
        t->needs_refetch = 1;
        return;
    }
    t->needs_refetch = 0;
    int rc = sn_cdn_repair_piece(s->cdn, t, n);
    if (rc < 0) {
        DF_LOGW("verify", "task %s: cannot repair piece %u alone (%s): fetching the whole file",
                t->id, (unsigned)n, df_strerror(rc));
        refetch(s, t);
        return;
    }
    DF_LOGW("verify", "task %s: fetching piece %u of %s again from the origin (the other "
            "pieces stay served)", t->id, (unsigned)n, t->raw_url);
}

static void on_verify_done(void *arg)
{
    struct verify_job *j = arg;
    struct sn_task *t = j->t;
    struct sn_server *s = j->s;
    t->is_verifying = 0;
    if (t->is_removed)
        goto out;
    if (j->outcome == VERIFY_OK) {
        t->verified_piece = j->n;
        t->verified_ms = df_now_ms();
        DF_LOGI("verify", "task %s: piece %u re-read: the supernode's copy matches its digests "
                "(the client's copy was damaged in transit)", t->id, (unsigned)j->n);
        goto out;
    }
    s->metrics.cdn_bad++;
    static const char *what[] = {"ok", "differs from its digests", "is missing",
                                 "cannot be read"};
    DF_LOGE("verify", "task %s: piece %u of the cache file %s %s%s%s", t->id, (unsigned)j->n,
            j->path, what[j->outcome], j->err ? ": " : "", j->err ? df_strerror(j->err) : "");
    if (j->outcome == VERIFY_BAD)
        repair(s, t, j->n);
    else
        refetch(s, t);
out:
    free(j->path);
    free(j);
    sn_task_unref(t);
}

void sn_verify_piece_error(struct sn_server *s, const char *type, const char *task_id,
                           const char *dst_cid, const char *range)
{
    if (!sn_task_is_cdn_cid(dst_cid))
        return; /* a peer's fault: the 500 report blacklists it (sn_sched) */
    if (strcmp(type, "FILE_MD5_NOT_MATCH") != 0 && strcmp(type, "FILE_NOT_EXIST") != 0)
        return;
    struct sn_task *t = sn_registry_get(&s->reg, task_id);
    if (!t || !t->piece_size || t->is_verifying || t->needs_refetch)
        return;
    int64_t n = df_proto_range_piece(range, t->piece_size);
    if (n < 0 || (uint32_t)n >= t->ndigests || !df_bitmap_test(&t->sched.cdn, (uint32_t)n))
        return; /* not a piece we serve (any more) */
    int64_t now = df_now_ms();
    if (t->verified_piece == (uint32_t)n && t->verified_ms && now - t->verified_ms < VERIFY_DEDUP_MS)
        return;
    struct verify_job *j = df_xcalloc(1, sizeof(*j));
    j->s = s;
    j->t = t;
    j->path = sn_cdn_data_path(s->cdn, t->id);
    j->n = (uint32_t)n;
    j->off = (uint64_t)n * t->piece_size;
    j->want = t->digests[n];
    sn_task_ref(t);
    t->is_verifying = 1;
    s->metrics.cdn_reverified++;
    DF_LOGW("verify", "task %s: client reported %s for piece %u from the supernode: re-reading "
            "it", t->id, type, (unsigned)n);
    df_workpool_submit(s->pool, on_verify, on_verify_done, j);
}

void sn_verify_on_cdn_end(struct sn_server *s, struct sn_task *t)
{
    if (!t->needs_refetch || t->cdn || t->is_removed)
        return;
    /* a piece can only be repaired alone in a complete copy; otherwise the whole file */
    if (t->refetch_piece != UINT32_MAX && t->cdn_status == SN_CDN_SUCCESS)
        repair(s, t, t->refetch_piece);
    else
        refetch(s, t);
}
