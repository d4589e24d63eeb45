/* dfd_rules: blob detection, upstream choice (ns= > X-Dragonfly-Registry > --registry),
 * proxies rules in order (use_https, redirect, direct), CONNECT, and every refusal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dfd_config.h"
#include "dfd_rules.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct dfd_rules *make(const char *registry, int mirror_direct, const char *yaml)
{
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"dfdaemon", NULL};
    dfd_config_init(&c);
    assert_int_equal(dfd_config_parse_args(&c, 1, argv, err), 0);
    if (yaml)
        assert_int_equal(dfd_config_parse_yaml(&c, "t", yaml, strlen(yaml), NULL, err), 0);
    free(c.registry);
    c.registry = strdup(registry);
    c.is_mirror_direct = mirror_direct;
    struct dfd_rules *r = dfd_rules_new(&c, err);
    assert_non_null(r);
    dfd_config_cleanup(&c);
    return r;
}

struct want {
    const char *method, *target, *hdr;
    enum dfd_action action;
    const char *url;     /* NULL = do not check */
    const char *repo;    /* NULL = must be NULL; "" = do not check */
    int status;
};

static void run(const struct dfd_rules *r, const struct want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct dfd_rules_in in = {.method = w[i].method, .target = w[i].target,
                                  .registry_hdr = w[i].hdr};
        struct dfd_route rt;
        dfd_rules_route(r, &in, &rt);
        if (rt.action != w[i].action)
            fail_msg("case %zu %s %s: action %s (%s), expected %s", i, w[i].method, w[i].target,
                     dfd_action_name(rt.action), rt.reason, dfd_action_name(w[i].action));
        if (w[i].url && (!rt.url || strcmp(rt.url, w[i].url) != 0))
            fail_msg("case %zu %s: url '%s', expected '%s'", i, w[i].target,
                     rt.url ? rt.url : "(null)", w[i].url);
        if (!w[i].repo && rt.repo)
            fail_msg("case %zu %s: repo '%s', expected none", i, w[i].target, rt.repo);
        if (w[i].repo && *w[i].repo && (!rt.repo || strcmp(rt.repo, w[i].repo) != 0))
            fail_msg("case %zu %s: repo '%s', expected '%s'", i, w[i].target,
                     rt.repo ? rt.repo : "(null)", w[i].repo);
        if (w[i].action == DFD_ACT_REJECT) {
            assert_int_equal(rt.status, w[i].status);
            assert_true(rt.reason[0] != '\0');
            assert_null(rt.url);
        }
        dfd_route_cleanup(&rt);
    }
}

