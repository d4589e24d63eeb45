/* SPDX-License-Identifier: Apache-2.0 */
/* Credential-bearing headers: Authorization / WWW-Authenticate values as dfdaemon's blob
 * authorization cache keys and stores them (dfd_auth_key, dfd_auth_cache_*), the supernode's
 * credential detection on registration headers (sn_auth_has_credentials, sn_auth_key) and the
 * header-line redaction (df_redact_header_line). Neither component parses the header values
 * beyond that: they are hashed or forwarded verbatim.
 * Input lines: Authorization value, WWW-Authenticate value, upstream, repo, digest, then
 * "Key: Value" header lines (the rest). */
#include "fuzz_common.h"

#include "df_redact.h"
#include "dfd_auth.h"
#include "sn_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[6];
    char *buf = fuzz_split(data, size, f, 6);
    char key[DF_DIGEST_HEX_MAX];
    dfd_auth_key(f[0][0] ? f[0] : NULL, f[2], f[3], f[4], key);
    struct dfd_auth_cache *c = dfd_auth_cache_new(2, 60000, DFD_AUTH_DENY_TTL_MS);
    int status = (int)(strlen(f[0]) % 7) * 100 + (int)strlen(f[1]) % 5;
    int stored = dfd_auth_cache_put(c, key, 1000, status, f[1][0] ? f[1] : NULL);
    int st = 0;
    const char *www = NULL;
    if (stored) {
        FUZZ_CHECK(dfd_auth_cache_get(c, key, 1001, &st, &www) == 1 && st == status);
        FUZZ_CHECK(!www == !f[1][0] && (!www || strcmp(www, f[1]) == 0));
    }
    FUZZ_CHECK(dfd_auth_cache_get(c, key, 1000 + 3600 * 1000, &st, &www) == 0);
    dfd_auth_cache_free(c);

    /* Header lines. */
    char *hdrs[64];
    size_t n = 0;
    for (char *p = f[5]; n < 64 && *p;) {
        hdrs[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    int cred = sn_auth_has_credentials(f[2], hdrs, n);
    FUZZ_CHECK(cred == df_redact_has_credentials(f[2], (const char *const *)hdrs, n));
    sn_auth_key(f[4], f[2], hdrs, n, key);
    for (size_t i = 0; i < n; i++) {
        char *r = df_redact_header_line(hdrs[i]);
        if (df_redact_is_secret_header_line(hdrs[i]))
            FUZZ_CHECK(strstr(r, DF_REDACTED) != NULL);
        else
            FUZZ_CHECK(strcmp(r, hdrs[i]) == 0);
        free(r);
    }
    free(buf);
    return 0;
}
