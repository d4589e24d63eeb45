/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode GET /peer/task query strings: df_http_query_parse, then sn_req_decode_pull. */
#include "fuzz_common.h"

#include "df_http_server.h"
#include "df_proto.h"
#include "sn_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *raw = fuzz_strdup(data, size);
    struct df_http_query q;
    if (df_http_query_parse(raw, &q) == 0) {
        FUZZ_CHECK(q.n <= DF_HTTP_QUERY_MAX);
        for (size_t i = 0; i < q.n; i++)
            FUZZ_CHECK(q.keys[i] && q.vals[i]);
        (void)df_http_query_get(&q, "taskId");
        struct sn_pull_req p;
        char err[DF_ERR_LEN];
        if (sn_req_decode_pull(&q, &p, err) == 0) {
            FUZZ_CHECK(p.src_cid && p.task_id && p.dst_cid && p.range);
            FUZZ_CHECK(p.status >= 700 && p.status <= 702);
            uint64_t s, e;
            if (p.range[0] && df_proto_parse_range(p.range, &s, &e) == 0)
                FUZZ_CHECK(s <= e);
        }
        df_http_query_cleanup(&q);
    }
    free(raw);
    return 0;
}
