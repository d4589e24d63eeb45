/* SPDX-License-Identifier: Apache-2.0 */
/* Connection guard: connection limit with eviction of unfinished requests, request-head
 * deadline, accept back-off on EMFILE & co. See df_listen.h for the rules and why the guard
 * only ever names a connection by (fd, socket inode). */
#include "df_listen.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "df_log.h"
#include "df_util.h"

#define MOD "listen"
#define SWEEP_MS 250      /* deadline granularity and dead-connection sweep */
#define MAX_GUARDS 8      /* per process (the accept error callback finds its guard here) */

enum {
    CONN_ST_PENDING,    /* accepted, socket not known yet (resolved at the end of the accept) */
    CONN_ST_READING,    /* a request is being received: the deadline runs */
    CONN_ST_DISPATCHED, /* request handed to the handler (or keep-alive idle): no deadline */
    CONN_ST_CLOSING,    /* shut down by us; evhttp frees it on EOF */
};

struct conn {
    struct df_listen_guard *g;
    struct bufferevent *bev;        /* dereferenced only while the socket is known alive */
    struct evbuffer_cb_entry *cbent;
    int fd;
    dev_t dev;
    ino_t ino;
    int state;                      /* CONN_ST_* */
    int is_reject;                  /* over the limit with nothing to evict: close at resolve */
    int64_t since_ms;               /* start of the current request */
    int64_t deadline_ms;            /* CONN_ST_READING only */
    size_t bytes;                   /* bytes of the current request received so far */
    struct conn *next_pending;
};

struct df_listen_guard {
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *lev;
    const char *name;
    size_t hdr_cap;
    void (*handler)(struct evhttp_request *, void *);
    void *arg;
    int max_conns;
    int header_ms;
    int nconns;                     /* pending + resolved records (dead ones until swept) */
    struct conn **by_fd;            /* resolved records indexed by fd */
    size_t cap;
    struct conn *pending;
    struct event *resolve_ev;
    struct event *sweep_ev;
    struct event *backoff_ev;
    int64_t last_sweep_ms;
    int is_backoff_episode;         /* an accept error was logged and no accept succeeded since */
    unsigned long backoffs;
    unsigned long evictions, rejects, timeouts;
};

static struct df_listen_limits g_limits;
static int g_servers = 1;
static struct df_listen_guard *g_guards[MAX_GUARDS];

void df_listen_set_limits(const struct df_listen_limits *lim) { g_limits = *lim; }

void df_listen_set_servers(int n_servers) { g_servers = n_servers > 0 ? n_servers : 1; }

int df_listen_default_max_conns(long nofile, int n_servers)
{
    if (n_servers < 1)
        n_servers = 1;
    if (nofile <= 0)
        nofile = 1024;
    long reserve = nofile / 4 > 64 ? nofile / 4 : 64;
    long per = (nofile - reserve) / n_servers;
    if (per < 16)
        per = 16;
    if (per > DF_LISTEN_MAX_CONNS_CAP)
        per = DF_LISTEN_MAX_CONNS_CAP;
    return (int)per;
}

long df_listen_raise_nofile(const char *tag)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        int e = errno;
        DF_LOGW(tag, "cannot read the open-file limit: %s", strerror(e));
        return -e;
    }
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            DF_LOGW(tag, "cannot raise the open-file limit from %llu to %llu: %s",
                    (unsigned long long)before, (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = before;
        }
    }
    DF_LOGI(tag, "open-file limit %llu (was %llu, hard %llu)", (unsigned long long)rl.rlim_cur,
            (unsigned long long)before, (unsigned long long)rl.rlim_max);
    return rl.rlim_cur == RLIM_INFINITY ? (long)DF_LISTEN_MAX_CONNS_CAP * 4 : (long)rl.rlim_cur;
}

/* ---- records ---------------------------------------------------------------------------- */

/* Is c's socket still the one we recorded? (An fd closed by evhttp may already name another
 * file or socket: compare the inode, never trust the number alone.) */
static int conn_alive(const struct conn *c)
{
    struct stat st;
    return fstat(c->fd, &st) == 0 && st.st_ino == c->ino && st.st_dev == c->dev;
}

static void conn_drop(struct df_listen_guard *g, struct conn *c)
{
    if (c->fd >= 0 && (size_t)c->fd < g->cap && g->by_fd[c->fd] == c)
        g->by_fd[c->fd] = NULL;
    g->nconns--;
    free(c);
}

static void conn_shutdown(struct conn *c)
{
    shutdown(c->fd, SHUT_RDWR); /* evhttp reads EOF and frees the connection */
    c->state = CONN_ST_CLOSING;
}

