/* SPDX-License-Identifier: Apache-2.0 */
/* sn_yaml: Dragonfly 1.x supernode.yml → flags (values, nanosecond durations, booleans, keys
 * with no effect, line-numbered errors) and sn_config_load (file under the command line,
 * properties between, the default file optional, an explicit one required). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "df_util.h"
#include "sn_config.h"
#include "sn_yaml.h"

static int conv(const char *text, char ***args, size_t *n, char **warn, char *err)
{
    return sn_yaml_args("s.yml", text, strlen(text), args, n, warn, err);
}

/* The shape `supernode config default` of Go 1.0.6 prints. */
static const char *k_full =
    "base:\n"
    "  cdnPattern: local\n"
    "  listenPort: 8102\n"
    "  downloadPort: 8101\n"
    "  homeDir: /data/supernode\n"
    "  schedulerCorePoolSize: 10\n"
    "  peerUpLimit: 5\n"
    "  peerDownLimit: 4\n"
    "  eliminationLimit: 5\n"
    "  failureCountLimit: 5\n"
    "  linkLimit: 20MB\n"
    "  systemReservedBandwidth: 20MB\n"
    "  maxBandwidth: 200MB\n"
    "  enableProfiler: false\n"
    "  debug: true\n"
    "  advertiseIP: 192.0.2.9\n"
    "  failAccessInterval: 3m0s\n"
    "  gcInitialDelay: 6s\n"
    "  gcMetaInterval: 120000000000\n"
    "  taskExpireTime: 3m0s\n"
    "  peerGCDelay: 3m0s\n"
    "  gcDiskInterval: 15s\n"
    "  youngGCThreshold: 100GB\n"
    "  fullGCThreshold: 5GB\n"
    "  IntervalThreshold: 2h0m0s\n"
    "  logConfig: {path: /var/log/sn.log, maxSize: 40}\n"
    "plugins: {}\n"
    "storages: {}\n";

static void test_full(void **state)
{
    (void)state;
    char **a;
    size_t n;
    char *warn;
    char err[DF_ERR_LEN] = "";
    assert_int_equal(conv(k_full, &a, &n, &warn, err), 0);
    const char *want[] = {"--cdn-pattern=local", "--port=8102", "--download-port=8101",
                          "--home-dir=/data/supernode", "--pool-size=10", "--up-limit=5",
                          "--down-limit=4", "--system-bandwidth=20MB", "--max-bandwidth=200MB",
                          "--debug", "--advertise-ip=192.0.2.9", "--fail-access-interval=3m0s",
                          "--gc-initial-delay=6s", "--gc-meta-interval=120000ms",
                          "--task-expire-time=3m0s", "--peer-gc-delay=3m0s",
                          "--gc-disk-interval=15s", "--young-gc-threshold=100GB",
                          "--full-gc-threshold=5GB"};
    assert_int_equal(n, DF_ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++)
        assert_string_equal(a[i], want[i]);
    assert_non_null(warn);
    assert_non_null(strstr(warn, "s.yml:9: base.eliminationLimit has no effect"));
    assert_non_null(strstr(warn, "base.logConfig has no effect"));
    sn_yaml_args_free(a, n);
    free(warn);

    /* and sn_config takes every one of them */
    struct sn_config c;
    sn_config_init(&c);
    assert_int_equal(conv(k_full, &a, &n, &warn, err), 0);
    c.preset = a;
    c.npreset = n;
    char *argv[] = {"supernode", NULL};
    assert_int_equal(sn_config_parse(&c, 1, argv, err), SN_CONFIG_RUN);
    assert_int_equal(c.port, 8102);
    assert_int_equal(c.download_port, 8101);
    assert_string_equal(c.home_dir, "/data/supernode");
    assert_string_equal(c.advertise_ip, "192.0.2.9");
    assert_int_equal(c.gc_meta_interval_ms, 120000);
    assert_int_equal(c.task_expire_ms, 180000);
    assert_true(c.is_debug);
    c.preset = NULL;
    c.npreset = 0;
    sn_yaml_args_free(a, n);
    free(warn);
    sn_config_cleanup(&c);
}

