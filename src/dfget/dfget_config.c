/* SPDX-License-Identifier: Apache-2.0 */
/* dfget flags and config file: getopt_long over Dragonfly 1.0's flag set (spec §7.1) and the
 * INI file /etc/dragonfly.conf read with inih. Validation happens here so main() only ever
 * sees a consistent configuration; every problem becomes one line in err. */
#include "dfget_config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "df_util.h"

enum {
    OPT_MINRATE = 256,
    OPT_TOTALLIMIT,
    OPT_HEADER,
    OPT_NOTBS,
    OPT_HOME,
    OPT_IP,
    OPT_PORT,
    OPT_CALLSYSTEM,
    OPT_DFDAEMON,
    OPT_INSECURE,
    OPT_CACERTS,
    OPT_CLIENTQUEUE,
    OPT_EXPIRETIME,
    OPT_ALIVETIME,
    OPT_VERBOSE,
    OPT_CONSOLE,
};

static const struct option long_opts[] = {
    {"url", required_argument, NULL, 'u'},
    {"output", required_argument, NULL, 'o'},
    {"md5", required_argument, NULL, 'm'},
    {"identifier", required_argument, NULL, 'i'},
    {"locallimit", required_argument, NULL, 's'},
    {"minrate", required_argument, NULL, OPT_MINRATE},
    {"totallimit", required_argument, NULL, OPT_TOTALLIMIT},
    {"timeout", required_argument, NULL, 'e'},
    {"exceed", required_argument, NULL, 'e'}, /* deprecated 0.3 alias */
    {"pattern", required_argument, NULL, 'p'},
    {"filter", required_argument, NULL, 'f'},
    {"header", required_argument, NULL, OPT_HEADER},
    {"node", required_argument, NULL, 'n'},
    {"notbs", no_argument, NULL, OPT_NOTBS},
    {"home", required_argument, NULL, OPT_HOME},
    {"ip", required_argument, NULL, OPT_IP},
    {"port", required_argument, NULL, OPT_PORT},
    {"callsystem", required_argument, NULL, OPT_CALLSYSTEM},
    {"dfdaemon", no_argument, NULL, OPT_DFDAEMON},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"cacerts", required_argument, NULL, OPT_CACERTS},
    {"clientqueue", required_argument, NULL, OPT_CLIENTQUEUE},
    {"expiretime", required_argument, NULL, OPT_EXPIRETIME},
    {"alivetime", required_argument, NULL, OPT_ALIVETIME},
    {"showbar", no_argument, NULL, 'b'},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"console", no_argument, NULL, OPT_CONSOLE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: dfget -u URL [-o FILE] [flags]\n"
    "       dfget version\n"
    "Download a file through Dragonfly supernodes (wire-compatible with Dragonfly 1.x).\n"
    "\n"
    "  -u, --url URL            http:// or https:// URL to download (required)\n"
    "  -o, --output FILE        destination (default: last URL path segment in the CWD)\n"
    "  -m, --md5 HEX            expected MD5 of the file (also part of the task id)\n"
    "  -i, --identifier ID      extra task id discriminator (ignored when --md5 is given)\n"
    "  -s, --locallimit RATE    download rate cap, e.g. 20M (default 0 = unlimited; Dragonfly's\n"
    "                           20MB default would cap modern links, so we do not apply it)\n"
    "      --minrate RATE       minimum expected rate, for timeouts (default 64K)\n"
    "      --totallimit RATE    host-wide upload cap for the uploader (default 0 = none)\n"
    "  -e, --timeout DUR        overall timeout, e.g. 90s, 10m (default: length/minrate + 10s)\n"
    "  -p, --pattern P          p2p | cdn | source (default p2p)\n"
    "  -f, --filter NAMES       '&'-separated query parameters ignored for the task id\n"
    "      --header 'K: V'      request header for the origin (repeatable)\n"
    "  -n, --node LIST          supernodes host[:port][=weight],... ([::1]:8002 for IPv6;\n"
    "                           default: [node] address in /etc/dragonfly.conf, else\n"
    "                           127.0.0.1:8002)\n"
    "      --notbs              never download from the origin directly\n"
    "      --home DIR           work home (default ~/.small-dragonfly)\n"
    "      --ip IP              IP to register (default: the address that reaches the supernode)\n"
    "      --port PORT          uploader port to register (default 0: none)\n"
    "      --callsystem NAME    caller name for logs and metrics\n"
    "      --dfdaemon           the request comes from dfdaemon\n"
    "      --insecure           do not verify TLS certificates of the origin\n"
    "      --cacerts FILE       CA certificate (PEM) for the origin, besides the system\n"
    "                           store (repeatable; sent to the supernode too)\n"
    "      --clientqueue N      writer queue size in pieces (default 6)\n"
    "      --expiretime DUR     uploader keeps finished files this long (default 3m0s)\n"
    "      --alivetime DUR      uploader idle lifetime (default 5m0s)\n"
    "  -b, --showbar            progress bar on stderr (when it is a terminal)\n"
    "      --verbose            debug logging\n"
    "      --console            mirror the log to stderr\n"
    "  -h, --help               this text\n"
    "Exit status: 0 ok, 1 usage error, 77 preparation failed, 79 origin needs auth,\n"
    "80 download failed (nothing is left at --output).\n";

