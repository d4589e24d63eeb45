/* P2P download loop: one pull request to the supernode at a time, one report per pull, any
 * number of piece downloads the supernode hands out (it caps them at 4). Pieces are verified
 * while they stream (digest of the wrapped bytes + frame check) and their payload goes to the
 * writer thread in 256 KiB chunks; a piece counts once its digest matched and the writer
 * committed it. Decisions about failing over belong to the caller (dfget_run). */
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
#include "df_ratelimit.h"
#include "df_util.h"
#include "dfget_frame.h"
#include "dfget_writer.h"

#define MOD "dl"
#define PULL_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1600
#define SN_CID_PREFIX "cdnnode:"

struct piece {
    struct dfget_dl *dl;
    struct piece *next;
    struct dfget_piece_task task;
    struct df_http_req *req;
    struct dfget_frame frame;
    struct df_digest *digest;   /* over the wrapped bytes; NULL = no digest given */
    unsigned char *buf;         /* DFGET_DL_CHUNK bytes being filled */
    size_t buf_len;
    uint64_t buf_pos;           /* payload offset of buf[0] */
    int is_paused;
    unsigned unpause_round;     /* last unpause_all() round that resumed this piece */
    long status;                /* HTTP status */
};

struct report {
    struct report *next;
    char range[48];
    int result;
    char *dst_cid;
};

struct aux { /* fire-and-forget API calls (piece/suc, piece/error) */
    struct aux *next, *prev;
    struct dfget_dl *dl;
    struct df_http_req *req;
};

struct dfget_dl {
    struct event_base *base;
    struct df_http_client *http;
    struct dfget_writer *writer;
    const struct dfget_config *cfg;
    const char *cid;
    struct df_ratelimit *rl;
    dfget_dl_done_cb cb;
    void *cb_arg;

    /* task, from the current registration */
    char *base_url;
    char node_hp[300];
    char task_id[DF_TASKID_LEN + 1];
    uint32_t piece_size;
    int64_t file_length;         /* origin length, -1 unknown */
    uint32_t gen;                /* bumped on reset; stale writer callbacks are ignored */
    int is_running;
    int is_started;              /* first 700 pull sent for this registration */
    int is_want_set;             /* whole-file digests chosen */
    int is_want_md5, is_want_sha; /* whole-file digests the writer computes */
    unsigned unpause_round;

    struct df_bitmap have;       /* committed pieces */
    struct df_bitmap busy;       /* downloading or waiting for the writer */
    struct df_bitmap from_sn;    /* committed piece came from the supernode */
    uint64_t bytes_sn, bytes_peer;

    struct piece *pieces;        /* downloads in flight */
    int npieces;
    struct report *reports, *reports_tail;
    struct aux *aux;

    struct df_http_req *pull;
    char *last_pull_url;
    int backoff_ms;
    struct event *wait_ev;       /* 602 back-off */
    struct event *rate_ev;       /* rate-limit unpause */
    struct event *done_ev;       /* deferred done callback */
    int has_600;
    int is_draining;             /* OK reached; waiting (bounded) for piece/suc calls */
    int is_done_pending;         /* done_ev will deliver res */
    struct dfget_dl_result res;
};

