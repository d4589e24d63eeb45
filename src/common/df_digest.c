/* SPDX-License-Identifier: Apache-2.0 */
/* EVP-based digests. We never hand-roll crypto; this file only wraps libcrypto. */
#include "df_digest.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <string.h>

#include "df_util.h"

struct df_digest {
    EVP_MD_CTX *ctx;
    const EVP_MD *md;
};

static const EVP_MD *alg_md(enum df_digest_alg alg)
{
    return alg == DF_DIGEST_MD5 ? EVP_md5() : EVP_sha256();
}

struct df_digest *df_digest_new(enum df_digest_alg alg)
{
    struct df_digest *d = df_xcalloc(1, sizeof(*d));
    d->ctx = EVP_MD_CTX_new();
    DF_ASSERT(d->ctx);
    d->md = alg_md(alg);
    DF_ASSERT(EVP_DigestInit_ex(d->ctx, d->md, NULL) == 1);
    return d;
}

void df_digest_free(struct df_digest *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

void df_digest_reset(struct df_digest *d) { DF_ASSERT(EVP_DigestInit_ex(d->ctx, d->md, NULL) == 1); }

void df_digest_update(struct df_digest *d, const void *data, size_t len)
{
    if (len)
        DF_ASSERT(EVP_DigestUpdate(d->ctx, data, len) == 1);
}

void df_digest_final_hex(struct df_digest *d, char out[DF_DIGEST_HEX_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    DF_ASSERT(EVP_DigestFinal_ex(d->ctx, md, &n) == 1);
    df_hex_encode(md, n, out);
}

static void oneshot(enum df_digest_alg alg, const void *data, size_t len, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    DF_ASSERT(EVP_Digest(data, len, md, &n, alg_md(alg), NULL) == 1);
    df_hex_encode(md, n, out);
}

void df_md5_hex(const void *data, size_t len, char out[DF_DIGEST_HEX_MAX]) { oneshot(DF_DIGEST_MD5, data, len, out); }
void df_sha256_hex(const void *data, size_t len, char out[DF_DIGEST_HEX_MAX]) { oneshot(DF_DIGEST_SHA256, data, len, out); }

void df_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int df_digest_hex_eq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(tolower((unsigned char)a[i]) ^ tolower((unsigned char)b[i]));
    return diff == 0;
}

char *df_base64(const void *data, size_t n)
{
    char *out = df_xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}
