/* SPDX-License-Identifier: Apache-2.0 */
/* dfd_rules: blob detection, upstream choice (ns= > X-Dragonfly-Registry > --registry),
 * proxies rules in order (use_https, redirect, direct), CONNECT, and every refusal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/socket.h>

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
    /* upstreams other than --registry must be allowed (test_upstream_allow has the refusals) */
    struct dfd_rules *r = make("http://127.0.0.1:5000", 0,
                               "registry_allow: [ghcr.io, docker.io, http://10.0.0.1:8080, quay.io]\n");
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
                               "    use_https: true\n"
                               "registry_allow: [nomatch.example, registry.example:443, "
                               "\"[::1]:5000\"]\n");
    const struct want w[] = {
        {"GET", "http://registry.invalid/v2/", NULL, DFD_ACT_PROXY_P2P, "http://127.0.0.1:5000/v2/", NULL, 0},
        {"HEAD", "http://registry.invalid/v2/", NULL, DFD_ACT_PROXY, "http://127.0.0.1:5000/v2/", NULL, 0},
        {"GET", "http://direct.example/v2/x/blobs/sha256:" D64, NULL, DFD_ACT_PROXY,
         "https://direct.example/v2/x/blobs/sha256:" D64, NULL, 0},
        {"GET", "http://other:8080/v2/x/blobs/sha256:" D64, NULL, DFD_ACT_PROXY_P2P,
         "http://other:8080/v2/x/blobs/sha256:" D64, "x", 0},
        {"GET", "http://secure.example/file?a=1", NULL, DFD_ACT_PROXY_P2P,
         "https://secure.example/file?a=1", NULL, 0},
        /* no rule: only allowed hosts (registry_allow: nomatch.example) */
        {"GET", "http://nomatch.example/x", NULL, DFD_ACT_PROXY, "http://nomatch.example/x", NULL, 0},
        {"GET", "http://nomatch.example", NULL, DFD_ACT_PROXY, "http://nomatch.example/", NULL, 0},
        {"POST", "http://nomatch.example/t", NULL, DFD_ACT_PROXY, NULL, NULL, 0},
        {"GET", "https://nomatch.example/x", NULL, DFD_ACT_PROXY, "https://nomatch.example/x", NULL, 0},
        {"GET", "http://other.example/x", NULL, DFD_ACT_REJECT, NULL, NULL, 403},
        {"GET", "http://u:p@h/x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"GET", "http:///x", NULL, DFD_ACT_REJECT, NULL, NULL, 400},
        {"PUT", "http://h/x", NULL, DFD_ACT_REJECT, NULL, NULL, 405},
        {"CONNECT", "registry.example:443", NULL, DFD_ACT_CONNECT, "registry.example:443", NULL, 0},
        {"CONNECT", "[::1]:5000", NULL, DFD_ACT_CONNECT, "[::1]:5000", NULL, 0},
        {"CONNECT", "[::1]:443", NULL, DFD_ACT_REJECT, NULL, NULL, 403},
        {"CONNECT", "other.example:443", NULL, DFD_ACT_REJECT, NULL, NULL, 403},
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


/* one route: action, status (REJECT) and is_addr_check */
static void expect(const struct dfd_rules *r, const char *method, const char *target,
                   const char *hdr, enum dfd_action action, int status, int is_addr_check)
{
    struct dfd_rules_in in = {.method = method, .target = target, .registry_hdr = hdr};
    struct dfd_route rt;
    dfd_rules_route(r, &in, &rt);
    if (rt.action != action || (action == DFD_ACT_REJECT && rt.status != status) ||
        (action != DFD_ACT_REJECT && rt.is_addr_check != is_addr_check))
        fail_msg("%s %s (%s): %s %d check=%d (%s), expected %s %d check=%d", method, target,
                 hdr ? hdr : "-", dfd_action_name(rt.action), rt.status, rt.is_addr_check,
                 rt.reason, dfd_action_name(action), status, is_addr_check);
    if (action != DFD_ACT_REJECT && action != DFD_ACT_LOCAL)
        assert_non_null(rt.host);
    dfd_route_cleanup(&rt);
}

static struct sockaddr *sa_of(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
        s6->sin6_family = AF_INET6;
    }
    return (struct sockaddr *)ss;
}

static void test_addr_special(void **state)
{
    (void)state;
    const char *special[] = {
        "127.0.0.1", "127.255.255.254", "127.0.0.2", "0.0.0.0", "0.1.2.3", "169.254.169.254",
        "169.254.0.1", "::1", "::", "fe80::1", "febf:ffff::1", "::ffff:127.0.0.1",
        "::ffff:169.254.1.1", "::ffff:0.0.0.0", "::127.0.0.1", "64:ff9b::7f00:1",
    };
    const char *public[] = {
        "10.0.0.1", "8.8.8.8", "128.0.0.1", "126.255.255.255", "169.253.1.1", "169.255.0.1",
        "1.0.0.0", "2001:db8::1", "fec0::1", "fe7f::1", "ff02::1", "::ffff:8.8.8.8",
        "::ffff:10.0.0.1", "64:ff9b::808:808", "2002:7f00:1::1",
    };
    struct sockaddr_storage ss;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (!dfd_rules_addr_is_special(sa_of(special[i], &ss)))
            fail_msg("%s should be special", special[i]);
    for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++)
        if (dfd_rules_addr_is_special(sa_of(public[i], &ss)))
            fail_msg("%s should not be special", public[i]);
    assert_false(dfd_rules_addr_is_special(NULL));

    /* hosts as written in URLs: every spelling the resolver accepts */
    const struct {
        const char *host;
        enum dfd_host_kind kind;
    } h[] = {
        {"127.0.0.1", DFD_HOST_SPECIAL},        {"127.1", DFD_HOST_SPECIAL},
        {"2130706433", DFD_HOST_SPECIAL},       {"0x7f000001", DFD_HOST_SPECIAL},
        {"0177.0.0.1", DFD_HOST_SPECIAL},       {"0", DFD_HOST_SPECIAL},
        {"169.254.169.254", DFD_HOST_SPECIAL},  {"[::1]", DFD_HOST_SPECIAL},
        {"::1", DFD_HOST_SPECIAL},              {"[0:0:0:0:0:0:0:1]", DFD_HOST_SPECIAL},
        {"[::ffff:127.0.0.1]", DFD_HOST_SPECIAL}, {"[::FFFF:7f00:1]", DFD_HOST_SPECIAL},
        {"[fe80::1%1]", DFD_HOST_SPECIAL},      {"[::]", DFD_HOST_SPECIAL},
        {"localhost", DFD_HOST_SPECIAL},        {"LocalHost.", DFD_HOST_SPECIAL},
        {"a.localhost", DFD_HOST_SPECIAL},      {"10.1.2.3", DFD_HOST_PUBLIC},
        {"[2001:db8::1]", DFD_HOST_PUBLIC},     {"[::ffff:8.8.8.8]", DFD_HOST_PUBLIC},
        {"registry.example", DFD_HOST_NAME},    {"localhost.example", DFD_HOST_NAME},
        {"notlocalhost", DFD_HOST_NAME},        {"abc", DFD_HOST_NAME},
        {"", DFD_HOST_INVALID},                 {"a b", DFD_HOST_INVALID},
        {"[::1", DFD_HOST_INVALID},             {"a:b", DFD_HOST_INVALID},
        {"[zz::1]", DFD_HOST_INVALID},          {"a/b", DFD_HOST_INVALID},
    };
    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
        if (dfd_rules_host_kind(h[i].host) != h[i].kind)
            fail_msg("host '%s': kind %d, expected %d", h[i].host, dfd_rules_host_kind(h[i].host),
                     h[i].kind);
}

