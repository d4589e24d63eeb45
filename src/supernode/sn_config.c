/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode flag parsing (Dragonfly 1.0 names and defaults, spec §8.1) and advertise-IP
 * detection. Validation errors come back as one line in err; main prints it and exits 1. */
#include "sn_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "df_netpolicy.h"
#include "df_proto.h"
#include "df_util.h"
#include "sn_limit.h"
#include "sn_yaml.h"
#include "sn_sched.h"

enum {
    OPT_ORIGIN_ALLOW = 900, OPT_ORIGIN_DENY,
    OPT_PORT = 1000, OPT_DOWNLOAD_PORT, OPT_HOME, OPT_ADVERTISE, OPT_MAX_BW, OPT_SYS_BW,
    OPT_UP, OPT_DOWN, OPT_FAIL_ACCESS, OPT_GC_INIT, OPT_GC_META, OPT_TASK_EXPIRE, OPT_PEER_GC,
    OPT_CONFIG, OPT_CONSOLE, OPT_BIND, OPT_VERSION, OPT_CDN_PATTERN, OPT_POOL, OPT_PROFILER,
    OPT_CDN_UP, OPT_PIECE_SIZE, OPT_PULL_HOLD, OPT_PEER_AUTH, OPT_PEER_KEY, OPT_TOKEN_TTL,
    OPT_AUTH_TTL, OPT_MAX_CONNS, OPT_HEADER_TIMEOUT,
    OPT_NEW_TASK_LIMIT, OPT_MAX_METADATA,
    OPT_CACHE_QUOTA, OPT_YOUNG_GC, OPT_FULL_GC, OPT_GC_DISK,
};

static const struct option k_opts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"download-port", required_argument, NULL, OPT_DOWNLOAD_PORT},
    {"home-dir", required_argument, NULL, OPT_HOME},
    {"advertise-ip", required_argument, NULL, OPT_ADVERTISE},
    {"max-bandwidth", required_argument, NULL, OPT_MAX_BW},
    {"system-bandwidth", required_argument, NULL, OPT_SYS_BW},
    {"up-limit", required_argument, NULL, OPT_UP},
    {"down-limit", required_argument, NULL, OPT_DOWN},
    {"cdn-up-limit", required_argument, NULL, OPT_CDN_UP},
    {"piece-size", required_argument, NULL, OPT_PIECE_SIZE},
    {"pull-hold", required_argument, NULL, OPT_PULL_HOLD},
    {"peer-auth", required_argument, NULL, OPT_PEER_AUTH},
    {"peer-key", required_argument, NULL, OPT_PEER_KEY},
    {"token-ttl", required_argument, NULL, OPT_TOKEN_TTL},
    {"auth-ttl", required_argument, NULL, OPT_AUTH_TTL},
    {"origin-allow", required_argument, NULL, OPT_ORIGIN_ALLOW},
    {"origin-deny", required_argument, NULL, OPT_ORIGIN_DENY},
    {"fail-access-interval", required_argument, NULL, OPT_FAIL_ACCESS},
    {"gc-initial-delay", required_argument, NULL, OPT_GC_INIT},
    {"gc-meta-interval", required_argument, NULL, OPT_GC_META},
    {"task-expire-time", required_argument, NULL, OPT_TASK_EXPIRE},
    {"peer-gc-delay", required_argument, NULL, OPT_PEER_GC},
    {"cache-quota", required_argument, NULL, OPT_CACHE_QUOTA},
    {"young-gc-threshold", required_argument, NULL, OPT_YOUNG_GC},
    {"full-gc-threshold", required_argument, NULL, OPT_FULL_GC},
    {"gc-disk-interval", required_argument, NULL, OPT_GC_DISK},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"cdn-pattern", required_argument, NULL, OPT_CDN_PATTERN},
    {"pool-size", required_argument, NULL, OPT_POOL},
    {"profiler", no_argument, NULL, OPT_PROFILER},
    {"console", no_argument, NULL, OPT_CONSOLE},
    {"debug", no_argument, NULL, 'D'},
    {"bind", required_argument, NULL, OPT_BIND},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"new-task-limit", required_argument, NULL, OPT_NEW_TASK_LIMIT},
    {"max-metadata", required_argument, NULL, OPT_MAX_METADATA},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void sn_config_init(struct sn_config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = 8002;
    c->download_port = 8001;
    c->home_dir = df_xstrdup("/home/admin/supernode");
    c->bind_addr = df_xstrdup("::");
    c->max_bandwidth_bps = 200ull << 20;
    c->system_bandwidth_bps = 20ull << 20;
    c->up_limit = SN_SCHED_DEF_UP_LIMIT;
    c->down_limit = SN_SCHED_DEF_DOWN_LIMIT;
    c->new_task_limit = SN_LIMIT_DEF_NEW_TASKS;
    c->max_metadata = SN_LIMIT_DEF_MAX_METADATA;
    c->cdn_up_limit = 0; /* = the down-limit, resolved after parsing */
    c->pull_hold_ms = SN_CONFIG_DEF_PULL_HOLD_MS;
    c->token_ttl_ms = 15 * 60 * 1000;
    c->auth_ttl_ms = 60 * 1000;
    c->fail_access_interval_ms = 3 * 60 * 1000;
    c->gc_initial_delay_ms = 6 * 1000;
    c->gc_meta_interval_ms = 2 * 60 * 1000;
    c->task_expire_ms = 3 * 60 * 1000;
    c->peer_gc_delay_ms = 3 * 60 * 1000;
    /* Dragonfly 1.x: youngGCThreshold 100GB, fullGCThreshold 5GB (YAML only). Absolute sizes
     * that large empty the cache of any smaller disk, so ours scale with the filesystem. */
    c->young_gc_threshold = (struct sn_gc_threshold){.bytes = 0, .pct = 10};
    c->full_gc_threshold = (struct sn_gc_threshold){.bytes = 0, .pct = 2};
    c->gc_disk_interval_ms = 15 * 1000;
    c->origin_policy = df_netpolicy_new();
}

