/* SPDX-License-Identifier: Apache-2.0 */
/* dfdaemon configuration: getopt_long flags (Dragonfly 1.0 names), the YAML file through
 * libyaml's document API (a node tree we walk with line numbers for error messages), and
 * final validation. No network I/O; only dfd_config_load_file() touches the filesystem. */
#include "dfd_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "df_util.h"
#include "dfget_config.h"

#define DEFAULT_PORT 65001
#define DEFAULT_RATELIMIT (20u * 1024 * 1024)

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = df_xstrdup(v);
}

void dfd_config_init(struct dfd_config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = DEFAULT_PORT;
    c->bind_addr = df_xstrdup("127.0.0.1");
    c->registry = df_xstrdup(DFD_DEFAULT_REGISTRY);
    c->ratelimit_bps = DEFAULT_RATELIMIT;
    const char *home = getenv("HOME");
    c->work_home = df_xasprintf("%s/.small-dragonfly", home && *home ? home : "/root");
    c->config_path = df_xstrdup(DFD_DEFAULT_CONFIG);
    c->idle_timeout_ms = 30000;
    c->auth_ttl_ms = 60000;
    c->gc_interval_ms = 120000;
    c->gc_expire_ms = 3600000;
}

void dfd_config_cleanup(struct dfd_config *c)
{
    if (!c)
        return;
    free(c->bind_addr);
    free(c->registry);
    free(c->node);
    free(c->work_home);
    free(c->localrepo);
    free(c->config_path);
    for (size_t i = 0; i < c->n_certs; i++)
        free(c->certs[i]);
    free(c->ca_file);
    for (size_t i = 0; i < c->n_proxies; i++) {
        free(c->proxies[i].regx);
        free(c->proxies[i].redirect);
    }
    free(c->proxies);
    free(c->mirror_remote);
    for (size_t i = 0; i < c->n_registry_allow; i++)
        free(c->registry_allow[i]);
    free(c->registry_allow);
    for (size_t i = 0; i < c->n_connect_hosts; i++)
        free(c->connect_hosts[i]);
    free(c->connect_hosts);
    memset(c, 0, sizeof(*c));
}

/* ---- allowed upstreams -------------------------------------------------------------------- */

static int is_name_byte(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

int dfd_config_canon_host(const char *host, size_t len, char *out, size_t outsz)
{
    char h[256];
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(h) || outsz < INET6_ADDRSTRLEN)
        return -1;
    memcpy(h, host, len);
    h[len] = '\0';
    if (memchr(h, '\0', len))
        return -1;
    /* Numeric in any form the resolver (and curl) accepts: inet_aton shorthands for IPv4,
     * every IPv6 spelling, a zone id after '%'. */
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (strspn(h, "0123456789abcdefABCDEFxX.:%") == len || strchr(h, '%') || strchr(h, ':')) {
        if (getaddrinfo(h, NULL, &hints, &ai) == 0 && ai) {
            const void *a = ai->ai_family == AF_INET
                                ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            int ok = inet_ntop(ai->ai_family, a, out, (socklen_t)outsz) != NULL;
            freeaddrinfo(ai);
            return ok ? 1 : -1;
        }
        if (strchr(h, ':') || strchr(h, '%'))
            return -1; /* not an address, and no name has these */
    }
    size_t n = len;
    while (n > 1 && h[n - 1] == '.')
        n--; /* "host." is "host" */
    if (n >= outsz || h[0] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_name_byte((unsigned char)h[i]))
            return -1;
        out[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
    }
    out[n] = '\0';
    return 0;
}

void dfd_allow_cleanup(struct dfd_allow *a)
{
    if (!a)
        return;
    free(a->scheme);
    free(a->host);
    free(a->path);
    memset(a, 0, sizeof(*a));
}

