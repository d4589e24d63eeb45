/* SPDX-License-Identifier: Apache-2.0 */
/* Piece access tokens (peer authentication). The supernode signs, for each client it admitted
 * to a task, a short-lived token bound to the task, the client's CID and the address the
 * supernode saw the client at; every uploader (and the supernode's download port) checks it
 * offline with the supernode's public key, which the client hands to its uploader after
 * registration. Ed25519 (OpenSSL EVP): no shared secret is distributed, a forged or edited
 * token fails the signature, and a stolen one is useless from another address or after it
 * expires.
 *
 * Token text (URL- and header-safe, at most DF_TOKEN_MAX-1 characters):
 *   base64url(payload) "." base64url(signature)
 *   payload = "dft1|<taskId>|<cid>|<ip>|<expires, unix seconds>"
 * The public key travels as base64url of its 32 raw bytes (DF_TOKEN_PUB_B64_LEN characters).
 *
 * Threading: the functions are reentrant; a key may be shared by threads for signing. */
#ifndef DF_TOKEN_H
#define DF_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "df_err.h"

#define DF_TOKEN_MAX 512
#define DF_TOKEN_PUB_LEN 32
#define DF_TOKEN_PUB_B64_LEN 43
#define DF_TOKEN_HEADER "X-Dragonfly-Piece-Token"

struct df_token_key;

/* Loads the Ed25519 private key (PEM, PKCS#8) at path; when the file does not exist, creates
 * one (mode 0600, O_EXCL|O_NOFOLLOW) so tokens survive restarts. A file that is not a regular
 * file, is readable by group/others, or does not hold an Ed25519 key is an error.
 * Returns 0 or a negative code with err filled. */
int df_token_key_load_or_create(const char *path, struct df_token_key **out, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));
/* A fresh key in memory only (tests, or no home directory). NULL on failure. */
struct df_token_key *df_token_key_generate(void);
void df_token_key_free(struct df_token_key *k); /* NULL ok */
/* base64url of the raw public key, NUL-terminated. */
void df_token_key_public_b64(const struct df_token_key *k, char out[DF_TOKEN_PUB_B64_LEN + 1]);

/* Decodes a base64url public key. 0 or -EINVAL. */
int df_token_pub_decode(const char *b64, unsigned char pub[DF_TOKEN_PUB_LEN])
    __attribute__((warn_unused_result));

/* Signs a token into out (outsz ≥ DF_TOKEN_MAX recommended). Fields must not contain '|'.
 * Returns the token length, or -EINVAL (bad field / too long) or DF_EPROTO (crypto failure). */
int df_token_sign(const struct df_token_key *k, const char *task_id, const char *cid,
                  const char *ip, int64_t expires_unix, char *out, size_t outsz)
    __attribute__((warn_unused_result));

struct df_token_claims {
    char task_id[80];
    char cid[256];
    char ip[64];
    int64_t expires_unix;
};

/* Checks token against each of the npub public keys (32 raw bytes each): signature, then the
 * task (must equal task_id), the expiry (must be > now_unix) and, when ip is non-NULL, the
 * address (IPv4-mapped IPv6 compares as IPv4). Returns 0 and fills *claims (may be NULL), or
 * -EACCES with why set to a short reason ("no token", "malformed token", "bad signature",
 * "token for another task", "token expired", "token for another client address"). */
int df_token_verify(const unsigned char (*pubs)[DF_TOKEN_PUB_LEN], size_t npub, const char *token,
                    const char *task_id, const char *ip, int64_t now_unix,
                    struct df_token_claims *claims, const char **why)
    __attribute__((warn_unused_result));

/* 1 when the two numeric addresses are the same host ("::ffff:1.2.3.4" equals "1.2.3.4",
 * brackets ignored, IPv6 compared in binary). */
int df_token_same_ip(const char *a, const char *b);

#endif
