/* SPDX-License-Identifier: Apache-2.0 */
/* Worker-thread half of the CDN: decide how to reuse the cache (prepare), wrap and write body
 * bytes into pieces at n*P with their digests (batch), then close the last piece, check length
 * and md5 and write the digest files and the finished .meta (finalize). Runs on df_workpool
 * threads, one job at a time per download; touches only the job. */
#include "sn_cdn_job.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "df_log.h"
#include "df_proto.h"
#include "df_util.h"

#define META_MAX (64u << 10)
#define DIGESTS_MAX (16u << 20)

static int pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        done += (size_t)w;
    }
    return 0;
}

static void bin_from_hex(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = hex[2 * i + (size_t)k];
            v = v * 16 + (ch >= 'a' ? ch - 'a' + 10 : ch - '0');
        }
        out[i] = (unsigned char)v;
    }
}

void sn_cdn_io_meta_fill(const struct sn_cdn_job *j, struct sn_meta *m)
{
    sn_meta_init(m);
    memcpy(m->task_id, j->id, sizeof(m->task_id));
    sn_peer_set_str(&m->url, j->task_url);
    sn_peer_set_str(&m->raw_url, j->raw_url);
    sn_peer_set_str(&m->identifier, j->identifier);
    sn_peer_set_str(&m->md5, j->md5);
    sn_peer_set_str(&m->etag, j->etag ? j->etag : "");
    sn_peer_set_str(&m->last_modified, j->last_modified ? j->last_modified : "");
    m->piece_size = j->w_piece_size;
    m->http_length = j->w_http_length;
    m->piece_total = j->w_http_length >= 0 ? df_proto_piece_count(j->w_http_length, j->w_piece_size) : 0;
    if (m->last_modified[0]) {
        time_t lm = curl_getdate(m->last_modified, NULL); /* Dragonfly keeps it in ms */
        m->last_modified_ms = lm > 0 ? (int64_t)lm * 1000 : 0;
    }
    m->access_ms = df_wall_ms();
    if (j->has_meta)
        m->interval_ms = m->access_ms - j->meta.access_ms;
}

/* ---- prepare ---------------------------------------------------------------------------- */

/* Complete cache: digests from the files, or rebuilt by scanning the data file. */
static int load_complete(struct sn_cdn_job *j, uint32_t total)
{
    const struct sn_meta *m = &j->meta;
    struct stat st;
    if (fstat(j->w_fd, &st) < 0 || st.st_size != m->file_length ||
        m->file_length != df_proto_wrapped_length(m->http_length, m->piece_size))
        return -EINVAL;
    j->pre = df_xcalloc(total, sizeof(*j->pre));
    char *t1 = NULL, *t2 = NULL;
    size_t l1, l2;
    char md5hex[DF_DIGEST_HEX_MAX], shahex[DF_DIGEST_HEX_MAX];
    int ok = sn_store_read_file(j->paths.md5, DIGESTS_MAX, &t1, &l1) == 0 &&
             sn_store_read_file(j->paths.sha256, DIGESTS_MAX, &t2, &l2) == 0 &&
             sn_store_digests_decode(t1, l1, total, j->pre, md5hex, DF_DIGEST_MD5) == 0 &&
             sn_store_digests_decode(t2, l2, total, j->pre, shahex, DF_DIGEST_SHA256) == 0 &&
             strcmp(md5hex, m->real_md5) == 0 && strcmp(shahex, m->real_sha256) == 0;
    free(t1);
    free(t2);
    if (ok) {
        snprintf(j->real_md5, sizeof(j->real_md5), "%s", md5hex);
        snprintf(j->real_sha256, sizeof(j->real_sha256), "%s", shahex);
        j->npre = total;
        return 0;
    }
    DF_LOGW("cdn", "task %s: digest files missing or corrupt, rescanning the cache file", j->id);
    df_digest_reset(j->w_fmd5);
    df_digest_reset(j->w_fsha);
    int64_t n = sn_store_scan(j->w_fd, m->piece_size, m->http_length, total, j->pre, j->w_fmd5,
                              j->w_fsha);
    if (n != (int64_t)total)
        return -EINVAL;
    df_digest_final_hex(j->w_fmd5, j->real_md5);
    df_digest_final_hex(j->w_fsha, j->real_sha256);
    df_digest_reset(j->w_fmd5);
    df_digest_reset(j->w_fsha);
    if (m->real_md5[0] && strcmp(j->real_md5, m->real_md5) != 0)
        return -EINVAL;
    j->npre = total;
    j->is_rescanned = 1; /* the digests are the disk's own: re-verifying adds nothing */
    return 0;
}

