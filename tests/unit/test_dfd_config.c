/* SPDX-License-Identifier: Apache-2.0 */
/* dfd_config: Dragonfly 1.0 flag defaults and values, YAML registry_mirror/proxies/supernodes,
 * flag-over-file precedence, one-line errors with file:line for every kind of bad config. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dfd_config.h"

static int args(struct dfd_config *c, char *err, int argc, char **argv)
{
    dfd_config_init(c);
    return dfd_config_parse_args(c, argc, argv, err);
}

static int yaml(struct dfd_config *c, const char *text, char *err, char **ignored)
{
    return dfd_config_parse_yaml(c, "t.yml", text, strlen(text), ignored, err);
}

static void test_defaults(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"dfdaemon", NULL};
    setenv("HOME", "/home/u", 1);
    assert_int_equal(args(&c, err, 1, argv), DFD_CONFIG_RUN);
    assert_int_equal(c.port, 65001);
    assert_string_equal(c.bind_addr, "127.0.0.1");
    assert_string_equal(c.registry, "https://index.docker.io");
    assert_int_equal(c.ratelimit_bps, 20u << 20);
    assert_null(c.node);
    assert_string_equal(c.work_home, "/home/u/.small-dragonfly");
    assert_string_equal(c.config_path, "/etc/dragonfly/dfdaemon.yml");
    assert_int_equal(c.is_config_explicit, 0);
    assert_int_equal(dfd_config_finish(&c, err), 0);
    assert_string_equal(c.localrepo, "/home/u/.small-dragonfly/dfdaemon/data");
    dfd_config_cleanup(&c);
}

static void test_flags(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"dfdaemon", "--port", "50001", "--registry", "http://127.0.0.1:5000/",
                    "--ratelimit", "1.5M", "--node", "a:8002,b:8002", "--workHome", "/w",
                    "--localrepo", "/repo", "--verbose", "--config", "/x.yml",
                    "--idle-timeout", "2s", "--auth-ttl", "500ms", "--hostIp", "1.2.3.4", NULL};
    assert_int_equal(args(&c, err, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv),
                     DFD_CONFIG_RUN);
    assert_int_equal(c.port, 50001);
    assert_string_equal(c.registry, "http://127.0.0.1:5000");
    assert_int_equal(c.ratelimit_bps, 1572864);
    assert_string_equal(c.node, "a:8002,b:8002");
    assert_string_equal(c.work_home, "/w");
    assert_string_equal(c.localrepo, "/repo");
    assert_true(c.is_verbose);
    assert_string_equal(c.config_path, "/x.yml");
    assert_true(c.is_config_explicit);
    assert_int_equal(c.idle_timeout_ms, 2000);
    assert_int_equal(c.auth_ttl_ms, 500);
    dfd_config_cleanup(&c);
}

static void test_flag_errors(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN];
    struct {
        char *a[4];
        const char *msg;
    } cases[] = {
        {{"dfdaemon", "--port", "0", NULL}, "--port: invalid port '0'"},
        {{"dfdaemon", "--port", "70000", NULL}, "--port: invalid port '70000'"},
        {{"dfdaemon", "--registry", "ftp://x", NULL}, "--registry: invalid registry URL"},
        {{"dfdaemon", "--registry", "http://h/path", NULL}, "--registry: invalid registry URL"},
        {{"dfdaemon", "--ratelimit", "fast", NULL}, "--ratelimit: invalid rate 'fast'"},
        {{"dfdaemon", "--idle-timeout", "-1", NULL}, "--idle-timeout: invalid duration"},
        {{"dfdaemon", "--bogus", NULL, NULL}, "unknown option --bogus"},
        {{"dfdaemon", "--port", NULL, NULL}, "option --port needs a value"},
        {{"dfdaemon", "extra", NULL, NULL}, "unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int argc = 0;
        while (cases[i].a[argc])
            argc++;
        err[0] = '\0';
        assert_int_equal(args(&c, err, argc, cases[i].a), -EINVAL);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: error '%s' does not contain '%s'", i, err, cases[i].msg);
        assert_null(strchr(err, '\n'));
        dfd_config_cleanup(&c);
    }
    char *h[] = {"dfdaemon", "--help", NULL};
    assert_int_equal(args(&c, err, 2, h), DFD_CONFIG_HELP);
    dfd_config_cleanup(&c);
    char *v[] = {"dfdaemon", "version", NULL};
    assert_int_equal(args(&c, err, 2, v), DFD_CONFIG_VERSION);
    dfd_config_cleanup(&c);
}

static void test_yaml_full(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *ignored = NULL;
    char *argv[] = {"dfdaemon", NULL};
    assert_int_equal(args(&c, err, 1, argv), DFD_CONFIG_RUN);
    const char *text = "# Dragonfly 1.0 style\n"
                       "port: 50002\n"
                       "ratelimit: 100M\n"
                       "supernodes: [sn1:8002, sn2:8002]\n"
                       "registry_mirror:\n"
                       "  remote: https://harbor.example:8443/\n"
                       "  insecure: true\n"
                       "  certs: [/etc/ca1.pem, /etc/ca2.pem]\n"
                       "proxies:\n"
                       "  - regx: blobs/sha256.*\n"
                       "  - regx: ^http://mirror\\.local/\n"
                       "    use_https: true\n"
                       "    direct: true\n"
                       "    redirect: real.example:443\n"
                       "hijack_https:\n"
                       "  cert: a\n"
                       "dfget_flags: [\"--verbose\"]\n";
    assert_int_equal(yaml(&c, text, err, &ignored), 0);
    assert_int_equal(c.port, 50002);
    assert_int_equal(c.ratelimit_bps, 100u << 20);
    assert_string_equal(c.node, "sn1:8002,sn2:8002");
    assert_string_equal(c.registry, "https://harbor.example:8443");
    assert_true(c.is_insecure);
    assert_int_equal(c.n_certs, 2);
    assert_string_equal(c.certs[1], "/etc/ca2.pem");
    assert_int_equal(c.n_proxies, 2);
    assert_string_equal(c.proxies[0].regx, "blobs/sha256.*");
    assert_false(c.proxies[0].use_https);
    assert_null(c.proxies[0].redirect);
    assert_string_equal(c.proxies[1].regx, "^http://mirror\\.local/");
    assert_true(c.proxies[1].use_https);
    assert_true(c.proxies[1].direct);
    assert_string_equal(c.proxies[1].redirect, "real.example:443");
    assert_string_equal(ignored, "hijack_https,dfget_flags");
    free(ignored);
    dfd_config_cleanup(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"dfdaemon", "--registry", "http://flag:1", "--port", "50003", "--node",
                    "f:1", NULL};
    assert_int_equal(args(&c, err, 7, argv), DFD_CONFIG_RUN);
    assert_int_equal(yaml(&c,
                          "registry_mirror: {remote: http://file:2}\nport: 50004\n"
                          "supernodes: file:3\nworkHome: /from/file\n",
                          err, NULL),
                     0);
    assert_string_equal(c.registry, "http://flag:1");
    assert_int_equal(c.port, 50003);
    assert_string_equal(c.node, "f:1");
    assert_string_equal(c.work_home, "/from/file"); /* no flag: the file wins over the default */
    dfd_config_cleanup(&c);
    /* empty documents and empty sections are fine */
    char *a0[] = {"dfdaemon", NULL};
    assert_int_equal(args(&c, err, 1, a0), 0);
    assert_int_equal(yaml(&c, "", err, NULL), 0);
    assert_int_equal(yaml(&c, "# only a comment\n", err, NULL), 0);
    assert_int_equal(yaml(&c, "registry_mirror:\nproxies:\n", err, NULL), 0);
    assert_string_equal(c.registry, "https://index.docker.io");
    assert_int_equal(c.n_proxies, 0);
    dfd_config_cleanup(&c);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"port: [1\n", "t.yml:2: YAML syntax error"},
        {"- a\n- b\n", "t.yml:1: top level: expected a mapping"},
        {"colour: blue\n", "t.yml:1: unknown key 'colour'"},
        {"port: 99999\n", "t.yml:1: port: invalid port '99999'"},
        {"ratelimit: lots\n", "t.yml:1: ratelimit: invalid rate 'lots'"},
        {"registry_mirror: x\n", "t.yml:1: registry_mirror: expected a mapping"},
        {"registry_mirror:\n  remote: ftp://x\n", "t.yml:2: registry_mirror.remote: invalid registry URL"},
        {"registry_mirror:\n  insecure: maybe\n", "t.yml:2: registry_mirror.insecure: expected true or false"},
        {"registry_mirror:\n  remot: http://x\n", "t.yml:2: unknown key registry_mirror.remot"},
        {"proxies: {regx: x}\n", "t.yml:1: proxies: expected a list"},
        {"proxies:\n  - use_https: true\n", "t.yml:2: proxies[0]: regx is required"},
        {"proxies:\n  - regx: ok\n  - regx: \"(\"\n", "t.yml:3: proxies[1].regx: invalid regex '('"},
        {"proxies:\n  - regx: a\n    redirect: http://x/\n", "t.yml:3: proxies[0].redirect: want host[:port]"},
        {"proxies:\n  - regx: a\n    direkt: true\n", "t.yml:3: unknown key proxies[0].direkt"},
        {"port: {a: 1}\n", "t.yml:1: port: expected a single value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dfd_config c;
        char err[DF_ERR_LEN] = "";
        char *argv[] = {"dfdaemon", NULL};
        assert_int_equal(args(&c, err, 1, argv), 0);
        assert_int_equal(yaml(&c, cases[i].text, err, NULL), -EINVAL);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: error '%s' does not contain '%s'", i, err, cases[i].msg);
        assert_null(strchr(err, '\n'));
        dfd_config_cleanup(&c);
    }
}