void sn_config_cleanup(struct sn_config *c)
{
    free(c->home_dir);
    free(c->bind_addr);
    free(c->config_path);
    df_netpolicy_free(c->origin_policy);
    c->origin_policy = NULL;
    free(c->peer_key_path);
    free(c->warnings);
    c->home_dir = c->bind_addr = c->config_path = c->peer_key_path = c->warnings = NULL;
}

void sn_config_usage(FILE *f)
{
    fprintf(f,
            "Usage: supernode [flags]\n"
            "       supernode version\n"
            "\n"
            "Damselfly supernode: scheduler + passive CDN (Dragonfly 1.x compatible).\n"
            "\n"
            "Flags:\n"
            "      --port int                      control API port (default 8002)\n"
            "      --download-port int             port of the CDN download server (default 8001)\n"
            "      --home-dir string               working directory; cache in <home>/repo, logs in\n"
            "                                      <home>/logs (default \"/home/admin/supernode\")\n"
            "      --advertise-ip string           IP announced to peers (default: first\n"
            "                                      non-loopback IPv4 of the host, else 127.0.0.1)\n"
            "      --bind string                   listen address of both ports; \"::\" is dual-stack\n"
            "                                      and falls back to 0.0.0.0 (default \"::\")\n"
            "      --max-bandwidth rate            total network bandwidth (default 200MB)\n"
            "      --system-bandwidth rate         bandwidth reserved for the system; origin\n"
            "                                      downloads get max-system (default 20MB)\n"
            "      --up-limit int                  concurrent uploads per peer (default %d)\n"
            "      --down-limit int                concurrent piece downloads per client, at most\n"
            "                                      %d (default %d)\n"
            "      --cdn-up-limit int              concurrent piece uploads of the supernode per\n"
            "                                      task (default: the --down-limit, %d)\n"
            "      --piece-size size               piece size incl. the 5-byte wrapper, whole MiB\n"
            "                                      from 1M to 16M;\n"
            "                                      \"auto\": 1 MiB up to 1 GiB, then size/1024 up\n"
            "                                      to 15 MiB; \"dragonfly\": Dragonfly 1.0's rule\n"
            "                                      (4 MiB up to 200 MiB, then +1 MiB per 100 MiB)\n"
            "                                      (default \"auto\")\n"
            "      --pull-hold duration            how long /peer/task of a client with nothing to\n"
            "                                      do is held until a piece can be given, instead\n"
            "                                      of an immediate 602; 0 = never, at most 4s\n"
            "                                      (default 1s)\n"
            "      --peer-auth mode                \"private\": pieces of private tasks (registered\n"
            "                                      with credentials) need a piece token from this\n"
            "                                      supernode, public tasks stay open to Dragonfly\n"
            "                                      1.x clients; \"required\": every piece of every\n"
            "                                      task needs one (default \"private\")\n"
            "      --peer-key path                 Ed25519 private key (PEM, mode 0600) that signs\n"
            "                                      piece tokens; share it between the supernodes of\n"
            "                                      a cluster (default <home-dir>/peer-auth.key,\n"
            "                                      created when missing)\n"
            "      --token-ttl duration            lifetime of a piece token, renewed while the\n"
            "                                      client pulls (default 15m)\n"
            "      --auth-ttl duration             how long the origin's answer to a client's\n"
            "                                      credentials for a private task is reused\n"
            "                                      (default 1m)\n"
            "      --origin-allow list             origins the CDN may fetch from: comma-separated\n"
            "                                      CIDRs (10.0.0.0/8, fd00::/8), addresses and host\n"
            "                                      patterns (*.example.com, example.com); repeatable.\n"
            "                                      When given, every other origin is refused\n"
            "                                      (default: all, except the always-denied below)\n"
            "      --origin-deny list              origins the CDN never fetches from, same syntax;\n"
            "                                      wins over --origin-allow. Checked against the\n"
            "                                      address connected (after DNS, on every redirect)\n"
            "                                      and the URL's host. Always denied: link-local\n"
            "                                      (169.254.0.0/16, fe80::/10), 0.0.0.0/8 and ::,\n"
            "                                      and this supernode's own ports on loopback and\n"
            "                                      its own addresses. Internet-facing supernode:\n"
            "                                      --origin-deny 127.0.0.0/8,::1/128,10.0.0.0/8,\n"
            "                                      172.16.0.0/12,192.168.0.0/16,fc00::/7\n"
            "      --fail-access-interval duration how long an unreachable URL is refused (default 3m)\n"
            "      --gc-initial-delay duration     delay before the first GC (default 6s)\n"
            "      --gc-meta-interval duration     task and peer GC period (default 2m)\n"
            "      --task-expire-time duration     idle time after which a task leaves memory\n"
            "                                      (default 3m)\n"
            "      --peer-gc-delay duration        delay before a down peer is removed (default 3m)\n"
            "      --cache-quota size              disk space the CDN cache may use; above it the\n"
            "                                      least recently used idle tasks are evicted;\n"
            "                                      0 = no quota (default 0)\n"
            "      --young-gc-threshold size|N%%    keep this much of the cache filesystem free:\n"
            "                                      below it, idle tasks are evicted (least\n"
            "                                      recently used first) until it is (default 10%%)\n"
            "      --full-gc-threshold size|N%%     below this much free space, every idle task is\n"
            "                                      evicted (default 2%%); 0 turns a threshold off\n"
            "      --gc-disk-interval duration     period of the disk GC, which also runs after\n"
            "                                      each CDN download and when a cache write finds\n"
            "                                      the disk full; 0 = only then (default 15s)\n"
            "      --config string                 Dragonfly 1.x supernode.yml (section base:); flags\n"
            "                                      override it (default\n"
            "                                      \"/etc/dragonfly/supernode.yml\", when present)\n"
            "      --cdn-pattern string            only \"local\" is supported (default \"local\")\n"
            "      --max-connections int           concurrent connections per port; more evict\n"
            "                                      unfinished requests or are closed (default:\n"
            "                                      from the open-file limit, which is raised to\n"
            "                                      its hard limit at start)\n"
            "      --header-timeout duration       a connection must send a whole request within\n"
            "                                      this (default 10s)\n"
            "      --new-task-limit int            new origin downloads (registrations of a task\n"
            "                                      not in memory) one client address may start\n"
            "                                      per minute, burst as many; IPv6 counted per\n"
            "                                      /64; 0 = unlimited (default %d)\n"
            "      --max-metadata size             memory for tasks and their clients (URLs,\n"
            "                                      headers, digests, scheduling state); new\n"
            "                                      tasks and clients beyond it get 503; 0 =\n"
            "                                      unlimited (default %lluM)\n"
            "      --console                       also log to stderr\n"
            "  -D, --debug                         debug logging\n"
            "  -h, --help                          this help\n"
            "\n"
            "Rates: 123, 20K, 20M, 1G (binary units, optional B). Durations: 90s, 3m, 1h30m, 500ms.\n"
            "Java-era properties are accepted too: -Dsupernode.advertiseIp=IP,\n"
            "-Dsupernode.totalLimit=MB/s, -Dsupernode.systemNeedRate=MB/s, -Dsupernode.listenPort,\n"
            "-Dsupernode.downloadPort, -Dsupernode.homeDir (others are ignored with a warning).\n",
            SN_SCHED_DEF_UP_LIMIT, SN_SCHED_MAX_DOWN, SN_SCHED_DEF_DOWN_LIMIT,
            SN_SCHED_DEF_CDN_UP_LIMIT, SN_LIMIT_DEF_NEW_TASKS,
            (unsigned long long)(SN_LIMIT_DEF_MAX_METADATA >> 20));
}

