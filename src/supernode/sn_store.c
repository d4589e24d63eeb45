/* SPDX-License-Identifier: Apache-2.0 */
/* CDN cache files: paths, .meta JSON, per-piece digest files, and the piece scanner used to
 * resume an interrupted download or rebuild lost digests. Only worker threads call the
 * blocking functions. */
#include "sn_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "df_err.h"
#include "df_json.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_util.h"

void sn_store_paths_init(struct sn_store_paths *p, const char *home_dir, const char *id)
{
    p->dir = df_xasprintf("%s/repo/download/%.3s", home_dir, id);
    p->data = df_xasprintf("%s/%s", p->dir, id);
    p->meta = df_xasprintf("%s/%s.meta", p->dir, id);
    p->md5 = df_xasprintf("%s/%s.md5", p->dir, id);
    p->sha256 = df_xasprintf("%s/%s.sha256", p->dir, id);
}

void sn_store_paths_cleanup(struct sn_store_paths *p)
{
    free(p->dir);
    free(p->data);
    free(p->meta);
    free(p->md5);
    free(p->sha256);
    memset(p, 0, sizeof(*p));
}

void sn_meta_init(struct sn_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->url = df_xstrdup("");
    m->raw_url = df_xstrdup("");
    m->identifier = df_xstrdup("");
    m->md5 = df_xstrdup("");
    m->last_modified = df_xstrdup("");
    m->etag = df_xstrdup("");
    m->http_length = -1;
    m->file_length = -1;
}

void sn_meta_cleanup(struct sn_meta *m)
{
    free(m->url);
    free(m->raw_url);
    free(m->identifier);
    free(m->md5);
    free(m->last_modified);
    free(m->etag);
    memset(m, 0, sizeof(*m));
}

char *sn_meta_encode(const struct sn_meta *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "taskID", json_string(m->task_id));
    json_object_set_new(o, "url", json_string(m->url));
    json_object_set_new(o, "rawUrl", json_string(m->raw_url));
    json_object_set_new(o, "pieceSize", json_integer(m->piece_size));
    json_object_set_new(o, "pieceTotal", json_integer(m->piece_total));
    json_object_set_new(o, "httpFileLen", json_integer(m->http_length));
    json_object_set_new(o, "bizId", json_string(m->identifier));
    json_object_set_new(o, "accessTime", json_integer(m->access_ms));
    json_object_set_new(o, "interval", json_integer(m->interval_ms));
    json_object_set_new(o, "fileLength", json_integer(m->file_length));
    json_object_set_new(o, "md5", json_string(m->md5));
    json_object_set_new(o, "realMd5", json_string(m->real_md5));
    json_object_set_new(o, "realSha256", json_string(m->real_sha256));
    json_object_set_new(o, "lastModified", json_integer(m->last_modified_ms));
    json_object_set_new(o, "lastModifiedRaw", json_string(m->last_modified));
    json_object_set_new(o, "eTag", json_string(m->etag));
    json_object_set_new(o, "finish", json_boolean(m->is_finished));
    json_object_set_new(o, "success", json_boolean(m->is_success));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    DF_ASSERT(s);
    return s;
}

static int get_str(const json_t *o, const char *key, char **dst)
{
    json_t *v = df_json_get_ci(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -EINVAL;
    free(*dst);
    *dst = df_xstrdup(json_string_value(v));
    return 0;
}

static int get_hex(const json_t *o, const char *key, char *dst, size_t cap)
{
    json_t *v = df_json_get_ci(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= cap)
        return -EINVAL;
    snprintf(dst, cap, "%s", json_string_value(v));
    return 0;
}

static int get_i64(const json_t *o, const char *key, int64_t *dst)
{
    int rc = df_json_int_ci(o, key, dst);
    return rc == -ENOENT ? 0 : rc;
}

int sn_meta_decode(const char *text, size_t len, struct sn_meta *m)
{
    sn_meta_init(m);
    json_t *o = json_loadb(text, len, 0, NULL);
    int rc = -EINVAL;
    if (!json_is_object(o))
        goto out;
    const char *id = df_json_str_ci(o, "taskID");
    if (!id || strlen(id) != DF_TASKID_LEN)
        goto out;
    memcpy(m->task_id, id, DF_TASKID_LEN + 1);
    int64_t ps = 0, total = 0;
    if (df_json_int_ci(o, "pieceSize", &ps) < 0 || !DF_PIECE_SIZE_VALID(ps))
        goto out;
    m->piece_size = (uint32_t)ps;
    if (get_i64(o, "pieceTotal", &total) < 0 || total < 0 || total > UINT32_MAX)
        goto out;
    m->piece_total = (uint32_t)total;
    if (get_str(o, "url", &m->url) < 0 || get_str(o, "rawUrl", &m->raw_url) < 0 ||
        get_str(o, "bizId", &m->identifier) < 0 || get_str(o, "md5", &m->md5) < 0 ||
        get_str(o, "lastModifiedRaw", &m->last_modified) < 0 || get_str(o, "eTag", &m->etag) < 0 ||
        get_hex(o, "realMd5", m->real_md5, sizeof(m->real_md5)) < 0 ||
        get_hex(o, "realSha256", m->real_sha256, sizeof(m->real_sha256)) < 0 ||
        get_i64(o, "httpFileLen", &m->http_length) < 0 ||
        get_i64(o, "fileLength", &m->file_length) < 0 ||
        get_i64(o, "accessTime", &m->access_ms) < 0 ||
        get_i64(o, "interval", &m->interval_ms) < 0 ||
        get_i64(o, "lastModified", &m->last_modified_ms) < 0)
        goto out;
    if (df_json_bool_ci(o, "finish", &m->is_finished) == -EINVAL ||
        df_json_bool_ci(o, "success", &m->is_success) == -EINVAL)
        goto out;
    rc = 0;
out:
    json_decref(o);
    if (rc < 0)
        sn_meta_cleanup(m);
    return rc;
}

/* Check line: SHA-256 hex of the concatenation of the previous lines without separators. */
static void check_line(const char *text, size_t len, char out[DF_DIGEST_HEX_MAX])
{
    struct df_digest *d = df_digest_new(DF_DIGEST_SHA256);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        df_digest_update(d, p, n);
        p += n + (nl ? 1 : 0);
    }
    df_digest_final_hex(d, out);
    df_digest_free(d);
}