static void test_files_and_finish(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"dfdaemon", "--config", "/nonexistent/dfdaemon.yml", NULL};
    assert_int_equal(args(&c, err, 3, argv), 0);
    assert_int_equal(dfd_config_load_file(&c, NULL, err), -EINVAL);
    assert_non_null(strstr(err, "cannot read config file /nonexistent/dfdaemon.yml"));
    dfd_config_cleanup(&c);
    /* the default path may be missing */
    char *a0[] = {"dfdaemon", NULL};
    assert_int_equal(args(&c, err, 1, a0), 0);
    free(c.config_path);
    c.config_path = strdup("/nonexistent/default.yml");
    assert_int_equal(dfd_config_load_file(&c, NULL, err), 0);
    free(c.work_home);
    c.work_home = strdup("relative/home");
    assert_int_equal(dfd_config_finish(&c, err), -EINVAL);
    assert_non_null(strstr(err, "workHome must be an absolute path"));
    dfd_config_cleanup(&c);
    char *a1[] = {"dfdaemon", "--localrepo", "rel", "--workHome", "/w", NULL};
    assert_int_equal(args(&c, err, 5, a1), 0);
    assert_int_equal(dfd_config_finish(&c, err), -EINVAL);
    assert_non_null(strstr(err, "localrepo must be an absolute path"));
    dfd_config_cleanup(&c);
}

