/* SPDX-License-Identifier: Apache-2.0 */
/* Piece digest thread: every job hashes a slice of one stream's bytes on the worker; the done
 * callbacks (loop, in order) hand payload chunks on and deliver the final digest. A stream is
 * reference-counted by its queued jobs, so cancelling never races with the worker. */
#include "dfget_phash.h"

#include <stdlib.h>
#include <string.h>

#include "df_util.h"
#include "df_workpool.h"

struct dfget_phash {
    struct df_workpool *pool;
    size_t queued;              /* loop: payload bytes in jobs not yet done */
};

struct dfget_phash_stream {
    struct dfget_phash *h;
    struct df_digest *d;        /* worker: updated only by this stream's jobs (FIFO) */
    dfget_phash_chunk_cb on_chunk;
    dfget_phash_final_cb on_final;
    void *arg;
    int refs;                   /* loop: queued jobs */
    int is_cancelled;           /* loop */
};

enum ph_kind { PH_META, PH_DATA, PH_FINAL };

struct ph_job {
    struct dfget_phash_stream *s;
    enum ph_kind kind;
    void *buf;
    size_t len;
    uint64_t pos;
    char hex[DF_DIGEST_HEX_MAX];
};

static void on_work(void *arg)
{
    struct ph_job *j = arg;
    if (j->kind == PH_FINAL)
        df_digest_final_hex(j->s->d, j->hex);
    else
        df_digest_update(j->s->d, j->buf, j->len);
}

static void stream_unref(struct dfget_phash_stream *s, int n)
{
    s->refs -= n;
    if (s->refs > 0)
        return;
    df_digest_free(s->d);
    free(s);
}

static void on_done(void *arg)
{
    struct ph_job *j = arg;
    struct dfget_phash_stream *s = j->s;
    int drop = 1; /* this job's reference */
    if (j->kind == PH_DATA)
        s->h->queued -= j->len;
    if (s->is_cancelled) {
        free(j->buf);
    } else if (j->kind == PH_DATA) {
        s->on_chunk(j->buf, j->len, j->pos, s->arg);
    } else if (j->kind == PH_META) {
        free(j->buf);
    } else {
        s->is_cancelled = 1; /* delivered: nothing may follow */
        s->on_final(j->hex, s->arg);
        drop = 2; /* the caller's reference ends with the delivery */
    }
    stream_unref(s, drop);
    free(j);
}

static void submit(struct dfget_phash_stream *s, enum ph_kind kind, void *buf, size_t len,
                   uint64_t pos)
{
    struct ph_job *j = df_xcalloc(1, sizeof(*j));
    j->s = s;
    j->kind = kind;
    j->buf = buf;
    j->len = len;
    j->pos = pos;
    s->refs++;
    df_workpool_submit(s->h->pool, on_work, on_done, j);
}

struct dfget_phash *dfget_phash_new(struct event_base *base, char err[DF_ERR_LEN])
{
    struct dfget_phash *h = df_xcalloc(1, sizeof(*h));
    h->pool = df_workpool_new(base, 1, err, DF_ERR_LEN);
    if (!h->pool) {
        free(h);
        return NULL;
    }
    return h;
}

void dfget_phash_free(struct dfget_phash *h)
{
    if (!h)
        return;
    df_workpool_free(h->pool);
    free(h);
}

struct dfget_phash_stream *dfget_phash_open(struct dfget_phash *h, enum df_digest_alg alg,
                                            dfget_phash_chunk_cb on_chunk,
                                            dfget_phash_final_cb on_final, void *arg)
{
    struct dfget_phash_stream *s = df_xcalloc(1, sizeof(*s));
    s->h = h;
    s->d = df_digest_new(alg);
    s->on_chunk = on_chunk;
    s->on_final = on_final;
    s->arg = arg;
    s->refs = 1; /* the caller's: dropped by cancel() or when on_final was delivered */
    return s;
}

void dfget_phash_meta(struct dfget_phash_stream *s, const void *data, size_t len)
{
    void *b = df_xmalloc(len ? len : 1);
    memcpy(b, data, len);
    submit(s, PH_META, b, len, 0);
}

void dfget_phash_data(struct dfget_phash_stream *s, void *buf, size_t len, uint64_t payload_pos)
{
    s->h->queued += len;
    submit(s, PH_DATA, buf, len, payload_pos);
}

void dfget_phash_close(struct dfget_phash_stream *s)
{
    submit(s, PH_FINAL, NULL, 0, 0);
}

void dfget_phash_cancel(struct dfget_phash_stream *s)
{
    s->is_cancelled = 1;
    stream_unref(s, 1);
}

size_t dfget_phash_queued(const struct dfget_phash *h) { return h->queued; }
