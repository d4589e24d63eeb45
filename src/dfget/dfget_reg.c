/* SPDX-License-Identifier: Apache-2.0 */
/* Registration with supernodes: weighted, shuffled node order, local IP discovery, and the
 * asynchronous POST /peer/registry walk over the nodes (failover). The reply is decoded by
 * dfget_msg; this module only decides which node to try next. */
#include "dfget_reg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "df_http_client.h"
#include "df_log.h"
#include "df_util.h"

#define MOD "reg"
#define REG_TIMEOUT_MS 20000
#define WAIT_AUTH_RETRIES 3

struct dfget_reg {
    struct event_base *base;
    struct df_http_client *http;
    const struct dfget_node *nodes;
    size_t nnodes;
    size_t *order;             /* expanded, shuffled indexes into nodes */
    size_t n_order;
    size_t pos;                /* next position in order to try */
    unsigned char *is_failed;  /* per node */
    size_t current;            /* node index last returned, SIZE_MAX none */
    size_t trying;             /* node index being tried */
    int wait_auth_tries;
    struct dfget_reg_req req;  /* template (borrowed strings) */
    struct df_http_req *http_req;
    struct event *timer;       /* deferred start / 609 wait */
    dfget_reg_cb cb;
    void *arg;
    int is_running;
    char last_err[DF_ERR_LEN];
};

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void dfget_reg_expand(const struct dfget_node *nodes, size_t n, uint64_t seed, size_t **order,
                      size_t *n_order)
{
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++)
        g = gcd64(nodes[i].weight ? nodes[i].weight : 1, g);
    if (g == 0)
        g = 1;
    size_t cap = 1024, cnt = 0;
    size_t *o = df_xmalloc((n ? n : 1) * sizeof(*o));
    size_t alloc = n ? n : 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t reps = (nodes[i].weight ? nodes[i].weight : 1) / g;
        for (uint64_t k = 0; k < reps && cnt < cap; k++) {
            if (cnt == alloc) {
                alloc *= 2;
                o = df_xrealloc(o, alloc * sizeof(*o));
            }
            o[cnt++] = i;
        }
    }
    if (seed) { /* Fisher-Yates with xorshift64 */
        uint64_t x = seed;
        for (size_t i = cnt; i > 1; i--) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t j = (size_t)(x % i);
            size_t t = o[i - 1];
            o[i - 1] = o[j];
            o[j] = t;
        }
    }
    *order = o;
    *n_order = cnt;
}