static void pull_next(struct dfget_dl *dl);
static void finish_dl(struct dfget_dl *dl, enum dfget_dl_status st, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- small helpers ---------------------------------------------------------------------- */

static void bitmap_grow(struct df_bitmap *b, uint32_t idx)
{
    if (idx >= b->nbits)
        df_bitmap_resize(b, DF_MAX(idx + 1, b->nbits * 2));
}

static int is_supernode_cid(const char *cid)
{
    return strncmp(cid, SN_CID_PREFIX, strlen(SN_CID_PREFIX)) == 0;
}

static void queue_report(struct dfget_dl *dl, const char *range, int result, const char *dst)
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

static void aux_get(struct dfget_dl *dl, const char *url)
{
    struct aux *a = df_xcalloc(1, sizeof(*a));
    struct df_http_opts o = {.url = url, .timeout_ms = 5000, .max_body = 64 << 10};
    a->dl = dl;
    a->req = df_http_req_start(dl->http, &o, NULL, NULL, on_aux_done, a, NULL);
    if (!a->req) {
        free(a);
        return;
    }
    a->next = dl->aux;
    if (dl->aux)
        dl->aux->prev = a;
    dl->aux = a;
}

/* ---- pieces ----------------------------------------------------------------------------- */

static void piece_free(struct piece *p)
{
    if (p->req)
        df_http_req_cancel(p->req);
    df_digest_free(p->digest);
    free(p->buf);
    dfget_msg_task_cleanup(&p->task);
    free(p);
}

static void piece_unlink(struct dfget_dl *dl, struct piece *p)
{
    for (struct piece **pp = &dl->pieces; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            dl->npieces--;
            return;
        }
    }
}

static void flush_buf(struct piece *p)
{
    if (!p->buf_len)
        return;
    dfget_writer_write(p->dl->writer, p->task.piece_num, p->buf_pos, p->buf, p->buf_len);
    p->buf_pos += p->buf_len;
    p->buf = NULL;
    p->buf_len = 0;
}

/* Unpausing may run curl callbacks synchronously (data, even completion, which frees pieces),
 * so rescan the list from its head after each unpause; `round` makes each piece unpaused at
 * most once per call even if it pauses itself again right away. */
static void unpause_all(struct dfget_dl *dl)
{
    dl->unpause_round++;
    for (;;) {
        struct piece *p = dl->pieces;
        while (p && !(p->is_paused && p->req && p->unpause_round != dl->unpause_round))
            p = p->next;
        if (!p)
            return;
        p->is_paused = 0;
        p->unpause_round = dl->unpause_round;
        df_http_req_unpause(p->req);
    }
}

static void on_rate_timer(evutil_socket_t fd, short what, void *arg) { unpause_all(arg); }

static int on_piece_headers(struct df_http_req *req, long status, void *arg)
{
    struct piece *p = arg;
    p->status = status;
    if (status != 206)
        return DF_EHTTP;
    int64_t cl = df_http_req_content_length(req);
    if (cl > (int64_t)p->task.piece_size)
        return DF_EPROTO;
    if (cl >= 0 && p->frame.expect_payload >= 0 && cl != p->frame.expect_payload + DF_PIECE_WRAP)
        return DF_EPROTO;
    return 0;
}

static int on_piece_data(struct df_http_req *req, const void *data, size_t len, void *arg)
{
    struct piece *p = arg;
    struct dfget_dl *dl = p->dl;
    if (dfget_writer_queued(dl->writer) > DFGET_WRITER_HIGH_WATER) {
        p->is_paused = 1; /* resumed by on_writer_drain */
        return DF_AGAIN;
    }
    if (dl->rl && dl->rl->rate_bps) {
        int64_t now = df_now_us();
        int64_t wait = df_ratelimit_wait_us(dl->rl, now, 1);
        if (wait > 0) {
            p->is_paused = 1;
            struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
            evtimer_add(dl->rate_ev, &tv);
            return DF_AGAIN;
        }
        (void)df_ratelimit_take(dl->rl, now, len);
    }
    if (p->digest)
        df_digest_update(p->digest, data, len);
    size_t off, plen;
    uint64_t ppos;
    if (dfget_frame_feed(&p->frame, data, len, &off, &plen, &ppos) < 0)
        return DF_EPROTO;
    const unsigned char *src = (const unsigned char *)data + off;
    while (plen > 0) {
        if (!p->buf) {
            p->buf = df_xmalloc(DFGET_DL_CHUNK);
            p->buf_len = 0;
            p->buf_pos = ppos;
        }
        size_t n = DF_MIN(plen, DFGET_DL_CHUNK - p->buf_len);
        memcpy(p->buf + p->buf_len, src, n);
        p->buf_len += n;
        src += n;
        plen -= n;
        ppos += n;
        if (p->buf_len == DFGET_DL_CHUNK)
            flush_buf(p);
    }
    return 0;
}

