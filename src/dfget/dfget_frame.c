/* SPDX-License-Identifier: Apache-2.0 */
/* Piece frame stripper: validates the 4-byte header and the 0x7F tail of a wrapped piece while
 * it streams in and tells the caller which bytes of each chunk are payload. It does not hash
 * (the digest covers the wrapped bytes and is the caller's business). */
#include "dfget_frame.h"

#include <string.h>

#include "df_err.h"
#include "df_proto.h"

void dfget_frame_init(struct dfget_frame *f, uint32_t piece_size, int64_t expect_payload)
{
    memset(f, 0, sizeof(*f));
    f->piece_size = piece_size;
    f->expect_payload = expect_payload;
}

int64_t dfget_frame_wrapped_len(const struct dfget_frame *f)
{
    return f->pos >= DF_PIECE_HEAD ? (int64_t)f->payload_len + DF_PIECE_WRAP : -1;
}

static int check_header(struct dfget_frame *f)
{
    uint32_t plen = df_proto_frame_payload_len(f->hdr);
    if (f->piece_size <= DF_PIECE_WRAP || plen > f->piece_size - DF_PIECE_WRAP)
        return DF_EPROTO;
    if (f->expect_payload >= 0 && (int64_t)plen != f->expect_payload)
        return DF_EPROTO;
    unsigned char want[4];
    df_proto_frame_header(plen, f->piece_size, want);
    if (memcmp(want, f->hdr, 4) != 0)
        return DF_EPROTO;
    f->payload_len = plen;
    return 0;
}

int dfget_frame_feed(struct dfget_frame *f, const unsigned char *data, size_t len,
                     size_t *pay_off, size_t *pay_len, uint64_t *payload_pos)
{
    size_t i = 0;
    *pay_off = 0;
    *pay_len = 0;
    *payload_pos = 0;
    if (len > 0 && f->is_done)
        return DF_EPROTO;
    while (i < len && f->pos < DF_PIECE_HEAD) {
        f->hdr[f->pos++] = data[i++];
        if (f->pos == DF_PIECE_HEAD && check_header(f) < 0)
            return DF_EPROTO;
    }
    if (i == len)
        return 0;
    /* pos >= 4: payload then tail. */
    uint64_t pay_end = (uint64_t)DF_PIECE_HEAD + f->payload_len;
    if (f->pos < pay_end) {
        uint64_t want = pay_end - f->pos;
        size_t take = (size_t)(want < len - i ? want : len - i);
        *pay_off = i;
        *pay_len = take;
        *payload_pos = f->pos - DF_PIECE_HEAD;
        f->pos += take;
        i += take;
    }
    if (i == len)
        return 0;
    if (data[i] != DF_PIECE_TAIL || len - i != 1)
        return DF_EPROTO;
    f->pos++;
    f->is_done = 1;
    return 0;
}

int dfget_frame_finish(const struct dfget_frame *f)
{
    return f->is_done ? 0 : DF_EPROTO;
}
