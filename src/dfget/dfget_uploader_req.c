/* SPDX-License-Identifier: Apache-2.0 */
/* Range/piece arithmetic for the uploader; see the header for the worked example. Inputs come
 * from remote peers: every number is checked before it is used in an offset computation. */
#include "dfget_uploader_req.h"

#include <errno.h>
#include <string.h>

#include "df_err.h"
#include "df_proto.h"
#include "df_util.h"

int dfget_uploader_name_ok(const char *name)
{
    if (!name || !*name || name[0] == '.')
        return 0;
    size_t n = strlen(name);
    if (n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

int dfget_uploader_plan_piece(const char *range_hdr, const char *piece_num, const char *piece_size,
                              int is_source, uint64_t file_size, struct dfget_uploader_plan *out)
{
    uint64_t s, e;
    if (!range_hdr || strncmp(range_hdr, "bytes=", 6) != 0)
        return -EINVAL;
    if (df_proto_parse_range(range_hdr + 6, &s, &e) < 0)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->range_start = s;
    out->range_end = e;
    uint64_t len = e - s + 1;
    if (is_source) {
        /* raw coordinates, raw bytes */
        if (s >= file_size)
            return DF_ERANGE;
        out->raw_off = s;
        out->payload_len = DF_MIN(len, file_size - s);
        out->body_len = out->payload_len;
        return 0;
    }
    uint64_t n, p;
    if (piece_size) {
        if (df_parse_u64(piece_size, &p) < 0)
            return -EINVAL;
    } else {
        p = len;
    }
    if (piece_num) {
        if (df_parse_u64(piece_num, &n) < 0)
            return -EINVAL;
    } else {
        n = s / len;
    }
    /* A piece is a whole P-sized window starting at n*P (spec §1). P carries the payload length
     * in 24 bits, so anything above 16 MiB cannot be framed. */
    if (p <= DF_PIECE_WRAP || p > (16u << 20) || len != p || n > UINT64_MAX / p || s != n * p)
        return -EINVAL;
    uint64_t raw_off = s - n * DF_PIECE_WRAP;
    if (raw_off >= file_size) {
        /* An empty origin file still has one piece: header + tail, no payload. */
        if (!(file_size == 0 && n == 0))
            return DF_ERANGE;
    }
    uint64_t payload = DF_MIN(p - DF_PIECE_WRAP, file_size - DF_MIN(raw_off, file_size));
    out->is_wrapped = 1;
    out->raw_off = raw_off;
    out->payload_len = payload;
    df_proto_frame_header((uint32_t)payload, (uint32_t)p, out->head);
    out->body_len = payload + DF_PIECE_WRAP;
    return 0;
}
