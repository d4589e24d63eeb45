/* Registration / pull request decoding and validation. The registration accepts what the Go
 * dfget sends (JSON, keys like rawUrl/taskUrl/cid/ip matched case-insensitively) and what the
 * Python dfget sent (form with repeated `headers`). Port rule: 0 or 1024-65535 (Dragonfly's
 * 15000-65000 rejected the legitimate 65001, issue #1479). */
#include "sn_req.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "df_json.h"
#include "df_proto.h"
#include "df_util.h"

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
}

/* String fields of a registration, shared by the JSON and the form decoder (keys matched
 * case-insensitively in both, spec §2.1). */
static const struct {
    const char *key;
    size_t off;
} reg_string_keys[] = {
    {"superNodeIp", offsetof(struct sn_reg_req, super_node_ip)},
    {"rawUrl", offsetof(struct sn_reg_req, raw_url)},
    {"taskUrl", offsetof(struct sn_reg_req, task_url)},
    {"cid", offsetof(struct sn_reg_req, cid)},
    {"ip", offsetof(struct sn_reg_req, ip)},
    {"hostName", offsetof(struct sn_reg_req, host_name)},
    {"path", offsetof(struct sn_reg_req, path)},
    {"version", offsetof(struct sn_reg_req, version)},
    {"md5", offsetof(struct sn_reg_req, md5)},
    {"identifier", offsetof(struct sn_reg_req, identifier)},
    {"callSystem", offsetof(struct sn_reg_req, call_system)},
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
        if (strlen(v) > 1024) {
            snprintf(err, DF_ERR_LEN, "%s is too long", req[i].name);
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
        df_json_bool_ci(o, "insecure", &r->is_insecure) == -EINVAL) {
        snprintf(err, DF_ERR_LEN, "dfdaemon/insecure must be booleans");
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
            } else if (!known && strcasecmp(p, "dfdaemon") == 0) {
                r->is_dfdaemon = strcasecmp(val, "true") == 0 || strcmp(val, "1") == 0;
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