/* Store clean-up durations: defaults (§8.3), YAML keys, flags beat YAML, bad values. */
static void test_gc(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *argv0[] = {"dfdaemon", NULL};
    assert_int_equal(args(&c, err, 1, argv0), DFD_CONFIG_RUN);
    assert_int_equal(c.gc_interval_ms, 120000);
    assert_int_equal(c.gc_expire_ms, 3600000);
    assert_int_equal(yaml(&c, "gc_interval: 5s\ngc_expire: 90m\n", err, NULL), 0);
    assert_int_equal(c.gc_interval_ms, 5000);
    assert_int_equal(c.gc_expire_ms, 5400000);
    dfd_config_cleanup(&c);

    char *argv1[] = {"dfdaemon", "--gc-interval", "0", "--gc-expire", "2s", NULL};
    assert_int_equal(args(&c, err, 5, argv1), DFD_CONFIG_RUN);
    assert_int_equal(yaml(&c, "gc_interval: 5s\ngc_expire: 90m\n", err, NULL), 0);
    assert_int_equal(c.gc_interval_ms, 0); /* 0 = no clean-up; the flag wins */
    assert_int_equal(c.gc_expire_ms, 2000);
    dfd_config_cleanup(&c);

    char *argv2[] = {"dfdaemon", "--gc-expire", "0", NULL};
    assert_true(args(&c, err, 3, argv2) < 0);
    assert_non_null(strstr(err, "--gc-expire: invalid duration '0'"));
    dfd_config_cleanup(&c);
    assert_int_equal(args(&c, err, 1, argv0), DFD_CONFIG_RUN);
    assert_true(yaml(&c, "gc_interval: soon\n", err, NULL) < 0);
    assert_non_null(strstr(err, "t.yml:1"));
    assert_non_null(strstr(err, "gc_interval: invalid duration 'soon'"));
    dfd_config_cleanup(&c);
}

