/* SPDX-License-Identifier: Apache-2.0 */
/* sn_config: Dragonfly 1.0 defaults, rate and duration strings, bad values, sub-commands,
 * --piece-size and --pull-hold. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "df_netpolicy.h"
#include "df_proto.h"
#include "sn_config.h"
#include "sn_sched.h"

static int parse(struct sn_config *c, char *err, int argc, char **argv)
{
    sn_config_init(c);
    return sn_config_parse(c, argc, argv, err);
}

static void test_defaults(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    char *argv[] = {"supernode", NULL};
    assert_int_equal(parse(&c, err, 1, argv), SN_CONFIG_RUN);
    assert_int_equal(c.port, 8002);
    assert_int_equal(c.download_port, 8001);
    assert_string_equal(c.home_dir, "/home/admin/supernode");
    assert_string_equal(c.bind_addr, "::");
    assert_int_equal(c.max_bandwidth_bps, 200ull << 20);
    assert_int_equal(c.system_bandwidth_bps, 20ull << 20);
    assert_int_equal(sn_config_origin_bps(&c), 180ull << 20);
    assert_int_equal(c.up_limit, SN_SCHED_DEF_UP_LIMIT);
    assert_int_equal(c.down_limit, SN_SCHED_DEF_DOWN_LIMIT);
    assert_int_equal(c.cdn_up_limit, SN_SCHED_DEF_CDN_UP_LIMIT);
    assert_int_equal(SN_SCHED_DEF_CDN_UP_LIMIT, SN_SCHED_DEF_DOWN_LIMIT);
    assert_int_equal(c.fail_access_interval_ms, 180000);
    assert_int_equal(c.gc_initial_delay_ms, 6000);
    assert_int_equal(c.gc_meta_interval_ms, 120000);
    assert_int_equal(c.task_expire_ms, 180000);
    assert_int_equal(c.peer_gc_delay_ms, 180000);
    assert_string_equal(c.advertise_ip, "");
    assert_int_equal(c.pull_hold_ms, 1000);
    assert_int_equal(SN_CONFIG_DEF_PULL_HOLD_MS, 1000);
    assert_int_equal(c.piece_size, 0); /* auto */
    sn_config_cleanup(&c);
}

/* --cdn-up-limit follows --down-limit unless it is given itself. */
static void test_cdn_up_follows_down(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    char *a1[] = {"supernode", "--down-limit", "3", NULL};
    assert_int_equal(parse(&c, err, 3, a1), SN_CONFIG_RUN);
    assert_int_equal(c.down_limit, 3);
    assert_int_equal(c.cdn_up_limit, 3);
    sn_config_cleanup(&c);
    char *a2[] = {"supernode", "--cdn-up-limit", "9", "--down-limit", "3", NULL};
    assert_int_equal(parse(&c, err, 5, a2), SN_CONFIG_RUN);
    assert_int_equal(c.cdn_up_limit, 9);
    sn_config_cleanup(&c);
    char *a3[] = {"supernode", "--cdn-up-limit", "0", NULL};
    assert_int_equal(parse(&c, err, 3, a3), -EINVAL);
    sn_config_cleanup(&c);
}

static void test_values(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    char *argv[] = {"supernode", "--port", "20002", "--download-port=20001", "--home-dir", "/tmp/x",
                    "--advertise-ip", "[::1]", "--max-bandwidth", "1G", "--system-bandwidth",
                    "0", "--up-limit", "7", "--down-limit", "3", "--cdn-up-limit", "6", "--fail-access-interval", "90s",
                    "--gc-initial-delay", "500ms", "--gc-meta-interval", "1m30s",
                    "--task-expire-time", "2h", "--peer-gc-delay", "10", "-D", "--console",
                    "--bind", "127.0.0.1", "--config", "/nonexistent.yml", NULL};
    assert_int_equal(parse(&c, err, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv), SN_CONFIG_RUN);
    assert_int_equal(c.port, 20002);
    assert_int_equal(c.download_port, 20001);
    assert_string_equal(c.home_dir, "/tmp/x");
    assert_string_equal(c.advertise_ip, "::1");
    assert_int_equal(c.max_bandwidth_bps, 1ull << 30);
    assert_int_equal(sn_config_origin_bps(&c), 1ull << 30);
    assert_int_equal(c.up_limit, 7);
    assert_int_equal(c.down_limit, 3);
    assert_int_equal(c.cdn_up_limit, 6);
    assert_int_equal(c.fail_access_interval_ms, 90000);
    assert_int_equal(c.gc_initial_delay_ms, 500);
    assert_int_equal(c.gc_meta_interval_ms, 90000);
    assert_int_equal(c.task_expire_ms, 7200000);
    assert_int_equal(c.peer_gc_delay_ms, 10000);
    assert_int_equal(c.is_debug, 1);
    assert_int_equal(c.is_console, 1);
    assert_string_equal(c.bind_addr, "127.0.0.1");
    assert_string_equal(c.config_path, "/nonexistent.yml");
    sn_config_cleanup(&c);
}

