/* SPDX-License-Identifier: Apache-2.0 */
/* The supernode process: owns the event loop resources (worker pool, HTTP client, the control
 * API server on --port, the download server on --download-port), the task registry, the CDN
 * and the metrics, and runs the task/peer GC timer (spec §8.2).
 *
 * OWNERSHIP: struct sn_server owns everything it points to except cfg and base (borrowed,
 * must outlive it). Threading: loop thread only. */
#ifndef SN_SERVER_H
#define SN_SERVER_H

#include <stdint.h>

#include "df_err.h"
#include "sn_config.h"
#include "sn_metrics.h"
#include "df_token.h"
#include "sn_task.h"

struct event_base;
struct event;
struct df_workpool;
struct df_http_client;
struct df_http_server;
struct sn_cdn;
struct sn_pull_hold;
struct df_http_call;
struct df_token_key;
struct sn_auth;
struct sn_admit;
struct sn_limit;
struct sn_diskgc;

struct sn_server {
    const struct sn_config *cfg;
    struct event_base *base;
    struct df_workpool *pool;
    struct df_http_client *http;
    struct df_http_server *api;
    struct df_http_server *dl;
    struct sn_cdn *cdn;
    struct sn_registry reg;
    struct sn_metrics metrics;
    struct event *gc_timer;
    int64_t started_ms;
    struct sn_sched_limits lim;    /* scheduler limits from cfg */
    uint64_t rng;                  /* scheduler PRNG state */
    struct sn_pull_hold *hold_head, *hold_tail; /* held /peer/task requests, oldest first */
    size_t nholds;
    struct event *hold_timer;      /* re-runs held pulls while there are any */
    struct df_token_key *token_key;/* signs piece tokens (df_token) */
    char token_pub[48];            /* its public key, base64url, handed out at registration */
    unsigned char token_pub_raw[1][DF_TOKEN_PUB_LEN]; /* the same, raw: what the download port verifies with */
    struct sn_auth *auth;          /* origin checks of joiners of private tasks */
    struct sn_admit *admits;       /* registrations waiting for such a check */
    int nadmits;
    struct sn_limit *limit;        /* per-address rate of new origin downloads (sn_limit) */
    struct sn_diskgc *diskgc;      /* disk GC of the cache (quota, free-space watermarks) */
};

/* Binds both ports, creates the cache directory, starts the GC timer. Returns NULL and fills
 * err with one line ("cannot listen on [::]:8002: Address already in use") on failure. */
struct sn_server *sn_server_new(const struct sn_config *cfg, struct event_base *base,
                                char err[DF_ERR_LEN]);
/* Answers deferred requests, cancels CDN downloads (their .meta stays resumable), drains the
 * worker pool and frees everything. NULL ok. */
void sn_server_free(struct sn_server *s);
/* One GC pass at now_ms (monotonic): drops expired tasks (files stay) and down peers. */
void sn_server_gc(struct sn_server *s, int64_t now_ms);

/* Control API (sn_api.c): registers the routes on s->api and the CDN readiness callback. */
void sn_api_install(struct sn_server *s);
/* Called by the CDN when registrations waiting on t can be answered. */
void sn_api_on_task_ready(struct sn_task *t, void *arg);
/* Answers every deferred registration with 503 and every held pull with 602 (shutdown). */
void sn_api_shutdown(struct sn_server *s);
/* GET /peer/task (sn_pull.c): report, pick, reply; a 602 for an idle client is held up to
 * cfg->pull_hold_ms and answered as soon as the task's scheduling state allows a pick. */
void sn_pull_handle(struct df_http_call *call, void *arg);
/* Creates the hold timer (called by sn_api_install). */
void sn_pull_init(struct sn_server *s);
/* Answers every held pull with 602, drops their task references, frees the timer. */
void sn_pull_shutdown(struct sn_server *s);
/* Re-verification (sn_verify.c). A client's /peer/piece/error: when the faulty source is the
 * supernode, the piece is re-read from the cache file off the loop and compared with its
 * digests; a bad piece stops being served and is fetched again alone (sn_cdn_repair_piece),
 * a missing or unreadable file stops every piece being served and the file is fetched again. */
void sn_verify_piece_error(struct sn_server *s, const char *type, const char *task_id,
                           const char *dst_cid, const char *range);
/* Called when t's CDN job ended: runs a re-fetch that was deferred while the job ran. */
void sn_verify_on_cdn_end(struct sn_server *s, struct sn_task *t);
/* Piece token for client p of task t (df_token, bound to the address it registered from),
 * valid cfg->token_ttl_ms; records its expiry in p. Returns the length or a negative code. */
int sn_api_sign_token(struct sn_server *s, const struct sn_task *t, struct sn_peer *p, char *out,
                      size_t outsz);
/* 1 when pieces of t need a token (private task, or --peer-auth required). */
int sn_api_needs_token(const struct sn_server *s, const struct sn_task *t);
/* Download port (sn_download.c): registers GET/HEAD /download/<id[0:3]>/<id> on s->dl. */
void sn_download_install(struct sn_server *s);

#endif
