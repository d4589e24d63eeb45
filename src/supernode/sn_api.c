/* SPDX-License-Identifier: Apache-2.0 */
/* Control API handlers (spec §2): decode (sn_req) → registry / CDN / scheduler → encode.
 * Registrations of a task whose origin headers are not in yet are deferred (the evhttp request
 * is kept on the task's pending list) and answered by sn_api_on_task_ready(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "df_http_server.h"
#include "df_log.h"
#include "df_proto.h"
#include "df_redact.h"
#include "df_token.h"
#include "df_util.h"
#include "sn_auth.h"
#include "sn_cdn.h"
#include "sn_limit.h"
#include "sn_req.h"
#include "sn_server.h"

struct pending {
    struct pending *next;
    struct evhttp_request *req;
    char *cid;
};

/* A registration waiting for the origin to accept the client's credentials (private task). */
#define SN_API_MAX_ADMITS 256 /* credential checks in flight (each holds a registration) */

struct sn_admit {
    struct sn_admit *prev, *next;
    struct sn_server *s;
    struct evhttp_request *req;
    struct sn_task *t;            /* referenced */
    struct sn_reg_req r;
    char src_ip[64];
    struct sn_auth_check *check;
};

int sn_api_needs_token(const struct sn_server *s, const struct sn_task *t)
{
    return t->is_private || s->cfg->is_peer_auth_required;
}

int sn_api_sign_token(struct sn_server *s, const struct sn_task *t, struct sn_peer *p, char *out,
                      size_t outsz)
{
    int64_t exp = (int64_t)time(NULL) + s->cfg->token_ttl_ms / 1000;
    int n = df_token_sign(s->token_key, t->id, p->cid, p->src_ip ? p->src_ip : "", exp, out, outsz);
    if (n > 0)
        p->token_exp_unix = exp;
    return n;
}

/* Registration data (spec §2.3) plus, for tasks whose pieces need a token, the
 * peer-authentication extension that Dragonfly 1.x clients ignore: pieceAuth (pieces of this task need a token), pieceKey (the public key that
 * verifies tokens, for the client's uploader) and pieceToken (this client's token). */
static json_t *reg_data(struct sn_server *s, const struct sn_task *t, struct sn_peer *p)
{
    json_t *o = json_pack("{s:s,s:I,s:I,s:s}", "taskId", t->id, "fileLength",
                          (json_int_t)t->http_length, "pieceSize", (json_int_t)t->piece_size,
                          "cdnSource", "supernode");
    /* public tasks keep Dragonfly's exact reply */
    if (!sn_api_needs_token(s, t))
        return o;
    char tok[DF_TOKEN_MAX];
    json_object_set_new(o, "pieceAuth", json_boolean(1));
    json_object_set_new(o, "pieceKey", json_string(s->token_pub));
    if (p && sn_api_sign_token(s, t, p, tok, sizeof(tok)) > 0)
        json_object_set_new(o, "pieceToken", json_string(tok));
    return o;
}

static void reply_failed_registration(struct sn_server *s, struct sn_task *t,
                                      struct evhttp_request *req, const char *cid)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "%s", t->fail_reason ? t->fail_reason : "CDN failed");
    s->metrics.dfgettasks_failed++;
    /* The client never got a task: forget it unless it already made progress. */
    struct sn_peer *p = cid ? sn_task_peer_get(t, cid) : NULL;
    if (p && p->sched.done.count == 0 && p->sched.nrunning == 0)
        sn_task_peer_remove(t, p);
    df_http_reply_error(req, 500, msg);
}

static void reply_registration(struct sn_server *s, struct sn_task *t, struct evhttp_request *req,
                               const char *cid)
{
    if (t->cdn_status == SN_CDN_FAILED && !t->cdn) {
        reply_failed_registration(s, t, req, cid);
        return;
    }
    s->metrics.dfgettasks_registered++;
    df_http_reply_result(req, DF_CODE_SUCCESS, NULL,
                         reg_data(s, t, cid ? sn_task_peer_get(t, cid) : NULL));
}

void sn_api_on_task_ready(struct sn_task *t, void *arg)
{
    struct sn_server *s = arg;
    if (!t->cdn && t->needs_refetch)
        sn_verify_on_cdn_end(s, t);
    if (!t->is_reg_ready && t->cdn_status != SN_CDN_FAILED)
        return;
    struct pending *p = t->pending;
    t->pending = NULL;
    while (p) {
        struct pending *next = p->next;
        reply_registration(s, t, p->req, p->cid);
        free(p->cid);
        free(p);
        sn_task_unref(t);
        p = next;
    }
}

