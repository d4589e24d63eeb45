/* SPDX-License-Identifier: Apache-2.0 */
/* Admission to private tasks: credential detection, the answer cache and the origin check
 * (see sn_auth.h). */
#include "sn_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_http_client.h"
#include "df_log.h"
#include "df_redact.h"
#include "df_util.h"
#include "sn_map.h"

int sn_auth_has_credentials(const char *url, char *const *headers, size_t n)
{
    return df_redact_has_credentials(url, (const char *const *)headers, n);
}

int sn_auth_is_allowed(int status)
{
    return status >= 200 && status < 300;
}

/* ---- cache ---------------------------------------------------------------------------------- */

struct entry {
    int64_t expires_ms;
    int status;
};

struct sn_auth_cache {
    struct sn_map *m;
    size_t cap;
    int64_t allow_ttl_ms, deny_ttl_ms;
};

struct sn_auth_cache *sn_auth_cache_new(size_t cap, int64_t allow_ttl_ms, int64_t deny_ttl_ms)
{
    struct sn_auth_cache *c = df_xcalloc(1, sizeof(*c));
    c->m = sn_map_new();
    c->cap = cap ? cap : 1;
    c->allow_ttl_ms = allow_ttl_ms;
    c->deny_ttl_ms = deny_ttl_ms;
    return c;
}

void sn_auth_cache_free(struct sn_auth_cache *c)
{
    if (!c)
        return;
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    while (sn_map_next(c->m, &it, &k, &v))
        free(v);
    sn_map_free(c->m);
    free(c);
}

void sn_auth_key(const char *task_id, const char *url, char *const *headers, size_t n,
                 char out[DF_DIGEST_HEX_MAX])
{
    struct df_digest *d = df_digest_new(DF_DIGEST_SHA256);
    df_digest_update(d, task_id, strlen(task_id) + 1);
    df_digest_update(d, url, strlen(url) + 1);
    for (size_t i = 0; i < n; i++)
        df_digest_update(d, headers[i], strlen(headers[i]) + 1);
    df_digest_final_hex(d, out);
    df_digest_free(d);
}

int sn_auth_cache_get(struct sn_auth_cache *c, const char *key, int64_t now_ms, int *status)
{
    struct entry *e = sn_map_get(c->m, key);
    if (!e || e->expires_ms <= now_ms)
        return 0;
    *status = e->status;
    return 1;
}

static int is_decisive(int status)
{
    return sn_auth_is_allowed(status) || status == 401 || status == 403 || status == 404 ||
           status == 407;
}

/* Makes room for one entry: drops expired ones, else the one closest to expiry. */
static void evict(struct sn_auth_cache *c, int64_t now_ms)
{
    struct sn_map_iter it = {0};
    const char *k, *victim = NULL;
    void *v;
    int64_t soonest = INT64_MAX;
    char **dead = NULL;
    size_t ndead = 0;
    while (sn_map_next(c->m, &it, &k, &v)) {
        struct entry *e = v;
        if (e->expires_ms <= now_ms) {
            dead = realloc(dead, (ndead + 1) * sizeof(*dead));
            DF_ASSERT(dead);
            dead[ndead++] = df_xstrdup(k);
        } else if (e->expires_ms < soonest) {
            soonest = e->expires_ms;
            victim = k;
        }
    }
    if (ndead == 0 && victim)
        dead = df_xmalloc(sizeof(*dead)), dead[ndead++] = df_xstrdup(victim);
    for (size_t i = 0; i < ndead; i++) {
        free(sn_map_del(c->m, dead[i]));
        free(dead[i]);
    }
    free(dead);
}

int sn_auth_cache_put(struct sn_auth_cache *c, const char *key, int64_t now_ms, int status)
{
    if (!is_decisive(status))
        return 0;
    struct entry *e = sn_map_get(c->m, key);
    if (!e) {
        if (sn_map_size(c->m) >= c->cap)
            evict(c, now_ms);
        e = df_xcalloc(1, sizeof(*e));
        sn_map_put(c->m, key, e);
    }
    e->status = status;
    e->expires_ms = now_ms + (sn_auth_is_allowed(status) ? c->allow_ttl_ms : c->deny_ttl_ms);
    return 1;
}

size_t sn_auth_cache_size(const struct sn_auth_cache *c)
{
    return sn_map_size(c->m);
}

/* ---- check ---------------------------------------------------------------------------------- */

struct sn_auth {
    struct df_http_client *http;
    struct sn_auth_cache *cache;
    struct sn_auth_check *checks; /* in flight */
};

