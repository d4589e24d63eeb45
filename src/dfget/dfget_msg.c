/* SPDX-License-Identifier: Apache-2.0 */
/* Encoding of dfget's requests to the supernode and decoding of its replies. All JSON goes
 * through jansson and the case-insensitive getters of df_json (the supernode may answer with
 * Go-style key spellings). Input from the network is validated here so the download loop can
 * trust every field it gets. */
#include "dfget_msg.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df_json.h"
#include "df_util.h"

/* ---- registration body ------------------------------------------------------------------ */

static void set_str(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v ? v : ""));
}

static void set_opt(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

char *dfget_msg_reg_body(const struct dfget_reg_req *r)
{
    json_t *o = json_object();
    set_str(o, "superNodeIp", r->supernode_ip);
    set_str(o, "rawUrl", r->raw_url);
    set_str(o, "taskUrl", r->task_url);
    set_str(o, "cid", r->cid);
    set_str(o, "ip", r->ip);
    set_str(o, "hostName", r->host_name);
    json_object_set_new(o, "port", json_integer(r->port));
    set_str(o, "path", r->path);
    set_str(o, "version", r->version);
    set_opt(o, "md5", r->md5);
    if (!r->md5 || !*r->md5)
        set_opt(o, "identifier", r->identifier);
    set_opt(o, "callSystem", r->callsystem);
    if (r->nheaders) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->nheaders; i++)
            json_array_append_new(a, json_string(r->headers[i]));
        json_object_set_new(o, "headers", a);
    }
    json_object_set_new(o, "dfdaemon", json_boolean(r->is_dfdaemon));
    json_object_set_new(o, "insecure", json_boolean(r->is_insecure));
    /* extension: we send piece tokens (Dragonfly 1.x supernodes ignore the key) */
    json_object_set_new(o, "pieceAuth", json_true());
    if (r->nroot_cas) {
        json_t *a = json_array();
        for (size_t i = 0; i < r->nroot_cas; i++)
            json_array_append_new(a, json_string(r->root_cas[i]));
        json_object_set_new(o, "rootCAs", a);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    DF_ASSERT(s);
    return s;
}

/* ---- envelopes -------------------------------------------------------------------------- */

/* Loads the body and reads code + msg (ResultInfo) or code + message (Go error envelope). */
static json_t *load_envelope(const char *body, size_t len, int *code, char msg[DF_ERR_LEN],
                             char err[DF_ERR_LEN])
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root || !json_is_object(root)) {
        snprintf(err, DF_ERR_LEN, "reply is not a JSON object: %.120s",
                 root ? "(not an object)" : je.text);
        json_decref(root);
        return NULL;
    }
    int64_t c;
    if (df_json_int_ci(root, "code", &c) < 0 || c < 0 || c > 100000) {
        snprintf(err, DF_ERR_LEN, "reply has no valid \"code\"");
        json_decref(root);
        return NULL;
    }
    *code = (int)c;
    const char *m = df_json_str_ci(root, "msg");
    if (!m)
        m = df_json_str_ci(root, "message");
    snprintf(msg, DF_ERR_LEN, "%s", m ? m : "");
    for (char *p = msg; *p; p++) /* one-line messages only */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return root;
}

static int is_hex_n(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static void lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = '\0';
}

