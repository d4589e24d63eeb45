/* SPDX-License-Identifier: Apache-2.0 */
/* dfget flag and config-file parsing: every flag, repeated --header, node lists with ports,
 * weights and IPv6, bad values (one-line errors), the INI file via inih and DFGET_CONFIG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dfget_config.h"

#define ARGV(...) ((char *[]){"dfget", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"dfget", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(c, err, ...) dfget_config_parse_args(c, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), err)

static void test_defaults(void **state)
{
    struct dfget_config c;
    char err[DF_ERR_LEN];
    setenv("HOME", "/home/u", 1);
    setenv(DFGET_CONF_ENV, "/nonexistent/dragonfly.conf", 1);
    assert_int_equal(dfget_config_load(&c, ARGC("-u", "http://h/f"), ARGV("-u", "http://h/f"), err), 0);
    assert_int_equal(c.cmd, DFGET_CMD_DOWNLOAD);
    assert_string_equal(c.url, "http://h/f");
    assert_null(c.output);
    assert_null(c.md5);
    assert_int_equal(c.local_limit_bps, 0); /* unlimited by default (documented in --help) */
    assert_int_equal(c.min_rate_bps, 64 * 1024);
    assert_int_equal(c.timeout_ms, 0);
    assert_int_equal(c.pattern, DFGET_PATTERN_P2P);
    assert_int_equal(c.client_queue, 6);
    assert_int_equal(c.expire_ms, 180000);
    assert_int_equal(c.alive_ms, 300000);
    assert_string_equal(c.home, "/home/u/.small-dragonfly");
    assert_int_equal(c.nnodes, 1);
    assert_string_equal(c.nodes[0].host, "127.0.0.1");
    assert_int_equal(c.nodes[0].port, 8002);
    assert_null(c.conf_path);
    dfget_config_cleanup(&c);
}

static void test_every_flag(void **state)
{
    struct dfget_config c;
    char err[DF_ERR_LEN];
    dfget_config_init(&c);
    int rc = PARSE(&c, err, "-u", "https://h/x?a=1", "-o", "/tmp/out.bin", "-m",
                   "0123456789ABCDEF0123456789abcdef", "-i", "ident", "-s", "20M", "--minrate",
                   "1K", "--totallimit", "1G", "-e", "1m30s", "-p", "cdn", "-f", "a&b", "--header",
                   "A: 1", "--header", "B: two, three", "-n", "sn1,sn2:9000=3", "--notbs", "--home",
                   "/h", "--ip", "10.0.0.1", "--port", "15001", "--callsystem", "cs", "--dfdaemon",
                   "--insecure", "--cacerts", "/c1.pem", "--cacerts", "/c2.pem", "--clientqueue", "9",
                   "--expiretime", "10m", "--alivetime", "1h", "-b", "--verbose", "--console");
    assert_int_equal(rc, 0);
    assert_string_equal(c.url, "https://h/x?a=1");
    assert_string_equal(c.output, "/tmp/out.bin");
    assert_string_equal(c.md5, "0123456789ABCDEF0123456789abcdef");
    assert_string_equal(c.identifier, "ident");
    assert_int_equal(c.local_limit_bps, 20u << 20);
    assert_int_equal(c.min_rate_bps, 1024);
    assert_int_equal(c.total_limit_bps, 1u << 30);
    assert_int_equal(c.timeout_ms, 90000);
    assert_int_equal(c.pattern, DFGET_PATTERN_CDN);
    assert_string_equal(c.filter, "a&b");
    assert_int_equal(c.nheaders, 2);
    assert_string_equal(c.headers[0], "A: 1");
    assert_string_equal(c.headers[1], "B: two, three"); /* commas are not split (0.3 bug) */
    assert_int_equal(c.nnodes, 2);
    assert_string_equal(c.nodes[0].host, "sn1");
    assert_int_equal(c.nodes[0].port, 8002);
    assert_int_equal(c.nodes[0].weight, 1);
    assert_string_equal(c.nodes[1].host, "sn2");
    assert_int_equal(c.nodes[1].port, 9000);
    assert_int_equal(c.nodes[1].weight, 3);
    assert_true(c.is_notbs && c.is_dfdaemon && c.is_insecure && c.is_showbar && c.is_verbose &&
                c.is_console);
    assert_string_equal(c.home, "/h");
    assert_string_equal(c.ip, "10.0.0.1");
    assert_int_equal(c.port, 15001);
    assert_string_equal(c.callsystem, "cs");
    assert_int_equal(c.ncacerts, 2);
    assert_string_equal(c.cacerts[1], "/c2.pem");
    assert_int_equal(c.client_queue, 9);
    assert_int_equal(c.expire_ms, 600000);
    assert_int_equal(c.alive_ms, 3600000);
    dfget_config_cleanup(&c);

    dfget_config_init(&c);
    assert_int_equal(PARSE(&c, err, "--url=http://h/f", "--output=o", "--pattern=source",
                           "--locallimit=512K", "--timeout=30", "--md5="), 0);
    assert_string_equal(c.output, "o");
    assert_int_equal(c.pattern, DFGET_PATTERN_SOURCE);
    assert_int_equal(c.local_limit_bps, 512 * 1024);
    assert_int_equal(c.timeout_ms, 30000); /* bare integer = seconds (0.3 style) */
    assert_null(c.md5);                    /* empty = not set */
    dfget_config_cleanup(&c);
}

