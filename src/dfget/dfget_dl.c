/* SPDX-License-Identifier: Apache-2.0 */
/* P2P download loop: one pull request to the supernode at a time, one report per pull, any
 * number of piece downloads the supernode hands out (dfget_dl_piece.c runs each of them).
 * Pieces are verified while they stream and count once the writer committed them; their
 * results go back with the next /peer/task. Decisions about failing over belong to the caller
 * (dfget_run). */
#include "dfget_dl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "df_bitmap.h"
#include "df_http_client.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_util.h"
#include "dfget_dl_int.h"
#include "dfget_writer.h"

#define MOD "dl"
#define PULL_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1600
/* A 602 that took at least this long was held by the supernode until its deadline (sn_pull.c):
 * the wait already happened there, so the next pull goes at once. A Dragonfly supernode
 * answers 602 at once and gets the back-off. */
#define HELD_602_MS 250

/* ---- helpers shared with dfget_dl_piece.c ----------------------------------------------- */

void dfget_dl__bitmap_grow(struct df_bitmap *b, uint32_t idx)
{
    if (idx >= b->nbits)
        df_bitmap_resize(b, DF_MAX(idx + 1, b->nbits * 2));
}

int dfget_dl__is_supernode_cid(const char *cid)
{
    return strncmp(cid, DFGET_DL_SN_CID_PREFIX, strlen(DFGET_DL_SN_CID_PREFIX)) == 0;
}

void dfget_dl__queue_report(struct dfget_dl *dl, const char *range, int result, const char *dst)
{
    struct report *r = df_xcalloc(1, sizeof(*r));
    snprintf(r->range, sizeof(r->range), "%s", range);
    r->result = result;
    r->dst_cid = df_xstrdup(dst);
    if (dl->reports_tail)
        dl->reports_tail->next = r;
    else
        dl->reports = r;
    dl->reports_tail = r;
}

static void free_reports(struct dfget_dl *dl)
{
    while (dl->reports) {
        struct report *r = dl->reports;
        dl->reports = r->next;
        free(r->dst_cid);
        free(r);
    }
    dl->reports_tail = NULL;
}

static void on_aux_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct aux *a = arg;
    struct dfget_dl *dl = a->dl;
    size_t len = 0;
    const char *body = err ? NULL : df_http_req_body(req, &len);
    DF_LOGD(MOD, "api call done: err=%d status=%ld body=%.80s", err, status, body ? body : "");
    if (a->prev)
        a->prev->next = a->next;
    else
        a->dl->aux = a->next;
    if (a->next)
        a->next->prev = a->prev;
    free(a);
    if (dl->is_draining && !dl->aux) /* the last piece/suc is in: report success now */
        event_active(dl->done_ev, 0, 0);
}

void dfget_dl__aux_get(struct dfget_dl *dl, char *url)
{
    struct aux *a = df_xcalloc(1, sizeof(*a));
    struct df_http_opts o = {.url = url, .timeout_ms = 5000, .max_body = 64 << 10};
    a->dl = dl;
    a->req = df_http_req_start(dl->http, &o, NULL, NULL, on_aux_done, a, NULL);
    free(url);
    if (!a->req) {
        free(a);
        return;
    }
    a->next = dl->aux;
    if (dl->aux)
        dl->aux->prev = a;
    dl->aux = a;
}

/* /peer/piece/suc: the piece is in our file, so our uploader can serve it from now on. */
void dfget_dl__suc(struct dfget_dl *dl, const char *dst_cid, const char *range)
{
    dfget_dl__aux_get(dl, dfget_msg_suc_url(dl->base_url, dl->task_id, dl->cid, dst_cid, range));
}

void dfget_dl__kick(struct dfget_dl *dl)
{
    if (dl->pull || !dl->is_running || dl->has_600)
        return;
    if (dl->fail_streak >= 2) {
        unsigned sh = DF_MIN(dl->fail_streak - 2, 5u);
        int ms = DF_MIN(BACKOFF_MIN_MS << sh, BACKOFF_MAX_MS);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(dl->wait_ev, &tv);
        return;
    }
    evtimer_del(dl->wait_ev); /* a finished piece cuts the 602 back-off short */
    dfget_dl__pull_next(dl);
}

/* ---- the pull loop ---------------------------------------------------------------------- */

static void cancel_all(struct dfget_dl *dl)
{
    dfget_dl__pieces_cancel(dl);
    if (dl->pull) {
        df_http_req_cancel(dl->pull);
        dl->pull = NULL;
    }
    evtimer_del(dl->wait_ev);
    evtimer_del(dl->rate_ev);
    evtimer_del(dl->speed_ev);
    free_reports(dl);
}