static void test_registry_mode(void **state)
{
    (void)state;
    struct dfd_rules *r = make("http://127.0.0.1:5000", 0, NULL);
    const struct want w[] = {
        {"GET", "/v2/", NULL, DFD_ACT_PASS, "http://127.0.0.1:5000/v2/", NULL, 0},
        {"GET", "/v2/_catalog?n=10", NULL, DFD_ACT_PASS, "http://127.0.0.1:5000/v2/_catalog?n=10", NULL, 0},
        {"GET", "/metrics", NULL, DFD_ACT_LOCAL, "/metrics", NULL, 0},
        {"HEAD", "/debug/version", NULL, DFD_ACT_LOCAL, "/debug/version", NULL, 0},
        {"GET", "/v2/library/alpine/manifests/3.19", NULL, DFD_ACT_PASS,
         "http://127.0.0.1:5000/v2/library/alpine/manifests/3.19", "library/alpine", 0},
        {"HEAD", "/v2/library/alpine/manifests/sha256:" D64, NULL, DFD_ACT_PASS, NULL, "library/alpine", 0},
        {"GET", "/v2/a/b/c/tags/list", NULL, DFD_ACT_PASS, NULL, "a/b/c", 0},
        {"GET", "/v2/library/alpine/blobs/sha256:" D64, NULL, DFD_ACT_BLOB,
         "http://127.0.0.1:5000/v2/library/alpine/blobs/sha256:" D64, "library/alpine", 0},
        {"HEAD", "/v2/library/alpine/blobs/sha256:" D64, NULL, DFD_ACT_PASS, NULL, "library/alpine", 0},
        {"POST", "/v2/x/blobs/uploads/", NULL, DFD_ACT_PASS, NULL, "x", 0},
        {"GET", "/v2/x/blobs/sha512:abcd", NULL, DFD_ACT_PASS, NULL, "x", 0},
        /* a repository may contain the keywords as components: the rightmost keyword wins */
        {"GET", "/v2/foo/blobs/bar/blobs/sha256:" D64, NULL, DFD_ACT_BLOB, NULL, "foo/blobs/bar", 0},
        {"GET", "/v2/library/manifests/tags/list", NULL, DFD_ACT_PASS, NULL, "library/manifests", 0},
        {"GET", "/token?scope=repository:a:pull&service=x", NULL, DFD_ACT_PASS,
         "http://127.0.0.1:5000/token?scope=repository:a:pull&service=x", NULL, 0},
        {"OPTIONS", "/v2/", NULL, DFD_ACT_PASS, NULL, NULL, 0},
    };
    run(r, w, sizeof(w) / sizeof(w[0]));
    dfd_rules_free(r);
    /* registry_mirror.direct: blobs are passed through too */
    r = make("http://127.0.0.1:5000", 1, NULL);
    const struct want d[] = {
        {"GET", "/v2/a/blobs/sha256:" D64, NULL, DFD_ACT_PASS, NULL, "a", 0},
    };
    run(r, d, 1);
    dfd_rules_free(r);
}