static void test_errors_and_subcommands(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    static const struct { const char *flag, *val, *needle; } bad[] = {
        {"--port", "0", "invalid --port value '0'"},
        {"--port", "65536", "invalid --port"},
        {"--port", "12x", "invalid --port"},
        {"--max-bandwidth", "lots", "invalid --max-bandwidth"},
        {"--fail-access-interval", "3 minutes", "invalid --fail-access-interval"},
        {"--advertise-ip", "host.example", "invalid --advertise-ip"},
        {"--down-limit", "0", "invalid --down-limit"},
        {"--gc-meta-interval", "0s", "invalid --gc-meta-interval"},
        {"--cdn-pattern", "source", "invalid --cdn-pattern"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"supernode", (char *)bad[i].flag, (char *)bad[i].val, NULL};
        err[0] = '\0';
        assert_int_equal(parse(&c, err, 3, argv), -EINVAL);
        if (!strstr(err, bad[i].needle))
            fail_msg("%s %s: '%s'", bad[i].flag, bad[i].val, err);
        sn_config_cleanup(&c);
    }
    char *unknown[] = {"supernode", "--bogus", NULL};
    assert_int_equal(parse(&c, err, 2, unknown), -EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    sn_config_cleanup(&c);
    char *noval[] = {"supernode", "--port", NULL};
    assert_int_equal(parse(&c, err, 2, noval), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    sn_config_cleanup(&c);
    char *extra[] = {"supernode", "start", NULL};
    assert_int_equal(parse(&c, err, 2, extra), -EINVAL);
    sn_config_cleanup(&c);
    char *ver[] = {"supernode", "version", NULL};
    assert_int_equal(parse(&c, err, 2, ver), SN_CONFIG_VERSION);
    sn_config_cleanup(&c);
    char *help[] = {"supernode", "-h", NULL};
    assert_int_equal(parse(&c, err, 2, help), SN_CONFIG_HELP);
    sn_config_cleanup(&c);
    char ip[SN_IP_MAX];
    sn_config_detect_ip(ip);
    assert_true(strlen(ip) >= 7);
}

/* parse_one FLAG VALUE: sn_config_parse of "supernode FLAG VALUE" into c (c is cleaned up by
 * the caller). */
static int parse_one(struct sn_config *c, char *err, const char *flag, const char *val)
{
    char *argv[] = {"supernode", (char *)flag, (char *)val, NULL};
    err[0] = '\0';
    return parse(c, err, 3, argv);
}

/* Explicit sizes are whole MiB: the frame header is payload_len | piece_size << 4 and readers
 * take the payload length from its low 24 bits, so a size that is not a multiple of 1 MiB (64K,
 * 512K, 1.5M) corrupts every header. */
static void test_piece_size(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    static const struct { const char *val; uint32_t want; } good[] = {
        {"auto", 0},
        {"dragonfly", SN_CONFIG_PIECE_DRAGONFLY},
        {"1M", 1u << 20},
        {"1048576", 1u << 20},
        {"2M", 2u << 20},
        {"2MB", 2u << 20},
        {"2.0M", 2u << 20},
        {"15M", 15u << 20},
        {"16M", 16u << 20},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (parse_one(&c, err, "--piece-size", good[i].val) != SN_CONFIG_RUN)
            fail_msg("--piece-size %s refused: %s", good[i].val, err);
        if (c.piece_size != good[i].want)
            fail_msg("--piece-size %s: %u, want %u", good[i].val, c.piece_size, good[i].want);
        if (good[i].want && good[i].want != SN_CONFIG_PIECE_DRAGONFLY) {
            /* a full piece and a 1-byte piece frame and parse back */
            unsigned char hdr[4];
            uint32_t full = good[i].want - DF_PIECE_WRAP;
            df_proto_frame_header(full, good[i].want, hdr);
            assert_int_equal(df_proto_frame_payload_len(hdr), full);
            df_proto_frame_header(1, good[i].want, hdr);
            assert_int_equal(df_proto_frame_payload_len(hdr), 1);
        }
        sn_config_cleanup(&c);
    }
    /* --piece-size=VALUE form, and the last one wins */
    char *argv[] = {"supernode", "--piece-size=4M", "--piece-size", "auto", NULL};
    assert_int_equal(parse(&c, err, 4, argv), SN_CONFIG_RUN);
    assert_int_equal(c.piece_size, 0);
    sn_config_cleanup(&c);
    static const char *const bad[] = {"1K", "64K", "65536", "512K", "1048575", "1048577",
                                      "1.5M", "17M", "64M", "65M", "64.1M", "1G", "0", "", "garbage", "AUTO",
                                      "auto ", "-1M", "4Q", "0x100000", "1e6"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_one(&c, err, "--piece-size", bad[i]) != -EINVAL)
            fail_msg("--piece-size '%s' accepted (%u)", bad[i], c.piece_size);
        char want[64];
        snprintf(want, sizeof(want), "invalid --piece-size value '%s'", bad[i]);
        if (!strstr(err, want))
            fail_msg("--piece-size '%s': '%s'", bad[i], err);
        sn_config_cleanup(&c);
    }
}

static void test_piece_size_setting(void **state)
{
    (void)state;
    const int64_t GIB = INT64_C(1) << 30, MIB = INT64_C(1) << 20;
    const int64_t lens[] = {-1, 0, 1, 9 * MIB, 200 * MIB + 1, 300 * MIB, GIB, 2 * GIB,
                            15 * GIB, 100 * GIB, INT64_MAX};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        int64_t l = lens[i];
        assert_int_equal(sn_config_piece_size(0, l), df_proto_piece_size_auto(l));
        assert_int_equal(sn_config_piece_size(SN_CONFIG_PIECE_DRAGONFLY, l),
                         df_proto_piece_size(l));
        assert_int_equal(sn_config_piece_size(2u << 20, l), 2u << 20);
        assert_int_equal(sn_config_piece_size(DF_PIECE_SIZE_FLOOR, l), DF_PIECE_SIZE_FLOOR);
        assert_int_equal(sn_config_piece_size(DF_PIECE_SIZE_CEIL, l), DF_PIECE_SIZE_CEIL);
    }
    /* the values the e2e test relies on (9 MiB file) and the rules' distinct points */
    assert_int_equal(sn_config_piece_size(0, 9 * MIB), 1 * MIB);
    assert_int_equal(sn_config_piece_size(SN_CONFIG_PIECE_DRAGONFLY, 9 * MIB), 4 * MIB);
    assert_int_equal(sn_config_piece_size(0, -1), 4 * MIB);
    assert_int_equal(sn_config_piece_size(SN_CONFIG_PIECE_DRAGONFLY, -1), 4 * MIB);
    assert_int_equal(sn_config_piece_size(0, 2 * GIB), 2 * MIB);
    assert_int_equal(sn_config_piece_size(SN_CONFIG_PIECE_DRAGONFLY, 2 * GIB), 15 * MIB);
    assert_int_equal(sn_config_piece_size(0, 300 * MIB), 1 * MIB);
    assert_int_equal(sn_config_piece_size(SN_CONFIG_PIECE_DRAGONFLY, 300 * MIB), 5 * MIB);
    /* a parsed setting goes through unchanged */
    struct sn_config c;
    char err[DF_ERR_LEN];
    assert_int_equal(parse_one(&c, err, "--piece-size", "dragonfly"), SN_CONFIG_RUN);
    assert_int_equal(sn_config_piece_size(c.piece_size, 9 * MIB), 4 * MIB);
    sn_config_cleanup(&c);
    assert_int_equal(parse_one(&c, err, "--piece-size", "auto"), SN_CONFIG_RUN);
    assert_int_equal(sn_config_piece_size(c.piece_size, 9 * MIB), 1 * MIB);
    sn_config_cleanup(&c);
    assert_int_equal(parse_one(&c, err, "--piece-size", "3M"), SN_CONFIG_RUN);
    assert_int_equal(sn_config_piece_size(c.piece_size, 9 * MIB), 3 * MIB);
    assert_int_equal(sn_config_piece_size(c.piece_size, -1), 3 * MIB);
    sn_config_cleanup(&c);
}