static int parse_port(const char *s, uint16_t *out)
{
    int v;
    if (df_parse_int(s, &v) < 0 || v < 1 || v > 65535)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

static int parse_duration(const char *s, int64_t *out)
{
    int64_t v;
    if (df_parse_duration_ms(s, &v) < 0 || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}

/* "N%" (0..100) of the filesystem, or a size (df_parse_bytes). */
static int parse_threshold(const char *s, struct sn_gc_threshold *out)
{
    size_t n = strlen(s);
    if (n >= 2 && s[n - 1] == '%') {
        char buf[8];
        int v;
        if (n - 1 >= sizeof(buf))
            return -EINVAL;
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        if (df_parse_int(buf, &v) < 0 || v < 0 || v > 100)
            return -EINVAL;
        *out = (struct sn_gc_threshold){.bytes = 0, .pct = v};
        return 0;
    }
    uint64_t b;
    if (df_parse_bytes(s, &b) < 0)
        return -EINVAL;
    *out = (struct sn_gc_threshold){.bytes = b, .pct = -1};
    return 0;
}

static int parse_limit(const char *s, int *out)
{
    int v;
    if (df_parse_int(s, &v) < 0 || v < 1 || v > 1000)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_piece_size(const char *s, uint32_t *out)
{
    uint64_t v;
    if (strcmp(s, "auto") == 0) {
        *out = 0;
        return 0;
    }
    if (strcmp(s, "dragonfly") == 0) {
        *out = SN_CONFIG_PIECE_DRAGONFLY;
        return 0;
    }
    if (df_parse_bytes(s, &v) < 0 || !DF_PIECE_SIZE_VALID(v))
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

uint32_t sn_config_piece_size(uint32_t setting, int64_t length)
{
    if (setting == SN_CONFIG_PIECE_DRAGONFLY)
        return df_proto_piece_size(length);
    if (setting)
        return setting;
    return df_proto_piece_size_auto(length);
}

/* Accepts "1.2.3.4", "::1", "[::1]"; stores the bare literal. */
static int parse_ip(const char *s, char out[SN_IP_MAX])
{
    char tmp[SN_IP_MAX];
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        if (n - 2 >= sizeof(tmp))
            return -EINVAL;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
    } else {
        if (n >= sizeof(tmp))
            return -EINVAL;
        memcpy(tmp, s, n + 1);
    }
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, tmp, buf) != 1 && inet_pton(AF_INET6, tmp, buf) != 1)
        return -EINVAL;
    memcpy(out, tmp, strlen(tmp) + 1);
    return 0;
}

static int parse_flags(struct sn_config *c, int argc, char **argv, char err[DF_ERR_LEN]);
static void finish(struct sn_config *c);

static void add_warning(struct sn_config *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_warning(struct sn_config *c, const char *fmt, ...)
{
    char line[DF_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char *all = c->warnings ? df_xasprintf("%s; %s", c->warnings, line) : df_xstrdup(line);
    free(c->warnings);
    c->warnings = all;
}

/* Java supernode 0.3 properties (spec §8.1), as the seed's `docker run … supernode
 * -Dsupernode.advertiseIp=…` passes them: the text after "-D". Rates are integers in MB/s
 * (that supernode's unit). Returns 0, or -EINVAL with err naming the property for a known one
 * with a bad value; unknown ones and the ones with no meaning here become warnings. */
static int apply_property(struct sn_config *c, const char *prop, char err[DF_ERR_LEN])
{
    const char *eq = strchr(prop, '=');
    size_t nlen = eq ? (size_t)(eq - prop) : strlen(prop);
    const char *v = eq ? eq + 1 : "";
    char name[64];
    if (nlen >= sizeof(name) || strncmp(prop, "supernode.", 10) != 0) {
        add_warning(c, "unknown property -D%.*s ignored", (int)(nlen < 80 ? nlen : 80), prop);
        return 0;
    }
    memcpy(name, prop + 10, nlen - 10);
    name[nlen - 10] = '\0';
    int bad = 0, ival = 0;
    if (strcmp(name, "advertiseIp") == 0) {
        bad = parse_ip(v, c->advertise_ip) < 0;
    } else if (strcmp(name, "totalLimit") == 0 || strcmp(name, "systemNeedRate") == 0) {
        bad = df_parse_int(v, &ival) < 0 || ival < 0 || ival > 1000000;
        if (!bad)
            *(strcmp(name, "totalLimit") == 0 ? &c->max_bandwidth_bps
                                              : &c->system_bandwidth_bps) = (uint64_t)ival << 20;
    } else if (strcmp(name, "listenPort") == 0 || strcmp(name, "registerPort") == 0) {
        bad = parse_port(v, &c->port) < 0;
    } else if (strcmp(name, "downloadPort") == 0) {
        bad = parse_port(v, &c->download_port) < 0;
    } else if (strcmp(name, "homeDir") == 0 || strcmp(name, "baseHome") == 0) {
        bad = v[0] != '/';
        if (!bad) {
            free(c->home_dir);
            c->home_dir = df_xstrdup(v);
        }
    } else if (strcmp(name, "schedulerCorePoolSize") == 0 || strcmp(name, "dfgetPath") == 0 ||
               strncmp(name, "cluster", 7) == 0) {
        add_warning(c, "property -Dsupernode.%s has no effect in this supernode", name);
    } else {
        add_warning(c, "unknown property -Dsupernode.%s ignored", name);
    }
    if (bad) {
        snprintf(err, DF_ERR_LEN, "invalid -Dsupernode.%s value '%.100s'", name, v);
        return -EINVAL;
    }
    return 0;
}

int sn_config_parse(struct sn_config *c, int argc, char **argv, char err[DF_ERR_LEN])
{
    /* The config file's settings first (as flags: one validator), then the -D<name>=<value>
     * properties, then the flags, so a later source overrides an earlier one. getopt would
     * read "-Dsupernode..." as -D -s -u -p ..., hence the properties are taken out first. */
    if (c->npreset) {
        char **pv = df_xcalloc(c->npreset + 2, sizeof(*pv));
        pv[0] = argv[0];
        memcpy(pv + 1, c->preset, c->npreset * sizeof(*pv));
        char why[DF_ERR_LEN] = "";
        int prc = parse_flags(c, (int)c->npreset + 1, pv, why);
        free(pv);
        if (prc < 0) {
            /* a long path may cut the message: fine, it still names both */
            if (snprintf(err, DF_ERR_LEN, "%s: %s", c->config_path ? c->config_path
                                                                   : SN_CONFIG_DEFAULT_FILE,
                         why) < 0)
                err[0] = '\0';
            return -EINVAL;
        }
    }
    char **av = df_xcalloc((size_t)argc + 1, sizeof(*av));
    int ac = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strncmp(argv[i], "-D", 2) == 0 && argv[i][2] != '\0' &&
            strcmp(argv[i], "--") != 0) {
            if (apply_property(c, argv[i] + 2, err) < 0) {
                free(av);
                return -EINVAL;
            }
            continue;
        }
        av[ac++] = argv[i];
    }
    int rc = parse_flags(c, ac, av, err);
    free(av);
    if (rc >= 0)
        finish(c);
    return rc;
}

int sn_config_load(struct sn_config *c, int argc, char **argv, char err[DF_ERR_LEN])
{
    int action = sn_config_parse(c, argc, argv, err);
    if (action != SN_CONFIG_RUN)
        return action;
    int is_explicit = c->config_path != NULL;
    char *path = df_xstrdup(is_explicit ? c->config_path : SN_CONFIG_DEFAULT_FILE);
    char *text = NULL, *warnings = NULL, **args = NULL;
    size_t len = 0, nargs = 0;
    int rc = df_read_file(path, 1u << 20, &text, &len);
    if (rc == -ENOENT && !is_explicit) {
        rc = action; /* Dragonfly: a missing default file is fine */
        goto out;
    }
    if (rc < 0) {
        snprintf(err, DF_ERR_LEN, "cannot read config file %s: %s", path,
                 rc == DF_ETOOBIG ? "larger than 1 MiB" : strerror(-rc));
        rc = -EINVAL;
        goto out;
    }
    if (sn_yaml_args(path, text, len, &args, &nargs, &warnings, err) < 0) {
        rc = -EINVAL;
        goto out;
    }
    /* again from the defaults, with the file's settings under the command line's */
    sn_config_cleanup(c);
    sn_config_init(c);
    c->config_path = df_xstrdup(path);
    c->preset = args;
    c->npreset = nargs;
    rc = sn_config_parse(c, argc, argv, err);
    c->preset = NULL;
    c->npreset = 0;
    c->config_settings = nargs;
    if (warnings)
        add_warning(c, "%s", warnings);
out:
    sn_yaml_args_free(args, nargs);
    free(warnings);
    free(text);
    free(path);
    return rc;
}

static int parse_flags(struct sn_config *c, int argc, char **argv, char err[DF_ERR_LEN])
{
    int rc = 0;
    optind = 0; /* full re-initialisation (GNU), so tests can parse several argvs */
    opterr = 0;
    for (;;) {
        int longidx = -1;
        int ch = getopt_long(argc, argv, ":Dh", k_opts, &longidx);
        if (ch == -1)
            break;
        const char *name = longidx >= 0 ? k_opts[longidx].name : "";
        int bad = 0;
        int ival = 0;
        switch (ch) {
        case OPT_PORT: bad = parse_port(optarg, &c->port) < 0; break;
        case OPT_DOWNLOAD_PORT: bad = parse_port(optarg, &c->download_port) < 0; break;
        case OPT_HOME:
            bad = optarg[0] == '\0';
            if (!bad) {
                free(c->home_dir);
                c->home_dir = df_xstrdup(optarg);
            }
            break;
        case OPT_ADVERTISE: bad = parse_ip(optarg, c->advertise_ip) < 0; break;
        case OPT_BIND: {
            char tmp[SN_IP_MAX];
            bad = parse_ip(optarg, tmp) < 0;
            if (!bad) {
                free(c->bind_addr);
                c->bind_addr = df_xstrdup(tmp);
            }
            break;
        }
        case OPT_MAX_BW: bad = df_parse_bytes(optarg, &c->max_bandwidth_bps) < 0; break;
        case OPT_SYS_BW: bad = df_parse_bytes(optarg, &c->system_bandwidth_bps) < 0; break;
        case OPT_UP: bad = parse_limit(optarg, &c->up_limit) < 0; break;
        case OPT_DOWN: bad = parse_limit(optarg, &c->down_limit) < 0; break;
        case OPT_CDN_UP: bad = parse_limit(optarg, &c->cdn_up_limit) < 0; break;
        case OPT_PIECE_SIZE: bad = parse_piece_size(optarg, &c->piece_size) < 0; break;
        case OPT_PULL_HOLD:
            /* Dragonfly's dfget gives /peer/task 5 s, ours 10 s */
            bad = parse_duration(optarg, &c->pull_hold_ms) < 0 || c->pull_hold_ms > 4000;
            break;
        case OPT_MAX_CONNS:
            bad = df_parse_int(optarg, &c->max_conns) < 0 || c->max_conns < 1;
            break;
        case OPT_HEADER_TIMEOUT:
            bad = parse_duration(optarg, &c->header_timeout_ms) < 0 ||
                  c->header_timeout_ms <= 0 || c->header_timeout_ms > 3600000;
            break;
        case OPT_NEW_TASK_LIMIT:
            bad = df_parse_int(optarg, &ival) < 0 || ival < 0 || ival > 1000000;
            if (!bad)
                c->new_task_limit = (uint32_t)ival;
            break;
        case OPT_MAX_METADATA: bad = df_parse_bytes(optarg, &c->max_metadata) < 0; break;
        case OPT_PEER_AUTH:
            bad = strcmp(optarg, "private") != 0 && strcmp(optarg, "required") != 0;
            c->is_peer_auth_required = strcmp(optarg, "required") == 0;
            break;
        case OPT_PEER_KEY:
            free(c->peer_key_path);
            c->peer_key_path = df_xstrdup(optarg);
            break;
        case OPT_TOKEN_TTL:
            bad = parse_duration(optarg, &c->token_ttl_ms) < 0 || c->token_ttl_ms < 10000;
            break;
        case OPT_AUTH_TTL: bad = parse_duration(optarg, &c->auth_ttl_ms) < 0; break;
        case OPT_ORIGIN_ALLOW:
        case OPT_ORIGIN_DENY:
            if (df_netpolicy_add(c->origin_policy, ch == OPT_ORIGIN_ALLOW, optarg, err) < 0)
                return -EINVAL; /* err names the entry */
            break;
        case OPT_FAIL_ACCESS: bad = parse_duration(optarg, &c->fail_access_interval_ms) < 0; break;
        case OPT_GC_INIT: bad = parse_duration(optarg, &c->gc_initial_delay_ms) < 0; break;
        case OPT_GC_META:
            bad = parse_duration(optarg, &c->gc_meta_interval_ms) < 0 || c->gc_meta_interval_ms == 0;
            break;
        case OPT_TASK_EXPIRE: bad = parse_duration(optarg, &c->task_expire_ms) < 0; break;
        case OPT_PEER_GC: bad = parse_duration(optarg, &c->peer_gc_delay_ms) < 0; break;
        case OPT_CACHE_QUOTA: bad = df_parse_bytes(optarg, &c->cache_quota_bytes) < 0; break;
        case OPT_YOUNG_GC: bad = parse_threshold(optarg, &c->young_gc_threshold) < 0; break;
        case OPT_FULL_GC: bad = parse_threshold(optarg, &c->full_gc_threshold) < 0; break;
        case OPT_GC_DISK: bad = parse_duration(optarg, &c->gc_disk_interval_ms) < 0; break;
        case OPT_CONFIG:
            free(c->config_path);
            c->config_path = df_xstrdup(optarg);
            break;
        case OPT_CDN_PATTERN: bad = strcmp(optarg, "local") != 0; break;
        case OPT_POOL: {
            int v;
            bad = df_parse_int(optarg, &v) < 0 || v < 1; /* accepted, unused (as in Go) */
            break;
        }
        case OPT_PROFILER: break;
        case OPT_CONSOLE: c->is_console = 1; break;
        case 'D': c->is_debug = 1; break;
        case OPT_VERSION: rc = SN_CONFIG_VERSION; break;
        case 'h': return SN_CONFIG_HELP;
        case ':':
            snprintf(err, DF_ERR_LEN, "option %s needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            /* inside a group of short options argv[optind - 1] is not the culprit */
            if (optopt > 0 && optopt < 256 && optopt != '?')
                snprintf(err, DF_ERR_LEN, "unknown option -%c (see --help)", optopt);
            else
                snprintf(err, DF_ERR_LEN, "unknown option %s (see --help)", argv[optind - 1]);
            return -EINVAL;
        }
        if (bad) {
            snprintf(err, DF_ERR_LEN, "invalid --%s value '%s'", name, optarg ? optarg : "");
            return -EINVAL;
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind], "version") == 0 && optind + 1 == argc)
            return SN_CONFIG_VERSION;
        snprintf(err, DF_ERR_LEN, "unexpected argument '%s' (see --help)", argv[optind]);
        return -EINVAL;
    }
    return rc;
}

