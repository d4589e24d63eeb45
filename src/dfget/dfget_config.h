/* SPDX-License-Identifier: Apache-2.0 */
/* dfget configuration: defaults < /etc/dragonfly.conf ([node] address=…, via inih) < argv
 * (getopt_long, Dragonfly 1.0 flags, spec §7.1). Pure except for reading the config file and
 * $HOME; no logging, errors are returned as one line in a caller buffer.
 *
 * Ownership: a struct dfget_config owns every string and array in it; dfget_config_cleanup()
 * frees them. Single-threaded (getopt_long keeps global state). */
#ifndef DFGET_CONFIG_H
#define DFGET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "df_err.h"

#define DFGET_DEFAULT_NODE_PORT 8002
#define DFGET_DEFAULT_CONF "/etc/dragonfly.conf"
#define DFGET_CONF_ENV "DFGET_CONFIG" /* overrides the config file path (tests) */

/* One supernode. host is a name, an IPv4 address or a bare IPv6 address (no brackets). */
struct dfget_node {
    char *host;
    uint16_t port;   /* default 8002 */
    uint32_t weight; /* >= 1; default 1 */
};

enum dfget_pattern {
    DFGET_PATTERN_P2P,    /* download and share through the work home's uploader */
    DFGET_PATTERN_CDN,    /* download through the supernode, never share */
    DFGET_PATTERN_SOURCE, /* origin only (back-source reason 100) */
};

enum dfget_cmd {
    DFGET_CMD_DOWNLOAD, /* the normal case */
    DFGET_CMD_VERSION,  /* `dfget version` */
    DFGET_CMD_HELP,     /* -h / --help */
};

struct dfget_config {
    enum dfget_cmd cmd;
    char *url;             /* -u, required for downloads; http:// or https:// */
    char *output;          /* -o; NULL = last URL path segment in the CWD (resolved by main) */
    char *md5;             /* -m; 32 hex chars or NULL */
    char *identifier;      /* -i; NULL = none */
    char *callsystem;      /* --callsystem */
    char *filter;          /* -f; '&'-separated query parameter names */
    char **headers;        /* --header, repeatable, each "Key: Value"; nheaders entries */
    size_t nheaders;
    struct dfget_node *nodes; /* -n / config file; default 127.0.0.1:8002 */
    size_t nnodes;
    int is_nodes_set;      /* nodes came from the CLI or the config file (even if empty) */
    uint64_t local_limit_bps; /* -s; 0 = unlimited (our default, see --help) */
    uint64_t min_rate_bps;    /* --minrate; default 64 KiB/s; used for timeouts only */
    uint64_t total_limit_bps; /* --totallimit; 0 = none; host upload cap sent to the uploader */
    int64_t timeout_ms;       /* -e; 0 = automatic (length / minrate + 10 s) */
    enum dfget_pattern pattern;
    int is_notbs, is_dfdaemon, is_insecure, is_showbar, is_verbose, is_console;
    int is_file_sha256;    /* hash the whole file with SHA-256 even when every piece was
                              verified against the supernode's pieceSha256 (dfdaemon: the blob
                              digest); dfget: 0, the piece digests already cover every byte */
    char **cacerts;        /* --cacerts, repeatable paths of PEM files */
    size_t ncacerts;
    char *home;            /* --home; default $HOME/.small-dragonfly */
    char *ip;              /* --ip; NULL = auto-detect */
    int port;              /* --port; 0 = none/auto; else 1..65535 */
    int client_queue;      /* --clientqueue, >= 1, default 6 */
    int64_t expire_ms;     /* --expiretime, default 3 min */
    int64_t alive_ms;      /* --alivetime, default 5 min */
    char *conf_path;       /* the config file that was loaded, NULL if none */
};

/* Defaults. home from $HOME (or "/tmp" when unset). */
void dfget_config_init(struct dfget_config *c);
void dfget_config_cleanup(struct dfget_config *c); /* NULL ok; leaves the struct re-initable */

/* Reads an INI file (`[node] address = host1,host2:8002=2`). Returns 0 when loaded, -ENOENT when
 * the file does not exist (not an error for the caller), -EINVAL with err filled on a parse or
 * value error. Keys other than [node] address are ignored. */
int dfget_config_load_file(struct dfget_config *c, const char *path, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* Parses argv (argv[0] is the program name) over the current values. Returns 0 or -EINVAL with
 * a one-line message in err (usage error → exit 1). Resets getopt state itself, so it can be
 * called repeatedly (tests). For DFGET_CMD_DOWNLOAD it validates that a URL is present. */
int dfget_config_parse_args(struct dfget_config *c, int argc, char **argv, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* init + config file ($DFGET_CONFIG or /etc/dragonfly.conf, when present) + argv + default node.
 * Returns 0 or -EINVAL (err filled). */
int dfget_config_load(struct dfget_config *c, int argc, char **argv, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* Parses "host[:port][=weight],…" ("[::1]:8002=2", "::1", "sn.example"). Empty entries are
 * skipped. On success replaces *nodes and *n (caller frees with dfget_config_free_nodes). Returns 0
 * or -EINVAL with err filled. */
int dfget_config_parse_nodes(const char *list, struct dfget_node **nodes, size_t *n,
                             char err[DF_ERR_LEN]) __attribute__((warn_unused_result));
void dfget_config_free_nodes(struct dfget_node *nodes, size_t n);

/* "host:port" with brackets around IPv6 hosts, into buf. Returns buf. */
const char *dfget_config_hostport(const char *host, unsigned port, char *buf, size_t len);

/* The --help text (static). */
const char *dfget_config_usage(void);

#endif
