/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon HTTP front: evhttp server, one `struct job` per proxied request that ties a client
 * request to one upstream libcurl transfer. Streaming with back-pressure: when more than
 * OUT_HIGH bytes wait in the client connection, the curl transfer is paused (DF_AGAIN) and
 * resumed from the connection's drain callback. Client loss is seen through the connection's
 * close callback (libevent then hands the unfinished request to us to free). */
#include "dfd_proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "df_digest.h"
#include "df_http_client.h"
#include "df_listen.h"
#include "df_log.h"
#include "df_netpolicy.h"
#include "df_util.h"
#include "dfd_auth.h"
#include "dfd_blob.h"
#include "dfd_metrics.h"
#include "dfd_rules.h"
#include "dfd_swarm.h"
#include "dfd_tunnel.h"

#define OUT_HIGH (1u << 20)           /* pause upstream above this many queued client bytes */
#define MAX_REQ_HEADERS_BYTES (64 * 1024)
#define MAX_REQ_BODY (1u << 20)       /* POST bodies (token endpoints) */
#define MAX_FWD_HEADERS 96

struct dfd_proxy {
    struct event_base *base;
    const struct dfd_config *cfg;
    struct evhttp *http;
    struct df_listen_guard *guard;    /* connection limit, request deadline, accept back-off */
    uint16_t port;
    struct df_http_client *client;
    struct dfd_rules *rules;
    struct dfd_auth *auth;
    struct evdns_base *dns;
    struct dfd_tunnels *tunnels;
    struct dfd_blobs *blobs;
    struct dfd_swarm *swarm;          /* --node given: blobs through the supernode */
    struct dfd_metrics m;
    struct df_netpolicy *policy;      /* connections to targets allowed by a pattern */
    struct job *jobs;                 /* every request in flight */
};

/* The policy for the job's outgoing connections: targets allowed by a pattern (regex,
 * wildcard) never reach a special address, checked on every connection curl opens (after its
 * own DNS lookup, also on redirects). Targets the configuration names go unchecked. */
static const struct df_netpolicy *job_policy(const struct job *j);

struct addr_check;

struct job {
    struct dfd_proxy *p;
    struct addr_check *addr;          /* pending resolution of rt.host (is_addr_check) or NULL */
    struct evhttp_request *req;       /* NULL once answered/freed */
    struct evhttp_connection *evcon;  /* client connection (close callback installed) */
    struct df_http_req *up;           /* upstream transfer or NULL */
    struct dfd_auth_check *auth;      /* pending authorization check or NULL */
    struct dfd_blob_reader *blob;     /* blob body from the store / a shared fetch, or NULL */
    uint64_t blob_pos;                /* next blob byte to queue for the client */
    struct dfd_route rt;
    char *method;
    char **fwd;                       /* "Key: Value" headers for the upstream, NULL-ended */
    size_t nfwd;
    char *authz;                      /* client's Authorization or NULL */
    int is_head;
    int is_blob_stream;               /* verifying a full 200 blob body */
    int is_started;                   /* reply line + headers sent */
    int is_client_gone;               /* libevent detached req: we must free it */
    int is_paused;                    /* upstream paused for back-pressure */
    struct df_digest *sha;            /* blob stream hash */
    struct evbuffer *held;            /* blob stream: last chunk, sent only once verified */
    uint64_t sent;                    /* body bytes queued to the client */
    int64_t t0_ms;
    struct job *prev, *next;
};

/* Response headers copied from the upstream (df_http_client exposes headers by name only). */
static const char *const pass_headers[] = {
    "Content-Type", "Content-Encoding", "Content-Range", "Accept-Ranges", "Docker-Content-Digest",
    "Docker-Distribution-Api-Version", "Docker-Upload-Uuid", "WWW-Authenticate", "Location",
    "Link", "ETag", "Last-Modified", "Cache-Control", "Expires", "Vary", "X-Content-Type-Options",
    "Range", "Retry-After", "OCI-Subject", "OCI-Filters-Applied", "RateLimit-Limit",
    "RateLimit-Remaining", "Docker-RateLimit-Source", "Content-Disposition", "Age",
};

/* Request headers never forwarded (hop-by-hop, or rewritten by curl / by us). */
static const char *const drop_headers[] = {
    "Host", "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
    "Proxy-Authenticate", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
    "Expect", "X-Dragonfly-Registry",
};

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(name, list[i]))
            return 1;
    return 0;
}

