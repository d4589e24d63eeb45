/* SPDX-License-Identifier: Apache-2.0 */
/* One piece download from whichever source the supernode named (its download port or another
 * peer's uploader): GET with Range/pieceNum/pieceSize, streamed frame check and digest, payload
 * to the writer in DFGET_DL_CHUNK buffers, commit → announce. A slow, dead or lying source costs
 * one piece: it is reported (result 500, dstCid = the source; piece/error for 404 and corrupt
 * data) and the supernode schedules the piece elsewhere. */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_http_client.h"
#include "df_log.h"
#include "df_ratelimit.h"
#include "df_util.h"
#include "dfget_dl_int.h"
#include "dfget_writer.h"

#define MOD "dl"

static void piece_free(struct piece *p)
{
    if (p->req)
        df_http_req_cancel(p->req);
    if (p->ph)
        dfget_phash_cancel(p->ph);
    free(p->buf);
    dfget_msg_task_cleanup(&p->task);
    free(p);
}

/* Removes p from the list it is in (downloading or verifying). */
static void piece_unlink(struct dfget_dl *dl, struct piece *p)
{
    struct piece **head = p->is_verifying ? &dl->verifying : &dl->pieces;
    for (struct piece **pp = head; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            if (!p->is_verifying)
                dl->npieces--;
            return;
        }
    }
}

size_t dfget_dl__queued(const struct dfget_dl *dl)
{
    return dfget_writer_queued(dl->writer) + dfget_phash_queued(dl->phash);
}

/* A full chunk goes to the digest thread (which passes it on to the writer) or, for pieces
 * without a digest, straight to the writer. */
static void flush_buf(struct piece *p)
{
    if (!p->buf_len)
        return;
    if (p->ph)
        dfget_phash_data(p->ph, p->buf, p->buf_len, p->buf_pos);
    else
        dfget_writer_write(p->dl->writer, p->task.piece_num, p->buf_pos, p->buf, p->buf_len);
    p->buf_pos += p->buf_len;
    p->buf = NULL;
    p->buf_len = 0;
}

/* Unpausing may run curl callbacks synchronously (data, even completion, which frees pieces),
 * so rescan the list after each unpause; `round` makes each piece unpaused at most once per
 * call even if it pauses itself again right away. Lowest piece number first: under a rate
 * limit the first resumed piece takes the tokens, so this favours the in-order prefix (what a
 * streaming reader waits for, see dfget_dl_bytes_contiguous) and never starves older pieces
 * in favour of newer ones. */
void dfget_dl__unpause_all(struct dfget_dl *dl)
{
    dl->unpause_round++;
    for (;;) {
        struct piece *best = NULL;
        for (struct piece *p = dl->pieces; p; p = p->next)
            if (p->is_paused && p->req && p->unpause_round != dl->unpause_round &&
                (!best || p->task.piece_num < best->task.piece_num))
                best = p;
        if (!best)
            return;
        best->is_paused = 0;
        best->unpause_round = dl->unpause_round;
        df_http_req_unpause(best->req);
    }
}

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
    if (dfget_dl__queued(dl) > DFGET_WRITER_HIGH_WATER) {
        p->is_paused = p->was_paused = 1; /* resumed by on_writer_drain or on_ph_chunk */
        dl->is_bp_paused = 1;
        dl->n_writer_pauses++;
        return DF_AGAIN;
    }
    if (dl->rl && dl->rl->rate_bps) {
        int64_t now = df_now_us();
        int64_t wait = df_ratelimit_wait_us(dl->rl, now, 1);
        if (wait > 0) {
            p->is_paused = p->was_paused = 1;
            struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
            evtimer_add(dl->rate_ev, &tv);
            return DF_AGAIN;
        }
        (void)df_ratelimit_take(dl->rl, now, len);
    }
    size_t off, plen;
    uint64_t ppos, pos0 = p->frame.pos;
    if (dfget_frame_feed(&p->frame, data, len, &off, &plen, &ppos) < 0)
        return DF_EPROTO;
    if (p->ph && pos0 < DF_PIECE_HEAD && p->frame.pos >= DF_PIECE_HEAD)
        dfget_phash_meta(p->ph, p->frame.hdr, DF_PIECE_HEAD); /* the digest covers the frame */
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

