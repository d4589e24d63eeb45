/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon configuration: Dragonfly 1.0 flags (spec §10.1) parsed with getopt_long, plus the
 * YAML file (/etc/dragonfly/dfdaemon.yml, libyaml) with registry_mirror and proxies.
 * Precedence: defaults < YAML file < command-line flags.
 *
 * Parsing is pure (no I/O) except dfd_config_load_file(), which reads the file and hands the
 * text to dfd_config_parse_yaml(). Every error fills err with one line that names the flag or
 * the YAML key and line ("dfdaemon.yml:7: proxies[1].regx: invalid regex '(': ..."). */
#ifndef DFD_CONFIG_H
#define DFD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "df_err.h"

#define DFD_DEFAULT_CONFIG "/etc/dragonfly/dfdaemon.yml"
#define DFD_DEFAULT_REGISTRY "https://index.docker.io"
#define DFD_CONFIG_MAX_BYTES (1u << 20) /* larger YAML files are refused */
#define DFD_MAX_PROXIES 256
#define DFD_MAX_CERTS 16
#define DFD_MAX_ALLOW 256         /* registry_allow entries, hijack_https.hosts */

/* One `proxies` rule (spec §10.2). Heap strings owned by the config. */
struct dfd_proxy_rule {
    char *regx;      /* POSIX extended regex matched against the full URL; never NULL */
    int use_https;   /* rewrite the scheme to https */
    int direct;      /* bypass the swarm */
    char *redirect;  /* replacement host[:port], NULL = keep */
};

/* One allowed upstream / proxy target (--registry, registry_mirror.remote, registry_allow).
 * Written as a URL prefix "http(s)://host[:port][/path]" (that scheme, host, port — the
 * scheme's default when absent — and URLs under path) or as a host pattern "host[:port]",
 * "*.suffix[:port]", "*" (any scheme; any port when absent). */
struct dfd_allow {
    char *scheme;    /* "http" / "https"; NULL = any (host pattern) */
    char *host;      /* lower case; numeric hosts in canonical form (inet_ntop), IPv6 without
                        brackets; "*" or "*.suffix" for wildcards */
    int port;        /* 0 = any */
    char *path;      /* URL prefix path ("/v2/lib/"), NULL = any */
    int is_wild;     /* host is a wildcard: it does not name one host */
};

struct dfd_config {
    uint16_t port;            /* listen port (65001) */
    char *bind_addr;          /* listen address (127.0.0.1); heap */
    char *registry;           /* default upstream, "scheme://host[:port]" without trailing '/';
                                 --registry beats registry_mirror.remote; heap */
    uint64_t ratelimit_bps;   /* 20 MiB/s */
    int is_ratelimit_set;     /* set by --ratelimit or the config file (else the default) */
    char *node;               /* supernodes "h1:p1,h2:p2" or NULL; heap */
    const char *node_source;  /* where node came from, for the log: "--node", "the config
                                 file", or the INI file's path (borrowed: a literal, the
                                 environment, or dfd_config_node_from_ini's path); NULL = none */
    char *work_home;          /* ~/.small-dragonfly; heap */
    char *localrepo;          /* <workHome>/dfdaemon/data unless set; heap */
    char *config_path;        /* file to read; heap */
    int is_config_explicit;   /* --config given: a missing file is an error */
    int is_verbose;           /* debug logging, also to stderr */
    int64_t idle_timeout_ms;  /* client connection read/write idle timeout (30 s) */
    int max_conns;            /* --max-connections; 0 = from the fd limit */
    int64_t header_timeout_ms;/* --header-timeout; 0 = 10 s (df_listen) */
    int64_t auth_ttl_ms;      /* authorization-cache TTL for allowed answers (60 s) */
    int64_t gc_interval_ms;   /* blob-store GC period (2 min, Dragonfly §8.3); 0 = no GC */
    int64_t gc_expire_ms;     /* blobs not accessed for this long are deleted (1 h) */
    /* registry_mirror */
    int is_insecure;          /* skip TLS verification for the registry */
    int is_mirror_direct;     /* registry_mirror.direct: blobs bypass the swarm too */
    char *certs[DFD_MAX_CERTS]; /* CA files for the registry; heap */
    size_t n_certs;
    char *ca_file;            /* the PEM bundle used for the default registry (NULL = system
                                 store): certs[0], or the concatenation of all certs written by
                                 dfd_config_write_ca_bundle(); heap */
    struct dfd_proxy_rule *proxies; /* heap array of n_proxies */
    size_t n_proxies;
    char *mirror_remote;      /* registry_mirror.remote as written (normalised), also when
                                 --registry beats it: an allowed upstream either way; heap */
    char **registry_allow;    /* --registry-allow / registry_allow entries (validated); heap */
    size_t n_registry_allow;
    char **connect_hosts;     /* hijack_https.hosts[].regx: CONNECT targets "host:port" that
                                 may be tunnelled (POSIX ERE, validated); heap */
    size_t n_connect_hosts;
    /* set while parsing, used for precedence */
    int is_registry_flag, is_localrepo_flag, is_port_flag, is_ratelimit_flag, is_node_flag,
        is_work_home_flag, is_verbose_flag, is_gc_interval_flag, is_gc_expire_flag,
        is_registry_allow_flag;
};

