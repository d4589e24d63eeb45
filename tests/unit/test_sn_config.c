/* sn_config: Dragonfly 1.0 defaults, rate and duration strings, bad values, sub-commands. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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
    assert_int_equal(c.fail_access_interval_ms, 180000);
    assert_int_equal(c.gc_initial_delay_ms, 6000);
    assert_int_equal(c.gc_meta_interval_ms, 120000);
    assert_int_equal(c.task_expire_ms, 180000);
    assert_int_equal(c.peer_gc_delay_ms, 180000);
    assert_string_equal(c.advertise_ip, "");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors_and_subcommands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
