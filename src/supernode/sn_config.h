/* SPDX-License-Identifier: Apache-2.0 */
/* Supernode configuration: Dragonfly 1.0 flags (spec §8.1) parsed with getopt_long into a
 * struct sn_config, over the settings of Dragonfly 1.x's supernode.yml (sn_yaml: --config, or
 * /etc/dragonfly/supernode.yml when present) and the Java-era -Dsupernode.* properties.
 * Precedence: defaults < file < properties < flags. sn_config_parse is pure; sn_config_load
 * reads the file; sn_config_detect_ip and sn_config_add_local_addrs look at the host. */
#ifndef SN_CONFIG_H
#define SN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "df_err.h"
#include "sn_gc.h"

struct df_netpolicy;

#define SN_IP_MAX 64
#define SN_CONFIG_PIECE_DRAGONFLY UINT32_MAX
#define SN_CONFIG_DEF_PULL_HOLD_MS 1000

struct sn_config {
    uint16_t port;                  /* control API (8002) */
    uint16_t download_port;         /* download port (8001) */
    char *home_dir;                 /* /home/admin/supernode; heap */
    char advertise_ip[SN_IP_MAX];   /* bare literal, no brackets; "" until resolved */
    char *bind_addr;                /* "::" (dual-stack, falls back to 0.0.0.0); heap */
    char *config_path;              /* --config value, or the default file when it was read,
                                       else NULL; heap */
    size_t config_settings;         /* settings taken from that file */
    char **preset;                  /* sn_config_load only: the file's settings as flags,
                                       parsed before argv; borrowed */
    size_t npreset;
    uint64_t max_bandwidth_bps;     /* 200 MiB/s */
    uint64_t system_bandwidth_bps;  /* 20 MiB/s; origin cap = max - system (0 → unlimited) */
    int up_limit;                   /* concurrent uploads per peer (SN_SCHED_DEF_UP_LIMIT) */
    int down_limit;                 /* concurrent pieces per client (SN_SCHED_DEF_DOWN_LIMIT) */
    int cdn_up_limit;               /* concurrent supernode uploads per task; unless given,
                                       the down_limit (after sn_config_parse) */
    uint32_t piece_size;            /* bytes incl. the 5-byte wrapper; 0 = auto
                                       (df_proto_piece_size_auto), SN_CONFIG_PIECE_DRAGONFLY =
                                       Dragonfly 1.0's rule (df_proto_piece_size) */
    int max_conns;                  /* --max-connections per port; 0 = from the fd limit */
    int64_t header_timeout_ms;      /* --header-timeout; 0 = DF_LISTEN_HEADER_TIMEOUT_MS */
    uint32_t new_task_limit;        /* --new-task-limit: new origin downloads per client
                                       address per minute (sn_limit); 0 = unlimited */
    uint64_t max_metadata;          /* --max-metadata: registry bytes (sn_limit); 0 = unlimited */
    int64_t pull_hold_ms;           /* how long a 602 pull of an idle client is held (0 = never) */
    int64_t fail_access_interval_ms;/* 3m: how long a 404/unreachable URL is refused */
    int64_t gc_initial_delay_ms;    /* 6s */
    int64_t gc_meta_interval_ms;    /* 2m */
    int64_t task_expire_ms;         /* 3m */
    int64_t peer_gc_delay_ms;       /* 3m */
    /* disk management of the CDN cache (sn_diskgc, docs/internals/cdn-cache.md) */
    uint64_t cache_quota_bytes;     /* --cache-quota: disk bytes the cache may hold; 0 =
                                       unlimited (default: the watermarks below protect the
                                       filesystem, a quota needs the operator's sizing) */
    struct sn_gc_threshold young_gc_threshold; /* --young-gc-threshold: below this much free
                                       space, evict idle tasks until it is free again (10%) */
    struct sn_gc_threshold full_gc_threshold;  /* --full-gc-threshold: below this much free
                                       space, evict every idle task (2%) */
    int64_t gc_disk_interval_ms;    /* --gc-disk-interval: periodic disk-GC pass (15s; 0 = only
                                       after CDN jobs and on ENOSPC) */
    struct df_netpolicy *origin_policy; /* --origin-allow / --origin-deny plus the always-on
                                       rules (link-local, unspecified, our own --port and
                                       --download-port on loopback, on the --bind address and,
                                       after sn_config_add_local_addrs, on every interface
                                       address). Pass it as df_http_opts.policy to every origin
                                       request. Never NULL between init and cleanup; owned */
    int is_peer_auth_required;      /* --peer-auth required: every piece of every task needs a
                                       token (else only pieces of private tasks) */
    char *peer_key_path;            /* --peer-key: Ed25519 key (PEM) that signs piece tokens;
                                       NULL = <home>/peer-auth.key, created when missing; heap */
    int64_t token_ttl_ms;           /* --token-ttl: lifetime of a piece token (15m); pulls
                                       hand out a fresh one after half of it */
    int64_t auth_ttl_ms;            /* --auth-ttl: how long the origin's answer to a client's
                                       credentials for a private task is reused (60s) */
    char *warnings;                 /* "; "-joined notes for the log (ignored -D properties),
                                       NULL when none; heap */
    int is_console;                 /* mirror logs to stderr */
    int is_debug;                   /* debug log level */
};