static void on_commit(int err, uint64_t token, void *arg)
{
    struct dfget_dl *dl = arg;
    uint32_t piece = (uint32_t)(token & 0xffffffffu);
    if ((uint32_t)(token >> 32) != dl->gen || !dl->is_running)
        return;
    if (err < 0) {
        finish_dl(dl, DFGET_DL_FAIL, err, "cannot write the download file: %s", df_strerror(err));
        return;
    }
    DF_LOGD(MOD, "piece %u committed", piece);
}

/* Digest check and accounting of a fully received piece. */
static void piece_complete(struct dfget_dl *dl, struct piece *p)
{
    struct dfget_piece_task *t = &p->task;
    char got[DF_DIGEST_HEX_MAX] = "";
    const char *want = t->sha256[0] ? t->sha256 : t->md5;
    if (p->digest) {
        df_digest_final_hex(p->digest, got);
        if (!df_digest_hex_eq(got, want)) {
            DF_LOGE(MOD, "piece digest mismatch: task %s piece %u range %s from peer %s (%s:%u): "
                    "got %s want %s", dl->task_id, t->piece_num, t->range, t->cid, t->peer_ip,
                    t->peer_port, got, want);
            char *url = dfget_msg_error_url(dl->base_url, "FILE_MD5_NOT_MATCH", dl->cid, t->cid,
                                            t->peer_ip, dl->task_id, t->range,
                                            t->sha256[0] ? "" : got, t->md5_raw);
            aux_get(dl, url);
            free(url);
            goto failed;
        }
    }
    flush_buf(p);
    uint64_t plen = p->frame.payload_len;
    dfget_writer_commit(dl->writer, t->piece_num, plen, on_commit,
                        ((uint64_t)dl->gen << 32) | t->piece_num, dl);
    bitmap_grow(&dl->have, t->piece_num);
    bitmap_grow(&dl->from_sn, t->piece_num);
    df_bitmap_set(&dl->have, t->piece_num);
    if (is_supernode_cid(t->cid)) {
        df_bitmap_set(&dl->from_sn, t->piece_num);
        dl->bytes_sn += plen;
    } else {
        dl->bytes_peer += plen;
    }
    queue_report(dl, t->range, DF_RESULT_SEMISUC, t->cid);
    /* piece/suc: the write is queued before it and the writer runs in order; the uploader
     * (next issue) serves from the same file, so announcing now is safe. */
    char *url = dfget_msg_suc_url(dl->base_url, dl->task_id, dl->cid, t->cid, t->range);
    aux_get(dl, url);
    free(url);
    return;
failed:
    dfget_writer_abort(dl->writer, t->piece_num);
    queue_report(dl, t->range, DF_RESULT_FAILED, t->cid);
}

static void on_piece_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct piece *p = arg;
    struct dfget_dl *dl = p->dl;
    struct dfget_piece_task *t = &p->task;
    p->req = NULL;
    piece_unlink(dl, p);
    df_bitmap_clear(&dl->busy, t->piece_num);
    if (err == 0 && status == 206 && dfget_frame_finish(&p->frame) == 0) {
        piece_complete(dl, p);
    } else {
        const char *et = df_http_req_errtext(req);
        DF_LOGW(MOD, "piece %u (%s) from peer %s (%s:%u) failed: %s%s%s (HTTP %ld)",
                t->piece_num, t->range, t->cid, t->peer_ip, t->peer_port,
                err ? df_strerror(err) : "truncated piece", et && *et ? ": " : "",
                et ? et : "", status);
        /* 404: the source lost the file; a bad frame from a 206 is corrupt data, reported
         * like a digest mismatch so a supernode can check its copy. */
        const char *etype = status == 404                         ? "FILE_NOT_EXIST"
                            : (err == DF_EPROTO && status == 206) ? "FILE_MD5_NOT_MATCH"
                                                                  : NULL;
        if (etype) {
            char *url = dfget_msg_error_url(dl->base_url, etype, dl->cid, t->cid, t->peer_ip,
                                            dl->task_id, t->range, "", t->md5_raw);
            aux_get(dl, url);
            free(url);
        }
        dfget_writer_abort(dl->writer, t->piece_num);
        queue_report(dl, t->range, DF_RESULT_FAILED, t->cid);
    }
    piece_free(p);
    if (!dl->pull && dl->is_running && !dl->has_600) {
        if (dl->wait_ev)
            evtimer_del(dl->wait_ev); /* a finished piece cuts the 602 back-off short */
        pull_next(dl);
    }
}