char *sn_store_digests_encode(const struct sn_piece_digest *d, uint32_t n, const char *file_hex,
                              enum df_digest_alg which)
{
    size_t line = which == DF_DIGEST_MD5 ? 32 + 12 : 64 + 1;
    size_t cap = (size_t)n * line + 200;
    char *s = df_xmalloc(cap);
    size_t off = 0;
    char hex[DF_DIGEST_HEX_MAX];
    for (uint32_t i = 0; i < n; i++) {
        if (which == DF_DIGEST_MD5) {
            df_hex_encode(d[i].md5, 16, hex);
            off += (size_t)snprintf(s + off, cap - off, "%s:%u\n", hex, (unsigned)d[i].wrapped_len);
        } else {
            df_hex_encode(d[i].sha256, 32, hex);
            off += (size_t)snprintf(s + off, cap - off, "%s\n", hex);
        }
    }
    off += (size_t)snprintf(s + off, cap - off, "%s", file_hex);
    check_line(s, off, hex);
    snprintf(s + off, cap - off, "\n%s", hex);
    return s;
}

static int hex_decode(const char *h, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = h[2 * i + (size_t)k];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0)
                return -EINVAL;
            v = v * 16 + x;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int sn_store_digests_decode(const char *text, size_t len, uint32_t n, struct sn_piece_digest *d,
                            char *file_hex, enum df_digest_alg which)
{
    size_t hexlen = which == DF_DIGEST_MD5 ? 32 : 64;
    /* Split off the check line and verify it first. */
    const char *last_nl = NULL;
    for (size_t i = len; i > 0; i--)
        if (text[i - 1] == '\n') {
            last_nl = text + i - 1;
            break;
        }
    if (!last_nl || (size_t)(text + len - last_nl - 1) != 64)
        return -EINVAL;
    char want[DF_DIGEST_HEX_MAX];
    check_line(text, (size_t)(last_nl - text), want);
    if (memcmp(want, last_nl + 1, 64) != 0)
        return -EINVAL;
    const char *p = text;
    for (uint32_t i = 0; i <= n; i++) {
        const char *nl = memchr(p, '\n', (size_t)(last_nl + 1 - p));
        if (!nl)
            return -EINVAL;
        size_t l = (size_t)(nl - p);
        if (i == n) { /* file digest line */
            if (l != hexlen || nl != last_nl)
                return -EINVAL;
            memcpy(file_hex, p, hexlen);
            file_hex[hexlen] = '\0';
            break;
        }
        if (l < hexlen)
            return -EINVAL;
        if (which == DF_DIGEST_MD5) {
            char num[16];
            uint64_t wl;
            if (p[32] != ':' || l - 33 >= sizeof(num) || l == 33)
                return -EINVAL;
            memcpy(num, p + 33, l - 33);
            num[l - 33] = '\0';
            if (df_parse_u64(num, &wl) < 0 || wl < DF_PIECE_WRAP || wl > DF_PIECE_SIZE_CEIL ||
                hex_decode(p, 16, d[i].md5) < 0)
                return -EINVAL;
            d[i].wrapped_len = (uint32_t)wl;
        } else {
            if (l != 64 || hex_decode(p, 32, d[i].sha256) < 0)
                return -EINVAL;
        }
        p = nl + 1;
    }
    return 0;
}


