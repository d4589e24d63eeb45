/* SPDX-License-Identifier: Apache-2.0 */
/* Connection guard for our evhttp servers (supernode API and download port, every uploader,
 * dfdaemon's proxy port): bounds what one client can hold.
 *  - at most max_conns connections per server; at the limit a new connection evicts the
 *    oldest one that still has not delivered its request (a slow or trickling client), and is
 *    closed at once when there is none, so served and idle connections are never hurt;
 *  - a request deadline: from its first byte (accept for the first request) a connection must
 *    deliver the whole request head within header_timeout_ms, however it trickles (libevent's
 *    per-read timeout alone does not bound a trickle). Bytes past the head size cap are body:
 *    each arrival then pushes the deadline to now + DF_LISTEN_BODY_PROGRESS_MS, so a body that
 *    keeps coming is not cut. Once dispatched a request has no deadline here: replies, long
 *    polls and big downloads are bounded by evhttp's per-read/write (idle) timeout only;
 *  - accept errors (EMFILE, ENFILE, ENOBUFS, ...) pause accepting for DF_LISTEN_BACKOFF_MS
 *    with a timer (one warning per episode) instead of spinning on a level-triggered listener,
 *    and the connections already open keep being served.
 *
 * libevent 2.1 has no per-connection accept hook on evhttp: the guard creates each
 * connection's bufferevent (evhttp_set_bevcb), learns its socket at the end of the accept
 * callback, and from then on identifies it by (fd, socket inode) only, so it never touches a
 * bufferevent evhttp may have freed. Closing is shutdown(2) on the socket: evhttp sees EOF and
 * frees the connection itself. Everything runs on the server's loop thread. */
#ifndef DF_LISTEN_H
#define DF_LISTEN_H

#include <stddef.h>

struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;
struct df_listen_guard;

#define DF_LISTEN_HEADER_TIMEOUT_MS 10000  /* default request-head deadline */
#define DF_LISTEN_BODY_PROGRESS_MS 30000   /* body bytes arriving keep a request alive this long */
#define DF_LISTEN_BACKOFF_MS 100           /* accept pause after EMFILE & co. */
#define DF_LISTEN_MAX_CONNS_CAP 65536      /* default never exceeds this */

/* Process-wide settings the programs' flags set before creating servers (0 = default). */
struct df_listen_limits {
    int max_conns;          /* per server; 0 = df_listen_default_max_conns(fd limit, servers) */
    int header_timeout_ms;  /* 0 = DF_LISTEN_HEADER_TIMEOUT_MS */
};
void df_listen_set_limits(const struct df_listen_limits *lim);
/* n_servers: how many guarded servers the program runs (the default budget is shared). */
void df_listen_set_servers(int n_servers);

/* Default per-server connection limit for a process whose fd limit is nofile and that runs
 * n_servers servers: a quarter of the fds (at least 64) stays for files, outbound connections
 * and the listeners, the rest is split between the servers; at least 16 each, at most
 * DF_LISTEN_MAX_CONNS_CAP. Pure. */
int df_listen_default_max_conns(long nofile, int n_servers);

/* Raises the soft RLIMIT_NOFILE to the hard limit (logs the result under module tag). Returns
 * the soft limit now in force (or -errno when it cannot be read). Call once at start. */
long df_listen_raise_nofile(const char *tag);

/* Guards the evhttp server http whose listener is bound (one guard per evhttp; the server must
 * have exactly this one bound socket). Installs itself as evhttp's bevcb and gencb: requests
 * reach handler(req, arg). hdr_cap_bytes: the server's evhttp_set_max_headers_size. name: for
 * logs (static string). Free it before evhttp_free. */
struct df_listen_guard *df_listen_guard_new(struct event_base *base, struct evhttp *http,
                                            struct evhttp_bound_socket *bound, const char *name,
                                            size_t hdr_cap_bytes,
                                            void (*handler)(struct evhttp_request *, void *),
                                            void *arg);
void df_listen_guard_free(struct df_listen_guard *g);
/* Open connections the guard counts (tests, metrics). */
int df_listen_guard_conns(const struct df_listen_guard *g);
int df_listen_guard_max_conns(const struct df_listen_guard *g);

#endif