static int64_t expected_payload(const struct dfget_dl *dl, const struct dfget_piece_task *t)
{
    if (t->wrapped_len >= DF_PIECE_WRAP)
        return t->wrapped_len - DF_PIECE_WRAP;
    if (dl->file_length >= 0)
        return df_proto_piece_payload(dl->file_length, dl->piece_size, t->piece_num);
    return -1;
}

static int start_piece(struct dfget_dl *dl, const struct dfget_piece_task *t)
{
    struct piece *p = df_xcalloc(1, sizeof(*p));
    p->dl = dl;
    dfget_msg_task_copy(&p->task, t);
    int64_t expect = expected_payload(dl, t);
    if (dl->file_length >= 0 && t->piece_num >= df_proto_piece_count(dl->file_length, dl->piece_size)) {
        piece_free(p);
        return DF_EPROTO;
    }
    dfget_frame_init(&p->frame, dl->piece_size, expect);
    if (t->sha256[0])
        p->digest = df_digest_new(DF_DIGEST_SHA256);
    else if (t->md5[0])
        p->digest = df_digest_new(DF_DIGEST_MD5);
    if (!dl->is_want_set) { /* the first piece shows which whole-file digest the node gives */
        dl->is_want_set = 1;
        dl->is_want_md5 = !t->sha256[0] || dl->cfg->md5 != NULL;
        dl->is_want_sha = t->sha256[0] != 0;
        dfget_writer_want(dl->writer, dl->is_want_md5, dl->is_want_sha);
    }
    char *url = dfget_msg_piece_url(t);
    char range_hdr[80], num_hdr[48], size_hdr[48], ua[64];
    snprintf(range_hdr, sizeof(range_hdr), "Range: bytes=%s", t->range);
    snprintf(num_hdr, sizeof(num_hdr), "pieceNum: %u", t->piece_num);
    snprintf(size_hdr, sizeof(size_hdr), "pieceSize: %u", t->piece_size);
    snprintf(ua, sizeof(ua), "User-Agent: dfget/%s", DF_VERSION);
    const char *hdrs[] = {range_hdr, num_hdr, size_hdr, ua, NULL};
    struct df_http_opts o = {
        .url = url,
        .headers = hdrs,
        .timeout_ms = (int64_t)((uint64_t)dl->piece_size * 1000 / dl->cfg->min_rate_bps) + 10000,
        .connect_timeout_ms = 3000,
        .low_speed_window_ms = 30000,
    };
    int err = 0;
    p->req = df_http_req_start(dl->http, &o, on_piece_headers, on_piece_data, on_piece_done, p, &err);
    free(url);
    if (!p->req) {
        piece_free(p);
        return err ? err : DF_EPROTO;
    }
    bitmap_grow(&dl->busy, t->piece_num);
    df_bitmap_set(&dl->busy, t->piece_num);
    p->next = dl->pieces;
    dl->pieces = p;
    dl->npieces++;
    DF_LOGD(MOD, "piece %u (%s) from %s (%s:%u%s)", t->piece_num, t->range, t->cid, t->peer_ip,
            t->peer_port, t->path);
    return 0;
}

/* ---- the pull loop ---------------------------------------------------------------------- */