/* Passed through the writer: the piece's identity for the announcement after the pwrite. */
struct commit_ctx {
    struct dfget_dl *dl;
    uint32_t gen, piece;
    uint64_t payload_len;
    char range[48];
    char *src_cid;
};

static void on_commit(int err, uint64_t token, void *arg)
{
    struct commit_ctx *c = arg;
    struct dfget_dl *dl = c->dl;
    (void)token;
    if (c->gen != dl->gen)
        goto out; /* the download was reset (other piece layout) since */
    df_bitmap_clear(&dl->busy, c->piece);
    if (err < 0) {
        dfget_dl__finish(dl, DFGET_DL_FAIL, err, "cannot write the download file: %s",
                         df_strerror(err));
        goto out;
    }
    dfget_dl__bitmap_grow(&dl->have, c->piece);
    df_bitmap_set(&dl->have, c->piece);
    dl->fail_streak = dl->sn_fail_streak = 0;
    if (dfget_dl__is_supernode_cid(c->src_cid))
        dl->bytes_sn += c->payload_len;
    else
        dl->bytes_peer += c->payload_len;
    if (c->payload_len < (uint64_t)dl->piece_size - DF_PIECE_WRAP &&
        (dl->short_piece < 0 || c->piece < dl->short_piece)) {
        dl->short_piece = c->piece; /* the last piece: ends the contiguous prefix */
        dl->short_len = c->payload_len;
    }
    DF_LOGD(MOD, "piece %u committed", c->piece);
    if (dl->progress_cb)
        dl->progress_cb(dl, dl->progress_arg);
    if (!dl->is_running || dl->has_600)
        goto out; /* migrating: the next node gets the result when it hands the piece out */
    dfget_dl__queue_report(dl, c->range, DF_RESULT_SEMISUC, c->src_cid);
    dfget_dl__suc(dl, c->src_cid, c->range);
    dfget_dl__kick(dl);
out:
    free(c->src_cid);
    free(c);
}

/* A piece failed: one log line naming task, piece and source; piece/error where Dragonfly
 * sends one; result 500 against the source so the supernode blacklists it for us. */
static void piece_failed(struct dfget_dl *dl, struct piece *p, const char *why, const char *etype,
                         const char *real_digest)
{
    struct dfget_piece_task *t = &p->task;
    DF_LOGW(MOD, "task %.16s... piece %u (%s) from peer %s (%s:%u) failed: %s", dl->task_id,
            t->piece_num, t->range, t->cid, t->peer_ip, t->peer_port, why);
    if (etype)
        dfget_dl__aux_get(dl, dfget_msg_error_url(dl->base_url, etype, dl->cid, t->cid,
                                                  t->peer_ip, dl->task_id, t->range,
                                                  real_digest ? real_digest : "", t->md5_raw));
    df_bitmap_clear(&dl->busy, t->piece_num);
    dfget_writer_abort(dl->writer, t->piece_num);
    dfget_dl__queue_report(dl, t->range, DF_RESULT_FAILED, t->cid);
    dl->fail_streak++;
    int is_sn_broken = dfget_dl__is_supernode_cid(t->cid) &&
                       ++dl->sn_fail_streak >= DFGET_DL_SN_FAIL_MAX;
    piece_unlink(dl, p);
    piece_free(p);
    if (is_sn_broken)
        dfget_dl__finish(dl, DFGET_DL_MIGRATE, DF_EHTTP, "supernode %s failed to serve %u of "
                         "its pieces in a row (last: %s)", dl->node_hp, dl->sn_fail_streak, why);
    else
        dfget_dl__kick(dl);
}

/* Hand-over of a verified piece: its commit (after its writes) announces it. */
static void piece_commit(struct dfget_dl *dl, struct piece *p)
{
    struct dfget_piece_task *t = &p->task;
    flush_buf(p);
    struct commit_ctx *c = df_xcalloc(1, sizeof(*c));
    c->dl = dl;
    c->gen = dl->gen;
    c->piece = t->piece_num;
    c->payload_len = p->frame.payload_len;
    snprintf(c->range, sizeof(c->range), "%s", t->range);
    c->src_cid = df_xstrdup(t->cid);
    dfget_writer_commit(dl->writer, t->piece_num, c->payload_len, on_commit, 0, c);
    piece_unlink(dl, p); /* busy stays set until the commit */
    piece_free(p);
}

