/* SPDX-License-Identifier: Apache-2.0 */
/* URL and task-id normalisation: df_proto_task_url (query filter), df_proto_task_id,
 * df_proto_url_decode, df_redact_url. Input lines: raw URL, filter, md5, identifier, range. */
#include "fuzz_common.h"

#include "df_proto.h"
#include "df_redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[5];
    char *buf = fuzz_split(data, size, f, 5);
    char *tu = df_proto_task_url(f[0], f[1]);
    FUZZ_CHECK(tu && strlen(tu) <= strlen(f[0]));
    /* Filtering is idempotent. */
    char *tu2 = df_proto_task_url(tu, f[1]);
    FUZZ_CHECK(strcmp(tu, tu2) == 0);
    char id[DF_TASKID_LEN + 1];
    df_proto_task_id(tu, f[2], f[3], f[4][0] ? f[4] : NULL, id);
    FUZZ_CHECK(strlen(id) == DF_TASKID_LEN && strspn(id, "0123456789abcdef") == DF_TASKID_LEN);
    char *dec = strdup(f[0]);
    if (df_proto_url_decode(dec) == 0)
        FUZZ_CHECK(strlen(dec) <= strlen(f[0]));
    char *red = df_redact_url(f[0]);
    /* Something was redacted. (Not "red has no userinfo": dropping a secret query value that
     * runs over the '?' ending a nonsensical authority, as in "x://a&sig=1?b&c@h", joins the
     * authority to a later '@'; and a userinfo inside a secret query value goes with the value.
     * fuzz_redact checks that no userinfo survives.) */
    if (df_redact_url_has_userinfo(f[0]))
        FUZZ_CHECK(strstr(red, DF_REDACTED) != NULL);
    free(red);
    free(dec);
    free(tu2);
    free(tu);
    free(buf);
    return 0;
}
