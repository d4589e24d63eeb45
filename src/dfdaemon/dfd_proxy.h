/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon's HTTP front: an evhttp server (default 127.0.0.1:65001) that routes every request
 * with dfd_rules and then
 *   - passes registry requests (/v2/, manifests, tags, HEADs, tokens) to the upstream registry
 *     with libcurl (df_http_client): method, path, query, end-to-end headers and POST body go
 *     up; status, the registry-relevant response headers and the body come back, streamed
 *     with back-pressure (at most ~1 MiB queued per client connection);
 *   - gates blob GETs with dfd_auth (HEAD with the client's own credentials), then serves the
 *     body from dfd_blob (local store / one shared fetch per digest, through the swarm when
 *     --node is set); the last byte leaves only after the SHA-256 matched the URL digest,
 *     otherwise the client connection is aborted. Range requests are passed through;
 *   - serves HTTP-proxy requests (absolute URIs) with the `proxies` rules;
 *   - answers GET /metrics (Prometheus text) and /debug/version itself.
 * CONNECT becomes a blind TCP tunnel (dfd_tunnel.h).
 *
 * Threading: everything on the loop thread of `base`. */
#ifndef DFD_PROXY_H
#define DFD_PROXY_H

#include <stdint.h>

#include "df_err.h"
#include "dfd_config.h"

struct event_base;
struct dfd_proxy;

/* cfg is borrowed and must outlive the proxy. Returns NULL with err filled (one line) when the
 * listen socket or a rule cannot be set up. */
struct dfd_proxy *dfd_proxy_new(struct event_base *base, const struct dfd_config *cfg,
                                char err[DF_ERR_LEN]);
/* Aborts requests in flight, closes the listener, frees everything. NULL ok. */
void dfd_proxy_free(struct dfd_proxy *p);
uint16_t dfd_proxy_port(const struct dfd_proxy *p);

#endif