static void admit_free(struct sn_admit *a)
{
    struct sn_server *s = a->s;
    s->nadmits--;
    if (a->prev)
        a->prev->next = a->next;
    else
        s->admits = a->next;
    if (a->next)
        a->next->prev = a->prev;
    sn_req_reg_cleanup(&a->r);
    free(a);
}

void sn_api_shutdown(struct sn_server *s)
{
    while (s->admits) {
        struct sn_admit *a = s->admits;
        sn_auth_check_cancel(a->check);
        df_http_reply_error(a->req, 503, "supernode shutting down");
        a->t->refs--; /* not sn_task_unref: the registry frees every task right after */
        admit_free(a);
    }
    sn_pull_shutdown(s);
    struct sn_map_iter it = {0};
    const char *id;
    void *v;
    while (sn_map_next(s->reg.tasks, &it, &id, &v)) {
        struct sn_task *t = v;
        struct pending *p = t->pending;
        t->pending = NULL;
        while (p) {
            struct pending *next = p->next;
            df_http_reply_error(p->req, 503, "supernode shutting down");
            free(p->cid);
            free(p);
            t->refs--; /* not sn_task_unref: the registry frees every task right after */
            p = next;
        }
    }
}

/* ---- POST /peer/registry ---------------------------------------------------------------- */

/* Form when declared as such, unless the body is plainly a JSON object (curl -d sends
 * JSON with the form content type); without a Content-Type, sniff. */
