/* SPDX-License-Identifier: Apache-2.0 */
/* Blind CONNECT relay: takes the client socket from evhttp, connects to the target with a
 * bufferevent (evdns when given), answers 200/502 itself and relays bytes both ways with
 * high-water back-pressure and an idle timeout measured over both directions. */
#include "dfd_tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#include "df_log.h"
#include "df_util.h"
#include "dfd_rules.h"

struct tunnel {
    struct dfd_tunnels *t;
    struct bufferevent *cli;       /* client side (socket taken from evhttp) */
    struct bufferevent *up;        /* target side */
    char *target;
    struct evbuffer *early;        /* client bytes sent before the target was connected */
    struct evutil_addrinfo *addrs; /* resolved target addresses */
    struct evutil_addrinfo *next_addr; /* the next one to try */
    struct evdns_getaddrinfo_request *dns_rq; /* pending resolution */
    int is_addr_check;
    int is_connected;
    int is_closing;                /* flushing the last bytes to one side, then free */
    int64_t last_ms;               /* last byte relayed in either direction */
    struct tunnel *prev, *next;
};

struct dfd_tunnels {
    struct event_base *base;
    struct evdns_base *dns;
    int64_t idle_ms;
    struct tunnel *all;
    struct dfd_tunnel_stats stats;
};

static void tunnel_free(struct tunnel *tn)
{
    struct dfd_tunnels *t = tn->t;
    if (tn->prev)
        tn->prev->next = tn->next;
    else
        t->all = tn->next;
    if (tn->next)
        tn->next->prev = tn->prev;
    t->stats.active--;
    if (tn->dns_rq) {
        struct evdns_getaddrinfo_request *rq = tn->dns_rq;
        tn->dns_rq = NULL;
        evdns_getaddrinfo_cancel(rq); /* on_resolved sees EVUTIL_EAI_CANCEL and leaves tn */
    }
    if (tn->cli)
        bufferevent_free(tn->cli);
    if (tn->up)
        bufferevent_free(tn->up);
    if (tn->early)
        evbuffer_free(tn->early);
    if (tn->addrs)
        evutil_freeaddrinfo(tn->addrs);
    free(tn->target);
    free(tn);
}

struct dfd_tunnels *dfd_tunnels_new(struct event_base *base, struct evdns_base *dns,
                                    int64_t idle_ms)
{
    struct dfd_tunnels *t = df_xcalloc(1, sizeof(*t));
    t->base = base;
    t->dns = dns;
    t->idle_ms = idle_ms > 0 ? idle_ms : 30000;
    return t;
}

void dfd_tunnels_free(struct dfd_tunnels *t)
{
    if (!t)
        return;
    while (t->all)
        tunnel_free(t->all);
    free(t);
}

const struct dfd_tunnel_stats *dfd_tunnels_stats(const struct dfd_tunnels *t) { return &t->stats; }

static struct bufferevent *peer_of(struct tunnel *tn, struct bufferevent *bev)
{
    return bev == tn->cli ? tn->up : tn->cli;
}

/* Once `bev` has written everything queued, the tunnel is freed. */
static void on_flushed(struct bufferevent *bev, void *arg)
{
    (void)bev;
    tunnel_free(arg);
}

static void close_after_flush(struct tunnel *tn, struct bufferevent *keep)
{
    tn->is_closing = 1;
    if (!tn->is_connected && keep == tn->up) {
        tunnel_free(tn); /* client gone while still connecting: nothing to deliver */
        return;
    }
    struct bufferevent *other = peer_of(tn, keep);
    if (other)
        bufferevent_disable(other, EV_READ | EV_WRITE);
    if (!keep || evbuffer_get_length(bufferevent_get_output(keep)) == 0) {
        tunnel_free(tn);
        return;
    }
    bufferevent_disable(keep, EV_READ);
    bufferevent_setwatermark(keep, EV_WRITE, 0, 0);
    bufferevent_setcb(keep, NULL, on_flushed, NULL, tn);
    bufferevent_enable(keep, EV_WRITE);
}

