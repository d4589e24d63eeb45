/* SPDX-License-Identifier: Apache-2.0 */
/* Registration / pull request decoding and validation. The registration accepts what the Go
 * dfget sends (JSON, keys like rawUrl/taskUrl/cid/ip matched case-insensitively) and what the
 * Python dfget sent (form with repeated `headers`). Port rule: 0 or 1024-65535 (Dragonfly's
 * 15000-65000 rejected the legitimate 65001, issue #1479). rootCAs are decoded and parsed
 * here (OpenSSL, in memory) so that a bad certificate is a 400 naming the entry, not a TLS
 * failure of the CDN later. */
#include "sn_req.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "df_json.h"
#include "df_proto.h"
#include "df_util.h"

size_t sn_req_reg_bytes(const struct sn_reg_req *r)
{
    const char *strs[] = {r->super_node_ip, r->raw_url, r->task_url, r->cid, r->ip,
                          r->host_name, r->path, r->version, r->md5, r->identifier,
                          r->call_system};
    size_t n = r->root_cas_len;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        n += strs[i] ? strlen(strs[i]) + 1 : 0;
    for (size_t i = 0; i < r->nheaders; i++)
        n += strlen(r->headers[i]) + 1;
    return n;
}

void sn_req_reg_cleanup(struct sn_reg_req *r)
{
    char **fields[] = {&r->super_node_ip, &r->raw_url, &r->task_url, &r->cid, &r->ip,
                       &r->host_name, &r->path, &r->version, &r->md5, &r->identifier,
                       &r->call_system};
    for (size_t i = 0; i < DF_ARRAY_LEN(fields); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
    for (size_t i = 0; i < r->nheaders; i++)
        free(r->headers[i]);
    free(r->headers);
    r->headers = NULL;
    r->nheaders = 0;
    free(r->root_cas_pem);
    r->root_cas_pem = NULL;
    r->root_cas_len = 0;
    r->nroot_cas = 0;
}

/* String fields of a registration, shared by the JSON and the form decoder (keys matched
 * case-insensitively in both, spec §2.1). */
/* Every string field with its length limit: a registration lives as long as its task, and each
 * byte of it is kept (an identifier of 900 KB times 200 registrations was 180 MB of RSS). The
 * limits are far above what real clients send (Go dfget: URLs of a few hundred bytes, 32-hex
 * md5, short identifiers). */
static const struct {
    const char *key;
    size_t off;
    size_t max;
} reg_string_keys[] = {
    {"superNodeIp", offsetof(struct sn_reg_req, super_node_ip), SN_REQ_MAX_HOST_LEN},
    {"rawUrl", offsetof(struct sn_reg_req, raw_url), SN_REQ_MAX_URL_LEN},
    {"taskUrl", offsetof(struct sn_reg_req, task_url), SN_REQ_MAX_URL_LEN},
    {"cid", offsetof(struct sn_reg_req, cid), SN_REQ_MAX_ID_LEN},
    {"ip", offsetof(struct sn_reg_req, ip), SN_REQ_MAX_HOST_LEN},
    {"hostName", offsetof(struct sn_reg_req, host_name), SN_REQ_MAX_HOST_LEN},
    {"path", offsetof(struct sn_reg_req, path), SN_REQ_MAX_PATH_LEN},
    {"version", offsetof(struct sn_reg_req, version), SN_REQ_MAX_ID_LEN},
    {"md5", offsetof(struct sn_reg_req, md5), SN_REQ_MAX_ID_LEN},
    {"identifier", offsetof(struct sn_reg_req, identifier), SN_REQ_MAX_ID_LEN},
    {"callSystem", offsetof(struct sn_reg_req, call_system), SN_REQ_MAX_ID_LEN},
};

int sn_req_is_http_url(const char *s)
{
    const char *rest;
    if (strncasecmp(s, "http://", 7) == 0)
        rest = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        rest = s + 8;
    else
        return 0;
    if (!*rest || *rest == '/' || *rest == '?' || *rest == '#')
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* Validates and appends one "Key: Value" header (also "Key:Value"). */
static int add_header(struct sn_reg_req *r, const char *h, char err[DF_ERR_LEN])
{
    size_t n = strlen(h);
    if (n == 0)
        return 0;
    if (r->nheaders >= SN_REQ_MAX_HEADERS) {
        snprintf(err, DF_ERR_LEN, "too many headers (max %d)", SN_REQ_MAX_HEADERS);
        return -EINVAL;
    }
    if (n > SN_REQ_MAX_HEADER_LEN) {
        snprintf(err, DF_ERR_LEN, "header too long (max %d bytes)", SN_REQ_MAX_HEADER_LEN);
        return -EINVAL;
    }
    const char *colon = strchr(h, ':');
    if (!colon || colon == h) {
        snprintf(err, DF_ERR_LEN, "header '%.64s' is not 'Key: Value'", h);
        return -EINVAL;
    }
    for (const char *p = h; p < colon; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch)) {
            snprintf(err, DF_ERR_LEN, "invalid header name in '%.64s'", h);
            return -EINVAL;
        }
    }
    for (const char *p = colon + 1; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            snprintf(err, DF_ERR_LEN, "header value contains a line break");
            return -EINVAL;
        }
    }
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    r->headers = df_xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
    r->headers[r->nheaders++] = df_xasprintf("%.*s: %s", (int)(colon - h), h, v);
    return 0;
}

