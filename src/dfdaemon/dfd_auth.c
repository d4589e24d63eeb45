/* SPDX-License-Identifier: Apache-2.0 */
/* Authorization gate for cached/swarm blobs: a bounded TTL cache of upstream answers keyed by
 * a hash of (credential, upstream, repo, digest), and the HEAD request that fills it. The
 * cache is a flat array scanned linearly (4096 entries at most, one scan per blob request). */
#include "dfd_auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_err.h"
#include "df_http_client.h"
#include "df_log.h"
#include "df_util.h"

struct entry {
    char key[DF_DIGEST_HEX_MAX]; /* "" = free slot */
    int status;
    int64_t expires_ms;
    char *www_auth;              /* heap or NULL */
};

struct dfd_auth_cache {
    struct entry *e;
    size_t cap, used;
    int64_t allow_ttl_ms, deny_ttl_ms;
};

struct dfd_auth_cache *dfd_auth_cache_new(size_t cap, int64_t allow_ttl_ms, int64_t deny_ttl_ms)
{
    struct dfd_auth_cache *c = df_xcalloc(1, sizeof(*c));
    c->cap = cap ? cap : 1;
    c->e = df_xcalloc(c->cap, sizeof(*c->e));
    c->allow_ttl_ms = allow_ttl_ms;
    c->deny_ttl_ms = deny_ttl_ms;
    return c;
}

void dfd_auth_cache_free(struct dfd_auth_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++)
        free(c->e[i].www_auth);
    free(c->e);
    free(c);
}

void dfd_auth_key(const char *authz, const char *upstream, const char *repo, const char *digest,
                  char out[DF_DIGEST_HEX_MAX])
{
    struct df_digest *d = df_digest_new(DF_DIGEST_SHA256);
    /* Each field is length-prefixed so that no two tuples hash the same input. */
    const char *f[4] = {authz ? authz : "", upstream ? upstream : "", repo ? repo : "",
                        digest ? digest : ""};
    for (size_t i = 0; i < 4; i++) {
        char len[24];
        int n = snprintf(len, sizeof(len), "%zu:", strlen(f[i]));
        df_digest_update(d, len, (size_t)n);
        df_digest_update(d, f[i], strlen(f[i]));
    }
    df_digest_update(d, authz ? "A" : "-", 1); /* anonymous differs from an empty header */
    df_digest_final_hex(d, out);
    df_digest_free(d);
}

int dfd_auth_allowed(int status) { return status >= 200 && status < 400; }

static int is_decisive(int status)
{
    return dfd_auth_allowed(status) || status == 401 || status == 403 || status == 404;
}

int dfd_auth_cache_get(struct dfd_auth_cache *c, const char *key, int64_t now_ms, int *status,
                       const char **www_auth)
{
    for (size_t i = 0; i < c->cap; i++) {
        struct entry *e = &c->e[i];
        if (!e->key[0] || strcmp(e->key, key) != 0)
            continue;
        if (now_ms >= e->expires_ms)
            return 0;
        *status = e->status;
        if (www_auth)
            *www_auth = e->www_auth;
        return 1;
    }
    return 0;
}

int dfd_auth_cache_put(struct dfd_auth_cache *c, const char *key, int64_t now_ms, int status,
                       const char *www_auth)
{
    if (!is_decisive(status))
        return 0;
    struct entry *slot = NULL, *soonest = NULL;
    for (size_t i = 0; i < c->cap; i++) {
        struct entry *e = &c->e[i];
        if (e->key[0] && strcmp(e->key, key) == 0) {
            slot = e;
            break;
        }
        if (!slot && (!e->key[0] || now_ms >= e->expires_ms))
            slot = e; /* keep scanning: the key may exist further on */
        if (e->key[0] && (!soonest || e->expires_ms < soonest->expires_ms))
            soonest = e;
    }
    if (!slot)
        slot = soonest;
    if (!slot->key[0])
        c->used++;
    free(slot->www_auth);
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    slot->status = status;
    slot->www_auth = df_xstrdup(www_auth);
    slot->expires_ms = now_ms + (dfd_auth_allowed(status) ? c->allow_ttl_ms : c->deny_ttl_ms);
    return 1;
}

size_t dfd_auth_cache_size(const struct dfd_auth_cache *c) { return c->used; }

/* ---- check ---------------------------------------------------------------------------------- */

struct dfd_auth_check {
    struct dfd_auth *a;
    struct df_http_req *req;
    char key[DF_DIGEST_HEX_MAX];
    dfd_auth_cb cb;
    void *arg;
    struct dfd_auth_check *prev, *next;
};