int dfget_msg_parse_reg(const char *body, size_t len, struct dfget_reg_reply *out,
                        char err[DF_ERR_LEN])
{
    memset(out, 0, sizeof(*out));
    out->file_length = -1;
    snprintf(out->cdn_source, sizeof(out->cdn_source), "supernode");
    json_t *root = load_envelope(body, len, &out->code, out->msg, err);
    if (!root)
        return DF_EPROTO;
    int rc = 0;
    if (out->code != DF_CODE_SUCCESS)
        goto out;
    rc = DF_EPROTO;
    json_t *data = df_json_get_ci(root, "data");
    if (!json_is_object(data)) {
        snprintf(err, DF_ERR_LEN, "registration reply has no data");
        goto out;
    }
    const char *tid = df_json_str_ci(data, "taskId");
    if (!is_hex_n(tid, DF_TASKID_LEN)) {
        snprintf(err, DF_ERR_LEN, "registration reply has an invalid taskId");
        goto out;
    }
    lower_copy(out->task_id, tid, DF_TASKID_LEN);
    int64_t v;
    if (df_json_int_ci(data, "fileLength", &v) < 0 || v < -1) {
        snprintf(err, DF_ERR_LEN, "registration reply has an invalid fileLength");
        goto out;
    }
    out->file_length = v;
    if (df_json_int_ci(data, "pieceSize", &v) < 0 || v <= DF_PIECE_WRAP || v > (64 << 20)) {
        snprintf(err, DF_ERR_LEN, "registration reply has an invalid pieceSize");
        goto out;
    }
    out->piece_size = (uint32_t)v;
    const char *cs = df_json_str_ci(data, "cdnSource");
    if (cs && *cs)
        snprintf(out->cdn_source, sizeof(out->cdn_source), "%s", cs);
    int is_auth = 0;
    if (df_json_bool_ci(data, "pieceAuth", &is_auth) == 0)
        out->is_piece_auth = is_auth;
    const char *pk = df_json_str_ci(data, "pieceKey");
    unsigned char raw[DF_TOKEN_PUB_LEN];
    if (pk && df_token_pub_decode(pk, raw) == 0)
        snprintf(out->piece_key, sizeof(out->piece_key), "%s", pk);
    const char *tok = df_json_str_ci(data, "pieceToken");
    /* a token is only ever sent back in a header: printable ASCII without spaces */
    if (tok && strlen(tok) < sizeof(out->piece_token) && !strpbrk(tok, " \t\r\n:"))
        snprintf(out->piece_token, sizeof(out->piece_token), "%s", tok);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- pull replies ----------------------------------------------------------------------- */

/* Characters we accept in an IP/host or CID coming from the supernode (they end up in URLs). */
static int is_safe_token(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr(".-_:~%", c))
            return 0;
    }
    return 1;
}

static int is_safe_path(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 2048 || s[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 127 || c == '#')
            return 0;
    }
    return 1;
}

static int parse_task(json_t *o, struct dfget_piece_task *t, char err[DF_ERR_LEN])
{
    memset(t, 0, sizeof(*t));
    t->wrapped_len = -1;
    if (!json_is_object(o)) {
        snprintf(err, DF_ERR_LEN, "piece task is not an object");
        return DF_EPROTO;
    }
    const char *range = df_json_str_ci(o, "range");
    int64_t num, psize, port;
    if (!range || strlen(range) >= sizeof(t->range) ||
        df_proto_parse_range(range, &t->start, &t->end) < 0) {
        snprintf(err, DF_ERR_LEN, "piece task has an invalid range");
        return DF_EPROTO;
    }
    snprintf(t->range, sizeof(t->range), "%s", range);
    if (df_json_int_ci(o, "pieceNum", &num) < 0 || num < 0 || num > UINT32_MAX ||
        df_json_int_ci(o, "pieceSize", &psize) < 0 || psize <= DF_PIECE_WRAP ||
        psize > (64 << 20) || t->end - t->start + 1 != (uint64_t)psize ||
        t->start != (uint64_t)num * (uint64_t)psize) {
        snprintf(err, DF_ERR_LEN, "piece task range %s does not match pieceNum/pieceSize", range);
        return DF_EPROTO;
    }
    t->piece_num = (uint32_t)num;
    t->piece_size = (uint32_t)psize;
    if (df_json_int_ci(o, "peerPort", &port) < 0 || port < 1 || port > 65535) {
        snprintf(err, DF_ERR_LEN, "piece task %s has an invalid peerPort", range);
        return DF_EPROTO;
    }
    t->peer_port = (uint16_t)port;
    const char *cid = df_json_str_ci(o, "cid");
    const char *ip = df_json_str_ci(o, "peerIp");
    const char *path = df_json_str_ci(o, "path");
    if (!is_safe_token(cid, 512) || !is_safe_token(ip, 255) || !is_safe_path(path)) {
        snprintf(err, DF_ERR_LEN, "piece task %s has an invalid cid/peerIp/path", range);
        return DF_EPROTO;
    }
    const char *md5 = df_json_str_ci(o, "pieceMd5");
    if (md5 && *md5) {
        const char *colon = strchr(md5, ':');
        size_t hl = colon ? (size_t)(colon - md5) : strlen(md5);
        char hex[DF_MD5_HEX_LEN + 1];
        if (hl != DF_MD5_HEX_LEN || strlen(md5) >= sizeof(t->md5_raw))
            goto bad_md5;
        memcpy(hex, md5, hl);
        hex[hl] = '\0';
        if (!is_hex_n(hex, DF_MD5_HEX_LEN))
            goto bad_md5;
        lower_copy(t->md5, hex, DF_MD5_HEX_LEN);
        snprintf(t->md5_raw, sizeof(t->md5_raw), "%s", md5);
        if (colon) {
            uint64_t wl;
            if (df_parse_u64(colon + 1, &wl) < 0 || wl < DF_PIECE_WRAP || wl > (uint64_t)psize)
                goto bad_md5;
            t->wrapped_len = (int64_t)wl;
        }
    }
    const char *sha = df_json_str_ci(o, "pieceSha256");
    if (sha && *sha) {
        if (!is_hex_n(sha, DF_SHA256_HEX_LEN)) {
            snprintf(err, DF_ERR_LEN, "piece task %s has an invalid pieceSha256", range);
            return DF_EPROTO;
        }
        lower_copy(t->sha256, sha, DF_SHA256_HEX_LEN);
    }
    int64_t dl;
    t->down_link = df_json_int_ci(o, "downLink", &dl) == 0 ? dl : 0;
    t->cid = df_xstrdup(cid);
    t->peer_ip = df_xstrdup(ip);
    t->path = df_xstrdup(path);
    return 0;
bad_md5:
    snprintf(err, DF_ERR_LEN, "piece task %s has an invalid pieceMd5", range);
    return DF_EPROTO;
}

