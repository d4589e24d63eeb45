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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_go_dfget_shape),
        cmocka_unit_test(test_json_keys_case_insensitive),
        cmocka_unit_test(test_json_rejects),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_query_and_pull),
        cmocka_unit_test(test_strip_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
