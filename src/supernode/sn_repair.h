/* SPDX-License-Identifier: Apache-2.0 */
/* Pure planning for the CDN's piece repair (docs/internals/cdn-cache.md, "Re-verification and
 * piece repair"): which origin byte ranges to fetch again for a set of bad cache pieces. No I/O,
 * no clock: the CDN (sn_cdn.c) feeds it the pieces its re-verification found bad.
 *
 * Coordinates: piece n holds origin bytes [n*(P-5), n*(P-5) + payload(n)) (df_proto); adjacent
 * bad pieces are coalesced into one range, so one request fetches a run of them.
 * Worked example, P = 4 MiB + 5 bytes wrapped (payload 4 MiB), 10 pieces, bad {2, 3, 7}:
 *   ranges {first 2, count 2, bytes 8388608-16777215}, {first 7, count 1, bytes 29360128-33554431}. */
#ifndef SN_REPAIR_H
#define SN_REPAIR_H

#include <stddef.h>
#include <stdint.h>

#include "df_err.h"

/* More ranges than this: the cache is too damaged for piecewise repair, fetch the whole file
 * (one fresh download costs fewer requests and at most the same bytes). */
#define SN_REPAIR_MAX_RANGES 16

struct sn_repair_range {
    uint32_t first;     /* first piece of the run */
    uint32_t count;     /* pieces in the run, >= 1 */
    uint64_t raw_start; /* origin offset of the run's first byte */
    uint64_t raw_end;   /* origin offset of its last byte (inclusive, for "Range: bytes=a-b") */
};

/* Coalesces bad (ascending, duplicates allowed) pieces of a file of http_length bytes (>= 0)
 * cut in piece_size (wrapped) pieces into at most cap ranges, written to out.
 * Returns the number of ranges (0 when nbad == 0), -ERANGE when a piece is out of the file or
 * the list is not ascending, -E2BIG when more than cap ranges would be needed (out then holds
 * the first cap). A piece with an empty payload (the only piece of an empty file) cannot be
 * fetched by range: -ERANGE. */
int sn_repair_plan(const uint32_t *bad, size_t nbad, uint32_t piece_size, int64_t http_length,
                   struct sn_repair_range *out, size_t cap) __attribute__((warn_unused_result));

#endif
