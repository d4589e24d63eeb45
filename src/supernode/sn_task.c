/* SPDX-License-Identifier: Apache-2.0 */
/* In-memory tasks and dfget tasks: creation, lookup, reference counting, piece digests and
 * the pure GC predicates. No I/O. */
#include "sn_task.h"
#include "sn_auth.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "df_digest.h"
#include "df_util.h"

const char *sn_cdn_status_name(enum sn_cdn_status s)
{
    switch (s) {
    case SN_CDN_WAITING: return "WAITING";
    case SN_CDN_RUNNING: return "RUNNING";
    case SN_CDN_SUCCESS: return "SUCCESS";
    case SN_CDN_FAILED: return "FAILED";
    }
    return "UNKNOWN";
}

void sn_registry_init(struct sn_registry *r)
{
    r->tasks = sn_map_new();
    r->mem_bytes = 0;
}

static void peer_free(struct sn_peer *p, struct sn_task *t)
{
    if (!p)
        return;
    sn_sched_client_cleanup(&p->sched, t ? &t->sched : NULL);
    free(p->cid);
    free(p->ip);
    free(p->host_name);
    free(p->path);
    free(p->version);
    free(p->super_node_ip);
    free(p->call_system);
    free(p->src_ip);
    sn_auth_creds_free(p->creds);
    free(p);
}

static void task_free(struct sn_task *t)
{
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    while (sn_map_next(t->clients, &it, &k, &v))
        peer_free(v, NULL);
    sn_map_free(t->clients);
    sn_sched_task_cleanup(&t->sched);
    for (size_t i = 0; i < t->nheaders; i++)
        free(t->headers[i]);
    free(t->headers);
    free(t->ca_pem);
    free(t->task_url);
    free(t->raw_url);
    free(t->md5);
    free(t->identifier);
    free(t->range_hdr);
    free(t->fail_reason);
    free(t->digests);
    free(t);
}

void sn_registry_cleanup(struct sn_registry *r)
{
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    while (sn_map_next(r->tasks, &it, &k, &v))
        task_free(v);
    sn_map_free(r->tasks);
    r->tasks = NULL;
}

struct sn_task *sn_registry_get(const struct sn_registry *r, const char *id)
{
    return sn_map_get(r->tasks, id);
}

struct sn_task *sn_registry_add(struct sn_registry *r, const char *id, const char *task_url,
                                const char *raw_url, const char *md5, const char *identifier,
                                const char *range_hdr)
{
    DF_ASSERT(strlen(id) == DF_TASKID_LEN && !sn_map_get(r->tasks, id));
    struct sn_task *t = df_xcalloc(1, sizeof(*t));
    memcpy(t->id, id, DF_TASKID_LEN + 1);
    t->task_url = df_xstrdup(task_url);
    t->raw_url = df_xstrdup(raw_url);
    t->md5 = df_xstrdup(md5 ? md5 : "");
    t->identifier = df_xstrdup(identifier ? identifier : "");
    t->range_hdr = range_hdr ? df_xstrdup(range_hdr) : NULL;
    t->http_length = -1;
    t->wrapped_length = -1;
    t->clients = sn_map_new();
    sn_sched_task_init(&t->sched, 0);
    sn_map_put(r->tasks, t->id, t);
    sn_registry_account(r, t);
    return t;
}

/* Per allocation: malloc's header and rounding, and a map entry's node. */
#define ALLOC_OVERHEAD 16
#define MAP_ENTRY_BYTES 64

static size_t str_bytes(const char *s) { return s ? strlen(s) + 1 + ALLOC_OVERHEAD : 0; }

size_t sn_peer_mem_bytes(const struct sn_peer *p)
{
    const char *strs[] = {p->cid, p->cid /* map key copy */, p->ip, p->host_name, p->path,
                          p->version, p->super_node_ip, p->call_system, p->src_ip};
    size_t n = sizeof(*p) + ALLOC_OVERHEAD + MAP_ENTRY_BYTES + sn_auth_creds_bytes(p->creds);
    for (size_t i = 0; i < DF_ARRAY_LEN(strs); i++)
        n += str_bytes(strs[i]);
    /* the inline struct is counted above; add its heap bitmaps */
    size_t sched = sn_sched_client_bytes(&p->sched);
    return n + (sched > sizeof(p->sched) ? sched - sizeof(p->sched) : 0);
}

