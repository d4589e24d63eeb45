/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl multi interface driven by libevent (the socket/timer callback pattern). One client per
 * event_base. Starting and cancelling requests from inside curl callbacks is deferred until curl
 * has returned, because libcurl forbids add/remove_handle from within its own callbacks. */
#include "df_http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "df_err.h"
#include "df_log.h"
#include "df_netpolicy.h"
#include "df_util.h"

#define HDR_CAP (64 * 1024)       /* cap on response header bytes we keep */
#define DEFAULT_MAX_BODY (1 << 20)

struct df_http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int depth;                     /* > 0 while inside a curl call (callbacks may run) */
    int active;                    /* requests started and not yet done/cancelled */
    struct df_http_req *pending;   /* started from inside a curl call, not yet added */
    struct df_http_req *doomed;    /* cancelled from inside a curl call, not yet removed */
    struct df_http_req *all;       /* every live request (for df_http_client_free) */
};

struct sock_ctx {
    struct event *ev;
    struct df_http_client *c;
};

struct df_http_req {
    struct df_http_client *c;
    CURL *easy;
    struct curl_slist *hdrs;
    char *post_body;
    df_http_headers_cb on_headers;
    df_http_data_cb on_data;
    df_http_done_cb on_done;
    void *arg;
    long status;
    int err;                       /* error returned by a callback of ours, or 0 */
    int is_headers_called;
    int is_cancelled;
    int is_added;                  /* handle is in the multi */
    char *rhdr;                    /* "name\0value\0" pairs of the final response */
    size_t rhdr_len, rhdr_cap;
    char *body;                    /* collected body when on_data == NULL */
    size_t body_len, body_cap, max_body;
    uint64_t bytes;
    int64_t content_length;
    char errbuf[CURL_ERROR_SIZE];
    int result;                    /* CURLcode of the finished transfer */
    const struct df_netpolicy *policy; /* borrowed; NULL = no check */
    char deny_msg[DF_NETPOLICY_WHY_LEN]; /* first connection the policy refused, "" if none */
    struct df_http_req *next;      /* pending/doomed list link */
    struct df_http_req *all_prev, *all_next;
};

static void check_done(struct df_http_client *c);
static void flush_deferred(struct df_http_client *c);

static void req_free(struct df_http_req *r)
{
    if (!r)
        return;
    if (r->all_prev)
        r->all_prev->all_next = r->all_next;
    else if (r->c && r->c->all == r)
        r->c->all = r->all_next;
    if (r->all_next)
        r->all_next->all_prev = r->all_prev;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->post_body);
    free(r->rhdr);
    free(r->body);
    free(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct df_http_client *c = arg;
    int running;
    c->depth++;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->depth--;
    check_done(c);
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct df_http_client *c = arg;
    int flags = 0, running;
    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    c->depth++;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->depth--;
    check_done(c);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct df_http_client *c = userp;
    struct sock_ctx *sc = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            event_free(sc->ev);
            free(sc);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST;
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (!sc) {
        sc = df_xcalloc(1, sizeof(*sc));
        sc->c = c;
        curl_multi_assign(c->multi, s, sc);
    } else {
        event_free(sc->ev);
    }
    sc->ev = event_new(c->base, s, kind, on_sock, c);
    event_add(sc->ev, NULL);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct df_http_client *c = userp;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    return 0;
}

struct df_http_client *df_http_client_new(struct event_base *base)
{
    static int is_global_init;
    if (!is_global_init) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        is_global_init = 1;
    }
    struct df_http_client *c = df_xcalloc(1, sizeof(*c));
    c->base = base;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return NULL;
    }
    c->timer = evtimer_new(base, on_timer, c);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* Many pieces from one supernode/peer: reuse a few connections per host. */
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 64L);
    return c;
}

void df_http_client_free(struct df_http_client *c)
{
    if (!c)
        return;
    /* Requests still alive: detach from the multi and free them without callbacks. */
    c->pending = NULL;
    c->doomed = NULL;
    while (c->all) {
        struct df_http_req *r = c->all;
        if (r->is_added)
            curl_multi_remove_handle(c->multi, r->easy);
        req_free(r); /* unlinks itself from c->all */
    }
    curl_multi_cleanup(c->multi);
    event_free(c->timer);
    free(c);
}

/* Keeps the headers of the *final* response: a new status line (redirect, 100 Continue)
 * discards what came before. */
static size_t header_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    struct df_http_req *r = userp;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        r->rhdr_len = 0;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1;
    const char *end = buf + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    size_t need = nlen + vlen + 2;
    if (r->rhdr_len + need > HDR_CAP)
        return n; /* drop excess headers silently; the cap protects our memory */
    if (r->rhdr_len + need > r->rhdr_cap) {
        r->rhdr_cap = DF_MAX(r->rhdr_cap * 2, r->rhdr_len + need + 256);
        r->rhdr = df_xrealloc(r->rhdr, r->rhdr_cap);
    }
    memcpy(r->rhdr + r->rhdr_len, buf, nlen);
    r->rhdr[r->rhdr_len + nlen] = '\0';
    memcpy(r->rhdr + r->rhdr_len + nlen + 1, v, vlen);
    r->rhdr[r->rhdr_len + nlen + 1 + vlen] = '\0';
    r->rhdr_len += need;
    return n;
}