enum dfd_config_action {
    DFD_CONFIG_RUN = 0,
    DFD_CONFIG_HELP = 1,
    DFD_CONFIG_VERSION = 2,
};

/* Fills defaults (work home from $HOME). */
void dfd_config_init(struct dfd_config *c);
void dfd_config_cleanup(struct dfd_config *c);

/* Parses argv (getopt_long; resets optind). Returns an enum dfd_config_action >= 0, or a
 * negative code with err filled. Does not read the YAML file. Never prints. */
int dfd_config_parse_args(struct dfd_config *c, int argc, char **argv, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* Applies YAML text (len bytes, need not be NUL-terminated) to c, without overriding values
 * that came from flags. `name` prefixes error messages. Unknown keys are errors; keys of
 * Dragonfly 1.0 that dfdaemon does not use (hijack_https, dfget_flags, dfpath, maxprocs, ...)
 * are accepted and listed in *ignored (comma-separated heap string, NULL if none; caller frees).
 * Returns 0 or -EINVAL with err filled. Pure. */
int dfd_config_parse_yaml(struct dfd_config *c, const char *name, const char *text, size_t len,
                          char **ignored, char err[DF_ERR_LEN]) __attribute__((warn_unused_result));

/* Reads c->config_path (missing default file → 0, nothing applied; missing explicit file,
 * unreadable or > DFD_CONFIG_MAX_BYTES → error) and applies it. */
int dfd_config_load_file(struct dfd_config *c, char **ignored, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* Supernodes from dfget's INI file, exactly as dfget reads them (`[node] address = h1,h2:8002`,
 * port 8002 when absent), when neither --node nor `supernodes` in the YAML named any: the
 * seed's dfclient container mounts /etc/dragonfly.conf and passes no --node. path: NULL =
 * $DFGET_CONFIG or /etc/dragonfly.conf. Returns 0 (c->node set, or already set before),
 * -ENOENT (no file, or no [node] address in it), -EINVAL with err filled (unreadable, bad
 * address list). */
int dfd_config_node_from_ini(struct dfd_config *c, const char *path, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* Final checks and derived values once flags and file are applied: registry URL shape,
 * localrepo default and absoluteness. Returns 0 or -EINVAL with err filled. */
int dfd_config_finish(struct dfd_config *c, char err[DF_ERR_LEN]) __attribute__((warn_unused_result));

/* Normalises a registry URL: "host:port" → "https://host:port", strips trailing '/'. Returns a
 * heap string, or NULL when the URL is not http(s)://host[:port][/] (no path, query, user info).
 * Pure. */
char *dfd_config_norm_registry(const char *url);

/* Sets c->ca_file from registry_mirror.certs: none → NULL; one → that path; several → their
 * concatenation written to <workHome>/dfdaemon/registry-ca.pem (curl takes one bundle file).
 * Each file must be readable and ≤ 1 MiB. Blocking I/O, start-up only. Returns 0 or a negative
 * code with err filled. */
int dfd_config_write_ca_bundle(struct dfd_config *c, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));

/* Parses one allow entry (see struct dfd_allow) into out (heap strings; free with
 * dfd_allow_cleanup). Returns 0, or -EINVAL with err filled. Pure. */
int dfd_config_parse_allow(const char *s, struct dfd_allow *out, char err[DF_ERR_LEN])
    __attribute__((warn_unused_result));
void dfd_allow_cleanup(struct dfd_allow *a); /* NULL ok */

/* Canonical form of a host as written in a URL (len bytes, IPv6 with or without brackets):
 * numeric hosts in every form the resolver accepts ("127.1", "0x7f000001", "::FFFF:127.0.0.1")
 * become inet_ntop text, names become lower case without a trailing dot. Returns 1 for a
 * numeric host, 0 for a name, -1 when the host is empty, too long or has bytes no host has.
 * Pure (getaddrinfo with AI_NUMERICHOST does no lookup). */
int dfd_config_canon_host(const char *host, size_t len, char *out, size_t outsz);

void dfd_config_usage(FILE *f);

#endif