struct dfd_auth {
    struct df_http_client *http;
    struct dfd_auth_cache *cache;
    char *default_upstream;
    int is_insecure;
    const char *ca_file;
    struct dfd_auth_check *pending;
    struct dfd_auth_stats stats;
};

struct dfd_auth *dfd_auth_new(struct df_http_client *http, int64_t allow_ttl_ms,
                              const char *default_upstream, int is_insecure, const char *ca_file)
{
    struct dfd_auth *a = df_xcalloc(1, sizeof(*a));
    a->http = http;
    a->default_upstream = default_upstream ? df_xstrdup(default_upstream) : NULL;
    a->is_insecure = is_insecure;
    a->ca_file = ca_file;
    a->cache = dfd_auth_cache_new(DFD_AUTH_CACHE_CAP, allow_ttl_ms, DFD_AUTH_DENY_TTL_MS);
    return a;
}

static void unlink_check(struct dfd_auth_check *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        h->a->pending = h->next;
    if (h->next)
        h->next->prev = h->prev;
}

void dfd_auth_free(struct dfd_auth *a)
{
    if (!a)
        return;
    while (a->pending)
        dfd_auth_check_cancel(a->pending);
    dfd_auth_cache_free(a->cache);
    free(a->default_upstream);
    free(a);
}

static void on_head_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct dfd_auth_check *h = arg;
    struct dfd_auth *a = h->a;
    int st = (int)status;
    const char *www = df_http_req_header(req, "WWW-Authenticate");
    if (err < 0 && df_http_req_is_denied(req)) {
        DF_LOGW("auth", "authorization HEAD refused: %s", df_http_req_errtext(req));
        st = 403; /* the address is not allowed (not cached: a property of this request) */
        www = NULL;
        a->stats.denied++;
    } else if (err < 0 || status <= 0) {
        DF_LOGW("auth", "authorization HEAD failed: %s", df_http_req_errtext(req));
        st = 502;
        a->stats.errors++;
    } else {
        dfd_auth_cache_put(a->cache, h->key, df_now_ms(), st, www);
        if (!dfd_auth_allowed(st))
            a->stats.denied++;
    }
    unlink_check(h);
    dfd_auth_cb cb = h->cb;
    void *cb_arg = h->arg;
    free(h);
    cb(st, www, cb_arg);
}

int dfd_auth_check(struct dfd_auth *a, const char *blob_url, const char *authz,
                   const char *upstream, const char *repo, const char *digest,
                   const struct df_netpolicy *policy, dfd_auth_cb cb, void *arg,
                   struct dfd_auth_check **handle, int *status, const char **www_auth)
{
    char key[DF_DIGEST_HEX_MAX];
    dfd_auth_key(authz, upstream, repo, digest, key);
    *handle = NULL;
    if (dfd_auth_cache_get(a->cache, key, df_now_ms(), status, www_auth)) {
        a->stats.hits++;
        if (!dfd_auth_allowed(*status))
            a->stats.denied++;
        return 1;
    }
    a->stats.misses++;
    struct dfd_auth_check *h = df_xcalloc(1, sizeof(*h));
    h->a = a;
    h->cb = cb;
    h->arg = arg;
    memcpy(h->key, key, sizeof(key));
    char *hdr = authz ? df_xasprintf("Authorization: %s", authz) : NULL;
    const char *hdrs[] = {hdr, NULL};
    struct df_http_opts o = {
        .url = blob_url,
        .method = "HEAD",
        .headers = hdr ? hdrs : NULL,
        .timeout_ms = 15000,
        .policy = policy,
    };
    if (a->default_upstream && upstream && !strcasecmp(upstream, a->default_upstream)) {
        o.is_insecure = a->is_insecure;
        o.ca_file = a->ca_file;
    }
    int err = 0;
    h->req = df_http_req_start(a->http, &o, NULL, NULL, on_head_done, h, &err);
    free(hdr);
    if (!h->req) {
        free(h);
        return err < 0 ? err : -ENOMEM;
    }
    h->next = a->pending;
    if (a->pending)
        a->pending->prev = h;
    a->pending = h;
    *handle = h;
    return 0;
}

void dfd_auth_check_cancel(struct dfd_auth_check *h)
{
    if (!h)
        return;
    df_http_req_cancel(h->req);
    unlink_check(h);
    free(h);
}

const struct dfd_auth_stats *dfd_auth_get_stats(const struct dfd_auth *a) { return &a->stats; }
