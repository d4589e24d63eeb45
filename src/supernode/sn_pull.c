/* SPDX-License-Identifier: Apache-2.0 */
/* GET /peer/task (spec §2.2, §6.3): the report in the query is applied, then the scheduler
 * picks the client's next pieces.
 *
 * Held pulls. When the scheduler has nothing for a client that has nothing running (602), the
 * reply is held for up to --pull-hold instead of being sent at once: Dragonfly's dfget answers
 * 602 with a back-off of 50 ms doubling to 1.6 s, so an idle client found out about a new
 * piece or a freed holder only after that back-off, and every hop of a piece through the swarm
 * paid it (docs/internals/scheduling.md). A held pull is re-run as soon as the task's
 * scheduling state moved (struct sn_sched_task.seq: a piece on the CDN, a new holder, a load
 * released, a source gone), at most SN_PULL_TICK_MS later, and answered with the pieces, or
 * with 602 at the deadline. Only clients with nothing running are held: dfget has one
 * /peer/task in flight at a time, and a client with pieces running must be able to report
 * them. Both dfgets wait 5 s (Dragonfly) / 10 s (ours) for the reply; the hold is at most 4 s.
 *
 * Threading: loop thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "df_http_server.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_token.h"
#include "df_util.h"
#include "sn_req.h"
#include "sn_auth.h"
#include "sn_server.h"

#define SN_PULL_TICK_MS 2         /* latency of a wake-up after the task's state moved */
#define SN_PULL_TICK_BUDGET 256   /* re-run picks per tick, whatever the number of holds */
#define SN_PULL_MAX_HOLDS 65536   /* beyond this, 602 at once */

struct sn_pull_hold {
    struct sn_pull_hold *prev, *next;
    struct evhttp_request *req;
    struct sn_task *task;         /* referenced (sn_task_ref) while held */
    char *cid;
    uint64_t seen_seq;            /* task's sched.seq at the last pick */
    int64_t deadline_ms;
};

static json_t *piece_json(const struct sn_server *s, const struct sn_task *t,
                          const struct sn_peer *p, const struct sn_sched_pick *pk)
{
    char range[48], md5[64], sha[65], cid[160], path[128];
    uint32_t n = pk->piece;
    df_proto_format_range(n, t->piece_size, range, sizeof(range));
    sn_task_piece_md5(t, n, md5, sizeof(md5));
    sn_task_piece_sha256(t, n, sha);
    const struct sn_peer *src = pk->src >= 0 ? sn_task_peer_at(t, pk->src) : NULL;
    const char *ip, *src_cid = cid, *src_path = path;
    json_int_t port;
    if (src) {
        src_cid = src->cid;
        ip = src->ip;
        port = src->port;
        src_path = src->path;
    } else {
        sn_task_cdn_cid(s->cfg->advertise_ip, t->id, cid, sizeof(cid));
        snprintf(path, sizeof(path), "/download/%.3s/%s", t->id, t->id);
        ip = p->super_node_ip[0] ? p->super_node_ip : s->cfg->advertise_ip;
        port = s->cfg->download_port;
    }
    return json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:I,s:s,s:I}", "range", range, "pieceNum",
                     (json_int_t)n, "pieceSize", (json_int_t)t->piece_size, "pieceMd5", md5,
                     "pieceSha256", sha, "cid", src_cid, "peerIp", ip, "peerPort", port, "path",
                     src_path, "downLink", (json_int_t)0);
}

/* Applies a 701 report; logs what isolation it caused. */
static int apply_report(struct sn_server *s, struct sn_task *t, struct sn_peer *p, uint32_t n,
                        int is_ok, const char *dst_cid)
{
    int32_t dst = sn_task_src_of(t, dst_cid);
    struct sn_peer *x = dst >= 0 ? sn_task_peer_at(t, dst) : NULL;
    int was_elim = x && x->sched.is_eliminated;
    uint32_t fails = p->sched.fail_count;
    int rc = sn_sched_report(&t->sched, &p->sched, n, is_ok, dst, &s->lim);
    if (rc < 0 || is_ok)
        return rc;
    if (x && p->sched.fail_count != fails)
        DF_LOGW("sched", "task %.16s: piece %u from peer %s failed for %s: pair blacklisted "
                "(peer errors %u, client errors %u%s)", t->id, (unsigned)n, x->cid, p->cid,
                (unsigned)x->sched.service_errors, (unsigned)p->sched.fail_count,
                sn_sched_client_is_cdn_only(&p->sched, &s->lim) ? ", client now served by the "
                "supernode only" : "");
    if (x && !was_elim && x->sched.is_eliminated) {
        s->metrics.peers_eliminated++;
        DF_LOGW("sched", "task %.16s: uploader %s (%s:%d) eliminated: %u failures for several "
                "clients; it is no longer a source", t->id, x->cid, x->ip, x->port,
                (unsigned)x->sched.service_errors);
    }
    return rc;
}

static void reply_wait(struct evhttp_request *req)
{
    df_http_reply_result(req, DF_CODE_PEER_WAIT, "peer should wait", NULL);
}