static void on_done_ev(evutil_socket_t fd, short what, void *arg)
{
    struct dfget_dl *dl = arg;
    if (!dl->is_draining && !dl->is_done_pending)
        return;
    dl->is_draining = 0;
    dl->is_done_pending = 0;
    evtimer_del(dl->wait_ev);
    dl->cb(&dl->res, dl->cb_arg);
}

/* DRAIN_MS: how long a finished download waits for its last piece/suc reports, so the
 * supernode knows this peer holds every piece (matters once peers upload). */
#define DRAIN_MS 2000

void dfget_dl__finish(struct dfget_dl *dl, enum dfget_dl_status st, int err, const char *fmt, ...)
{
    if (!dl->is_running)
        return;
    dl->is_running = 0;
    cancel_all(dl);
    dl->res.status = st;
    dl->res.err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dl->res.msg, sizeof(dl->res.msg), fmt, ap);
    va_end(ap);
    if (st != DFGET_DL_OK)
        DF_LOGW(MOD, "%s", dl->res.msg);
    if (st == DFGET_DL_OK && dl->aux) {
        dl->is_draining = 1;
        struct timeval tv = {DRAIN_MS / 1000, (DRAIN_MS % 1000) * 1000};
        evtimer_add(dl->wait_ev, &tv); /* wait_ev fires on_wait_timer → see there */
        return;
    }
    dl->is_done_pending = 1;
    event_active(dl->done_ev, 0, 0); /* never call back from inside our own callers */
}

static void on_writer_finish(int err, const char *md5_hex, const char *sha_hex, void *arg)
{
    struct dfget_dl *dl = arg;
    if (!dl->is_running)
        return;
    if (err == DF_EPROTO) {
        dfget_dl__finish(dl, DFGET_DL_MIGRATE, err, "supernode %s reported the task finished but pieces "
                  "are missing", dl->node_hp);
        return;
    }
    if (err < 0) {
        dfget_dl__finish(dl, DFGET_DL_FAIL, err, "cannot write the download file: %s", df_strerror(err));
        return;
    }
    snprintf(dl->res.got_md5, sizeof(dl->res.got_md5), "%s", md5_hex);
    snprintf(dl->res.got_sha256, sizeof(dl->res.got_sha256), "%s", sha_hex);
    dl->res.file_length = dl->file_length;
    dfget_dl__finish(dl, DFGET_DL_OK, 0, "ok");
}

static void handle_finish(struct dfget_dl *dl, const struct dfget_pull_reply *rep)
{
    dl->has_600 = 1;
    snprintf(dl->res.want_md5, sizeof(dl->res.want_md5), "%s", rep->md5);
    snprintf(dl->res.want_sha256, sizeof(dl->res.want_sha256), "%s", rep->sha256);
    uint32_t n;
    if (rep->file_length >= 0) { /* wrapped length W: n = ceil(W / P), L = W - 5n */
        uint64_t w = (uint64_t)rep->file_length;
        n = (uint32_t)((w + dl->piece_size - 1) / dl->piece_size);
        if (n == 0 || w < (uint64_t)n * DF_PIECE_WRAP) {
            dfget_dl__finish(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s sent an invalid fileLength "
                      "%lld", dl->node_hp, (long long)rep->file_length);
            return;
        }
        int64_t len = (int64_t)(w - (uint64_t)n * DF_PIECE_WRAP);
        if (dl->file_length >= 0 && len != dl->file_length) {
            dfget_dl__finish(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s finished with length %lld, "
                      "registered %lld", dl->node_hp, (long long)len, (long long)dl->file_length);
            return;
        }
        dl->file_length = len;
    } else if (dl->file_length >= 0) {
        n = df_proto_piece_count(dl->file_length, dl->piece_size);
    } else {
        int64_t first_gap = df_bitmap_next_clear(&dl->have, 0);
        n = first_gap < 0 ? dl->have.nbits : (uint32_t)first_gap;
        dl->file_length = -1; /* unknown: trust the contiguous prefix */
    }
    /* Whatever is still downloading is redundant now; the writer checks [0, n) is complete. */
    dfget_dl__pieces_cancel(dl);
    evtimer_del(dl->speed_ev);
    if (dl->file_length < 0) {
        uint64_t total = dl->bytes_sn + dl->bytes_peer;
        dl->file_length = (int64_t)total;
    }
    DF_LOGI(MOD, "task %s finished at %s: %u pieces, length %lld; transfers paused %u times "
            "for the writer; %u reports folded", dl->task_id, dl->node_hp, n,
            (long long)dl->file_length, dl->n_writer_pauses, dl->n_folded);
    if (!rep->sha256[0] && rep->md5[0] && !dl->is_want_md5) {
        /* Pieces carried pieceSha256 but the finish has only an md5: hash the file again. */
        dl->is_want_md5 = 1;
        dfget_writer_want(dl->writer, 1, dl->is_want_sha);
    }
    dfget_writer_finish(dl->writer, n, on_writer_finish, dl);
}