/* 1 if `name` is listed in the client's Connection header (then it is hop-by-hop too). */
static int in_connection_hdr(const char *conn, const char *name)
{
    if (!conn)
        return 0;
    size_t n = strlen(name);
    for (const char *p = conn; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t l = strcspn(p, ", \t");
        if (l == n && !strncasecmp(p, name, n))
            return 1;
        p += l;
    }
    return 0;
}

/* ---- job lifecycle ------------------------------------------------------------------------ */

static void on_client_close(struct evhttp_connection *evcon, void *arg);
static void addr_check_cancel(struct job *j);

/* Called right before the final reply call on j->req: from then on libevent owns the request
 * and may free the connection at any time, so we forget both. */
static void release_client(struct job *j)
{
    if (j->evcon && !j->is_client_gone)
        evhttp_connection_set_closecb(j->evcon, NULL, NULL);
    j->evcon = NULL;
}

static void job_free(struct job *j)
{
    struct dfd_proxy *p = j->p;
    if (j->prev)
        j->prev->next = j->next;
    else
        p->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    p->m.active--;
    if (j->up)
        df_http_req_cancel(j->up);
    addr_check_cancel(j);
    dfd_auth_check_cancel(j->auth);
    dfd_blob_reader_free(j->blob);
    release_client(j);
    if (j->req && j->is_client_gone)
        evhttp_request_free(j->req); /* detached by libevent when the client went away */
    dfd_route_cleanup(&j->rt);
    for (size_t i = 0; i < j->nfwd; i++)
        free(j->fwd[i]);
    free(j->fwd);
    free(j->method);
    free(j->authz);
    df_digest_free(j->sha);
    if (j->held)
        evbuffer_free(j->held);
    free(j);
}

static void count_status(struct dfd_proxy *p, int status)
{
    int c = status / 100;
    p->m.responses[c >= 1 && c <= 5 ? c : 0]++;
}

/* Sends a complete reply (if the client is still there) and frees the job. */
static void job_reply(struct job *j, int status, const char *ctype, const char *body, size_t len)
{
    if (!j->is_client_gone && j->req && !j->is_started) {
        struct evkeyvalq *oh = evhttp_request_get_output_headers(j->req);
        if (ctype)
            evhttp_add_header(oh, "Content-Type", ctype);
        struct evbuffer *b = evbuffer_new();
        if (body && len && !j->is_head)
            evbuffer_add(b, body, len);
        release_client(j);
        evhttp_send_reply(j->req, status, NULL, b);
        evbuffer_free(b);
        j->req = NULL;
        count_status(j->p, status);
    }
    job_free(j);
}

/* Distribution-style error body {"errors":[{"code","message"}]}. */
static void job_reply_error(struct job *j, int status, const char *code, const char *msg)
{
    char body[512];
    char esc[256];
    size_t k = 0;
    for (const char *s = msg; *s && k + 2 < sizeof(esc); s++) {
        if (*s == '"' || *s == '\\')
            esc[k++] = '\\';
        esc[k++] = (unsigned char)*s < ' ' ? ' ' : *s;
    }
    esc[k] = '\0';
    int n = snprintf(body, sizeof(body), "{\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}]}\n",
                     code, esc);
    job_reply(j, status, "application/json", body, (size_t)DF_MIN((size_t)n, sizeof(body) - 1));
}

/* Abort the client connection mid-reply: the client sees a short body, never a complete one. */
static void job_abort(struct job *j)
{
    if (!j->is_client_gone && j->evcon) {
        struct evhttp_connection *evcon = j->evcon;
        evhttp_connection_set_closecb(evcon, NULL, NULL);
        j->req = NULL;   /* freed together with the connection */
        j->evcon = NULL;
        evhttp_connection_free(evcon);
    }
    job_free(j);
}

static void on_client_close(struct evhttp_connection *evcon, void *arg)
{
    struct job *j = arg;
    (void)evcon;
    j->is_client_gone = 1;
    j->p->m.client_aborts++;
    DF_LOGD("proxy", "client went away during %s %s", j->method, j->rt.url ? j->rt.url : "");
    /* The request is detached from the dying connection and ours to free. Freeing the job here
     * is safe: we are inside libevent, never inside a curl callback. */
    job_free(j);
}

/* ---- upstream → client -------------------------------------------------------------------- */

static void blob_pump(struct job *j);

/* Mirror-mode blob GETs, and proxy-mode GETs of a blob URL matched by a non-direct rule. */
static int is_blob_route(const struct job *j)
{
    return j->rt.action == DFD_ACT_BLOB || (j->rt.action == DFD_ACT_PROXY_P2P && j->rt.digest[0]);
}