void sn_cdn_io_prepare(void *arg)
{
    struct sn_cdn_job *j = arg;
    j->mode = SN_CDN_MODE_FRESH;
    int rc = df_mkdir_p(j->paths.dir, 0755);
    if (rc < 0) {
        j->w_err = rc;
        return;
    }
    /* Never through a symlink: one planted at the data path is replaced by an empty file. */
    int fd = sn_store_open_data(j->paths.data);
    if (fd < 0) {
        j->w_err = fd;
        return;
    }
    j->w_fd = fd;
    char *text = NULL;
    size_t len;
    if (sn_store_read_file(j->paths.meta, META_MAX, &text, &len) == 0) {
        struct sn_meta m;
        /* Identity: the URLs are compared in their redacted form (the .meta never holds
         * userinfo); the taskID, a SHA-256 over the full task URL, md5 and identifier, tells
         * apart URLs that differ only in their credentials. */
        if (sn_meta_decode(text, len, &m) == 0) {
            if (strcmp(m.task_id, j->id) == 0 && strcmp(m.url, j->task_url) == 0 &&
                strcmp(m.md5, j->md5) == 0 && strcmp(m.identifier, j->identifier) == 0) {
                j->meta = m;
                j->has_meta = 1;
            } else {
                sn_meta_cleanup(&m);
            }
        }
        free(text);
    }
    const struct sn_meta *m = &j->meta;
    if (j->has_meta && !j->has_user_range && (m->etag[0] || m->last_modified[0]) &&
        m->http_length >= 0 && (!j->fixed_piece_size || j->fixed_piece_size == m->piece_size)) {
        uint32_t total = df_proto_piece_count(m->http_length, m->piece_size);
        if (m->is_finished && m->is_success) {
            if (load_complete(j, total) == 0) {
                j->mode = SN_CDN_MODE_REVALIDATE;
                return;
            }
            free(j->pre);
            j->pre = NULL;
            j->npre = 0;
        } else if (!m->is_finished && total > 1) {
            /* Re-fetch at least the last piece, so a resumed download always has a body. */
            j->pre = df_xcalloc(total, sizeof(*j->pre));
            int64_t n = sn_store_scan(j->w_fd, m->piece_size, m->http_length, total - 1, j->pre,
                                      j->w_fmd5, j->w_fsha);
            if (n > 0) {
                j->mode = SN_CDN_MODE_RESUME;
                j->npre = (uint32_t)n;
                j->w_cur = (uint32_t)n;
                j->w_raw = (uint64_t)n * (m->piece_size - DF_PIECE_WRAP);
                j->start_raw = j->w_raw;
                return;
            }
            free(j->pre);
            j->pre = NULL;
            df_digest_reset(j->w_fmd5);
            df_digest_reset(j->w_fsha);
        }
    }
    if (ftruncate(j->w_fd, 0) < 0)
        j->w_err = -errno;
    unlink(j->paths.md5);
    unlink(j->paths.sha256);
}

/* ---- batch ------------------------------------------------------------------------------ */

static void pre_steps(struct sn_cdn_job *j)
{
    if (j->w_err)
        return;
    if (j->w_reset) {
        if (ftruncate(j->w_fd, 0) < 0) {
            j->w_err = -errno;
            return;
        }
        unlink(j->paths.md5);
        unlink(j->paths.sha256);
        df_digest_reset(j->w_fmd5);
        df_digest_reset(j->w_fsha);
        j->w_cur = j->w_fill = 0;
        j->w_started = 0;
        j->w_raw = 0;
        j->w_reset = 0;
    }
    if (j->w_meta_json) {
        int rc = sn_store_write_file(j->paths.meta, j->w_meta_json);
        if (rc < 0)
            j->w_err = rc;
    }
}

static void piece_start(struct sn_cdn_job *j)
{
    uint32_t P = j->w_piece_size;
    uint32_t payload = j->w_http_length >= 0 ? df_proto_piece_payload(j->w_http_length, P, j->w_cur)
                                             : P - DF_PIECE_WRAP;
    unsigned char hdr[4];
    df_proto_frame_header(payload, P, hdr);
    int rc = pwrite_full(j->w_fd, hdr, 4, (off_t)j->w_cur * P);
    if (rc < 0) {
        j->w_err = rc;
        return;
    }
    df_digest_reset(j->w_pmd5);
    df_digest_reset(j->w_psha);
    df_digest_update(j->w_pmd5, hdr, 4);
    df_digest_update(j->w_psha, hdr, 4);
    j->w_hdr_payload = payload;
    j->w_started = 1;
}