static void schedule_wait(struct dfget_dl *dl)
{
    dl->backoff_ms = dl->backoff_ms ? DF_MIN(dl->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
    struct timeval tv = {dl->backoff_ms / 1000, (dl->backoff_ms % 1000) * 1000};
    evtimer_add(dl->wait_ev, &tv);
}

static void on_pull_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct dfget_dl *dl = arg;
    dl->pull = NULL;
    if (err < 0) {
        const char *et = df_http_req_errtext(req);
        dfget_dl__finish(dl, DFGET_DL_MIGRATE, err, "supernode %s: /peer/task failed: %s", dl->node_hp,
                  et && *et ? et : df_strerror(err));
        return;
    }
    size_t len;
    const char *body = df_http_req_body(req, &len);
    /* the supernode renews our piece token while we pull */
    const char *tok = df_http_req_header(req, DF_TOKEN_HEADER);
    if (tok && strlen(tok) < sizeof(dl->piece_token) && !strpbrk(tok, " \t\r\n:"))
        snprintf(dl->piece_token, sizeof(dl->piece_token), "%s", tok);
    if (status != 200) {
        dfget_dl__finish(dl, DFGET_DL_MIGRATE, DF_EHTTP, "supernode %s: /peer/task answered HTTP %ld: "
                  "%.120s", dl->node_hp, status, body ? body : "");
        return;
    }
    struct dfget_pull_reply rep;
    char perr[DF_ERR_LEN];
    if (dfget_msg_parse_pull(body ? body : "", body ? len : 0, &rep, perr) < 0) {
        dfget_dl__finish(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s: bad /peer/task reply: %s",
                  dl->node_hp, perr);
        return;
    }
    switch (rep.code) {
    case DF_CODE_PEER_CONTINUE:
        dl->backoff_ms = 0;
        for (size_t i = 0; i < rep.ntasks; i++) {
            struct dfget_piece_task *t = &rep.tasks[i];
            if (t->piece_size != dl->piece_size) {
                dfget_dl__finish(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s: piece size %u differs "
                          "from the registered %u", dl->node_hp, t->piece_size, dl->piece_size);
                goto out;
            }
            if (df_bitmap_test(&dl->have, t->piece_num)) { /* after a migration */
                dfget_dl__queue_report(dl, t->range, DF_RESULT_SEMISUC, t->cid);
                dfget_dl__suc(dl, t->cid, t->range);
                continue;
            }
            if (df_bitmap_test(&dl->busy, t->piece_num) || dl->npieces >= DFGET_DL_MAX_PIECES)
                continue;
            int rc = dfget_dl__piece_start(dl, t);
            if (rc < 0) {
                dfget_dl__finish(dl, DFGET_DL_MIGRATE, rc, "supernode %s: cannot fetch piece %u: %s",
                          dl->node_hp, t->piece_num, df_strerror(rc));
                goto out;
            }
        }
        if (dl->reports)
            dfget_dl__pull_next(dl);
        else if (dl->npieces == 0)
            schedule_wait(dl); /* nothing running here although the node says "busy" */
        break;
    case DF_CODE_PEER_WAIT:
    case DF_CODE_PEER_LIMITED:
        if (dl->reports) {
            dfget_dl__pull_next(dl);
        } else if (rep.code == DF_CODE_PEER_WAIT && df_now_ms() - dl->pull_sent_ms >= HELD_602_MS) {
            dl->backoff_ms = 0;
            dfget_dl__pull_next(dl);
        } else {
            schedule_wait(dl);
        }
        break;
    case DF_CODE_PEER_FINISH:
        handle_finish(dl, &rep);
        break;
    default:
        dfget_dl__finish(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s: /peer/task answered code %d%s%s",
                  dl->node_hp, rep.code, rep.msg[0] ? ": " : "", rep.msg);
        break;
    }
out:
    dfget_msg_pull_cleanup(&rep);
}