#define SN_CONFIG_DEFAULT_FILE "/etc/dragonfly/supernode.yml"

enum sn_config_action {
    SN_CONFIG_RUN = 0,   /* start the server */
    SN_CONFIG_HELP = 1,  /* --help: print sn_config_usage and exit 0 */
    SN_CONFIG_VERSION = 2, /* "version" sub-command or --version */
};

/* Fills defaults. */
void sn_config_init(struct sn_config *c);
void sn_config_cleanup(struct sn_config *c);
/* Parses argv (getopt_long; resets optind itself). Java-era properties -Dsupernode.<name>=<value>
 * (advertiseIp, totalLimit and systemNeedRate in MB/s, listenPort, downloadPort, homeDir or
 * baseHome) are applied before the flags, wherever they stand; unknown properties are noted in
 * c->warnings, not errors. Returns an enum sn_config_action >= 0, or a
 * negative code with err filled with one line ("invalid --port value 'x'", "unknown option
 * --foo"). Never prints. */
int sn_config_parse(struct sn_config *c, int argc, char **argv, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));
/* sn_config_parse over the YAML file named by --config (a missing or broken one is an error),
 * else /etc/dragonfly/supernode.yml when it exists (a broken one is an error). c must be
 * freshly initialised. Blocking file I/O. Same returns as sn_config_parse; err names the file
 * and line for YAML errors. */
int sn_config_load(struct sn_config *c, int argc, char **argv, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));
/* Writes the --help text (every flag with its default) to f. */
void sn_config_usage(FILE *f);
/* Piece size (bytes incl. the wrapper) for a file of length bytes (-1 unknown) under the
 * --piece-size setting (struct sn_config.piece_size). Pure. */
uint32_t sn_config_piece_size(uint32_t setting, int64_t length);
/* Origin download cap in bytes/s: max - system, 0 (unlimited) when max <= system or max == 0. */
uint64_t sn_config_origin_bps(const struct sn_config *c);
/* Adds every address of the host's interfaces (getifaddrs) to origin_policy's own addresses,
 * so that the own-port rule also covers http://<our LAN address>:<our port>/. Call once after
 * sn_config_parse; failures are ignored (loopback and the bind address are covered anyway). */
void sn_config_add_local_addrs(struct sn_config *c);
/* First non-loopback IPv4 address of the host into out, else "127.0.0.1". Never fails. */
void sn_config_detect_ip(char out[SN_IP_MAX]);

#endif