size_t sn_task_mem_bytes(const struct sn_task *t)
{
    const char *strs[] = {t->task_url, t->raw_url, t->md5, t->identifier, t->range_hdr,
                          t->fail_reason, t->id /* map key copy */};
    size_t n = sizeof(*t) + ALLOC_OVERHEAD + MAP_ENTRY_BYTES + sn_sched_task_bytes(&t->sched) +
               (size_t)t->ndigests * sizeof(*t->digests) + t->nheaders * sizeof(char *) +
               (t->ca_pem ? t->ca_pem_len + 1 + ALLOC_OVERHEAD : 0) +
               sn_map_size(t->clients) * sizeof(void *); /* bucket array at load ≤ 1 */
    for (size_t i = 0; i < DF_ARRAY_LEN(strs); i++)
        n += str_bytes(strs[i]);
    for (size_t i = 0; i < t->nheaders; i++)
        n += str_bytes(t->headers[i]);
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    while (sn_map_next(t->clients, &it, &k, &v))
        n += sn_peer_mem_bytes(v);
    return n;
}

void sn_registry_account(struct sn_registry *r, struct sn_task *t)
{
    if (t->is_removed)
        return;
    size_t now = sn_task_mem_bytes(t);
    r->mem_bytes = r->mem_bytes - t->mem_charged + now;
    t->mem_charged = now;
}

void sn_registry_remove(struct sn_registry *r, struct sn_task *t)
{
    if (t->is_removed)
        return;
    r->mem_bytes -= t->mem_charged;
    t->mem_charged = 0;
    sn_map_del(r->tasks, t->id);
    t->is_removed = 1;
    if (t->refs == 0)
        task_free(t);
}

size_t sn_registry_count(const struct sn_registry *r) { return sn_map_size(r->tasks); }

void sn_task_ref(struct sn_task *t) { t->refs++; }

void sn_task_unref(struct sn_task *t)
{
    DF_ASSERT(t->refs > 0);
    if (--t->refs == 0 && t->is_removed)
        task_free(t);
}

void sn_task_set_headers(struct sn_task *t, char *const *headers, size_t n)
{
    for (size_t i = 0; i < t->nheaders; i++)
        free(t->headers[i]);
    free(t->headers);
    t->headers = n ? df_xcalloc(n, sizeof(char *)) : NULL;
    for (size_t i = 0; i < n; i++)
        t->headers[i] = df_xstrdup(headers[i]);
    t->nheaders = n;
}

void sn_task_set_tls(struct sn_task *t, int is_insecure, const char *ca_pem, size_t len,
                     size_t n_root_cas)
{
    free(t->ca_pem);
    t->ca_pem = NULL;
    t->ca_pem_len = 0;
    t->n_root_cas = 0;
    t->is_insecure = is_insecure;
    if (ca_pem && len) {
        t->ca_pem = df_xmalloc(len + 1);
        memcpy(t->ca_pem, ca_pem, len);
        t->ca_pem[len] = '\0';
        t->ca_pem_len = len;
        t->n_root_cas = n_root_cas;
    }
}

int sn_task_is_same_tls(const struct sn_task *t, int is_insecure, const char *ca_pem, size_t len)
{
    if (!ca_pem)
        len = 0;
    return !t->is_insecure == !is_insecure && t->ca_pem_len == len &&
           (len == 0 || memcmp(t->ca_pem, ca_pem, len) == 0);
}

void sn_task_set_failed(struct sn_task *t, int http_status, const char *reason)
{
    t->cdn_status = SN_CDN_FAILED;
    sn_sched_set_cdn_state(&t->sched, SN_SCHED_CDN_FAILED);
    t->fail_http_status = http_status;
    free(t->fail_reason);
    t->fail_reason = df_xstrdup(reason);
}

void sn_task_set_geometry(struct sn_task *t, int64_t http_length, uint32_t piece_size)
{
    t->http_length = http_length;
    t->piece_size = piece_size;
    uint32_t total = http_length >= 0 ? df_proto_piece_count(http_length, piece_size) : 0;
    t->wrapped_length = http_length >= 0 ? df_proto_wrapped_length(http_length, piece_size) : -1;
    sn_sched_task_set_total(&t->sched, total);
    if (total > t->ndigests) {
        t->digests = df_xrealloc(t->digests, total * sizeof(*t->digests));
        memset(t->digests + t->ndigests, 0, (total - t->ndigests) * sizeof(*t->digests));
        t->ndigests = total;
    }
}