const char *dfget_config_usage(void) { return usage_text; }

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = df_xstrdup(v);
}

/* Optional string flags: an empty value means "not set". */
static void set_opt_str(char **dst, const char *v)
{
    free(*dst);
    *dst = *v ? df_xstrdup(v) : NULL;
}

static void push_str(char ***arr, size_t *n, const char *v)
{
    *arr = df_xrealloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = df_xstrdup(v);
}

static void free_strs(char **arr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(arr[i]);
    free(arr);
}

void dfget_config_init(struct dfget_config *c)
{
    memset(c, 0, sizeof(*c));
    c->cmd = DFGET_CMD_DOWNLOAD;
    c->min_rate_bps = 64 * 1024;
    c->pattern = DFGET_PATTERN_P2P;
    c->client_queue = 6;
    c->expire_ms = 3 * 60 * 1000;
    c->alive_ms = 5 * 60 * 1000;
    const char *home = getenv("HOME");
    c->home = df_path_join(home && *home ? home : "/tmp", ".small-dragonfly");
}

void dfget_config_free_nodes(struct dfget_node *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(nodes[i].host);
    free(nodes);
}

void dfget_config_cleanup(struct dfget_config *c)
{
    if (!c)
        return;
    free(c->url);
    free(c->output);
    free(c->md5);
    free(c->identifier);
    free(c->callsystem);
    free(c->filter);
    free_strs(c->headers, c->nheaders);
    dfget_config_free_nodes(c->nodes, c->nnodes);
    free_strs(c->cacerts, c->ncacerts);
    free(c->home);
    free(c->ip);
    free(c->conf_path);
    memset(c, 0, sizeof(*c));
}

const char *dfget_config_hostport(const char *host, unsigned port, char *buf, size_t len)
{
    if (strchr(host, ':'))
        snprintf(buf, len, "[%s]:%u", host, port);
    else
        snprintf(buf, len, "%s:%u", host, port);
    return buf;
}

/* ---- node lists ------------------------------------------------------------------------- */