static int is_form_body(struct evhttp_request *req, const char *body)
{
    const char *ct = df_http_req_header_in(req, "Content-Type");
    while (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')
        body++;
    if (*body == '{')
        return 0;
    if (ct)
        return strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
    return strchr(body, '=') != NULL;
}

/* A registration whose bytes the origin gives only to whoever proves something: it carries
 * credentials (headers, URL userinfo), or its taskUrl drops query parameters (--filter: signed
 * URLs such as S3's), so that joiners with another signature, or none, map to the same task. */
static int is_private_registration(const struct sn_reg_req *r)
{
    return sn_auth_has_credentials(r->raw_url, r->headers, r->nheaders) ||
           strcmp(r->raw_url, r->task_url) != 0;
}

/* The client is admitted to t: record it, start the CDN when needed, answer (now or when the
 * task is ready). Takes care of r (cleaned up). */
static void register_admitted(struct sn_server *s, struct sn_task *t, struct sn_reg_req *r,
                              struct evhttp_request *req, const char *src_ip)
{
    char err[DF_ERR_LEN];
    int64_t now = df_now_ms();
    t->access_ms = now;
    struct sn_peer *p = sn_task_peer_upsert(t, r->cid);
    sn_peer_set_str(&p->ip, r->ip);
    sn_peer_set_str(&p->host_name, r->host_name);
    sn_peer_set_str(&p->path, r->path);
    sn_peer_set_str(&p->version, r->version);
    sn_peer_set_str(&p->super_node_ip, r->super_node_ip);
    sn_peer_set_str(&p->call_system, r->call_system);
    sn_peer_set_str(&p->src_ip, src_ip);
    p->port = r->port;
    p->access_ms = now;
    p->service_down_ms = 0;
    p->sched.is_in_order = r->is_dfdaemon;
    sn_sched_client_set_source(&t->sched, &p->sched, r->port > 0);
    if ((t->cdn_status == SN_CDN_WAITING || t->cdn_status == SN_CDN_FAILED) && !t->cdn) {
        /* The registration that (re)starts the CDN provides the origin headers and TLS
         * settings (spec §11.11: they are kept while the task lives), and decides whether the
         * task is private: its bytes come from an origin that was given credentials. */
        sn_task_set_headers(t, r->headers, r->nheaders);
        sn_task_set_tls(t, r->is_insecure, r->root_cas_pem, r->root_cas_len, r->nroot_cas);
        /* the URL goes with the headers: never the victim's signed URL with an attacker's
         * headers; and a task once private stays private (its re-triggers are admitted) */
        sn_peer_set_str(&t->raw_url, r->raw_url);
        t->is_private |= is_private_registration(r);
        int rc = sn_cdn_trigger(s->cdn, t);
        if (rc < 0) {
            snprintf(err, sizeof(err), "cannot start the CDN download: %s", df_strerror(rc));
            sn_task_peer_remove(t, p);
            DF_LOGW("api", "registration of %s refused: %s", r->task_url, err);
            s->metrics.dfgettasks_failed++;
            df_http_reply_error(req, 500, err);
            sn_req_reg_cleanup(r);
            return;
        }
    }
    if (t->is_private) {
        struct sn_auth_req ar = {
            .url = r->raw_url,
            .headers = r->headers,
            .nheaders = r->nheaders,
            .is_insecure = r->is_insecure,
            .ca_pem = r->root_cas_pem,
            .ca_pem_len = r->root_cas_len,
        };
        sn_auth_creds_free(p->creds);
        p->creds = sn_auth_creds_new(&ar);
    }
    if (t->is_reg_ready) {
        reply_registration(s, t, req, r->cid);
    } else {
        struct pending *pd = df_xcalloc(1, sizeof(*pd));
        pd->req = req;
        pd->cid = df_xstrdup(r->cid);
        pd->next = t->pending;
        t->pending = pd;
        sn_task_ref(t);
    }
    sn_registry_account(&s->reg, t);
    DF_LOGI("api", "register cid=%s ip=%s port=%d task=%s url=%s cdn=%s%s%s rootCAs=%zu", r->cid,
            r->ip, r->port, t->id, r->task_url, sn_cdn_status_name(t->cdn_status),
            t->is_private ? " private" : "", r->is_insecure ? " insecure" : "", r->nroot_cas);
    sn_req_reg_cleanup(r);
}

static void refuse_admission(struct sn_server *s, struct sn_task *t, struct sn_reg_req *r,
                             struct evhttp_request *req, int status, const char *why)
{
    char msg[DF_ERR_LEN];
    snprintf(msg, sizeof(msg),
             "not admitted to private task %s: the origin did not accept this client's "
             "credentials (%s)", t->id, why);
    DF_LOGW("api", "registration of cid=%s for private task %s refused: %s", r->cid, t->id, why);
    s->metrics.dfgettasks_failed++;
    s->metrics.admissions_refused++;
    df_http_reply_error(req, status == 0 ? 502 : 403, msg);
    sn_req_reg_cleanup(r);
}

static void on_admit_checked(int status, const char *why, void *arg)
{
    struct sn_admit *a = arg;
    struct sn_server *s = a->s;
    struct sn_task *t = a->t;
    a->check = NULL;
    if (t->is_removed) {
        df_http_reply_error(a->req, 500, "task expired while checking the client's credentials");
        sn_req_reg_cleanup(&a->r);
    } else if (sn_auth_is_allowed(status)) {
        register_admitted(s, t, &a->r, a->req, a->src_ip);
    } else {
        refuse_admission(s, t, &a->r, a->req, status, why);
    }
    admit_free(a);
    sn_task_unref(t);
}

/* 1 when r joins a private task: the origin must accept r's own credentials first. */
static int needs_admission(const struct sn_task *t)
{
    return t->is_private; /* also when this registration would start the download again */
}

/* Admission limits (sn_limit.h), checked before a registration creates anything: the
 * metadata budget for a new task or client, and the per-address rate of new origin downloads
 * for a registration that would start one. Returns 0, or -1 after answering (503 / 429 with
 * Retry-After; r cleaned up). */
static int refuse_over_limits(struct sn_server *s, const struct sn_task *t, struct sn_reg_req *r,
                              struct evhttp_request *req, const char *src_ip, int64_t now)
{
    char err[DF_ERR_LEN];
    int status;
    int64_t retry_ms;
    int is_new = !t || !sn_task_peer_get(t, r->cid);
    uint64_t want = sn_req_reg_bytes(r);
    if (sn_limit_over_budget(s->reg.mem_bytes, want, s->cfg->max_metadata, is_new)) {
        status = 503;
        retry_ms = s->cfg->task_expire_ms; /* memory is given back as tasks expire */
        snprintf(err, sizeof(err), "supernode metadata budget full (%llu of %llu bytes in use, "
                 "--max-metadata): new %s refused", (unsigned long long)s->reg.mem_bytes,
                 (unsigned long long)s->cfg->max_metadata, t ? "client" : "task");
        s->metrics.refused_budget++;
        goto refuse;
    }
    int is_trigger = !t || ((t->cdn_status == SN_CDN_WAITING || t->cdn_status == SN_CDN_FAILED) &&
                            !t->cdn);
    if (is_trigger && (retry_ms = sn_limit_take(s->limit, src_ip, now)) > 0) {
        status = 429;
        snprintf(err, sizeof(err), "too many new downloads from %s: at most %u per minute "
                 "(--new-task-limit); retry in %lld s", src_ip, s->cfg->new_task_limit,
                 (long long)((retry_ms + 999) / 1000));
        s->metrics.refused_rate++;
        goto refuse;
    }
    return 0;
refuse:;
    char ra[32];
    snprintf(ra, sizeof(ra), "%lld", (long long)((retry_ms + 999) / 1000));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
    DF_LOGW("api", "registration of cid=%s from %s for %s refused: %s", r->cid, src_ip,
            r->task_url, err);
    s->metrics.dfgettasks_failed++;
    df_http_reply_error(req, status, err);
    sn_req_reg_cleanup(r);
    return -1;
}

static void h_register(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    size_t len;
    char *body = df_http_body_dup(call->req, &len);
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    if (sn_req_decode_registry(body, len, is_form_body(call->req, body), &r, err) < 0) {
        free(body);
        s->metrics.dfgettasks_failed++;
        DF_LOGW("api", "registration rejected: %s", err);
        df_http_reply_error(call->req, 400, err);
        return;
    }
    free(body);
    char id[DF_TASKID_LEN + 1];
    df_proto_task_id(r.task_url, r.md5, r.identifier, sn_req_range_header(&r), id);
    int64_t now = df_now_ms();
    struct sn_task *t = sn_registry_get(&s->reg, id);
    if (t && (strcmp(t->task_url, r.task_url) != 0 || strcmp(t->md5, r.md5) != 0 ||
              strcmp(t->identifier, r.identifier) != 0)) {
        snprintf(err, sizeof(err), "task conflict: task %s exists for another URL", id);
        goto refuse;
    }
    /* A TLS verification failure blocks only registrations that would fail the same way: one
     * with other rootCAs / insecure gets a new attempt at once (spec: every failure blocks). */
    if (t && t->unreachable_until_ms > now &&
        !(t->is_cert_block &&
          !sn_task_is_same_tls(t, r.is_insecure, r.root_cas_pem, r.root_cas_len))) {
        char *u = df_redact_url(r.raw_url);
        snprintf(err, sizeof(err), "url not reachable: %s (retry in %lld s)",
                 t->fail_reason ? t->fail_reason : u,
                 (long long)((t->unreachable_until_ms - now + 999) / 1000));
        free(u);
        goto refuse;
    }
    char src_ip[64]; /* tokens are bound to it; copied: an admission outlives this call */
    snprintf(src_ip, sizeof(src_ip), "%s", df_http_req_peer_ip(call->req));
    if (refuse_over_limits(s, t, &r, call->req, src_ip, now) < 0)
        return;
    if (!t) {
        t = sn_registry_add(&s->reg, id, r.task_url, r.raw_url, r.md5, r.identifier,
                            sn_req_range_header(&r));
        s->metrics.tasks_registered++;
    }
    /* A client that cannot send piece tokens (Dragonfly 1.x) could never fetch a piece of a
     * task that needs them: refuse it now with the reason rather than after every piece. */
    int is_trigger = (t->cdn_status == SN_CDN_WAITING || t->cdn_status == SN_CDN_FAILED) && !t->cdn;
    int will_need_token = s->cfg->is_peer_auth_required ||
                          t->is_private || (is_trigger && is_private_registration(&r));
    if (will_need_token && !r.is_token_capable) {
        snprintf(err, sizeof(err), "%s: pieces of this task need a piece token and this client "
                 "does not send them (pieceAuth); use a damselfly dfget/dfdaemon or download "
                 "from the origin", s->cfg->is_peer_auth_required ? "--peer-auth required"
                                                                  : "private task");
        if (sn_map_size(t->clients) == 0 && !t->cdn && t->cdn_status == SN_CDN_WAITING)
            sn_registry_remove(&s->reg, t); /* created for this registration only */
        DF_LOGW("api", "registration of %s refused: %s", r.task_url, err);
        s->metrics.dfgettasks_failed++;
        df_http_reply_error(call->req, 403, err);
        sn_req_reg_cleanup(&r);
        return;
    }
    if (!needs_admission(t)) {
        register_admitted(s, t, &r, call->req, src_ip);
        return;
    }
    struct sn_auth_req ar = {
        .task_id = t->id,
        .url = r.raw_url,
        .headers = r.headers,
        .nheaders = r.nheaders,
        .is_insecure = r.is_insecure,
        .ca_pem = r.root_cas_pem,
        .ca_pem_len = r.root_cas_len,
        .policy = s->cfg->origin_policy,
    };
    if (s->nadmits >= SN_API_MAX_ADMITS) {
        snprintf(err, sizeof(err), "too many credential checks in flight (%d); retry later",
                 SN_API_MAX_ADMITS);
        DF_LOGW("api", "registration for private task %s refused: %s", t->id, err);
        s->metrics.dfgettasks_failed++;
        df_http_reply_error(call->req, 503, err);
        sn_req_reg_cleanup(&r);
        return;
    }
    struct sn_admit *a = df_xcalloc(1, sizeof(*a));
    int status = 0;
    int rc = sn_auth_check(s->auth, &ar, on_admit_checked, a, &a->check, &status);
    if (rc == 1) {
        free(a);
        if (sn_auth_is_allowed(status)) {
            register_admitted(s, t, &r, call->req, src_ip);
        } else {
            snprintf(err, sizeof(err), "origin answered HTTP %d, cached", status);
            refuse_admission(s, t, &r, call->req, status, err);
        }
        return;
    }
    if (rc < 0) {
        free(a);
        snprintf(err, sizeof(err), "cannot check the client's credentials with the origin: %s",
                 df_strerror(rc));
        goto refuse;
    }
    a->s = s;
    a->req = call->req;
    a->t = t;
    a->r = r; /* moved: freed by the admission */
    snprintf(a->src_ip, sizeof(a->src_ip), "%s", src_ip);
    a->next = s->admits;
    if (s->admits)
        s->admits->prev = a;
    s->admits = a;
    s->nadmits++;
    sn_task_ref(t);
    return;
refuse:
    DF_LOGW("api", "registration of %s refused: %s", r.task_url, err);
    s->metrics.dfgettasks_failed++;
    df_http_reply_error(call->req, 500, err);
    sn_req_reg_cleanup(&r);
}

/* ---- piece/suc, service/down, piece/error ----------------------------------------------- */

static void h_piece_suc(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    const char *id = df_http_query_get(&call->query, "taskId");
    const char *cid = df_http_query_get(&call->query, "cid");
    const char *dst = df_http_query_get(&call->query, "dstCid");
    const char *range = df_http_query_get(&call->query, "pieceRange");
    char msg[DF_ERR_LEN];
    if (!id || !*id || !cid || !*cid || !dst || !range || !*range) {
        df_http_reply_error(call->req, 400, "taskId, cid, dstCid and pieceRange are required");
        return;
    }
    struct sn_task *t = sn_registry_get(&s->reg, id);
    struct sn_peer *p = t ? sn_task_peer_get(t, cid) : NULL;
    if (!p) {
        snprintf(msg, sizeof(msg), "failed to get key %.80s: data not found", t ? cid : id);
        df_http_reply_error(call->req, 500, msg);
        return;
    }
    if (!sn_task_is_cdn_cid(dst) && !sn_task_peer_get(t, dst)) {
        snprintf(msg, sizeof(msg), "failed to get key %.80s: data not found", dst);
        df_http_reply_error(call->req, 500, msg);
        return;
    }
    int64_t n = t->piece_size ? df_proto_range_piece(range, t->piece_size) : -EINVAL;
    if (n < 0 || sn_sched_holder_add(&t->sched, &p->sched, (uint32_t)n) < 0) {
        snprintf(msg, sizeof(msg), "invalid pieceRange '%.64s'", range);
        df_http_reply_error(call->req, 400, msg);
        return;
    }
    df_http_reply_json(call->req, 200, "{\"code\":611}");
}

static void h_service_down(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    const char *id = df_http_query_get(&call->query, "taskId");
    const char *cid = df_http_query_get(&call->query, "cid");
    if (!cid || !*cid) {
        df_http_reply_error(call->req, 400, "cid is required");
        return;
    }
    int found = 0;
    int64_t now = df_now_ms();
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    while (sn_map_next(s->reg.tasks, &it, &k, &v)) {
        struct sn_task *t = v;
        if (id && *id && strcmp(id, t->id) != 0)
            continue;
        struct sn_peer *p = sn_task_peer_get(t, cid);
        if (p) {
            p->service_down_ms = now;
            sn_sched_peer_down(&t->sched, &p->sched);
            found = 1;
            DF_LOGI("sched", "task %.16s: peer %s service down: removed from every holder list",
                    t->id, cid);
        }
    }
    if (!found) {
        char msg[DF_ERR_LEN];
        snprintf(msg, sizeof(msg), "failed to get key %.80s: data not found", cid);
        df_http_reply_error(call->req, 500, msg);
        return;
    }
    df_http_reply_json(call->req, 200, "{\"code\":612}");
}

static void h_piece_error(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    const char *type = df_http_query_get(&call->query, "errorType");
    const char *src = df_http_query_get(&call->query, "srcCid");
    const char *dst = df_http_query_get(&call->query, "dstCid");
    const char *id = df_http_query_get(&call->query, "taskId");
    const char *range = df_http_query_get(&call->query, "range");
    DF_LOGW("api", "piece error %.32s reported by %.160s for task %.64s range %.48s from %.160s",
            type ? type : "?", src ? src : "?", id ? id : "?", range ? range : "?",
            dst ? dst : "?");
    if (type && id && dst && range)
        sn_verify_piece_error(s, type, id, dst, range);
    /* A corrupt piece from a peer: its failures now eliminate it even while it serves others
     * (sn_sched_uploader_corrupt). Only a client of the task can say so. */
    struct sn_task *t = id ? sn_registry_get(&s->reg, id) : NULL;
    struct sn_peer *x = t && dst ? sn_task_peer_get(t, dst) : NULL;
    struct sn_peer *by = t && src ? sn_task_peer_get(t, src) : NULL;
    if (x && by && x != by && type && strcmp(type, "FILE_MD5_NOT_MATCH") == 0) {
        int was = x->sched.is_eliminated;
        sn_sched_uploader_corrupt(&t->sched, &x->sched, &s->lim);
        if (!was && x->sched.is_eliminated) {
            s->metrics.peers_eliminated++;
            DF_LOGW("sched", "task %.16s: uploader %s (%s:%d) eliminated: corrupt pieces and "
                    "%u failures for several clients", t->id, x->cid, x->ip, x->port,
                    (unsigned)x->sched.service_errors);
        }
    }
    df_http_reply(call->req, 200, NULL, NULL, 0);
}

/* ---- misc ------------------------------------------------------------------------------- */

static void h_ping(struct df_http_call *call, void *arg)
{
    (void)arg;
    df_http_reply(call->req, 200, "text/plain; charset=utf-8", "OK", 2);
}

static void h_version(struct df_http_call *call, void *arg)
{
    (void)arg;
    struct utsname u;
    const char *machine = uname(&u) == 0 ? u.machine : "unknown";
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "Version", DF_VERSION, "Arch", machine, "OS",
                          "linux", "GoVersion", "", "Implementation", "damselfly (C17)");
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    df_http_reply_json(call->req, 200, txt);
    free(txt);
}

