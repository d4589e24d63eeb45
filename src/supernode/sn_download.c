/* SPDX-License-Identifier: Apache-2.0 */
/* Download port: GET/HEAD /download/<id[0:3]>/<id> with one Range, served from the CDN file
 * with sendfile (evbuffer_add_file). The URL only names a task: the task is looked up in
 * memory and the file it owns is opened, so no path from the request ever reaches open(2).
 * Only bytes of pieces already complete on disk are served. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "df_http_server.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_token.h"
#include "df_util.h"
#include "sn_cdn.h"
#include "sn_server.h"

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* "<3>/<64>" with the prefix equal to the id's first three characters. */
static int parse_id(const char *rest, char id[DF_TASKID_LEN + 1])
{
    if (strlen(rest) != 3 + 1 + DF_TASKID_LEN || rest[3] != '/' || !is_hex(rest, 3) ||
        !is_hex(rest + 4, DF_TASKID_LEN) || memcmp(rest, rest + 4, 3) != 0)
        return -EINVAL;
    memcpy(id, rest + 4, DF_TASKID_LEN + 1);
    return 0;
}

/* End (exclusive, wrapped coordinates) of the bytes that are on disk and announced, counting
 * only whole pieces from `from`: the range [s, e] is servable iff every piece it touches is
 * complete and e is inside the last one. */
static int range_servable(const struct sn_task *t, uint64_t s, uint64_t e)
{
    uint32_t P = t->piece_size;
    uint64_t first = s / P, last = e / P;
    for (uint64_t n = first; n <= last; n++) {
        if (n >= t->sched.cdn.nbits || !df_bitmap_test(&t->sched.cdn, (uint32_t)n))
            return 0;
    }
    return last < t->ndigests && e < last * P + t->digests[last].wrapped_len;
}

/* The last reference to a reply's file segment went away (sent, or the connection closed). */
static void on_segment_free(struct evbuffer_file_segment const *seg, int flags, void *arg)
{
    (void)seg;
    (void)flags;
    struct sn_task *t = arg;
    DF_ASSERT(t->dl_inflight > 0);
    t->dl_inflight--;
    sn_task_unref(t); /* may free a task removed meanwhile */
}