static void on_drain(struct evhttp_connection *evcon, void *arg)
{
    struct job *j = arg;
    (void)evcon;
    if (j->blob) {
        blob_pump(j);
        return;
    }
    if (j->is_paused && j->up) {
        j->is_paused = 0;
        df_http_req_unpause(j->up);
    }
}

static size_t out_queued(struct job *j)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(j->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static int on_up_headers(struct df_http_req *up, long status, void *arg)
{
    struct job *j = arg;
    if (j->is_client_gone)
        return DF_ECANCELED;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(j->req);
    for (size_t i = 0; i < DF_ARRAY_LEN(pass_headers); i++) {
        const char *v = df_http_req_header(up, pass_headers[i]);
        if (v)
            evhttp_add_header(oh, pass_headers[i], v);
    }
    int64_t cl = df_http_req_content_length(up);
    const char *clh = df_http_req_header(up, "Content-Length");
    int has_body = !j->is_head && status != 204 && status != 304 && status >= 200;
    if (is_blob_route(j) && status == 200 && !j->is_head &&
        !df_http_req_header(up, "Content-Range")) {
        j->is_blob_stream = 1;
        j->sha = df_digest_new(DF_DIGEST_SHA256);
        j->held = evbuffer_new();
        evhttp_remove_header(oh, "Docker-Content-Digest");
        evhttp_add_header(oh, "Docker-Content-Digest", j->rt.digest);
    }
    if (!has_body) {
        /* HEAD/204/304: announce the upstream's length, send no body (evhttp adds none). */
        if (clh)
            evhttp_add_header(oh, "Content-Length", clh);
        release_client(j);
        evhttp_send_reply(j->req, (int)status, NULL, NULL);
        j->req = NULL;
        j->is_started = 1;
        count_status(j->p, (int)status);
        return 0; /* the job ends in on_up_done */
    }
    if (cl >= 0) {
        char len[32];
        snprintf(len, sizeof(len), "%lld", (long long)cl);
        evhttp_add_header(oh, "Content-Length", len);
    }
    evhttp_send_reply_start(j->req, (int)status, NULL);
    j->is_started = 1;
    count_status(j->p, (int)status);
    return 0;
}

static void send_chunk(struct job *j, struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    if (!n)
        return;
    j->sent += n;
    j->p->m.bytes_to_clients += n;
    evhttp_send_reply_chunk_with_cb(j->req, b, on_drain, j);
}

static int on_up_data(struct df_http_req *up, const void *data, size_t len, void *arg)
{
    struct job *j = arg;
    (void)up;
    if (j->is_client_gone)
        return DF_ECANCELED;
    if (!j->req)
        return 0; /* body of a reply we answered without one */
    if (out_queued(j) > OUT_HIGH) {
        j->is_paused = 1;
        return DF_AGAIN; /* curl keeps the bytes and delivers them again after unpause */
    }
    struct evbuffer *b = evbuffer_new();
    if (j->is_blob_stream) {
        df_digest_update(j->sha, data, len);
        /* Send what was held back, hold the newest bytes until the next chunk or the end. */
        evbuffer_add_buffer(b, j->held);
        evbuffer_add(j->held, data, len);
    } else {
        evbuffer_add(b, data, len);
    }
    send_chunk(j, b);
    evbuffer_free(b);
    return 0;
}

static void log_blob(struct job *j, const char *result, uint64_t size)
{
    double secs = (double)(df_now_ms() - j->t0_ms) / 1000.0;
    DF_LOGI("blob", "%s repo=%s digest=%s size=%llu time=%.3fs source=%llu supernode=0 peers=0 "
            "upstream=%s", result, j->rt.repo ? j->rt.repo : "-", j->rt.digest,
            (unsigned long long)size, secs, (unsigned long long)size, j->rt.upstream);
}

static void on_up_done(struct df_http_req *up, int err, long status, void *arg)
{
    struct job *j = arg;
    j->up = NULL; /* freed by the client library after this callback */
    if (j->is_client_gone) {
        job_free(j);
        return;
    }
    if (!j->is_started) {
        /* failed before any header reached us */
        j->p->m.upstream_errors++;
        if (is_blob_route(j))
            j->p->m.blobs_failed++;
        DF_LOGW("proxy", "upstream %s %s failed: %s (%s)", j->method, j->rt.url,
                df_strerror(err), df_http_req_errtext(up));
        char msg[200];
        if (df_http_req_is_denied(up)) {
            j->p->m.target_denied++;
            snprintf(msg, sizeof(msg), "refused: %s", df_http_req_errtext(up));
            job_reply_error(j, 403, "DENIED", msg);
            return;
        }
        snprintf(msg, sizeof(msg), "upstream unreachable: %s", df_http_req_errtext(up));
        job_reply_error(j, err == DF_ETIMEDOUT ? 504 : 502, "UNAVAILABLE", msg);
        return;
    }
    if (!j->req) { /* body-less reply already sent */
        job_free(j);
        return;
    }
    if (err < 0) {
        DF_LOGW("proxy", "upstream %s %s broke after %llu bytes: %s", j->method, j->rt.url,
                (unsigned long long)j->sent, df_strerror(err));
        if (j->is_blob_stream) {
            j->p->m.blobs_failed++;
            log_blob(j, "FAILED", j->sent);
        }
        j->p->m.upstream_errors++;
        job_abort(j);
        return;
    }
    if (j->is_blob_stream) {
        char got[DF_DIGEST_HEX_MAX];
        df_digest_final_hex(j->sha, got);
        uint64_t total = j->sent + evbuffer_get_length(j->held);
        if (!df_digest_hex_eq(got, j->rt.digest + 7)) {
            DF_LOGE("blob", "digest mismatch for %s from %s: got sha256:%s over %llu bytes; "
                    "connection aborted, nothing cached", j->rt.digest, j->rt.url, got,
                    (unsigned long long)total);
            j->p->m.blobs_digest_mismatch++;
            job_abort(j);
            return;
        }
        j->p->m.blobs_ok++;
        j->p->m.blob_bytes_source += total;
        log_blob(j, "OK", total);
        send_chunk(j, j->held);
        dfd_blobs_add_origin(j->p->blobs, j->rt.digest, j->rt.upstream, j->rt.repo);
    }
    (void)status;
    release_client(j);
    evhttp_send_reply_end(j->req);
    j->req = NULL;
    job_free(j);
}

static void start_upstream(struct job *j)
{
    struct dfd_proxy *p = j->p;
    struct evbuffer *in = evhttp_request_get_input_buffer(j->req);
    size_t blen = evbuffer_get_length(in);
    char *body = NULL;
    if (blen) {
        body = df_xmalloc(blen);
        evbuffer_copyout(in, body, blen);
    }
    struct df_http_opts o = {
        .url = j->rt.url,
        .method = j->method,
        .headers = (const char *const *)j->fwd,
        .body = body,
        .body_len = blen,
        .connect_timeout_ms = 10000,
        .low_speed_window_ms = 60000,
        .is_follow_redirects = is_blob_route(j), /* Authorization stays on-host */
        .is_insecure = j->rt.is_default_upstream && p->cfg->is_insecure,
        .ca_file = j->rt.is_default_upstream ? p->cfg->ca_file : NULL,
        .policy = job_policy(j),
    };
    int err = 0;
    j->up = df_http_req_start(p->client, &o, on_up_headers, on_up_data, on_up_done, j, &err);
    free(body);
    if (!j->up) {
        p->m.upstream_errors++;
        job_reply_error(j, 502, "UNAVAILABLE", "cannot start the upstream request");
    }
}

/* ---- authorization gate (blobs) ----------------------------------------------------------- */

static void deny(struct job *j, int status, const char *www)
{
    if (www && j->req)
        evhttp_add_header(evhttp_request_get_output_headers(j->req), "WWW-Authenticate", www);
    const char *code = status == 401 ? "UNAUTHORIZED" : status == 403 ? "DENIED"
                     : status == 404 ? "BLOB_UNKNOWN" : "UNAVAILABLE";
    const char *msg = status == 401 ? "authentication required"
                    : status == 403 ? "requested access to the resource is denied"
                    : status == 404 ? "blob unknown to registry"
                                    : "registry unreachable for the authorization check";
    job_reply_error(j, status, code, msg);
}

/* ---- blob bodies from the store (one fetch per digest per host) --------------------------- */

static void blob_finish(struct job *j)
{
    int is_cached = dfd_blob_reader_is_cached(j->blob);
    uint64_t size = j->blob_pos, src = 0, sn = 0, peers = 0;
    double secs = (double)(df_now_ms() - j->t0_ms) / 1000.0;
    dfd_blob_reader_sources(j->blob, &src, &sn, &peers);
    j->p->m.blobs_ok++;
    if (is_cached) {
        j->p->m.blob_bytes_cache += size;
    } else {
        j->p->m.blob_bytes_source += src;
        j->p->m.blob_bytes_supernode += sn;
        j->p->m.blob_bytes_peers += peers;
    }
    DF_LOGI("blob", "OK repo=%s digest=%s size=%llu time=%.3fs from=%s source=%llu "
            "supernode=%llu peers=%llu upstream=%s", j->rt.repo ? j->rt.repo : "-", j->rt.digest,
            (unsigned long long)size, secs, is_cached ? "cache" : "fetch",
            (unsigned long long)src, (unsigned long long)sn, (unsigned long long)peers,
            j->rt.upstream);
    release_client(j);
    evhttp_send_reply_end(j->req);
    j->req = NULL;
    job_free(j);
}

/* Queues file segments of what the store released, up to OUT_HIGH bytes in the connection. */
static void blob_pump(struct job *j)
{
    if (!j->is_started || !j->req)
        return;
    int64_t size = dfd_blob_reader_size(j->blob);
    while (out_queued(j) < OUT_HIGH) {
        int fd;
        uint64_t len;
        dfd_blob_reader_avail(j->blob, j->blob_pos, &fd, &len);
        if (len == 0)
            break;
        len = DF_MIN(len, (uint64_t)OUT_HIGH);
        struct evbuffer_file_segment *seg =
            evbuffer_file_segment_new(fd, (ev_off_t)j->blob_pos, (ev_off_t)len, 0);
        if (!seg) {
            job_abort(j);
            return;
        }
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_file_segment(b, seg, 0, (ev_off_t)len);
        evbuffer_file_segment_free(seg); /* the buffer keeps its own reference */
        j->blob_pos += len;
        send_chunk(j, b);
        evbuffer_free(b);
    }
    if (dfd_blob_reader_is_complete(j->blob) && (int64_t)j->blob_pos == size)
        blob_finish(j);
}

static void on_blob(struct dfd_blob_reader *r, enum dfd_blob_event ev, int err, long status,
                    void *arg)
{
    struct job *j = arg;
    (void)r;
    if (ev == DFD_BLOB_EV_FAIL) {
        if (err == DF_EDIGEST)
            j->p->m.blobs_digest_mismatch++;
        else
            j->p->m.blobs_failed++;
        if (j->is_started) {
            DF_LOGW("blob", "%s for %s: client connection aborted after %llu bytes",
                    err == DF_EDIGEST ? "digest mismatch" : "fetch failed", j->rt.digest,
                    (unsigned long long)j->blob_pos);
            job_abort(j);
        } else if (status == 401 || status == 403 || status == 404) {
            deny(j, (int)status, NULL);
        } else if (err == -EACCES) {
            j->p->m.target_denied++;
            job_reply_error(j, 403, "DENIED", "the upstream address is not allowed (a "
                            "loopback, link-local or unspecified address that no rule names)");
        } else if (err == DF_EDIGEST) {
            job_reply_error(j, 502, "DIGEST_INVALID",
                            "the bytes served for this blob do not match its digest");
        } else {
            job_reply_error(j, 502, "UNAVAILABLE", "blob fetch from the upstream failed");
        }
        return;
    }
    if (ev == DFD_BLOB_EV_READY && !j->is_started) {
        struct evkeyvalq *oh = evhttp_request_get_output_headers(j->req);
        char len[32];
        snprintf(len, sizeof(len), "%lld", (long long)dfd_blob_reader_size(r));
        evhttp_add_header(oh, "Content-Length", len);
        evhttp_add_header(oh, "Content-Type", "application/octet-stream");
        evhttp_add_header(oh, "Docker-Content-Digest", j->rt.digest);
        evhttp_add_header(oh, "Docker-Distribution-Api-Version", "registry/2.0");
        evhttp_add_header(oh, "Accept-Ranges", "bytes");
        evhttp_send_reply_start(j->req, 200, NULL);
        j->is_started = 1;
        count_status(j->p, 200);
    }
    blob_pump(j);
}

/* Whole-blob GETs go through the store; Range requests (and a store that cannot open a
 * reader) are passed through to the upstream, streamed and verified as before. */
static void start_blob_body(struct job *j)
{
    struct evkeyvalq *ih = evhttp_request_get_input_headers(j->req);
    if (!evhttp_find_header(ih, "Range")) {
        struct dfd_blob_fetch_opts o = {
            .digest = j->rt.digest,
            .url = j->rt.url,
            .headers = (const char *const *)j->fwd,
            .is_insecure = j->rt.is_default_upstream && j->p->cfg->is_insecure,
            .ca_file = j->rt.is_default_upstream ? j->p->cfg->ca_file : NULL,
            .upstream = j->rt.upstream,
            .repo = j->rt.repo,
            .policy = job_policy(j),
        };
        int err = 0;
        j->blob = dfd_blob_open(j->p->blobs, &o, on_blob, j, &err);
        if (j->blob)
            return;
        if (err == -EXDEV) /* its bytes came from another registry: only this one's will do */
            DF_LOGI("blob", "%s is stored from another registry than %s: fetching it from %s "
                    "(verified, not stored)", j->rt.digest, j->rt.upstream, j->rt.upstream);
        else
            DF_LOGW("blob", "store unavailable for %s (%s): passing through", j->rt.digest,
                    df_strerror(err));
    }
    start_upstream(j);
}

static void on_auth(int status, const char *www, void *arg)
{
    struct job *j = arg;
    j->auth = NULL;
    if (!dfd_auth_allowed(status)) {
        deny(j, status, www);
        return;
    }
    start_blob_body(j);
}

static void start_blob(struct job *j)
{
    int status = 0;
    const char *www = NULL;
    char *head_url = df_xasprintf("%s/v2/%s/blobs/%s", j->rt.upstream, j->rt.repo, j->rt.digest);
    int rc = dfd_auth_check(j->p->auth, head_url, j->authz, j->rt.upstream, j->rt.repo,
                            j->rt.digest, job_policy(j), on_auth, j, &j->auth, &status, &www);
    free(head_url);
    if (rc < 0) {
        job_reply_error(j, 502, "UNAVAILABLE", "cannot start the authorization check");
    } else if (rc == 1) {
        if (dfd_auth_allowed(status))
            start_blob_body(j);
        else
            deny(j, status, www);
    }
}

static const struct df_netpolicy *job_policy(const struct job *j)
{
    /* a special address that got this far is one a rule names (dfd_rules) */
    if (j->rt.trust == DFD_TRUST_EXACT || dfd_rules_host_kind(j->rt.host) == DFD_HOST_SPECIAL)
        return NULL;
    return j->p->policy;
}

/* ---- where the request goes: names allowed by a pattern must not resolve to special
 *      addresses (dfd_rules.h) ---------------------------------------------------------------- */

/* Outgoing request of a routed job (the target is allowed). */
static void dispatch(struct job *j)
{
    if (is_blob_route(j))
        start_blob(j);
    else
        start_upstream(j);
}

struct addr_check {
    struct job *j;                           /* NULL once cancelled */
    struct evdns_getaddrinfo_request *rq;
    int is_starting;                         /* inside evdns_getaddrinfo (answer may come now) */
    int is_done, result;                     /* answered while starting: result to apply */
};

/* 0 = every address is fine, 1 = a special address, -1 = no address. */
static int check_addrs(const struct evutil_addrinfo *ai)
{
    if (!ai)
        return -1;
    for (; ai; ai = ai->ai_next)
        if (dfd_rules_addr_is_special(ai->ai_addr))
            return 1;
    return 0;
}

static void addr_checked(struct job *j, int result)
{
    if (result == 0) {
        dispatch(j);
        return;
    }
    char msg[200];
    if (result > 0) {
        j->p->m.target_denied++;
        DF_LOGW("proxy", "%s %s refused: %s resolves to a loopback, link-local or unspecified "
                "address", j->method, j->rt.url, j->rt.host);
        snprintf(msg, sizeof(msg), "%.80s resolves to a loopback, link-local or unspecified "
                 "address that no rule names (registry_allow)", j->rt.host);
        job_reply_error(j, 403, "DENIED", msg);
        return;
    }
    snprintf(msg, sizeof(msg), "cannot resolve %.80s", j->rt.host);
    j->p->m.upstream_errors++;
    job_reply_error(j, 502, "UNAVAILABLE", msg);
}

static void on_addrs(int err, struct evutil_addrinfo *ai, void *arg)
{
    struct addr_check *c = arg;
    int result = err ? -1 : check_addrs(ai);
    if (ai)
        evutil_freeaddrinfo(ai);
    if (!c->j) { /* cancelled */
        if (!c->is_starting)
            free(c);
        return;
    }
    if (c->is_starting) { /* answered inside evdns_getaddrinfo: applied by addr_check_start */
        c->is_done = 1;
        c->result = result;
        return;
    }
    struct job *j = c->j;
    j->addr = NULL;
    free(c);
    addr_checked(j, result);
}

static void addr_check_start(struct job *j)
{
    struct dfd_proxy *p = j->p;
    if (!p->dns) {
        addr_checked(j, -1);
        return;
    }
    struct addr_check *c = df_xcalloc(1, sizeof(*c));
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->j = j;
    c->is_starting = 1;
    j->addr = c;
    struct evdns_getaddrinfo_request *rq =
        evdns_getaddrinfo(p->dns, j->rt.host, NULL, &hints, on_addrs, c);
    c->is_starting = 0;
    if (c->is_done) {
        int result = c->result;
        j->addr = NULL;
        free(c);
        addr_checked(j, result);
        return;
    }
    c->rq = rq;
}

static void addr_check_cancel(struct job *j)
{
    struct addr_check *c = j->addr;
    if (!c)
        return;
    j->addr = NULL;
    c->j = NULL;
    evdns_getaddrinfo_cancel(c->rq); /* runs on_addrs (EVUTIL_EAI_CANCEL), which frees c */
}

/* ---- request entry ------------------------------------------------------------------------ */

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

static void build_forward_headers(struct job *j)
{
    struct evkeyvalq *ih = evhttp_request_get_input_headers(j->req);
    const char *conn = evhttp_find_header(ih, "Connection");
    j->fwd = df_xcalloc(MAX_FWD_HEADERS + 1, sizeof(char *));
    struct evkeyval *h;
    TAILQ_FOREACH(h, ih, next) {
        if (in_list(h->key, drop_headers, DF_ARRAY_LEN(drop_headers)) ||
            in_connection_hdr(conn, h->key))
            continue;
        if (is_blob_route(j) && !strcasecmp(h->key, "Accept-Encoding"))
            continue; /* the digest covers the raw bytes */
        if (strpbrk(h->key, "\r\n:") || strpbrk(h->value, "\r\n"))
            continue;
        if (!strcasecmp(h->key, "Authorization") && !j->authz)
            j->authz = df_xstrdup(h->value);
        if (j->nfwd >= MAX_FWD_HEADERS)
            break;
        /* curl: "Key:" would delete the header, "Key;" sends it empty */
        j->fwd[j->nfwd++] = *h->value ? df_xasprintf("%s: %s", h->key, h->value)
                                      : df_xasprintf("%s;", h->key);
    }
}

static void serve_local(struct job *j)
{
    if (!strcmp(j->rt.url, "/metrics")) {
        char *text = dfd_metrics_render(&j->p->m, dfd_auth_get_stats(j->p->auth),
                                        dfd_tunnels_stats(j->p->tunnels),
                                        dfd_blobs_stats(j->p->blobs));
        job_reply(j, 200, "text/plain; version=0.0.4", text, strlen(text));
        free(text);
        return;
    }
    char v[128];
    int n = snprintf(v, sizeof(v), "{\"version\":\"%s\",\"impl\":\"damselfly\"}\n", DF_VERSION);
    job_reply(j, 200, "application/json", v, (size_t)n);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct dfd_proxy *p = arg;
    struct job *j = df_xcalloc(1, sizeof(*j));
    j->p = p;
    j->req = req;
    j->evcon = evhttp_request_get_connection(req);
    j->t0_ms = df_now_ms();
    j->method = df_xstrdup(method_name(evhttp_request_get_command(req)));
    j->is_head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
    j->next = p->jobs;
    if (p->jobs)
        p->jobs->prev = j;
    p->jobs = j;
    p->m.active++;
    evhttp_connection_set_closecb(j->evcon, on_client_close, j);

    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    struct dfd_rules_in in = {
        .method = j->method,
        .target = evhttp_request_get_uri(req),
        .registry_hdr = evhttp_find_header(ih, "X-Dragonfly-Registry"),
    };
    dfd_rules_route(p->rules, &in, &j->rt);
    p->m.requests[j->rt.action]++;
    DF_LOGD("proxy", "%s %s → %s %s", j->method, in.target ? in.target : "",
            dfd_action_name(j->rt.action), j->rt.url ? j->rt.url : j->rt.reason);
    switch (j->rt.action) {
    case DFD_ACT_REJECT: {
        const char *code = strstr(j->rt.reason, "digest") ? "DIGEST_INVALID"
                         : strstr(j->rt.reason, "repository") ? "NAME_INVALID"
                         : j->rt.status == 405 ? "UNSUPPORTED"
                         : j->rt.status == 403 ? "DENIED" : "BAD_REQUEST";
        if (j->rt.status == 403) {
            p->m.target_denied++;
            DF_LOGW("proxy", "%s %s refused: %s", j->method, in.target, j->rt.reason);
        }
        job_reply_error(j, j->rt.status, code, j->rt.reason);
        return;
    }
    case DFD_ACT_LOCAL:
        serve_local(j);
        return;
    case DFD_ACT_CONNECT:
        /* The tunnel takes the client connection; evhttp frees the request with it. */
        release_client(j);
        dfd_tunnels_open(p->tunnels, req, j->rt.url, j->rt.is_addr_check);
        j->req = NULL;
        job_free(j);
        return;
    case DFD_ACT_BLOB:
    case DFD_ACT_PASS:
    case DFD_ACT_PROXY:
    case DFD_ACT_PROXY_P2P: /* blob URLs take the blob path; other URLs are fetched directly */
        build_forward_headers(j);
        if (j->rt.is_addr_check) {
            addr_check_start(j); /* then dispatch() */
            return;
        }
        dispatch(j);
        return;
    }
}

/* ---- server ------------------------------------------------------------------------------- */

struct dfd_proxy *dfd_proxy_new(struct event_base *base, const struct dfd_config *cfg,
                                char err[DF_ERR_LEN])
{
    struct dfd_proxy *p = df_xcalloc(1, sizeof(*p));
    p->base = base;
    p->cfg = cfg;
    p->rules = dfd_rules_new(cfg, err);
    if (!p->rules)
        goto fail;
    /* loopback, and IPv4-compatible / NAT64 forms of 0/8, 127/8 and 169.254/16 (the policy
     * itself always denies 0/8, ::, 169.254/16 and fe80::/10; IPv4-mapped counts as IPv4) */
    p->policy = df_netpolicy_new();
    if (df_netpolicy_add(p->policy, 0,
                         "127.0.0.0/8, ::/104, ::7f00:0/104, ::a9fe:0/112, 64:ff9b::/104, "
                         "64:ff9b::7f00:0/104, 64:ff9b::a9fe:0/112", err) < 0)
        goto fail;
    df_netpolicy_add_own_port(p->policy, cfg->port);
    p->client = df_http_client_new(base);
    if (!p->client) {
        snprintf(err, DF_ERR_LEN, "cannot create the HTTP client");
        goto fail;
    }
    p->auth = dfd_auth_new(p->client, cfg->auth_ttl_ms, cfg->registry, cfg->is_insecure,
                           cfg->ca_file);
    /* Non-blocking resolver for CONNECT targets (resolv.conf + /etc/hosts). */
    p->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    p->blobs = dfd_blobs_new(base, p->client, cfg->localrepo, err);
    if (!p->blobs)
        goto fail;
    dfd_blobs_set_gc(p->blobs, cfg->gc_interval_ms, cfg->gc_expire_ms);
    if (cfg->node && *cfg->node && !cfg->is_mirror_direct) {
        p->swarm = dfd_swarm_new(base, p->client, cfg, err);
        if (!p->swarm)
            goto fail;
        dfd_blobs_set_swarm(p->blobs, p->swarm);
    }
    p->tunnels = dfd_tunnels_new(base, p->dns, DF_MAX(cfg->idle_timeout_ms, 60000));
    p->http = evhttp_new(base);
    if (!p->http) {
        snprintf(err, DF_ERR_LEN, "cannot create the HTTP server");
        goto fail;
    }
    evhttp_set_max_headers_size(p->http, MAX_REQ_HEADERS_BYTES);
    evhttp_set_max_body_size(p->http, MAX_REQ_BODY);
    struct timeval tv = {.tv_sec = cfg->idle_timeout_ms / 1000,
                         .tv_usec = (cfg->idle_timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(p->http, &tv);
    evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_CONNECT);
    evhttp_set_default_content_type(p->http, NULL);
    evhttp_set_gencb(p->http, on_request, p);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(p->http, cfg->bind_addr,
                                                                    cfg->port);
    if (!bs) {
        snprintf(err, DF_ERR_LEN, "cannot listen on %s:%u: %s", cfg->bind_addr, cfg->port,
                 strerror(errno));
        goto fail;
    }
    p->guard = df_listen_guard_new(base, p->http, bs, "proxy", MAX_REQ_HEADERS_BYTES, on_request, p);
    p->port = cfg->port;
    return p;
fail:
    dfd_proxy_free(p);
    return NULL;
}

void dfd_proxy_free(struct dfd_proxy *p)
{
    if (!p)
        return;
    /* Jobs first (they cancel their curl transfers and auth checks), then the server, which
     * closes the client connections of the requests they answered or abandoned. */
    while (p->jobs) {
        struct job *j = p->jobs;
        if (j->req && !j->is_client_gone) {
            release_client(j);
            j->req = NULL; /* freed with its connection by evhttp_free */
        }
        job_free(j);
    }
    dfd_tunnels_free(p->tunnels);
    dfd_blobs_free(p->blobs);
    dfd_swarm_free(p->swarm);
    df_listen_guard_free(p->guard);
    if (p->http)
        evhttp_free(p->http);
    if (p->dns)
        evdns_base_free(p->dns, 0);
    dfd_auth_free(p->auth);
    df_http_client_free(p->client);
    dfd_rules_free(p->rules);
    df_netpolicy_free(p->policy);
    free(p);
}

uint16_t dfd_proxy_port(const struct dfd_proxy *p) { return p->port; }