/* Derived values once the file, the properties and the flags are applied. */
static void finish(struct sn_config *c)
{
    /* The supernode's flows must keep pace with the origin, and a receiver gives each of its
     * down-limit flows about an equal share of its link: fewer supernode flows leave its
     * uplink idle (the swarm falls behind the origin), more make each new piece leave it
     * slower (docs/internals/scheduling.md, "Session 3"). */
    if (c->cdn_up_limit == 0)
        c->cdn_up_limit = c->down_limit;
    /* Our own listening ports are never an origin (our /metrics, our cache through the download
     * port): loopback and unspecified addresses are covered by the rule itself, a specific
     * --bind address here, interface addresses by sn_config_add_local_addrs. */
    df_netpolicy_add_own_port(c->origin_policy, c->port);
    df_netpolicy_add_own_port(c->origin_policy, c->download_port);
    int brc = df_netpolicy_add_own_addr_str(c->origin_policy, c->bind_addr);
    DF_ASSERT(brc == 0); /* parse_ip validated it */
}

uint64_t sn_config_origin_bps(const struct sn_config *c)
{
    if (c->max_bandwidth_bps == 0 || c->max_bandwidth_bps <= c->system_bandwidth_bps)
        return 0;
    return c->max_bandwidth_bps - c->system_bandwidth_bps;
}

void sn_config_add_local_addrs(struct sn_config *c)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
        if (i->ifa_addr)
            df_netpolicy_add_own_addr(c->origin_policy, i->ifa_addr);
    freeifaddrs(ifs);
}

void sn_config_detect_ip(char out[SN_IP_MAX])
{
    snprintf(out, SN_IP_MAX, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
        char buf[INET_ADDRSTRLEN];
        if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf))) {
            snprintf(out, SN_IP_MAX, "%s", buf);
            break;
        }
    }
    freeifaddrs(ifs);
}
