/* SPDX-License-Identifier: Apache-2.0 */
/* df_netpolicy: spec parsing and errors, IPv4/IPv6/mapped matching, the always-on rules
 * (link-local, unspecified, own ports), deny beats allow, allow-list semantics, host patterns. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "df_netpolicy.h"

static char g_why[DF_NETPOLICY_WHY_LEN];

/* check(p, host, "1.2.3.4" or "::1", port) → 0 / -EACCES, reason in g_why */
static int check(const struct df_netpolicy *p, const char *host, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    size_t len;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
        len = sizeof(*s4);
    }
    g_why[0] = '\0';
    int rc = df_netpolicy_check(p, host, (struct sockaddr *)&ss, len, g_why, sizeof(g_why));
    if (rc == 0)
        assert_string_equal(g_why, "");
    else
        assert_non_null(strstr(g_why, "denied"));
    return rc;
}

static struct df_netpolicy *make(const char *allow, const char *deny)
{
    char err[DF_ERR_LEN];
    struct df_netpolicy *p = df_netpolicy_new();
    if (allow)
        assert_int_equal(df_netpolicy_add(p, 1, allow, err), 0);
    if (deny)
        assert_int_equal(df_netpolicy_add(p, 0, deny, err), 0);
    return p;
}

static void test_default_allows_except_always_denied(void **state)
{
    (void)state;
    struct df_netpolicy *p = make(NULL, NULL);
    assert_int_equal(check(p, NULL, "127.0.0.1", 8080), 0);
    assert_int_equal(check(p, NULL, "::1", 8080), 0);
    assert_int_equal(check(p, "origin.example", "10.1.2.3", 80), 0);
    assert_int_equal(check(p, NULL, "2001:db8::1", 443), 0);
    assert_int_equal(check(p, NULL, "169.254.169.254", 80), -EACCES);
    assert_string_equal(g_why, "origin address 169.254.169.254:80 denied by the link-local rule "
                               "(169.254.0.0/16 and fe80::/10 are always denied)");
    assert_int_equal(check(p, NULL, "169.254.0.1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "169.255.0.1", 80), 0);
    assert_int_equal(check(p, NULL, "fe80::1", 80), -EACCES);
    assert_non_null(strstr(g_why, "[fe80::1]:80"));
    assert_int_equal(check(p, NULL, "febf::1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "fec0::1", 80), 0);
    assert_int_equal(check(p, NULL, "0.0.0.0", 80), -EACCES);
    assert_non_null(strstr(g_why, "unspecified"));
    assert_int_equal(check(p, NULL, "::", 80), -EACCES);
    /* mapped forms are matched as IPv4 */
    assert_int_equal(check(p, NULL, "::ffff:169.254.169.254", 80), -EACCES);
    assert_non_null(strstr(g_why, "link-local"));
    assert_int_equal(check(p, NULL, "::ffff:0.0.0.0", 80), -EACCES);
    /* the rules cannot be lifted by allow */
    df_netpolicy_free(p);
    p = make("0.0.0.0/0,::/0,169.254.169.254", NULL);
    assert_int_equal(check(p, NULL, "169.254.169.254", 80), -EACCES);
    assert_int_equal(check(p, NULL, "fe80::1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "8.8.8.8", 80), 0);
    df_netpolicy_free(p);
}

static void test_own_ports(void **state)
{
    (void)state;
    struct df_netpolicy *p = make("127.0.0.0/8,10.0.0.0/8", NULL);
    df_netpolicy_add_own_port(p, 8002);
    df_netpolicy_add_own_port(p, 8001);
    df_netpolicy_add_own_port(p, 0); /* ignored */
    assert_int_equal(df_netpolicy_add_own_addr_str(p, "10.0.0.5"), 0);
    assert_int_equal(df_netpolicy_add_own_addr_str(p, "2001:db8::5"), 0);
    assert_int_equal(df_netpolicy_add_own_addr_str(p, "nope"), -EINVAL);
    assert_int_equal(check(p, NULL, "127.0.0.1", 8002), -EACCES);
    assert_string_equal(g_why, "origin address 127.0.0.1:8002 denied by the own-port rule (port "
                               "8002 is a listening port of this server)");
    assert_int_equal(check(p, NULL, "127.3.2.1", 8001), -EACCES);
    assert_int_equal(check(p, NULL, "::1", 8002), -EACCES);
    assert_int_equal(check(p, NULL, "::ffff:127.0.0.1", 8002), -EACCES);
    assert_int_equal(check(p, NULL, "10.0.0.5", 8001), -EACCES);
    assert_int_equal(check(p, NULL, "::ffff:10.0.0.5", 8001), -EACCES);
    assert_int_equal(check(p, NULL, "0.0.0.0", 8002), -EACCES);
    /* same port on another host, other ports on our addresses: allowed (allow-listed) */
    assert_int_equal(check(p, NULL, "10.0.0.6", 8002), 0);
    assert_int_equal(check(p, NULL, "127.0.0.1", 8003), 0);
    assert_int_equal(check(p, NULL, "10.0.0.5", 80), 0);
    df_netpolicy_free(p);

    /* own addresses from sockaddrs */
    p = df_netpolicy_new();
    df_netpolicy_add_own_port(p, 8002);
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr), 1);
    df_netpolicy_add_own_addr(p, (struct sockaddr *)&s6);
    assert_int_equal(check(p, NULL, "2001:db8::7", 8002), -EACCES);
    assert_int_equal(check(p, NULL, "2001:db8::8", 8002), 0);
    df_netpolicy_free(p);
}

static void test_deny_list(void **state)
{
    (void)state;
    struct df_netpolicy *p =
        make(NULL, "127.0.0.0/8, ::1/128 ,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7");
    assert_int_equal(df_netpolicy_has_allow(p), 0);
    assert_int_equal(check(p, NULL, "127.0.0.1", 80), -EACCES);
    assert_string_equal(g_why, "origin address 127.0.0.1:80 denied by --origin-deny 127.0.0.0/8");
    assert_int_equal(check(p, NULL, "::1", 80), -EACCES);
    assert_string_equal(g_why, "origin address [::1]:80 denied by --origin-deny ::1/128");
    assert_int_equal(check(p, NULL, "::ffff:10.9.9.9", 80), -EACCES);
    assert_int_equal(check(p, NULL, "172.31.255.255", 80), -EACCES);
    assert_int_equal(check(p, NULL, "172.32.0.0", 80), 0);
    assert_int_equal(check(p, NULL, "fd12::1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "fe00::1", 80), 0);
    assert_int_equal(check(p, NULL, "192.169.0.1", 80), 0);
    assert_int_equal(check(p, NULL, "93.184.216.34", 80), 0);
    assert_int_equal(check(p, NULL, "2606:2800::1", 80), 0);
    df_netpolicy_free(p);

    /* single address, odd prefix lengths, host bits set */
    p = make(NULL, "127.0.0.2,10.1.2.3/7,2001:db8:ff00::/39");
    assert_int_equal(check(p, NULL, "127.0.0.2", 80), -EACCES);
    assert_int_equal(check(p, NULL, "127.0.0.1", 80), 0);
    assert_int_equal(check(p, NULL, "11.255.0.1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "12.0.0.1", 80), 0);
    assert_int_equal(check(p, NULL, "2001:db8:fe00::1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "2001:db9::1", 80), 0);
    df_netpolicy_free(p);
}

static void test_allow_list_and_deny_wins(void **state)
{
    (void)state;
    struct df_netpolicy *p = make("10.0.0.0/8,2001:db8::/32", "10.66.0.0/16");
    assert_int_equal(df_netpolicy_has_allow(p), 1);
    assert_int_equal(check(p, NULL, "10.1.1.1", 80), 0);
    assert_int_equal(check(p, NULL, "2001:db8::1", 80), 0);
    assert_int_equal(check(p, NULL, "::ffff:10.1.1.1", 80), 0);
    assert_int_equal(check(p, "x.example", "11.1.1.1", 80), -EACCES);
    assert_string_equal(g_why, "origin address 11.1.1.1:80 (host x.example) denied: it matches "
                               "no --origin-allow entry");
    assert_int_equal(check(p, NULL, "127.0.0.1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "10.66.1.1", 80), -EACCES);
    assert_string_equal(g_why, "origin address 10.66.1.1:80 denied by --origin-deny 10.66.0.0/16");
    df_netpolicy_free(p);

    /* ::/0 covers IPv4 too (one address space) */
    p = make(NULL, "::/0");
    assert_int_equal(check(p, NULL, "8.8.8.8", 80), -EACCES);
    df_netpolicy_free(p);
}

static void test_host_patterns(void **state)
{
    (void)state;
    struct df_netpolicy *p = make("*.example.com,registry.local", "bad.example.com");
    assert_int_equal(check(p, "a.example.com", "10.0.0.1", 443), 0);
    assert_int_equal(check(p, "A.B.Example.COM.", "10.0.0.1", 443), 0);
    assert_int_equal(check(p, "example.com", "10.0.0.1", 443), -EACCES); /* not below it */
    assert_int_equal(check(p, "evilexample.com", "10.0.0.1", 443), -EACCES);
    assert_int_equal(check(p, "registry.local", "10.0.0.1", 80), 0);
    assert_int_equal(check(p, "x.registry.local", "10.0.0.1", 80), -EACCES);
    assert_int_equal(check(p, "bad.example.com", "10.0.0.1", 80), -EACCES);
    assert_string_equal(g_why, "origin host bad.example.com (10.0.0.1:80) denied by "
                               "--origin-deny bad.example.com");
    /* unknown host or an IP literal host never matches a pattern */
    assert_int_equal(check(p, NULL, "10.0.0.1", 80), -EACCES);
    assert_int_equal(check(p, "10.0.0.1", "10.0.0.1", 80), -EACCES);
    assert_int_equal(check(p, "[::1]", "::1", 80), -EACCES);
    /* the always-on rules still apply to allowed names */
    assert_int_equal(check(p, "meta.example.com", "169.254.169.254", 80), -EACCES);
    df_netpolicy_free(p);

    p = make(NULL, "*.internal");
    assert_int_equal(check(p, "db.internal", "192.0.2.1", 80), -EACCES);
    assert_int_equal(check(p, "db.internal.example", "192.0.2.1", 80), 0);
    df_netpolicy_free(p);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        const char *msg;
    } bad[] = {
        {"10.0.0.0/33", "invalid --origin-deny entry '10.0.0.0/33': prefix length must be 0-32"},
        {"::/129", "invalid --origin-deny entry '::/129': prefix length must be 0-128"},
        {"10.0.0.0/", "invalid --origin-deny entry '10.0.0.0/': prefix length must be 0-32"},
        {"10.0.0.0/8x", "invalid --origin-deny entry '10.0.0.0/8x': prefix length must be 0-32"},
        {"10.0.0.256", "invalid --origin-deny entry '10.0.0.256': not a valid IPv4 address"},
        {"10.0.0.0/8,,", "invalid --origin-deny value '10.0.0.0/8,,': empty entry"},
        {"", "invalid --origin-deny value '': empty entry"},
        {"fe80::zz", "invalid --origin-deny entry 'fe80::zz': not a valid IP address or CIDR"},
        {"host/8", "invalid --origin-deny entry 'host/8': not a valid IP address or CIDR"},
        {"a.*.com", "invalid --origin-deny entry 'a.*.com': '*' is only allowed as a leading \"*.\""},
        {"*.", "invalid --origin-deny entry '*.': not a host name"},
        {"a..b", "invalid --origin-deny entry 'a..b': empty label in host name"},
        {"http://x", "invalid --origin-deny entry 'http://x': not a valid IP address or CIDR"},
        {"a b", "invalid --origin-deny entry 'a b': not a CIDR, an IP address or a host name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[DF_ERR_LEN] = "";
        struct df_netpolicy *p = df_netpolicy_new();
        assert_int_equal(df_netpolicy_add(p, 0, bad[i].spec, err), -EINVAL);
        assert_string_equal(err, bad[i].msg);
        df_netpolicy_free(p);
    }
    /* all or nothing: a bad entry after good ones adds none of them */
    char err[DF_ERR_LEN];
    struct df_netpolicy *p = df_netpolicy_new();
    assert_int_equal(df_netpolicy_add(p, 1, "10.0.0.0/8,bad/1", err), -EINVAL);
    assert_non_null(strstr(err, "--origin-allow"));
    assert_int_equal(df_netpolicy_has_allow(p), 0);
    assert_int_equal(check(p, NULL, "11.0.0.1", 80), 0);
    /* repeated adds accumulate; brackets accepted */
    assert_int_equal(df_netpolicy_add(p, 0, "[::1]/128", err), 0);
    assert_int_equal(df_netpolicy_add(p, 0, "[fd00::1]", err), 0);
    assert_int_equal(check(p, NULL, "::1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "fd00::1", 80), -EACCES);
    assert_int_equal(check(p, NULL, "fd00::2", 80), 0);
    df_netpolicy_free(p);
    df_netpolicy_free(NULL);
}

static void test_other_family(void **state)
{
    (void)state;
    struct df_netpolicy *p = df_netpolicy_new();
    struct sockaddr sa = {.sa_family = AF_UNIX};
    char why[DF_NETPOLICY_WHY_LEN];
    assert_int_equal(df_netpolicy_check(p, NULL, &sa, sizeof(sa), why, sizeof(why)), -EACCES);
    assert_int_equal(df_netpolicy_check(p, NULL, &sa, sizeof(sa), NULL, 0), -EACCES);
    df_netpolicy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_allows_except_always_denied),
        cmocka_unit_test(test_own_ports),
        cmocka_unit_test(test_deny_list),
        cmocka_unit_test(test_allow_list_and_deny_wins),
        cmocka_unit_test(test_host_patterns),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_other_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