static void h_metrics(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    uint64_t by_status[4] = {0, 0, 0, 0};
    size_t peers = 0;
    struct sn_map_iter it = {0};
    const char *k;
    void *v;
    while (sn_map_next(s->reg.tasks, &it, &k, &v)) {
        const struct sn_task *t = v;
        by_status[t->cdn_status]++;
        peers += sn_map_size(t->clients);
    }
    s->metrics.metadata_bytes = s->reg.mem_bytes;
    char *txt = sn_metrics_render(&s->metrics, by_status, peers);
    df_http_reply(call->req, 200, "text/plain; version=0.0.4; charset=utf-8", txt, strlen(txt));
    free(txt);
}

static void h_task_metrics(struct df_http_call *call, void *arg)
{
    (void)arg;
    df_http_reply_json(call->req, 200, "null");
}

static void h_empty_object(struct df_http_call *call, void *arg)
{
    (void)arg;
    df_http_reply_json(call->req, 200, "{}");
}

static void h_api_task(struct df_http_call *call, void *arg)
{
    struct sn_server *s = arg;
    const char *id = call->rest;
    struct sn_task *t = strlen(id) == DF_TASKID_LEN ? sn_registry_get(&s->reg, id) : NULL;
    if (!t) {
        df_http_reply_error(call->req, 404, "task not found");
        return;
    }
    if (call->method == DF_HTTP_M_DELETE) {
        if (t->cdn || t->refs) {
            df_http_reply_error(call->req, 409, "task CDN download in progress");
            return;
        }
        const char *full = df_http_query_get(&call->query, "full");
        int is_full = full && strcasecmp(full, "true") == 0;
        DF_LOGI("api", "task %s deleted by API (full=%d)", t->id, is_full);
        if (is_full)
            sn_cdn_delete_files(s->cdn, t->id);
        s->metrics.gc_tasks++;
        sn_registry_remove(&s->reg, t);
        df_http_reply(call->req, 200, NULL, NULL, 0);
        return;
    }
    /* Credentials stay in memory for the origin requests: the API shows "***" for them. */
    json_t *hdrs = json_object();
    for (size_t i = 0; i < t->nheaders; i++) {
        const char *colon = strchr(t->headers[i], ':');
        char *key = df_xstrndup(t->headers[i], (size_t)(colon - t->headers[i]));
        json_object_set_new(hdrs, key, json_string(df_redact_is_secret_header(key) ? DF_REDACTED
                                                                                     : colon + 2));
        free(key);
    }
    /* a filtered rawUrl differs from the taskUrl by its signature: the API shows the taskUrl */
    char *raw_url = df_redact_url(strcmp(t->raw_url, t->task_url) ? t->task_url : t->raw_url);
    char *task_url = df_redact_url(t->task_url);
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "ID", t->id,
                          "cdnStatus", sn_cdn_status_name(t->cdn_status), "fileLength",
                          (json_int_t)t->wrapped_length, "httpFileLength",
                          (json_int_t)t->http_length, "pieceSize", (json_int_t)t->piece_size,
                          "pieceTotal", (json_int_t)t->sched.total, "rawURL", raw_url,
                          "taskURL", task_url, "md5", t->md5, "realMd5", t->real_md5,
                          "realSha256", t->real_sha256, "identifier", t->identifier,
                          "headers", hdrs);
    json_object_set_new(o, "insecure", json_boolean(t->is_insecure));
    json_object_set_new(o, "rootCAs", json_integer((json_int_t)t->n_root_cas));
    json_object_set_new(o, "private", json_boolean(t->is_private));
    free(raw_url);
    free(task_url);
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    df_http_reply_json(call->req, 200, txt);
    free(txt);
}