static int parse_port(const char *s, size_t n, uint16_t *out)
{
    char tmp[16];
    int v;
    if (n == 0 || n >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (df_parse_int(tmp, &v) < 0 || v < 1 || v > 65535)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

/* One trimmed entry "host[:port][=weight]". */
static int parse_node(const char *s, size_t n, struct dfget_node *out, char err[DF_ERR_LEN])
{
    const char *eq = memchr(s, '=', n);
    size_t hp_len = eq ? (size_t)(eq - s) : n;
    out->host = NULL;
    out->port = DFGET_DEFAULT_NODE_PORT;
    out->weight = 1;
    if (eq) {
        char w[16];
        size_t wl = n - hp_len - 1;
        int v;
        if (wl == 0 || wl >= sizeof(w))
            goto bad;
        memcpy(w, eq + 1, wl);
        w[wl] = '\0';
        if (df_parse_int(w, &v) < 0 || v < 1 || v > 1000)
            goto bad;
        out->weight = (uint32_t)v;
    }
    const char *host = s;
    size_t host_len = hp_len;
    if (hp_len > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', hp_len);
        if (!rb || rb == s + 1)
            goto bad;
        host = s + 1;
        host_len = (size_t)(rb - host);
        const char *rest = rb + 1;
        size_t rest_len = hp_len - (size_t)(rest - s);
        if (rest_len > 0) {
            if (rest[0] != ':' || parse_port(rest + 1, rest_len - 1, &out->port) < 0)
                goto bad;
        }
        if (!memchr(host, ':', host_len))
            goto bad; /* brackets are for IPv6 only */
    } else {
        const char *colon = memchr(s, ':', hp_len);
        const char *colon2 = colon ? memchr(colon + 1, ':', hp_len - (size_t)(colon + 1 - s)) : NULL;
        if (colon && !colon2) { /* host:port; several colons = bare IPv6 without port */
            host_len = (size_t)(colon - s);
            if (parse_port(colon + 1, hp_len - host_len - 1, &out->port) < 0)
                goto bad;
        }
    }
    if (host_len == 0 || host_len > 255)
        goto bad;
    for (size_t i = 0; i < host_len; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (!isalnum(ch) && ch != '.' && ch != '-' && ch != '_' && ch != ':' && ch != '%')
            goto bad;
    }
    out->host = df_xstrndup(host, host_len);
    return 0;
bad:
    snprintf(err, DF_ERR_LEN, "invalid node '%.*s' (want host[:port][=weight])", (int)DF_MIN(n, 200), s);
    return -EINVAL;
}

int dfget_config_parse_nodes(const char *list, struct dfget_node **nodes, size_t *n,
                             char err[DF_ERR_LEN])
{
    struct dfget_node *arr = NULL;
    size_t cnt = 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        while (len > 0 && isspace((unsigned char)*s)) {
            s++;
            len--;
        }
        while (len > 0 && isspace((unsigned char)s[len - 1]))
            len--;
        if (len > 0) {
            struct dfget_node nd;
            if (parse_node(s, len, &nd, err) < 0) {
                dfget_config_free_nodes(arr, cnt);
                return -EINVAL;
            }
            arr = df_xrealloc(arr, (cnt + 1) * sizeof(*arr));
            arr[cnt++] = nd;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    *nodes = arr;
    *n = cnt;
    return 0;
}

/* ---- config file ------------------------------------------------------------------------ */

struct ini_ctx {
    struct dfget_config *c;
    char *err;
    int rc;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;
    if (strcasecmp(section, "node") != 0 || strcasecmp(name, "address") != 0)
        return 1;
    struct dfget_node *nodes;
    size_t n;
    if (dfget_config_parse_nodes(value, &nodes, &n, ctx->err) < 0) {
        ctx->rc = -EINVAL;
        return 0;
    }
    dfget_config_free_nodes(ctx->c->nodes, ctx->c->nnodes);
    ctx->c->nodes = nodes;
    ctx->c->nnodes = n;
    ctx->c->is_nodes_set = 1;
    return 1;
}

int dfget_config_load_file(struct dfget_config *c, const char *path, char err[DF_ERR_LEN])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return -ENOENT;
        snprintf(err, DF_ERR_LEN, "cannot read config file %s: %s", path, strerror(errno));
        return -EINVAL;
    }
    struct ini_ctx ctx = {c, err, 0};
    int line = ini_parse_file(f, on_ini, &ctx);
    fclose(f);
    if (ctx.rc < 0) {
        char inner[DF_ERR_LEN - 64];
        snprintf(inner, sizeof(inner), "%s", err);
        snprintf(err, DF_ERR_LEN, "%.60s: %s", path, inner);
        return -EINVAL;
    }
    if (line != 0) {
        snprintf(err, DF_ERR_LEN, "%s: syntax error on line %d", path, line);
        return -EINVAL;
    }
    set_str(&c->conf_path, path);
    return 0;
}

/* ---- argv ------------------------------------------------------------------------------- */

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int check_header(const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h)
        return -EINVAL;
    for (const char *p = h; p < colon; p++) /* RFC 7230 token characters, roughly */
        if (*p <= ' ' || *p >= 127 || strchr("\"(),/;<=>?@[\\]{}", *p))
            return -EINVAL;
    for (const char *p = colon + 1; *p; p++)
        if (*p == '\r' || *p == '\n')
            return -EINVAL;
    return 0;
}