void dfget_msg_task_cleanup(struct dfget_piece_task *t)
{
    if (!t)
        return;
    free(t->cid);
    free(t->peer_ip);
    free(t->path);
    t->cid = t->peer_ip = t->path = NULL;
}

void dfget_msg_task_copy(struct dfget_piece_task *dst, const struct dfget_piece_task *src)
{
    *dst = *src;
    dst->cid = df_xstrdup(src->cid);
    dst->peer_ip = df_xstrdup(src->peer_ip);
    dst->path = df_xstrdup(src->path);
}

void dfget_msg_pull_cleanup(struct dfget_pull_reply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ntasks; i++)
        dfget_msg_task_cleanup(&r->tasks[i]);
    free(r->tasks);
    r->tasks = NULL;
    r->ntasks = 0;
}

int dfget_msg_parse_pull(const char *body, size_t len, struct dfget_pull_reply *out,
                         char err[DF_ERR_LEN])
{
    memset(out, 0, sizeof(*out));
    out->file_length = -1;
    json_t *root = load_envelope(body, len, &out->code, out->msg, err);
    if (!root)
        return DF_EPROTO;
    int rc = 0;
    json_t *data = df_json_get_ci(root, "data");
    if (out->code == DF_CODE_PEER_CONTINUE && data && !json_is_null(data)) {
        if (!json_is_array(data) || json_array_size(data) > 64) {
            snprintf(err, DF_ERR_LEN, "601 reply data is not a (small) array");
            rc = DF_EPROTO;
            goto out;
        }
        size_t n = json_array_size(data);
        out->tasks = n ? df_xcalloc(n, sizeof(*out->tasks)) : NULL;
        for (size_t i = 0; i < n; i++) {
            rc = parse_task(json_array_get(data, i), &out->tasks[i], err);
            if (rc < 0) {
                dfget_msg_task_cleanup(&out->tasks[i]);
                goto out;
            }
            out->ntasks++;
        }
    } else if (out->code == DF_CODE_PEER_FINISH && json_is_object(data)) {
        const char *md5 = df_json_str_ci(data, "md5");
        const char *sha = df_json_str_ci(data, "sha256");
        int64_t fl;
        if (md5 && *md5) {
            if (!is_hex_n(md5, DF_MD5_HEX_LEN)) {
                snprintf(err, DF_ERR_LEN, "600 reply has an invalid md5");
                rc = DF_EPROTO;
                goto out;
            }
            lower_copy(out->md5, md5, DF_MD5_HEX_LEN);
        }
        if (sha && *sha) {
            if (!is_hex_n(sha, DF_SHA256_HEX_LEN)) {
                snprintf(err, DF_ERR_LEN, "600 reply has an invalid sha256");
                rc = DF_EPROTO;
                goto out;
            }
            lower_copy(out->sha256, sha, DF_SHA256_HEX_LEN);
        }
        if (df_json_int_ci(data, "fileLength", &fl) == 0 && fl >= 0)
            out->file_length = fl;
    }
out:
    if (rc < 0)
        dfget_msg_pull_cleanup(out);
    json_decref(root);
    return rc;
}

