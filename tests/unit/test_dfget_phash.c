/* SPDX-License-Identifier: Apache-2.0 */
/* dfget_phash: the piece-digest thread. Several interleaved streams: every chunk comes back in
 * its stream's order, untouched, before that stream's digest, and the digest equals the one-shot
 * digest of header + payload + tail; a cancelled stream delivers nothing (its chunks are freed:
 * ASan checks the leaks); queued() accounts for the chunks in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "df_digest.h"
#include "dfget_phash.h"

#define NSTREAMS 4
#define PAYLOAD (300000u + 17u)

struct st {
    struct event_base *base;
    struct dfget_phash *h;
    unsigned char *data;   /* the payload */
    uint64_t next_pos;     /* expected payload_pos of the next chunk */
    int finals, is_cancelled;
    char hex[DF_DIGEST_HEX_MAX];
    int *open_streams;
};

static void on_chunk(void *buf, size_t len, uint64_t pos, void *arg)
{
    struct st *s = arg;
    assert_false(s->is_cancelled);
    assert_int_equal(s->finals, 0);
    assert_int_equal(pos, s->next_pos);
    assert_memory_equal(buf, s->data + pos, len);
    s->next_pos += len;
    free(buf);
}

static void on_final(const char *hex, void *arg)
{
    struct st *s = arg;
    assert_false(s->is_cancelled);
    s->finals++;
    snprintf(s->hex, sizeof(s->hex), "%s", hex);
    if (--*s->open_streams == 0)
        event_base_loopbreak(s->base);
}

static void test_streams(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    char err[DF_ERR_LEN];
    struct dfget_phash *h = dfget_phash_new(base, err);
    assert_non_null(h);
    struct st sts[NSTREAMS];
    struct dfget_phash_stream *ss[NSTREAMS];
    int open_streams = 0;
    const unsigned char hdr[4] = {1, 2, 3, 4}, tail = 0x7f;
    for (int i = 0; i < NSTREAMS; i++) {
        struct st *s = &sts[i];
        memset(s, 0, sizeof(*s));
        s->base = base;
        s->h = h;
        s->open_streams = &open_streams;
        s->data = malloc(PAYLOAD);
        for (size_t k = 0; k < PAYLOAD; k++)
            s->data[k] = (unsigned char)(k * (unsigned)(i + 3) + (unsigned)i);
        s->is_cancelled = i == 2;
        ss[i] = dfget_phash_open(h, i == 1 ? DF_DIGEST_MD5 : DF_DIGEST_SHA256, on_chunk, on_final, s);
        dfget_phash_meta(ss[i], hdr, sizeof(hdr));
        if (!s->is_cancelled)
            open_streams++;
    }
    /* interleave chunks of all streams, random sizes */
    uint64_t pos[NSTREAMS] = {0};
    size_t queued = 0;
    srand(7);
    for (int done = 0; done < NSTREAMS;) {
        done = 0;
        for (int i = 0; i < NSTREAMS; i++) {
            if (pos[i] == PAYLOAD) {
                done++;
                continue;
            }
            size_t n = 1 + (size_t)rand() % 70000;
            if (n > PAYLOAD - pos[i])
                n = PAYLOAD - pos[i];
            void *b = malloc(n);
            memcpy(b, sts[i].data + pos[i], n);
            dfget_phash_data(ss[i], b, n, pos[i]);
            queued += n;
            pos[i] += n;
            if (i == 2 && pos[i] > PAYLOAD / 2) { /* cancelled half-way, chunks still queued */
                dfget_phash_cancel(ss[i]);
                pos[i] = PAYLOAD;
            }
        }
    }
    assert_true(dfget_phash_queued(h) <= queued);
    for (int i = 0; i < NSTREAMS; i++) {
        if (i == 2)
            continue;
        dfget_phash_meta(ss[i], &tail, 1);
        dfget_phash_close(ss[i]);
    }
    event_base_dispatch(base);
    assert_int_equal(dfget_phash_queued(h), 0);
    for (int i = 0; i < NSTREAMS; i++) {
        struct st *s = &sts[i];
        if (i == 2) {
            assert_int_equal(s->finals, 0);
            free(s->data);
            continue;
        }
        assert_int_equal(s->finals, 1);
        assert_int_equal(s->next_pos, PAYLOAD);
        unsigned char *w = malloc(PAYLOAD + 5);
        memcpy(w, hdr, 4);
        memcpy(w + 4, s->data, PAYLOAD);
        w[PAYLOAD + 4] = tail;
        char want[DF_DIGEST_HEX_MAX];
        if (i == 1)
            df_md5_hex(w, PAYLOAD + 5, want);
        else
            df_sha256_hex(w, PAYLOAD + 5, want);
        assert_string_equal(s->hex, want);
        free(w);
        free(s->data);
    }
    dfget_phash_free(h);
    event_base_free(base);
}

/* Cancelled after close (digest pending) and never-closed streams at teardown: no callback. */
static void test_cancel_pending(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    char err[DF_ERR_LEN];
    struct dfget_phash *h = dfget_phash_new(base, err);
    struct st s;
    memset(&s, 0, sizeof(s));
    s.is_cancelled = 1; /* any callback fails the test */
    struct dfget_phash_stream *a = dfget_phash_open(h, DF_DIGEST_SHA256, on_chunk, on_final, &s);
    struct dfget_phash_stream *b = dfget_phash_open(h, DF_DIGEST_SHA256, on_chunk, on_final, &s);
    dfget_phash_data(a, calloc(1, 1000), 1000, 0);
    dfget_phash_close(a);
    dfget_phash_cancel(a); /* allowed until on_final was delivered */
    dfget_phash_data(b, calloc(1, 1000), 1000, 0);
    dfget_phash_cancel(b);
    dfget_phash_free(h); /* runs the queued jobs: nothing delivered, everything freed */
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_cancel_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