static int set_option(struct dfget_config *c, int opt, const char *arg, char err[DF_ERR_LEN])
{
    uint64_t u;
    int64_t ms;
    int v;
    switch (opt) {
    case 'u': set_str(&c->url, arg); break;
    case 'o':
        if (!*arg)
            goto bad;
        set_str(&c->output, arg);
        break;
    case 'm':
        if (*arg && !is_hex(arg, 32)) {
            snprintf(err, DF_ERR_LEN, "invalid --md5 '%.64s' (want 32 hex digits)", arg);
            return -EINVAL;
        }
        set_opt_str(&c->md5, arg);
        break;
    case 'i': set_opt_str(&c->identifier, arg); break;
    case 's':
        if (df_parse_bytes(arg, &u) < 0)
            goto bad;
        c->local_limit_bps = u;
        break;
    case OPT_MINRATE:
        if (df_parse_bytes(arg, &u) < 0 || u == 0)
            goto bad;
        c->min_rate_bps = u;
        break;
    case OPT_TOTALLIMIT:
        if (df_parse_bytes(arg, &u) < 0)
            goto bad;
        c->total_limit_bps = u;
        break;
    case 'e':
        if (df_parse_duration_ms(arg, &ms) < 0)
            goto bad;
        c->timeout_ms = ms;
        break;
    case 'p':
        if (strcmp(arg, "p2p") == 0)
            c->pattern = DFGET_PATTERN_P2P;
        else if (strcmp(arg, "cdn") == 0)
            c->pattern = DFGET_PATTERN_CDN;
        else if (strcmp(arg, "source") == 0)
            c->pattern = DFGET_PATTERN_SOURCE;
        else
            goto bad;
        break;
    case 'f': set_opt_str(&c->filter, arg); break;
    case OPT_HEADER:
        if (check_header(arg) < 0) {
            snprintf(err, DF_ERR_LEN, "invalid --header '%.100s' (want \"Key: Value\")", arg);
            return -EINVAL;
        }
        push_str(&c->headers, &c->nheaders, arg);
        break;
    case 'n': {
        struct dfget_node *nodes;
        size_t n;
        if (dfget_config_parse_nodes(arg, &nodes, &n, err) < 0)
            return -EINVAL;
        dfget_config_free_nodes(c->nodes, c->nnodes);
        c->nodes = nodes;
        c->nnodes = n;
        c->is_nodes_set = 1;
        break;
    }
    case OPT_NOTBS: c->is_notbs = 1; break;
    case OPT_HOME:
        if (!*arg)
            goto bad;
        set_str(&c->home, arg);
        break;
    case OPT_IP:
        if (!*arg)
            goto bad;
        set_str(&c->ip, arg);
        break;
    case OPT_PORT:
        if (df_parse_int(arg, &v) < 0 || v < 0 || v > 65535)
            goto bad;
        c->port = v;
        break;
    case OPT_CALLSYSTEM: set_opt_str(&c->callsystem, arg); break;
    case OPT_DFDAEMON: c->is_dfdaemon = 1; break;
    case OPT_INSECURE: c->is_insecure = 1; break;
    case OPT_CACERTS: push_str(&c->cacerts, &c->ncacerts, arg); break;
    case OPT_CLIENTQUEUE:
        if (df_parse_int(arg, &v) < 0 || v < 1 || v > 1000)
            goto bad;
        c->client_queue = v;
        break;
    case OPT_EXPIRETIME:
        if (df_parse_duration_ms(arg, &ms) < 0)
            goto bad;
        c->expire_ms = ms;
        break;
    case OPT_ALIVETIME:
        if (df_parse_duration_ms(arg, &ms) < 0)
            goto bad;
        c->alive_ms = ms;
        break;
    case 'b': c->is_showbar = 1; break;
    case OPT_VERBOSE: c->is_verbose = 1; break;
    case OPT_CONSOLE: c->is_console = 1; break;
    case 'h': c->cmd = DFGET_CMD_HELP; break;
    default: DF_ASSERT(0);
    }
    return 0;
bad:
    for (const struct option *o = long_opts; o->name; o++) {
        if (o->val == opt) {
            snprintf(err, DF_ERR_LEN, "invalid value '%.100s' for --%s", arg, o->name);
            return -EINVAL;
        }
    }
    snprintf(err, DF_ERR_LEN, "invalid value '%.100s'", arg);
    return -EINVAL;
}