static void on_relay_read(struct bufferevent *bev, void *arg)
{
    struct tunnel *tn = arg;
    struct bufferevent *other = peer_of(tn, bev);
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (bev == tn->cli)
        tn->t->stats.bytes_up += n;
    else
        tn->t->stats.bytes_down += n;
    tn->last_ms = df_now_ms();
    evbuffer_add_buffer(bufferevent_get_output(other), in);
    if (evbuffer_get_length(bufferevent_get_output(other)) >= DFD_TUNNEL_HIGH)
        bufferevent_disable(bev, EV_READ); /* resumed by on_relay_drained of `other` */
}

/* `bev`'s output fell below the low-water mark: read from its peer again. */
static void on_relay_drained(struct bufferevent *bev, void *arg)
{
    struct tunnel *tn = arg;
    if (!tn->is_closing)
        bufferevent_enable(peer_of(tn, bev), EV_READ);
}

static void on_relay_event(struct bufferevent *bev, short what, void *arg)
{
    struct tunnel *tn = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        if (df_now_ms() - tn->last_ms < tn->t->idle_ms) {
            bufferevent_enable(bev, EV_READ); /* the other direction is busy: keep going */
            return;
        }
        DF_LOGD("tunnel", "%s idle for %lld ms: closed", tn->target, (long long)tn->t->idle_ms);
        tunnel_free(tn);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        /* One side is gone: deliver what is queued for the other, then close both. */
        close_after_flush(tn, peer_of(tn, bev));
    }
}

static void start_relay(struct tunnel *tn)
{
    struct timeval tv = {.tv_sec = tn->t->idle_ms / 1000, .tv_usec = (tn->t->idle_ms % 1000) * 1000};
    struct bufferevent *sides[2] = {tn->cli, tn->up};
    tn->last_ms = df_now_ms();
    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(sides[i], on_relay_read, on_relay_drained, on_relay_event, tn);
        bufferevent_setwatermark(sides[i], EV_WRITE, DFD_TUNNEL_HIGH / 2, 0);
        bufferevent_set_timeouts(sides[i], &tv, NULL);
        bufferevent_enable(sides[i], EV_READ | EV_WRITE);
    }
}

