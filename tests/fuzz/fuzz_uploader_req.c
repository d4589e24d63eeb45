/* SPDX-License-Identifier: Apache-2.0 */
/* dfget uploader's piece-request planner (dfget_uploader_plan_piece: Range, pieceNum and
 * pieceSize headers against the service file size) and the taskFileName check.
 * Input: 8 bytes file size, 1 flag byte (bit0 cdnSource: source, bit1 pieceNum absent,
 * bit2 pieceSize absent), then lines: Range, pieceNum, pieceSize. */
#include "fuzz_common.h"

#include <errno.h>

#include "df_err.h"
#include "dfget_uploader_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t fsize = fuzz_take_u(&data, &size, 8);
    unsigned flags = (unsigned)fuzz_take_u(&data, &size, 1);
    if (fsize & (1ull << 63))
        fsize &= 0xffffff;
    char *f[3];
    char *buf = fuzz_split(data, size, f, 3);
    struct dfget_uploader_plan pl;
    int rc = dfget_uploader_plan_piece(f[0], (flags & 2) ? NULL : f[1], (flags & 4) ? NULL : f[2],
                                       flags & 1, fsize, &pl);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == DF_ERANGE);
    if (rc == 0) {
        FUZZ_CHECK(pl.raw_off <= fsize && pl.payload_len <= fsize - pl.raw_off);
        FUZZ_CHECK(pl.body_len == pl.payload_len + (pl.is_wrapped ? 5 : 0));
        FUZZ_CHECK(pl.range_start <= pl.range_end);
        /* The last piece is clipped to the file; Content-Range keeps the requested range. */
        FUZZ_CHECK(pl.range_end - pl.range_start + 1 >= pl.body_len);
    }
    int ok = dfget_uploader_name_ok(f[0]);
    if (ok)
        FUZZ_CHECK(!strchr(f[0], '/') && f[0][0] != '.' && strlen(f[0]) <= 255);
    free(buf);
    return 0;
}