static void test_version_help(void **state)
{
    struct dfget_config c;
    char err[DF_ERR_LEN];
    dfget_config_init(&c);
    assert_int_equal(PARSE(&c, err, "version"), 0);
    assert_int_equal(c.cmd, DFGET_CMD_VERSION);
    dfget_config_cleanup(&c);
    dfget_config_init(&c);
    assert_int_equal(PARSE(&c, err, "--help"), 0);
    assert_int_equal(c.cmd, DFGET_CMD_HELP);
    dfget_config_cleanup(&c);
    dfget_config_init(&c);
    assert_int_equal(PARSE(&c, err, "-h"), 0);
    assert_int_equal(c.cmd, DFGET_CMD_HELP);
    assert_non_null(strstr(dfget_config_usage(), "--locallimit"));
    dfget_config_cleanup(&c);
}

static void expect_bad(const char *want_substr, int argc, char **argv)
{
    struct dfget_config c;
    char err[DF_ERR_LEN] = "";
    dfget_config_init(&c);
    assert_int_equal(dfget_config_parse_args(&c, argc, argv, err), -22);
    assert_non_null(strstr(err, want_substr));
    assert_null(strchr(err, '\n'));
    dfget_config_cleanup(&c);
}

#define BAD(substr, ...) expect_bad(substr, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_bad_values(void **state)
{
    BAD("missing --url", "-o", "x");
    BAD("missing --url", "--notbs");
    BAD("http:// or https://", "-u", "ftp://h/f");
    BAD("http:// or https://", "-u", "h/f");
    BAD("no host", "-u", "http:///f");
    BAD("control characters", "-u", "http://h/a b");
    BAD("unknown flag", "-u", "http://h/f", "--bogus");
    BAD("unknown flag -z", "-u", "http://h/f", "-z");
    BAD("needs a value", "-u", "http://h/f", "-o");
    BAD("needs a value", "-u", "http://h/f", "--header");
    BAD("--md5", "-u", "http://h/f", "-m", "xyz");
    BAD("--md5", "-u", "http://h/f", "-m", "0123456789abcdef0123456789abcdeg");
    BAD("--locallimit", "-u", "http://h/f", "-s", "fast");
    BAD("--locallimit", "-u", "http://h/f", "-s", "-1");
    BAD("--minrate", "-u", "http://h/f", "--minrate", "0");
    BAD("--totallimit", "-u", "http://h/f", "--totallimit", "20X");
    BAD("--timeout", "-u", "http://h/f", "-e", "soon");
    BAD("--pattern", "-u", "http://h/f", "-p", "torrent");
    BAD("--header", "-u", "http://h/f", "--header", "NoColon");
    BAD("--header", "-u", "http://h/f", "--header", ": v");
    BAD("--header", "-u", "http://h/f", "--header", "Bad Key: v");
    BAD("--port", "-u", "http://h/f", "--port", "70000");
    BAD("--port", "-u", "http://h/f", "--port", "x");
    BAD("--clientqueue", "-u", "http://h/f", "--clientqueue", "0");
    BAD("--expiretime", "-u", "http://h/f", "--expiretime", "3q");
    BAD("--alivetime", "-u", "http://h/f", "--alivetime", "");
    BAD("--output", "-u", "http://h/f", "-o", "");
    BAD("--home", "-u", "http://h/f", "--home", "");
    BAD("invalid node", "-u", "http://h/f", "-n", "h:0");
    BAD("invalid node", "-u", "http://h/f", "-n", "h:65536");
    BAD("invalid node", "-u", "http://h/f", "-n", "h:80=0");
    BAD("invalid node", "-u", "http://h/f", "-n", "h=x");
    BAD("invalid node", "-u", "http://h/f", "-n", "[::1");
    BAD("invalid node", "-u", "http://h/f", "-n", "[1.2.3.4]:80");
    BAD("invalid node", "-u", "http://h/f", "-n", "h/x");
    BAD("unexpected argument", "-u", "http://h/f", "extra");
    BAD("unexpected argument", "version", "now");
}