int dfd_config_parse_allow(const char *s, struct dfd_allow *out, char err[DF_ERR_LEN])
{
    memset(out, 0, sizeof(*out));
    const char *auth = s;
    size_t alen;
    if (!s || !*s)
        goto bad;
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f || strchr("@\\?#", *q))
            goto bad;
    const char *sep = strstr(s, "://");
    if (sep) {
        if ((size_t)(sep - s) == 4 && !strncasecmp(s, "http", 4))
            out->scheme = df_xstrdup("http");
        else if ((size_t)(sep - s) == 5 && !strncasecmp(s, "https", 5))
            out->scheme = df_xstrdup("https");
        else
            goto bad;
        auth = sep + 3;
        alen = strcspn(auth, "/");
        const char *path = auth + alen;
        if (*path && strcmp(path, "/") != 0)
            out->path = df_xstrdup(path);
    } else {
        alen = strlen(auth);
        if (strchr(auth, '/'))
            goto bad;
    }
    /* host [":" port]; "[v6]" [":" port]; a bare IPv6 address has no port */
    const char *host = auth;
    size_t hlen = alen;
    const char *port = NULL;
    if (hlen && host[0] == '[') {
        const char *rb = memchr(host, ']', hlen);
        if (!rb)
            goto bad;
        if ((size_t)(rb - host) + 1 < hlen) {
            if (rb[1] != ':')
                goto bad;
            port = rb + 2;
        }
        hlen = (size_t)(rb - host) + 1;
    } else {
        const char *colon = memchr(host, ':', hlen);
        if (colon && !memchr(colon + 1, ':', hlen - (size_t)(colon + 1 - host))) {
            port = colon + 1;
            hlen = (size_t)(colon - host);
        }
    }
    if (port) {
        size_t plen = alen - (size_t)(port - auth);
        char pbuf[8];
        uint64_t pv;
        if (plen == 0 || plen >= sizeof(pbuf))
            goto bad;
        memcpy(pbuf, port, plen);
        pbuf[plen] = '\0';
        if (df_parse_u64(pbuf, &pv) < 0 || pv < 1 || pv > 65535)
            goto bad;
        out->port = (int)pv;
    } else if (out->scheme) {
        out->port = !strcmp(out->scheme, "https") ? 443 : 80;
    }
    char canon[256];
    if (hlen == 1 && host[0] == '*') {
        out->host = df_xstrdup("*");
        out->is_wild = 1;
    } else if (hlen > 2 && host[0] == '*' && host[1] == '.') {
        if (dfd_config_canon_host(host + 2, hlen - 2, canon, sizeof(canon)) != 0)
            goto bad;
        out->host = df_xasprintf("*.%s", canon);
        out->is_wild = 1;
    } else {
        if (dfd_config_canon_host(host, hlen, canon, sizeof(canon)) < 0)
            goto bad;
        out->host = df_xstrdup(canon);
    }
    return 0;
bad:
    snprintf(err, DF_ERR_LEN,
             "invalid allow entry '%.120s' (want http(s)://host[:port][/path], host[:port] or "
             "*.domain[:port])", s ? s : "");
    dfd_allow_cleanup(out);
    return -EINVAL;
}

/* Validates one entry and appends it to list/n (capped). */
static int add_allow(char ***list, size_t *n, const char *v, const char *what, char err[DF_ERR_LEN])
{
    struct dfd_allow a;
    char e[DF_ERR_LEN];
    if (dfd_config_parse_allow(v, &a, e) < 0) {
        snprintf(err, DF_ERR_LEN, "%s: %.200s", what, e);
        return -EINVAL;
    }
    dfd_allow_cleanup(&a);
    if (*n >= DFD_MAX_ALLOW) {
        snprintf(err, DF_ERR_LEN, "%s: more than %d entries", what, DFD_MAX_ALLOW);
        return -EINVAL;
    }
    *list = df_xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = df_xstrdup(v);
    return 0;
}

static void clear_list(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

char *dfd_config_norm_registry(const char *url)
{
    if (!url || !*url)
        return NULL;
    char *s = NULL;
    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0)
        s = df_xstrdup(url);
    else if (!strstr(url, "://"))
        s = df_xasprintf("https://%s", url);
    else
        return NULL;
    size_t hoff = (size_t)(strstr(s, "://") - s) + 3;
    size_t n = strlen(s);
    while (n > hoff && s[n - 1] == '/')
        s[--n] = '\0';
    const char *host = s + hoff;
    /* host[:port] only: no path, query, fragment, user info, whitespace or control bytes */
    if (!*host || *host == ':')
        goto bad;
    for (const char *p = host; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 0x7f || strchr("/?#@\\", ch))
            goto bad;
    }
    return s;
bad:
    free(s);
    return NULL;
}

static int set_registry(struct dfd_config *c, const char *v, const char *what, char err[DF_ERR_LEN])
{
    char *n = dfd_config_norm_registry(v);
    if (!n) {
        snprintf(err, DF_ERR_LEN, "%s: invalid registry URL '%s' (want http(s)://host[:port])",
                 what, v);
        return -EINVAL;
    }
    free(c->registry);
    c->registry = n;
    return 0;
}

static int set_port(struct dfd_config *c, const char *v, const char *what, char err[DF_ERR_LEN])
{
    uint64_t p;
    if (df_parse_u64(v, &p) < 0 || p < 1 || p > 65535) {
        snprintf(err, DF_ERR_LEN, "%s: invalid port '%s' (1-65535)", what, v);
        return -EINVAL;
    }
    c->port = (uint16_t)p;
    return 0;
}

static int set_rate(struct dfd_config *c, const char *v, const char *what, char err[DF_ERR_LEN])
{
    uint64_t r;
    if (df_parse_bytes(v, &r) < 0) {
        snprintf(err, DF_ERR_LEN, "%s: invalid rate '%s' (e.g. 20M)", what, v);
        return -EINVAL;
    }
    c->ratelimit_bps = r;
    c->is_ratelimit_set = 1;
    return 0;
}

static int set_bool(int *dst, const char *v, const char *what, char err[DF_ERR_LEN])
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        *dst = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
             !strcmp(v, "0"))
        *dst = 0;
    else {
        snprintf(err, DF_ERR_LEN, "%s: expected true or false, got '%s'", what, v);
        return -EINVAL;
    }
    return 0;
}