static void test_pull_hold(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    static const struct { const char *val; int64_t want_ms; } good[] = {
        {"0", 0}, {"0s", 0}, {"0ms", 0}, {"1s", 1000}, {"1", 1000}, {"250ms", 250},
        {"1.5s", 1500}, {"4s", 4000}, {"4000ms", 4000}, {"4", 4000},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (parse_one(&c, err, "--pull-hold", good[i].val) != SN_CONFIG_RUN)
            fail_msg("--pull-hold %s refused: %s", good[i].val, err);
        if (c.pull_hold_ms != good[i].want_ms)
            fail_msg("--pull-hold %s: %lld ms, want %lld", good[i].val, (long long)c.pull_hold_ms,
                     (long long)good[i].want_ms);
        sn_config_cleanup(&c);
    }
    static const char *const bad[] = {"5s", "5", "4001ms", "4.5s", "1m", "1h", "-1s", "",
                                      "garbage", "1 s", "1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_one(&c, err, "--pull-hold", bad[i]) != -EINVAL)
            fail_msg("--pull-hold '%s' accepted (%lld ms)", bad[i], (long long)c.pull_hold_ms);
        char want[64];
        snprintf(want, sizeof(want), "invalid --pull-hold value '%s'", bad[i]);
        if (!strstr(err, want))
            fail_msg("--pull-hold '%s': '%s'", bad[i], err);
        sn_config_cleanup(&c);
    }
}