int dfget_config_parse_args(struct dfget_config *c, int argc, char **argv, char err[DF_ERR_LEN])
{
    err[0] = '\0';
    optind = 0; /* glibc: 0 re-initialises getopt completely */
    opterr = 0;
    for (;;) {
        int idx = -1;
        int opt = getopt_long(argc, argv, ":u:o:m:i:s:e:p:f:n:bh", long_opts, &idx);
        if (opt == -1)
            break;
        if (opt == '?') {
            if (optopt)
                snprintf(err, DF_ERR_LEN, "unknown flag -%c", optopt);
            else
                snprintf(err, DF_ERR_LEN, "unknown flag %.100s", argv[optind - 1]);
            return -EINVAL;
        }
        if (opt == ':') {
            snprintf(err, DF_ERR_LEN, "flag %.100s needs a value", argv[optind - 1]);
            return -EINVAL;
        }
        if (set_option(c, opt, optarg, err) < 0)
            return -EINVAL;
    }
    if (optind < argc) {
        if (strcmp(argv[optind], "version") == 0 && optind + 1 == argc) {
            c->cmd = DFGET_CMD_VERSION;
        } else {
            snprintf(err, DF_ERR_LEN, "unexpected argument '%.100s'", argv[optind]);
            return -EINVAL;
        }
    }
    if (c->cmd != DFGET_CMD_DOWNLOAD)
        return 0;
    if (!c->url || !*c->url) {
        snprintf(err, DF_ERR_LEN, "missing --url (try --help)");
        return -EINVAL;
    }
    if (strncasecmp(c->url, "http://", 7) != 0 && strncasecmp(c->url, "https://", 8) != 0) {
        snprintf(err, DF_ERR_LEN, "invalid --url '%.100s' (want http:// or https://)", c->url);
        return -EINVAL;
    }
    const char *host = strstr(c->url, "://") + 3;
    if (!*host || *host == '/' || *host == '?' || *host == '#') {
        snprintf(err, DF_ERR_LEN, "invalid --url '%.100s' (no host)", c->url);
        return -EINVAL;
    }
    for (const char *p = c->url; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 127) {
            snprintf(err, DF_ERR_LEN, "invalid --url (contains spaces or control characters)");
            return -EINVAL;
        }
    }
    return 0;
}

int dfget_config_load(struct dfget_config *c, int argc, char **argv, char err[DF_ERR_LEN])
{
    dfget_config_init(c);
    const char *path = getenv(DFGET_CONF_ENV);
    if (!path || !*path)
        path = DFGET_DEFAULT_CONF;
    int rc = dfget_config_load_file(c, path, err);
    if (rc < 0 && rc != -ENOENT)
        return -EINVAL;
    if (dfget_config_parse_args(c, argc, argv, err) < 0)
        return -EINVAL;
    if (!c->is_nodes_set) {
        c->nodes = df_xcalloc(1, sizeof(*c->nodes));
        c->nodes[0].host = df_xstrdup("127.0.0.1");
        c->nodes[0].port = DFGET_DEFAULT_NODE_PORT;
        c->nodes[0].weight = 1;
        c->nnodes = 1;
    }
    return 0;
}