/* gc_interval (is_interval, 0 allowed = off) or gc_expire (> 0) from a duration. */
static int set_gc(struct dfd_config *c, int is_interval, const char *s, const char *what,
                  char err[DF_ERR_LEN])
{
    int64_t ms;
    if (df_parse_duration_ms(s, &ms) < 0 || ms < 0 || (ms == 0 && !is_interval)) {
        snprintf(err, DF_ERR_LEN, "%s: invalid duration '%s' (e.g. %s)", what, s,
                 is_interval ? "2m, 0 = never" : "1h");
        return -EINVAL;
    }
    if (is_interval)
        c->gc_interval_ms = ms;
    else
        c->gc_expire_ms = ms;
    return 0;
}

/* ---- flags -------------------------------------------------------------------------------- */

enum {
    OPT_CONFIG = 256, OPT_PORT, OPT_REGISTRY, OPT_RATELIMIT, OPT_NODE, OPT_WORKHOME,
    OPT_LOCALREPO, OPT_VERBOSE, OPT_BIND, OPT_HOSTIP, OPT_IDLE, OPT_AUTHTTL, OPT_INSECURE,
    OPT_HELP, OPT_VERSION, OPT_GC_INTERVAL, OPT_GC_EXPIRE, OPT_REGISTRY_ALLOW, OPT_MAX_CONNS,
    OPT_HEADER_TIMEOUT,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"port", required_argument, NULL, OPT_PORT},
    {"registry", required_argument, NULL, OPT_REGISTRY},
    {"ratelimit", required_argument, NULL, OPT_RATELIMIT},
    {"node", required_argument, NULL, OPT_NODE},
    {"workHome", required_argument, NULL, OPT_WORKHOME},
    {"localrepo", required_argument, NULL, OPT_LOCALREPO},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"bind", required_argument, NULL, OPT_BIND},
    {"hostIp", required_argument, NULL, OPT_HOSTIP},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"auth-ttl", required_argument, NULL, OPT_AUTHTTL},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"gc-interval", required_argument, NULL, OPT_GC_INTERVAL},
    {"gc-expire", required_argument, NULL, OPT_GC_EXPIRE},
    {"registry-allow", required_argument, NULL, OPT_REGISTRY_ALLOW},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

void dfd_config_usage(FILE *f)
{
    fputs("Usage: dfdaemon [flags]\n"
          "  --config FILE        YAML config (default " DFD_DEFAULT_CONFIG ")\n"
          "  --port N             listen port (default 65001)\n"
          "  --bind ADDR          listen address (default 127.0.0.1)\n"
          "  --registry URL       default upstream registry (default " DFD_DEFAULT_REGISTRY ");\n"
          "                       overrides registry_mirror.remote\n"
          "  --ratelimit RATE     download rate limit (default 20M)\n"
          "  --node LIST          supernodes host:port[,host:port...]\n"
          "  --workHome DIR       work home (default ~/.small-dragonfly)\n"
          "  --localrepo DIR      blob store (default <workHome>/dfdaemon/data)\n"
          "  --registry-allow L   more upstreams clients may choose (ns=, X-Dragonfly-Registry)\n"
          "                       and proxy mode may reach: comma-separated URL prefixes\n"
          "                       http(s)://host[:port][/path] or host[:port], *.domain;\n"
          "                       repeatable; beats registry_allow (default: none)\n"
          "  --insecure           skip TLS verification of the default registry\n"
          "  --idle-timeout DUR   idle client connection timeout (default 30s)\n"
          "  --max-connections N  concurrent client connections; more evict unfinished requests\n"
          "                       or are closed (default: from the open-file limit, raised to\n"
          "                       its hard limit at start)\n"
          "  --header-timeout DUR a client must send a whole request within this (default 10s)\n"
          "  --auth-ttl DUR       authorization cache TTL (default 60s)\n"
          "  --gc-interval DUR    blob store clean-up period (default 2m; 0 = never)\n"
          "  --gc-expire DUR      delete blobs not accessed for this long (default 1h)\n"
          "  --hostIp IP          accepted for compatibility (not used)\n"
          "  --verbose            debug logging, also on stderr\n"
          "  --help, --version\n",
          f);
}