/* Runs the scheduler for p and answers req, except for a 602 when is_may_hold: then returns 0
 * without replying (the caller holds req). Returns 1 when it replied; *placed (may be NULL)
 * tells whether the reply carried pieces. */
static int pick_and_reply(struct sn_server *s, struct sn_task *t, struct sn_peer *p,
                          struct evhttp_request *req, int is_may_hold, int *placed)
{
    struct sn_sched_pick picks[SN_SCHED_MAX_DOWN];
    size_t np = 0;
    uint64_t stall_before = t->sched.n_stall_picks;
    enum sn_sched_decision d = sn_sched_pick(&t->sched, &p->sched, &s->lim, df_now_ms(), &s->rng,
                                             picks, DF_ARRAY_LEN(picks), &np);
    s->metrics.sched_stall_pieces += t->sched.n_stall_picks - stall_before;
    switch (d) {
    case SN_SCHED_FINISH: {
        p->is_success = 1;
        json_t *data = json_pack("{s:s,s:I,s:s}", "md5", t->real_md5, "fileLength",
                                 (json_int_t)t->wrapped_length, "sha256", t->real_sha256);
        df_http_reply_result(req, DF_CODE_PEER_FINISH, NULL, data);
        return 1;
    }
    case SN_SCHED_CONTINUE: {
        json_t *arr = json_array();
        for (size_t i = 0; i < np; i++) {
            json_array_append_new(arr, piece_json(s, t, p, &picks[i]));
            if (picks[i].src == SN_SCHED_SRC_CDN)
                s->metrics.sched_cdn_pieces++;
            else
                s->metrics.sched_peer_pieces++;
        }
        df_http_reply_result(req, DF_CODE_PEER_CONTINUE, NULL, arr);
        if (placed)
            *placed = 1;
        return 1;
    }
    case SN_SCHED_LIMITED:
        df_http_reply_result(req, DF_CODE_PEER_CONTINUE, "peer down limit reached", NULL);
        return 1;
    case SN_SCHED_WAIT:
        if (is_may_hold && p->sched.nrunning == 0)
            return 0;
        reply_wait(req);
        return 1;
    case SN_SCHED_FAILED:
        df_http_reply_result(req, DF_CODE_SYSTEM_ERROR,
                             t->fail_reason ? t->fail_reason : "CDN failed", NULL);
        return 1;
    }
    return 1;
}

/* ---- held pulls ------------------------------------------------------------------------- */

static void hold_unlink(struct sn_server *s, struct sn_pull_hold *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        s->hold_head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        s->hold_tail = h->prev;
    s->nholds--;
}

static void hold_free(struct sn_pull_hold *h)
{
    sn_task_unref(h->task);
    free(h->cid);
    free(h);
}

static void arm_tick(struct sn_server *s)
{
    if (s->hold_timer && s->nholds && !evtimer_pending(s->hold_timer, NULL)) {
        struct timeval tv = {0, SN_PULL_TICK_MS * 1000};
        evtimer_add(s->hold_timer, &tv);
    }
}

/* Whether the client of a held request has closed its connection. evhttp does not read from a
 * connection while its request awaits a reply, so it cannot tell (evhttp_request_get_connection
 * stays set): peek at the socket. End of stream or a hard error = gone. */
static int is_gone(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd < 0)
        return 1;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Re-runs the pick of a held pull. Returns 1 when the request was answered. */
static int hold_retry(struct sn_server *s, struct sn_pull_hold *h, int64_t now)
{
    struct sn_task *t = h->task;
    int is_final = now >= h->deadline_ms;
    struct sn_peer *p = t->is_removed ? NULL : sn_task_peer_get(t, h->cid);
    /* The task or the client went (GC, re-registration: its next pull finds out), or the
     * client hung up: a 602 and no pick (running entries of a gone client would hold upload
     * slots of the sources until the task expires). */
    if (!p || is_gone(h->req)) {
        reply_wait(h->req);
        return 1;
    }
    h->seen_seq = t->sched.seq;
    int placed = 0;
    int is_done = pick_and_reply(s, t, p, h->req, !is_final, &placed);
    if (placed && !is_final)
        s->metrics.pulls_held_woken++;
    return is_done;
}

static void on_hold_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sn_server *s = arg;
    int64_t now = df_now_ms();
    int budget = SN_PULL_TICK_BUDGET;
    /* Oldest first: the client that waited longest gets the first chance at a new piece. */
    for (struct sn_pull_hold *h = s->hold_head, *next; h && budget > 0; h = next) {
        next = h->next;
        if (h->task->sched.seq == h->seen_seq && now < h->deadline_ms && !h->task->is_removed)
            continue;
        budget--;
        if (hold_retry(s, h, now)) {
            hold_unlink(s, h);
            hold_free(h);
        }
    }
    arm_tick(s);
}