static void test_usage_lists_new_flags(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sn_config_usage(f);
    fclose(f);
    assert_non_null(strstr(buf, "--piece-size"));
    assert_non_null(strstr(buf, "(default \"auto\")"));
    assert_non_null(strstr(buf, "--pull-hold"));
    assert_non_null(strstr(buf, "(default 1s)"));
    assert_non_null(strstr(buf, "--origin-allow"));
    assert_non_null(strstr(buf, "--origin-deny"));
    assert_non_null(strstr(buf, "127.0.0.0/8,::1/128,10.0.0.0/8"));
    free(buf);
}

/* Issue 11: disk management flags (sizes, percentages, durations), defaults and errors. */
static void test_disk_gc_flags(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    char *a0[] = {"supernode"};
    assert_int_equal(parse(&c, err, 1, a0), SN_CONFIG_RUN);
    assert_int_equal(c.cache_quota_bytes, 0);
    assert_int_equal(c.young_gc_threshold.pct, 10);
    assert_int_equal(c.full_gc_threshold.pct, 2);
    assert_int_equal(c.gc_disk_interval_ms, 15000);
    sn_config_cleanup(&c);
    char *a1[] = {"supernode", "--cache-quota", "30M", "--young-gc-threshold", "5G",
                  "--full-gc-threshold", "25%", "--gc-disk-interval", "0"};
    assert_int_equal(parse(&c, err, 9, a1), SN_CONFIG_RUN);
    assert_int_equal(c.cache_quota_bytes, 30ull << 20);
    assert_int_equal(c.young_gc_threshold.pct, -1);
    assert_int_equal(c.young_gc_threshold.bytes, 5ull << 30);
    assert_int_equal(c.full_gc_threshold.pct, 25);
    assert_int_equal(c.gc_disk_interval_ms, 0);
    sn_config_cleanup(&c);
    static const char *const bad[][2] = {
        {"--cache-quota", "-1"}, {"--cache-quota", "lots"}, {"--young-gc-threshold", "101%"},
        {"--young-gc-threshold", "%"}, {"--full-gc-threshold", "-5%"},
        {"--full-gc-threshold", "1.5%"}, {"--gc-disk-interval", "soon"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *av[] = {"supernode", (char *)bad[i][0], (char *)bad[i][1]};
        if (parse(&c, err, 3, av) != -EINVAL)
            fail_msg("%s '%s' accepted", bad[i][0], bad[i][1]);
        assert_non_null(strstr(err, bad[i][0]));
        sn_config_cleanup(&c);
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sn_config_usage(f);
    fclose(f);
    assert_non_null(strstr(buf, "--cache-quota size"));
    assert_non_null(strstr(buf, "--young-gc-threshold size|N%"));
    assert_non_null(strstr(buf, "(default 10%)"));
    assert_non_null(strstr(buf, "--full-gc-threshold"));
    assert_non_null(strstr(buf, "--gc-disk-interval"));
    free(buf);
}

/* policy_says(c, "1.2.3.4", port) → 0 allowed / -EACCES */
static int policy_says(const struct sn_config *c, const char *ip, uint16_t port)
{
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (strchr(ip, ':')) {
        assert_int_equal(inet_pton(AF_INET6, ip, &s6.sin6_addr), 1);
        return df_netpolicy_check(c->origin_policy, NULL, (struct sockaddr *)&s6, sizeof(s6),
                                  NULL, 0);
    }
    assert_int_equal(inet_pton(AF_INET, ip, &s4.sin_addr), 1);
    return df_netpolicy_check(c->origin_policy, NULL, (struct sockaddr *)&s4, sizeof(s4), NULL, 0);
}

/* Issue 10: --origin-allow / --origin-deny (repeatable, comma lists), the own ports known
 * whatever the flag order, the --bind address as an own address, clear errors. */
static void test_origin_policy(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN];
    char *none[] = {"supernode", NULL};
    assert_int_equal(parse(&c, err, 1, none), SN_CONFIG_RUN);
    assert_non_null(c.origin_policy);
    assert_int_equal(df_netpolicy_has_allow(c.origin_policy), 0);
    assert_int_equal(policy_says(&c, "127.0.0.1", 8080), 0); /* loopback origins by default */
    assert_int_equal(policy_says(&c, "127.0.0.1", 8002), -EACCES); /* our API port */
    assert_int_equal(policy_says(&c, "::1", 8001), -EACCES);       /* our download port */
    assert_int_equal(policy_says(&c, "169.254.169.254", 80), -EACCES);
    sn_config_cleanup(&c);

    char *a[] = {"supernode", "--origin-deny", "127.0.0.2/32,fd00::/8", "--origin-allow",
                 "127.0.0.0/8", "--origin-allow=*.example.com", "--port", "9002",
                 "--download-port", "9001", "--bind", "192.0.2.10", NULL};
    assert_int_equal(parse(&c, err, (int)(sizeof(a) / sizeof(a[0])) - 1, a), SN_CONFIG_RUN);
    assert_int_equal(df_netpolicy_has_allow(c.origin_policy), 1);
    assert_int_equal(policy_says(&c, "127.0.0.1", 8002), 0); /* not our port any more */
    assert_int_equal(policy_says(&c, "127.0.0.1", 9002), -EACCES);
    assert_int_equal(policy_says(&c, "127.0.0.1", 9001), -EACCES);
    assert_int_equal(policy_says(&c, "192.0.2.10", 9001), -EACCES); /* the --bind address */
    assert_int_equal(policy_says(&c, "127.0.0.2", 80), -EACCES);    /* deny beats allow */
    assert_int_equal(policy_says(&c, "10.0.0.1", 80), -EACCES);     /* not allow-listed */
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(443)};
    assert_int_equal(inet_pton(AF_INET, "10.0.0.1", &s4.sin_addr), 1);
    assert_int_equal(df_netpolicy_check(c.origin_policy, "cdn.example.com", (struct sockaddr *)&s4,
                                        sizeof(s4), NULL, 0), 0);
    sn_config_add_local_addrs(&c); /* never fails; loopback stays covered */
    assert_int_equal(policy_says(&c, "127.0.0.1", 9002), -EACCES);
    sn_config_cleanup(&c);

    assert_int_equal(parse_one(&c, err, "--origin-deny", "10.0.0.0/33"), -EINVAL);
    assert_string_equal(err, "invalid --origin-deny entry '10.0.0.0/33': prefix length must be 0-32");
    sn_config_cleanup(&c);
    assert_int_equal(parse_one(&c, err, "--origin-allow", "10.0.0.0/8,"), -EINVAL);
    assert_string_equal(err, "invalid --origin-allow value '10.0.0.0/8,': empty entry");
    sn_config_cleanup(&c);
    assert_int_equal(parse_one(&c, err, "--origin-allow", "a.*.b"), -EINVAL);
    assert_non_null(strstr(err, "invalid --origin-allow entry 'a.*.b'"));
    sn_config_cleanup(&c);
}