/* Bytes arrived on (or were drained from) a live connection's input buffer. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct conn *c = arg;
    if (info->n_added == 0)
        return;
    int64_t now = df_now_ms();
    if (c->state == CONN_ST_DISPATCHED) { /* next request on a keep-alive connection */
        c->state = CONN_ST_READING;
        c->since_ms = now;
        c->deadline_ms = now + c->g->header_ms;
        c->bytes = 0;
    }
    if (c->state != CONN_ST_READING)
        return;
    c->bytes += info->n_added;
    if (c->bytes > c->g->hdr_cap && c->deadline_ms < now + DF_LISTEN_BODY_PROGRESS_MS)
        c->deadline_ms = now + DF_LISTEN_BODY_PROGRESS_MS; /* past any head: body progress */
}

/* Drops dead records; shuts down live ones past their deadline. */
static void sweep(struct df_listen_guard *g, int64_t now)
{
    g->last_sweep_ms = now;
    for (size_t fd = 0; fd < g->cap; fd++) {
        struct conn *c = g->by_fd[fd];
        if (!c)
            continue;
        if (!conn_alive(c)) {
            conn_drop(g, c);
        } else if (c->state == CONN_ST_READING && now >= c->deadline_ms) {
            g->timeouts++;
            DF_LOGD(MOD, "%s: request not received within %d ms (%zu bytes), closing",
                    g->name, g->header_ms, c->bytes);
            conn_shutdown(c);
        }
    }
}

/* Over the limit: the connection that has been receiving its request the longest. */
static struct conn *oldest_reading(struct df_listen_guard *g)
{
    struct conn *best = NULL;
    for (size_t fd = 0; fd < g->cap; fd++) {
        struct conn *c = g->by_fd[fd];
        if (c && c->state == CONN_ST_READING && (!best || c->since_ms < best->since_ms)) {
            if (!conn_alive(c)) {
                conn_drop(g, c);
                continue;
            }
            best = c;
        }
    }
    return best;
}

static void table_put(struct df_listen_guard *g, struct conn *c)
{
    size_t fd = (size_t)c->fd;
    if (fd >= g->cap) {
        size_t ncap = g->cap ? g->cap : 256;
        while (ncap <= fd)
            ncap *= 2;
        g->by_fd = df_xrealloc(g->by_fd, ncap * sizeof(*g->by_fd));
        memset(g->by_fd + g->cap, 0, (ncap - g->cap) * sizeof(*g->by_fd));
        g->cap = ncap;
    }
    if (g->by_fd[fd]) /* its socket was closed and the number reused: that one is gone */
        conn_drop(g, g->by_fd[fd]);
    g->by_fd[fd] = c;
}

/* End of the accept callback: evhttp has given every new bufferevent its socket. */
static void on_resolve(evutil_socket_t fd_unused, short what, void *arg)
{
    (void)fd_unused;
    (void)what;
    struct df_listen_guard *g = arg;
    while (g->pending) {
        struct conn *c = g->pending;
        g->pending = c->next_pending;
        c->next_pending = NULL;
        struct stat st;
        c->fd = bufferevent_getfd(c->bev);
        if (c->fd < 0 || fstat(c->fd, &st) < 0) {
            evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->cbent);
            c->fd = -1;
            conn_drop(g, c);
            continue;
        }
        c->dev = st.st_dev;
        c->ino = st.st_ino;
        c->state = CONN_ST_READING;
        table_put(g, c);
        if (c->is_reject)
            conn_shutdown(c);
    }
}

static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    struct df_listen_guard *g = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    if (!bev)
        return NULL; /* evhttp makes its own; that connection is not guarded */
    int64_t now = df_now_ms();
    if (g->is_backoff_episode) {
        DF_LOGI(MOD, "%s: accepting again after %lu pause(s)", g->name, g->backoffs);
        g->is_backoff_episode = 0;
        g->backoffs = 0;
    }
    struct conn *c = df_xcalloc(1, sizeof(*c));
    c->g = g;
    c->bev = bev;
    c->fd = -1;
    c->state = CONN_ST_PENDING;
    c->since_ms = now;
    c->deadline_ms = now + g->header_ms;
    c->cbent = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    c->next_pending = g->pending;
    g->pending = c;
    g->nconns++;
    event_active(g->resolve_ev, EV_TIMEOUT, 0);
    if (g->nconns > g->max_conns) {
        if (now - g->last_sweep_ms >= 20)
            sweep(g, now);
        if (g->nconns > g->max_conns) {
            struct conn *victim = oldest_reading(g);
            if (victim) {
                g->evictions++;
                conn_shutdown(victim);
            } else {
                g->rejects++;
                c->is_reject = 1;
            }
            if (((g->evictions + g->rejects) & 1023) == 1)
                DF_LOGW(MOD, "%s: %d connections (limit %d): %lu unfinished request(s) "
                        "evicted, %lu new connection(s) refused so far", g->name, g->nconns,
                        g->max_conns, g->evictions, g->rejects);
        }
    }
    return bev;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sweep(arg, df_now_ms());
}