static int call_headers(struct df_http_req *r)
{
    if (r->is_headers_called)
        return 0;
    r->is_headers_called = 1;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_off_t cl = -1;
    if (curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK)
        cl = -1;
    r->content_length = cl;
    if (r->on_headers && !r->is_cancelled) {
        int rc = r->on_headers(r, r->status, r->arg);
        if (rc < 0) {
            r->err = rc;
            return rc;
        }
    }
    return 0;
}

static size_t write_cb(char *buf, size_t size, size_t nitems, void *userp)
{
    struct df_http_req *r = userp;
    size_t n = size * nitems;
    if (r->is_cancelled)
        return 0;
    if (call_headers(r) < 0)
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    if (r->on_data) {
        int rc = r->on_data(r, buf, n, r->arg);
        if (rc == DF_AGAIN)
            return CURL_WRITEFUNC_PAUSE;
        if (rc < 0) {
            r->err = rc;
            return 0;
        }
    } else {
        if (r->body_len + n > r->max_body) {
            r->err = DF_ETOOBIG;
            return 0;
        }
        if (r->body_len + n + 1 > r->body_cap) {
            r->body_cap = DF_MAX(r->body_cap * 2, r->body_len + n + 1);
            r->body_cap = DF_MIN(r->body_cap, r->max_body + 1);
            r->body = df_xrealloc(r->body, r->body_cap);
        }
        memcpy(r->body + r->body_len, buf, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
    }
    r->bytes += n;
    return n;
}

static int map_curl_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_OK: return 0;
    case CURLE_OPERATION_TIMEDOUT: return DF_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return -EINVAL;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: return -ECONNRESET;
    default: return DF_EPROTO;
    }
}

/* The host of the URL being fetched right now (after a redirect: the new URL) into out. */
static void current_host(struct df_http_req *r, char *out, size_t outsz)
{
    char *url = NULL, *host = NULL;
    out[0] = '\0';
    if (curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || !url)
        return;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host)
        snprintf(out, outsz, "%s", host);
    curl_free(host);
    curl_url_cleanup(u);
}

/* Every connection curl opens for a request with a policy comes through here, with the
 * resolved address: the first hop, each redirect, each address tried. Refusing returns
 * CURL_SOCKET_BAD (curl then tries the next address or fails with CURLE_COULDNT_CONNECT); no
 * packet is sent. */
static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct df_http_req *r = clientp;
    (void)purpose;
    char host[256], why[DF_NETPOLICY_WHY_LEN];
    current_host(r, host, sizeof(host));
    if (df_netpolicy_check(r->policy, host, &a->addr, a->addrlen, why, sizeof(why)) < 0) {
        if (!r->deny_msg[0])
            snprintf(r->deny_msg, sizeof(r->deny_msg), "%s", why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void check_done(struct df_http_client *c)
{
    CURLMsg *msg;
    int left;
    flush_deferred(c);
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode cc = msg->data.result;
        struct df_http_req *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(c->multi, easy);
        r->is_added = 0;
        if (r->is_cancelled) {
            /* cancelled while curl was running; it sits in the doomed list and is freed there */
            continue;
        }
        c->active--;
        r->result = (int)cc;
        int err = r->err;
        if (!err && cc == CURLE_OK && call_headers(r) < 0)
            err = r->err;
        if (!err)
            err = map_curl_error(cc);
        if (cc == CURLE_COULDNT_CONNECT && r->deny_msg[0]) {
            /* every address was refused by the policy: say why, not "could not connect" */
            err = -EACCES;
            snprintf(r->errbuf, sizeof(r->errbuf), "%s", r->deny_msg);
        }
        if (cc != CURLE_OK && !r->errbuf[0])
            snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_easy_strerror(cc));
        if (!r->is_headers_called)
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
        r->on_done(r, err, r->status, r->arg);
        req_free(r);
    }
    flush_deferred(c);
}

/* Adds requests started and removes requests cancelled while curl was on the stack. */
static void flush_deferred(struct df_http_client *c)
{
    if (c->depth > 0)
        return;
    while (c->doomed) {
        struct df_http_req *r = c->doomed;
        c->doomed = r->next;
        if (r->is_added)
            curl_multi_remove_handle(c->multi, r->easy);
        req_free(r);
    }
    while (c->pending) {
        struct df_http_req *r = c->pending;
        c->pending = r->next;
        r->next = NULL;
        curl_multi_add_handle(c->multi, r->easy);
        r->is_added = 1;
    }
}

