/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode POST /peer/registry bodies (sn_req_decode_registry), JSON and form-encoded.
 * Input: first byte selects the encoding (odd = form), the rest is the body. */
#include "fuzz_common.h"

#include "df_redact.h"
#include "sn_auth.h"
#include "sn_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int is_form = data[0] & 1;
    /* An exact-size heap copy without a NUL: the decoder must honour len. */
    char *body = malloc(size - 1 ? size - 1 : 1);
    if (!body)
        abort();
    memcpy(body, data + 1, size - 1);
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    err[0] = '\0';
    if (sn_req_decode_registry(body, size - 1, is_form, &r, err) == 0) {
        FUZZ_CHECK(r.raw_url && r.task_url && r.cid && r.ip && r.host_name && r.path);
        FUZZ_CHECK(r.port == 0 || (r.port >= 1024 && r.port <= 65535));
        FUZZ_CHECK(sn_req_is_http_url(r.raw_url));
        FUZZ_CHECK(r.nroot_cas <= SN_REQ_MAX_ROOT_CAS);
        FUZZ_CHECK(!r.root_cas_pem || strlen(r.root_cas_pem) == r.root_cas_len);
        for (size_t i = 0; i < r.nheaders; i++)
            FUZZ_CHECK(!strpbrk(r.headers[i], "\r\n") && r.headers[i][0] != ':');
        (void)sn_req_range_header(&r);
        (void)sn_auth_has_credentials(r.raw_url, r.headers, r.nheaders);
        free(df_redact_url(r.raw_url));
        sn_req_reg_cleanup(&r);
    } else {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', DF_ERR_LEN));
    }
    free(body);
    return 0;
}