static void test_upstream_choice(void **state)
{
    (void)state;
    struct dfd_rules *r = make("http://127.0.0.1:5000", 0, NULL);
    const struct want w[] = {
        /* ns = the default registry's host keeps its scheme; ns is removed, other params kept */
        {"GET", "/v2/a/manifests/1?ns=127.0.0.1:5000", NULL, DFD_ACT_PASS,
         "http://127.0.0.1:5000/v2/a/manifests/1", "a", 0},
        {"GET", "/v2/a/manifests/1?n=1&ns=127.0.0.1%3A5000&last=2", NULL, DFD_ACT_PASS,
         "http://127.0.0.1:5000/v2/a/manifests/1?n=1&last=2", "a", 0},
        {"GET", "/v2/a/manifests/1?ns=ghcr.io", NULL, DFD_ACT_PASS,
         "https://ghcr.io/v2/a/manifests/1", "a", 0},
        {"GET", "/v2/library/a/manifests/1?ns=docker.io", NULL, DFD_ACT_PASS,
         "https://registry-1.docker.io/v2/library/a/manifests/1", "library/a", 0},
        /* the header, with or without scheme */
        {"GET", "/v2/a/manifests/1", "http://10.0.0.1:8080", DFD_ACT_PASS,
         "http://10.0.0.1:8080/v2/a/manifests/1", "a", 0},
        {"GET", "/v2/a/manifests/1", "quay.io", DFD_ACT_PASS, "https://quay.io/v2/a/manifests/1", "a", 0},
        /* ns beats the header */
        {"GET", "/v2/a/manifests/1?ns=ghcr.io", "http://10.0.0.1:8080", DFD_ACT_PASS,
         "https://ghcr.io/v2/a/manifests/1", "a", 0},
        {"GET", "/v2/a/blobs/sha256:" D64 "?ns=ghcr.io", NULL, DFD_ACT_BLOB,
         "https://ghcr.io/v2/a/blobs/sha256:" D64, "a", 0},
        /* bad values */
        {"GET", "/v2/?ns=bad%zz", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/?ns=http://evil", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/?ns=a/b", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/", "ftp://x", DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/", "http://h/path", DFD_ACT_REJECT, NULL, NULL, 400},
    };
    run(r, w, sizeof(w) / sizeof(w[0]));
    dfd_rules_free(r);
    /* with Docker Hub as the default, ns=docker.io is the default */
    r = make("https://index.docker.io", 0, NULL);
    const struct want h[] = {
        {"GET", "/v2/library/a/manifests/1?ns=docker.io", NULL, DFD_ACT_PASS,
         "https://index.docker.io/v2/library/a/manifests/1", "library/a", 0},
    };
    run(r, h, 1);
    dfd_rules_free(r);
}

static void test_rejects(void **state)
{
    (void)state;
    struct dfd_rules *r = make("http://127.0.0.1:5000", 0, NULL);
    const struct want w[] = {
        {"GET", "/v2/../etc/passwd", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/../b/manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/./b/manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/%2e%2e/b/manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/%2E./manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/%2e/manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/..", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/A/manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a//b/manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2//manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/blobs/sha256:abc", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/blobs/sha256:" D64 "0", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/blobs/sha256:" D64 "/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/a/blobs/sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
         NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"PUT", "/v2/a/manifests/x", NULL, DFD_ACT_REJECT, NULL, NULL, 405},
        {"DELETE", "/v2/a/blobs/sha256:" D64, NULL, DFD_ACT_REJECT, NULL, NULL, 405},
        {"PATCH", "/v2/a/blobs/uploads/1", NULL, DFD_ACT_REJECT, NULL, NULL, 405},
        {"GET", "/v2/a b", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/\x01", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "/v2/\xc3\xa9", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "v2/", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "ftp://h/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "*", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
    };
    run(r, w, sizeof(w) / sizeof(w[0]));
    dfd_rules_free(r);
}

static void test_proxy_mode(void **state)
{
    (void)state;
    struct dfd_rules *r = make("http://127.0.0.1:5000", 0,
                               "proxies:\n"
                               "  - regx: ^http://registry\\.invalid/\n"
                               "    redirect: 127.0.0.1:5000\n"
                               "  - regx: direct\\.example\n"
                               "    direct: true\n"
                               "    use_https: true\n"
                               "  - regx: blobs/sha256.*\n"
                               "  - regx: secure\\.example\n"
                               "    use_https: true\n");
    const struct want w[] = {
        {"GET", "http://registry.invalid/v2/", NULL, DFD_ACT_PROXY_P2P, "http://127.0.0.1:5000/v2/", NULL, 0},
        {"HEAD", "http://registry.invalid/v2/", NULL, DFD_ACT_PROXY, "http://127.0.0.1:5000/v2/", NULL, 0},
        {"GET", "http://direct.example/v2/x/blobs/sha256:" D64, NULL, DFD_ACT_PROXY,
         "https://direct.example/v2/x/blobs/sha256:" D64, NULL, 0},
        {"GET", "http://other:8080/v2/x/blobs/sha256:" D64, NULL, DFD_ACT_PROXY_P2P,
         "http://other:8080/v2/x/blobs/sha256:" D64, "x", 0},
        {"GET", "http://secure.example/file?a=1", NULL, DFD_ACT_PROXY_P2P,
         "https://secure.example/file?a=1", NULL, 0},
        {"GET", "http://nomatch.example/x", NULL, DFD_ACT_PROXY, "http://nomatch.example/x", NULL, 0},
        {"GET", "http://nomatch.example", NULL, DFD_ACT_PROXY, "http://nomatch.example/", NULL, 0},
        {"POST", "http://nomatch.example/t", NULL, DFD_ACT_PROXY, NULL, NULL, 0},
        {"GET", "https://nomatch.example/x", NULL, DFD_ACT_PROXY, "https://nomatch.example/x", NULL, 0},
        {"GET", "http://u:p@h/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "http:///x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"PUT", "http://h/x", NULL, DFD_ACT_REJECT, NULL, NULL, 405},
        {"CONNECT", "registry.example:443", NULL, DFD_ACT_CONNECT, "registry.example:443", NULL, 0},
        {"CONNECT", "[::1]:443", NULL, DFD_ACT_CONNECT, "[::1]:443", NULL, 0},
        {"CONNECT", "registry.example", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"CONNECT", "h:0", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"CONNECT", "h/x:443", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"CONNECT", ":443", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
    };
    run(r, w, sizeof(w) / sizeof(w[0]));
    struct dfd_rules_in in = {.method = "GET", .target = "http://registry.invalid/v2/"};
    struct dfd_route rt;
    dfd_rules_route(r, &in, &rt);
    assert_int_equal(rt.rule_index, 0);
    dfd_route_cleanup(&rt);
    in.target = "http://nomatch/";
    dfd_rules_route(r, &in, &rt);
    assert_int_equal(rt.rule_index, -1);
    dfd_route_cleanup(&rt);
    /* a blob URL matched by a non-direct rule takes the blob path: upstream, repo, digest */
    in.target = "http://other:8080/v2/lib/x/blobs/sha256:" D64;
    dfd_rules_route(r, &in, &rt);
    assert_int_equal(rt.action, DFD_ACT_PROXY_P2P);
    assert_string_equal(rt.upstream, "http://other:8080");
    assert_string_equal(rt.repo, "lib/x");
    assert_string_equal(rt.digest, "sha256:" D64);
    assert_int_equal(rt.is_default_upstream, 0);
    dfd_route_cleanup(&rt);
    in.target = "http://registry.invalid/v2/a/blobs/sha256:" D64; /* redirected to --registry */
    dfd_rules_route(r, &in, &rt);
    assert_string_equal(rt.upstream, "http://127.0.0.1:5000");
    assert_int_equal(rt.is_default_upstream, 1);
    dfd_route_cleanup(&rt);
    const char *not_blob[] = {
        "http://other/v2/x/blobs/sha256:" D64 "?a=1", "http://other/v2/x/blobs/sha256:abc",
        "http://other/v2/X/blobs/sha256:" D64,        "http://other/x/blobs/sha256:" D64,
        "http://direct.example/v2/x/blobs/sha256:" D64, "http://secure.example/file",
    };
    for (size_t i = 0; i < sizeof(not_blob) / sizeof(not_blob[0]); i++) {
        in.target = not_blob[i];
        dfd_rules_route(r, &in, &rt);
        if (rt.digest[0] || rt.upstream)
            fail_msg("%s should not take the blob path", not_blob[i]);
        dfd_route_cleanup(&rt);
    }
    dfd_rules_free(r);
}

static void test_grammar(void **state)
{
    (void)state;
    const char *good[] = {"a", "a/b", "library/alpine", "a.b", "a_b", "a__b", "a-b", "a---b",
                          "a0/b1/c2", "x-y.z_w__v/q"};
    const char *bad[] = {"", "A", "a/", "/a", "a//b", "a..b", "a___b", "-a", "a-", "a_", ".a",
                         "a/B", "a b", "a:b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!dfd_rules_valid_repo(good[i], strlen(good[i])))
            fail_msg("'%s' should be a valid repository", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dfd_rules_valid_repo(bad[i], strlen(bad[i])))
            fail_msg("'%s' should be an invalid repository", bad[i]);
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    assert_true(dfd_rules_valid_repo(longname, 255));
    assert_false(dfd_rules_valid_repo(longname, 256));
    assert_true(dfd_rules_valid_digest("sha256:" D64));
    assert_false(dfd_rules_valid_digest("sha256:" D64 "0"));
    assert_false(dfd_rules_valid_digest("sha512:" D64));
    assert_false(dfd_rules_valid_digest("sha256:"));
    assert_false(dfd_rules_valid_digest(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_mode), cmocka_unit_test(test_upstream_choice),
        cmocka_unit_test(test_rejects),       cmocka_unit_test(test_proxy_mode),
        cmocka_unit_test(test_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