/* The seed's `docker run … supernode -Dsupernode.advertiseIp=…` (Java-era properties). */
static void test_properties(void **state)
{
    (void)state;
    struct sn_config c;
    char err[DF_ERR_LEN] = "";
    char *argv[] = {"supernode", "-Dsupernode.advertiseIp=192.0.2.103",
                    "-Dsupernode.totalLimit=100", "-Dsupernode.systemNeedRate=10",
                    "-Dsupernode.listenPort=9002", "-Dsupernode.downloadPort=9001",
                    "-Dsupernode.homeDir=/data/sn", "-D", "--up-limit", "3", NULL};
    assert_int_equal(parse(&c, err, 10, argv), SN_CONFIG_RUN);
    assert_string_equal(c.advertise_ip, "192.0.2.103");
    assert_int_equal(c.max_bandwidth_bps, 100ull << 20);
    assert_int_equal(c.system_bandwidth_bps, 10ull << 20);
    assert_int_equal(c.port, 9002);
    assert_int_equal(c.download_port, 9001);
    assert_string_equal(c.home_dir, "/data/sn");
    assert_true(c.is_debug); /* a bare -D is still --debug */
    assert_int_equal(c.up_limit, 3);
    assert_null(c.warnings);
    sn_config_cleanup(&c);

    /* a flag after a property wins; Java's baseHome is homeDir */
    char *argv2[] = {"supernode", "-Dsupernode.listenPort=9002", "--port", "9100",
                     "-Dsupernode.baseHome=/x", NULL};
    assert_int_equal(parse(&c, err, 5, argv2), SN_CONFIG_RUN);
    assert_int_equal(c.port, 9100);
    assert_string_equal(c.home_dir, "/x");
    sn_config_cleanup(&c);

    /* unknown and meaningless properties are warnings, not failures */
    char *argv3[] = {"supernode", "-Dsupernode.dfgetPath=/usr/local/bin/dfget",
                     "-Dsupernode.nosuch=1", "-Dother.key=2", NULL};
    assert_int_equal(parse(&c, err, 4, argv3), SN_CONFIG_RUN);
    assert_non_null(c.warnings);
    assert_non_null(strstr(c.warnings, "dfgetPath has no effect"));
    assert_non_null(strstr(c.warnings, "unknown property -Dsupernode.nosuch"));
    assert_non_null(strstr(c.warnings, "unknown property -Dother.key"));
    sn_config_cleanup(&c);

    /* a known property with a bad value is an error naming it */
    char *argv4[] = {"supernode", "-Dsupernode.totalLimit=fast", NULL};
    assert_true(parse(&c, err, 2, argv4) < 0);
    assert_string_equal(err, "invalid -Dsupernode.totalLimit value 'fast'");
    sn_config_cleanup(&c);
    char *argv5[] = {"supernode", "-Dsupernode.advertiseIp=", NULL};
    assert_true(parse(&c, err, 2, argv5) < 0);
    sn_config_cleanup(&c);

    /* an unknown short option is named itself, never argv[0] */
    char *argv6[] = {"/usr/local/bin/supernode", "-Dx", "-q", NULL};
    assert_true(parse(&c, err, 3, argv6) < 0);
    assert_string_equal(err, "unknown option -q (see --help)");
    sn_config_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_cdn_up_follows_down),
        cmocka_unit_test(test_errors_and_subcommands),
        cmocka_unit_test(test_piece_size),
        cmocka_unit_test(test_piece_size_setting),
        cmocka_unit_test(test_pull_hold),
        cmocka_unit_test(test_usage_lists_new_flags),
        cmocka_unit_test(test_origin_policy),
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_disk_gc_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