int dfd_config_parse_args(struct dfd_config *c, int argc, char **argv, char err[DF_ERR_LEN])
{
    int opt;
    optind = 0; /* full re-initialisation (GNU), also of an earlier getopt scan */
    opterr = 0;
    if (argc > 1 && strcmp(argv[1], "version") == 0)
        return DFD_CONFIG_VERSION;
    while ((opt = getopt_long(argc, argv, ":", long_opts, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case OPT_CONFIG:
            set_str(&c->config_path, optarg);
            c->is_config_explicit = 1;
            break;
        case OPT_PORT:
            rc = set_port(c, optarg, "--port", err);
            c->is_port_flag = 1;
            break;
        case OPT_REGISTRY:
            rc = set_registry(c, optarg, "--registry", err);
            c->is_registry_flag = 1;
            break;
        case OPT_RATELIMIT:
            rc = set_rate(c, optarg, "--ratelimit", err);
            c->is_ratelimit_flag = 1;
            break;
        case OPT_NODE:
            set_str(&c->node, optarg);
            c->is_node_flag = 1;
            c->node_source = "--node";
            break;
        case OPT_WORKHOME:
            set_str(&c->work_home, optarg);
            c->is_work_home_flag = 1;
            break;
        case OPT_LOCALREPO:
            set_str(&c->localrepo, optarg);
            c->is_localrepo_flag = 1;
            break;
        case OPT_VERBOSE:
            c->is_verbose = 1;
            c->is_verbose_flag = 1;
            break;
        case OPT_BIND:
            set_str(&c->bind_addr, optarg);
            break;
        case OPT_HOSTIP:
            break;
        case OPT_MAX_CONNS:
            if (df_parse_int(optarg, &c->max_conns) < 0 || c->max_conns < 1) {
                snprintf(err, DF_ERR_LEN, "--max-connections: invalid number '%s'", optarg);
                rc = -EINVAL;
            }
            break;
        case OPT_HEADER_TIMEOUT: {
            int64_t ms;
            if (df_parse_duration_ms(optarg, &ms) < 0 || ms <= 0 || ms > 3600000) {
                snprintf(err, DF_ERR_LEN, "--header-timeout: invalid duration '%s' (e.g. 10s)",
                         optarg);
                rc = -EINVAL;
            } else {
                c->header_timeout_ms = ms;
            }
            break;
        }
        case OPT_IDLE:
        case OPT_AUTHTTL: {
            int64_t ms;
            if (df_parse_duration_ms(optarg, &ms) < 0 || ms <= 0) {
                snprintf(err, DF_ERR_LEN, "%s: invalid duration '%s' (e.g. 30s)",
                         opt == OPT_IDLE ? "--idle-timeout" : "--auth-ttl", optarg);
                rc = -EINVAL;
            } else if (opt == OPT_IDLE) {
                c->idle_timeout_ms = ms;
            } else {
                c->auth_ttl_ms = ms;
            }
            break;
        }
        case OPT_INSECURE:
            c->is_insecure = 1;
            break;
        case OPT_GC_INTERVAL:
            rc = set_gc(c, 1, optarg, "--gc-interval", err);
            c->is_gc_interval_flag = 1;
            break;
        case OPT_GC_EXPIRE:
            rc = set_gc(c, 0, optarg, "--gc-expire", err);
            c->is_gc_expire_flag = 1;
            break;
        case OPT_REGISTRY_ALLOW: {
            c->is_registry_allow_flag = 1;
            char *list = df_xstrdup(optarg), *save = NULL;
            for (char *e = strtok_r(list, ",", &save); e && rc == 0;
                 e = strtok_r(NULL, ",", &save))
                rc = add_allow(&c->registry_allow, &c->n_registry_allow, e, "--registry-allow",
                               err);
            free(list);
            break;
        }
        case OPT_HELP:
            return DFD_CONFIG_HELP;
        case OPT_VERSION:
            return DFD_CONFIG_VERSION;
        case ':':
            snprintf(err, DF_ERR_LEN, "option %s needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            snprintf(err, DF_ERR_LEN, "unknown option %s", argv[optind - 1]);
            return -EINVAL;
        }
        if (rc < 0)
            return rc;
    }
    if (optind < argc) {
        snprintf(err, DF_ERR_LEN, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    return DFD_CONFIG_RUN;
}

/* ---- YAML --------------------------------------------------------------------------------- */

struct yctx {
    yaml_document_t *doc;
    const char *name;
    char *err;
    char **ignored;
};

static int yfail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int yfail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[DF_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (snprintf(y->err, DF_ERR_LEN, "%s:%lu: %s", y->name,
                 n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg) < 0)
        y->err[0] = '\0'; /* truncation of an over-long message is fine */
    return -EINVAL;
}

/* Scalar text of n, or NULL (with err) when n is not a scalar. */
static const char *yscalar(struct yctx *y, const yaml_node_t *n, const char *key, int *rc)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        *rc = yfail(y, n, "%s: expected a single value", key);
        return NULL;
    }
    if (memchr(n->data.scalar.value, '\0', n->data.scalar.length)) {
        *rc = yfail(y, n, "%s: NUL byte in value", key);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static int ybool(struct yctx *y, const yaml_node_t *n, const char *key, int *dst)
{
    int rc = 0;
    const char *v = yscalar(y, n, key, &rc);
    if (!v)
        return rc;
    char e[DF_ERR_LEN];
    if (set_bool(dst, v, key, e) < 0)
        return yfail(y, n, "%s", e);
    return 0;
}

static void add_ignored(struct yctx *y, const char *key)
{
    char *old = *y->ignored;
    *y->ignored = old ? df_xasprintf("%s,%s", old, key) : df_xstrdup(key);
    free(old);
}

static int parse_certs(struct yctx *y, struct dfd_config *c, yaml_node_t *n)
{
    int rc = 0;
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = yscalar(y, n, "registry_mirror.certs", &rc);
        if (!v)
            return rc;
        if (!*v)
            return 0;
        if (c->n_certs >= DFD_MAX_CERTS)
            return yfail(y, n, "registry_mirror.certs: more than %d files", DFD_MAX_CERTS);
        c->certs[c->n_certs++] = df_xstrdup(v);
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return yfail(y, n, "registry_mirror.certs: expected a list of files");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(y->doc, *it);
        const char *v = yscalar(y, e, "registry_mirror.certs[]", &rc);
        if (!v)
            return rc;
        if (c->n_certs >= DFD_MAX_CERTS)
            return yfail(y, e, "registry_mirror.certs: more than %d files", DFD_MAX_CERTS);
        c->certs[c->n_certs++] = df_xstrdup(v);
    }
    return 0;
}

static int parse_mirror(struct yctx *y, struct dfd_config *c, yaml_node_t *n)
{
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
        return 0; /* "registry_mirror:" with nothing under it */
    if (n->type != YAML_MAPPING_NODE)
        return yfail(y, n, "registry_mirror: expected a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        int rc = 0;
        const char *key = yscalar(y, k, "registry_mirror key", &rc);
        if (!key)
            return rc;
        if (!strcmp(key, "remote")) {
            const char *s = yscalar(y, v, "registry_mirror.remote", &rc);
            if (!s)
                return rc;
            char *norm = dfd_config_norm_registry(s);
            if (!norm)
                return yfail(y, v, "registry_mirror.remote: invalid registry URL '%s' (want "
                             "http(s)://host[:port])", s);
            free(c->mirror_remote);
            c->mirror_remote = norm;
            if (!c->is_registry_flag)
                set_str(&c->registry, norm);
        } else if (!strcmp(key, "insecure")) {
            int b = 0;
            if ((rc = ybool(y, v, "registry_mirror.insecure", &b)) < 0)
                return rc;
            c->is_insecure = c->is_insecure || b;
        } else if (!strcmp(key, "direct")) {
            if ((rc = ybool(y, v, "registry_mirror.direct", &c->is_mirror_direct)) < 0)
                return rc;
        } else if (!strcmp(key, "certs")) {
            if ((rc = parse_certs(y, c, v)) < 0)
                return rc;
        } else {
            return yfail(y, k, "unknown key registry_mirror.%s (known: remote, insecure, certs, direct)",
                         key);
        }
    }
    return 0;
}

static int parse_rule(struct yctx *y, struct dfd_proxy_rule *r, yaml_node_t *n, size_t idx)
{
    char what[64];
    if (n->type != YAML_MAPPING_NODE)
        return yfail(y, n, "proxies[%zu]: expected a mapping with regx", idx);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        int rc = 0;
        const char *key = yscalar(y, k, "proxies key", &rc);
        if (!key)
            return rc;
        snprintf(what, sizeof(what), "proxies[%zu].%s", idx, key);
        if (!strcmp(key, "regx")) {
            const char *s = yscalar(y, v, what, &rc);
            if (!s)
                return rc;
            regex_t re;
            int erc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
            if (erc != 0) {
                char msg[128];
                regerror(erc, &re, msg, sizeof(msg));
                return yfail(y, v, "%s: invalid regex '%s': %s", what, s, msg);
            }
            regfree(&re);
            set_str(&r->regx, s);
        } else if (!strcmp(key, "use_https")) {
            if ((rc = ybool(y, v, what, &r->use_https)) < 0)
                return rc;
        } else if (!strcmp(key, "direct")) {
            if ((rc = ybool(y, v, what, &r->direct)) < 0)
                return rc;
        } else if (!strcmp(key, "redirect")) {
            const char *s = yscalar(y, v, what, &rc);
            if (!s)
                return rc;
            for (const char *q = s; *q; q++)
                if ((unsigned char)*q <= ' ' || strchr("/?#@\\", *q))
                    return yfail(y, v, "%s: want host[:port], got '%s'", what, s);
            if (*s)
                set_str(&r->redirect, s);
        } else {
            return yfail(y, k, "unknown key %s (known: regx, use_https, direct, redirect)", what);
        }
    }
    if (!r->regx)
        return yfail(y, n, "proxies[%zu]: regx is required", idx);
    return 0;
}

static int parse_proxies(struct yctx *y, struct dfd_config *c, yaml_node_t *n)
{
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
        return 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return yfail(y, n, "proxies: expected a list of {regx, use_https, direct, redirect}");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt > DFD_MAX_PROXIES)
        return yfail(y, n, "proxies: %zu rules, at most %d", cnt, DFD_MAX_PROXIES);
    for (size_t i = 0; i < c->n_proxies; i++) {
        free(c->proxies[i].regx);
        free(c->proxies[i].redirect);
    }
    free(c->proxies);
    c->proxies = df_xcalloc(cnt ? cnt : 1, sizeof(*c->proxies));
    c->n_proxies = 0;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *e = yaml_document_get_node(y->doc, n->data.sequence.items.start[i]);
        c->n_proxies = i + 1; /* so cleanup frees a half-filled rule */
        int rc = parse_rule(y, &c->proxies[i], e, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_supernodes(struct yctx *y, struct dfd_config *c, yaml_node_t *n)
{
    int rc = 0;
    if (c->is_node_flag)
        return 0;
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = yscalar(y, n, "supernodes", &rc);
        if (!v)
            return rc;
        set_str(&c->node, *v ? v : NULL);
        c->node_source = c->node ? "the config file" : NULL;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return yfail(y, n, "supernodes: expected a list of host:port");
    char *acc = NULL;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(y->doc, *it);
        const char *v = yscalar(y, e, "supernodes[]", &rc);
        if (!v) {
            free(acc);
            return rc;
        }
        char *next = acc ? df_xasprintf("%s,%s", acc, v) : df_xstrdup(v);
        free(acc);
        acc = next;
    }
    free(c->node);
    c->node = acc;
    c->node_source = acc ? "the config file" : NULL;
    return 0;
}

/* registry_allow: a list of entries (or one scalar); --registry-allow beats it. */
static int parse_registry_allow(struct yctx *y, struct dfd_config *c, yaml_node_t *n)
{
    int rc = 0;
    char e[DF_ERR_LEN];
    if (c->is_registry_allow_flag)
        return 0;
    clear_list(&c->registry_allow, &c->n_registry_allow);
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = yscalar(y, n, "registry_allow", &rc);
        if (!v)
            return rc;
        if (*v && add_allow(&c->registry_allow, &c->n_registry_allow, v, "registry_allow", e) < 0)
            return yfail(y, n, "%s", e);
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return yfail(y, n, "registry_allow: expected a list of URL prefixes or host patterns");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *el = yaml_document_get_node(y->doc, *it);
        const char *v = yscalar(y, el, "registry_allow[]", &rc);
        if (!v)
            return rc;
        if (add_allow(&c->registry_allow, &c->n_registry_allow, v, "registry_allow", e) < 0)
            return yfail(y, el, "%s", e);
    }
    return 0;
}

/* hijack_https (Dragonfly 1.0: cert, key, hosts[{regx, insecure, certs}]). TLS is not
 * intercepted here, but hosts[].regx names the CONNECT targets ("host:port") that may be
 * tunnelled. Anything else under hijack_https is accepted and reported as unused. */
static int parse_hijack(struct yctx *y, struct dfd_config *c, yaml_node_t *n)
{
    int is_unused = 0;
    clear_list(&c->connect_hosts, &c->n_connect_hosts);
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
        return 0;
    if (n->type != YAML_MAPPING_NODE) {
        add_ignored(y, "hijack_https");
        return 0;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        int rc = 0;
        const char *key = yscalar(y, k, "hijack_https key", &rc);
        if (!key)
            return rc;
        if (strcmp(key, "hosts") != 0) {
            is_unused = 1;
            continue;
        }
        if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)
            continue;
        if (v->type != YAML_SEQUENCE_NODE)
            return yfail(y, v, "hijack_https.hosts: expected a list of {regx, insecure, certs}");
        size_t idx = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++, idx++) {
            yaml_node_t *h = yaml_document_get_node(y->doc, *it);
            if (!h || h->type != YAML_MAPPING_NODE)
                return yfail(y, h, "hijack_https.hosts[%zu]: expected a mapping with regx", idx);
            const char *regx = NULL;
            for (yaml_node_pair_t *q = h->data.mapping.pairs.start; q < h->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *hk = yaml_document_get_node(y->doc, q->key);
                const char *hkey = yscalar(y, hk, "hijack_https.hosts key", &rc);
                if (!hkey)
                    return rc;
                if (strcmp(hkey, "regx") != 0) {
                    is_unused = 1; /* insecure, certs: for TLS interception */
                    continue;
                }
                yaml_node_t *hv = yaml_document_get_node(y->doc, q->value);
                char what[48];
                snprintf(what, sizeof(what), "hijack_https.hosts[%zu].regx", idx);
                if (!(regx = yscalar(y, hv, what, &rc)))
                    return rc;
                regex_t re;
                int erc = regcomp(&re, regx, REG_EXTENDED | REG_NOSUB);
                if (erc != 0) {
                    char msg[128];
                    regerror(erc, &re, msg, sizeof(msg));
                    return yfail(y, hv, "%s: invalid regex '%s': %s", what, regx, msg);
                }
                regfree(&re);
            }
            if (!regx)
                return yfail(y, h, "hijack_https.hosts[%zu]: regx is required", idx);
            if (c->n_connect_hosts >= DFD_MAX_ALLOW)
                return yfail(y, h, "hijack_https.hosts: more than %d entries", DFD_MAX_ALLOW);
            c->connect_hosts = df_xrealloc(c->connect_hosts,
                                           (c->n_connect_hosts + 1) * sizeof(char *));
            c->connect_hosts[c->n_connect_hosts++] = df_xstrdup(regx);
        }
    }
    if (is_unused)
        add_ignored(y, "hijack_https");
    return 0;
}