static void test_nodes(void **state)
{
    struct dfget_node *n = NULL;
    size_t cnt = 0;
    char err[DF_ERR_LEN];
    assert_int_equal(dfget_config_parse_nodes(" a , b:1=2,[::1]:8003=5,[fe80::1],::2, ,c.example.com:65535",
                                              &n, &cnt, err), 0);
    assert_int_equal(cnt, 6);
    assert_string_equal(n[0].host, "a");
    assert_int_equal(n[0].port, 8002);
    assert_string_equal(n[1].host, "b");
    assert_int_equal(n[1].port, 1);
    assert_int_equal(n[1].weight, 2);
    assert_string_equal(n[2].host, "::1");
    assert_int_equal(n[2].port, 8003);
    assert_int_equal(n[2].weight, 5);
    assert_string_equal(n[3].host, "fe80::1");
    assert_int_equal(n[3].port, 8002);
    assert_string_equal(n[4].host, "::2"); /* bare IPv6 = default port */
    assert_int_equal(n[4].port, 8002);
    assert_string_equal(n[5].host, "c.example.com");
    assert_int_equal(n[5].port, 65535);
    char buf[64];
    assert_string_equal(dfget_config_hostport(n[2].host, n[2].port, buf, sizeof(buf)), "[::1]:8003");
    assert_string_equal(dfget_config_hostport(n[1].host, n[1].port, buf, sizeof(buf)), "b:1");
    dfget_config_free_nodes(n, cnt);
    assert_int_equal(dfget_config_parse_nodes("", &n, &cnt, err), 0);
    assert_int_equal(cnt, 0);
    dfget_config_free_nodes(n, cnt);
}

static char *write_tmp(const char *content)
{
    char *path = strdup("/tmp/test_dfget_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static void test_conf_file(void **state)
{
    struct dfget_config c;
    char err[DF_ERR_LEN];
    char *path = write_tmp("; comment\n[other]\naddress=ignored:1\n[node]\naddress = sn1:8100=2, [::1]:8101\n");
    setenv(DFGET_CONF_ENV, path, 1);
    assert_int_equal(dfget_config_load(&c, ARGC("-u", "http://h/f"), ARGV("-u", "http://h/f"), err), 0);
    assert_string_equal(c.conf_path, path);
    assert_int_equal(c.nnodes, 2);
    assert_string_equal(c.nodes[0].host, "sn1");
    assert_int_equal(c.nodes[0].port, 8100);
    assert_int_equal(c.nodes[0].weight, 2);
    assert_string_equal(c.nodes[1].host, "::1");
    assert_int_equal(c.nodes[1].port, 8101);
    dfget_config_cleanup(&c);

    /* The CLI overrides the file. */
    assert_int_equal(dfget_config_load(&c, ARGC("-u", "http://h/f", "-n", "x:1"),
                                       ARGV("-u", "http://h/f", "-n", "x:1"), err), 0);
    assert_int_equal(c.nnodes, 1);
    assert_string_equal(c.nodes[0].host, "x");
    dfget_config_cleanup(&c);
    unlink(path);
    free(path);

    /* An empty address in the file means "no supernode" (back-source reason 8), not the default. */
    path = write_tmp("[node]\naddress=\n");
    setenv(DFGET_CONF_ENV, path, 1);
    assert_int_equal(dfget_config_load(&c, ARGC("-u", "http://h/f"), ARGV("-u", "http://h/f"), err), 0);
    assert_int_equal(c.nnodes, 0);
    dfget_config_cleanup(&c);
    unlink(path);
    free(path);

    /* Bad node value and INI syntax errors: one line naming the file. */
    path = write_tmp("[node]\naddress=a:notaport\n");
    setenv(DFGET_CONF_ENV, path, 1);
    assert_int_equal(dfget_config_load(&c, ARGC("-u", "http://h/f"), ARGV("-u", "http://h/f"), err), -22);
    assert_non_null(strstr(err, "invalid node"));
    dfget_config_cleanup(&c);
    unlink(path);
    free(path);
    path = write_tmp("[node\naddress=a\n");
    setenv(DFGET_CONF_ENV, path, 1);
    assert_int_equal(dfget_config_load(&c, ARGC("-u", "http://h/f"), ARGV("-u", "http://h/f"), err), -22);
    assert_non_null(strstr(err, "line 1"));
    dfget_config_cleanup(&c);
    unlink(path);
    free(path);

    dfget_config_init(&c);
    assert_int_equal(dfget_config_load_file(&c, "/nonexistent/x.conf", err), -2);
    dfget_config_cleanup(&c);
    unsetenv(DFGET_CONF_ENV);
}

static void test_reparse(void **state)
{
    /* getopt state is reset between calls: the same flags parse the same way twice. */
    for (int i = 0; i < 2; i++) {
        struct dfget_config c;
        char err[DF_ERR_LEN];
        dfget_config_init(&c);
        assert_int_equal(PARSE(&c, err, "-u", "http://h/f", "-b", "--header", "K: v"), 0);
        assert_true(c.is_showbar);
        assert_int_equal(c.nheaders, 1);
        dfget_config_cleanup(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),  cmocka_unit_test(test_every_flag),
        cmocka_unit_test(test_version_help), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_nodes),     cmocka_unit_test(test_conf_file),
        cmocka_unit_test(test_reparse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
