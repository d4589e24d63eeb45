/* SPDX-License-Identifier: Apache-2.0 */
/* Admission to private tasks. A task is private when the registration that started its CDN
 * download carried credentials (Authorization / Proxy-Authorization / Cookie headers or URL
 * userinfo), or a taskUrl with filtered query parameters (signed URLs): its bytes came from an
 * origin that wanted to know who asks. Another client joins
 * such a task only after the origin accepted *that client's own* credentials for it: a HEAD
 * on the client's URL with the client's headers (a GET with "Range: bytes=0-0" where the
 * origin refuses HEAD with 405/501). The answer is cached per (task, URL, headers) digest for
 * --auth-ttl; a denial for 5 s, so a client whose password was just fixed gets in soon.
 * Credentials are kept only inside the key's SHA-256.
 *
 * Two layers: the cache (pure, clock passed in, unit-tested) and the check (df_http_client).
 * Threading: loop thread only. */
#ifndef SN_AUTH_H
#define SN_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"
#include "df_err.h"

#define SN_AUTH_DENY_TTL_MS 5000
#define SN_AUTH_CACHE_CAP 4096

/* 1 when a registration with this URL and these "Key: Value" headers carries credentials. */
int sn_auth_has_credentials(const char *url, char *const *headers, size_t n);

/* ---- pure cache ----------------------------------------------------------------------------- */

struct sn_auth_cache;
struct sn_auth_cache *sn_auth_cache_new(size_t cap, int64_t allow_ttl_ms, int64_t deny_ttl_ms);
void sn_auth_cache_free(struct sn_auth_cache *c); /* NULL ok */
/* Hex SHA-256 over task id, URL and every header line (in order). */
void sn_auth_key(const char *task_id, const char *url, char *const *headers, size_t n,
                 char out[DF_DIGEST_HEX_MAX]);
/* 1 with *status on a live entry, 0 on a miss (expired entries are misses). */
int sn_auth_cache_get(struct sn_auth_cache *c, const char *key, int64_t now_ms, int *status);
/* Stores a decisive answer (2xx allowed; 401, 403, 404, 407 denied); other statuses are not
 * stored (returns 0). When full, expired entries are dropped first, then the one closest to
 * expiry. Returns 1 when stored. */
int sn_auth_cache_put(struct sn_auth_cache *c, const char *key, int64_t now_ms, int status);
size_t sn_auth_cache_size(const struct sn_auth_cache *c);
/* 1 when an origin status admits the client (2xx). */
int sn_auth_is_allowed(int status);

/* ---- check ---------------------------------------------------------------------------------- */

struct df_http_client;
struct df_netpolicy;
struct sn_auth;
struct sn_auth_check;

/* status: the origin's status for the client's credentials, or 0 when the origin could not be
 * asked (why says what happened: "origin unreachable: ..."). why is valid during the call. */
typedef void (*sn_auth_cb)(int status, const char *why, void *arg);

struct sn_auth_req {
    const char *task_id;
    const char *url;             /* the client's rawUrl */
    char *const *headers;        /* the client's headers, "Key: Value" */
    size_t nheaders;
    int is_insecure;
    const char *ca_pem;          /* the client's rootCAs bundle or NULL */
    size_t ca_pem_len;
    const struct df_netpolicy *policy; /* origin policy (sn_config.origin_policy); borrowed,
                                          must outlive the check; NULL = none */
};

struct sn_auth *sn_auth_new(struct df_http_client *http, int64_t allow_ttl_ms);
void sn_auth_free(struct sn_auth *a); /* cancels pending checks (their callbacks do not run) */
/* Returns 1 when answered from the cache (*status set; cb never runs), 0 when a request was
 * started (cb runs exactly once later unless sn_auth_check_cancel runs first; *handle set), or
 * a negative code (no callback). */
int sn_auth_check(struct sn_auth *a, const struct sn_auth_req *r, sn_auth_cb cb, void *arg,
                  struct sn_auth_check **handle, int *status) __attribute__((warn_unused_result));
void sn_auth_check_cancel(struct sn_auth_check *h); /* NULL ok; not from inside cb */

/* What an admitted client proved with, kept (in memory only) so that its token is renewed only
 * while the origin still accepts it. Owned by the client (struct sn_peer). */
struct sn_auth_creds;
/* Copies r's URL, headers and TLS settings (the CA bundle only for https). */
struct sn_auth_creds *sn_auth_creds_new(const struct sn_auth_req *r);
void sn_auth_creds_free(struct sn_auth_creds *c); /* NULL ok */
/* Heap bytes held by c (the metadata budget, sn_limit.h); 0 for NULL. */
size_t sn_auth_creds_bytes(const struct sn_auth_creds *c);
/* 1 when the cache holds a live "allowed" answer for c. Else 0 and, at most once per
 * SN_AUTH_RECHECK_MS per client, a check starts in the background: its answer lands in the
 * cache, so a later call sees it. policy as in sn_auth_req. */
#define SN_AUTH_RECHECK_MS 5000
int sn_auth_is_still_allowed(struct sn_auth *a, struct sn_auth_creds *c, const char *task_id,
                             const struct df_netpolicy *policy, int64_t now_ms);

#endif