/* Dragonfly 1.0 keys that this daemon accepts without using (listed in a warning). */
static const char *const ignored_keys[] = {
    "dfget_flags", "dfpath", "maxprocs", "localIP", "peerPort", "streamMode",
    "logConfig", "hostIp", "certpem", "keypem",
};

static int parse_top(struct yctx *y, struct dfd_config *c, yaml_node_t *root)
{
    if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)
        return 0; /* empty document */
    if (root->type != YAML_MAPPING_NODE)
        return yfail(y, root, "top level: expected a mapping of keys");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        int rc = 0;
        const char *key = yscalar(y, k, "key", &rc);
        const char *s;
        char e[DF_ERR_LEN];
        if (!key)
            return rc;
        if (!strcmp(key, "registry_mirror")) {
            rc = parse_mirror(y, c, v);
        } else if (!strcmp(key, "proxies")) {
            rc = parse_proxies(y, c, v);
        } else if (!strcmp(key, "supernodes")) {
            rc = parse_supernodes(y, c, v);
        } else if (!strcmp(key, "registry_allow")) {
            rc = parse_registry_allow(y, c, v);
        } else if (!strcmp(key, "hijack_https")) {
            rc = parse_hijack(y, c, v);
        } else if (!strcmp(key, "port") || !strcmp(key, "ratelimit") ||
                   !strcmp(key, "localrepo") || !strcmp(key, "workHome") ||
                   !strcmp(key, "gc_interval") || !strcmp(key, "gc_expire")) {
            if (!(s = yscalar(y, v, key, &rc)))
                return rc;
            if (!strcmp(key, "port") && !c->is_port_flag)
                rc = set_port(c, s, key, e);
            else if (!strcmp(key, "ratelimit") && !c->is_ratelimit_flag)
                rc = set_rate(c, s, key, e);
            else if (!strcmp(key, "localrepo") && !c->is_localrepo_flag)
                set_str(&c->localrepo, *s ? s : NULL);
            else if (!strcmp(key, "workHome") && !c->is_work_home_flag && *s)
                set_str(&c->work_home, s);
            else if (!strcmp(key, "gc_interval") && !c->is_gc_interval_flag)
                rc = set_gc(c, 1, s, key, e);
            else if (!strcmp(key, "gc_expire") && !c->is_gc_expire_flag)
                rc = set_gc(c, 0, s, key, e);
            if (rc < 0)
                return yfail(y, v, "%s", e);
        } else if (!strcmp(key, "verbose")) {
            int b = 0;
            if ((rc = ybool(y, v, key, &b)) < 0)
                return rc;
            if (!c->is_verbose_flag)
                c->is_verbose = b;
        } else {
            size_t i;
            for (i = 0; i < DF_ARRAY_LEN(ignored_keys); i++)
                if (!strcmp(key, ignored_keys[i]))
                    break;
            if (i == DF_ARRAY_LEN(ignored_keys))
                return yfail(y, k, "unknown key '%s'", key);
            add_ignored(y, key);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dfd_config_parse_yaml(struct dfd_config *c, const char *name, const char *text, size_t len,
                          char **ignored, char err[DF_ERR_LEN])
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = 0, has_doc = 0;
    char *dummy = NULL;
    struct yctx y = {.doc = &doc, .name = name ? name : "config", .err = err,
                     .ignored = ignored ? ignored : &dummy};
    if (ignored)
        *ignored = NULL;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, DF_ERR_LEN, "%s: cannot initialise the YAML parser", y.name);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, DF_ERR_LEN, "%s:%lu: YAML syntax error: %s", y.name,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown");
        rc = -EINVAL;
        goto out;
    }
    has_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root)
        rc = parse_top(&y, c, root);