/* Opens path read-only without following a final symlink and without blocking on a FIFO;
 * refuses anything but a regular file. fd or -errno (-ELOOP link, -EINVAL not regular). */
static int open_regular_ro(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        int rc = -errno;
        if (rc == -ELOOP)
            DF_LOGW("store", "%s is a symbolic link: refused (not followed), treated as missing",
                    path);
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        DF_LOGW("store", "%s is not a regular file (mode %o): refused, treated as missing", path,
                (unsigned)(st.st_mode & S_IFMT));
        close(fd);
        return -EINVAL;
    }
    return fd;
}

int sn_store_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open_regular_ro(path);
    if (fd < 0)
        return fd;
    return df_read_fd(fd, max, out, len);
}

int sn_store_open_data(const char *path)
{
    /* O_RDWR on a FIFO does not block on Linux; O_NONBLOCK makes sure of it (and is ignored
     * for regular files). */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    const char *what = NULL;
    if (fd < 0 && errno == ELOOP) {
        what = "a symbolic link";
    } else if (fd < 0 && errno != EISDIR) {
        return -errno;
    } else if (fd < 0) {
        return -EISDIR; /* cannot be replaced by unlink(2); the job fails with this */
    } else {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            int rc = -errno;
            close(fd);
            return rc;
        }
        if (S_ISREG(st.st_mode))
            goto ok;
        close(fd);
        what = "not a regular file";
    }
    DF_LOGW("store", "cache file %s is %s: never followed; removed and treated as a missing "
            "cache entry", path, what);
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0)
        return -errno;
ok:;
    /* back to blocking mode for the pwrite/pread of the worker (no effect on regular files,
     * but keep the fd's flags plain) */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int sn_store_write_file(const char *path, const char *text)
{
    char *tmp = df_xasprintf("%s.tmp", path);
    int rc = df_write_file_atomic(path, tmp, text, strlen(text), 0600);
    free(tmp);
    return rc;
}

static int pread_full(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return 0; /* short: caller sees got < n through the return of 0 */
        got += (size_t)r;
    }
    return 1;
}

int64_t sn_store_scan(int fd, uint32_t piece_size, int64_t http_length, uint32_t max_pieces,
                      struct sn_piece_digest *d, struct df_digest *file_md5,
                      struct df_digest *file_sha256)
{
    const size_t bufsz = 1u << 20;
    unsigned char *buf = df_xmalloc(bufsz);
    struct df_digest *pm = df_digest_new(DF_DIGEST_MD5);
    struct df_digest *ps = df_digest_new(DF_DIGEST_SHA256);
    uint32_t total = df_proto_piece_count(http_length, piece_size);
    uint32_t n = 0;
    int64_t rc = 0;
    for (; n < total && n < max_pieces; n++) {
        uint32_t payload = df_proto_piece_payload(http_length, piece_size, n);
        off_t base = (off_t)n * piece_size;
        unsigned char hdr[4], want[4], tail;
        int r = pread_full(fd, hdr, 4, base);
        if (r < 0) {
            rc = r;
            goto out;
        }
        df_proto_frame_header(payload, piece_size, want);
        if (r == 0 || memcmp(hdr, want, 4) != 0)
            break;
        r = pread_full(fd, &tail, 1, base + 4 + (off_t)payload);
        if (r < 0) {
            rc = r;
            goto out;
        }
        if (r == 0 || tail != DF_PIECE_TAIL)
            break;
        df_digest_reset(pm);
        df_digest_reset(ps);
        df_digest_update(pm, hdr, 4);
        df_digest_update(ps, hdr, 4);
        /* Hash the payload; the file digests only see it if the whole piece is read. */
        uint32_t left = payload;
        off_t off = base + 4;
        while (left > 0) {
            size_t chunk = DF_MIN((size_t)left, bufsz);
            r = pread_full(fd, buf, chunk, off);
            if (r <= 0) {
                rc = r < 0 ? r : -EIO;
                goto out;
            }
            df_digest_update(pm, buf, chunk);
            df_digest_update(ps, buf, chunk);
            if (file_md5)
                df_digest_update(file_md5, buf, chunk);
            if (file_sha256)
                df_digest_update(file_sha256, buf, chunk);
            left -= (uint32_t)chunk;
            off += (off_t)chunk;
        }
        df_digest_update(pm, &tail, 1);
        df_digest_update(ps, &tail, 1);
        char hex[DF_DIGEST_HEX_MAX];
        df_digest_final_hex(pm, hex);
        if (hex_decode(hex, 16, d[n].md5) < 0) {
            rc = -EIO;
            goto out;
        }
        df_digest_final_hex(ps, hex);
        if (hex_decode(hex, 32, d[n].sha256) < 0) {
            rc = -EIO;
            goto out;
        }
        d[n].wrapped_len = payload + DF_PIECE_WRAP;
    }
    rc = n;
out:
    df_digest_free(pm);
    df_digest_free(ps);
    free(buf);
    return rc;
}
