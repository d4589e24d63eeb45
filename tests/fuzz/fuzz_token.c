/* SPDX-License-Identifier: Apache-2.0 */
/* Piece tokens (df_token_verify: base64url payload "." base64url signature) and public keys
 * (df_token_pub_decode). Input lines: token, task id, client ip, public key (base64url).
 * Also signs the (task, cid = "c", ip) it was given and checks the round trip, for one input
 * in eight (by length): an Ed25519 signature plus its verification cost ~20 times the parsing
 * under test, and the signer only ever sees our own values. */
#include "fuzz_common.h"

#include <errno.h>

#include "df_token.h"

static struct df_token_key *key;
static unsigned char pubs[2][DF_TOKEN_PUB_LEN];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!key) {
        key = df_token_key_generate();
        FUZZ_CHECK(key);
        char b64[DF_TOKEN_PUB_B64_LEN + 1];
        df_token_key_public_b64(key, b64);
        FUZZ_CHECK(df_token_pub_decode(b64, pubs[0]) == 0);
    }
    char *f[4];
    char *buf = fuzz_split(data, size, f, 4);
    int have2 = df_token_pub_decode(f[3], pubs[1]) == 0;
    if (have2)
        FUZZ_CHECK(strlen(f[3]) == DF_TOKEN_PUB_B64_LEN);
    struct df_token_claims cl;
    const char *why = NULL;
    int rc = df_token_verify(pubs, have2 ? 2 : 1, f[0], f[1], f[2][0] ? f[2] : NULL, 1000, &cl,
                             &why);
    FUZZ_CHECK(rc == 0 || (rc == -EACCES && why && why[0]));
    if (rc == 0)
        FUZZ_CHECK(strcmp(cl.task_id, f[1]) == 0 && cl.expires_unix > 1000);
    char tok[DF_TOKEN_MAX];
    const char *ip = f[2][0] ? f[2] : "10.0.0.1";
    int n = (size & 7) == 0 ? df_token_sign(key, f[1], "c", ip, 2000, tok, sizeof(tok)) : 0;
    if (n > 0) {
        FUZZ_CHECK((size_t)n == strlen(tok) && (size_t)n < DF_TOKEN_MAX);
        rc = df_token_verify(pubs, 1, tok, f[1], NULL, 1000, &cl, &why);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(strcmp(cl.cid, "c") == 0 && cl.expires_unix == 2000);
    }
    (void)df_token_same_ip(f[2], f[3]);
    free(buf);
    return 0;
}
