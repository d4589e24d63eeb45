/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text rendering of dfdaemon's counters (metric names follow Dragonfly 1.0's
 * dragonfly_dfdaemon_* prefix, spec §9). */
#include "dfd_metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "df_util.h"

struct sb {
    char *s;
    size_t len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n;
        b->s = df_xrealloc(b->s, b->cap);
    }
}

static void counter(struct sb *b, const char *name, const char *help)
{
    sb_printf(b, "# HELP dragonfly_dfdaemon_%s %s\n# TYPE dragonfly_dfdaemon_%s counter\n", name,
              help, name);
}

char *dfd_metrics_render(const struct dfd_metrics *m, const struct dfd_auth_stats *auth,
                         const struct dfd_tunnel_stats *tun, const struct dfd_blob_stats *blobs)
{
    struct sb b = {.s = df_xmalloc(4096), .len = 0, .cap = 4096};
    b.s[0] = '\0';
    sb_printf(&b, "# HELP dragonfly_dfdaemon_build_info dfdaemon build\n"
                  "# TYPE dragonfly_dfdaemon_build_info gauge\n"
                  "dragonfly_dfdaemon_build_info{version=\"%s\",impl=\"damselfly\"} 1\n",
              DF_VERSION);
    counter(&b, "requests_total", "Requests received, by routing decision");
    for (int a = 0; a < DFD_METRICS_ACTIONS; a++)
        sb_printf(&b, "dragonfly_dfdaemon_requests_total{action=\"%s\"} %" PRIu64 "\n",
                  dfd_action_name((enum dfd_action)a), m->requests[a]);
    counter(&b, "responses_total", "Responses sent, by status class");
    for (int c = 1; c <= 5; c++)
        sb_printf(&b, "dragonfly_dfdaemon_responses_total{code=\"%dxx\"} %" PRIu64 "\n", c,
                  m->responses[c]);
    counter(&b, "upstream_errors_total", "Upstream requests that failed before a response");
    sb_printf(&b, "dragonfly_dfdaemon_upstream_errors_total %" PRIu64 "\n", m->upstream_errors);
    counter(&b, "client_aborts_total", "Client connections lost during a reply");
    sb_printf(&b, "dragonfly_dfdaemon_client_aborts_total %" PRIu64 "\n", m->client_aborts);
    counter(&b, "target_denied_total",
            "Requests refused because the configuration does not allow their target (403)");
    sb_printf(&b, "dragonfly_dfdaemon_target_denied_total %" PRIu64 "\n", m->target_denied);
    counter(&b, "response_bytes_total", "Body bytes sent to clients");
    sb_printf(&b, "dragonfly_dfdaemon_response_bytes_total %" PRIu64 "\n", m->bytes_to_clients);
    counter(&b, "blobs_total", "Blob GETs finished, by result");
    sb_printf(&b, "dragonfly_dfdaemon_blobs_total{result=\"ok\"} %" PRIu64 "\n", m->blobs_ok);
    sb_printf(&b, "dragonfly_dfdaemon_blobs_total{result=\"digest_mismatch\"} %" PRIu64 "\n",
              m->blobs_digest_mismatch);
    sb_printf(&b, "dragonfly_dfdaemon_blobs_total{result=\"failed\"} %" PRIu64 "\n",
              m->blobs_failed);
    counter(&b, "blob_bytes_total", "Blob bytes served, by where they came from");
    sb_printf(&b, "dragonfly_dfdaemon_blob_bytes_total{from=\"source\"} %" PRIu64 "\n",
              m->blob_bytes_source);
    sb_printf(&b, "dragonfly_dfdaemon_blob_bytes_total{from=\"supernode\"} %" PRIu64 "\n",
              m->blob_bytes_supernode);
    sb_printf(&b, "dragonfly_dfdaemon_blob_bytes_total{from=\"peers\"} %" PRIu64 "\n",
              m->blob_bytes_peers);
    sb_printf(&b, "dragonfly_dfdaemon_blob_bytes_total{from=\"cache\"} %" PRIu64 "\n",
              m->blob_bytes_cache);
    if (blobs) {
        counter(&b, "blob_store_total", "Blob store events: upstream fetches, requests joining "
                                        "a running fetch, cache hits, digest mismatches, failures");
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_total{event=\"fetch\"} %" PRIu64 "\n",
                  blobs->fetches);
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_total{event=\"joined\"} %" PRIu64 "\n",
                  blobs->joined);
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_total{event=\"cache_hit\"} %" PRIu64 "\n",
                  blobs->cache_hits);
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_total{event=\"mismatch\"} %" PRIu64 "\n",
                  blobs->mismatches);
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_total{event=\"failure\"} %" PRIu64 "\n",
                  blobs->failures);
        counter(&b, "blob_store_gc_runs_total", "Store clean-up passes completed or started");
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_gc_runs_total %" PRIu64 "\n",
                  blobs->gc_runs);
        counter(&b, "blob_store_gc_deleted_total", "Files deleted by the store clean-up");
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_gc_deleted_total %" PRIu64 "\n",
                  blobs->gc_deleted);
        counter(&b, "blob_store_gc_deleted_bytes_total", "Bytes freed by the store clean-up");
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_gc_deleted_bytes_total %" PRIu64 "\n",
                  blobs->gc_deleted_bytes);
        counter(&b, "blob_store_fetch_bytes_total", "Verified bytes fetched into the store");
        sb_printf(&b, "dragonfly_dfdaemon_blob_store_fetch_bytes_total %" PRIu64 "\n",
                  blobs->fetch_bytes);
    }
    if (auth) {
        counter(&b, "auth_checks_total", "Blob authorization checks, by cache result");
        sb_printf(&b, "dragonfly_dfdaemon_auth_checks_total{cache=\"hit\"} %" PRIu64 "\n",
                  auth->hits);
        sb_printf(&b, "dragonfly_dfdaemon_auth_checks_total{cache=\"miss\"} %" PRIu64 "\n",
                  auth->misses);
        counter(&b, "auth_denied_total", "Blob requests refused by the upstream (401/403/404)");
        sb_printf(&b, "dragonfly_dfdaemon_auth_denied_total %" PRIu64 "\n", auth->denied);
        counter(&b, "auth_errors_total", "Authorization checks that could not reach the upstream");
        sb_printf(&b, "dragonfly_dfdaemon_auth_errors_total %" PRIu64 "\n", auth->errors);
    }
    if (tun) {
        counter(&b, "tunnels_total", "CONNECT tunnels, by outcome");
        sb_printf(&b, "dragonfly_dfdaemon_tunnels_total{result=\"opened\"} %" PRIu64 "\n",
                  tun->opened);
        sb_printf(&b, "dragonfly_dfdaemon_tunnels_total{result=\"failed\"} %" PRIu64 "\n",
                  tun->failed);
        sb_printf(&b, "dragonfly_dfdaemon_tunnels_total{result=\"denied\"} %" PRIu64 "\n",
                  tun->denied);
        counter(&b, "tunnel_bytes_total", "Bytes relayed by CONNECT tunnels");
        sb_printf(&b, "dragonfly_dfdaemon_tunnel_bytes_total{direction=\"up\"} %" PRIu64 "\n",
                  tun->bytes_up);
        sb_printf(&b, "dragonfly_dfdaemon_tunnel_bytes_total{direction=\"down\"} %" PRIu64 "\n",
                  tun->bytes_down);
        sb_printf(&b, "# HELP dragonfly_dfdaemon_active_tunnels Open CONNECT tunnels\n"
                      "# TYPE dragonfly_dfdaemon_active_tunnels gauge\n"
                      "dragonfly_dfdaemon_active_tunnels %" PRId64 "\n",
                  tun->active);
    }
    sb_printf(&b, "# HELP dragonfly_dfdaemon_active_requests Requests in flight\n"
                  "# TYPE dragonfly_dfdaemon_active_requests gauge\n"
                  "dragonfly_dfdaemon_active_requests %" PRId64 "\n",
              m->active);
    return b.s;
}