struct sn_auth_check {
    struct sn_auth *a;
    struct sn_auth_check *prev, *next;
    struct df_http_req *req;
    char key[DF_DIGEST_HEX_MAX];
    char *url;
    char **headers;              /* NULL-terminated, "Range: bytes=0-0" appended for the GET */
    size_t nheaders;
    int is_insecure;
    char *ca_pem;
    size_t ca_pem_len;
    const struct df_netpolicy *policy;
    int is_get;                  /* second attempt: GET with a 1-byte range */
    long status;                 /* final status seen in on_headers */
    sn_auth_cb cb;
    void *arg;
};

struct sn_auth *sn_auth_new(struct df_http_client *http, int64_t allow_ttl_ms)
{
    struct sn_auth *a = df_xcalloc(1, sizeof(*a));
    a->http = http;
    a->cache = sn_auth_cache_new(SN_AUTH_CACHE_CAP, allow_ttl_ms, SN_AUTH_DENY_TTL_MS);
    return a;
}

static void check_free(struct sn_auth_check *h)
{
    struct sn_auth *a = h->a;
    if (h->prev)
        h->prev->next = h->next;
    else
        a->checks = h->next;
    if (h->next)
        h->next->prev = h->prev;
    for (size_t i = 0; i < h->nheaders; i++)
        free(h->headers[i]);
    free(h->headers);
    free(h->url);
    free(h->ca_pem);
    free(h);
}

void sn_auth_check_cancel(struct sn_auth_check *h)
{
    if (!h)
        return;
    if (h->req)
        df_http_req_cancel(h->req);
    check_free(h);
}

void sn_auth_free(struct sn_auth *a)
{
    if (!a)
        return;
    while (a->checks)
        sn_auth_check_cancel(a->checks);
    sn_auth_cache_free(a->cache);
    free(a);
}

static int start_request(struct sn_auth_check *h);

static int on_headers(struct df_http_req *req, long status, void *arg)
{
    (void)req;
    struct sn_auth_check *h = arg;
    h->status = status;
    /* The status is the answer; a GET's body is not wanted. */
    return h->is_get ? -ECANCELED : 0;
}

static void on_done(struct df_http_req *req, int err, long status, void *arg)
{
    struct sn_auth_check *h = arg;
    h->req = NULL;
    if (h->status == 0 && err == 0)
        h->status = status;
    if (!h->is_get && (h->status == 405 || h->status == 501)) {
        h->is_get = 1;
        h->status = 0;
        if (start_request(h) == 0)
            return;
    }
    char why[DF_ERR_LEN];
    int st = (int)h->status;
    if (st == 0)
        snprintf(why, sizeof(why), "origin unreachable: %s",
                 df_http_req_errtext(req)[0] ? df_http_req_errtext(req) : df_strerror(err));
    else
        snprintf(why, sizeof(why), "origin answered HTTP %d", st);
    sn_auth_cache_put(h->a->cache, h->key, df_now_ms(), st);
    sn_auth_cb cb = h->cb;
    void *cb_arg = h->arg;
    check_free(h);
    cb(st, why, cb_arg);
}

static int start_request(struct sn_auth_check *h)
{
    struct df_http_opts o = {
        .url = h->url,
        .method = h->is_get ? "GET" : "HEAD",
        .headers = (const char *const *)h->headers,
        .timeout_ms = 15000,
        .max_body = 4096,
        .is_follow_redirects = 1,
        .is_insecure = h->is_insecure,
        .ca_pem = h->ca_pem,
        .ca_pem_len = h->ca_pem_len,
        .policy = h->policy,
    };
    if (h->is_get) {
        h->headers[h->nheaders] = df_xstrdup("Range: bytes=0-0");
        h->nheaders++;
    }
    int err = 0;
    h->req = df_http_req_start(h->a->http, &o, on_headers, NULL, on_done, h, &err);
    return h->req ? 0 : (err < 0 ? err : -ENOMEM);
}

