/* SPDX-License-Identifier: Apache-2.0 */
/* sn_req (registration / pull decoding and validation) and the query helpers of
 * df_http_server it relies on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "df_http_server.h"
#include "sn_req.h"

static int decode(const char *body, int is_form, struct sn_reg_req *r, char *err)
{
    return sn_req_decode_registry(body, strlen(body), is_form, r, err);
}

static void test_json_go_dfget_shape(void **state)
{
    (void)state;
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    const char *b =
        "{\"superNodeIp\":\"[::1]\",\"rawUrl\":\"http://o:80/f?a=1&Sig=2\",\"taskUrl\":\"http://o:80/f?a=1\","
        "\"cid\":\"127.0.0.1-1-2.000\",\"ip\":\"127.0.0.1\",\"hostName\":\"h\",\"port\":65001,"
        "\"path\":\"/peer/file/x\",\"version\":\"1.0.6\",\"md5\":\"abc\",\"dfdaemon\":true,"
        "\"headers\":[\"Range: bytes=0-99\",\"Authorization:Bearer t\"]}";
    assert_int_equal(decode(b, 0, &r, err), 0);
    assert_string_equal(r.super_node_ip, "::1");
    assert_string_equal(r.task_url, "http://o:80/f?a=1");
    assert_int_equal(r.port, 65001); /* Dragonfly's 15000-65000 rule (bug #1479) is not ours */
    assert_int_equal(r.is_dfdaemon, 1);
    assert_int_equal(r.nheaders, 2);
    assert_string_equal(r.headers[1], "Authorization: Bearer t");
    assert_string_equal(sn_req_range_header(&r), "bytes=0-99");
    assert_string_equal(r.identifier, "");
    sn_req_reg_cleanup(&r);
}

static void test_json_keys_case_insensitive(void **state)
{
    (void)state;
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    const char *b = "{\"RAWURL\":\"https://o/f\",\"cID\":\"c\",\"IP\":\"1.2.3.4\",\"hostname\":\"h\","
                    "\"Path\":\"/p\",\"port\":\"0\"}";
    assert_int_equal(decode(b, 0, &r, err), 0);
    assert_string_equal(r.raw_url, "https://o/f");
    assert_string_equal(r.task_url, "https://o/f"); /* defaults to rawUrl */
    assert_string_equal(r.cid, "c");
    assert_null(sn_req_range_header(&r));
    sn_req_reg_cleanup(&r);
}

static void test_json_rejects(void **state)
{
    (void)state;
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    static const struct { const char *body; const char *needle; } cases[] = {
        {"{", "invalid JSON"},
        {"[1,2]", "JSON object"},
        {"", "invalid JSON"},
        {"{\"rawUrl\":\"ftp://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\"}", "http or https"},
        {"{\"rawUrl\":\"http://\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\"}", "http or https"},
        {"{\"rawUrl\":\"http://x/y\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\"}", "cid is required"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"path\":\"/p\"}", "hostName is required"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\"}", "path is required"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\",\"port\":80}", "out of range"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\",\"port\":70000}", "port must be"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\",\"port\":\"x\"}", "port must be"},
        {"{\"rawUrl\":123,\"cid\":\"c\"}", "rawUrl must be a string"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\",\"headers\":[1]}", "array of strings"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\",\"headers\":[\"X: a\\r\\nY: b\"]}", "line break"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\",\"headers\":[\"novalue\"]}", "Key: Value"},
        {"{\"rawUrl\":\"http://x/y\",\"cid\":\"c\",\"cid\":\"d\"}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(decode(cases[i].body, 0, &r, err), -EINVAL);
        if (!strstr(err, cases[i].needle))
            fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].needle);
    }
    /* embedded NUL */
    const char nul[] = "{\"rawUrl\":\"http://x\0/y\"}";
    assert_int_equal(sn_req_decode_registry(nul, sizeof(nul) - 1, 0, &r, err), -EINVAL);
}

