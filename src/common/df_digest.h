/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming MD5 / SHA-256 over OpenSSL EVP, hex helpers, constant-time hex compare.
 * A df_digest is used by one thread at a time. */
#ifndef DF_DIGEST_H
#define DF_DIGEST_H

#include <stddef.h>

enum df_digest_alg { DF_DIGEST_MD5, DF_DIGEST_SHA256 };

#define DF_MD5_HEX_LEN 32
#define DF_SHA256_HEX_LEN 64
#define DF_DIGEST_HEX_MAX 65 /* buffer size that fits any hex digest + NUL */

struct df_digest;

/* Aborts on OOM. */
struct df_digest *df_digest_new(enum df_digest_alg alg);
void df_digest_free(struct df_digest *d); /* NULL ok */
/* Restart with the same algorithm. */
void df_digest_reset(struct df_digest *d);
void df_digest_update(struct df_digest *d, const void *data, size_t len);
/* Writes lowercase hex + NUL into out (>= DF_DIGEST_HEX_MAX). The digest must be reset
 * before further updates. */
void df_digest_final_hex(struct df_digest *d, char out[DF_DIGEST_HEX_MAX]);

/* One-shot helpers. */
void df_md5_hex(const void *data, size_t len, char out[DF_DIGEST_HEX_MAX]);
void df_sha256_hex(const void *data, size_t len, char out[DF_DIGEST_HEX_MAX]);

/* Standard base64 of n bytes, NUL-terminated, heap (EVP_EncodeBlock; aborts on OOM). */
char *df_base64(const void *data, size_t n);
/* Lowercase hex encoding of n bytes into out (2n+1 bytes). */
void df_hex_encode(const unsigned char *in, size_t n, char *out);
/* 1 if a and b are equal hex strings (case-insensitive), compared in constant time over the
 * common length; 0 otherwise (also when lengths differ or either is NULL). */
int df_digest_hex_eq(const char *a, const char *b);

#endif