static void cancel_all(struct dfget_dl *dl)
{
    while (dl->pieces) {
        struct piece *p = dl->pieces;
        dl->pieces = p->next;
        dfget_writer_abort(dl->writer, p->task.piece_num);
        df_bitmap_clear(&dl->busy, p->task.piece_num);
        piece_free(p);
    }
    dl->npieces = 0;
    if (dl->pull) {
        df_http_req_cancel(dl->pull);
        dl->pull = NULL;
    }
    evtimer_del(dl->wait_ev);
    evtimer_del(dl->rate_ev);
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

static void finish_dl(struct dfget_dl *dl, enum dfget_dl_status st, int err, const char *fmt, ...)
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
        finish_dl(dl, DFGET_DL_MIGRATE, err, "supernode %s reported the task finished but pieces "
                  "are missing", dl->node_hp);
        return;
    }
    if (err < 0) {
        finish_dl(dl, DFGET_DL_FAIL, err, "cannot write the download file: %s", df_strerror(err));
        return;
    }
    snprintf(dl->res.got_md5, sizeof(dl->res.got_md5), "%s", md5_hex);
    snprintf(dl->res.got_sha256, sizeof(dl->res.got_sha256), "%s", sha_hex);
    dl->res.file_length = dl->file_length;
    finish_dl(dl, DFGET_DL_OK, 0, "ok");
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
            finish_dl(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s sent an invalid fileLength "
                      "%lld", dl->node_hp, (long long)rep->file_length);
            return;
        }
        int64_t len = (int64_t)(w - (uint64_t)n * DF_PIECE_WRAP);
        if (dl->file_length >= 0 && len != dl->file_length) {
            finish_dl(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s finished with length %lld, "
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
    while (dl->pieces) {
        struct piece *p = dl->pieces;
        dl->pieces = p->next;
        dfget_writer_abort(dl->writer, p->task.piece_num);
        df_bitmap_clear(&dl->busy, p->task.piece_num);
        piece_free(p);
    }
    dl->npieces = 0;
    if (dl->file_length < 0) {
        uint64_t total = dl->bytes_sn + dl->bytes_peer;
        dl->file_length = (int64_t)total;
    }
    DF_LOGI(MOD, "task %s finished at %s: %u pieces, length %lld", dl->task_id, dl->node_hp, n,
            (long long)dl->file_length);
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
        finish_dl(dl, DFGET_DL_MIGRATE, err, "supernode %s: /peer/task failed: %s", dl->node_hp,
                  et && *et ? et : df_strerror(err));
        return;
    }
    size_t len;
    const char *body = df_http_req_body(req, &len);
    if (status != 200) {
        finish_dl(dl, DFGET_DL_MIGRATE, DF_EHTTP, "supernode %s: /peer/task answered HTTP %ld: "
                  "%.120s", dl->node_hp, status, body ? body : "");
        return;
    }
    struct dfget_pull_reply rep;
    char perr[DF_ERR_LEN];
    if (dfget_msg_parse_pull(body ? body : "", body ? len : 0, &rep, perr) < 0) {
        finish_dl(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s: bad /peer/task reply: %s",
                  dl->node_hp, perr);
        return;
    }
    switch (rep.code) {
    case DF_CODE_PEER_CONTINUE:
        dl->backoff_ms = 0;
        for (size_t i = 0; i < rep.ntasks; i++) {
            struct dfget_piece_task *t = &rep.tasks[i];
            if (t->piece_size != dl->piece_size) {
                finish_dl(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s: piece size %u differs "
                          "from the registered %u", dl->node_hp, t->piece_size, dl->piece_size);
                goto out;
            }
            if (df_bitmap_test(&dl->have, t->piece_num)) {
                queue_report(dl, t->range, DF_RESULT_SEMISUC, t->cid); /* after a migration */
                continue;
            }
            if (df_bitmap_test(&dl->busy, t->piece_num) || dl->npieces >= DFGET_DL_MAX_PIECES)
                continue;
            int rc = start_piece(dl, t);
            if (rc < 0) {
                finish_dl(dl, DFGET_DL_MIGRATE, rc, "supernode %s: cannot fetch piece %u: %s",
                          dl->node_hp, t->piece_num, df_strerror(rc));
                goto out;
            }
        }
        if (dl->reports)
            pull_next(dl);
        else if (dl->npieces == 0)
            schedule_wait(dl); /* nothing running here although the node says "busy" */
        break;
    case DF_CODE_PEER_WAIT:
    case DF_CODE_PEER_LIMITED:
        if (dl->reports)
            pull_next(dl);
        else
            schedule_wait(dl);
        break;
    case DF_CODE_PEER_FINISH:
        handle_finish(dl, &rep);
        break;
    default:
        finish_dl(dl, DFGET_DL_MIGRATE, DF_EPROTO, "supernode %s: /peer/task answered code %d%s%s",
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
    dl->pull = df_http_req_start(dl->http, &o, NULL, NULL, on_pull_done, dl, &err);
    if (!dl->pull)
        finish_dl(dl, DFGET_DL_MIGRATE, err, "supernode %s: cannot send /peer/task: %s",
                  dl->node_hp, df_strerror(err));
}

/* Sends the next report (or the first 700 pull). Without a report, repeats the last pull
 * (what Dragonfly does while waiting). */
static void pull_next(struct dfget_dl *dl)
{
    if (dl->pull || !dl->is_running || dl->has_600)
        return;
    char *url;
    if (!dl->is_started) {
        dl->is_started = 1;
        url = dfget_msg_pull_url(dl->base_url, dl->cid, "", "", DF_RESULT_INVALID,
                                 DF_TASK_STARTED, dl->task_id);
    } else if (dl->reports) {
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
    pull_next(dl);
}

/* ---- public ----------------------------------------------------------------------------- */

struct dfget_dl *dfget_dl_new(struct event_base *base, struct df_http_client *http,
                              struct dfget_writer *writer, const struct dfget_config *cfg,
                              const char *cid, struct df_ratelimit *rl, dfget_dl_done_cb cb,
                              void *arg)
{
    struct dfget_dl *dl = df_xcalloc(1, sizeof(*dl));
    dl->base = base;
    dl->http = http;
    dl->writer = writer;
    dl->cfg = cfg;
    dl->cid = cid;
    dl->rl = rl;
    dl->cb = cb;
    dl->cb_arg = arg;
    dl->file_length = -1;
    dl->wait_ev = evtimer_new(base, on_wait_timer, dl);
    dl->rate_ev = evtimer_new(base, on_rate_timer, dl);
    dl->done_ev = event_new(base, -1, 0, on_done_ev, dl);
    df_bitmap_init(&dl->have, 0);
    df_bitmap_init(&dl->busy, 0);
    df_bitmap_init(&dl->from_sn, 0);
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
    df_bitmap_cleanup(&dl->have);
    df_bitmap_cleanup(&dl->busy);
    df_bitmap_cleanup(&dl->from_sn);
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
    if (!is_same) { /* a different piece layout: start over (spec §6.1, migration) */
        dl->gen++;
        dl->piece_size = reg->piece_size;
        dl->file_length = reg->file_length;
        df_bitmap_clear_all(&dl->have);
        df_bitmap_clear_all(&dl->from_sn);
        dl->bytes_sn = dl->bytes_peer = 0;
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
    pull_next(dl);
}

void dfget_dl_on_drain(struct dfget_dl *dl)
{
    if (dl)
        unpause_all(dl);
}

uint64_t dfget_dl_bytes_progress(const struct dfget_dl *dl)
{
    uint64_t n = dl->bytes_sn + dl->bytes_peer;
    for (const struct piece *p = dl->pieces; p; p = p->next)
        n += p->frame.pos > DF_PIECE_HEAD ? DF_MIN(p->frame.pos - DF_PIECE_HEAD, p->frame.payload_len) : 0;
    return n;
}

uint64_t dfget_dl_bytes_supernode(const struct dfget_dl *dl) { return dl->bytes_sn; }
uint64_t dfget_dl_bytes_peers(const struct dfget_dl *dl) { return dl->bytes_peer; }
int64_t dfget_dl_file_length(const struct dfget_dl *dl) { return dl->file_length; }