static void send_pull(struct dfget_dl *dl, const char *url)
{
    struct df_http_opts o = {.url = url, .timeout_ms = PULL_TIMEOUT_MS, .connect_timeout_ms = 2000,
                             .max_body = 1 << 20};
    int err = 0;
    DF_LOGD(MOD, "pull %s", url);
    dl->pull_sent_ms = df_now_ms();
    dl->pull = df_http_req_start(dl->http, &o, NULL, NULL, on_pull_done, dl, &err);
    if (!dl->pull)
        dfget_dl__finish(dl, DFGET_DL_MIGRATE, err, "supernode %s: cannot send /peer/task: %s",
                  dl->node_hp, df_strerror(err));
}

/* Sends the next report (or the first 700 pull). Without a report, repeats the last pull
 * (what Dragonfly does while waiting). */
void dfget_dl__pull_next(struct dfget_dl *dl)
{
    if (dl->pull || !dl->is_running || dl->has_600)
        return;
    char *url;
    if (!dl->is_started) {
        dl->is_started = 1;
        url = dfget_msg_pull_url(dl->base_url, dl->cid, "", "", DF_RESULT_INVALID,
                                 DF_TASK_STARTED, dl->task_id);
    } else if (dl->reports) {
        /* Fold successes: their /peer/piece/suc (sent with each) already closed them at the
         * supernode, so only the newest needs the round trip (Dragonfly's dfget folds them
         * too). One pull at a time at a 30-60 ms RTT through loaded links carried ~15
         * reports/s, fewer than a host finishes at 200 Mbit/s with 1 MiB pieces, and every
         * finished piece's slot waited in that queue. Failures are never folded. */
        while (dl->reports->next && (dl->reports->result == DF_RESULT_SEMISUC ||
                                     dl->reports->result == DF_RESULT_SUCCESS)) {
            struct report *f = dl->reports;
            dl->reports = f->next;
            free(f->dst_cid);
            free(f);
            dl->n_folded++;
        }
        struct report *r = dl->reports;
        dl->reports = r->next;
        if (!dl->reports)
            dl->reports_tail = NULL;
        url = dfget_msg_pull_url(dl->base_url, dl->cid, r->dst_cid, r->range, r->result,
                                 DF_TASK_RUNNING, dl->task_id);
        free(r->dst_cid);
        free(r);
    } else {
        url = df_xstrdup(dl->last_pull_url);
    }
    free(dl->last_pull_url);
    dl->last_pull_url = url;
    send_pull(dl, url);
}

static void on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dfget_dl *dl = arg;
    if (dl->is_draining) { /* piece/suc calls took too long: report success anyway */
        event_active(dl->done_ev, 0, 0);
        return;
    }
    dfget_dl__pull_next(dl);
}

static void on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
    dfget_dl__unpause_all(arg);
}

static void on_speed_timer(evutil_socket_t fd, short what, void *arg)
{
    dfget_dl__check_speed(arg);
}

/* ---- public ----------------------------------------------------------------------------- */

struct dfget_dl *dfget_dl_new(struct event_base *base, struct df_http_client *http,
                              struct dfget_writer *writer, const struct dfget_config *cfg,
                              const char *cid, struct df_ratelimit *rl, dfget_dl_done_cb cb,
                              void *arg)
{
    struct dfget_dl *dl = df_xcalloc(1, sizeof(*dl));
    char err[DF_ERR_LEN];
    dl->phash = dfget_phash_new(base, err);
    if (!dl->phash) {
        DF_LOGE(MOD, "cannot start the piece-digest thread: %s", err);
        free(dl);
        return NULL;
    }
    dl->base = base;
    dl->http = http;
    dl->writer = writer;
    dl->cfg = cfg;
    dl->cid = cid;
    dl->rl = rl;
    dl->cb = cb;
    dl->cb_arg = arg;
    dl->file_length = -1;
    dl->short_piece = -1;
    dl->wait_ev = evtimer_new(base, on_wait_timer, dl);
    dl->rate_ev = evtimer_new(base, on_rate_timer, dl);
    dl->done_ev = event_new(base, -1, 0, on_done_ev, dl);
    dl->speed_ev = event_new(base, -1, EV_PERSIST, on_speed_timer, dl);
    df_bitmap_init(&dl->have, 0);
    df_bitmap_init(&dl->busy, 0);
    return dl;
}

void dfget_dl_stop(struct dfget_dl *dl)
{
    dl->is_running = 0;
    dl->is_draining = 0;
    dl->is_done_pending = 0;
    cancel_all(dl);
    while (dl->aux) {
        struct aux *a = dl->aux;
        dl->aux = a->next;
        df_http_req_cancel(a->req);
        free(a);
    }
    event_del(dl->done_ev);
}