/* ---- rootCAs --------------------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 (RFC 4648 §4) into out (room for n * 3 / 4 + 3 bytes). Padding optional;
 * CR, LF and tab are skipped (MIME line breaks). A space is skipped too in JSON, but in a form
 * it is a '+' that a client did not percent-encode (form decoding turned it into a space).
 * Returns the decoded length, or -1 when the text is not base64. */
static long b64_decode(const char *in, size_t n, unsigned char *out, int is_form)
{
    uint32_t acc = 0;
    int bits = 0, is_pad = 0;
    size_t len = 0, ndigits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n' || c == '\t' || (c == ' ' && !is_form))
            continue;
        if (c == '=') {
            is_pad = 1;
            continue;
        }
        int v = b64_value(c == ' ' ? '+' : c);
        if (v < 0 || is_pad) /* not base64, or data after the padding */
            return -1;
        ndigits++;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return ndigits % 4 == 1 ? -1 : (long)len;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1; /* never prompt: a daemon has no terminal, and CA files hold no secrets */
}

/* Certificates in a PEM text, parsed the way libcurl loads a CA blob (PEM_X509_INFO_read_bio:
 * any malformed block fails the whole text). -1 when the text does not parse. */
static int count_pem_certs(const unsigned char *pem, size_t n)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)n);
    DF_ASSERT(bio);
    STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase, NULL);
    int count = infos ? 0 : -1;
    for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
        if (sk_X509_INFO_value(infos, i)->x509)
            count++;
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    BIO_free(bio);
    ERR_clear_error(); /* leave no stale error for the next OpenSSL user on this thread */
    return count;
}

/* Decodes one rootCAs entry (base64 of a PEM file, or PEM text) and appends it to the bundle. */
static int add_root_ca(struct sn_reg_req *r, const char *s, size_t n, int is_form,
                       char err[DF_ERR_LEN])
{
    size_t idx = r->nroot_cas;
    if (idx >= SN_REQ_MAX_ROOT_CAS) {
        snprintf(err, DF_ERR_LEN, "too many rootCAs (max %d)", SN_REQ_MAX_ROOT_CAS);
        return -EINVAL;
    }
    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    unsigned char *pem = df_xmalloc(n + 4); /* room for the text or its decoded bytes */
    long len;
    int rc = -EINVAL;
    if (n >= 10 && memcmp(s, "-----BEGIN", 10) == 0) { /* '-' is no base64 digit */
        memcpy(pem, s, n);
        len = (long)n;
    } else if ((len = b64_decode(s, n, pem, is_form)) < 0) {
        snprintf(err, DF_ERR_LEN, "rootCAs[%zu] is neither base64 nor PEM text", idx);
        goto out;
    }
    if (r->root_cas_len + (size_t)len + 1 > SN_REQ_MAX_ROOT_CAS_BYTES) {
        snprintf(err, DF_ERR_LEN, "rootCAs larger than %u KiB in total",
                 SN_REQ_MAX_ROOT_CAS_BYTES >> 10);
        goto out;
    }
    if (memchr(pem, '\0', (size_t)len)) {
        snprintf(err, DF_ERR_LEN, "rootCAs[%zu] is binary, not PEM text", idx);
        goto out;
    }
    int ncerts = count_pem_certs(pem, (size_t)len);
    if (ncerts <= 0) {
        snprintf(err, DF_ERR_LEN, "rootCAs[%zu] %s", idx,
                 ncerts < 0 ? "is not valid PEM" : "holds no PEM certificate");
        goto out;
    }
    int has_nl = len > 0 && pem[len - 1] == '\n';
    r->root_cas_pem = df_xrealloc(r->root_cas_pem, r->root_cas_len + (size_t)len + 2);
    memcpy(r->root_cas_pem + r->root_cas_len, pem, (size_t)len);
    r->root_cas_len += (size_t)len;
    if (!has_nl) /* the next entry's BEGIN line must start a line */
        r->root_cas_pem[r->root_cas_len++] = '\n';
    r->root_cas_pem[r->root_cas_len] = '\0';
    r->nroot_cas++;
    rc = 0;
out:
    free(pem);
    return rc;
}