void sn_api_install(struct sn_server *s)
{
    struct df_http_server *h = s->api;
    sn_pull_init(s);
    df_http_server_route(h, "register", DF_HTTP_M_POST, "/peer/registry", 0, h_register, s);
    df_http_server_route(h, "pull", DF_HTTP_M_GET, "/peer/task", 0, sn_pull_handle, s);
    df_http_server_route(h, "piece_suc", DF_HTTP_M_GET, "/peer/piece/suc", 0, h_piece_suc, s);
    df_http_server_route(h, "service_down", DF_HTTP_M_GET, "/peer/service/down", 0,
                         h_service_down, s);
    df_http_server_route(h, "piece_error", DF_HTTP_M_GET, "/peer/piece/error", 0, h_piece_error, s);
    df_http_server_route(h, "ping", DF_HTTP_M_GET | DF_HTTP_M_HEAD, "/_ping", 0, h_ping, s);
    df_http_server_route(h, "version", DF_HTTP_M_GET, "/version", 0, h_version, s);
    df_http_server_route(h, "metrics", DF_HTTP_M_GET, "/metrics", 0, h_metrics, s);
    df_http_server_route(h, "task_metrics", DF_HTTP_M_POST, "/task/metrics", 0, h_task_metrics, s);
    df_http_server_route(h, "peer_network", DF_HTTP_M_POST, "/peer/network", 0, h_empty_object, s);
    df_http_server_route(h, "peer_heartbeat", DF_HTTP_M_POST, "/peer/heartbeat", 0,
                         h_empty_object, s);
    df_http_server_route(h, "api_task", DF_HTTP_M_GET | DF_HTTP_M_DELETE, "/api/v1/tasks/", 1,
                         h_api_task, s);
}
