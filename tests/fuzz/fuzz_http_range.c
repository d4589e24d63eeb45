/* SPDX-License-Identifier: Apache-2.0 */
/* Range headers: df_proto_parse_http_range ("bytes=a-b" against a resource size),
 * df_proto_parse_range / df_proto_range_piece (the supernode's "start-end" piece ranges).
 * Input: 8 bytes total size, 4 bytes piece size, then the header text. */
#include "fuzz_common.h"

#include <errno.h>

#include "df_err.h"
#include "df_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t total = fuzz_take_u(&data, &size, 8);
    uint32_t piece = (uint32_t)fuzz_take_u(&data, &size, 4);
    if (total & (1ull << 63))
        total &= 0xffff; /* keep small totals common */
    char *s = fuzz_strdup(data, size);
    uint64_t a = 7, b = 7;
    int rc = df_proto_parse_http_range(s, total, &a, &b);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == DF_ERANGE);
    if (rc == 0)
        FUZZ_CHECK(a <= b && b < total);
    rc = df_proto_parse_range(s, &a, &b);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc == 0) {
        FUZZ_CHECK(a <= b);
        char out[48];
        int64_t n = df_proto_range_piece(s, piece);
        if (n >= 0 && piece) {
            FUZZ_CHECK(b - a + 1 == piece && a % piece == 0 && (uint64_t)n == a / piece);
            if ((uint64_t)n <= UINT32_MAX) {
                df_proto_format_range((uint32_t)n, piece, out, sizeof(out));
                uint64_t a2, b2;
                FUZZ_CHECK(df_proto_parse_range(out, &a2, &b2) == 0 && a2 == a && b2 == b);
            }
        }
    }
    free(s);
    return 0;
}