out:
    if (has_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(dummy);
    return rc;
}

int dfd_config_load_file(struct dfd_config *c, char **ignored, char err[DF_ERR_LEN])
{
    if (ignored)
        *ignored = NULL;
    FILE *f = fopen(c->config_path, "rb");
    if (!f) {
        if (errno == ENOENT && !c->is_config_explicit)
            return 0;
        snprintf(err, DF_ERR_LEN, "cannot read config file %s: %s", c->config_path,
                 strerror(errno));
        return -EINVAL;
    }
    char *buf = df_xmalloc(DFD_CONFIG_MAX_BYTES + 1);
    size_t n = fread(buf, 1, DFD_CONFIG_MAX_BYTES + 1, f);
    int is_err = ferror(f);
    fclose(f);
    int rc;
    if (is_err) {
        snprintf(err, DF_ERR_LEN, "cannot read config file %s", c->config_path);
        rc = -EIO;
    } else if (n > DFD_CONFIG_MAX_BYTES) {
        snprintf(err, DF_ERR_LEN, "config file %s is larger than %u bytes", c->config_path,
                 DFD_CONFIG_MAX_BYTES);
        rc = -EINVAL;
    } else {
        rc = dfd_config_parse_yaml(c, c->config_path, buf, n, ignored, err);
    }
    free(buf);
    return rc;
}

