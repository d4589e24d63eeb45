/* SPDX-License-Identifier: Apache-2.0 */
/* Piece-frame stripper fed in random chunkings: the payload slices it reports must reassemble
 * the payload exactly, whatever the chunk boundaries; bad headers/tails/extra bytes/truncation
 * are rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "df_err.h"
#include "df_proto.h"
#include "dfget_frame.h"

#define P (4u << 20)

static unsigned char *make_frame(uint32_t payload, uint32_t piece_size, size_t *len)
{
    unsigned char *b = malloc(payload + 5);
    df_proto_frame_header(payload, piece_size, b);
    for (uint32_t i = 0; i < payload; i++)
        b[4 + i] = (unsigned char)(i * 131 + 7);
    b[4 + payload] = 0x7f;
    *len = payload + 5;
    return b;
}

/* Feeds `frame` in random chunks; returns the reassembled payload (malloc) or NULL on error. */
static unsigned char *feed_random(struct dfget_frame *f, const unsigned char *frame, size_t len,
                                  unsigned seed, int *rc_out)
{
    unsigned char *out = calloc(1, len + 1);
    size_t pos = 0;
    srand(seed);
    *rc_out = 0;
    while (pos < len) {
        size_t n = 1 + (size_t)rand() % (rand() % 4 == 0 ? 7 : 70000);
        if (n > len - pos)
            n = len - pos;
        size_t off, plen;
        uint64_t ppos;
        int rc = dfget_frame_feed(f, frame + pos, n, &off, &plen, &ppos);
        if (rc < 0) {
            *rc_out = rc;
            free(out);
            return NULL;
        }
        assert_true(off + plen <= n);
        if (plen)
            memcpy(out + ppos, frame + pos + off, plen);
        pos += n;
    }
    *rc_out = dfget_frame_finish(f);
    return out;
}

static void test_random_chunkings(void **state)
{
    const uint32_t sizes[] = {0, 1, 2, 250, 65536, P - 5};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t len;
        unsigned char *frame = make_frame(sizes[s], P, &len);
        for (unsigned seed = 1; seed <= 20; seed++) {
            struct dfget_frame f;
            int rc;
            dfget_frame_init(&f, P, seed % 2 ? (int64_t)sizes[s] : -1);
            unsigned char *out = feed_random(&f, frame, len, seed, &rc);
            assert_non_null(out);
            assert_int_equal(rc, 0);
            if (sizes[s])
                assert_memory_equal(out, frame + 4, sizes[s]);
            assert_int_equal(f.payload_len, sizes[s]);
            assert_int_equal(dfget_frame_wrapped_len(&f), (int64_t)sizes[s] + 5);
            free(out);
        }
        free(frame);
    }
}

static void test_doc_example(void **state)
{
    const unsigned char a[] = {0x04, 0x00}, b[] = {0x00, 0x03, 'a'}, c[] = {'b', 'c', 0x7f};
    struct dfget_frame f;
    size_t off, plen;
    uint64_t ppos;
    dfget_frame_init(&f, P, 3);
    assert_int_equal(dfget_frame_wrapped_len(&f), -1);
    assert_int_equal(dfget_frame_feed(&f, a, 2, &off, &plen, &ppos), 0);
    assert_int_equal(plen, 0);
    assert_int_equal(dfget_frame_feed(&f, b, 3, &off, &plen, &ppos), 0);
    assert_int_equal(off, 2);
    assert_int_equal(plen, 1);
    assert_int_equal(ppos, 0);
    assert_int_equal(dfget_frame_finish(&f), DF_EPROTO); /* truncated so far */
    assert_int_equal(dfget_frame_feed(&f, c, 3, &off, &plen, &ppos), 0);
    assert_int_equal(off, 0);
    assert_int_equal(plen, 2);
    assert_int_equal(ppos, 1);
    assert_int_equal(dfget_frame_finish(&f), 0);
}

static int feed_all(struct dfget_frame *f, const unsigned char *b, size_t len)
{
    size_t off, plen;
    uint64_t ppos;
    int rc = dfget_frame_feed(f, b, len, &off, &plen, &ppos);
    return rc < 0 ? rc : dfget_frame_finish(f);
}

static void test_rejects(void **state)
{
    size_t len;
    unsigned char *frame = make_frame(100, P, &len);
    struct dfget_frame f;

    dfget_frame_init(&f, P, 100);
    assert_int_equal(feed_all(&f, frame, len), 0);

    dfget_frame_init(&f, P, 99); /* the task promised another length */
    assert_int_equal(feed_all(&f, frame, len), DF_EPROTO);

    dfget_frame_init(&f, 5u << 20, -1); /* header's piece size differs */
    assert_int_equal(feed_all(&f, frame, len), DF_EPROTO);

    frame[len - 1] = 0x7e; /* bad tail */
    dfget_frame_init(&f, P, -1);
    assert_int_equal(feed_all(&f, frame, len), DF_EPROTO);
    frame[len - 1] = 0x7f;

    dfget_frame_init(&f, P, -1); /* truncated */
    assert_int_equal(feed_all(&f, frame, len - 1), DF_EPROTO);

    unsigned char *longer = malloc(len + 1); /* extra byte after the tail, same chunk */
    memcpy(longer, frame, len);
    longer[len] = 0x7f;
    dfget_frame_init(&f, P, -1);
    assert_int_equal(feed_all(&f, longer, len + 1), DF_EPROTO);

    size_t off, plen; /* extra bytes in a later chunk */
    uint64_t ppos;
    dfget_frame_init(&f, P, -1);
    assert_int_equal(dfget_frame_feed(&f, frame, len, &off, &plen, &ppos), 0);
    assert_int_equal(dfget_frame_feed(&f, frame, 1, &off, &plen, &ppos), DF_EPROTO);
    free(longer);

    unsigned char big[5]; /* payload larger than the piece allows */
    df_proto_frame_header(P - 4, P, big);
    dfget_frame_init(&f, P, -1);
    assert_int_equal(dfget_frame_feed(&f, big, 4, &off, &plen, &ppos), DF_EPROTO);
    free(frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_chunkings),
        cmocka_unit_test(test_doc_example),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