struct df_http_req *df_http_req_start(struct df_http_client *c, const struct df_http_opts *o,
                                      df_http_headers_cb on_headers, df_http_data_cb on_data,
                                      df_http_done_cb on_done, void *arg, int *err)
{
    int rc = 0;
    struct df_http_req *r = NULL;
    if (!o || !o->url || !on_done) {
        rc = -EINVAL;
        goto out;
    }
    r = df_xcalloc(1, sizeof(*r));
    r->c = c;
    r->all_next = c->all;
    if (c->all)
        c->all->all_prev = r;
    c->all = r;
    r->on_headers = on_headers;
    r->on_data = on_data;
    r->on_done = on_done;
    r->arg = arg;
    r->content_length = -1;
    r->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    r->easy = curl_easy_init();
    if (!r->easy) {
        rc = -ENOMEM;
        goto out;
    }
    CURL *e = r->easy;
    if (curl_easy_setopt(e, CURLOPT_URL, o->url) != CURLE_OK) {
        rc = -EINVAL;
        goto out;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Large receive buffer: fewer callbacks per MiB on fast links. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000));
    if (o->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    if (o->low_speed_window_ms > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)DF_MAX(1, o->low_speed_window_ms / 1000));
    }
    if (o->max_recv_bps > 0)
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)o->max_recv_bps);
    if (o->is_follow_redirects) {
        /* curl >= 7.58 drops custom Authorization/Cookie headers when the host changes. */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
    }
    if (o->is_insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (o->ca_pem && o->ca_pem_len) {
        /* Replaces the bundle file; the default CApath stays (see the header). */
        struct curl_blob blob = {(void *)o->ca_pem, o->ca_pem_len, CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    } else if (o->ca_file && *o->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file); /* curl copies the string */
    }
    if (o->is_fresh_connect)
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    if (o->policy) {
        r->policy = o->policy;
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
    }
    const char *method = o->method ? o->method : "GET";
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        r->post_body = df_xmalloc(o->body_len + 1);
        if (o->body_len)
            memcpy(r->post_body, o->body, o->body_len);
        r->post_body[o->body_len] = '\0';
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->post_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        r->hdrs = curl_slist_append(r->hdrs, "Expect:");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    for (const char *const *h = o->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(r->hdrs, *h);
        if (!n) {
            rc = -ENOMEM;
            goto out;
        }
        r->hdrs = n;
    }
    if (r->hdrs)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);

    c->active++;
    if (c->depth > 0) {
        r->next = c->pending;
        c->pending = r;
    } else {
        if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
            c->active--;
            rc = -ENOMEM;
            goto out;
        }
        r->is_added = 1;
    }
out:
    if (rc < 0) {
        req_free(r);
        r = NULL;
    }
    if (err)
        *err = rc;
    return r;
}

void df_http_req_cancel(struct df_http_req *r)
{
    if (!r || r->is_cancelled)
        return;
    struct df_http_client *c = r->c;
    r->is_cancelled = 1;
    c->active--;
    /* Unlink from the pending list if it never reached curl. */
    for (struct df_http_req **pp = &c->pending; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            req_free(r);
            return;
        }
    }
    if (c->depth > 0) {
        r->next = c->doomed;
        c->doomed = r;
        return;
    }
    if (r->is_added)
        curl_multi_remove_handle(c->multi, r->easy);
    req_free(r);
}

void df_http_req_pause(struct df_http_req *r) { curl_easy_pause(r->easy, CURLPAUSE_RECV); }

void df_http_req_unpause(struct df_http_req *r)
{
    /* curl may deliver the held-back data from inside curl_easy_pause: count it as a curl call
     * so that starts/cancels made by the data callback are deferred. */
    struct df_http_client *c = r->c;
    int is_outer = c->depth == 0;
    c->depth++;
    curl_easy_pause(r->easy, CURLPAUSE_CONT);
    c->depth--;
    if (!is_outer)
        return; /* the enclosing curl call picks the transfer up again */
    flush_deferred(c);
    /* Kick the multi so a transfer that was idle while paused makes progress. */
    int running;
    c->depth++;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->depth--;
    check_done(c);
}

const char *df_http_req_header(const struct df_http_req *r, const char *name)
{
    size_t off = 0;
    while (off < r->rhdr_len) {
        const char *k = r->rhdr + off;
        const char *v = k + strlen(k) + 1;
        if (strcasecmp(k, name) == 0)
            return v;
        off = (size_t)(v + strlen(v) + 1 - r->rhdr);
    }
    return NULL;
}

const char *df_http_req_body(const struct df_http_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body ? r->body : "";
}

int64_t df_http_req_content_length(const struct df_http_req *r) { return r->content_length; }
uint64_t df_http_req_bytes(const struct df_http_req *r) { return r->bytes; }
const char *df_http_req_errtext(const struct df_http_req *r) { return r->errbuf; }
int df_http_req_is_cert_error(const struct df_http_req *r)
{
    return r->result == CURLE_PEER_FAILED_VERIFICATION || r->result == CURLE_SSL_CACERT_BADFILE;
}
int df_http_req_is_denied(const struct df_http_req *r)
{
    return r->result == CURLE_COULDNT_CONNECT && r->deny_msg[0];
}
int df_http_client_active(const struct df_http_client *c) { return c->active; }