int dfd_config_node_from_ini(struct dfd_config *c, const char *path, char err[DF_ERR_LEN])
{
    if (c->node)
        return 0;
    if (!path) {
        path = getenv(DFGET_CONF_ENV);
        if (!path || !*path)
            path = DFGET_DEFAULT_CONF;
    }
    struct dfget_config dc;
    dfget_config_init(&dc);
    char why[DF_ERR_LEN] = "";
    int rc = dfget_config_load_file(&dc, path, why);
    if (rc == -EINVAL) {
        snprintf(err, DF_ERR_LEN, "%s", why);
        goto out;
    }
    if (rc < 0 || !dc.is_nodes_set || dc.nnodes == 0) {
        rc = -ENOENT;
        goto out;
    }
    size_t cap = 1, len = 0;
    for (size_t i = 0; i < dc.nnodes; i++)
        cap += strlen(dc.nodes[i].host) + 24;
    char *list = df_xmalloc(cap);
    list[0] = '\0';
    for (size_t i = 0; i < dc.nnodes; i++) {
        char hp[300];
        dfget_config_hostport(dc.nodes[i].host, dc.nodes[i].port, hp, sizeof(hp));
        len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? "," : "", hp);
        if (dc.nodes[i].weight > 1)
            len += (size_t)snprintf(list + len, cap - len, "=%u", (unsigned)dc.nodes[i].weight);
    }
    set_str(&c->node, list);
    free(list);
    c->node_source = path;
    rc = 0;