static void on_backoff_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct df_listen_guard *g = arg;
    evconnlistener_enable(g->lev);
}

/* accept(2) failed with a non-retriable error (the listener's user data is evhttp's). */
static void on_accept_error(struct evconnlistener *lev, void *ptr)
{
    (void)ptr;
    int err = EVUTIL_SOCKET_ERROR();
    struct df_listen_guard *g = NULL;
    for (int i = 0; i < MAX_GUARDS; i++)
        if (g_guards[i] && g_guards[i]->lev == lev)
            g = g_guards[i];
    evconnlistener_disable(lev);
    if (!g)
        return;
    if (!g->is_backoff_episode) {
        g->is_backoff_episode = 1;
        DF_LOGW(MOD, "%s: accept: %s with %d connections open; pausing accepts %d ms at a "
                "time until it clears", g->name, evutil_socket_error_to_string(err), g->nconns,
                DF_LISTEN_BACKOFF_MS);
    }
    g->backoffs++;
    struct timeval tv = {0, DF_LISTEN_BACKOFF_MS * 1000};
    evtimer_add(g->backoff_ev, &tv);
}

static void guard_dispatch(struct evhttp_request *req, void *arg)
{
    struct df_listen_guard *g = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0 && (size_t)fd < g->cap) {
        struct conn *c = g->by_fd[fd];
        if (c && c->bev == bev && c->state == CONN_ST_READING)
            c->state = CONN_ST_DISPATCHED;
    }
    g->handler(req, g->arg);
}

/* ---- guard ------------------------------------------------------------------------------ */

struct df_listen_guard *df_listen_guard_new(struct event_base *base, struct evhttp *http,
                                            struct evhttp_bound_socket *bound, const char *name,
                                            size_t hdr_cap_bytes,
                                            void (*handler)(struct evhttp_request *, void *),
                                            void *arg)
{
    int slot = -1;
    for (int i = 0; i < MAX_GUARDS && slot < 0; i++)
        if (!g_guards[i])
            slot = i;
    DF_ASSERT(slot >= 0);
    struct df_listen_guard *g = df_xcalloc(1, sizeof(*g));
    g->base = base;
    g->http = http;
    g->lev = evhttp_bound_socket_get_listener(bound);
    g->name = name;
    g->hdr_cap = hdr_cap_bytes;
    g->handler = handler;
    g->arg = arg;
    g->header_ms = g_limits.header_timeout_ms > 0 ? g_limits.header_timeout_ms
                                                  : DF_LISTEN_HEADER_TIMEOUT_MS;
    if (g_limits.max_conns > 0) {
        g->max_conns = g_limits.max_conns;
    } else {
        struct rlimit rl;
        long nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                          ? (long)rl.rlim_cur : 0;
        g->max_conns = df_listen_default_max_conns(nofile, g_servers);
    }
    g->resolve_ev = event_new(base, -1, 0, on_resolve, g);
    g->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep, g);
    g->backoff_ev = evtimer_new(base, on_backoff_done, g);
    DF_ASSERT(g->resolve_ev && g->sweep_ev && g->backoff_ev && g->lev);
    struct timeval tv = {0, SWEEP_MS * 1000};
    event_add(g->sweep_ev, &tv);
    g_guards[slot] = g;
    evconnlistener_set_error_cb(g->lev, on_accept_error);
    evhttp_set_bevcb(http, on_new_bev, g);
    evhttp_set_gencb(http, guard_dispatch, g);
    DF_LOGI(MOD, "%s: at most %d connections, request head within %d ms", name, g->max_conns,
            g->header_ms);
    return g;
}

void df_listen_guard_free(struct df_listen_guard *g)
{
    if (!g)
        return;
    for (int i = 0; i < MAX_GUARDS; i++)
        if (g_guards[i] == g)
            g_guards[i] = NULL;
    evhttp_set_bevcb(g->http, NULL, NULL);
    evhttp_set_gencb(g->http, g->handler, g->arg);
    evconnlistener_set_error_cb(g->lev, NULL);
    /* evhttp_free comes next and frees the connections: detach our buffer callbacks from the
     * live ones first. */
    while (g->pending) {
        struct conn *c = g->pending;
        g->pending = c->next_pending;
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->cbent);
        conn_drop(g, c);
    }
    for (size_t fd = 0; fd < g->cap; fd++) {
        struct conn *c = g->by_fd[fd];
        if (!c)
            continue;
        if (conn_alive(c))
            evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->cbent);
        conn_drop(g, c);
    }
    free(g->by_fd);
    event_free(g->resolve_ev);
    event_free(g->sweep_ev);
    event_free(g->backoff_ev);
    free(g);
}

int df_listen_guard_conns(const struct df_listen_guard *g) { return g->nconns; }

int df_listen_guard_max_conns(const struct df_listen_guard *g) { return g->max_conns; }
