/* SPDX-License-Identifier: Apache-2.0 */
/* Coalescing of bad cache pieces into origin byte ranges for the CDN's piece repair. Pure:
 * the Range requests, writes and digest checks are sn_cdn.c / sn_cdn_io.c. */
#include "sn_repair.h"

#include <errno.h>

#include "df_proto.h"

int sn_repair_plan(const uint32_t *bad, size_t nbad, uint32_t piece_size, int64_t http_length,
                   struct sn_repair_range *out, size_t cap)
{
    if (http_length < 0 || piece_size <= DF_PIECE_WRAP)
        return -ERANGE;
    uint32_t total = df_proto_piece_count(http_length, piece_size);
    uint64_t payload = piece_size - DF_PIECE_WRAP;
    size_t nr = 0;
    int is_full = 0;
    for (size_t i = 0; i < nbad; i++) {
        uint32_t n = bad[i];
        if (n >= total || df_proto_piece_payload(http_length, piece_size, n) == 0)
            return -ERANGE;
        if (i > 0 && n < bad[i - 1])
            return -ERANGE;
        if (nr > 0 && n <= out[nr - 1].first + out[nr - 1].count) {
            /* adjacent to (or a duplicate of) the current run: extend it */
            out[nr - 1].count = n - out[nr - 1].first + 1;
        } else if (nr == cap) {
            is_full = 1;
            break;
        } else {
            out[nr].first = n;
            out[nr].count = 1;
            nr++;
        }
    }
    for (size_t r = 0; r < nr; r++) {
        uint32_t last = out[r].first + out[r].count - 1;
        out[r].raw_start = (uint64_t)out[r].first * payload;
        out[r].raw_end = (uint64_t)last * payload + df_proto_piece_payload(http_length, piece_size, last) - 1;
    }
    return is_full ? -E2BIG : (int)nr;
}