static void h_download(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    struct evhttp_request *req = call->req;
    char id[DF_TASKID_LEN + 1];
    struct sn_task *t = NULL;
    if (parse_id(call->rest, id) == 0)
        t = sn_registry_get(&s->reg, id);
    if (!t || (t->cdn_status != SN_CDN_SUCCESS && t->cdn_status != SN_CDN_RUNNING)) {
        df_http_reply(req, 404, "text/plain", "not found\n", 10);
        return;
    }
    if (sn_api_needs_token(s, t)) {
        /* Private task (or --peer-auth required): only clients the supernode admitted, with
         * the token it gave them, from the address they registered from. */
        const char *ip = df_http_req_peer_ip(req);
        const char *why = "no token";
        struct df_token_claims c;
        if (df_token_verify((const unsigned char(*)[DF_TOKEN_PUB_LEN])s->token_pub_raw, 1,
                            df_http_req_header_in(req, DF_TOKEN_HEADER), t->id, ip,
                            (int64_t)time(NULL), &c, &why) < 0) {
            char msg[160];
            int n = snprintf(msg, sizeof(msg), "piece token refused: %s\n", why);
            DF_LOGW("download", "task %s: piece request from %s refused: %s", t->id, ip, why);
            s->metrics.pieces_token_refused++;
            df_http_reply(req, 403, "text/plain", msg, (size_t)n);
            return;
        }
    }
    if (!t->piece_size || t->sched.cdn.count == 0) {
        df_http_reply(req, 503, "text/plain", "range not downloaded yet\n", 25);
        return;
    }
    int is_done = t->cdn_status == SN_CDN_SUCCESS;
    /* Resource size for Range arithmetic: the wrapped length when known; while a download of
     * unknown length runs, the end of the highest complete piece. */
    uint64_t total;
    if (t->wrapped_length >= 0) {
        total = (uint64_t)t->wrapped_length;
    } else {
        int64_t hi = -1;
        for (int64_t i = df_bitmap_next_set(&t->sched.cdn, 0); i >= 0;
             i = df_bitmap_next_set(&t->sched.cdn, (uint32_t)i + 1))
            hi = i;
        total = (uint64_t)hi * t->piece_size + t->digests[hi].wrapped_len;
    }
    const char *range = df_http_req_header_in(req, "Range");
    uint64_t start = 0, end = total ? total - 1 : 0;
    int is_partial = range != NULL;
    char hbuf[128];
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    if (range) {
        int rc = df_proto_parse_http_range(range, total, &start, &end);
        if (rc == DF_ERANGE) {
            snprintf(hbuf, sizeof(hbuf), "bytes */%llu", (unsigned long long)total);
            evhttp_add_header(out, "Content-Range", hbuf);
            df_http_reply(req, 416, "text/plain", "range not satisfiable\n", 22);
            return;
        }
        if (rc < 0) {
            df_http_reply(req, 400, "text/plain", "bad Range header\n", 17);
            return;
        }
    } else if (!is_done) {
        df_http_reply(req, 503, "text/plain", "CDN download in progress; use a Range\n", 38);
        return;
    }
    if (total == 0 || !range_servable(t, start, end)) {
        df_http_reply(req, 503, "text/plain", "range not downloaded yet\n", 25);
        return;
    }
    uint64_t len = end - start + 1;
    evhttp_add_header(out, "Content-Type", "application/octet-stream");
    evhttp_add_header(out, "Accept-Ranges", "bytes");
    if (is_partial) {
        snprintf(hbuf, sizeof(hbuf), "bytes %llu-%llu/%llu", (unsigned long long)start,
                 (unsigned long long)end, (unsigned long long)total);
        evhttp_add_header(out, "Content-Range", hbuf);
    }
    int status = is_partial ? 206 : 200;
    if (call->method == DF_HTTP_M_HEAD) {
        snprintf(hbuf, sizeof(hbuf), "%llu", (unsigned long long)len);
        evhttp_add_header(out, "Content-Length", hbuf);
        evhttp_send_reply(req, status, df_http_reason(status), NULL);
        return;
    }
    char *path = sn_cdn_data_path(s->cdn, t->id);
    /* Never through a symlink planted at the cache path, never a FIFO/device (O_NONBLOCK: the
     * open itself must not block the loop). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    int open_errno = errno;
    struct stat st;
    int is_stat = fd >= 0 && fstat(fd, &st) == 0;
    if (fd < 0 || !is_stat || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < end + 1) {
        DF_LOGW("download", "task %s: cache file %s unusable: %s", t->id, path,
                fd < 0 ? (open_errno == ELOOP ? "it is a symbolic link (not followed)"
                                              : strerror(open_errno))
                : !is_stat || !S_ISREG(st.st_mode) ? "not a regular file"
                : "shorter than announced");
        if (fd >= 0)
            close(fd);
        free(path);
        df_http_reply(req, 404, "text/plain", "not found\n", 10);
        return;
    }
    free(path);
    struct evbuffer *buf = evbuffer_new();
    /* evbuffer_add_file_segment (what evbuffer_add_file does inside) only makes a sendfile
     * chain when the buffer is flagged as draining to a socket; otherwise it mmaps the range,
     * which would put the whole file in our RSS. The chain moves unchanged into the
     * connection's buffer. The segment owns the fd (closed when freed) and tells us when it is
     * freed: the reply was sent or its connection closed. Until then the task counts as
     * serving (t->dl_inflight, one reference), so the disk GC never deletes a file in use. */
    struct evbuffer_file_segment *seg =
        evbuffer_file_segment_new(fd, (ev_off_t)start, (ev_off_t)len, EVBUF_FS_CLOSE_ON_FREE);
    if (buf)
        evbuffer_set_flags(buf, EVBUFFER_FLAG_DRAINS_TO_FD);
    if (!seg)
        close(fd);
    if (!buf || !seg || evbuffer_add_file_segment(buf, seg, 0, (ev_off_t)len) < 0) {
        if (buf)
            evbuffer_free(buf);
        if (seg)
            evbuffer_file_segment_free(seg);
        df_http_reply(req, 500, "text/plain", "cannot read cache file\n", 23);
        return;
    }
    t->dl_inflight++;
    sn_task_ref(t);
    evbuffer_file_segment_add_cleanup_cb(seg, on_segment_free, t);
    evbuffer_file_segment_free(seg); /* the buffer holds its own reference */
    s->metrics.upload_bytes += len;
    /* libevent writes at most 16 KiB per socket event by default, i.e. one sendfile(2) and one
     * loop turn per 16 KiB; pieces are MiBs of zero-copy data, so let one event hand the kernel
     * up to 1 MiB (measured on the uploader: half the CPU per GiB). */
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    if (bev)
        (void)bufferevent_set_max_single_write(bev, 1 << 20);
    evhttp_send_reply(req, status, df_http_reason(status), buf);
    evbuffer_free(buf);
}

void sn_download_install(struct sn_server *s)
{
    df_http_server_route(s->dl, "download", DF_HTTP_M_GET | DF_HTTP_M_HEAD, "/download/", 1,
                         h_download, s);
}
