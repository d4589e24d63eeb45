/* SPDX-License-Identifier: Apache-2.0 */
/* Authorization-aware blob cache gate. Before a blob leaves this host from the swarm or the
 * local cache, dfdaemon asks the upstream registry whether *this* client may read it: a HEAD on
 * the blob URL with the client's own Authorization header. Answers are cached per
 * (credential, upstream, repository, digest) — the digest is part of the key because a
 * registry answers 404 for a blob that exists but is not linked to the named repository, so
 * a repository-only key would let a client read any swarm blob through a repository it can
 * read. Allowed answers live auth_ttl (60 s); denials (401/403/404) 5 s. Credentials are
 * stored only as a SHA-256 inside the key.
 *
 * Two layers: the cache (pure, clock passed in, unit-tested) and the check (HEAD via
 * df_http_client). Threading: loop thread only. */
#ifndef DFD_AUTH_H
#define DFD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "df_digest.h"

#define DFD_AUTH_DENY_TTL_MS 5000
#define DFD_AUTH_CACHE_CAP 4096

/* ---- pure cache ----------------------------------------------------------------------------- */

struct dfd_auth_cache;

struct dfd_auth_cache *dfd_auth_cache_new(size_t cap, int64_t allow_ttl_ms, int64_t deny_ttl_ms);
void dfd_auth_cache_free(struct dfd_auth_cache *c); /* NULL ok */
/* Key = hex SHA-256 over authz (NULL = anonymous), upstream, repo and digest. */
void dfd_auth_key(const char *authz, const char *upstream, const char *repo, const char *digest,
                  char out[DF_DIGEST_HEX_MAX]);
/* 1 and *status / *www_auth (borrowed until the next put, may be NULL) on a live entry,
 * 0 on a miss (expired entries count as misses). */
int dfd_auth_cache_get(struct dfd_auth_cache *c, const char *key, int64_t now_ms, int *status,
                       const char **www_auth);
/* Stores a decisive answer: 2xx (allowed), 401, 403, 404 (denied). Other statuses are not
 * cached (returns 0 without storing); returns 1 when stored. When full, an expired entry or
 * else the one closest to expiry is replaced. */
int dfd_auth_cache_put(struct dfd_auth_cache *c, const char *key, int64_t now_ms, int status,
                       const char *www_auth);
size_t dfd_auth_cache_size(const struct dfd_auth_cache *c);
/* 1 if status allows serving the blob (2xx, or 3xx: the registry would redirect to storage). */
int dfd_auth_allowed(int status);

/* ---- check ---------------------------------------------------------------------------------- */

struct df_http_client;
struct dfd_auth;
struct dfd_auth_check;

/* status: upstream status (200/401/403/404/...), or 502 when the registry was unreachable.
 * www_auth: the upstream WWW-Authenticate header or NULL; valid during the call only. */
typedef void (*dfd_auth_cb)(int status, const char *www_auth, void *arg);

struct dfd_auth_stats {
    uint64_t hits, misses, denied, errors;
};

/* http is borrowed and must outlive the dfd_auth. is_insecure and ca_file (PEM bundle, NULL =
 * system store; borrowed, must outlive the dfd_auth) apply to HEADs on default_upstream only
 * (compared with the upstream argument of dfd_auth_check); other upstreams are verified with
 * the system store. */
struct dfd_auth *dfd_auth_new(struct df_http_client *http, int64_t allow_ttl_ms,
                              const char *default_upstream, int is_insecure, const char *ca_file);
void dfd_auth_free(struct dfd_auth *a); /* cancels pending checks (their callbacks do not run) */

/* Checks access to blob_url (upstream/v2/<repo>/blobs/<digest>) for the holder of authz.
 * Returns 1 when answered from the cache (*status, *www_auth filled, borrowed until the next
 * call; cb never runs), 0 when a HEAD was started (cb runs exactly once later unless
 * dfd_auth_check_cancel is called first; *handle set), or a negative code (no callback). */
struct df_netpolicy;
/* policy (borrowed, may be NULL): checked for every connection of the HEAD (df_http_opts);
 * a refusal answers 403 (not cached). */
int dfd_auth_check(struct dfd_auth *a, const char *blob_url, const char *authz,
                   const char *upstream, const char *repo, const char *digest,
                   const struct df_netpolicy *policy, dfd_auth_cb cb, void *arg,
                   struct dfd_auth_check **handle, int *status, const char **www_auth)
    __attribute__((warn_unused_result));
void dfd_auth_check_cancel(struct dfd_auth_check *h); /* NULL ok; not from inside cb */
const struct dfd_auth_stats *dfd_auth_get_stats(const struct dfd_auth *a);

#endif
