/* SPDX-License-Identifier: Apache-2.0 */
/* Direct download from the origin ("back-source"): one streamed GET, checked status and
 * length, payload written in order by the writer thread (which also computes the MD5 when the
 * user gave --md5). Also home of the free-space pre-check used by both download paths. */
#include "dfget_source.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "df_http_client.h"
#include "df_log.h"
#include "df_ratelimit.h"
#include "df_util.h"
#include "dfget_writer.h"

#define MOD "source"
#define CHUNK (256u << 10)

struct dfget_source {
    struct event_base *base;
    struct df_http_client *http;
    struct dfget_writer *writer;
    const struct dfget_config *cfg;
    const char *const *space_dirs;
    struct df_ratelimit *rl;
    struct df_http_req *req;
    struct event *rate_ev, *done_ev;
    dfget_source_cb cb;
    void *arg;
    int64_t content_length;
    uint64_t received;
    unsigned char *buf;
    size_t buf_len;
    uint64_t buf_pos;
    int is_paused;
    int is_complete;
    int is_msg_set;             /* msg already explains the failure */
    int err;
    char msg[DF_ERR_LEN];
    char md5[DF_DIGEST_HEX_MAX];
};

const char *dfget_source_status_text(long status, char *buf, size_t len)
{
    static const struct { long code; const char *text; } t[] = {
        {200, "OK"}, {206, "Partial Content"}, {301, "Moved Permanently"}, {302, "Found"},
        {304, "Not Modified"}, {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"},
        {404, "Not Found"}, {405, "Method Not Allowed"}, {407, "Proxy Authentication Required"},
        {408, "Request Timeout"}, {410, "Gone"}, {416, "Range Not Satisfiable"},
        {429, "Too Many Requests"}, {500, "Internal Server Error"}, {502, "Bad Gateway"},
        {503, "Service Unavailable"}, {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(t); i++) {
        if (t[i].code == status) {
            snprintf(buf, len, "%ld %s", status, t[i].text);
            return buf;
        }
    }
    snprintf(buf, len, "HTTP %ld", status);
    return buf;
}

int dfget_source_check_space(const char *const *dirs, uint64_t need, char msg[DF_ERR_LEN])
{
    dev_t seen[8];
    size_t nseen = 0;
    for (size_t i = 0; dirs && dirs[i]; i++) {
        struct stat st;
        uint64_t avail;
        if (stat(dirs[i], &st) < 0 || df_fs_free_bytes(dirs[i], &avail) < 0) {
            int e = -errno;
            snprintf(msg, DF_ERR_LEN, "cannot check free space in %s: %s", dirs[i], strerror(errno));
            return e;
        }
        int is_seen = 0;
        for (size_t k = 0; k < nseen; k++)
            is_seen |= seen[k] == st.st_dev;
        if (is_seen)
            continue;
        if (nseen < DF_ARRAY_LEN(seen))
            seen[nseen++] = st.st_dev;
        if (avail < need) {
            char a[32], b[32];
            snprintf(msg, DF_ERR_LEN, "not enough free space in %s: %s needed, %s available",
                     dirs[i], df_fmt_bytes(need, a, sizeof(a)), df_fmt_bytes(avail, b, sizeof(b)));
            return DF_ENOSPACE;
        }
    }
    return 0;
}

static int has_user_range(const struct dfget_config *cfg)
{
    for (size_t i = 0; i < cfg->nheaders; i++)
        if (strncasecmp(cfg->headers[i], "Range:", 6) == 0)
            return 1;
    return 0;
}

static void complete(struct dfget_source *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void complete(struct dfget_source *s, int err, const char *fmt, ...)
{
    if (s->is_complete)
        return;
    s->is_complete = 1;
    s->err = err;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
        va_end(ap);
    }
    event_active(s->done_ev, 0, 0);
}

static void on_done_ev(evutil_socket_t fd, short what, void *arg)
{
    struct dfget_source *s = arg;
    s->cb(s->err, s->msg, s->received, s->md5, s->arg);
}

static int on_headers(struct df_http_req *req, long status, void *arg)
{
    struct dfget_source *s = arg;
    char st[64];
    if (status != 200 && !(status == 206 && has_user_range(s->cfg))) {
        snprintf(s->msg, sizeof(s->msg), "origin returned %s for %s",
                 dfget_source_status_text(status, st, sizeof(st)), s->cfg->url);
        s->is_msg_set = 1;
        return DF_EORIGIN;
    }
    s->content_length = df_http_req_content_length(req);
    if (s->content_length >= 0) {
        int rc = dfget_source_check_space(s->space_dirs, (uint64_t)s->content_length, s->msg);
        if (rc < 0) {
            s->is_msg_set = 1;
            return rc;
        }
    }
    if (s->content_length > 0) /* preallocate: nothing was written since the reset at start */
        dfget_writer_reset(s->writer, 0, s->cfg->md5 != NULL, 0, s->content_length);
    DF_LOGI(MOD, "origin answered %ld, length %lld", status, (long long)s->content_length);
    return 0;
}

static void flush(struct dfget_source *s)
{
    if (!s->buf_len)
        return;
    dfget_writer_write(s->writer, 0, s->buf_pos, s->buf, s->buf_len);
    s->buf_pos += s->buf_len;
    s->buf = NULL;
    s->buf_len = 0;
}

static void on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
    dfget_source_on_drain(arg);
}

static int on_data(struct df_http_req *req, const void *data, size_t len, void *arg)
{
    struct dfget_source *s = arg;
    if (dfget_writer_queued(s->writer) > DFGET_WRITER_HIGH_WATER) {
        s->is_paused = 1;
        return DF_AGAIN;
    }
    if (s->rl && s->rl->rate_bps) {
        int64_t now = df_now_us();
        int64_t wait = df_ratelimit_wait_us(s->rl, now, 1);
        if (wait > 0) {
            s->is_paused = 1;
            struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
            evtimer_add(s->rate_ev, &tv);
            return DF_AGAIN;
        }
        (void)df_ratelimit_take(s->rl, now, len);
    }
    if (s->content_length >= 0 && s->received + len > (uint64_t)s->content_length) {
        snprintf(s->msg, sizeof(s->msg), "origin sent more than its Content-Length %lld for %s",
                 (long long)s->content_length, s->cfg->url);
        s->is_msg_set = 1;
        return DF_EORIGIN;
    }
    const unsigned char *p = data;
    while (len > 0) {
        if (!s->buf)
            s->buf = df_xmalloc(CHUNK);
        size_t n = DF_MIN(len, CHUNK - s->buf_len);
        memcpy(s->buf + s->buf_len, p, n);
        s->buf_len += n;
        s->received += n;
        p += n;
        len -= n;
        if (s->buf_len == CHUNK)
            flush(s);
    }
    return 0;
}

static void on_finish(int err, const char *md5_hex, const char *sha_hex, void *arg)
{
    struct dfget_source *s = arg;
    if (err < 0) {
        complete(s, err, "cannot write the download file: %s", df_strerror(err));
        return;
    }
    snprintf(s->md5, sizeof(s->md5), "%s", md5_hex);
    complete(s, 0, NULL);
}

static void on_commit(int err, uint64_t token, void *arg) { (void)err; }

static void on_req_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct dfget_source *s = arg;
    s->req = NULL;
    if (err < 0) {
        if (s->is_msg_set) {
            complete(s, err, NULL);
        } else {
            const char *et = df_http_req_errtext(req);
            complete(s, DF_EORIGIN, "origin download of %s failed after %llu bytes: %s",
                     s->cfg->url, (unsigned long long)s->received,
                     et && *et ? et : df_strerror(err));
        }
        return;
    }
    if (s->content_length >= 0 && s->received != (uint64_t)s->content_length) {
        complete(s, DF_EORIGIN, "origin sent %llu of %lld bytes for %s",
                 (unsigned long long)s->received, (long long)s->content_length, s->cfg->url);
        return;
    }
    if (!df_http_req_bytes(req) && s->received == 0 && status != 200 && status != 206) {
        char st[64];
        complete(s, DF_EORIGIN, "origin returned %s for %s",
                 dfget_source_status_text(status, st, sizeof(st)), s->cfg->url);
        return;
    }
    flush(s);
    dfget_writer_commit(s->writer, 0, s->received, on_commit, 0, s);
    dfget_writer_finish(s->writer, 1, on_finish, s);
}