/* The header promised a full payload but the body ended early (length unknown): rewrite the
 * header and re-hash the piece from disk. */
static void piece_fix_header(struct sn_cdn_job *j)
{
    uint32_t P = j->w_piece_size;
    unsigned char hdr[4];
    df_proto_frame_header(j->w_fill, P, hdr);
    off_t base = (off_t)j->w_cur * P;
    int rc = pwrite_full(j->w_fd, hdr, 4, base);
    if (rc < 0) {
        j->w_err = rc;
        return;
    }
    df_digest_reset(j->w_pmd5);
    df_digest_reset(j->w_psha);
    df_digest_update(j->w_pmd5, hdr, 4);
    df_digest_update(j->w_psha, hdr, 4);
    unsigned char *buf = df_xmalloc(1u << 20);
    for (uint32_t off = 0; off < j->w_fill;) {
        size_t n = DF_MIN((size_t)(j->w_fill - off), (size_t)(1u << 20));
        ssize_t r = pread(j->w_fd, buf, n, base + 4 + off);
        if (r <= 0) {
            j->w_err = r < 0 ? -errno : -EIO;
            break;
        }
        df_digest_update(j->w_pmd5, buf, (size_t)r);
        df_digest_update(j->w_psha, buf, (size_t)r);
        off += (uint32_t)r;
    }
    free(buf);
    j->w_hdr_payload = j->w_fill;
}

static void piece_complete(struct sn_cdn_job *j)
{
    if (j->w_fill != j->w_hdr_payload)
        piece_fix_header(j);
    if (j->w_err)
        return;
    unsigned char tail = DF_PIECE_TAIL;
    int rc = pwrite_full(j->w_fd, &tail, 1, (off_t)j->w_cur * j->w_piece_size + 4 + j->w_fill);
    if (rc < 0) {
        j->w_err = rc;
        return;
    }
    df_digest_update(j->w_pmd5, &tail, 1);
    df_digest_update(j->w_psha, &tail, 1);
    if (j->w_ndone == j->w_capdone) {
        j->w_capdone = j->w_capdone ? j->w_capdone * 2 : 16;
        j->w_done = df_xrealloc(j->w_done, j->w_capdone * sizeof(*j->w_done));
    }
    struct sn_cdn_done_piece *d = &j->w_done[j->w_ndone++];
    char hex[DF_DIGEST_HEX_MAX];
    d->n = j->w_cur;
    df_digest_final_hex(j->w_pmd5, hex);
    bin_from_hex(hex, d->d.md5, 16);
    df_digest_final_hex(j->w_psha, hex);
    bin_from_hex(hex, d->d.sha256, 32);
    d->d.wrapped_len = j->w_fill + DF_PIECE_WRAP;
    j->w_cur++;
    j->w_fill = 0;
    j->w_started = 0;
}

static void feed(struct sn_cdn_job *j, const unsigned char *data, size_t len)
{
    uint32_t max_payload = j->w_piece_size - DF_PIECE_WRAP;
    while (len > 0 && !j->w_err) {
        if (j->w_http_length >= 0 && j->w_raw >= (uint64_t)j->w_http_length) {
            j->w_err = DF_ETOOBIG; /* more bytes than Content-Length */
            return;
        }
        if (j->w_raw_end && j->w_raw >= j->w_raw_end) {
            j->w_err = DF_ETOOBIG; /* repair: past the requested range, into good pieces */
            return;
        }
        if (!j->w_started) {
            piece_start(j);
            if (j->w_err)
                return;
        }
        size_t take = DF_MIN(len, (size_t)(max_payload - j->w_fill));
        if (j->w_http_length >= 0)
            take = DF_MIN(take, (size_t)((uint64_t)j->w_http_length - j->w_raw));
        int rc = pwrite_full(j->w_fd, data, take,
                             (off_t)j->w_cur * j->w_piece_size + 4 + j->w_fill);
        if (rc < 0) {
            j->w_err = rc;
            return;
        }
        df_digest_update(j->w_pmd5, data, take);
        df_digest_update(j->w_psha, data, take);
        df_digest_update(j->w_fmd5, data, take);
        df_digest_update(j->w_fsha, data, take);
        j->w_fill += (uint32_t)take;
        j->w_raw += take;
        j->w_batch_done += take;
        data += take;
        len -= take;
        if (j->w_fill == max_payload ||
            (j->w_http_length >= 0 && j->w_raw == (uint64_t)j->w_http_length))
            piece_complete(j);
    }
}