void sn_task_reset_pieces(struct sn_task *t)
{
    sn_sched_task_reset(&t->sched, t->sched.total);
    if (t->ndigests)
        memset(t->digests, 0, t->ndigests * sizeof(*t->digests));
}

int sn_task_piece_done(struct sn_task *t, uint32_t n, const struct sn_piece_digest *d)
{
    int rc = sn_sched_cdn_add(&t->sched, n);
    if (rc < 0)
        return rc;
    if (n >= t->ndigests) {
        uint32_t nd = DF_MAX(n + 1, t->ndigests * 2);
        t->digests = df_xrealloc(t->digests, nd * sizeof(*t->digests));
        memset(t->digests + t->ndigests, 0, (nd - t->ndigests) * sizeof(*t->digests));
        t->ndigests = nd;
    }
    t->digests[n] = *d;
    return 0;
}

void sn_task_piece_md5(const struct sn_task *t, uint32_t n, char *out, size_t len)
{
    char hex[DF_DIGEST_HEX_MAX];
    DF_ASSERT(n < t->ndigests);
    df_hex_encode(t->digests[n].md5, 16, hex);
    snprintf(out, len, "%s:%u", hex, (unsigned)t->digests[n].wrapped_len);
}

void sn_task_piece_sha256(const struct sn_task *t, uint32_t n, char out[65])
{
    DF_ASSERT(n < t->ndigests);
    df_hex_encode(t->digests[n].sha256, 32, out);
}

struct sn_peer *sn_task_peer_get(const struct sn_task *t, const char *cid)
{
    return sn_map_get(t->clients, cid);
}

void sn_peer_set_str(char **field, const char *val)
{
    free(*field);
    *field = df_xstrdup(val ? val : "");
}

struct sn_peer *sn_task_peer_upsert(struct sn_task *t, const char *cid)
{
    struct sn_peer *p = sn_map_get(t->clients, cid);
    if (p)
        return p;
    p = df_xcalloc(1, sizeof(*p));
    p->cid = df_xstrdup(cid);
    char **fields[] = {&p->ip, &p->host_name, &p->path, &p->version, &p->super_node_ip,
                       &p->call_system};
    for (size_t i = 0; i < DF_ARRAY_LEN(fields); i++)
        *fields[i] = df_xstrdup("");
    sn_sched_client_init(&t->sched, &p->sched, 0);
    sn_map_put(t->clients, p->cid, p);
    return p;
}

struct sn_peer *sn_task_peer_at(const struct sn_task *t, int32_t idx)
{
    if (idx < 0 || (uint32_t)idx >= t->sched.nslots || !t->sched.slots[idx])
        return NULL;
    return (struct sn_peer *)(void *)((char *)t->sched.slots[idx] - offsetof(struct sn_peer, sched));
}

int32_t sn_task_src_of(const struct sn_task *t, const char *cid)
{
    if (!cid || !*cid)
        return SN_SCHED_SRC_NONE;
    if (sn_task_is_cdn_cid(cid))
        return SN_SCHED_SRC_CDN;
    const struct sn_peer *p = sn_task_peer_get(t, cid);
    return p ? p->sched.idx : SN_SCHED_SRC_NONE;
}

void sn_task_peer_remove(struct sn_task *t, struct sn_peer *p)
{
    sn_map_del(t->clients, p->cid);
    peer_free(p, t);
}

void sn_task_cdn_cid(const char *advertise_ip, const char *id, char *out, size_t len)
{
    snprintf(out, len, "cdnnode:%s~%s", advertise_ip, id);
}

int sn_task_is_cdn_cid(const char *cid) { return strncmp(cid, "cdnnode:", 8) == 0; }

int sn_task_is_expired(const struct sn_task *t, int64_t now_ms, int64_t expire_ms)
{
    return t->refs == 0 && !t->cdn && now_ms - t->access_ms > expire_ms;
}

int sn_peer_is_expired(const struct sn_peer *p, int64_t now_ms, int64_t peer_gc_delay_ms)
{
    return p->service_down_ms > 0 && now_ms - p->service_down_ms > peer_gc_delay_ms;
}