/* ---- URLs ------------------------------------------------------------------------------- */

struct qbuf {
    char *s;
    size_t len, cap;
};

static void qb_add(struct qbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = df_xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void qb_str(struct qbuf *b, const char *s) { qb_add(b, s, strlen(s)); }

/* "&key=value" (or "?key=value" for the first), value percent-encoded outside the set the
 * Go dfget sends verbatim. */
static void qb_param(struct qbuf *b, int is_first, const char *key, const char *val)
{
    static const char hexd[] = "0123456789ABCDEF";
    qb_str(b, is_first ? "?" : "&");
    qb_str(b, key);
    qb_str(b, "=");
    for (const char *p = val ? val : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) || strchr("-._~:", c)) {
            qb_add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
            qb_add(b, e, 3);
        }
    }
}

char *dfget_msg_base_url(const char *host, unsigned port)
{
    if (strchr(host, ':'))
        return df_xasprintf("http://[%s]:%u", host, port);
    return df_xasprintf("http://%s:%u", host, port);
}

char *dfget_msg_pull_url(const char *base, const char *src_cid, const char *dst_cid,
                         const char *range, int result, int status, const char *task_id)
{
    struct qbuf b = {0};
    char num[16];
    qb_str(&b, base);
    qb_str(&b, "/peer/task");
    qb_param(&b, 1, "srcCid", src_cid);
    qb_param(&b, 0, "dstCid", dst_cid);
    qb_param(&b, 0, "range", range);
    snprintf(num, sizeof(num), "%d", result);
    qb_param(&b, 0, "result", num);
    snprintf(num, sizeof(num), "%d", status);
    qb_param(&b, 0, "status", num);
    qb_param(&b, 0, "taskId", task_id);
    return b.s;
}

char *dfget_msg_suc_url(const char *base, const char *task_id, const char *cid,
                        const char *dst_cid, const char *range)
{
    struct qbuf b = {0};
    qb_str(&b, base);
    qb_str(&b, "/peer/piece/suc");
    qb_param(&b, 1, "taskId", task_id);
    qb_param(&b, 0, "cid", cid);
    qb_param(&b, 0, "dstCid", dst_cid);
    qb_param(&b, 0, "pieceRange", range);
    return b.s;
}

char *dfget_msg_error_url(const char *base, const char *error_type, const char *src_cid,
                          const char *dst_cid, const char *dst_ip, const char *task_id,
                          const char *range, const char *real_md5, const char *expected_md5)
{
    struct qbuf b = {0};
    qb_str(&b, base);
    qb_str(&b, "/peer/piece/error");
    qb_param(&b, 1, "errorType", error_type);
    qb_param(&b, 0, "srcCid", src_cid);
    qb_param(&b, 0, "dstCid", dst_cid);
    qb_param(&b, 0, "dstIp", dst_ip);
    qb_param(&b, 0, "taskId", task_id);
    qb_param(&b, 0, "range", range);
    qb_param(&b, 0, "realMd5", real_md5);
    qb_param(&b, 0, "expectedMd5", expected_md5);
    return b.s;
}

char *dfget_msg_piece_url(const struct dfget_piece_task *t)
{
    char *base = dfget_msg_base_url(t->peer_ip, t->peer_port);
    char *url = df_xasprintf("%s%s", base, t->path);
    free(base);
    return url;
}