#define BLOB "/v2/a/blobs/sha256:" D64

static void test_upstream_allow(void **state)
{
    (void)state;
    struct dfd_rules *r = make("http://127.0.0.1:5000", 0,
                               "registry_mirror:\n"
                               "  remote: http://10.9.9.9:5000\n"
                               "registry_allow:\n"
                               "  - https://ghcr.io\n"
                               "  - \"*.example.com\"\n"
                               "  - http://127.0.0.1:6000/v2/lib/\n"
                               "  - localhost:7000\n"
                               "  - \"[::1]:7001\"\n"
                               "proxies:\n"
                               "  - regx: ^https://quay\\.io/\n"
                               "  - regx: blobs/sha256.*\n");
    /* configured registries: --registry, registry_mirror.remote (also when --registry beats
     * it), exact allow entries — named, no address check */
    expect(r, "GET", "/v2/", NULL, DFD_ACT_PASS, 0, 0);
    expect(r, "GET", BLOB, "http://127.0.0.1:5000", DFD_ACT_BLOB, 0, 0);
    expect(r, "GET", BLOB, "http://10.9.9.9:5000", DFD_ACT_BLOB, 0, 0);
    expect(r, "GET", BLOB "?ns=ghcr.io", NULL, DFD_ACT_BLOB, 0, 0);
    expect(r, "GET", BLOB, "https://ghcr.io:443", DFD_ACT_BLOB, 0, 0);
    expect(r, "GET", "/v2/x/manifests/1", "http://localhost:7000", DFD_ACT_PASS, 0, 0);
    expect(r, "GET", "/v2/x/manifests/1", "http://[::1]:7001", DFD_ACT_PASS, 0, 0);
    expect(r, "GET", "/v2/x/manifests/1", "http://[0:0::1]:7001", DFD_ACT_PASS, 0, 0);
    expect(r, "GET", "/v2/x/manifests/1", "http://127.1:5000", DFD_ACT_PASS, 0, 0);
    /* a URL prefix with a path: only under it */
    expect(r, "GET", "/v2/lib/x/manifests/1", "http://127.0.0.1:6000", DFD_ACT_PASS, 0, 0);
    expect(r, "GET", "/v2/library/x/manifests/1", "http://127.0.0.1:6000", DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "/v2/other/manifests/1", "http://127.0.0.1:6000", DFD_ACT_REJECT, 403, 0);
    /* wildcards and host regexes: allowed, the name is resolved and checked */
    expect(r, "GET", BLOB "?ns=a.example.com", NULL, DFD_ACT_BLOB, 0, 1);
    expect(r, "GET", BLOB "?ns=b.a.example.com:8443", NULL, DFD_ACT_BLOB, 0, 1);
    expect(r, "GET", BLOB "?ns=quay.io", NULL, DFD_ACT_BLOB, 0, 1);
    /* anything else: 403 — a path-only regex (blobs/sha256.*) never picks the registry */
    expect(r, "GET", BLOB "?ns=example.com", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", BLOB "?ns=evil.example", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", BLOB, "http://127.0.0.1:9999", DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", BLOB, "http://ghcr.io", DFD_ACT_REJECT, 403, 0);   /* scheme differs */
    expect(r, "GET", BLOB, "http://10.9.9.9:5001", DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "/v2/", "http://[::ffff:127.0.0.1]:5000", DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "/v2/", "http://localhost:7001", DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "/v2/?ns=docker.io", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "HEAD", BLOB "?ns=evil.example", NULL, DFD_ACT_REJECT, 403, 0);
    dfd_rules_free(r);
    /* "docker.io" names Docker Hub for ns=docker.io */
    r = make("http://127.0.0.1:5000", 0, "registry_allow: [docker.io]\n");
    expect(r, "GET", "/v2/?ns=docker.io", NULL, DFD_ACT_PASS, 0, 0);
    dfd_rules_free(r);
    /* "*" allows any name, but no special address */
    r = make("http://127.0.0.1:5000", 0, "registry_allow: [\"*\"]\n");
    expect(r, "GET", "/v2/?ns=any.example", NULL, DFD_ACT_PASS, 0, 1);
    expect(r, "GET", "/v2/", "http://10.0.0.1", DFD_ACT_PASS, 0, 0);
    expect(r, "GET", "/v2/", "http://127.0.0.1:9999", DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "/v2/", "http://localhost:9999", DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "/v2/", "http://[::1]:9999", DFD_ACT_REJECT, 403, 0);
    dfd_rules_free(r);
}

static void test_proxy_targets(void **state)
{
    (void)state;
    struct dfd_rules *r = make("https://index.docker.io", 0,
                               "proxies:\n"
                               "  - regx: blobs/sha256.*\n"
                               "  - regx: ^http://127\\.0\\.0\\.1:8000/\n"
                               "  - regx: ^http://intra\\.example/\n"
                               "    redirect: 127.0.0.1:8001\n"
                               "registry_allow: [http://127.0.0.1:9000]\n"
                               "hijack_https:\n"
                               "  cert: c.pem\n"
                               "  hosts:\n"
                               "    - regx: ^127\\.0\\.0\\.1:9443$\n"
                               "    - regx: \\.corp\\.example:443$\n"
                               "    - regx: :8443$\n");
    /* a host-independent rule (blobs/sha256.*): public hosts only */
    const char *loop[] = {"127.0.0.1:7000", "[::1]:7000", "[::ffff:127.0.0.1]:7000",
                          "2130706433:7000", "127.1:7000", "169.254.169.254", "0.0.0.0:7000",
                          "localhost:7000", "[fe80::1]:7000", "[::]:7000"};
    char url[256];
    for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
        snprintf(url, sizeof(url), "http://%s" BLOB, loop[i]);
        expect(r, "GET", url, NULL, DFD_ACT_REJECT, 403, 0);
    }
    expect(r, "GET", "http://10.0.0.1:7000" BLOB, NULL, DFD_ACT_PROXY_P2P, 0, 0);
    expect(r, "GET", "http://[2001:db8::1]" BLOB, NULL, DFD_ACT_PROXY_P2P, 0, 0);
    expect(r, "GET", "http://registry.example" BLOB, NULL, DFD_ACT_PROXY_P2P, 0, 1);
    /* a rule that names the address, a redirect, an exact allow entry */
    expect(r, "GET", "http://127.0.0.1:8000/x", NULL, DFD_ACT_PROXY_P2P, 0, 0);
    expect(r, "GET", "http://intra.example/x", NULL, DFD_ACT_PROXY_P2P, 0, 0);
    expect(r, "GET", "http://127.0.0.1:9000/x", NULL, DFD_ACT_PROXY, 0, 0);
    expect(r, "GET", "http://127.0.0.1:9000" BLOB, NULL, DFD_ACT_PROXY_P2P, 0, 0);
    /* not named: no rule, another port, another spelling of the host */
    expect(r, "GET", "http://127.0.0.1:9001/x", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "http://127.0.0.1:8001/x", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "http://localhost:8000/x", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "GET", "http://public.example/x", NULL, DFD_ACT_REJECT, 403, 0);
    /* CONNECT: hijack_https.hosts on host:port, allow entries on host and port */
    expect(r, "CONNECT", "127.0.0.1:9443", NULL, DFD_ACT_CONNECT, 0, 0);
    expect(r, "CONNECT", "127.0.0.1:9000", NULL, DFD_ACT_CONNECT, 0, 0);
    expect(r, "CONNECT", "a.corp.example:443", NULL, DFD_ACT_CONNECT, 0, 1);
    expect(r, "CONNECT", "index.docker.io:443", NULL, DFD_ACT_CONNECT, 0, 0);
    expect(r, "CONNECT", "b.example:8443", NULL, DFD_ACT_CONNECT, 0, 1);
    expect(r, "CONNECT", "127.0.0.1:8443", NULL, DFD_ACT_REJECT, 403, 0); /* :8443$ names no host */
    expect(r, "CONNECT", "127.0.0.1:9444", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "CONNECT", "localhost:22", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "CONNECT", "[::1]:22", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "CONNECT", "169.254.169.254:80", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "CONNECT", "public.example:443", NULL, DFD_ACT_REJECT, 403, 0);
    expect(r, "CONNECT", "::1:22", NULL, DFD_ACT_REJECT, 400, 0);
    dfd_rules_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_mode), cmocka_unit_test(test_upstream_choice),
        cmocka_unit_test(test_rejects),       cmocka_unit_test(test_proxy_mode),
        cmocka_unit_test(test_grammar),       cmocka_unit_test(test_addr_special),
        cmocka_unit_test(test_upstream_allow), cmocka_unit_test(test_proxy_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