/* A hashed chunk: on to the writer, in payload order (the digest thread is FIFO). */
static void on_ph_chunk(void *buf, size_t len, uint64_t payload_pos, void *arg)
{
    struct piece *p = arg;
    struct dfget_dl *dl = p->dl;
    dfget_writer_write(dl->writer, p->task.piece_num, payload_pos, buf, len);
    if (dl->is_bp_paused && dfget_dl__queued(dl) <= DFGET_WRITER_LOW_WATER) {
        dl->is_bp_paused = 0;
        dfget_dl__unpause_all(dl);
    }
}

/* The digest of a fully received piece: after its last chunk went to the writer. */
static void on_ph_final(const char *got, void *arg)
{
    struct piece *p = arg;
    struct dfget_dl *dl = p->dl;
    struct dfget_piece_task *t = &p->task;
    p->ph = NULL; /* the stream ends with this call */
    const char *want = t->sha256[0] ? t->sha256 : t->md5;
    if (!df_digest_hex_eq(got, want)) {
        char why[DF_ERR_LEN];
        snprintf(why, sizeof(why), "digest mismatch: got %s want %s", got, want);
        piece_failed(dl, p, why, "FILE_MD5_NOT_MATCH", t->sha256[0] ? "" : got);
        return;
    }
    piece_commit(dl, p);
}

/* Received in full with a valid frame: verify (asynchronously) or commit right away. */
static void piece_complete(struct dfget_dl *dl, struct piece *p)
{
    if (!p->ph) {
        piece_commit(dl, p);
        return;
    }
    flush_buf(p);
    const unsigned char tail = DF_PIECE_TAIL;
    dfget_phash_meta(p->ph, &tail, 1);
    dfget_phash_close(p->ph);
    piece_unlink(dl, p);
    p->is_verifying = 1;
    p->next = dl->verifying;
    dl->verifying = p;
}

static void on_piece_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct piece *p = arg;
    struct dfget_dl *dl = p->dl;
    p->req = NULL;
    if (err == 0 && status == 206 && dfget_frame_finish(&p->frame) == 0) {
        piece_complete(dl, p);
        return;
    }
    const char *et = df_http_req_errtext(req);
    char why[DF_ERR_LEN];
    if (err == DF_EHTTP && status > 0) /* curl's text would only say the write was refused */
        snprintf(why, sizeof(why), "answered HTTP %ld instead of 206", status);
    else
        snprintf(why, sizeof(why), "%s%s%s (HTTP %ld)", err ? df_strerror(err) : "truncated piece",
                 et && *et ? ": " : "", et ? et : "", status);
    /* 404: the source lost the file; a bad frame in a 206 is corrupt data, reported like a
     * digest mismatch so a supernode can check its copy. */
    const char *etype = status == 404                         ? "FILE_NOT_EXIST"
                        : (err == DF_EPROTO && status == 206) ? "FILE_MD5_NOT_MATCH"
                                                              : NULL;
    piece_failed(dl, p, why, etype, NULL);
}

