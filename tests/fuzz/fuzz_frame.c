/* SPDX-License-Identifier: Apache-2.0 */
/* dfget's streaming piece-frame unwrapper (4-byte header, payload, 0x7F tail) fed in chunks.
 * Input: 4 bytes piece size, 4 bytes expected payload (0xffffffff = unknown), 1 byte chunk-size
 * seed, then the wire bytes. */
#include "fuzz_common.h"

#include "df_err.h"
#include "df_proto.h"
#include "dfget_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t piece = (uint32_t)fuzz_take_u(&data, &size, 4);
    uint32_t exp = (uint32_t)fuzz_take_u(&data, &size, 4);
    unsigned step = (unsigned)fuzz_take_u(&data, &size, 1);
    if (piece & 0x80000000u) /* small piece sizes so that whole frames fit in an input */
        piece = 5 + (piece & 0xfff);
    int64_t expect = exp == 0xffffffffu ? -1 : (int64_t)(exp & 0xffffff);
    /* An exact-size copy so that ASan sees reads past the chunk. */
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    struct dfget_frame f;
    dfget_frame_init(&f, piece, expect);
    uint64_t payload_seen = 0;
    size_t off = 0;
    int failed = 0;
    while (off < size) {
        size_t n = 1 + (step % 17) * (step % 5);
        step = step * 33 + 7;
        if (n > size - off)
            n = size - off;
        size_t po = 99, pl = 99;
        uint64_t ppos = 0;
        int rc = dfget_frame_feed(&f, buf + off, n, &po, &pl, &ppos);
        if (rc != 0) {
            FUZZ_CHECK(rc == DF_EPROTO);
            failed = 1;
            break;
        }
        FUZZ_CHECK(po <= n && pl <= n - po);
        if (pl)
            FUZZ_CHECK(ppos == payload_seen); /* slices are contiguous */
        payload_seen += pl;
        off += n;
    }
    if (!failed && dfget_frame_finish(&f) == 0) {
        FUZZ_CHECK(f.is_done);
        FUZZ_CHECK(payload_seen == f.payload_len);
        FUZZ_CHECK(dfget_frame_wrapped_len(&f) == (int64_t)f.payload_len + 5);
        FUZZ_CHECK(f.payload_len + 5 <= piece);
        FUZZ_CHECK(expect < 0 || (int64_t)f.payload_len == expect);
        FUZZ_CHECK(df_proto_frame_payload_len(buf) == f.payload_len);
    }
    free(buf);
    return 0;
}