const char *sn_req_range_header(const struct sn_reg_req *r)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strncmp(r->headers[i], "Range:", 6) == 0) {
            const char *v = r->headers[i] + 6;
            while (*v == ' ')
                v++;
            return v;
        }
    return NULL;
}

static void strip_brackets(char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = '\0';
    }
}

int sn_req_task_url_derives(const char *raw, const char *task)
{
    const char *rq = strchr(raw, '?'), *tq = strchr(task, '?');
    size_t rb = rq ? (size_t)(rq - raw) : strlen(raw), tb = tq ? (size_t)(tq - task) : strlen(task);
    if (rb != tb || memcmp(raw, task, rb) != 0)
        return 0;
    if (!tq)
        return 1;
    if (!rq)
        return 0;
    /* every parameter of task, in order, is a whole parameter of raw */
    const char *r = rq + 1, *t = tq + 1;
    while (*t) {
        size_t tl = strcspn(t, "&");
        int found = 0;
        while (*r && !found) {
            size_t rl = strcspn(r, "&");
            found = rl == tl && memcmp(r, t, tl) == 0;
            r += rl + (r[rl] == '&');
        }
        if (!found)
            return 0;
        t += tl + (t[tl] == '&');
    }
    return 1;
}

static int validate(struct sn_reg_req *r, char err[DF_ERR_LEN])
{
    if (!*r->raw_url) {
        snprintf(err, DF_ERR_LEN, "rawUrl is required");
        return -EINVAL;
    }
    if (!sn_req_is_http_url(r->raw_url)) {
        snprintf(err, DF_ERR_LEN, "rawUrl must be an http or https URL");
        return -EINVAL;
    }
    if (!*r->task_url) {
        free(r->task_url);
        r->task_url = df_xstrdup(r->raw_url);
    } else if (!sn_req_is_http_url(r->task_url)) {
        snprintf(err, DF_ERR_LEN, "taskUrl must be an http or https URL");
        return -EINVAL;
    } else if (!sn_req_task_url_derives(r->raw_url, r->task_url)) {
        /* The task id is the taskUrl's; the origin is asked about the rawUrl: they must be the
         * same resource, or a client could name one task and prove access to another URL. */
        snprintf(err, DF_ERR_LEN, "taskUrl must be the rawUrl without some of its query "
                 "parameters (--filter)");
        return -EINVAL;
    }
    for (size_t i = 0; i < DF_ARRAY_LEN(reg_string_keys); i++) {
        const char *v = *(char **)((char *)r + reg_string_keys[i].off);
        size_t n = strlen(v);
        if (n > reg_string_keys[i].max) {
            snprintf(err, DF_ERR_LEN, "%s is too long (%zu bytes, max %zu)", reg_string_keys[i].key,
                     n, reg_string_keys[i].max);
            return -EINVAL;
        }
    }
    static const struct { const char *name; size_t off; } req[] = {
        {"cid", offsetof(struct sn_reg_req, cid)},
        {"ip", offsetof(struct sn_reg_req, ip)},
        {"hostName", offsetof(struct sn_reg_req, host_name)},
        {"path", offsetof(struct sn_reg_req, path)},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(req); i++) {
        const char *v = *(char **)((char *)r + req[i].off);
        if (!*v) {
            snprintf(err, DF_ERR_LEN, "%s is required", req[i].name);
            return -EINVAL;
        }
    }
    if (r->port != 0 && (r->port < 1024 || r->port > 65535)) {
        snprintf(err, DF_ERR_LEN, "port %d out of range (0 or 1024-65535)", r->port);
        return -EINVAL;
    }
    strip_brackets(r->super_node_ip);
    strip_brackets(r->ip);
    return 0;
}

static char *dup_or_empty(const char *s) { return df_xstrdup(s ? s : ""); }