static void test_empty_and_errors(void **state)
{
    (void)state;
    char **a;
    size_t n;
    char *warn;
    char err[DF_ERR_LEN] = "";
    assert_int_equal(conv("", &a, &n, &warn, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(conv("# only a comment\n", &a, &n, &warn, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(conv("base:\n", &a, &n, &warn, err), 0);
    assert_int_equal(n, 0);
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"base:\n  listenPort: 8002\n  lisenPort: 1\n", "s.yml:3: unknown key base.lisenPort"},
        {"bsae:\n  listenPort: 8002\n", "s.yml:1: unknown section 'bsae'"},
        {"base: [1, 2]\n", "s.yml:1: base: expected a mapping"},
        {"- a\n- b\n", "s.yml:1: expected a mapping"},
        {"base:\n  debug: maybe\n", "s.yml:2: base.debug: expected true or false"},
        {"base:\n  listenPort: [1]\n", "s.yml:2: base.listenPort: expected a value"},
        {"base:\n  listenPort: 1\n   bad indent: x\n", "s.yml:3:"},
        {"base:\n  gcMetaInterval: 99999999999999999999999\n", "s.yml:2: base.gcMetaInterval: duration"},
    };
    for (size_t i = 0; i < DF_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        assert_int_equal(conv(bad[i].text, &a, &n, &warn, err), -EINVAL);
        if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("case %zu: got '%s', want prefix '%s'", i, err, bad[i].msg);
        assert_null(a);
        assert_null(warn);
    }
    /* plugins/storages with content: accepted, noted */
    assert_int_equal(conv("plugins:\n  storage: [{name: local}]\n", &a, &n, &warn, err), 0);
    assert_non_null(strstr(warn, "'plugins' ignored"));
    free(warn);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_precedence(void **state)
{
    (void)state;
    char dir[] = "/tmp/sn-yaml-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], err[DF_ERR_LEN] = "";
    snprintf(path, sizeof(path), "%s/supernode.yml", dir);
    write_file(path, "base:\n  listenPort: 8102\n  downloadPort: 8101\n  peerUpLimit: 7\n"
                     "  advertiseIP: 192.0.2.1\n  linkLimit: 1MB\n");
    struct sn_config c;
    sn_config_init(&c);
    /* file < property < flag */
    char *argv[] = {"supernode", "--config", path, "-Dsupernode.downloadPort=9101", "--up-limit",
                    "2", "-Dsupernode.advertiseIp=192.0.2.2", NULL};
    assert_int_equal(sn_config_load(&c, 7, argv, err), SN_CONFIG_RUN);
    assert_int_equal(c.port, 8102);           /* file */
    assert_int_equal(c.download_port, 9101);  /* property over file */
    assert_int_equal(c.up_limit, 2);          /* flag over file */
    assert_string_equal(c.advertise_ip, "192.0.2.2");
    assert_int_equal(c.config_settings, 4);
    assert_non_null(strstr(c.warnings, "linkLimit has no effect"));
    sn_config_cleanup(&c);

    /* a bad value in the file names the file */
    write_file(path, "base:\n  listenPort: eighty\n");
    sn_config_init(&c);
    char *argv2[] = {"supernode", "--config", path, NULL};
    assert_true(sn_config_load(&c, 3, argv2, err) < 0);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "invalid --port value 'eighty'"));
    sn_config_cleanup(&c);

    /* an explicit file that is missing is an error */
    unlink(path);
    sn_config_init(&c);
    assert_true(sn_config_load(&c, 3, argv2, err) < 0);
    assert_non_null(strstr(err, "cannot read config file"));
    sn_config_cleanup(&c);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_empty_and_errors),
        cmocka_unit_test(test_load_precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