void dfget_dl__check_speed(struct dfget_dl *dl)
{
    int64_t now = df_now_ms();
    uint64_t limit = DFGET_DL_LOW_SPEED_BPS;
    if (dl->rl && dl->rl->rate_bps) /* our own --locallimit must not look like a slow peer */
        limit = DF_MIN(limit, dl->rl->rate_bps / (2 * (uint64_t)DF_MAX(dl->npieces, 1)));
    struct piece *next;
    for (struct piece *p = dl->pieces; p; p = next) {
        next = p->next;
        if (now - p->win_start_ms < DFGET_DL_LOW_SPEED_WINDOW_MS)
            continue;
        uint64_t got = p->frame.pos - p->win_bytes;
        uint64_t bps = got * 1000 / (uint64_t)(now - p->win_start_ms);
        int is_slow = !p->was_paused && !p->is_paused && bps < limit;
        p->win_start_ms = now;
        p->win_bytes = p->frame.pos;
        p->was_paused = p->is_paused;
        if (is_slow) {
            char why[DF_ERR_LEN];
            snprintf(why, sizeof(why), "too slow: %llu B/s over %d s (limit %llu B/s)",
                     (unsigned long long)bps, DFGET_DL_LOW_SPEED_WINDOW_MS / 1000,
                     (unsigned long long)limit);
            df_http_req_cancel(p->req);
            p->req = NULL;
            piece_failed(dl, p, why, NULL, NULL);
            if (!dl->is_running)
                return; /* the report could not be sent: everything was cancelled */
            next = dl->pieces; /* rescan; the others' windows were reset or are still open */
        }
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

int dfget_dl__piece_start(struct dfget_dl *dl, const struct dfget_piece_task *t)
{
    if (dl->file_length >= 0 && t->piece_num >= df_proto_piece_count(dl->file_length, dl->piece_size))
        return DF_EPROTO;
    struct piece *p = df_xcalloc(1, sizeof(*p));
    p->dl = dl;
    dfget_msg_task_copy(&p->task, t);
    dfget_frame_init(&p->frame, dl->piece_size, expected_payload(dl, t));
    if (t->sha256[0] || t->md5[0])
        p->ph = dfget_phash_open(dl->phash, t->sha256[0] ? DF_DIGEST_SHA256 : DF_DIGEST_MD5,
                                 on_ph_chunk, on_ph_final, p);
    if (!dl->is_want_set) { /* the first piece shows which whole-file digest the node gives */
        dl->is_want_set = 1;
        /* SHA-256 pieces from the supernode prove every byte; hashing the whole file again
         * in order cost ~1.9 s after the last piece in bench/swarm (16 hosts, 512 MiB: the
         * in-order hash trails the rarest-first arrivals) and 1 CPU-s/GiB. md5-only pieces
         * (Dragonfly's supernode) and -m still get the whole-file check. */
        dl->is_want_md5 = !t->sha256[0] || dl->cfg->md5 != NULL;
        dl->is_want_sha = t->sha256[0] != 0 && dl->cfg->is_file_sha256;
        dfget_writer_want(dl->writer, dl->is_want_md5, dl->is_want_sha);
    }
    char *url = dfget_msg_piece_url(t);
    char range_hdr[80], num_hdr[48], size_hdr[48], ua[64], tok_hdr[DF_TOKEN_MAX + 40];
    snprintf(range_hdr, sizeof(range_hdr), "Range: bytes=%s", t->range);
    snprintf(num_hdr, sizeof(num_hdr), "pieceNum: %u", t->piece_num);
    snprintf(size_hdr, sizeof(size_hdr), "pieceSize: %u", t->piece_size);
    snprintf(ua, sizeof(ua), "User-Agent: dfget/%s", DF_VERSION);
    snprintf(tok_hdr, sizeof(tok_hdr), DF_TOKEN_HEADER ": %s", dl->piece_token);
    const char *hdrs[] = {range_hdr, num_hdr, size_hdr, ua, dl->piece_token[0] ? tok_hdr : NULL,
                          NULL};
    struct df_http_opts o = {
        .url = url,
        .headers = hdrs,
        /* spec §6.1 step 7: pieceSize / minRate + 10 s; the low-speed check acts sooner */
        .timeout_ms = (int64_t)((uint64_t)dl->piece_size * 1000 / dl->cfg->min_rate_bps) + 10000,
        .connect_timeout_ms = 3000,
    };
    int err = 0;
    p->req = df_http_req_start(dl->http, &o, on_piece_headers, on_piece_data, on_piece_done, p, &err);
    free(url);
    if (!p->req) {
        piece_free(p);
        return err ? err : DF_EPROTO;
    }
    p->start_ms = p->win_start_ms = df_now_ms();
    dfget_dl__bitmap_grow(&dl->busy, t->piece_num);
    df_bitmap_set(&dl->busy, t->piece_num);
    p->next = dl->pieces;
    dl->pieces = p;
    dl->npieces++;
    DF_LOGD(MOD, "piece %u (%s) from %s (%s:%u%s)", t->piece_num, t->range, t->cid, t->peer_ip,
            t->peer_port, t->path);
    return 0;
}

void dfget_dl__pieces_cancel(struct dfget_dl *dl)
{
    struct piece **lists[] = {&dl->pieces, &dl->verifying};
    for (size_t i = 0; i < 2; i++) {
        while (*lists[i]) {
            struct piece *p = *lists[i];
            *lists[i] = p->next;
            dfget_writer_abort(dl->writer, p->task.piece_num);
            df_bitmap_clear(&dl->busy, p->task.piece_num);
            piece_free(p);
        }
    }
    dl->npieces = 0;
    dl->is_bp_paused = 0;
}