out:
    dfget_config_cleanup(&dc);
    return rc;
}

int dfd_config_finish(struct dfd_config *c, char err[DF_ERR_LEN])
{
    if (!c->work_home || c->work_home[0] != '/') {
        snprintf(err, DF_ERR_LEN, "workHome must be an absolute path, got '%s'",
                 c->work_home ? c->work_home : "");
        return -EINVAL;
    }
    if (!c->localrepo)
        c->localrepo = df_xasprintf("%s/dfdaemon/data", c->work_home);
    if (c->localrepo[0] != '/') {
        snprintf(err, DF_ERR_LEN, "localrepo must be an absolute path, got '%s'", c->localrepo);
        return -EINVAL;
    }
    if (c->node) {
        for (const char *p = c->node; *p; p++)
            if ((unsigned char)*p <= ' ') {
                snprintf(err, DF_ERR_LEN, "--node: blank in supernode list '%s'", c->node);
                return -EINVAL;
            }
    }
    return 0;
}

/* Appends the file at path to out (opened by the caller). */
static int append_ca(FILE *out, const char *path, char err[DF_ERR_LEN])
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, DF_ERR_LEN, "registry_mirror.certs: cannot read %s: %s", path, strerror(errno));
        return -EINVAL;
    }
    char buf[16384];
    size_t n, total = 0;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        total += n;
        if (total > DFD_CONFIG_MAX_BYTES) {
            snprintf(err, DF_ERR_LEN, "registry_mirror.certs: %s is larger than %u bytes", path,
                     DFD_CONFIG_MAX_BYTES);
            rc = -EINVAL;
            break;
        }
        if (out && fwrite(buf, 1, n, out) != n) {
            snprintf(err, DF_ERR_LEN, "cannot write the CA bundle: %s", strerror(errno));
            rc = -EIO;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, DF_ERR_LEN, "registry_mirror.certs: cannot read %s", path);
        rc = -EIO;
    }
    fclose(f);
    if (rc == 0 && out && fputc('\n', out) == EOF) { /* a file without a final newline */
        snprintf(err, DF_ERR_LEN, "cannot write the CA bundle: %s", strerror(errno));
        rc = -EIO;
    }
    return rc;
}

int dfd_config_write_ca_bundle(struct dfd_config *c, char err[DF_ERR_LEN])
{
    free(c->ca_file);
    c->ca_file = NULL;
    if (c->n_certs == 0)
        return 0;
    if (c->n_certs == 1) {
        int rc = append_ca(NULL, c->certs[0], err); /* readable now, one clear line if not */
        if (rc == 0)
            c->ca_file = df_xstrdup(c->certs[0]);
        return rc;
    }
    char *dir = df_xasprintf("%s/dfdaemon", c->work_home);
    char *path = df_xasprintf("%s/registry-ca.pem", dir);
    char *tmp = df_xasprintf("%s.tmp", path);
    int rc = df_mkdir_p(dir, 0755);
    FILE *out = NULL;
    if (rc < 0) {
        snprintf(err, DF_ERR_LEN, "cannot create %s: %s", dir, df_strerror(rc));
        goto out;
    }
    out = fopen(tmp, "wb");
    if (!out) {
        rc = -errno;
        snprintf(err, DF_ERR_LEN, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < c->n_certs && rc == 0; i++)
        rc = append_ca(out, c->certs[i], err);
    if (fclose(out) != 0 && rc == 0) {
        rc = -EIO;
        snprintf(err, DF_ERR_LEN, "cannot write %s: %s", tmp, strerror(errno));
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        snprintf(err, DF_ERR_LEN, "cannot rename %s: %s", tmp, strerror(errno));
    }
    if (rc == 0) {
        c->ca_file = path;
        path = NULL;
    } else {
        unlink(tmp);
    }
out:
    free(dir);
    free(path);
    free(tmp);
    return rc;
}