void sn_cdn_io_batch(void *arg)
{
    struct sn_cdn_job *j = arg;
    pre_steps(j);
    /* After ENOSPC the batch runs again: skip what is on disk (its state is in w_cur/w_fill;
     * a failed pwrite is simply repeated at the same offset). */
    size_t skip = j->w_batch_done;
    for (struct sn_cdn_chunk *c = j->batch; c && !j->w_err; c = c->next) {
        if (skip >= c->len) {
            skip -= c->len;
            continue;
        }
        feed(j, c->data + skip, c->len - skip);
        skip = 0;
    }
}

/* ---- finalize --------------------------------------------------------------------------- */

static void write_meta(struct sn_cdn_job *j, int is_finished, int is_success, int64_t file_len)
{
    struct sn_meta m;
    sn_cdn_io_meta_fill(j, &m);
    m.is_finished = is_finished;
    m.is_success = is_success;
    m.file_length = file_len;
    if (is_success) {
        m.http_length = (int64_t)j->w_raw;
        m.piece_total = j->fin_pieces;
        memcpy(m.real_md5, j->real_md5, sizeof(m.real_md5));
        memcpy(m.real_sha256, j->real_sha256, sizeof(m.real_sha256));
    }
    char *s = sn_meta_encode(&m);
    int rc = sn_store_write_file(j->paths.meta, s);
    if (rc < 0 && !j->w_err)
        j->w_err = rc;
    free(s);
    sn_meta_cleanup(&m);
}

void sn_cdn_io_finalize(void *arg)
{
    struct sn_cdn_job *j = arg;
    pre_steps(j);
    for (struct sn_cdn_chunk *c = j->batch; c && !j->w_err; c = c->next)
        feed(j, c->data, c->len);
    if (!j->fin_ok || j->w_err) {
        /* Interrupted: keep what is on disk for a later resume (the .meta says not finished). */
        if (!j->w_err && j->w_piece_size)
            write_meta(j, 0, 0, -1);
        j->fin_ok = 0;
        return;
    }
    if (j->w_started || (j->w_cur == 0 && j->w_raw == 0)) {
        if (!j->w_started)
            piece_start(j); /* empty origin file: one piece with header + tail */
        if (!j->w_err)
            piece_complete(j);
    }
    if (j->w_err) {
        j->fin_ok = 0;
        return;
    }
    for (size_t i = 0; i < j->w_ndone; i++)
        if (j->w_done[i].n < j->fin_cap)
            j->fin_digests[j->w_done[i].n] = j->w_done[i].d;
    j->fin_pieces = j->w_cur;
    if (!j->fin_is_digested) {
        df_digest_final_hex(j->w_fmd5, j->real_md5);
        df_digest_final_hex(j->w_fsha, j->real_sha256);
        j->fin_is_digested = 1;
    }
    if (j->w_http_length >= 0 && j->w_raw != (uint64_t)j->w_http_length) {
        snprintf(j->fin_reason, sizeof(j->fin_reason),
                 "origin sent %llu bytes but announced %lld for %s",
                 (unsigned long long)j->w_raw, (long long)j->w_http_length, j->raw_url);
        j->fin_ok = 0;
        write_meta(j, 1, 0, -1);
        return;
    }
    if (j->md5[0] && !df_digest_hex_eq(j->md5, j->real_md5)) {
        snprintf(j->fin_reason, sizeof(j->fin_reason),
                 "md5 mismatch for %s: expected %s, origin file has %s", j->raw_url, j->md5,
                 j->real_md5);
        j->fin_ok = 0;
        j->fin_is_md5_mismatch = 1;
        write_meta(j, 1, 0, -1);
        return;
    }
    DF_ASSERT(j->fin_pieces <= j->fin_cap);
    char *s1 = sn_store_digests_encode(j->fin_digests, j->fin_pieces, j->real_md5, DF_DIGEST_MD5);
    char *s2 = sn_store_digests_encode(j->fin_digests, j->fin_pieces, j->real_sha256,
                                       DF_DIGEST_SHA256);
    int rc = sn_store_write_file(j->paths.md5, s1);
    if (rc == 0)
        rc = sn_store_write_file(j->paths.sha256, s2);
    free(s1);
    free(s2);
    if (rc == 0 && fdatasync(j->w_fd) < 0)
        rc = -errno;
    if (rc < 0) {
        j->w_err = rc;
        j->fin_ok = 0;
        return;
    }
    write_meta(j, 1, 1, df_proto_wrapped_length((int64_t)j->w_raw, j->w_piece_size));
    if (j->w_err)
        j->fin_ok = 0;
}
