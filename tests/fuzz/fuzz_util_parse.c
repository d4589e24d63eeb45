/* SPDX-License-Identifier: Apache-2.0 */
/* df_util's value parsers behind dfget/dfdaemon/supernode flags and config keys: rates and
 * sizes (df_parse_bytes), durations (df_parse_duration_ms), integers. */
#include "fuzz_common.h"

#include <errno.h>

#include "df_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strdup(data, size);
    uint64_t u = 12345;
    int64_t i64 = 12345;
    int i = 12345;
    int rc = df_parse_bytes(s, &u);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
    if (rc == 0)
        FUZZ_CHECK(u <= (1ull << 63));
    else
        FUZZ_CHECK(u == 12345);
    rc = df_parse_duration_ms(s, &i64);
    FUZZ_CHECK(rc == 0 || rc < 0);
    if (rc == 0)
        FUZZ_CHECK(i64 >= 0);
    u = 1;
    if (df_parse_u64(s, &u) == 0) {
        uint64_t b = 0;
        /* A plain number is also a byte count (df_parse_bytes goes through a double: exact up
         * to 2^53; above 9e18 it answers -ERANGE). */
        if (u <= (1ull << 53))
            FUZZ_CHECK(df_parse_bytes(s, &b) == 0 && b == u);
    }
    (void)df_parse_i64(s, &i64);
    (void)df_parse_int(s, &i);
    free(s);
    return 0;
}
