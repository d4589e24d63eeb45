/* SPDX-License-Identifier: Apache-2.0 */
/* CONNECT tunnels for dfdaemon's HTTP-proxy mode: a blind TCP relay between the client and
 * host:port (no TLS interception). The client socket is taken over from evhttp after the
 * CONNECT request was parsed (dfd_tunnels_open explains how evhttp is made to let go of it).
 *
 * Back-pressure: at most DFD_TUNNEL_HIGH bytes wait in either direction; reading from a side
 * stops until the other side's output drains. A tunnel with no traffic in either direction for
 * idle_ms is closed. Threading: loop thread only. */
#ifndef DFD_TUNNEL_H
#define DFD_TUNNEL_H

#include <stdint.h>

#define DFD_TUNNEL_HIGH (512u << 10)

struct event_base;
struct evdns_base;
struct evhttp_request;
struct dfd_tunnels;

struct dfd_tunnel_stats {
    uint64_t opened, failed, denied, bytes_up, bytes_down;
    int64_t active;
};

/* dns may be NULL (blocking resolver). */
struct dfd_tunnels *dfd_tunnels_new(struct event_base *base, struct evdns_base *dns,
                                    int64_t idle_ms);
/* Closes every tunnel. NULL ok. */
void dfd_tunnels_free(struct dfd_tunnels *t);

/* Takes over req's client connection, resolves target "host:port" (validated and allowed by
 * dfd_rules) and connects to its addresses in turn. is_addr_check: the target was allowed by a
 * pattern, so if any address is loopback, link-local or unspecified (dfd_rules_addr_is_special)
 * the client gets "403 Forbidden" and nothing is connected — the check is on the very
 * addresses the tunnel connects to. On success the client gets "200 Connection Established"
 * and bytes flow; if the target cannot be reached the client gets "502 Bad Gateway" and the
 * connection closes. The request must not be used by the caller afterwards (no reply: evhttp
 * frees it). */
void dfd_tunnels_open(struct dfd_tunnels *t, struct evhttp_request *req, const char *target,
                      int is_addr_check);

const struct dfd_tunnel_stats *dfd_tunnels_stats(const struct dfd_tunnels *t);

#endif