void dfget_dl_free(struct dfget_dl *dl)
{
    if (!dl)
        return;
    dfget_dl_stop(dl);
    event_free(dl->wait_ev);
    event_free(dl->rate_ev);
    event_free(dl->done_ev);
    event_free(dl->speed_ev);
    dfget_phash_free(dl->phash); /* every stream was cancelled by the stop */
    df_bitmap_cleanup(&dl->have);
    df_bitmap_cleanup(&dl->busy);
    free(dl->base_url);
    free(dl->last_pull_url);
    free(dl);
}

void dfget_dl_start(struct dfget_dl *dl, const struct dfget_node *node,
                    const struct dfget_reg_reply *reg)
{
    DF_ASSERT(!dl->is_running);
    int is_same = dl->piece_size == reg->piece_size && dl->file_length == reg->file_length &&
                  strcmp(dl->task_id, reg->task_id) == 0 && reg->file_length >= 0;
    free(dl->base_url);
    dl->base_url = dfget_msg_base_url(node->host, node->port);
    dfget_config_hostport(node->host, node->port, dl->node_hp, sizeof(dl->node_hp));
    memcpy(dl->task_id, reg->task_id, sizeof(dl->task_id));
    snprintf(dl->piece_token, sizeof(dl->piece_token), "%s", reg->piece_token);
    if (!is_same) { /* a different piece layout: start over (spec §6.1, migration) */
        dl->gen++;
        dl->piece_size = reg->piece_size;
        dl->file_length = reg->file_length;
        df_bitmap_clear_all(&dl->have);
        df_bitmap_clear_all(&dl->busy); /* commits still queued belong to the old gen */
        dl->bytes_sn = dl->bytes_peer = 0;
        dl->short_piece = -1;
        dl->short_len = 0;
        dl->is_want_set = 0;
        dl->is_want_md5 = dl->cfg->md5 != NULL;
        dl->is_want_sha = 0;
        dfget_writer_reset(dl->writer, dl->piece_size, dl->is_want_md5, 0,
                           reg->file_length > 0 ? reg->file_length : 0);
    }
    memset(&dl->res, 0, sizeof(dl->res));
    dl->is_running = 1;
    dl->is_started = 0;
    dl->has_600 = 0;
    dl->backoff_ms = 0;
    dl->fail_streak = dl->sn_fail_streak = 0;
    struct timeval tv = {1, 0};
    evtimer_add(dl->speed_ev, &tv);
    dfget_dl__pull_next(dl);
}

void dfget_dl_on_drain(struct dfget_dl *dl)
{
    if (dl)
        dfget_dl__unpause_all(dl);
}

uint64_t dfget_dl_bytes_progress(const struct dfget_dl *dl)
{
    uint64_t n = dl->bytes_sn + dl->bytes_peer;
    for (const struct piece *p = dl->pieces; p; p = p->next)
        n += p->frame.pos > DF_PIECE_HEAD ? DF_MIN(p->frame.pos - DF_PIECE_HEAD, p->frame.payload_len) : 0;
    return n;
}

void dfget_dl_set_progress_cb(struct dfget_dl *dl, dfget_dl_progress_cb cb, void *arg)
{
    dl->progress_cb = cb;
    dl->progress_arg = arg;
}

uint64_t dfget_dl_bytes_contiguous(const struct dfget_dl *dl)
{
    if (dl->piece_size <= DF_PIECE_WRAP)
        return 0;
    int64_t gap = df_bitmap_next_clear(&dl->have, 0);
    uint64_t n = gap < 0 ? dl->have.nbits : (uint64_t)gap;
    uint64_t full = dl->piece_size - DF_PIECE_WRAP;
    if (dl->short_piece >= 0 && (uint64_t)dl->short_piece < n)
        return (uint64_t)dl->short_piece * full + dl->short_len;
    uint64_t len = n * full;
    return dl->file_length >= 0 ? DF_MIN(len, (uint64_t)dl->file_length) : len;
}

uint64_t dfget_dl_bytes_supernode(const struct dfget_dl *dl) { return dl->bytes_sn; }
uint64_t dfget_dl_bytes_peers(const struct dfget_dl *dl) { return dl->bytes_peer; }
int64_t dfget_dl_file_length(const struct dfget_dl *dl) { return dl->file_length; }
const char *dfget_dl_task_id(const struct dfget_dl *dl) { return dl->task_id; }
const char *dfget_dl_node(const struct dfget_dl *dl) { return dl->node_hp; }