static void test_norm_registry(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"registry.example", "https://registry.example"},
        {"127.0.0.1:5000", "https://127.0.0.1:5000"},
        {"http://127.0.0.1:5000/", "http://127.0.0.1:5000"},
        {"HTTPS://Reg.Example", "HTTPS://Reg.Example"},
        {"http://[::1]:5000", "http://[::1]:5000"},
        {"", NULL},
        {"http://", NULL},
        {"http://h/v2", NULL},
        {"http://u@h", NULL},
        {"http://h?x", NULL},
        {"h o", NULL},
        {"gopher://h", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = dfd_config_norm_registry(cases[i].in);
        if (cases[i].out == NULL) {
            if (got)
                fail_msg("'%s' → '%s', expected invalid", cases[i].in, got);
        } else {
            assert_non_null(got);
            assert_string_equal(got, cases[i].out);
        }
        free(got);
    }
}


static void test_allow(void **state)
{
    (void)state;
    struct dfd_config c;
    char err[DF_ERR_LEN] = "";
    char *ignored = NULL;
    /* YAML list; registry_mirror.remote is kept (an allowed upstream) even when --registry
     * beats it; hijack_https.hosts are CONNECT targets (only cert/key are "not used") */
    char *a1[] = {"dfdaemon", "--registry", "http://flag:1", NULL};
    assert_int_equal(args(&c, err, 3, a1), DFD_CONFIG_RUN);
    assert_int_equal(yaml(&c,
                          "registry_mirror: {remote: 'http://file:2/'}\n"
                          "registry_allow:\n  - https://ghcr.io\n  - '*.example.com'\n"
                          "  - http://127.0.0.1:6000/v2/lib/\n"
                          "hijack_https:\n  hosts:\n    - regx: ^reg\\.example:443$\n"
                          "      insecure: false\n",
                          err, &ignored),
                     0);
    assert_string_equal(c.registry, "http://flag:1");
    assert_string_equal(c.mirror_remote, "http://file:2");
    assert_int_equal(c.n_registry_allow, 3);
    assert_string_equal(c.registry_allow[1], "*.example.com");
    assert_int_equal(c.n_connect_hosts, 1);
    assert_string_equal(c.connect_hosts[0], "^reg\\.example:443$");
    assert_string_equal(ignored, "hijack_https"); /* hosts[].insecure: TLS interception */
    free(ignored);
    dfd_config_cleanup(&c);
    assert_int_equal(args(&c, err, 1, a1), DFD_CONFIG_RUN);
    assert_int_equal(yaml(&c, "hijack_https:\n  hosts:\n    - regx: x\n", err, &ignored), 0);
    assert_null(ignored);
    assert_null(c.mirror_remote);
    assert_int_equal(yaml(&c, "registry_allow: quay.io\n", err, NULL), 0);
    assert_int_equal(c.n_registry_allow, 1);
    dfd_config_cleanup(&c);
    /* --registry-allow: comma-separated, repeatable, beats the YAML list */
    char *a2[] = {"dfdaemon", "--registry-allow", "ghcr.io,http://127.0.0.1:5000",
                  "--registry-allow=[::1]:5001", NULL};
    assert_int_equal(args(&c, err, 4, a2), DFD_CONFIG_RUN);
    assert_int_equal(yaml(&c, "registry_allow: [quay.io]\n", err, NULL), 0);
    assert_int_equal(c.n_registry_allow, 3);
    assert_string_equal(c.registry_allow[0], "ghcr.io");
    assert_string_equal(c.registry_allow[2], "[::1]:5001");
    dfd_config_cleanup(&c);
    char *a3[] = {"dfdaemon", "--registry-allow", "ftp://x", NULL};
    assert_int_equal(args(&c, err, 3, a3), -EINVAL);
    assert_non_null(strstr(err, "--registry-allow: invalid allow entry 'ftp://x'"));
    dfd_config_cleanup(&c);
    /* errors name the line */
    struct {
        const char *text, *msg;
    } bad[] = {
        {"registry_allow:\n  - ok.example\n  - http://u@h\n", "t.yml:3: registry_allow: invalid allow entry"},
        {"registry_allow: {a: b}\n", "t.yml:1: registry_allow: expected a list"},
        {"hijack_https:\n  hosts:\n    - regx: '('\n", "t.yml:3: hijack_https.hosts[0].regx: invalid regex"},
        {"hijack_https:\n  hosts: [{insecure: true}]\n", "t.yml:2: hijack_https.hosts[0]: regx is required"},
        {"hijack_https:\n  hosts: x\n", "t.yml:2: hijack_https.hosts: expected a list"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *a0[] = {"dfdaemon", NULL};
        assert_int_equal(args(&c, err, 1, a0), 0);
        err[0] = '\0';
        if (yaml(&c, bad[i].text, err, NULL) != -EINVAL || !strstr(err, bad[i].msg))
            fail_msg("case %zu: '%s', expected '%s'", i, err, bad[i].msg);
        dfd_config_cleanup(&c);
    }
}

static void test_allow_entries(void **state)
{
    (void)state;
    char err[DF_ERR_LEN];
    struct {
        const char *in, *scheme, *host;
        int port;
        const char *path;
        int is_wild;
    } good[] = {
        {"https://ghcr.io", "https", "ghcr.io", 443, NULL, 0},
        {"HTTP://Reg.Example:5000/", "http", "reg.example", 5000, NULL, 0},
        {"http://127.0.0.1:6000/v2/lib/", "http", "127.0.0.1", 6000, "/v2/lib/", 0},
        {"http://127.1", "http", "127.0.0.1", 80, NULL, 0},
        {"http://[::1]:5000", "http", "::1", 5000, NULL, 0},
        {"quay.io", NULL, "quay.io", 0, NULL, 0},
        {"quay.io:8443", NULL, "quay.io", 8443, NULL, 0},
        {"[0:0::1]:5001", NULL, "::1", 5001, NULL, 0},
        {"::1", NULL, "::1", 0, NULL, 0},
        {"[::FFFF:127.0.0.1]", NULL, "::ffff:127.0.0.1", 0, NULL, 0},
        {"0x7f000001:80", NULL, "127.0.0.1", 80, NULL, 0},
        {"*.Example.com", NULL, "*.example.com", 0, NULL, 1},
        {"https://*.example.com", "https", "*.example.com", 443, NULL, 1},
        {"*", NULL, "*", 0, NULL, 1},
        {"localhost:7000", NULL, "localhost", 7000, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct dfd_allow a;
        if (dfd_config_parse_allow(good[i].in, &a, err) != 0)
            fail_msg("'%s' refused: %s", good[i].in, err);
        if ((good[i].scheme ? !a.scheme || strcmp(a.scheme, good[i].scheme) : a.scheme != NULL) ||
            strcmp(a.host, good[i].host) || a.port != good[i].port || a.is_wild != good[i].is_wild ||
            (good[i].path ? !a.path || strcmp(a.path, good[i].path) : a.path != NULL))
            fail_msg("'%s' → %s %s %d %s %d", good[i].in, a.scheme ? a.scheme : "-", a.host,
                     a.port, a.path ? a.path : "-", a.is_wild);
        dfd_allow_cleanup(&a);
    }
    const char *bad[] = {"", "ftp://x", "http://u@h", "http://u:p@h", "h:0", "h:70000", "*.",
                         "a b", "http://h?x", "http://h#x", "[::1", "[::1]x", "h/x", "http://",
                         "a:b:c", "*x.example", "http://h:", "h:abc", "[zz::1]:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dfd_allow a;
        if (dfd_config_parse_allow(bad[i], &a, err) == 0)
            fail_msg("'%s' accepted (host %s)", bad[i], a.host);
        assert_null(a.host);
    }
    char out[256];
    const struct {
        const char *in, *out;
        int rc;
    } canon[] = {
        {"127.1", "127.0.0.1", 1},          {"2130706433", "127.0.0.1", 1},
        {"[::FFFF:127.0.0.1]", "::ffff:127.0.0.1", 1}, {"0:0::1", "::1", 1},
        {"Registry.Example.", "registry.example", 0}, {"a_b-c", "a_b-c", 0},
        {"abc", "abc", 0},
    };
    for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
        int rc = dfd_config_canon_host(canon[i].in, strlen(canon[i].in), out, sizeof(out));
        if (rc != canon[i].rc || strcmp(out, canon[i].out))
            fail_msg("canon '%s' → %d '%s'", canon[i].in, rc, out);
    }
    assert_int_equal(dfd_config_canon_host("a:b", 3, out, sizeof(out)), -1);
    assert_int_equal(dfd_config_canon_host("", 0, out, sizeof(out)), -1);
    assert_int_equal(dfd_config_canon_host(".a", 2, out, sizeof(out)), -1);
}

/* The seed's dfclient: /etc/dragonfly.conf [node] address, no --node → the swarm is used. */
static void test_node_from_ini(void **state)
{
    (void)state;
    char dir[] = "/tmp/dfd-ini-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], err[DF_ERR_LEN];
    snprintf(path, sizeof(path), "%s/dragonfly.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[node]\naddress = 192.0.2.3,sn2:9000=2,[2001:db8::1]\n", f);
    fclose(f);
    struct dfd_config c;
    dfd_config_init(&c);
    assert_int_equal(dfd_config_node_from_ini(&c, path, err), 0);
    assert_string_equal(c.node, "192.0.2.3:8002,sn2:9000=2,[2001:db8::1]:8002");
    assert_string_equal(c.node_source, path);
    dfd_config_cleanup(&c);

    /* --node (or the YAML) wins: the file is not even read */
    dfd_config_init(&c);
    char *argv[] = {"dfdaemon", "--node", "10.0.0.1:8002", NULL};
    assert_int_equal(dfd_config_parse_args(&c, 3, argv, err), DFD_CONFIG_RUN);
    assert_int_equal(dfd_config_node_from_ini(&c, path, err), 0);
    assert_string_equal(c.node, "10.0.0.1:8002");
    assert_string_equal(c.node_source, "--node");
    dfd_config_cleanup(&c);

    /* no file, or a file without [node] address: nothing configured */
    dfd_config_init(&c);
    char missing[80];
    snprintf(missing, sizeof(missing), "%s/none.conf", dir);
    assert_int_equal(dfd_config_node_from_ini(&c, missing, err), -ENOENT);
    assert_null(c.node);
    f = fopen(path, "w");
    fputs("[other]\nkey = 1\n", f);
    fclose(f);
    assert_int_equal(dfd_config_node_from_ini(&c, path, err), -ENOENT);
    assert_null(c.node);

    /* a broken address list is an error naming it */
    f = fopen(path, "w");
    fputs("[node]\naddress = host:99999\n", f);
    fclose(f);
    assert_int_equal(dfd_config_node_from_ini(&c, path, err), -EINVAL);
    assert_non_null(strstr(err, "99999"));
    dfd_config_cleanup(&c);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_flags),
        cmocka_unit_test(test_flag_errors),    cmocka_unit_test(test_yaml_full),
        cmocka_unit_test(test_precedence),     cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_files_and_finish), cmocka_unit_test(test_norm_registry),
        cmocka_unit_test(test_gc),             cmocka_unit_test(test_allow),
        cmocka_unit_test(test_allow_entries),  cmocka_unit_test(test_node_from_ini),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
