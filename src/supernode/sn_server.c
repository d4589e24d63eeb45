/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode assembly: worker pool, HTTP client, the two servers, CDN, registry, metrics
 * observer and the periodic task/peer GC. main.c only parses flags and runs the loop. */
#include "sn_server.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "df_http_client.h"
#include "df_http_server.h"
#include "df_log.h"
#include "df_util.h"
#include "df_token.h"
#include "df_workpool.h"
#include "sn_auth.h"
#include "sn_cdn.h"
#include "sn_limit.h"
#include "sn_diskgc.h"

#define SN_API_MAX_BODY (1u << 20) /* registrations: < 1 KiB, ≤ ~350 KiB with rootCAs; → 413 */

static void on_http_reply(const char *route, int status, void *arg)
{
    struct sn_server *s = arg;
    sn_metrics_http(&s->metrics, route[0] ? route : "unknown", status);
}

void sn_server_gc(struct sn_server *s, int64_t now_ms)
{
    const struct sn_config *cfg = s->cfg;
    struct sn_map_iter it = {0};
    const char *id;
    void *v;
    while (sn_map_next(s->reg.tasks, &it, &id, &v)) {
        struct sn_task *t = v;
        if (sn_task_is_expired(t, now_ms, cfg->task_expire_ms)) {
            DF_LOGI("gc", "task %s idle for %lld s: dropped from memory (cache files stay)",
                    t->id, (long long)((now_ms - t->access_ms) / 1000));
            s->metrics.gc_peers += sn_map_size(t->clients);
            s->metrics.gc_tasks++;
            sn_registry_remove(&s->reg, t);
            continue;
        }
        struct sn_map_iter pit = {0};
        const char *cid;
        void *pv;
        while (sn_map_next(t->clients, &pit, &cid, &pv)) {
            struct sn_peer *p = pv;
            /* Down peers go after peer_gc_delay; idle clients that serve nothing go after the
             * task expiry (every dfget run is a new CID: without this they would pile up in
             * a popular task). */
            if (sn_peer_is_expired(p, now_ms, cfg->peer_gc_delay_ms) ||
                (p->sched.have.count == 0 && now_ms - p->access_ms > cfg->task_expire_ms)) {
                s->metrics.gc_peers++;
                sn_task_peer_remove(t, p);
            }
        }
        sn_registry_account(&s->reg, t); /* peers removed anywhere since the last pass */
    }
}

/* CDN readiness: registrations first; when a job ended, a disk-GC pass (quota and watermarks
 * are checked right after the cache grew, not only on the timer). */
static void on_cdn_ready(struct sn_task *t, void *arg)
{
    struct sn_server *s = arg;
    int is_end = !t->cdn && (t->cdn_status == SN_CDN_SUCCESS || t->cdn_status == SN_CDN_FAILED);
    sn_api_on_task_ready(t, s);
    if (is_end && s->diskgc)
        sn_diskgc_request(s->diskgc, 0, "after a CDN job");
}

static void on_cdn_nospace(uint64_t need_bytes, void *arg)
{
    struct sn_server *s = arg;
    sn_diskgc_request(s->diskgc, need_bytes, "cache disk full");
}

static void on_gc_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sn_server *s = arg;
    sn_server_gc(s, df_now_ms());
    int64_t ms = s->cfg->gc_meta_interval_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(s->gc_timer, &tv);
}

struct sn_server *sn_server_new(const struct sn_config *cfg, struct event_base *base,
                                char err[DF_ERR_LEN])
{
    struct sn_server *s = df_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->base = base;
    s->started_ms = df_now_ms();
    sn_sched_limits_default(&s->lim);
    s->lim.down_limit = cfg->down_limit;
    s->lim.up_limit = cfg->up_limit;
    s->lim.cdn_up_limit = cfg->cdn_up_limit;
    s->rng = (uint64_t)df_now_us() ^ ((uint64_t)getpid() << 32);
    sn_registry_init(&s->reg);
    sn_metrics_init(&s->metrics);
    s->api = df_http_server_new(base, cfg->bind_addr, cfg->port, SN_API_MAX_BODY, err);
    if (!s->api)
        goto fail;
    s->dl = df_http_server_new(base, cfg->bind_addr, cfg->download_port, 64 * 1024, err);
    if (!s->dl)
        goto fail;
    s->pool = df_workpool_new(base, 2, err, DF_ERR_LEN);
    if (!s->pool)
        goto fail;
    s->http = df_http_client_new(base);
    if (!s->http) {
        snprintf(err, DF_ERR_LEN, "cannot create the HTTP client");
        goto fail;
    }
    struct sn_cdn_opts co = {
        .home_dir = cfg->home_dir,
        .origin_bps = sn_config_origin_bps(cfg),
        .fail_access_ms = cfg->fail_access_interval_ms,
        .piece_size = cfg->piece_size,
        .origin_policy = cfg->origin_policy,
        .on_nospace = on_cdn_nospace,
        .nospace_arg = s,
    };
    s->cdn = sn_cdn_new(base, s->pool, s->http, &s->metrics, &co, on_cdn_ready, s, err);
    if (!s->cdn)
        goto fail;
    s->diskgc = sn_diskgc_new(s);
    /* The piece-token key lives beside the cache (created on first start, mode 0600) so that
     * tokens survive a restart; --peer-key shares one key between the supernodes of a cluster. */
    char *key_path = cfg->peer_key_path ? df_xstrdup(cfg->peer_key_path)
                                        : df_path_join(cfg->home_dir, "peer-auth.key");
    int krc = df_token_key_load_or_create(key_path, &s->token_key, err);
    free(key_path);
    if (krc < 0)
        goto fail;
    df_token_key_public_b64(s->token_key, s->token_pub);
    if (df_token_pub_decode(s->token_pub, s->token_pub_raw[0]) < 0) {
        snprintf(err, DF_ERR_LEN, "cannot encode the peer-auth public key");
        goto fail;
    }
    s->auth = sn_auth_new(s->http, cfg->auth_ttl_ms);
    s->limit = sn_limit_new(cfg->new_task_limit);
    df_http_server_set_observer(s->api, on_http_reply, s);
    df_http_server_set_observer(s->dl, on_http_reply, s);
    df_http_server_set_timeout(s->dl, 300);
    sn_api_install(s);
    sn_download_install(s);
    s->gc_timer = evtimer_new(base, on_gc_timer, s);
    DF_ASSERT(s->gc_timer);
    int64_t ms = cfg->gc_initial_delay_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(s->gc_timer, &tv);
    return s;
fail:
    sn_server_free(s);
    return NULL;
}

void sn_server_free(struct sn_server *s)
{
    if (!s)
        return;
    if (s->gc_timer)
        event_free(s->gc_timer);
    if (s->reg.tasks)
        sn_api_shutdown(s);
    sn_diskgc_shutdown(s->diskgc); /* before the CDN: no pass wakes a cancelled job */
    if (s->cdn)
        sn_cdn_shutdown(s->cdn);
    sn_auth_free(s->auth);        /* before the HTTP client its checks use */
    sn_limit_free(s->limit);
    df_http_client_free(s->http); /* after the CDN cancelled its requests */
    df_workpool_free(s->pool);    /* runs the last completions (they free dying jobs) */
    sn_diskgc_free(s->diskgc);
    sn_cdn_free(s->cdn);
    df_http_server_free(s->api);
    df_http_server_free(s->dl);
    sn_registry_cleanup(&s->reg);
    df_token_key_free(s->token_key);
    free(s);
}