/* Non-blocking connect with a timeout; on success the local address of the socket. */
static int connect_local(const struct dfget_node *nd, int timeout_ms, char *ip, size_t iplen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", nd->port);
    if (getaddrinfo(nd->host, port, &hints, &res) != 0)
        return -EHOSTUNREACH;
    int rc = -EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int c = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (c < 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (poll(&pfd, 1, timeout_ms) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                c = 0;
        }
        if (c == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
                getnameinfo((struct sockaddr *)&ss, sl, ip, (socklen_t)iplen, NULL, 0,
                            NI_NUMERICHOST) == 0) {
                char *pct = strchr(ip, '%'); /* drop an IPv6 zone id */
                if (pct)
                    *pct = '\0';
                rc = 0;
            }
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

int dfget_reg_local_ip(const struct dfget_node *nodes, const size_t *order, size_t n_order,
                       int timeout_ms, char *ip, size_t iplen, size_t *node_idx)
{
    for (size_t i = 0; i < n_order; i++) {
        size_t k = order[i];
        int seen = 0; /* weights repeat nodes: probe each node once */
        for (size_t j = 0; j < i; j++)
            seen |= order[j] == k;
        if (seen)
            continue;
        if (connect_local(&nodes[k], timeout_ms, ip, iplen) == 0) {
            *node_idx = k;
            return 0;
        }
    }
    return -EHOSTUNREACH;
}

struct dfget_reg *dfget_reg_new(struct event_base *base, struct df_http_client *http,
                                const struct dfget_node *nodes, size_t nnodes, uint64_t seed,
                                const struct dfget_reg_req *req)
{
    struct dfget_reg *r = df_xcalloc(1, sizeof(*r));
    r->base = base;
    r->http = http;
    r->nodes = nodes;
    r->nnodes = nnodes;
    dfget_reg_expand(nodes, nnodes, seed, &r->order, &r->n_order);
    r->is_failed = df_xcalloc(nnodes ? nnodes : 1, 1);
    r->current = SIZE_MAX;
    r->req = *req;
    return r;
}

void dfget_reg_free(struct dfget_reg *r)
{
    if (!r)
        return;
    if (r->http_req)
        df_http_req_cancel(r->http_req);
    if (r->timer)
        event_free(r->timer);
    free(r->order);
    free(r->is_failed);
    free(r);
}

size_t dfget_reg_remaining(const struct dfget_reg *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nnodes; i++)
        n += !r->is_failed[i];
    return n;
}

const char *dfget_reg_last_error(const struct dfget_reg *r) { return r->last_err; }

void dfget_reg_mark_current_failed(struct dfget_reg *r)
{
    if (r->current != SIZE_MAX)
        r->is_failed[r->current] = 1;
}

static void try_next(struct dfget_reg *r);

static void finish(struct dfget_reg *r, int err, const struct dfget_reg_reply *reply,
                   const struct dfget_node *node)
{
    r->is_running = 0;
    dfget_reg_cb cb = r->cb;
    r->cb = NULL;
    cb(err, reply, node, r->arg);
}

static void fail_node(struct dfget_reg *r, const char *fmt_reason)
{
    char hp[300];
    const struct dfget_node *nd = &r->nodes[r->trying];
    snprintf(r->last_err, sizeof(r->last_err), "registration at %.50s failed: %.170s",
             dfget_config_hostport(nd->host, nd->port, hp, sizeof(hp)), fmt_reason);
    DF_LOGW(MOD, "%s", r->last_err);
    r->is_failed[r->trying] = 1;
    try_next(r);
}

static void on_reg_done(struct df_http_req *hreq, int err, long status, void *arg)
{
    struct dfget_reg *r = arg;
    char why[DF_ERR_LEN];
    r->http_req = NULL;
    if (err < 0) {
        const char *t = df_http_req_errtext(hreq);
        snprintf(why, sizeof(why), "%s", t && *t ? t : df_strerror(err));
        fail_node(r, why);
        return;
    }
    size_t len;
    const char *body = df_http_req_body(hreq, &len);
    struct dfget_reg_reply rep;
    char perr[DF_ERR_LEN] = "";
    int prc = dfget_msg_parse_reg(body ? body : "", body ? len : 0, &rep, perr);
    if (status != 200) {
        if (prc == 0 && rep.msg[0])
            snprintf(why, sizeof(why), "HTTP %ld: %.200s", status, rep.msg);
        else
            snprintf(why, sizeof(why), "HTTP %ld", status);
        fail_node(r, why);
        return;
    }
    if (prc < 0) {
        fail_node(r, perr);
        return;
    }
    if (rep.code == DF_CODE_SUCCESS) {
        if (strcmp(rep.cdn_source, "supernode") != 0) {
            snprintf(why, sizeof(why), "unsupported cdnSource \"%s\"", rep.cdn_source);
            fail_node(r, why);
            return;
        }
        r->current = r->trying;
        DF_LOGI(MOD, "registered: taskId=%s fileLength=%lld pieceSize=%u", rep.task_id,
                (long long)rep.file_length, rep.piece_size);
        finish(r, 0, &rep, &r->nodes[r->trying]);
        return;
    }
    if (rep.code == DF_CODE_NEED_AUTH) {
        snprintf(r->last_err, sizeof(r->last_err), "the origin requires authentication: %.200s",
                 rep.msg);
        finish(r, DFGET_REG_NEED_AUTH, NULL, NULL);
        return;
    }
    if (rep.code == DF_CODE_WAIT_AUTH && r->wait_auth_tries < WAIT_AUTH_RETRIES) {
        r->wait_auth_tries++;
        r->pos--; /* the same node again after 1 s */
        struct timeval tv = {1, 0};
        evtimer_add(r->timer, &tv);
        return;
    }
    snprintf(why, sizeof(why), "code %d%s%.200s", rep.code, rep.msg[0] ? ": " : "", rep.msg);
    fail_node(r, why);
}

static void start_request(struct dfget_reg *r, size_t node)
{
    const struct dfget_node *nd = &r->nodes[node];
    struct dfget_reg_req req = r->req;
    req.supernode_ip = nd->host;
    char *body = dfget_msg_reg_body(&req);
    char *base = dfget_msg_base_url(nd->host, nd->port);
    char *url = df_xasprintf("%s/peer/registry", base);
    const char *hdrs[] = {"Content-Type: application/json;charset=utf-8", NULL};
    struct df_http_opts o = {
        .url = url,
        .method = "POST",
        .headers = hdrs,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = REG_TIMEOUT_MS,
        .connect_timeout_ms = 2000,
        .max_body = 1 << 20,
    };
    int err = 0;
    r->trying = node;
    DF_LOGI(MOD, "registering at %s", base);
    DF_LOGD(MOD, "registration body: %s", body);
    r->http_req = df_http_req_start(r->http, &o, NULL, NULL, on_reg_done, r, &err);
    free(body);
    free(base);
    free(url);
    if (!r->http_req) {
        r->trying = node;
        fail_node(r, df_strerror(err));
    }
}

static void try_next(struct dfget_reg *r)
{
    while (r->pos < r->n_order) {
        size_t k = r->order[r->pos++];
        if (r->is_failed[k] || k == r->current)
            continue;
        r->wait_auth_tries = 0;
        start_request(r, k);
        return;
    }
    if (!r->last_err[0])
        snprintf(r->last_err, sizeof(r->last_err), "no supernode left to try");
    finish(r, -ENOENT, NULL, NULL);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dfget_reg *r = arg;
    if (r->pos < r->n_order && r->order[r->pos] == r->trying && r->wait_auth_tries > 0) {
        r->pos++;
        start_request(r, r->trying);
        return;
    }
    try_next(r);
}

int dfget_reg_start(struct dfget_reg *r, dfget_reg_cb cb, void *arg)
{
    if (r->is_running)
        return -EBUSY;
    if (!r->timer)
        r->timer = evtimer_new(r->base, on_timer, r);
    r->is_running = 1;
    r->cb = cb;
    r->arg = arg;
    /* After a migration, go on with the nodes after the current one, then wrap around to the
     * ones not failed yet (never the current one twice in a row). */
    if (r->pos >= r->n_order)
        r->pos = 0;
    struct timeval tv = {0, 0};
    evtimer_add(r->timer, &tv); /* never call back from inside start */
    return 0;
}