static void test_form(void **state)
{
    (void)state;
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    const char *b = "rawUrl=http%3A%2F%2Fo%2Ff%3Fx%3D1&CID=c+1&ip=1.2.3.4&hostName=h&path=%2Fp"
                    "&port=20000&headers=X-A%3A+1&headers=X-B:2&dfdaemon=true&unknown=zz";
    assert_int_equal(decode(b, 1, &r, err), 0);
    assert_string_equal(r.raw_url, "http://o/f?x=1");
    assert_string_equal(r.cid, "c 1");
    assert_int_equal(r.port, 20000);
    assert_int_equal(r.nheaders, 2);
    assert_string_equal(r.headers[0], "X-A: 1");
    assert_string_equal(r.headers[1], "X-B: 2");
    assert_int_equal(r.is_dfdaemon, 1);
    sn_req_reg_cleanup(&r);
    assert_int_equal(decode("rawUrl=http://o/f&cid=%zz", 1, &r, err), -EINVAL);
    assert_int_equal(decode("rawUrl=http://o/f&cid=c&ip=i&hostName=h&path=/p&port=-1", 1, &r, err),
                     -EINVAL);
}

/* ---- rootCAs ---------------------------------------------------------------------------- */

/* A self-signed P-256 CA (CN=unit-ca), PEM. */
static const char unit_ca[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBezCCASGgAwIBAgIURj5+MLxRLe+lZZurTxr+/kTIGUYwCgYIKoZIzj0EAwIw\n"
    "EjEQMA4GA1UEAwwHdW5pdC1jYTAgFw0yNjExMjgxMDQ5NTFaGA8yMTI2MTEwNDEw\n"
    "NDk1MVowEjEQMA4GA1UEAwwHdW5pdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    "A0IABCJacg0/2li/SJ3l6UFty8xKpSy+Wf6m+s3D00QpDBAhPGHEdWhPwgxSRLgS\n"
    "5RZpkHPYXeisUkJwB8Nr4PVzTfajUzBRMB0GA1UdDgQWBBTOFpO3INVP6TNTYjx+\n"
    "CfrV8+viRTAfBgNVHSMEGDAWgBTOFpO3INVP6TNTYjx+CfrV8+viRTAPBgNVHRMB\n"
    "Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCK6Ib1cCHkBDzDyzkRNPkYigxF\n"
    "J1RqnTuRPkgXr8nDEgIgTDZlaCmu9kleHwyo+Dutn6idZqe3UWvWblRnpLU3UNY=\n"
    "-----END CERTIFICATE-----\n";

#define REG_FIELDS "\"rawUrl\":\"https://o/f\",\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\""

/* base64 of s, as dfget sends a --cacerts file (heap). */
static char *b64(const char *s, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

/* {REG_FIELDS,"rootCAs":[<entries, each quoted as is>]} (heap) */
static char *body_with_cas(const char *const *entries, size_t n)
{
    size_t len = 256;
    for (size_t i = 0; i < n; i++)
        len += strlen(entries[i]) + 4;
    char *b = malloc(len);
    size_t off = (size_t)snprintf(b, len, "{" REG_FIELDS ",\"rootCAs\":[");
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(b + off, len - off, "%s\"%s\"", i ? "," : "", entries[i]);
    snprintf(b + off, len - off, "]}");
    return b;
}

/* JSON string escaping of the newlines of a PEM text (heap). */
static char *json_escape_nl(const char *s)
{
    char *out = malloc(strlen(s) * 2 + 1), *o = out;
    for (; *s; s++) {
        if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static void test_root_cas_json(void **state)
{
    (void)state;
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    /* what dfget sends: base64 of the file */
    char *e1 = b64(unit_ca, strlen(unit_ca));
    const char *one[] = {e1};
    char *b = body_with_cas(one, 1);
    assert_int_equal(decode(b, 0, &r, err), 0);
    assert_int_equal(r.nroot_cas, 1);
    assert_int_equal(r.root_cas_len, strlen(unit_ca));
    assert_string_equal(r.root_cas_pem, unit_ca);
    sn_req_reg_cleanup(&r);
    assert_null(r.root_cas_pem);
    free(b);

    /* a file without a final newline, then PEM text as is, then base64 with MIME line breaks
     * and no padding: one bundle, each entry on its own lines */
    size_t nonl = strlen(unit_ca) - 1;
    char *e2 = b64(unit_ca, nonl);
    char *e3 = json_escape_nl(unit_ca);
    char *raw = b64(unit_ca, strlen(unit_ca));
    size_t rl = strlen(raw);
    while (rl && raw[rl - 1] == '=')
        raw[--rl] = '\0';
    char *e4 = malloc(rl * 2 + 8), *o = e4;
    for (size_t i = 0; i < rl; i++) {
        if (i && i % 64 == 0) {
            memcpy(o, "\\r\\n", 4);
            o += 4;
        }
        *o++ = raw[i];
    }
    *o = '\0';
    const char *three[] = {e2, e3, e4};
    b = body_with_cas(three, 3);
    assert_int_equal(decode(b, 0, &r, err), 0);
    assert_int_equal(r.nroot_cas, 3);
    assert_int_equal(r.root_cas_len, 3 * strlen(unit_ca));
    assert_memory_equal(r.root_cas_pem, unit_ca, strlen(unit_ca)); /* newline added */
    assert_string_equal(r.root_cas_pem + 2 * strlen(unit_ca), unit_ca);
    sn_req_reg_cleanup(&r);
    free(b);

    /* null and [] mean none */
    assert_int_equal(decode("{" REG_FIELDS ",\"rootCAs\":null}", 0, &r, err), 0);
    assert_int_equal(r.nroot_cas, 0);
    assert_null(r.root_cas_pem);
    sn_req_reg_cleanup(&r);
    assert_int_equal(decode("{" REG_FIELDS ",\"ROOTCAS\":[]}", 0, &r, err), 0);
    assert_int_equal(r.nroot_cas, 0);
    sn_req_reg_cleanup(&r);
    free(e1);
    free(e2);
    free(e3);
    free(raw);
    free(e4);
}

static void expect_reject(const char *body, const char *needle)
{
    struct sn_reg_req r;
    char err[DF_ERR_LEN] = "";
    assert_int_equal(decode(body, 0, &r, err), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
    assert_null(r.root_cas_pem); /* cleaned up */
}

static void test_root_cas_rejects(void **state)
{
    (void)state;
    expect_reject("{" REG_FIELDS ",\"rootCAs\":\"abc\"}", "rootCAs must be an array");
    expect_reject("{" REG_FIELDS ",\"rootCAs\":[1]}", "rootCAs must be an array");
    expect_reject("{" REG_FIELDS ",\"rootCAs\":[\"a!b\"]}", "rootCAs[0] is neither base64 nor PEM");
    expect_reject("{" REG_FIELDS ",\"rootCAs\":[\"QUJD=QQ==\"]}", "neither base64"); /* data after = */
    expect_reject("{" REG_FIELDS ",\"rootCAs\":[\"QUJDR\"]}", "neither base64"); /* 5 digits */
    /* base64 of "hello": decodes, but no certificate */
    expect_reject("{" REG_FIELDS ",\"rootCAs\":[\"aGVsbG8=\"]}", "rootCAs[0] holds no PEM certificate");
    /* a certificate block that does not parse */
    expect_reject("{" REG_FIELDS ",\"rootCAs\":[\"-----BEGIN CERTIFICATE-----\\nAAAA\\n"
                  "-----END CERTIFICATE-----\\n\"]}", "rootCAs[0] is not valid PEM");
    /* NUL bytes (base64 of DER, say; jansson already refuses \u0000 in PEM text) */
    expect_reject("{" REG_FIELDS ",\"rootCAs\":[\"AAAA\"]}", "rootCAs[0] is binary");
    char *e = b64(unit_ca, strlen(unit_ca));
    /* the second entry is named */
    const char *two[] = {e, "aGVsbG8="};
    char *b = body_with_cas(two, 2);
    expect_reject(b, "rootCAs[1] holds no PEM certificate");
    free(b);
    /* 17 entries */
    const char *many[SN_REQ_MAX_ROOT_CAS + 1];
    for (size_t i = 0; i <= SN_REQ_MAX_ROOT_CAS; i++)
        many[i] = e;
    b = body_with_cas(many, SN_REQ_MAX_ROOT_CAS + 1);
    expect_reject(b, "too many rootCAs (max 16)");
    free(b);
    free(e);
    /* 5 × 60 KiB (text before a PEM block is legal, the parser skips it) > 256 KiB in total */
    size_t big = 60u << 10;
    char *pad = malloc(big + sizeof(unit_ca));
    for (size_t i = 0; i < big; i++)
        pad[i] = (i % 64 == 63) ? '\n' : 'x';
    memcpy(pad + big, unit_ca, sizeof(unit_ca));
    char *eb = b64(pad, strlen(pad));
    const char *five[] = {eb, eb, eb, eb, eb};
    b = body_with_cas(five, 4);
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    assert_int_equal(decode(b, 0, &r, err), 0); /* 4 × 60 KiB fit */
    assert_int_equal(r.nroot_cas, 4);
    sn_req_reg_cleanup(&r);
    free(b);
    b = body_with_cas(five, 5);
    expect_reject(b, "rootCAs larger than 256 KiB in total");
    free(b);
    free(eb);
    free(pad);
}

static void test_root_cas_form(void **state)
{
    (void)state;
    struct sn_reg_req r;
    char err[DF_ERR_LEN];
    /* base64 with '+' digits, sent in a form without percent-encoding them (form decoding makes
     * them spaces), and the same entry properly encoded */
    size_t n = strlen(unit_ca) + 4;
    char *text = malloc(n + 1);
    snprintf(text, n + 1, ">>>\n%s", unit_ca);
    char *e = b64(text, n);
    assert_non_null(strchr(e, '+'));
    size_t el = strlen(e);
    char *enc = malloc(el * 3 + 1), *o = enc;
    for (size_t i = 0; i < el; i++)
        o += sprintf(o, (e[i] == '+' || e[i] == '/' || e[i] == '=') ? "%%%02X" : "%c", e[i]);
    size_t bl = el + strlen(enc) + 256;
    char *b = malloc(bl);
    snprintf(b, bl, "rawUrl=https://o/f&cid=c&ip=i&hostName=h&path=/p&rootCAs=%s&RootCAs=%s", e,
             enc);
    assert_int_equal(decode(b, 1, &r, err), 0);
    assert_int_equal(r.nroot_cas, 2);
    assert_int_equal(r.root_cas_len, 2 * n);
    assert_memory_equal(r.root_cas_pem, text, n);
    assert_memory_equal(r.root_cas_pem + n, text, n);
    sn_req_reg_cleanup(&r);
    snprintf(b, bl, "rawUrl=https://o/f&cid=c&ip=i&hostName=h&path=/p&rootCAs=aGVsbG8%%3D");
    assert_int_equal(decode(b, 1, &r, err), -EINVAL);
    assert_non_null(strstr(err, "rootCAs[0] holds no PEM certificate"));
    free(b);
    free(enc);
    free(e);
    free(text);
}

static void test_query_and_pull(void **state)
{
    (void)state;
    struct df_http_query q;
    struct sn_pull_req p;
    char err[DF_ERR_LEN];
    assert_int_equal(df_http_query_parse("srcCid=127.0.0.1-1-2.0&dstCid=cdnnode:127.0.0.1~ab"
                                         "&range=0-4194303&result=503&status=701&taskId=ab",
                                         &q), 0);
    assert_int_equal(sn_req_decode_pull(&q, &p, err), 0);
    assert_string_equal(p.dst_cid, "cdnnode:127.0.0.1~ab");
    assert_int_equal(p.status, 701);
    assert_int_equal(p.result, 503);
    df_http_query_cleanup(&q);

    assert_int_equal(df_http_query_parse("srcCid=c&dstCid=cdnnode%3A%3A%3A1~ab&range=&result=502"
                                         "&status=700&taskId=ab&flag", &q), 0);
    assert_int_equal(sn_req_decode_pull(&q, &p, err), 0);
    assert_string_equal(p.dst_cid, "cdnnode:::1~ab");
    assert_string_equal(df_http_query_get(&q, "flag"), "");
    df_http_query_cleanup(&q);

    static const char *bad[] = {
        "dstCid=&range=&result=502&status=700&taskId=ab", /* no srcCid */
        "srcCid=c&result=502&status=700",                  /* no taskId */
        "srcCid=c&taskId=t&status=799",
        "srcCid=c&taskId=t&status=abc",
        "srcCid=c&taskId=t&status=701&result=9999",
        "srcCid=c&taskId=t",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(df_http_query_parse(bad[i], &q), 0);
        assert_int_equal(sn_req_decode_pull(&q, &p, err), -EINVAL);
        df_http_query_cleanup(&q);
    }
    assert_int_equal(df_http_query_parse("a=%zz", &q), -EINVAL);
    assert_int_equal(q.n, 0);
    assert_int_equal(df_http_query_parse("a=%00", &q), -EINVAL);
    char many[DF_HTTP_QUERY_MAX * 4 + 16];
    for (int i = 0; i <= DF_HTTP_QUERY_MAX; i++)
        memcpy(many + 4 * i, "a=1&", 4);
    many[4 * (DF_HTTP_QUERY_MAX + 1)] = '\0';
    assert_int_equal(df_http_query_parse(many, &q), -E2BIG);
    assert_int_equal(df_http_query_parse(NULL, &q), 0);
    assert_int_equal(q.n, 0);
}

static void test_strip_version(void **state)
{
    (void)state;
    assert_string_equal(df_http_strip_version("/v1.0/peer/task"), "/peer/task");
    assert_string_equal(df_http_strip_version("/v2/_ping"), "/_ping");
    assert_null(df_http_strip_version("/version"));
    assert_null(df_http_strip_version("/v1.0"));
    assert_null(df_http_strip_version("/peer/task"));
    assert_null(df_http_strip_version("/vx/peer"));
    assert_int_equal(sn_req_is_http_url("http://[::1]:8080/f"), 1);
    assert_int_equal(sn_req_is_http_url("HTTPS://h/f"), 1);
    assert_int_equal(sn_req_is_http_url("http://h/f g"), 0);
    assert_int_equal(sn_req_is_http_url("file:///etc/passwd"), 0);
}

/* Every string field has a length limit (a 900 KB identifier used to be kept per task). */
static void test_field_limits(void **state)
{
    (void)state;
    static const struct { const char *key; size_t max; } f[] = {
        {"identifier", SN_REQ_MAX_ID_LEN}, {"cid", SN_REQ_MAX_ID_LEN},
        {"md5", SN_REQ_MAX_ID_LEN},        {"version", SN_REQ_MAX_ID_LEN},
        {"callSystem", SN_REQ_MAX_ID_LEN}, {"hostName", SN_REQ_MAX_HOST_LEN},
        {"ip", SN_REQ_MAX_HOST_LEN},       {"superNodeIp", SN_REQ_MAX_HOST_LEN},
        {"path", SN_REQ_MAX_PATH_LEN},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        for (size_t extra = 0; extra < 2; extra++) {
            size_t n = f[i].max + extra;
            char *v = malloc(n + 1);
            memset(v, 'a', n);
            v[n] = '\0';
            size_t blen = n + 512;
            char *body = malloc(blen);
            /* the field under test last: a duplicate key is rejected, so put it only once */
            snprintf(body, blen, "{\"rawUrl\":\"http://o/f\",%s%s%s%s%s%s%s%s\"%s\":\"%s\"}",
                     strcmp(f[i].key, "cid") ? "\"cid\":\"c\"," : "",
                     strcmp(f[i].key, "ip") ? "\"ip\":\"127.0.0.1\"," : "",
                     strcmp(f[i].key, "hostName") ? "\"hostName\":\"h\"," : "",
                     strcmp(f[i].key, "path") ? "\"path\":\"/peer/file/x\"," : "", "", "", "",
                     "", f[i].key, v);
            struct sn_reg_req r;
            char err[DF_ERR_LEN] = "";
            int rc = decode(body, 0, &r, err);
            if (extra == 0) {
                if (rc != 0)
                    fail_msg("%s of %zu bytes (the limit) refused: %s", f[i].key, n, err);
                sn_req_reg_cleanup(&r);
            } else {
                assert_int_equal(rc, -EINVAL);
                if (!strstr(err, f[i].key) || !strstr(err, "is too long"))
                    fail_msg("%s of %zu bytes: error '%s'", f[i].key, n, err);
            }
            free(body);
            free(v);
        }
    }
    /* URLs */
    size_t n = SN_REQ_MAX_URL_LEN + 1;
    char *body = malloc(n + 256);
    int k = snprintf(body, n + 256, "{\"cid\":\"c\",\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\",\"rawUrl\":\"http://o/");
    memset(body + k, 'u', n - 9);
    strcpy(body + k + n - 9, "\"}");
    expect_reject(body, "rawUrl is too long");
    free(body);
}

static void test_task_url_derives(void **state)
{
    (void)state;
    assert_true(sn_req_task_url_derives("http://o/f", "http://o/f"));
    assert_true(sn_req_task_url_derives("http://o/f?a=1&Sig=2", "http://o/f?a=1"));
    assert_true(sn_req_task_url_derives("http://o/f?a=1&Sig=2&b=3", "http://o/f?a=1&b=3"));
    assert_true(sn_req_task_url_derives("http://o/f?Sig=2", "http://o/f"));
    assert_false(sn_req_task_url_derives("http://evil/f", "http://o/f"));
    assert_false(sn_req_task_url_derives("http://o/public", "http://o/private"));
    assert_false(sn_req_task_url_derives("http://o/f?a=1", "http://o/f?a=2"));
    assert_false(sn_req_task_url_derives("http://o/f?a=12", "http://o/f?a=1"));
    assert_false(sn_req_task_url_derives("http://o/f?b=3&a=1", "http://o/f?a=1&b=3"));
    assert_false(sn_req_task_url_derives("http://o/f", "http://o/f?a=1"));
    assert_false(sn_req_task_url_derives("http://u:p@o/f", "http://o/f"));
    /* a registration that names one task and another URL is refused */
    expect_reject("{\"rawUrl\":\"http://evil/x\",\"taskUrl\":\"http://o/f\",\"cid\":\"c\","
                  "\"ip\":\"i\",\"hostName\":\"h\",\"path\":\"/p\"}",
                  "taskUrl must be the rawUrl without some of its query parameters");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_go_dfget_shape),
        cmocka_unit_test(test_json_keys_case_insensitive),
        cmocka_unit_test(test_json_rejects),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_root_cas_json),
        cmocka_unit_test(test_root_cas_rejects),
        cmocka_unit_test(test_root_cas_form),
        cmocka_unit_test(test_query_and_pull),
        cmocka_unit_test(test_strip_version),
        cmocka_unit_test(test_field_limits),
        cmocka_unit_test(test_task_url_derives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