int sn_auth_check(struct sn_auth *a, const struct sn_auth_req *r, sn_auth_cb cb, void *arg,
                  struct sn_auth_check **handle, int *status)
{
    char key[DF_DIGEST_HEX_MAX];
    sn_auth_key(r->task_id, r->url, r->headers, r->nheaders, key);
    if (sn_auth_cache_get(a->cache, key, df_now_ms(), status))
        return 1;
    struct sn_auth_check *h = df_xcalloc(1, sizeof(*h));
    h->a = a;
    memcpy(h->key, key, sizeof(key));
    h->url = df_xstrdup(r->url);
    /* room for the Range line of the GET and the NULL terminator */
    h->headers = df_xcalloc(r->nheaders + 2, sizeof(*h->headers));
    for (size_t i = 0; i < r->nheaders; i++)
        h->headers[i] = df_xstrdup(r->headers[i]);
    h->nheaders = r->nheaders;
    h->is_insecure = r->is_insecure;
    if (r->ca_pem && r->ca_pem_len) {
        h->ca_pem = df_xmalloc(r->ca_pem_len + 1);
        memcpy(h->ca_pem, r->ca_pem, r->ca_pem_len);
        h->ca_pem[r->ca_pem_len] = '\0';
        h->ca_pem_len = r->ca_pem_len;
    }
    h->policy = r->policy;
    h->cb = cb;
    h->arg = arg;
    h->next = a->checks;
    if (a->checks)
        a->checks->prev = h;
    a->checks = h;
    int rc = start_request(h);
    if (rc < 0) {
        check_free(h);
        return rc;
    }
    *handle = h;
    return 0;
}

/* ---- kept credentials ----------------------------------------------------------------------- */

struct sn_auth_creds {
    char *url;
    char **headers;
    size_t nheaders;
    int is_insecure;
    char *ca_pem;
    size_t ca_pem_len;
    int64_t recheck_ms;          /* last background check started */
};

struct sn_auth_creds *sn_auth_creds_new(const struct sn_auth_req *r)
{
    struct sn_auth_creds *c = df_xcalloc(1, sizeof(*c));
    c->url = df_xstrdup(r->url);
    c->headers = df_xcalloc(r->nheaders + 1, sizeof(*c->headers));
    for (size_t i = 0; i < r->nheaders; i++)
        c->headers[i] = df_xstrdup(r->headers[i]);
    c->nheaders = r->nheaders;
    c->is_insecure = r->is_insecure;
    if (r->ca_pem && r->ca_pem_len && strncasecmp(r->url, "https://", 8) == 0) {
        c->ca_pem = df_xmalloc(r->ca_pem_len + 1);
        memcpy(c->ca_pem, r->ca_pem, r->ca_pem_len);
        c->ca_pem[r->ca_pem_len] = '\0';
        c->ca_pem_len = r->ca_pem_len;
    }
    return c;
}

size_t sn_auth_creds_bytes(const struct sn_auth_creds *c)
{
    if (!c)
        return 0;
    size_t n = sizeof(*c) + strlen(c->url) + 1 + (c->nheaders + 1) * sizeof(char *) +
               (c->ca_pem ? c->ca_pem_len + 1 : 0);
    for (size_t i = 0; i < c->nheaders; i++)
        n += strlen(c->headers[i]) + 1;
    return n;
}

void sn_auth_creds_free(struct sn_auth_creds *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nheaders; i++)
        free(c->headers[i]);
    free(c->headers);
    free(c->url);
    free(c->ca_pem);
    free(c);
}

static void on_recheck(int status, const char *why, void *arg)
{
    (void)arg;
    if (!sn_auth_is_allowed(status))
        DF_LOGW("auth", "re-check of an admitted client's credentials: %s", why);
}

int sn_auth_is_still_allowed(struct sn_auth *a, struct sn_auth_creds *c, const char *task_id,
                             const struct df_netpolicy *policy, int64_t now_ms)
{
    struct sn_auth_req r = {
        .task_id = task_id,
        .url = c->url,
        .headers = c->headers,
        .nheaders = c->nheaders,
        .is_insecure = c->is_insecure,
        .ca_pem = c->ca_pem,
        .ca_pem_len = c->ca_pem_len,
        .policy = policy,
    };
    char key[DF_DIGEST_HEX_MAX];
    int status = 0;
    sn_auth_key(task_id, c->url, c->headers, c->nheaders, key);
    if (sn_auth_cache_get(a->cache, key, now_ms, &status))
        return sn_auth_is_allowed(status);
    if (c->recheck_ms && now_ms - c->recheck_ms < SN_AUTH_RECHECK_MS)
        return 0;
    c->recheck_ms = now_ms;
    struct sn_auth_check *h = NULL;
    /* the check lives in a->checks (cancelled by sn_auth_free); its answer goes to the cache */
    if (sn_auth_check(a, &r, on_recheck, NULL, &h, &status) == 1)
        return sn_auth_is_allowed(status);
    return 0;
}