static void hold(struct sn_server *s, struct sn_task *t, struct sn_peer *p,
                 struct evhttp_request *req)
{
    struct sn_pull_hold *h = df_xcalloc(1, sizeof(*h));
    h->req = req;
    h->task = t;
    sn_task_ref(t);
    h->cid = df_xstrdup(p->cid);
    h->seen_seq = t->sched.seq;
    h->deadline_ms = df_now_ms() + s->cfg->pull_hold_ms;
    /* The stall rule is a matter of time, not of state: be back when it may apply. */
    if (p->sched.starve_since_ms > 0 && s->lim.stall_ms > 0 &&
        s->lim.stall_ms < h->deadline_ms - p->sched.starve_since_ms)
        h->deadline_ms = DF_MAX(df_now_ms(), p->sched.starve_since_ms + s->lim.stall_ms);
    h->prev = s->hold_tail;
    if (s->hold_tail)
        s->hold_tail->next = h;
    else
        s->hold_head = h;
    s->hold_tail = h;
    s->nholds++;
    s->metrics.pulls_held++;
    arm_tick(s);
}

void sn_pull_init(struct sn_server *s)
{
    s->hold_timer = evtimer_new(s->base, on_hold_tick, s);
    DF_ASSERT(s->hold_timer);
}

void sn_pull_shutdown(struct sn_server *s)
{
    while (s->hold_head) {
        struct sn_pull_hold *h = s->hold_head;
        hold_unlink(s, h);
        reply_wait(h->req);
        hold_free(h); /* frees a task already dropped from the registry */
    }
    if (s->hold_timer)
        event_free(s->hold_timer);
    s->hold_timer = NULL;
}

/* ---- the handler ------------------------------------------------------------------------ */

/* A fresh token, only to the client itself (the address it registered from) and, for a private
 * task, only while the origin still accepts what the client proved access with (sn_auth
 * re-checks it in the background when the cached answer is gone). */
static void renew_token(struct sn_server *s, struct sn_task *t, struct sn_peer *p,
                        struct evhttp_request *req, int64_t now_ms)
{
    const char *addr = df_http_req_peer_ip(req);
    if (!*addr || !p->src_ip || !df_token_same_ip(addr, p->src_ip))
        return;
    if (t->is_private &&
        (!p->creds || !sn_auth_is_still_allowed(s->auth, p->creds, t->id, s->cfg->origin_policy,
                                                now_ms)))
        return;
    char tok[DF_TOKEN_MAX];
    if (sn_api_sign_token(s, t, p, tok, sizeof(tok)) > 0)
        evhttp_add_header(evhttp_request_get_output_headers(req), DF_TOKEN_HEADER, tok);
}

void sn_pull_handle(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    struct sn_pull_req q;
    char err[DF_ERR_LEN];
    if (sn_req_decode_pull(&call->query, &q, err) < 0) {
        df_http_reply_result(call->req, DF_CODE_PARAM_ERROR, err, NULL);
        return;
    }
    struct sn_task *t = sn_registry_get(&s->reg, q.task_id);
    struct sn_peer *p = t ? sn_task_peer_get(t, q.src_cid) : NULL;
    if (!p) {
        df_http_reply_result(call->req, DF_CODE_TARGET_NOT_FOUND,
                             t ? "data not found: unknown srcCid" : "data not found: unknown taskId",
                             NULL);
        return;
    }
    int64_t now = df_now_ms();
    t->access_ms = p->access_ms = now;
    /* Piece tokens are short-lived: a client that keeps pulling gets a fresh one in a header
     * (Dragonfly 1.x clients ignore it) once half of the current one's lifetime is gone. */
    if (sn_api_needs_token(s, t) &&
        p->token_exp_unix - (int64_t)time(NULL) < s->cfg->token_ttl_ms / 2000)
        renew_token(s, t, p, call->req, now);
    if (q.status == DF_TASK_FINISHED) {
        p->is_success = q.result == DF_RESULT_SUCCESS;
        df_http_reply_result(call->req, DF_CODE_PEER_FINISH, NULL, NULL);
        return;
    }
    if (q.status == DF_TASK_RUNNING && q.range[0] && q.result != DF_RESULT_INVALID) {
        int64_t n = t->piece_size ? df_proto_range_piece(q.range, t->piece_size) : -EINVAL;
        int is_ok = q.result == DF_RESULT_SUCCESS || q.result == DF_RESULT_SEMISUC;
        if (n < 0 || apply_report(s, t, p, (uint32_t)n, is_ok, q.dst_cid) < 0) {
            snprintf(err, sizeof(err), "invalid range '%.64s' for this task", q.range);
            df_http_reply_result(call->req, DF_CODE_PARAM_ERROR, err, NULL);
            return;
        }
        if (is_ok && sn_task_is_cdn_cid(q.dst_cid) && (uint32_t)n < t->ndigests)
            s->metrics.pieces_downloaded_bytes += t->digests[n].wrapped_len;
    }
    int is_may_hold = s->cfg->pull_hold_ms > 0 && s->hold_timer && s->nholds < SN_PULL_MAX_HOLDS;
    if (!pick_and_reply(s, t, p, call->req, is_may_hold, NULL))
        hold(s, t, p, call->req);
}