/* Answers the client with a final error (502, or 403 with a reason) and closes the tunnel. */
static void tunnel_refuse(struct tunnel *tn, int status, const char *why)
{
    if (tn->up) {
        bufferevent_free(tn->up);
        tn->up = NULL;
    }
    if (status == 403) {
        char body[256];
        int n = snprintf(body, sizeof(body),
                         "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"%s\"}]}\n", why);
        n = DF_MIN(n, (int)sizeof(body) - 1);
        evbuffer_add_printf(bufferevent_get_output(tn->cli),
                            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                            "Content-Length: %d\r\nConnection: close\r\n\r\n%.*s", n, n, body);
    } else {
        static const char bad[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
        bufferevent_write(tn->cli, bad, sizeof(bad) - 1);
    }
    close_after_flush(tn, tn->cli);
}

static void connect_next(struct tunnel *tn);

static void on_up_event(struct bufferevent *bev, short what, void *arg)
{
    struct tunnel *tn = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        tn->is_connected = 1;
        tn->t->stats.opened++;
        static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
        bufferevent_write(tn->cli, ok, sizeof(ok) - 1);
        evbuffer_add_buffer(bufferevent_get_output(tn->up), tn->early);
        start_relay(tn);
        return;
    }
    DF_LOGD("tunnel", "CONNECT %s: an address failed: %s", tn->target,
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    bufferevent_free(tn->up);
    tn->up = NULL;
    connect_next(tn); /* the next address, or 502 */
}

/* Connects to the next resolved address (each was checked in on_resolved). */
static void connect_next(struct tunnel *tn)
{
    while (tn->next_addr) {
        struct evutil_addrinfo *ai = tn->next_addr;
        tn->next_addr = ai->ai_next;
        tn->up = bufferevent_socket_new(tn->t->base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(tn->up, NULL, NULL, on_up_event, tn);
        if (bufferevent_socket_connect(tn->up, ai->ai_addr, (int)ai->ai_addrlen) == 0)
            return; /* on_up_event tells */
        bufferevent_free(tn->up);
        tn->up = NULL;
    }
    tn->t->stats.failed++;
    DF_LOGW("tunnel", "CONNECT %s failed: %s", tn->target,
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    tunnel_refuse(tn, 502, NULL);
}

static void on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
    struct tunnel *tn = arg;
    if (err == EVUTIL_EAI_CANCEL) { /* tunnel_free is cancelling: tn is going */
        if (ai)
            evutil_freeaddrinfo(ai);
        return;
    }
    tn->dns_rq = NULL;
    tn->addrs = ai;
    tn->next_addr = ai;
    if (err || !ai) {
        tn->t->stats.failed++;
        DF_LOGW("tunnel", "CONNECT %s failed: %s", tn->target, evutil_gai_strerror(err));
        tunnel_refuse(tn, 502, NULL);
        return;
    }
    for (; tn->is_addr_check && ai; ai = ai->ai_next) {
        if (!dfd_rules_addr_is_special(ai->ai_addr))
            continue;
        char a[64] = "";
        const void *in = ai->ai_family == AF_INET
                             ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                             : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        evutil_inet_ntop(ai->ai_family, in, a, sizeof(a));
        tn->t->stats.denied++;
        DF_LOGW("tunnel", "CONNECT %s refused: it resolves to %s (loopback, link-local or "
                "unspecified) and no rule names it", tn->target, a);
        tunnel_refuse(tn, 403, "the target resolves to a loopback, link-local or unspecified "
                               "address that no rule names (registry_allow)");
        return;
    }
    connect_next(tn);
}

static void free_evcon_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evhttp_connection_free(arg);
}

void dfd_tunnels_open(struct dfd_tunnels *t, struct evhttp_request *req, const char *target,
                      int is_addr_check)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *hb = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bufferevent_getfd(hb);
    struct tunnel *tn = df_xcalloc(1, sizeof(*tn));
    tn->t = t;
    tn->target = df_xstrdup(target);
    tn->is_addr_check = is_addr_check;
    tn->early = evbuffer_new();
    tn->next = t->all;
    if (t->all)
        t->all->prev = tn;
    t->all = tn;
    t->stats.active++;

    /* Take the socket away from evhttp. evhttp's connection object shuts down (SHUT_WR) and
     * closes its fd number when freed, and libevent 2.1 has no API to detach it. So the
     * connection moves to a new fd number (dup), and the old number is atomically re-pointed
     * (dup2) at a fresh unconnected socket: evhttp's shutdown/close then hit that placeholder.
     * The connection object (with the request) is freed on the next loop turn, outside
     * evhttp's own call stack. */
    evutil_socket_t cfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    int ph = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cfd < 0 || ph < 0 || dup2(ph, fd) < 0) {
        DF_LOGE("tunnel", "cannot take over the CONNECT socket: %s", strerror(errno));
        if (cfd >= 0)
            close(cfd);
        cfd = -1;
    }
    if (ph >= 0)
        close(ph);
    tn->cli = bufferevent_socket_new(t->base, cfd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_disable(hb, EV_READ | EV_WRITE);
    /* bytes the client sent after the CONNECT header (e.g. an eager TLS ClientHello) */
    evbuffer_add_buffer(tn->early, bufferevent_get_input(hb));
    struct timeval now = {0, 0};
    event_base_once(t->base, -1, EV_TIMEOUT, free_evcon_cb, evcon, &now);
    if (cfd < 0) {
        tunnel_free(tn);
        return;
    }

    char host[256], port[8];
    const char *colon = strrchr(target, ':');
    size_t hlen = (size_t)(colon - target);
    const char *h = target;
    if (hlen >= 2 && target[0] == '[' && target[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    bufferevent_setcb(tn->cli, NULL, NULL, on_relay_event, tn);
    if (hlen == 0 || hlen >= sizeof(host) || strlen(colon + 1) >= sizeof(port)) {
        on_resolved(EVUTIL_EAI_NONAME, NULL, tn);
        return;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, sizeof(port), "%s", colon + 1);
    /* Resolve first, then check and connect to exactly those addresses (never a second
     * resolution between the check and the connect). */
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP};
    if (!t->dns) {
        struct evutil_addrinfo *ai = NULL;
        int err = evutil_getaddrinfo(host, port, &hints, &ai);
        on_resolved(err, ai, tn);
        return;
    }
    /* The answer may come inside the call (numeric host, hosts file): on_resolved then ran
     * already and tn may be gone, so nothing of tn is touched after it unless still pending. */
    struct evdns_getaddrinfo_request *rq =
        evdns_getaddrinfo(t->dns, host, port, &hints, on_resolved, tn);
    if (rq)
        tn->dns_rq = rq;
}