struct dfget_source *dfget_source_start(struct event_base *base, struct df_http_client *http,
                                        struct dfget_writer *writer, const struct dfget_config *cfg,
                                        const char *ca_pem, size_t ca_pem_len,
                                        const char *const *space_dirs, struct df_ratelimit *rl,
                                        int64_t timeout_ms, dfget_source_cb cb, void *arg)
{
    struct dfget_source *s = df_xcalloc(1, sizeof(*s));
    s->base = base;
    s->http = http;
    s->writer = writer;
    s->cfg = cfg;
    s->space_dirs = space_dirs;
    s->rl = rl;
    s->cb = cb;
    s->arg = arg;
    s->content_length = -1;
    s->rate_ev = evtimer_new(base, on_rate_timer, s);
    s->done_ev = event_new(base, -1, 0, on_done_ev, s);
    dfget_writer_reset(writer, 0, cfg->md5 != NULL, 0, 0);
    const char **hdrs = df_xcalloc(cfg->nheaders + 2, sizeof(*hdrs));
    for (size_t i = 0; i < cfg->nheaders; i++)
        hdrs[i] = cfg->headers[i];
    struct df_http_opts o = {
        .url = cfg->url,
        .headers = hdrs,
        .timeout_ms = timeout_ms,
        .connect_timeout_ms = 10000,
        .low_speed_window_ms = 60000,
        .is_follow_redirects = 1,
        .is_insecure = cfg->is_insecure,
        .ca_file = cfg->ncacerts > 0 ? cfg->cacerts[0] : NULL,
    };
    /* Several --cacerts: all of them (curl copies the bundle; it takes precedence over
     * ca_file), as the supernode gets them in the registration. */
    o.ca_pem = ca_pem;
    o.ca_pem_len = ca_pem_len;
    int err = 0;
    s->req = df_http_req_start(http, &o, on_headers, on_data, on_req_done, s, &err);
    free(hdrs);
    if (!s->req) {
        complete(s, err ? err : DF_EPROTO, "cannot start the origin download of %s: %s", cfg->url,
                 df_strerror(err));
    }
    DF_LOGI(MOD, "downloading %s from the origin", cfg->url);
    return s;
}

void dfget_source_free(struct dfget_source *s)
{
    if (!s)
        return;
    if (s->req)
        df_http_req_cancel(s->req);
    event_free(s->rate_ev);
    event_free(s->done_ev);
    free(s->buf);
    free(s);
}

void dfget_source_on_drain(struct dfget_source *s)
{
    if (s && s->is_paused && s->req) {
        s->is_paused = 0;
        df_http_req_unpause(s->req);
    }
}

uint64_t dfget_source_bytes(const struct dfget_source *s) { return s->received; }
int64_t dfget_source_length(const struct dfget_source *s) { return s->content_length; }