static int decode_json(const char *body, size_t len, struct sn_reg_req *r, char err[DF_ERR_LEN])
{
    json_error_t jerr;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!o) {
        snprintf(err, DF_ERR_LEN, "invalid JSON at line %d: %s", jerr.line, jerr.text);
        return -EINVAL;
    }
    if (!json_is_object(o)) {
        snprintf(err, DF_ERR_LEN, "registration body must be a JSON object");
        rc = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < DF_ARRAY_LEN(reg_string_keys); i++) {
        json_t *v = df_json_get_ci(o, reg_string_keys[i].key);
        if (v && !json_is_string(v) && !json_is_null(v)) {
            snprintf(err, DF_ERR_LEN, "%s must be a string", reg_string_keys[i].key);
            rc = -EINVAL;
            goto out;
        }
        char **dst = (char **)((char *)r + reg_string_keys[i].off);
        free(*dst);
        *dst = dup_or_empty(json_is_string(v) ? json_string_value(v) : NULL);
    }
    int64_t port = 0;
    int prc = df_json_int_ci(o, "port", &port);
    if (prc == -EINVAL || port < 0 || port > 65535) {
        snprintf(err, DF_ERR_LEN, "port must be an integer in 0 or 1024-65535");
        rc = -EINVAL;
        goto out;
    }
    r->port = (int)port;
    if (df_json_bool_ci(o, "dfdaemon", &r->is_dfdaemon) == -EINVAL ||
        df_json_bool_ci(o, "insecure", &r->is_insecure) == -EINVAL ||
        df_json_bool_ci(o, "pieceAuth", &r->is_token_capable) == -EINVAL) {
        snprintf(err, DF_ERR_LEN, "dfdaemon/insecure/pieceAuth must be booleans");
        rc = -EINVAL;
        goto out;
    }
    json_t *hs = df_json_get_ci(o, "headers");
    if (json_is_array(hs)) {
        size_t i;
        json_t *h;
        json_array_foreach(hs, i, h) {
            if (!json_is_string(h)) {
                snprintf(err, DF_ERR_LEN, "headers must be an array of strings");
                rc = -EINVAL;
                goto out;
            }
            if ((rc = add_header(r, json_string_value(h), err)) < 0)
                goto out;
        }
    } else if (json_is_object(hs)) { /* {"Key":"Value"} as some SDKs send it */
        const char *k;
        json_t *v;
        json_object_foreach(hs, k, v) {
            if (!json_is_string(v)) {
                snprintf(err, DF_ERR_LEN, "header values must be strings");
                rc = -EINVAL;
                goto out;
            }
            char *line = df_xasprintf("%s: %s", k, json_string_value(v));
            rc = add_header(r, line, err);
            free(line);
            if (rc < 0)
                goto out;
        }
    } else if (hs && !json_is_null(hs)) {
        snprintf(err, DF_ERR_LEN, "headers must be an array of strings");
        rc = -EINVAL;
        goto out;
    }
    json_t *cas = df_json_get_ci(o, "rootCAs");
    if (cas && !json_is_array(cas) && !json_is_null(cas)) {
        snprintf(err, DF_ERR_LEN, "rootCAs must be an array of strings");
        rc = -EINVAL;
        goto out;
    }
    if (json_array_size(cas) > SN_REQ_MAX_ROOT_CAS) { /* before decoding any of them */
        snprintf(err, DF_ERR_LEN, "too many rootCAs (max %d)", SN_REQ_MAX_ROOT_CAS);
        rc = -EINVAL;
        goto out;
    }
    size_t ci;
    json_t *ca;
    json_array_foreach(cas, ci, ca) {
        if (!json_is_string(ca)) {
            snprintf(err, DF_ERR_LEN, "rootCAs must be an array of strings");
            rc = -EINVAL;
            goto out;
        }
        if ((rc = add_root_ca(r, json_string_value(ca), json_string_length(ca), 0, err)) < 0)
            goto out;
    }
out:
    json_decref(o);
    return rc;
}

/* Form decoding: '+' is a space, then percent-decoding. */
static int form_decode(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '+')
            *p = ' ';
    return df_proto_url_decode(s);
}

