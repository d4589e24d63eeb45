/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon counters and their Prometheus text rendering (GET /metrics). Plain integers updated
 * on the loop thread; rendering is pure (appends text to a caller buffer). */
#ifndef DFD_METRICS_H
#define DFD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "dfd_auth.h"
#include "dfd_blob.h"
#include "dfd_rules.h"
#include "dfd_tunnel.h"

#define DFD_METRICS_ACTIONS 7 /* enum dfd_action values */

struct dfd_metrics {
    uint64_t requests[DFD_METRICS_ACTIONS]; /* by enum dfd_action */
    uint64_t responses[6];                  /* by status class: [1]=1xx ... [5]=5xx, [0]=none */
    uint64_t upstream_errors;               /* upstream unreachable/failed before headers */
    uint64_t client_aborts;                 /* client went away mid-reply */
    uint64_t target_denied;                 /* 403: target/upstream/address not allowed */
    uint64_t bytes_to_clients;              /* body bytes handed to client connections */
    uint64_t blobs_ok, blobs_digest_mismatch, blobs_failed;
    uint64_t blob_bytes_source, blob_bytes_supernode, blob_bytes_peers, blob_bytes_cache;
    int64_t active;                         /* requests in flight */
};

/* Prometheus text exposition of m, the auth, tunnel and blob-store stats (each may be NULL). Returns a heap
 * string. */
char *dfd_metrics_render(const struct dfd_metrics *m, const struct dfd_auth_stats *auth,
                         const struct dfd_tunnel_stats *tun, const struct dfd_blob_stats *blobs);

#endif