static int decode_form(const char *body, size_t len, struct sn_reg_req *r, char err[DF_ERR_LEN])
{
    char *copy = df_xstrndup(body, len);
    int rc = 0;
    char *p = copy;
    while (*p) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(p, '=');
        char *val = eq ? eq + 1 : p + strlen(p);
        if (eq)
            *eq = '\0';
        if (*p) {
            if (form_decode(p) < 0 || form_decode(val) < 0) {
                snprintf(err, DF_ERR_LEN, "malformed form encoding");
                rc = -EINVAL;
                goto out;
            }
            int known = 0;
            for (size_t i = 0; i < DF_ARRAY_LEN(reg_string_keys); i++) {
                if (strcasecmp(p, reg_string_keys[i].key) == 0) {
                    char **dst = (char **)((char *)r + reg_string_keys[i].off);
                    free(*dst);
                    *dst = df_xstrdup(val);
                    known = 1;
                    break;
                }
            }
            if (!known && strcasecmp(p, "port") == 0) {
                if (*val && (df_parse_int(val, &r->port) < 0 || r->port < 0 || r->port > 65535)) {
                    snprintf(err, DF_ERR_LEN, "port must be an integer in 0 or 1024-65535");
                    rc = -EINVAL;
                    goto out;
                }
            } else if (!known && strcasecmp(p, "headers") == 0) {
                if ((rc = add_header(r, val, err)) < 0)
                    goto out;
            } else if (!known && strcasecmp(p, "rootCAs") == 0) {
                if ((rc = add_root_ca(r, val, strlen(val), 1, err)) < 0)
                    goto out;
            } else if (!known && strcasecmp(p, "dfdaemon") == 0) {
                r->is_dfdaemon = strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0;
            } else if (!known && strcasecmp(p, "pieceAuth") == 0) {
                r->is_token_capable = strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0;
            } else if (!known && strcasecmp(p, "insecure") == 0) {
                r->is_insecure = strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0;
            }
        }
        if (!amp)
            break;
        p = amp + 1;
    }
out:
    free(copy);
    return rc;
}

int sn_req_decode_registry(const char *body, size_t len, int is_form, struct sn_reg_req *r,
                           char err[DF_ERR_LEN])
{
    memset(r, 0, sizeof(*r));
    char **all[] = {&r->super_node_ip, &r->raw_url, &r->task_url, &r->cid, &r->ip,
                    &r->host_name, &r->path, &r->version, &r->md5, &r->identifier,
                    &r->call_system};
    for (size_t i = 0; i < DF_ARRAY_LEN(all); i++)
        *all[i] = df_xstrdup("");
    int rc = memchr(body, '\0', len) ? -EINVAL : 0;
    if (rc < 0)
        snprintf(err, DF_ERR_LEN, "body contains a NUL byte");
    if (rc == 0)
        rc = is_form ? decode_form(body, len, r, err) : decode_json(body, len, r, err);
    if (rc == 0)
        rc = validate(r, err);
    if (rc < 0)
        sn_req_reg_cleanup(r);
    return rc;
}

int sn_req_decode_pull(const struct df_http_query *q, struct sn_pull_req *p, char err[DF_ERR_LEN])
{
    memset(p, 0, sizeof(*p));
    p->src_cid = df_http_query_get(q, "srcCid");
    p->dst_cid = df_http_query_get(q, "dstCid");
    p->range = df_http_query_get(q, "range");
    p->task_id = df_http_query_get(q, "taskId");
    const char *status = df_http_query_get(q, "status");
    const char *result = df_http_query_get(q, "result");
    if (!p->dst_cid)
        p->dst_cid = "";
    if (!p->range)
        p->range = "";
    if (!p->src_cid || !*p->src_cid) {
        snprintf(err, DF_ERR_LEN, "srcCid is required");
        return -EINVAL;
    }
    if (!p->task_id || !*p->task_id) {
        snprintf(err, DF_ERR_LEN, "taskId is required");
        return -EINVAL;
    }
    if (!status || df_parse_int(status, &p->status) < 0 ||
        (p->status != DF_TASK_STARTED && p->status != DF_TASK_RUNNING &&
         p->status != DF_TASK_FINISHED)) {
        snprintf(err, DF_ERR_LEN, "status must be 700, 701 or 702");
        return -EINVAL;
    }
    if (!result || !*result) {
        p->result = DF_RESULT_INVALID;
    } else if (df_parse_int(result, &p->result) < 0 || p->result < DF_RESULT_FAILED ||
               p->result > DF_RESULT_SEMISUC) {
        snprintf(err, DF_ERR_LEN, "result must be 500..503");
        return -EINVAL;
    }
    return 0;
}
